/**
 * A two-player game between the user (rows) and the assistant, called "LLM" in payoffs (columns).
 * Strategy sets are data: the default spec is the paper's DQ/VQ × DA/CQ/AQ, but any sizes work.
 */
export interface GameSpec {
  /** User strategies, e.g. ["DQ", "VQ"]. */
  readonly rows: readonly string[];
  /** Assistant strategies, e.g. ["DA", "CQ", "AQ"]. */
  readonly columns: readonly string[];
  /**
   * The order in which the payoff block lists the cell keys: in the prompt, in the grammars that force the
   * format, and in the edited matrix of stage 2. A permutation of the spec's cell keys; default
   * {@link payoffKeyOrder}'s: the keys sorted, which is the paper's listing order for the default spec.
   */
  readonly keyOrder?: readonly string[];
}

/** One cell's payoffs. Higher is better for that party. */
export interface Payoff {
  LLM: number;
  user: number;
}

/** Cell key `ROW_COLUMN` → payoffs. */
export type PayoffMatrix = Record<string, Payoff>;

export const DEFAULT_SPEC: GameSpec = Object.freeze({
  rows: Object.freeze(['DQ', 'VQ']),
  columns: Object.freeze(['DA', 'CQ', 'AQ']),
});

export function cellKey(row: string, column: string): string {
  return `${row}_${column}`;
}

/** All cell keys of a spec, row-major. */
export function cellKeys(spec: GameSpec = DEFAULT_SPEC): string[] {
  const keys: string[] = [];
  for (const r of spec.rows) for (const c of spec.columns) keys.push(cellKey(r, c));
  return keys;
}

/**
 * The order the payoff block lists the keys in: the spec's `keyOrder` when it has one, else every cell key
 * sorted by code units. For the default spec that is the paper's listing order
 * (`DQ_AQ, DQ_CQ, DQ_DA, VQ_AQ, VQ_CQ, VQ_DA`), the order the released data and checkpoints use.
 * Readers accept the keys in any order; only what gtalign writes or forces follows this one.
 */
export function payoffKeyOrder(spec: GameSpec = DEFAULT_SPEC): string[] {
  if (spec.keyOrder !== undefined) return [...spec.keyOrder];
  return cellKeys(spec).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The problems of a key order for `spec`: it must list every cell key exactly once. */
export function keyOrderProblems(spec: GameSpec, order: readonly string[]): string[] {
  const keys = cellKeys(spec);
  const known = new Set(keys);
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const k of order) {
    if (!known.has(k)) problems.push(`key order names "${k}", which is not a cell of the spec`);
    else if (seen.has(k)) problems.push(`key order names "${k}" twice`);
    seen.add(k);
  }
  const missing = keys.filter((k) => !seen.has(k));
  if (missing.length > 0) problems.push(`key order leaves out ${missing.join(', ')}`);
  return problems;
}

/** Splits a cell key into its row and column, or returns undefined when the key is not a cell of the spec. */
export function splitCellKey(
  key: string,
  spec: GameSpec = DEFAULT_SPEC,
): { row: string; column: string } | undefined {
  for (const r of spec.rows) {
    if (!key.startsWith(`${r}_`)) continue;
    const column = key.slice(r.length + 1);
    if (spec.columns.includes(column)) return { row: r, column };
  }
  return undefined;
}

/**
 * Checks a spec: at least one row and one column, no duplicates, every ROW_COLUMN key unambiguous, and a
 * `keyOrder` (when given) that lists every cell key once.
 * Returns a list of problems (empty when valid).
 */
export function specProblems(spec: GameSpec): string[] {
  const problems: string[] = [];
  if (spec.rows.length === 0) problems.push('spec has no user strategies (rows)');
  if (spec.columns.length === 0) problems.push('spec has no assistant strategies (columns)');
  // With a set, not indexOf: a spec of 300 × 300 strategies has 90,000 keys (quadratic took 27 s).
  const dup = (xs: readonly string[]) => {
    const seen = new Set<string>();
    return xs.filter((x) => seen.size === seen.add(x).size);
  };
  for (const d of dup(spec.rows)) problems.push(`duplicate user strategy "${d}"`);
  for (const d of dup(spec.columns)) problems.push(`duplicate assistant strategy "${d}"`);
  for (const s of [...spec.rows, ...spec.columns]) {
    if (s.length === 0) problems.push('empty strategy name');
  }
  const keys = cellKeys(spec);
  for (const k of dup(keys)) problems.push(`cell key "${k}" is ambiguous`);
  if (spec.keyOrder !== undefined) problems.push(...keyOrderProblems(spec, spec.keyOrder));
  return problems;
}
