/**
 * `eval compare`'s "more than noise?" figures on runs with known answers: identical runs, a constant shift,
 * and two runs of pure noise around the same mean.
 */
import { describe, expect, it } from 'vitest';
import { compareRunPair } from '../../src/eval/compare.js';
import { seededRandom } from '../../src/eval/stats.js';
import { rec } from './helpers.js';

const N = 40;
const base = Array.from({ length: N }, (_, i) => ({ u: 0.3 + (i % 7) * 0.05, l: 0.4 + (i % 5) * 0.04 }));
const run = (name: string, f: (p: { u: number; l: number }, i: number) => { u: number; l: number }) => ({
  name,
  records: base.map((p, i) => rec(`item-${i}`, 'math-hard', { ...f(p, i), answer: i % 2 })),
});

describe('paired statistics of eval compare', () => {
  it('identical runs: zero difference, a [0, 0] interval, p = 1, within noise', () => {
    const s = compareRunPair(
      run('a', (p) => p),
      run('b', (p) => p),
    ).significance;
    for (const m of ['welfare', 'user_welfare', 'llm_welfare', 'answer_score'] as const) {
      expect(s[m].n).toBe(N);
      expect(s[m].difference.estimate).toBe(0);
      expect([s[m].difference.low, s[m].difference.high]).toEqual([0, 0]);
      expect(s[m].test.pValue).toBe(1);
      expect(s[m].within_noise).toBe(true);
    }
  });

  it('a constant shift of U: the interval is exactly the shift, and the test rejects', () => {
    const s = compareRunPair(
      run('a', (p) => p),
      run('b', (p) => ({ u: p.u + 0.1, l: p.l })),
    ).significance;
    expect(s.user_welfare.difference.estimate).toBeCloseTo(0.1, 12);
    expect(s.user_welfare.difference.low).toBeCloseTo(0.1, 12);
    expect(s.user_welfare.difference.high).toBeCloseTo(0.1, 12);
    expect(s.user_welfare.within_noise).toBe(false);
    // 40 positive differences: only the all-positive and all-negative sign patterns are as extreme.
    expect(s.user_welfare.test.pValue).toBeLessThan(0.001);
    expect(s.llm_welfare.within_noise).toBe(true);
    expect(s.welfare.difference.low).toBeGreaterThan(0);
  });

  it('pure noise around the same values: the interval covers 0', () => {
    const noise = seededRandom(7);
    const jitter = Array.from({ length: N }, () => (noise() - 0.5) * 0.02);
    const s = compareRunPair(
      run('a', (p) => p),
      run('b', (p, i) => ({ u: p.u + jitter[i]!, l: p.l })),
    ).significance;
    const d = s.user_welfare.difference;
    expect(d.low).toBeLessThan(0);
    expect(d.high).toBeGreaterThan(0);
    expect(s.user_welfare.within_noise).toBe(true);
    expect(s.user_welfare.test.pValue).toBeGreaterThan(0.05);
  });

  it('one or a few items: within noise however far apart, as the exact test cannot reject', () => {
    const one = (u: number) => ({ name: 'x', records: [rec('only', 'math-hard', { u, l: 0.5 })] });
    const s1 = compareRunPair(one(0.2), one(0.9)).significance.user_welfare;
    // The bootstrap of one pair is that pair: a zero-width interval that leaves 0 out.
    expect([s1.difference.low, s1.difference.high]).toEqual([s1.difference.estimate, s1.difference.estimate]);
    expect(s1.test.pValue).toBe(1);
    expect(s1.within_noise).toBe(true);
    // Five items all 0.3 apart: the exact two-sided p is 2/32 = 0.0625.
    const five = (shift: number) => ({
      name: 'x',
      records: [0.1, 0.2, 0.3, 0.4, 0.5].map((u, i) => rec(`i${i}`, 'math-hard', { u: u + shift, l: 0.5 })),
    });
    const s5 = compareRunPair(five(0), five(0.3)).significance.user_welfare;
    expect(s5.test.pValue).toBeCloseTo(0.0625, 12);
    expect(s5.within_noise).toBe(true);
  });
});
