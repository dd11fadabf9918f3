/**
 * Checking a payoff matrix against a game spec, and turning it into dense arrays for the solvers.
 */
import { GtalignError } from '../errors.js';
import {
  cellKey,
  cellKeys,
  DEFAULT_SPEC,
  type GameSpec,
  type Payoff,
  type PayoffMatrix,
  specProblems,
} from './spec.js';

export type MatrixProblemCode =
  | 'invalid_spec'
  | 'not_an_object'
  | 'missing_cell'
  | 'cell_not_object'
  | 'missing_value'
  | 'not_a_number'
  | 'not_finite'
  | 'unexpected_cell';

/** One thing wrong with a matrix. `key` names the cell, `field` the payoff inside it (`LLM` or `user`). */
export interface MatrixProblem {
  code: MatrixProblemCode;
  message: string;
  key?: string;
  field?: 'LLM' | 'user';
  value?: unknown;
}

/** Thrown by functions that need a complete matrix; `problems` lists everything wrong at once. */
export class MatrixError extends GtalignError {
  readonly code = 'input';
  readonly problems: readonly MatrixProblem[];
  constructor(problems: readonly MatrixProblem[]) {
    const shown = problems
      .slice(0, 5)
      .map((p) => p.message)
      .join('; ');
    const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : '';
    super(`invalid payoff matrix: ${shown}${more}`);
    this.name = 'MatrixError';
    this.problems = problems;
  }
}

export interface MatrixCheckOptions {
  /** Accept keys that are not cells of the spec (they are ignored). Default false: they are reported. */
  allowExtraCells?: boolean;
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const frozenSpecKeys = new WeakMap<GameSpec, readonly string[]>();

/** A spec's cell keys, or its problems. Deeply frozen specs (DEFAULT_SPEC) are checked once and cached. */
function checkedSpec(spec: GameSpec): { keys: readonly string[] } | { problems: string[] } {
  const cached = frozenSpecKeys.get(spec);
  if (cached) return { keys: cached };
  const problems = specProblems(spec);
  if (problems.length > 0) return { problems };
  const keys = cellKeys(spec);
  if (Object.isFrozen(spec) && Object.isFrozen(spec.rows) && Object.isFrozen(spec.columns)) {
    frozenSpecKeys.set(spec, keys);
  }
  return { keys };
}

/**
 * Lists everything that keeps `matrix` from being a complete matrix of `spec`: every cell `ROW_COLUMN`
 * present, each an object whose `LLM` and `user` are finite numbers. Fields other than `LLM`/`user`
 * inside a cell are ignored. Accepts any value (e.g. parsed JSON) and never throws. Empty = complete.
 */
export function matrixProblems(
  matrix: unknown,
  spec: GameSpec = DEFAULT_SPEC,
  options: MatrixCheckOptions = {},
): MatrixProblem[] {
  const checked = checkedSpec(spec);
  if ('problems' in checked) {
    return checked.problems.map((message) => ({
      code: 'invalid_spec',
      message: `invalid game spec: ${message}`,
    }));
  }
  if (!isRecord(matrix)) {
    return [
      { code: 'not_an_object', value: matrix, message: `matrix must be an object, got ${describe(matrix)}` },
    ];
  }
  const problems: MatrixProblem[] = [];
  let present = 0;
  for (const key of checked.keys) {
    if (!Object.hasOwn(matrix, key)) {
      problems.push({ code: 'missing_cell', key, message: `missing cell ${key}` });
      continue;
    }
    present++;
    const cell = matrix[key];
    if (!isRecord(cell)) {
      problems.push({
        code: 'cell_not_object',
        key,
        value: cell,
        message: `cell ${key} must be an object {"LLM": number, "user": number}, got ${describe(cell)}`,
      });
      continue;
    }
    for (const field of ['LLM', 'user'] as const) {
      const value = cell[field];
      if (!Object.hasOwn(cell, field)) {
        problems.push({
          code: 'missing_value',
          key,
          field,
          message: `cell ${key} has no "${field}" payoff`,
        });
      } else if (typeof value !== 'number') {
        problems.push({
          code: 'not_a_number',
          key,
          field,
          value,
          message: `${key}.${field} must be a number, got ${describe(value)}`,
        });
      } else if (!Number.isFinite(value)) {
        problems.push({
          code: 'not_finite',
          key,
          field,
          value,
          message: `${key}.${field} must be finite, got ${value}`,
        });
      }
    }
  }
  const own = Object.keys(matrix);
  // Only build a set when the counts say there are keys beyond the spec's cells.
  if (!options.allowExtraCells && own.length > present) {
    const expected = new Set(checked.keys);
    for (const key of own) {
      if (!expected.has(key)) {
        problems.push({
          code: 'unexpected_cell',
          key,
          message: `unexpected cell ${JSON.stringify(key)} (spec cells: ${checked.keys.join(', ')})`,
        });
      }
    }
  }
  return problems;
}

/** True when `matrix` is a complete matrix of `spec` (see {@link matrixProblems}). */
export function isCompleteMatrix(matrix: unknown, spec: GameSpec = DEFAULT_SPEC): matrix is PayoffMatrix {
  return matrixProblems(matrix, spec).length === 0;
}

/** Throws a {@link MatrixError} unless `matrix` is a complete matrix of `spec`. */
export function assertCompleteMatrix(
  matrix: unknown,
  spec: GameSpec = DEFAULT_SPEC,
): asserts matrix is PayoffMatrix {
  const problems = matrixProblems(matrix, spec);
  if (problems.length > 0) throw new MatrixError(problems);
}

/**
 * A validated game in array form. `A[r][c]` is the user's payoff and `B[r][c]` the assistant's (LLM) payoff
 * when the user plays `rows[r]` and the assistant `columns[c]`. `keys`/`cells` list the cells row-major.
 */
export interface DenseGame {
  readonly spec: GameSpec;
  readonly rows: readonly string[];
  readonly columns: readonly string[];
  readonly keys: readonly string[];
  readonly cells: readonly Payoff[];
  readonly A: readonly (readonly number[])[];
  readonly B: readonly (readonly number[])[];
}

/** Validates `matrix` against `spec` (throwing {@link MatrixError}) and returns its dense form. */
export function toDenseGame(matrix: unknown, spec: GameSpec = DEFAULT_SPEC): DenseGame {
  assertCompleteMatrix(matrix, spec);
  const keys: string[] = [];
  const cells: Payoff[] = [];
  const A: number[][] = [];
  const B: number[][] = [];
  for (const row of spec.rows) {
    const a: number[] = [];
    const b: number[] = [];
    for (const column of spec.columns) {
      const key = cellKey(row, column);
      const cell = matrix[key]!;
      // Copy only the two payoffs so later mutation of the input cannot reach the solvers.
      cells.push({ LLM: cell.LLM, user: cell.user });
      keys.push(key);
      a.push(cell.user);
      b.push(cell.LLM);
    }
    A.push(a);
    B.push(b);
  }
  return { spec, rows: spec.rows, columns: spec.columns, keys, cells, A, B };
}

/** Dense payoff arrays of a complete matrix: `A[row][col]` user payoffs, `B[row][col]` LLM payoffs. */
export function toDense(matrix: unknown, spec: GameSpec = DEFAULT_SPEC): { A: number[][]; B: number[][] } {
  const game = toDenseGame(matrix, spec);
  return { A: game.A.map((r) => [...r]), B: game.B.map((r) => [...r]) };
}

/** Builds a matrix from dense arrays (inverse of {@link toDense}); throws RangeError on a shape mismatch. */
export function fromDense(
  A: readonly (readonly number[])[],
  B: readonly (readonly number[])[],
  spec: GameSpec = DEFAULT_SPEC,
): PayoffMatrix {
  const matrix: PayoffMatrix = {};
  spec.rows.forEach((row, r) => {
    spec.columns.forEach((column, c) => {
      const user = A[r]?.[c];
      const LLM = B[r]?.[c];
      if (user === undefined || LLM === undefined) {
        throw new RangeError(`dense arrays have no entry [${r}][${c}] for cell ${cellKey(row, column)}`);
      }
      matrix[cellKey(row, column)] = { LLM, user };
    });
  });
  return matrix;
}
