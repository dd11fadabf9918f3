/**
 * Whether two runs really differ: for W, U, L and the answer score, over the items both runs scored, the
 * paired bootstrap interval of the mean difference B − A and the paired sign-flip test, with the number of
 * items and the seed. A difference is "within noise" when the interval covers 0 or the test's p is above
 * 1 − the interval's level (0.05): a percentile bootstrap of a handful of items is narrower than the truth
 * (of one item it is the point itself), where the exact test cannot reject.
 */
import { cobbDouglas } from '../reward/aggregate.js';
import { isFailedReward } from './metrics.js';
import { type Interval, type PermutationTest, pairedBootstrap, signFlipTest } from './stats.js';
import type { RunRecord } from './types.js';

export const PAIRED_MEASURES = ['welfare', 'user_welfare', 'llm_welfare', 'answer_score'] as const;
export type PairedMeasure = (typeof PAIRED_MEASURES)[number];

export interface PairedStat {
  /** Items with a score in both runs. */
  n: number;
  meanA: number | null;
  meanB: number | null;
  /** Mean of B − A with its percentile bootstrap interval (resampling the pairs). */
  difference: Interval;
  /** Two-sided paired sign-flip test of "no difference". */
  test: PermutationTest;
  /** The interval covers 0, or p > 1 − its level: the runs cannot be told apart on this measure. */
  within_noise: boolean;
}

export type PairedStats = Record<PairedMeasure, PairedStat>;

function value(record: RunRecord, measure: PairedMeasure): number | undefined {
  const r = record.reward;
  if (isFailedReward(r)) return undefined;
  switch (measure) {
    case 'welfare':
      return cobbDouglas(r.user_reward, r.llm_reward);
    case 'user_welfare':
      return r.user_reward;
    case 'llm_welfare':
      return r.llm_reward;
    case 'answer_score':
      return r.answer_reward;
  }
}

export interface PairedOptions {
  seed?: number;
  resamples?: number;
}

/** The paired interval and test of values `xs[i]` (run A) and `ys[i]` (run B) of the same items. */
export function pairedStat(
  xs: readonly number[],
  ys: readonly number[],
  options: PairedOptions = {},
): PairedStat {
  const boot = pairedBootstrap(xs, ys, options);
  const difference = boot.difference;
  const test = signFlipTest(xs, ys, options.seed === undefined ? {} : { seed: options.seed });
  const coversZero = !(difference.low > 0 || difference.high < 0);
  return {
    n: xs.length,
    meanA: xs.length === 0 ? null : boot.meanA,
    meanB: xs.length === 0 ? null : boot.meanB,
    difference,
    test,
    within_noise: coversZero || test.pValue > 1 - difference.level,
  };
}

/**
 * The paired values of `measure` over items `a[i]` and `b[i]`: the pairs where both have a value
 * (`undefined` leaves the pair out).
 */
export function pairedValues<T>(
  a: readonly T[],
  b: readonly T[],
  measure: (item: T) => number | undefined,
): { xs: number[]; ys: number[] } {
  const xs: number[] = [];
  const ys: number[] = [];
  a.forEach((ra, i) => {
    const x = measure(ra);
    const y = measure(b[i]!);
    if (x !== undefined && y !== undefined) {
      xs.push(x);
      ys.push(y);
    }
  });
  return { xs, ys };
}

/** The paired statistics of records `a[i]` and `b[i]` (the same item in both runs). */
export function pairedStats(
  a: readonly RunRecord[],
  b: readonly RunRecord[],
  options: PairedOptions = {},
): PairedStats {
  const out = {} as PairedStats;
  for (const measure of PAIRED_MEASURES) {
    const { xs, ys } = pairedValues(a, b, (r) => value(r, measure));
    out[measure] = pairedStat(xs, ys, options);
  }
  return out;
}
