/**
 * Deterministic matrix-reasoning check (GTALIGN.md §4, §7): does the `<analyze>` text name a cell on
 * the Pareto frontier of the output's own payoff matrix? Replaces the paper's `<po>` judge.
 *
 * Two modes:
 * - `mentioned` (default, the paper's criterion "names at least one frontier action"): 1 when any
 *   cell key the analysis mentions is on the frontier.
 * - `chosen` (stricter): 1 when the cell the analysis selects is on the frontier. The selected cell
 *   is the first key mentioned shortly after the last choice word (choose, select, pick, recommend,
 *   go with, opt for, best/final choice), or the key before that word in its sentence when the words
 *   between set the key after aside ("better than X"), else the last key mentioned at all.
 * Both are always reported, so callers can compare them.
 */
import { findCellMentions, readAnalyzeChoice } from '../chain/analyze.js';
import { paretoFrontier } from '../game/pareto.js';
import { DEFAULT_SPEC, type GameSpec, type PayoffMatrix } from '../game/spec.js';

export type MatrixCheckMode = 'mentioned' | 'chosen';

export interface MatrixCheckOptions {
  spec?: GameSpec;
  mode?: MatrixCheckMode;
  /** Passed to `paretoFrontier`: payoffs closer than this count as equal (default 0). */
  tolerance?: number;
}

export type MatrixCheckResult =
  | {
      ok: true;
      /** The verdict under the requested mode. */
      value: 0 | 1;
      mode: MatrixCheckMode;
      frontier: string[];
      /** Distinct keys mentioned, in order of first mention. */
      mentioned: string[];
      chosen: string | undefined;
      mentionsFrontier: boolean;
      chosenOnFrontier: boolean;
    }
  | { ok: false; reason: string };

export { type CellMention, findCellMentions } from '../chain/analyze.js';

/** The cell the analysis chooses (see `readAnalyzeChoice`), or undefined when it names none. */
export function chosenCell(text: string, spec: GameSpec = DEFAULT_SPEC): string | undefined {
  return readAnalyzeChoice(text, spec).cell;
}

/** Checks the analysis against the frontier of its own matrix. Never throws; a bad matrix is a failure. */
export function checkMatrixReasoning(
  matrix: PayoffMatrix,
  analysis: string,
  options: MatrixCheckOptions = {},
): MatrixCheckResult {
  const spec = options.spec ?? DEFAULT_SPEC;
  const mode = options.mode ?? 'mentioned';
  let frontier: string[];
  try {
    frontier = paretoFrontier(matrix, spec, { tolerance: options.tolerance ?? 0 });
  } catch (err) {
    return { ok: false, reason: `cannot compute the Pareto frontier: ${(err as Error).message}` };
  }
  const text = typeof analysis === 'string' ? analysis : '';
  const { mentioned, cell: chosen } = readAnalyzeChoice(text, spec);
  const onFrontier = new Set(frontier);
  const mentionsFrontier = mentioned.some((k) => onFrontier.has(k));
  const chosenOnFrontier = chosen !== undefined && onFrontier.has(chosen);
  const pass = mode === 'mentioned' ? mentionsFrontier : chosenOnFrontier;
  return {
    ok: true,
    value: pass ? 1 : 0,
    mode,
    frontier,
    mentioned,
    chosen,
    mentionsFrontier,
    chosenOnFrontier,
  };
}

/**
 * `checkMatrixReasoning(matrix, analysis)` in the default mode, reduced to what a reward record keeps:
 * its value (1 when a mentioned cell is on the frontier, else 0), or null when the frontier cannot be
 * computed. For a matrix of the default spec's cells only (what a validated payoff block gives); the
 * scorer's hot path, so no frontier list, sets or choice reading are built.
 */
export function matrixReasoningValue(matrix: PayoffMatrix, analysis: string): 0 | 1 | null {
  const keys = DEFAULT_KEYS;
  const cells: Array<{ LLM: number; user: number }> = [];
  for (const key of keys) {
    const cell = Object.hasOwn(matrix, key) ? matrix[key] : undefined;
    // Anything but a complete matrix of finite numbers: the general check says why (here: null).
    if (
      cell === undefined ||
      typeof cell.LLM !== 'number' ||
      typeof cell.user !== 'number' ||
      !Number.isFinite(cell.LLM) ||
      !Number.isFinite(cell.user)
    )
      return fallback(matrix, analysis);
    cells.push(cell);
  }
  if (Object.keys(matrix).length !== keys.length) return fallback(matrix, analysis);
  const mentions = findCellMentions(analysis, DEFAULT_SPEC);
  for (const m of mentions) {
    const i = keys.indexOf(m.key);
    const p = cells[i];
    if (p === undefined) return fallback(matrix, analysis);
    let dominated = false;
    for (let j = 0; j < cells.length && !dominated; j++) {
      const q = cells[j]!;
      // Weak Pareto dominance with tolerance 0, as paretoFrontier decides it.
      if (j !== i && q.LLM >= p.LLM && q.user >= p.user && (q.LLM > p.LLM || q.user > p.user))
        dominated = true;
    }
    if (!dominated) return 1;
  }
  return 0;
}

const DEFAULT_KEYS: readonly string[] = Object.freeze(
  DEFAULT_SPEC.rows.flatMap((r) => DEFAULT_SPEC.columns.map((c) => `${r}_${c}`)),
);

function fallback(matrix: PayoffMatrix, analysis: string): 0 | 1 | null {
  const check = checkMatrixReasoning(matrix, analysis);
  return check.ok ? check.value : null;
}
