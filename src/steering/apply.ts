/**
 * Applying payoff edits to a matrix, and the before/after difference for traces.
 */
import { quantizeMatrix, roundHundredths } from '../chain/payoff-edit.js';
import { assertCompleteMatrix } from '../game/matrix.js';
import { cellKeys, DEFAULT_SPEC, type GameSpec, type Payoff, type PayoffMatrix } from '../game/spec.js';
import type { PayoffEdits } from './compile.js';
import { describeValue, SteeringError, type SteeringIssue } from './errors.js';
import { num, signed } from './format.js';

/**
 * Adds `edits` to every cell of `matrix` and returns a new matrix (the input is not changed). Throws
 * `MatrixError` when `matrix` is not a complete matrix of `spec`, and a {@link SteeringError} when `edits`
 * lacks a cell of the spec, has a cell the spec lacks, holds a non-finite delta, or takes a payoff past
 * the largest number.
 */
export function applyEdits(
  matrix: PayoffMatrix,
  edits: Pick<PayoffEdits, 'cells'>,
  spec: GameSpec = DEFAULT_SPEC,
): PayoffMatrix {
  assertCompleteMatrix(matrix, spec);
  const keys = cellKeys(spec);
  const issues: SteeringIssue[] = [];
  const out: PayoffMatrix = {};
  let present = 0;
  for (const key of keys) {
    const d = Object.hasOwn(edits.cells, key) ? edits.cells[key] : undefined;
    if (d === undefined) {
      issues.push({ path: `cells.${key}`, message: 'no edit for this cell of the spec' });
      continue;
    }
    present++;
    for (const field of ['LLM', 'user'] as const) {
      if (typeof d[field] !== 'number' || !Number.isFinite(d[field])) {
        issues.push({
          path: `cells.${key}.${field}`,
          message: `must be a finite number, got ${describeValue(d[field])}`,
        });
      }
    }
    const m = matrix[key]!;
    const sum = { LLM: m.LLM + d.LLM, user: m.user + d.user };
    out[key] = sum;
    // A finite payoff plus a finite edit can still pass the largest double: refused here, naming the cell,
    // so no caller sees Infinity in a matrix it was told is steered.
    for (const field of ['LLM', 'user'] as const) {
      if (Number.isFinite(d[field]) && !Number.isFinite(sum[field])) {
        issues.push({
          path: `cells.${key}.${field}`,
          message: `the payoff ${m[field]} plus the edit ${d[field]} is past the largest number`,
        });
      }
    }
  }
  // Only build a set when the counts say there are keys beyond the spec's cells.
  if (Object.keys(edits.cells).length > present) {
    const expected = new Set(keys);
    for (const key of Object.keys(edits.cells)) {
      if (!expected.has(key)) {
        issues.push({
          path: `cells.${key}`,
          message: `edit for a cell the spec lacks (spec cells: ${keys.join(', ')})`,
        });
      }
    }
  }
  if (issues.length > 0) throw new SteeringError('edits', issues);
  return out;
}

/**
 * The matrix a steered turn shows the model: each edit rounded to two decimals first, so that an edit
 * shows as the same change in every cell it applies to (rounding the sums instead turned −0.675 into
 * −0.67 on a positive payoff and −0.68 on a negative one), and a transfer (+d for one player, −d for the
 * other) still adds nothing to LLM + user; then the sums rounded to two decimals, which only removes
 * binary noise from payoffs of one decimal (GTALIGN.md §2). Edits that are all zero (the `none` policy)
 * change nothing, not even the decimals: a turn then keeps the model's matrix as written, and so must every
 * caller that reports what a turn would pick (rounding 1.004 and 1.003 to 1 could move the pick).
 * Throws as {@link applyEdits} does.
 */
export function steeredMatrix(
  matrix: PayoffMatrix,
  edits: Pick<PayoffEdits, 'cells'>,
  spec: GameSpec = DEFAULT_SPEC,
): PayoffMatrix {
  if (editsAreZero(edits)) return applyEdits(matrix, edits, spec);
  // Object.fromEntries defines each key, so a stray "__proto__" cell is still there for applyEdits to name.
  const cells = Object.fromEntries(
    Object.entries(edits.cells).map(([key, d]) => [
      key,
      typeof d === 'object' && d !== null
        ? { LLM: roundHundredths(d.LLM), user: roundHundredths(d.user) }
        : d,
    ]),
  );
  return quantizeMatrix(applyEdits(matrix, { cells }, spec), spec);
}

/** True when every edit is a number and zero: applying them changes no payoff. */
export function editsAreZero(edits: Pick<PayoffEdits, 'cells'>): boolean {
  return Object.values(edits.cells).every(
    (d) => typeof d === 'object' && d !== null && d.LLM === 0 && d.user === 0,
  );
}

/** One cell's change. */
export interface CellDiff {
  key: string;
  before: Payoff;
  after: Payoff;
  delta: Payoff;
}

/**
 * The cell-by-cell difference `after − before` over the spec's cells, in spec order. Both matrices must be
 * complete (`MatrixError` otherwise). With `changedOnly`, cells whose payoffs are identical are left out.
 */
export function diffMatrices(
  before: PayoffMatrix,
  after: PayoffMatrix,
  spec: GameSpec = DEFAULT_SPEC,
  options: { changedOnly?: boolean } = {},
): CellDiff[] {
  assertCompleteMatrix(before, spec);
  assertCompleteMatrix(after, spec);
  const out: CellDiff[] = [];
  for (const key of cellKeys(spec)) {
    const b = before[key]!;
    const a = after[key]!;
    if (options.changedOnly && a.LLM === b.LLM && a.user === b.user) continue;
    out.push({
      key,
      before: { LLM: b.LLM, user: b.user },
      after: { LLM: a.LLM, user: a.user },
      delta: { LLM: a.LLM - b.LLM, user: a.user - b.user },
    });
  }
  return out;
}

/** One line per cell: `DQ_DA: LLM 1.6 → 2.6 (+1), user 2.8 → 2.3 (-0.5)`. */
export function formatDiff(diff: readonly CellDiff[]): string[] {
  return diff.map((d) => {
    const part = (f: 'LLM' | 'user') =>
      d.delta[f] === 0
        ? `${f} ${num(d.before[f])}`
        : `${f} ${num(d.before[f])} → ${num(d.after[f])} (${signed(d.delta[f])})`;
    return `${d.key}: ${part('LLM')}, ${part('user')}`;
  });
}
