/**
 * Best responses and Nash equilibria of the bimatrix game: the user chooses a row, the assistant a column.
 *
 * Mixed equilibria come from support enumeration. For every pair of equal-size supports (I rows, J columns)
 * the indifference systems are solved by Gaussian elimination with partial pivoting:
 *   x on I making every column of J equally good for the assistant (and best), and
 *   y on J making every row of I equally good for the user (and best).
 * Each unique non-negative solution is a candidate strategy; pairing candidates x, y whose supports lie in
 * each other's best-response sets gives the equilibria. In a nondegenerate game this is exactly classic
 * equal-size support enumeration (there supp x ⊆ BR(y) and supp y ⊆ BR(x) force |supp x| = |supp y|).
 * In a degenerate game the same candidates are the vertices of the players' best-response regions, and
 * pairing them across supports also yields the equilibria whose supports differ in size: the extreme
 * points of each equilibrium component. The game is reported degenerate when some candidate with support
 * size k has more than k pure best responses (any such strategy implies one among the candidates).
 *
 * Cost: C(m+n, m) − 1 support pairs, two small linear solves each. Games with more support pairs than
 * `maxSupportPairs` (default {@link MAX_SUPPORT_PAIRS}, e.g. 10×10 = 184,755) are refused with
 * {@link GameTooLargeError}; 2×3 takes 9 pairs.
 */
import { GtalignError } from '../errors.js';
import { type DenseGame, toDenseGame } from './matrix.js';
import { cellKey, DEFAULT_SPEC, type GameSpec, type PayoffMatrix } from './spec.js';

/** A mixed strategy: strategy name → probability. Names left out have probability 0. */
export type MixedStrategy = Readonly<Record<string, number>>;

export interface MixedEquilibrium {
  /** The user's probabilities over every row (spec order). */
  user: Record<string, number>;
  /** The assistant's probabilities over every column (spec order). */
  llm: Record<string, number>;
  /** Expected payoffs under the equilibrium. */
  payoff: { user: number; LLM: number };
}

export interface NashResult {
  equilibria: MixedEquilibrium[];
  degenerate: boolean;
  /** How many equilibria were found, when `maxEquilibria` cut the list short (absent otherwise). */
  total?: number;
  note?: string;
}

export interface NashOptions {
  /**
   * Relative tolerance (default 1e-9): payoffs within tolerance·(max |payoff|) count as equal in
   * best-response checks, and probabilities within tolerance of 0 count as 0.
   */
  tolerance?: number;
  /** Refuse games with more support pairs than this (default {@link MAX_SUPPORT_PAIRS}). */
  maxSupportPairs?: number;
  /**
   * List at most this many equilibria, the first in the list's order (pure ones first); `total` then says
   * how many there are. Default: all. An n×n coordination game has 2^n − 1 (1023 at 10×10, 324 KB of JSON).
   */
  maxEquilibria?: number;
}

export const DEFAULT_NASH_TOLERANCE = 1e-9;
export const MAX_SUPPORT_PAIRS = 200_000;

export const DEGENERATE_NOTE =
  'degenerate game: a strategy with support size k has more than k pure best responses, so equilibria may ' +
  'form a continuum; the list holds the extreme equilibria found (supports of unequal size included) and ' +
  'may be incomplete';

/** Thrown when support enumeration would be too expensive for the game's size. */
export class GameTooLargeError extends GtalignError {
  readonly code = 'limit';
  readonly rows: number;
  readonly columns: number;
  readonly supportPairs: number;
  constructor(rows: number, columns: number, supportPairs: number, limit: number) {
    super(
      `game too large for support enumeration: ${rows}×${columns} has ${supportPairs} support pairs, ` +
        `limit ${limit} (raise maxSupportPairs to allow it)`,
    );
    this.name = 'GameTooLargeError';
    this.rows = rows;
    this.columns = columns;
    this.supportPairs = supportPairs;
  }
}

/**
 * The largest |payoff| (1 when all are 0): tolerances are relative to it at every scale. A floor of 1 made
 * them absolute below it, so payoffs of 1e-10 all counted as equal and matching pennies got pure
 * "equilibria".
 */
function scaleOf(M: readonly (readonly number[])[]): number {
  let s = 0;
  for (const row of M) for (const v of row) s = Math.max(s, Math.abs(v));
  return s > 0 ? s : 1;
}

function checkTolerance(tolerance: number): void {
  if (!(tolerance >= 0) || !Number.isFinite(tolerance)) {
    throw new RangeError(`tolerance must be a finite number ≥ 0, got ${tolerance}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Best responses

/** Turns a pure (name) or mixed strategy into a probability vector over `names`, validating it. */
function strategyVector(strategy: string | MixedStrategy, names: readonly string[], who: string): number[] {
  if (typeof strategy === 'string') {
    const i = names.indexOf(strategy);
    if (i < 0)
      throw new RangeError(`unknown ${who} strategy ${JSON.stringify(strategy)}; known: ${names.join(', ')}`);
    return names.map((_, k) => (k === i ? 1 : 0));
  }
  const v = names.map(() => 0);
  let total = 0;
  for (const [name, p] of Object.entries(strategy)) {
    const i = names.indexOf(name);
    if (i < 0)
      throw new RangeError(`unknown ${who} strategy ${JSON.stringify(name)}; known: ${names.join(', ')}`);
    if (typeof p !== 'number' || !Number.isFinite(p) || p < 0) {
      throw new RangeError(
        `probability of ${who} strategy ${name} must be a finite number ≥ 0, got ${String(p)}`,
      );
    }
    v[i] = p;
    total += p;
  }
  if (Math.abs(total - 1) > 1e-9) throw new RangeError(`${who} probabilities must sum to 1, got ${total}`);
  return v;
}

/** Indices maximizing `values` within `tol` of the maximum. */
function argmaxWithin(values: readonly number[], tol: number): number[] {
  let best = Number.NEGATIVE_INFINITY;
  for (const v of values) if (v > best) best = v;
  const out: number[] = [];
  values.forEach((v, i) => {
    if (v >= best - tol) out.push(i);
  });
  return out;
}

export interface BestResponseOptions {
  /** Relative tolerance; default 0 (exact) against a pure strategy, 1e-9 against a mixed one. */
  tolerance?: number;
}

/** The user's best responses (rows, spec order) to the assistant's column `llm` (a name or a mixed strategy). */
export function userBestResponses(
  matrix: PayoffMatrix,
  llm: string | MixedStrategy,
  spec: GameSpec = DEFAULT_SPEC,
  options: BestResponseOptions = {},
): string[] {
  const game = toDenseGame(matrix, spec);
  const y = strategyVector(llm, game.columns, 'assistant');
  const tolerance = options.tolerance ?? (typeof llm === 'string' ? 0 : DEFAULT_NASH_TOLERANCE);
  checkTolerance(tolerance);
  const values = game.A.map((row) => row.reduce((s, a, j) => s + a * y[j]!, 0));
  return argmaxWithin(values, tolerance * scaleOf(game.A)).map((i) => game.rows[i]!);
}

/** The assistant's best responses (columns, spec order) to the user's row `user` (a name or a mixed strategy). */
export function llmBestResponses(
  matrix: PayoffMatrix,
  user: string | MixedStrategy,
  spec: GameSpec = DEFAULT_SPEC,
  options: BestResponseOptions = {},
): string[] {
  const game = toDenseGame(matrix, spec);
  const x = strategyVector(user, game.rows, 'user');
  const tolerance = options.tolerance ?? (typeof user === 'string' ? 0 : DEFAULT_NASH_TOLERANCE);
  checkTolerance(tolerance);
  const values = game.columns.map((_, j) => game.B.reduce((s, row, i) => s + row[j]! * x[i]!, 0));
  return argmaxWithin(values, tolerance * scaleOf(game.B)).map((j) => game.columns[j]!);
}

// ---------------------------------------------------------------------------------------------------------
// Pure equilibria

/** Pure equilibria of a validated game, sorted keys. Exact comparisons: ties count as best responses. */
export function pureNashDense(game: DenseGame): string[] {
  const { A, B, rows, columns } = game;
  const out: string[] = [];
  for (let r = 0; r < rows.length; r++) {
    for (let c = 0; c < columns.length; c++) {
      const a = A[r]![c]!;
      const b = B[r]![c]!;
      let ok = true;
      for (let r2 = 0; r2 < rows.length && ok; r2++) if (A[r2]![c]! > a) ok = false;
      for (let c2 = 0; c2 < columns.length && ok; c2++) if (B[r]![c2]! > b) ok = false;
      if (ok) out.push(cellKey(rows[r]!, columns[c]!));
    }
  }
  return out.sort();
}

/** Cells where neither player gains by deviating alone (weak best responses, exact), sorted keys. */
export function pureNash(matrix: PayoffMatrix, spec: GameSpec = DEFAULT_SPEC): string[] {
  return pureNashDense(toDenseGame(matrix, spec));
}

// ---------------------------------------------------------------------------------------------------------
// Mixed equilibria

/** A vertex candidate: a mixed strategy of one player and the opponent's best responses to it. */
interface Candidate {
  x: Float64Array;
  support: number[];
  /** best[o] = 1 when opponent strategy o is a best response to x. */
  best: Uint8Array;
  bestCount: number;
}

/** All k-subsets of 0..n-1, in lexicographic order. */
function subsets(n: number, k: number): number[][] {
  const out: number[][] = [];
  const idx = Array.from({ length: k }, (_, i) => i);
  if (k > n || k <= 0) return out;
  for (;;) {
    out.push(idx.slice());
    let i = k - 1;
    while (i >= 0 && idx[i] === n - k + i) i--;
    if (i < 0) return out;
    idx[i]!++;
    for (let j = i + 1; j < k; j++) idx[j] = idx[j - 1]! + 1;
  }
}

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return Math.round(r);
}

/**
 * Solves the (k+1)×(k+1) system in `M` (row-major, augmented with the right-hand side as column k+1) in
 * place by Gaussian elimination with partial pivoting. Returns the solution, or undefined when a pivot is
 * below `eps` (singular or nearly so).
 */
function solveAugmented(M: Float64Array, size: number, eps: number): Float64Array | undefined {
  const w = size + 1;
  for (let col = 0; col < size; col++) {
    let piv = col;
    let best = Math.abs(M[col * w + col]!);
    for (let r = col + 1; r < size; r++) {
      const v = Math.abs(M[r * w + col]!);
      if (v > best) {
        best = v;
        piv = r;
      }
    }
    if (best <= eps) return undefined;
    if (piv !== col) {
      for (let c = col; c < w; c++) {
        const t = M[col * w + c]!;
        M[col * w + c] = M[piv * w + c]!;
        M[piv * w + c] = t;
      }
    }
    const d = M[col * w + col]!;
    for (let r = col + 1; r < size; r++) {
      const f = M[r * w + col]! / d;
      if (f === 0) continue;
      for (let c = col; c < w; c++) M[r * w + c] = M[r * w + c]! - f * M[col * w + c]!;
    }
  }
  const sol = new Float64Array(size);
  for (let r = size - 1; r >= 0; r--) {
    let s = M[r * w + size]!;
    for (let c = r + 1; c < size; c++) s -= M[r * w + c]! * sol[c]!;
    sol[r] = s / M[r * w + r]!;
  }
  return sol;
}

/**
 * Candidate mixed strategies of the player owning the first index of `P` (P[own][opp] is the OPPONENT's
 * payoff): for each own support I and opponent set J of equal size, the strategy on I that makes J
 * indifferent and best for the opponent, when unique and non-negative.
 */
function candidates(
  P: readonly (readonly number[])[],
  own: number,
  opp: number,
  tol: number,
  ptol: number,
): Candidate[] {
  const scale = scaleOf(P);
  const tolP = tol * scale;
  // The system mixes payoffs with the unit entries of Σx = 1 and −v: payoffs divided by their scale
  // keep every entry within [−1, 1], so one absolute pivot threshold holds at any scale (at 1e6 a scaled
  // threshold rejected the pivots of pure strategies). The strategy solved for does not change.
  const eps = 1e-12;
  const out: Candidate[] = [];
  const values = new Float64Array(opp);
  for (let k = 1; k <= Math.min(own, opp); k++) {
    const size = k + 1;
    const w = size + 1;
    const M = new Float64Array(size * w);
    const oppSets = subsets(opp, k);
    for (const I of subsets(own, k)) {
      for (const J of oppSets) {
        // Rows t < k: Σ_{i∈I} P[i][J_t]·x_i − v = 0.  Row k: Σ x_i = 1.  Unknowns x_I then v.
        for (let t = 0; t < k; t++) {
          const j = J[t]!;
          for (let s = 0; s < k; s++) M[t * w + s] = P[I[s]!]![j]! / scale;
          M[t * w + k] = -1;
          M[t * w + size] = 0;
        }
        for (let s = 0; s < k; s++) M[k * w + s] = 1;
        M[k * w + k] = 0;
        M[k * w + size] = 1;
        const sol = solveAugmented(M, size, eps);
        if (!sol) continue;
        const x = new Float64Array(own);
        let total = 0;
        let feasible = true;
        for (let s = 0; s < k; s++) {
          const p = sol[s]!;
          if (!(p >= -ptol)) {
            feasible = false;
            break;
          }
          const clamped = p > ptol ? p : 0;
          x[I[s]!] = clamped;
          total += clamped;
        }
        if (!feasible || !(total > 0)) continue;
        for (let s = 0; s < k; s++) x[I[s]!] = x[I[s]!]! / total;
        let best = Number.NEGATIVE_INFINITY;
        for (let o = 0; o < opp; o++) {
          let v = 0;
          for (const i of I) v += x[i]! * P[i]![o]!;
          values[o] = v;
          if (v > best) best = v;
        }
        // The opponent strategies made indifferent must also be best, or this is no vertex of a BR region.
        if (J.some((j) => values[j]! < best - tolP)) continue;
        if (out.some((c) => sameVector(c.x, x, 1e-9))) continue;
        const bestFlags = new Uint8Array(opp);
        let bestCount = 0;
        for (let o = 0; o < opp; o++) {
          if (values[o]! >= best - tolP) {
            bestFlags[o] = 1;
            bestCount++;
          }
        }
        const support = I.filter((i) => x[i]! > 0);
        out.push({ x, support, best: bestFlags, bestCount });
      }
    }
  }
  return out;
}

function sameVector(a: Float64Array, b: Float64Array, tol: number): boolean {
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i]! - b[i]!) > tol) return false;
  return true;
}

function transpose(M: readonly (readonly number[])[], rows: number, cols: number): number[][] {
  return Array.from({ length: cols }, (_, j) => Array.from({ length: rows }, (_, i) => M[i]![j]!));
}

/**
 * Throws {@link GameTooLargeError} when a game of `rows` × `columns` strategies has more support pairs than
 * `limit` (default {@link MAX_SUPPORT_PAIRS}); a caller that knows the size before reading a matrix can
 * refuse it before any work.
 */
export function assertSolvableSize(rows: number, columns: number, limit = MAX_SUPPORT_PAIRS): void {
  const pairs = binomial(rows + columns, rows) - 1;
  if (pairs > limit) throw new GameTooLargeError(rows, columns, pairs, limit);
}

/** Equilibria of a validated game; see {@link nashEquilibria}. */
export function nashEquilibriaDense(game: DenseGame, options: NashOptions = {}): NashResult {
  const tolerance = options.tolerance ?? DEFAULT_NASH_TOLERANCE;
  checkTolerance(tolerance);
  const m = game.rows.length;
  const n = game.columns.length;
  assertSolvableSize(m, n, options.maxSupportPairs);
  const max = options.maxEquilibria ?? Number.POSITIVE_INFINITY;
  if (!(max >= 1)) throw new RangeError(`maxEquilibria must be at least 1, got ${max}`);

  // User candidates x over rows are judged by the assistant's payoffs B[row][col];
  // assistant candidates y over columns by the user's payoffs, transposed to Aᵀ[col][row].
  const xs = candidates(game.B, m, n, tolerance, tolerance);
  const ys = candidates(transpose(game.A, m, n), n, m, tolerance, tolerance);
  const degenerate =
    xs.some((c) => c.bestCount > c.support.length) || ys.some((c) => c.bestCount > c.support.length);

  const found: { x: Float64Array; y: Float64Array; size: number }[] = [];
  for (const cx of xs) {
    for (const cy of ys) {
      if (!cx.support.every((i) => cy.best[i] === 1)) continue;
      if (!cy.support.every((j) => cx.best[j] === 1)) continue;
      found.push({ x: cx.x, y: cy.x, size: cx.support.length + cy.support.length });
    }
  }
  // Pure first, then by the user's then the assistant's probabilities, larger first, in spec order.
  const cmp = (a: Float64Array, b: Float64Array): number => {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return b[i]! - a[i]!;
    return 0;
  };
  found.sort((a, b) => a.size - b.size || cmp(a.x, b.x) || cmp(a.y, b.y));

  const equilibria = found.slice(0, max).map(({ x, y }): MixedEquilibrium => {
    let user = 0;
    let LLM = 0;
    for (let i = 0; i < m; i++) {
      if (x[i] === 0) continue;
      for (let j = 0; j < n; j++) {
        const p = x[i]! * y[j]!;
        if (p === 0) continue;
        user += p * game.A[i]![j]!;
        LLM += p * game.B[i]![j]!;
      }
    }
    const userMix: Record<string, number> = {};
    game.rows.forEach((r, i) => {
      userMix[r] = x[i]!;
    });
    const llmMix: Record<string, number> = {};
    game.columns.forEach((c, j) => {
      llmMix[c] = y[j]!;
    });
    return { user: userMix, llm: llmMix, payoff: { user, LLM } };
  });
  const result: NashResult = { equilibria, degenerate };
  const notes = degenerate ? [DEGENERATE_NOTE] : [];
  if (found.length > max) {
    result.total = found.length;
    notes.push(`the game has ${found.length} equilibria; the first ${max} are listed (pure ones first)`);
  }
  if (notes.length > 0) result.note = notes.join('; ');
  return result;
}

/**
 * Every Nash equilibrium of the game, mixed included (see the module comment for the method and its
 * limits). For a degenerate game `degenerate` is true and `note` says the list may be incomplete.
 * Throws `MatrixError` for an incomplete matrix and {@link GameTooLargeError} past the size limit.
 */
export function nashEquilibria(
  matrix: PayoffMatrix,
  spec: GameSpec = DEFAULT_SPEC,
  options: NashOptions = {},
): NashResult {
  return nashEquilibriaDense(toDenseGame(matrix, spec), options);
}
