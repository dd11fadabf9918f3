import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  dominates,
  frontier,
  frontierIndices,
  hypervolume,
  minimumCorner,
  type Point2,
} from '../../src/eval/hypervolume.js';

const P = (u: number, l: number): Point2 => ({ u, l });
const O = P(0, 0);

/** Exact union area by coordinate compression: a cell is covered when some point dominates its upper corner. */
function gridArea(points: readonly Point2[], ref: Point2): number {
  const above = points.filter((p) => p.u > ref.u && p.l > ref.l);
  const xs = [...new Set([ref.u, ...above.map((p) => p.u)])].sort((a, b) => a - b);
  const ys = [...new Set([ref.l, ...above.map((p) => p.l)])].sort((a, b) => a - b);
  let area = 0;
  for (let i = 0; i + 1 < xs.length; i++) {
    for (let j = 0; j + 1 < ys.length; j++) {
      const covered = above.some((p) => p.u >= xs[i + 1]! && p.l >= ys[j + 1]!);
      if (covered) area += (xs[i + 1]! - xs[i]!) * (ys[j + 1]! - ys[j]!);
    }
  }
  return area;
}

/** Union area by inclusion–exclusion over every non-empty subset (the intersection of rectangles is a rectangle). */
function inclusionExclusion(points: readonly Point2[], ref: Point2): number {
  let area = 0;
  const n = points.length;
  for (let mask = 1; mask < 1 << n; mask++) {
    let u = Number.POSITIVE_INFINITY;
    let l = Number.POSITIVE_INFINITY;
    let k = 0;
    for (let i = 0; i < n; i++) {
      if (mask & (1 << i)) {
        k++;
        u = Math.min(u, points[i]!.u);
        l = Math.min(l, points[i]!.l);
      }
    }
    const box = Math.max(0, u - ref.u) * Math.max(0, l - ref.l);
    area += k % 2 === 1 ? box : -box;
  }
  return area;
}

describe('hypervolume', () => {
  it('is the rectangle of a single point', () => {
    expect(hypervolume([P(3, 2)], O)).toBe(6);
    expect(hypervolume([P(3, 2)], P(1, 1))).toBe(2);
  });

  it('is the area under a staircase, counting overlaps once', () => {
    expect(hypervolume([P(1, 3), P(2, 2), P(3, 1)], O)).toBe(6);
    // Two rectangles 2×1 and 1×2 overlap in a 1×1 square: 3, not 4.
    expect(hypervolume([P(2, 1), P(1, 2)], O)).toBe(3);
  });

  it('gets no area from dominated or duplicate points', () => {
    const front = [P(1, 3), P(2, 2), P(3, 1)];
    expect(hypervolume([...front, P(1, 1), P(2, 1.5), P(0.5, 2.9)], O)).toBe(6);
    expect(hypervolume([...front, ...front, P(2, 2)], O)).toBe(6);
  });

  it('gets no area from points on or below the reference lines', () => {
    expect(hypervolume([P(0, 5), P(5, 0)], O)).toBe(0);
    expect(hypervolume([P(0, 5), P(5, 0), P(2, 2)], O)).toBe(4);
    expect(hypervolume([P(-1, 4), P(4, -1)], O)).toBe(0);
    expect(hypervolume([], O)).toBe(0);
  });

  it('does not depend on the order of the points', () => {
    const pts = [P(0.2, 0.9), P(0.5, 0.5), P(0.9, 0.1), P(0.4, 0.4)];
    expect(hypervolume(pts, O)).toBeCloseTo(hypervolume([...pts].reverse(), O), 15);
  });

  it('rejects non-finite coordinates', () => {
    expect(() => hypervolume([P(Number.NaN, 1)], O)).toThrow(RangeError);
    // The frontier too, rather than dropping the point or (a NaN u) never returning.
    expect(() => frontier([P(0, 1), P(1, Number.NaN)])).toThrow(RangeError);
    expect(() => frontierIndices([P(Number.POSITIVE_INFINITY, 1), P(0, 2)])).toThrow(RangeError);
    expect(() => hypervolume([P(1, 1)], P(0, Number.POSITIVE_INFINITY))).toThrow(RangeError);
  });

  const coord = fc.oneof(fc.integer({ min: -3, max: 6 }), fc.double({ min: -3, max: 6, noNaN: true }));
  const point = fc.record({ u: coord, l: coord });

  it('equals the exact grid computation and inclusion–exclusion on small random sets', () => {
    fc.assert(
      fc.property(fc.array(point, { maxLength: 9 }), point, (pts, ref) => {
        const hv = hypervolume(pts, ref);
        expect(hv).toBeCloseTo(gridArea(pts, ref), 9);
        expect(hv).toBeCloseTo(inclusionExclusion(pts, ref), 9);
      }),
      { numRuns: 400 },
    );
  });

  it('is monotone: adding a point never decreases it', () => {
    fc.assert(
      fc.property(fc.array(point, { maxLength: 12 }), point, (pts, extra) => {
        expect(hypervolume([...pts, extra], O)).toBeGreaterThanOrEqual(hypervolume(pts, O) - 1e-12);
      }),
    );
  });
});

describe('frontier', () => {
  it('keeps the points no other point dominates, duplicates included', () => {
    const pts = [P(1, 1), P(3, 1), P(2, 2), P(2, 2), P(1, 3), P(0, 1), P(3, 0.5)];
    expect(frontierIndices(pts)).toEqual([1, 2, 3, 4]);
    expect(frontier(pts)).toEqual([P(1, 3), P(2, 2), P(3, 1)]);
  });

  it('agrees with the definition on random sets', () => {
    const small = fc.integer({ min: 0, max: 4 });
    fc.assert(
      fc.property(fc.array(fc.record({ u: small, l: small }), { maxLength: 15 }), (pts) => {
        const expected = pts.flatMap((p, i) => (pts.some((q) => dominates(q, p)) ? [] : [i]));
        expect(frontierIndices(pts)).toEqual(expected);
      }),
    );
  });

  it('reference corner is the componentwise minimum', () => {
    expect(minimumCorner([P(1, 5), P(3, 2)], [P(2, 0.5)])).toEqual(P(1, 0.5));
    expect(minimumCorner([])).toBeUndefined();
  });
});
