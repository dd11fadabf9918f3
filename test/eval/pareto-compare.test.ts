import { describe, expect, it } from 'vitest';
import { comparePareto, type PairedItem } from '../../src/eval/pareto-compare.js';

const item = (id: string, a: [number, number], b: [number, number]): PairedItem => ({
  id,
  a: { u: a[0], l: a[1] },
  b: { u: b[0], l: b[1] },
});

describe('comparePareto', () => {
  // A: (1,1) (3,1) (2,2) (0,0); B: (2,2) (1,3) (2,2) (0,1). Joint frontier {(1,3), (2,2), (3,1)}.
  const items = [
    item('x1', [1, 1], [2, 2]),
    item('x2', [3, 1], [1, 3]),
    item('x3', [2, 2], [2, 2]),
    item('x4', [0, 0], [0, 1]),
  ];
  const c = comparePareto(items);

  it('counts paired dominance item by item', () => {
    expect(c.n).toBe(4);
    expect(c.dominance).toEqual({ a_wins: 0, b_wins: 2, equal: 1, incomparable: 1 });
  });

  it('finds the joint frontier and each run’s coverage of it', () => {
    expect(c.reference).toEqual({ u: 0, l: 0 });
    expect(c.range).toEqual({ u: [0, 3], l: [0, 3] });
    expect(c.frontier).toEqual([
      { u: 1, l: 3 },
      { u: 2, l: 2 },
      { u: 3, l: 1 },
    ]);
    expect(c.coverage).toEqual({ a: 0.5, b: 0.75 });
  });

  it('computes the union hypervolume above the global minimum', () => {
    // A: 3×1 ∪ 2×2 = 5; B: 2×2 ∪ 1×3 = 5 ((0,1) lies on the reference line); together the staircase 6.
    expect(c.hypervolume).toEqual({ a: 5, b: 5, joint: 6 });
  });

  it('computes the average normalized regret', () => {
    // A: (1,1) → 1/3 (to (2,2)), (0,0) → 2/3 (to (2,2)), the rest 0; B: (0,1) → 2/3.
    expect(c.regret.a).toBeCloseTo(1 / 4, 12);
    expect(c.regret.b).toBeCloseTo(1 / 6, 12);
  });

  it('handles identical runs and no items', () => {
    const same = comparePareto([item('a', [0.5, 0.2], [0.5, 0.2]), item('b', [0.1, 0.9], [0.1, 0.9])]);
    expect(same.dominance).toEqual({ a_wins: 0, b_wins: 0, equal: 2, incomparable: 0 });
    expect(same.coverage).toEqual({ a: 1, b: 1 });
    expect(same.regret).toEqual({ a: 0, b: 0 });
    expect(same.hypervolume.a).toBeCloseTo(same.hypervolume.b, 15);
    const none = comparePareto([]);
    expect(none.n).toBe(0);
    expect(none.hypervolume).toEqual({ a: 0, b: 0, joint: 0 });
    expect(none.regret).toEqual({ a: 0, b: 0 });
  });

  it('names the item whose point is not finite', () => {
    const bad = [item('ok', [0.2, 0.3], [0.3, 0.2]), item('wildguard:test:7', [0.4, 0.5], [0.1, Number.NaN])];
    expect(() => comparePareto(bad)).toThrow(
      /item "wildguard:test:7": B's point \(U, L\) = \(0\.1, NaN\) is not finite/,
    );
  });
});
