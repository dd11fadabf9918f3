/** The statistics module against cases with known answers. */
import { describe, expect, it } from 'vitest';
import {
  bootstrapCI,
  correlation,
  hashSeed,
  kendallTauB,
  krippendorffAlpha,
  mean,
  pairedBootstrap,
  pearson,
  ranks,
  seededRandom,
  signFlipTest,
  spearman,
} from '../../src/eval/stats.js';
import { kendallByPairs } from '../support/kendall-by-pairs.js';

const sample = (seed: number, n: number) => {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => r());
};

describe('bootstrap intervals and the paired test', () => {
  it('identical samples: a difference of exactly 0, the interval [0, 0], p = 1', () => {
    const a = sample(7, 40);
    const paired = pairedBootstrap(a, [...a], { seed: 3 });
    expect(paired.difference).toMatchObject({ estimate: 0, low: 0, high: 0, n: 40, seed: 3 });
    expect(paired.relative).toMatchObject({ estimate: 0, low: 0, high: 0 });
    expect(signFlipTest(a, [...a])).toMatchObject({ statistic: 0, pValue: 1 });
  });

  it('a constant shift: exactly the shift, an interval [shift, shift] excluding 0, a small p', () => {
    const a = sample(11, 30);
    const b = a.map((x) => x + 0.5);
    const d = pairedBootstrap(a, b, { seed: 5 }).difference;
    // Each difference is b − a computed in floating point; the shift of 0.5 is exact for values in [0, 1).
    expect(d.estimate).toBe(0.5);
    expect(d.low).toBe(0.5);
    expect(d.high).toBe(0.5);
    const t = signFlipTest(a, b, { seed: 5, permutations: 5000 });
    // Monte Carlo for 30 non-zero differences: only the all-positive and all-negative patterns are as extreme.
    expect(t.method).toBe('monte-carlo');
    expect(t.pValue).toBe(1 / 5001);
    // Exact for few differences: 2 of 2^8 patterns are as extreme as the observed one.
    expect(signFlipTest(a.slice(0, 8), b.slice(0, 8)).pValue).toBe(2 / 256);
  });

  it('pure noise: the interval covers 0 and the test rejects at the nominal rate', () => {
    // 200 independent noise pairs of 50 items: a 95% interval covers the true difference 0 in about 95%
    // of them (binomial sd 1.5%), and the test rejects at 5% in about 5%.
    let covered = 0;
    let rejected = 0;
    const replicates = 200;
    for (let k = 0; k < replicates; k++) {
      const ra = seededRandom(hashSeed(`a${k}`));
      const rb = seededRandom(hashSeed(`b${k}`));
      const a = Array.from({ length: 50 }, () => ra());
      const b = Array.from({ length: 50 }, () => rb());
      const d = pairedBootstrap(a, b, { seed: k, resamples: 1000 }).difference;
      if (d.low <= 0 && d.high >= 0) covered++;
      if (signFlipTest(a, b, { seed: k, permutations: 1000 }).pValue < 0.05) rejected++;
    }
    expect(covered / replicates).toBeGreaterThan(0.9);
    expect(covered / replicates).toBeLessThan(0.99);
    expect(rejected / replicates).toBeLessThan(0.1);
  });

  it('the bootstrap interval of a mean brackets it, is seeded, and shrinks with n', () => {
    const xs = sample(1, 400);
    const ci = bootstrapCI(xs, { seed: 4 });
    expect(ci.low).toBeLessThan(ci.estimate);
    expect(ci.high).toBeGreaterThan(ci.estimate);
    expect(ci.estimate).toBe(mean(xs));
    expect(bootstrapCI(xs, { seed: 4 })).toEqual(ci);
    const small = bootstrapCI(xs.slice(0, 25), { seed: 4 });
    expect(small.high - small.low).toBeGreaterThan(ci.high - ci.low);
    // Standard error of the mean of U(0,1) at n = 400 is 0.0144: a 95% interval is about ±0.028 wide.
    expect(ci.high - ci.low).toBeGreaterThan(0.04);
    expect(ci.high - ci.low).toBeLessThan(0.075);
  });

  it('a sign-flip p-value of a known small case', () => {
    // Differences 1, 2, 3: sums over the 8 sign patterns are ±6, ±4, ±2, ±0; |sum| ≥ 6 in 2 of 8.
    expect(signFlipTest([0, 0, 0], [1, 2, 3]).pValue).toBe(2 / 8);
    // Zero differences keep their sign: p over the others only.
    expect(signFlipTest([0, 0, 0, 5], [1, 2, 3, 5]).pValue).toBe(2 / 8);
  });
});

describe('correlations', () => {
  it('Pearson and Spearman of known data', () => {
    const x = [1, 2, 3, 4, 5];
    const y = [2, 4, 5, 4, 5];
    // r = 6 / sqrt(10 · 6) = 0.7745966692
    expect(pearson(x, y)).toBeCloseTo(0.7745966692, 9);
    expect(ranks(y)).toEqual([1, 2.5, 4.5, 2.5, 4.5]);
    // ranks x 1..5, y 1, 2.5, 4.5, 2.5, 4.5: r = 0.7378647873726218 (scipy.stats.spearmanr)
    expect(spearman(x, y)).toBeCloseTo(0.7378647873726218, 12);
    expect(spearman([1, 2, 3], [10, 100, 1000])).toBe(1);
    expect(pearson([1, 1, 1], [1, 2, 3])).toBeNaN();
  });

  it('the Fisher-z interval matches the textbook formula', () => {
    const x = sample(31, 50);
    const y = x.map((v, i) => v + sample(32, 50)[i]! * 0.5);
    const ci = correlation(x, y, 'pearson');
    const r = pearson(x, y);
    const se = 1 / Math.sqrt(47);
    expect(ci.estimate).toBe(r);
    expect(ci.low).toBeCloseTo(Math.tanh(Math.atanh(r) - 1.959963985 * se), 8);
    expect(ci.high).toBeCloseTo(Math.tanh(Math.atanh(r) + 1.959963985 * se), 8);
  });
});

describe("Kendall's τ-b", () => {
  it('known values (scipy.stats.kendalltau, its default τ-b)', () => {
    expect(kendallTauB([12, 2, 1, 12, 2], [1, 4, 7, 1, 0])).toBeCloseTo(-0.4714045207910316, 14);
    expect(kendallTauB([1, 2, 3, 4, 5], [2, 4, 5, 4, 5])).toBeCloseTo(0.6708203932499368, 14);
    expect(kendallTauB([1, 2, 3, 4], [10, 20, 30, 40])).toBe(1);
    expect(kendallTauB([1, 2, 3, 4], [4, 3, 2, 1])).toBe(-1);
  });

  it('equals the pair-by-pair definition on tied data of any size', () => {
    const random = seededRandom(11);
    for (let round = 0; round < 200; round++) {
      const n = 2 + Math.floor(random() * 60);
      // Ratings 1–5 against W rounded to a few values: many ties on both sides, as in a study.
      const x = Array.from({ length: n }, () => 1 + Math.floor(random() * 5));
      const y = Array.from({ length: n }, () => Math.round(random() * 4) / 4);
      const expected = kendallByPairs(x, y);
      if (Number.isNaN(expected)) expect(kendallTauB(x, y)).toBeNaN();
      else expect(kendallTauB(x, y)).toBeCloseTo(expected, 12);
    }
  });

  it('is NaN for a constant sample or fewer than two pairs, and refuses samples of different lengths', () => {
    expect(kendallTauB([3, 3, 3], [1, 2, 3])).toBeNaN();
    expect(kendallTauB([1, 2, 3], [5, 5, 5])).toBeNaN();
    expect(kendallTauB([1], [2])).toBeNaN();
    expect(() => kendallTauB([1, 2], [1])).toThrow('samples differ in length (2 vs 1)');
  });

  it('its interval: se = √(0.437 / (n − 4)) on the Fisher z scale, none below five pairs', () => {
    const x = sample(41, 30).map((v) => Math.ceil(v * 5));
    const y = x.map((v, i) => v + sample(42, 30)[i]!);
    const ci = correlation(x, y, 'kendall');
    const tau = kendallTauB(x, y);
    const se = Math.sqrt(0.437 / 26);
    expect(ci).toMatchObject({ estimate: tau, n: 30, method: 'fisher-z', level: 0.95 });
    expect(ci.low).toBeCloseTo(Math.tanh(Math.atanh(tau) - 1.959963985 * se), 8);
    expect(ci.high).toBeCloseTo(Math.tanh(Math.atanh(tau) + 1.959963985 * se), 8);
    const four = correlation([1, 2, 3, 5], [2, 1, 4, 3], 'kendall');
    expect(four.estimate).toBeCloseTo(1 / 3, 14);
    expect(four.low).toBeNaN();
    expect(four.high).toBeNaN();
  });
});

describe("Krippendorff's alpha", () => {
  it('perfect agreement is 1; the textbook example of nominal data', () => {
    expect(
      krippendorffAlpha([
        [1, 1],
        [2, 2],
        [3, 3],
      ]).alpha,
    ).toBe(1);
    // Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the 4-coder nominal example: α = 0.743.
    const units = [
      [1, 1, 1],
      [2, 2, 3, 2],
      [3, 3, 3, 3],
      [3, 3, 3, 3],
      [2, 2, 2, 2],
      [1, 2, 3, 4],
      [4, 4, 4, 4],
      [1, 1, 2, 1],
      [2, 2, 2, 2],
      [5, 5, 5],
      [1, 1],
      [3],
    ];
    expect(krippendorffAlpha(units, 'nominal').alpha).toBeCloseTo(0.743, 3);
  });

  it('equals the pair-by-pair definition, for ratings on a 1–5 scale and for nominal codes', () => {
    // The textbook form: every ordered pair of values within a unit, and of all pooled values.
    const byPairs = (units: number[][], delta: (a: number, b: number) => number): number => {
      const pairable = units.filter((u) => u.length >= 2);
      const pooled = pairable.flat();
      const n = pooled.length;
      const sum = (xs: number[]) => {
        let s = 0;
        for (let i = 0; i < xs.length; i++)
          for (let j = 0; j < xs.length; j++) if (i !== j) s += delta(xs[i]!, xs[j]!);
        return s;
      };
      const observed = pairable.reduce((o, u) => o + sum(u) / (u.length - 1), 0) / n;
      return 1 - observed / (sum(pooled) / (n * (n - 1)));
    };
    const random = seededRandom(11);
    for (let trial = 0; trial < 20; trial++) {
      // Units of 1 to 6 raters (a unit of one is not pairable), values drawn from a few levels so they tie.
      const levels = 2 + Math.floor(random() * 4);
      const units = Array.from({ length: 5 + Math.floor(random() * 40) }, () =>
        Array.from({ length: 1 + Math.floor(random() * 6) }, () => 1 + Math.floor(random() * levels)),
      );
      expect(krippendorffAlpha(units, 'interval').alpha).toBeCloseTo(
        byPairs(units, (a, b) => (a - b) ** 2),
        10,
      );
      expect(krippendorffAlpha(units, 'nominal').alpha).toBeCloseTo(
        byPairs(units, (a, b) => (a === b ? 0 : 1)),
        10,
      );
    }
  });

  it('reads each value a bounded number of times, not once per pair (a study pools raters × items × 2 values)', () => {
    // Values that count how often they are read as numbers: the work, without timing it.
    let reads = 0;
    const counted = (v: number) =>
      ({
        valueOf: () => {
          reads++;
          return v;
        },
      }) as unknown as number;
    const units = Array.from({ length: 1000 }, (_, i) => [counted(1 + (i % 5)), counted(1 + ((i * 3) % 5))]);
    const n = units.length * 2;
    expect(krippendorffAlpha(units, 'interval').values).toBe(n);
    expect(reads).toBeLessThanOrEqual(20 * n);
  });

  it('hashSeed is stable', () => {
    expect(hashSeed('')).toBe(0x811c9dc5);
    expect(hashSeed('a')).toBe(0xe40c292c);
  });
});
