/**
 * Selection rules: which cell(s) of a payoff matrix the assistant should aim for.
 *
 * The paper names three "best cell" rules (sum in the prompt, geometric mean in the text, Pareto
 * membership in evaluation) and the reference inference script uses the product; all are here, plus one
 * rule per welfare function. Default: `sum` (max LLM + user, tie → max user, tie → max LLM).
 */
import { type DenseGame, toDenseGame } from './matrix.js';
import { dominatorsDense, paretoFrontierDense } from './pareto.js';
import { DEFAULT_SPEC, type GameSpec, type Payoff, type PayoffMatrix } from './spec.js';
import {
  cesWelfare,
  cobbDouglasWelfare,
  DEFAULT_WELFARE_OFFSET,
  minWelfare,
  productWelfare,
  sumWelfare,
  weightedWelfare,
} from './welfare.js';

export const SELECTION_RULES = [
  'sum',
  'product',
  'pareto',
  'cobb-douglas',
  'ces',
  'min',
  'weighted',
] as const;
export type SelectionRuleName = (typeof SELECTION_RULES)[number];

/** CES ρ used when the `ces` rule is named without parameters: the weighted harmonic mean. */
export const DEFAULT_CES_RHO = -1;

/** A rule with its parameters. Omitted parameters take the defaults of `welfare.ts`. */
export type SelectionRule =
  | { name: 'sum' }
  | { name: 'product' }
  | { name: 'pareto'; tolerance?: number }
  | { name: 'cobb-douglas'; alpha?: number; offset?: number }
  | { name: 'ces'; rho?: number; alpha?: number; offset?: number }
  | { name: 'min' }
  | { name: 'weighted'; alpha?: number };

export interface SelectionResult {
  rule: SelectionRuleName;
  /** Chosen cell keys, sorted; `selected[0]` is the pick. Several only on exact ties (or for `pareto`). */
  selected: string[];
  /** Why, in words, with the numbers that decided it. */
  reason: string;
  /** The rule's score of every cell (spec order); absent for `pareto`. */
  scores?: Record<string, number>;
  /** The parameters the rule ran with (defaults filled in), when it has any. */
  params?: Record<string, number>;
}

export function isSelectionRuleName(name: string): name is SelectionRuleName {
  return (SELECTION_RULES as readonly string[]).includes(name);
}

/** Shortest round-trip decimal form: exact, so "ties" in a reason are visibly exact. */
const fmt = (x: number): string => String(x);
const pair = (p: Payoff): string => `LLM ${fmt(p.LLM)}, user ${fmt(p.user)}`;

/** Indices among `candidates` whose `value` is maximal (exact comparison). */
function argmaxAmong(candidates: readonly number[], value: (i: number) => number): number[] {
  let best = Number.NEGATIVE_INFINITY;
  let out: number[] = [];
  for (const i of candidates) {
    const v = value(i);
    if (v > best) {
      best = v;
      out = [i];
    } else if (v === best) {
      out.push(i);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Exact decimal arithmetic for the sum and product rules
// ---------------------------------------------------------------------------------------------------

/**
 * Payoffs are short decimals (the model writes 2.5, -0.3), which doubles cannot add exactly: 0.1 + 0.2 >
 * 0.3 in floating point, so a double comparison misses ties that the rule's arithmetic has and skips the
 * tie-break (about 0.4% of random one-decimal 2×3 matrices get another sum pick). So every payoff is read
 * as the shortest decimal that rounds to it (what the JSON said) and scaled by a common 10^d to an
 * integer; sums and products of those integers are exact. Payoffs with more than 15 decimals, or integers
 * past `bound`, leave the matrix to plain double arithmetic.
 */
function scaledPayoffs(
  cells: readonly Payoff[],
  bound: number,
): { scale: number; LLM: number[]; user: number[] } | undefined {
  let scale = 1;
  for (const p of cells) {
    for (const v of [p.LLM, p.user]) {
      // The fewest decimals k with round(v·10^k)/10^k === v: then v is that k-decimal number's double.
      let q = scale;
      while (Math.round(v * q) / q !== v) {
        if (q >= 1e15) return undefined;
        q *= 10;
      }
      scale = q;
    }
  }
  const LLM: number[] = [];
  const user: number[] = [];
  for (const p of cells) {
    // |v·10^d − N| stays far below 1/2 for |N| ≤ 2^50, so rounding recovers the decimal's integer N.
    const l = Math.round(p.LLM * scale);
    const u = Math.round(p.user * scale);
    if (!(Math.abs(l) <= bound && Math.abs(u) <= bound)) return undefined;
    LLM.push(l);
    user.push(u);
  }
  return { scale, LLM, user };
}

/** Sums within 2^50 + 2^50 and products within 2^26 · 2^26 stay exact integers in a double. */
const SUM_BOUND = 2 ** 50;
const PRODUCT_BOUND = 2 ** 26;

/**
 * LLM + user of every cell: `exact` orders and ties exactly as the decimals do, `values` are the same
 * sums as doubles (the nearest double to the exact decimal sum: 0.1 + 0.2 reads 0.3).
 */
function decimalSums(cells: readonly Payoff[]): { exact: number[]; values: number[] } {
  const scaled = scaledPayoffs(cells, SUM_BOUND);
  if (scaled === undefined) {
    const values = cells.map(sumWelfare);
    // Past the largest double two different sums both read Infinity: then compared as halves, L/2 + U/2,
    // which order cells as L + U does. Only then: halving a subnormal payoff rounds (3·2^-1074 / 2 ties
    // with 2^-1074 + 2^-1073 / 2), where the plain sums are exact.
    if (values.every(Number.isFinite)) return { exact: values, values };
    return { exact: cells.map((c) => c.LLM / 2 + c.user / 2), values };
  }
  const exact = scaled.LLM.map((l, i) => l + scaled.user[i]!);
  return { exact, values: exact.map((n) => n / scaled.scale) };
}

/** 2^−512: a payoff times this is exact, and the product of two such stays below the largest double. */
const PRODUCT_SHRINK = 2 ** -512;

/**
 * Ranks of the cells by user · LLM (equal products, equal ranks) when some products pass the largest
 * double: all of those read ±Infinity, so 1e200·1e200 would tie with 1e300·1e300. Finite products compare
 * as they are; two products past the same infinity compare as the products of their payoffs times 2^−512,
 * which keep their order (scaling by a power of two is exact, and such factors are far from underflow).
 */
function productRanks(cells: readonly Payoff[], products: readonly number[]): number[] {
  const compare = (i: number, k: number): number => {
    let a = products[i]!;
    let b = products[k]!;
    if (a === b && !Number.isFinite(a)) {
      a = cells[i]!.user * PRODUCT_SHRINK * (cells[i]!.LLM * PRODUCT_SHRINK);
      b = cells[k]!.user * PRODUCT_SHRINK * (cells[k]!.LLM * PRODUCT_SHRINK);
    }
    return a < b ? -1 : a > b ? 1 : 0;
  };
  const order = cells.map((_, i) => i).sort(compare);
  const ranks: number[] = new Array(cells.length);
  order.forEach((i, at) => {
    ranks[i] = at > 0 && compare(order[at - 1]!, i) === 0 ? ranks[order[at - 1]!]! : at;
  });
  return ranks;
}

/** user · LLM of every cell, exact on decimals like {@link decimalSums}. */
function decimalProducts(cells: readonly Payoff[]): { exact: number[]; values: number[] } {
  const scaled = scaledPayoffs(cells, PRODUCT_BOUND);
  // 10^(2d) must itself be exact for the division to round once.
  if (scaled === undefined || scaled.scale > 1e11) {
    const values = cells.map(productWelfare);
    return { exact: values.every(Number.isFinite) ? values : productRanks(cells, values), values };
  }
  const square = scaled.scale * scaled.scale;
  const exact = scaled.LLM.map((l, i) => l * scaled.user[i]!);
  return { exact, values: exact.map((n) => n / square) };
}

function keysOf(game: DenseGame, indices: readonly number[]): string[] {
  return indices.map((i) => game.keys[i]!).sort();
}

function recordOf(game: DenseGame, values: readonly number[]): Record<string, number> {
  const scores: Record<string, number> = {};
  game.keys.forEach((k, i) => {
    scores[k] = values[i]!;
  });
  return scores;
}

function selectSum(game: DenseGame): SelectionResult {
  // Sums compared as exact decimals (see scaledPayoffs); single payoffs compare exactly as doubles.
  const { exact, values } = decimalSums(game.cells);
  const scores = recordOf(game, values);
  const all = game.cells.map((_, i) => i);
  const bySum = argmaxAmong(all, (i) => exact[i]!);
  const byUser = argmaxAmong(bySum, (i) => game.cells[i]!.user);
  const byLlm = argmaxAmong(byUser, (i) => game.cells[i]!.LLM);
  const selected = keysOf(game, byLlm);
  const pick = selected[0]!;
  const pickCell = game.cells[game.keys.indexOf(pick)]!;
  const best = values[bySum[0]!]!;
  let reason: string;
  if (bySum.length === 1) {
    const rest = all.filter((i) => i !== bySum[0]);
    const second = argmaxAmong(rest, (i) => exact[i]!);
    const runnerUp =
      second.length > 0
        ? `; next best ${keysOf(game, second).join(', ')} with ${fmt(values[second[0]!]!)}`
        : '';
    reason = `${pick} has the highest LLM + user = ${fmt(best)} (${pair(pickCell)})${runnerUp}`;
  } else {
    reason = `${keysOf(game, bySum).join(', ')} tie on LLM + user = ${fmt(best)}`;
    const maxUser = game.cells[byUser[0]!]!.user;
    if (byUser.length === 1) {
      reason += `; ${pick} has the highest user payoff among them (${fmt(maxUser)})`;
    } else {
      reason += `; ${keysOf(game, byUser).join(', ')} also tie on user = ${fmt(maxUser)}`;
      if (byLlm.length === 1) {
        reason += `; ${pick} has the highest LLM payoff among them (${fmt(pickCell.LLM)})`;
      } else {
        reason += ` and on LLM = ${fmt(pickCell.LLM)}; all are returned and ${pick} (first in key order) is the pick`;
      }
    }
  }
  return { rule: 'sum', selected, reason, scores };
}

function selectPareto(game: DenseGame, tolerance: number): SelectionResult {
  const selected = paretoFrontierDense(game, tolerance);
  const dominators = dominatorsDense(game, tolerance);
  const dominated = Object.keys(dominators).sort();
  const tol = tolerance > 0 ? ` (tolerance ${fmt(tolerance)})` : '';
  let reason = `${selected.length} of ${game.keys.length} cells are Pareto-optimal over (LLM, user)${tol}: ${selected.join(', ')}`;
  if (dominated.length > 0) {
    reason += `; dominated: ${dominated.map((k) => `${k} by ${dominators[k]}`).join(', ')}`;
  }
  return { rule: 'pareto', selected, reason, ...(tolerance > 0 ? { params: { tolerance } } : {}) };
}

function selectByScore(
  game: DenseGame,
  rule: SelectionRuleName,
  label: string,
  /** A welfare function, or precomputed scores: `exact` decides, `values` are reported. */
  score: ((p: Payoff) => number) | { exact: readonly number[]; values: readonly number[] },
  params?: Record<string, number>,
): SelectionResult {
  let exact: readonly number[];
  let values: readonly number[];
  if (typeof score === 'function') {
    values = game.cells.map(score);
    exact = values;
  } else {
    ({ exact, values } = score);
  }
  const scores = recordOf(game, values);
  const winners = argmaxAmong(
    game.cells.map((_, i) => i),
    (i) => exact[i]!,
  );
  const selected = keysOf(game, winners);
  const best = values[winners[0]!]!;
  const detail = winners.length === 1 ? ` (${pair(game.cells[winners[0]!]!)})` : '';
  const verb = winners.length === 1 ? 'maximizes' : 'tie, each maximizing';
  const reason = `${selected.join(', ')} ${verb} ${label} = ${fmt(best)}${detail}`;
  return { rule, selected, reason, scores, ...(params ? { params } : {}) };
}

function normalizeRule(rule: SelectionRuleName | SelectionRule): SelectionRule {
  const r = typeof rule === 'string' ? ({ name: rule } as SelectionRule) : rule;
  if (!isSelectionRuleName(r.name)) {
    throw new RangeError(
      `unknown selection rule ${JSON.stringify(r.name)}; known: ${SELECTION_RULES.join(', ')}`,
    );
  }
  return r;
}

/** Runs a rule on an already validated game. */
export function selectDense(
  game: DenseGame,
  rule: SelectionRuleName | SelectionRule = 'sum',
): SelectionResult {
  const r = normalizeRule(rule);
  switch (r.name) {
    case 'sum':
      return selectSum(game);
    case 'product':
      return selectByScore(game, 'product', 'user × LLM', decimalProducts(game.cells));
    case 'pareto':
      return selectPareto(game, r.tolerance ?? 0);
    case 'min':
      return selectByScore(game, 'min', 'min(user, LLM)', minWelfare);
    case 'weighted': {
      const alpha = r.alpha ?? 0.5;
      return selectByScore(
        game,
        'weighted',
        `${fmt(alpha)}·user + ${fmt(1 - alpha)}·LLM`,
        (p) => weightedWelfare(p, alpha),
        { alpha },
      );
    }
    case 'cobb-douglas': {
      const alpha = r.alpha ?? 0.5;
      const offset = r.offset ?? DEFAULT_WELFARE_OFFSET;
      return selectByScore(
        game,
        'cobb-douglas',
        `Cobb-Douglas (user+${fmt(offset)})^${fmt(alpha)}·(LLM+${fmt(offset)})^${fmt(1 - alpha)}`,
        (p) => cobbDouglasWelfare(p, { alpha, offset }),
        { alpha, offset },
      );
    }
    case 'ces': {
      const rho = r.rho ?? DEFAULT_CES_RHO;
      const alpha = r.alpha ?? 0.5;
      const offset = r.offset ?? DEFAULT_WELFARE_OFFSET;
      return selectByScore(
        game,
        'ces',
        `CES welfare (ρ ${fmt(rho)}, user weight ${fmt(alpha)}, offset ${fmt(offset)})`,
        (p) => cesWelfare(p, { rho, alpha, offset }),
        { rho, alpha, offset },
      );
    }
  }
}

/**
 * Selects the cell(s) of `matrix` by `rule` (default `sum`). `selected` is sorted and its first key is the
 * pick. Throws `MatrixError` for an incomplete matrix, RangeError for an unknown rule or bad parameter.
 */
export function selectCell(
  matrix: PayoffMatrix,
  rule: SelectionRuleName | SelectionRule = 'sum',
  spec: GameSpec = DEFAULT_SPEC,
): SelectionResult {
  return selectDense(toDenseGame(matrix, spec), rule);
}

/** The default rule's single pick: max LLM + user, tie → max user, tie → max LLM, then key order. */
export function selectedCell(matrix: PayoffMatrix, spec: GameSpec = DEFAULT_SPEC): string {
  return selectCell(matrix, 'sum', spec).selected[0]!;
}

/** All cells maximizing user · LLM, sorted (the reference inference script's rule). */
export function argmaxProduct(matrix: PayoffMatrix, spec: GameSpec = DEFAULT_SPEC): string[] {
  return selectCell(matrix, 'product', spec).selected;
}
