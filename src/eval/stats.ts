/**
 * Statistics for comparing runs and rating studies, pure and seeded (no I/O, no clock, no global
 * randomness), so that every figure can be reproduced from its inputs and its seed:
 *
 * - {@link bootstrapCI}: percentile bootstrap interval of a statistic of one sample (default the mean).
 * - {@link pairedBootstrap}: the mean paired difference b − a with a percentile interval, resampling pairs;
 *   and the relative change mean(b) / mean(a) − 1 over the same resamples.
 * - {@link signFlipTest}: the paired permutation test of "the mean difference is 0" (two-sided): exact
 *   over all 2^m sign patterns of the m non-zero differences when m ≤ 20, else Monte Carlo with the
 *   (count + 1) / (N + 1) estimate, which is never 0.
 * - {@link pearson}, {@link spearman} and Kendall's τ-b (./kendall.ts) with Fisher-z intervals
 *   ({@link correlation}).
 * - {@link krippendorffAlpha}: inter-rater agreement with missing ratings (interval or nominal metric).
 *
 * Identical samples give a difference of exactly 0, an interval [0, 0] and p = 1; a constant shift c gives
 * exactly c and the interval [c, c] (every resample of a constant is that constant).
 */
import { seededRandom } from '../random.js';
import { kendallTauB } from './kendall.js';

export { kendallTauB, seededRandom };

/** FNV-1a over a string's UTF-16 code units: a 32-bit seed from text (a study id and a rater id). */
export function hashSeed(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A seeded Fisher–Yates shuffle (a new array). */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** The q-quantile (0 ≤ q ≤ 1) of sorted values, linear between order statistics (R type 7, NumPy's default). */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a === b ? a : a + (h - lo) * (b - a);
}

export interface BootstrapOptions {
  /** Seed of the resampling (default 1). */
  seed?: number;
  /** Resamples (default 2000). */
  resamples?: number;
  /** Confidence level (default 0.95). */
  level?: number;
}

export interface Interval {
  /** The statistic on the sample itself. */
  estimate: number;
  low: number;
  high: number;
  /** Confidence level of [low, high]. */
  level: number;
  /** Sample size (pairs, for paired statistics). */
  n: number;
  /** What the interval came from: `bootstrap` (with resamples and seed) or `fisher-z`. */
  method: 'bootstrap' | 'fisher-z';
  resamples?: number;
  seed?: number;
}

function settings(options: BootstrapOptions): { seed: number; resamples: number; level: number } {
  const seed = options.seed ?? 1;
  const resamples = options.resamples ?? 2000;
  const level = options.level ?? 0.95;
  if (!Number.isSafeInteger(resamples) || resamples < 1)
    throw new RangeError('resamples must be an integer ≥ 1');
  if (!(level > 0 && level < 1)) throw new RangeError('level must lie strictly between 0 and 1');
  return { seed, resamples, level };
}

/** The percentile interval of resampled statistics (NaN ones, from degenerate resamples, are left out). */
function percentile(stats: number[], level: number): { low: number; high: number } {
  const kept = stats.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  const tail = (1 - level) / 2;
  return { low: quantileSorted(kept, tail), high: quantileSorted(kept, 1 - tail) };
}

/**
 * Percentile bootstrap interval of `statistic` (default the mean) over `xs`. An empty sample gives NaN
 * everywhere.
 */
export function bootstrapCI(
  xs: readonly number[],
  options: BootstrapOptions & { statistic?: (sample: readonly number[]) => number } = {},
): Interval {
  const { seed, resamples, level } = settings(options);
  const statistic = options.statistic ?? mean;
  const n = xs.length;
  const base = { level, n, method: 'bootstrap' as const, resamples, seed };
  if (n === 0) return { estimate: Number.NaN, low: Number.NaN, high: Number.NaN, ...base };
  const random = seededRandom(seed);
  const stats: number[] = new Array(resamples);
  const sample: number[] = new Array(n);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) sample[i] = xs[Math.floor(random() * n)]!;
    stats[r] = statistic(sample);
  }
  return { estimate: statistic(xs), ...percentile(stats, level), ...base };
}

export interface PairedComparison {
  /** Mean of b − a with its interval. */
  difference: Interval;
  /** mean(b) / mean(a) − 1 with its interval (NaN when mean(a) is 0). */
  relative: Interval;
  meanA: number;
  meanB: number;
}

/** Paired bootstrap of b against a (same items, same order): resamples the pairs. */
export function pairedBootstrap(
  a: readonly number[],
  b: readonly number[],
  options: BootstrapOptions = {},
): PairedComparison {
  if (a.length !== b.length)
    throw new RangeError(`paired samples differ in length (${a.length} vs ${b.length})`);
  const { seed, resamples, level } = settings(options);
  const n = a.length;
  const base = { level, n, method: 'bootstrap' as const, resamples, seed };
  const diffs = a.map((x, i) => b[i]! - x);
  const meanA = mean(a);
  const meanB = mean(b);
  if (n === 0) {
    const none = { estimate: Number.NaN, low: Number.NaN, high: Number.NaN, ...base };
    return { difference: none, relative: none, meanA, meanB };
  }
  const random = seededRandom(seed);
  const diffStats: number[] = new Array(resamples);
  const relStats: number[] = new Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let sa = 0;
    let sb = 0;
    let sd = 0;
    for (let i = 0; i < n; i++) {
      const k = Math.floor(random() * n);
      sa += a[k]!;
      sb += b[k]!;
      sd += diffs[k]!;
    }
    diffStats[r] = sd / n;
    relStats[r] = sa === 0 ? Number.NaN : sb / sa - 1;
  }
  return {
    difference: { estimate: mean(diffs), ...percentile(diffStats, level), ...base },
    relative: {
      estimate: meanA === 0 ? Number.NaN : meanB / meanA - 1,
      ...percentile(relStats, level),
      ...base,
    },
    meanA,
    meanB,
  };
}

export interface PermutationTest {
  /** The observed mean difference b − a. */
  statistic: number;
  /** Two-sided p-value of "the mean difference is 0". */
  pValue: number;
  /** `exact` (every sign pattern) or `monte-carlo` (with `permutations` and `seed`). */
  method: 'exact' | 'monte-carlo';
  n: number;
  permutations?: number;
  seed?: number;
}

const EXACT_LIMIT = 20;

/**
 * The paired sign-flip permutation test: under the null hypothesis each difference is as likely negative
 * as positive. Zero differences cannot change sign and are kept as they are. With no non-zero difference
 * the p-value is 1.
 */
export function signFlipTest(
  a: readonly number[],
  b: readonly number[],
  options: { seed?: number; permutations?: number } = {},
): PermutationTest {
  if (a.length !== b.length)
    throw new RangeError(`paired samples differ in length (${a.length} vs ${b.length})`);
  const diffs = a.map((x, i) => b[i]! - x);
  const n = diffs.length;
  const statistic = n === 0 ? Number.NaN : mean(diffs);
  const nonZero = diffs.filter((d) => d !== 0);
  const m = nonZero.length;
  if (m === 0) return { statistic: n === 0 ? Number.NaN : 0, pValue: 1, method: 'exact', n };
  const observed = Math.abs(nonZero.reduce((s, d) => s + d, 0));
  // Compare sums, with a relative tolerance so that a pattern equal to the observed one counts as equal.
  const tol = 1e-12 * nonZero.reduce((s, d) => s + Math.abs(d), 0);
  if (m <= EXACT_LIMIT) {
    const total = 2 ** m;
    let extreme = 0;
    for (let mask = 0; mask < total; mask++) {
      let s = 0;
      for (let i = 0; i < m; i++) s += mask & (1 << i) ? -nonZero[i]! : nonZero[i]!;
      if (Math.abs(s) >= observed - tol) extreme++;
    }
    return { statistic, pValue: extreme / total, method: 'exact', n };
  }
  const permutations = options.permutations ?? 10_000;
  const seed = options.seed ?? 1;
  const random = seededRandom(seed);
  let extreme = 0;
  for (let p = 0; p < permutations; p++) {
    let s = 0;
    for (const d of nonZero) s += random() < 0.5 ? -d : d;
    if (Math.abs(s) >= observed - tol) extreme++;
  }
  return {
    statistic,
    pValue: (extreme + 1) / (permutations + 1),
    method: 'monte-carlo',
    n,
    permutations,
    seed,
  };
}

/** Pearson's r (NaN when either sample is constant or there are fewer than 2 pairs). */
export function pearson(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length) throw new RangeError(`samples differ in length (${x.length} vs ${y.length})`);
  const n = x.length;
  if (n < 2) return Number.NaN;
  const mx = mean(x);
  const my = mean(y);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return Number.NaN;
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/** Ranks 1..n with ties given their average rank. */
export function ranks(xs: readonly number[]): number[] {
  const order = xs.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
  const out: number[] = new Array(xs.length);
  let i = 0;
  while (i < order.length) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) out[order[k]![1]] = rank;
    i = j + 1;
  }
  return out;
}

/** Spearman's ρ: Pearson's r of the ranks (ties averaged). */
export function spearman(x: readonly number[], y: readonly number[]): number {
  return pearson(ranks(x), ranks(y));
}

/** Two-sided standard normal quantile for a confidence level (Acklam's approximation, |error| < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) return Number.NaN;
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lowP = 0.02425;
  if (p < lowP) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
      ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
    );
  }
  if (p > 1 - lowP) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

/** The correlation methods of {@link correlation}. */
export type CorrelationMethod = 'pearson' | 'spearman' | 'kendall';

/**
 * Each method's statistic, the variance of its Fisher z = atanh(r), and the smallest n with an interval:
 * 1 / (n − 3) for Pearson; 1.06 / (n − 3) for Spearman's ρ and 0.437 / (n − 4) for Kendall's τ (Fieller,
 * Hartley and Pearson 1957).
 */
const METHODS: Record<
  CorrelationMethod,
  {
    statistic: (x: readonly number[], y: readonly number[]) => number;
    variance: (n: number) => number;
    minN: number;
  }
> = {
  pearson: { statistic: pearson, variance: (n) => 1 / (n - 3), minN: 4 },
  spearman: { statistic: spearman, variance: (n) => 1.06 / (n - 3), minN: 4 },
  kendall: { statistic: kendallTauB, variance: (n) => 0.437 / (n - 4), minN: 5 },
};

/**
 * A correlation with its Fisher-z interval, tanh(atanh(r) ± z · se), the standard error by the method (see
 * {@link METHODS}). NaN bounds when n is too small for it (3 or fewer pairs; 4 or fewer for Kendall).
 */
export function correlation(
  x: readonly number[],
  y: readonly number[],
  method: CorrelationMethod,
  level = 0.95,
): Interval {
  const { statistic, variance, minN } = METHODS[method];
  const r = statistic(x, y);
  const n = x.length;
  const base = { estimate: r, level, n, method: 'fisher-z' as const };
  if (n < minN || Number.isNaN(r)) return { ...base, low: Number.NaN, high: Number.NaN };
  if (Math.abs(r) === 1) return { ...base, low: r, high: r };
  const se = Math.sqrt(variance(n));
  const z = normalQuantile(1 - (1 - level) / 2);
  const centre = Math.atanh(r);
  return { ...base, low: Math.tanh(centre - z * se), high: Math.tanh(centre + z * se) };
}

/**
 * Krippendorff's alpha for units rated by several raters, missing ratings allowed: `units` holds each
 * unit's values (one per rater who rated it); units with fewer than two values are not pairable and are
 * left out. `interval` uses the squared difference, `nominal` 0/1 disagreement. NaN when fewer than two
 * pairable values exist or the pooled values do not vary.
 */
export function krippendorffAlpha(
  units: readonly (readonly number[])[],
  metric: 'interval' | 'nominal' = 'interval',
): { alpha: number; units: number; values: number } {
  const pairable = units.filter((u) => u.length >= 2);
  const pooled = pairable.flat();
  const n = pooled.length;
  if (n < 2) return { alpha: Number.NaN, units: pairable.length, values: n };
  let observed = 0;
  for (const u of pairable) observed += disagreement(u, metric) / (u.length - 1);
  observed /= n;
  const expected = disagreement(pooled, metric) / (n * (n - 1));
  return { alpha: expected === 0 ? Number.NaN : 1 - observed / expected, units: pairable.length, values: n };
}

/**
 * The sum of δ(x_i, x_j) over all ordered pairs i ≠ j, in one pass rather than over every pair (the pooled
 * values of a study are raters × items × 2, whose pairs would take seconds): for the squared difference
 * 2n·Σ(x − mean)², for 0/1 disagreement n² − Σ over values of their count².
 */
function disagreement(values: readonly number[], metric: 'interval' | 'nominal'): number {
  const n = values.length;
  if (metric === 'interval') {
    const m = mean(values);
    let squares = 0;
    for (const x of values) squares += (x - m) * (x - m);
    return 2 * n * squares;
  }
  const counts = new Map<number, number>();
  for (const x of values) counts.set(x, (counts.get(x) ?? 0) + 1);
  let same = 0;
  for (const c of counts.values()) same += c * c;
  return n * n - same;
}
