/**
 * The paper's Pareto comparison of two methods over the same test items (GTALIGN.md §7). Each item is
 * a point (U, L) per method. Counts are paired (item by item); frontier, coverage, hypervolume and
 * regret are set-level, over the points of both methods together.
 */
import { dominates, frontier, hypervolume, minimumCorner, type Point2 } from './hypervolume.js';

/** One shared item: its id and the two methods' points. */
export interface PairedItem {
  id: string;
  a: Point2;
  b: Point2;
}

export interface ParetoComparison {
  /** Shared items compared. */
  n: number;
  /** Paired counts: A ≻ B, B ≻ A, identical points, and neither dominating with different points. */
  dominance: { a_wins: number; b_wins: number; equal: number; incomparable: number };
  /** The reference point: the componentwise minimum over both methods' points. */
  reference: Point2;
  /** Minimum and maximum of each coordinate over both methods (the regret's normalization). */
  range: { u: [number, number]; l: [number, number] };
  /** The joint frontier F of all points of both methods: distinct points, u ascending. */
  frontier: Point2[];
  /** Share of each method's points that lie on F (not dominated by any point of either method). */
  coverage: { a: number; b: number };
  /** Union area dominated by each method's points above the reference, and by both together. */
  hypervolume: { a: number; b: number; joint: number };
  /**
   * Mean over a method's points of min over f ∈ F of max((f.u − u)/Δu, (f.l − l)/Δl, 0), with Δ the
   * coordinate's range over both methods (a zero range contributes 0). 0 = every point on F.
   */
  regret: { a: number; b: number };
}

/**
 * The mean regret of `points` against the staircase `front` (u ascending, l descending). Along the
 * staircase the u-gap rises and the l-gap falls, so the larger of the two is least where they cross: a
 * binary search finds the crossing, and the best frontier point is there or just before it. O(n log |F|),
 * where trying every frontier point made a comparison of points that all lie on the frontier quadratic.
 */
function meanRegret(points: readonly Point2[], front: readonly Point2[], du: number, dl: number): number {
  if (points.length === 0 || front.length === 0) return 0;
  let sum = 0;
  for (const p of points) {
    const gu = (f: Point2): number => (du > 0 ? (f.u - p.u) / du : 0);
    const gl = (f: Point2): number => (dl > 0 ? (f.l - p.l) / dl : 0);
    // The first index where the u-gap is at least the l-gap (front.length when there is none).
    let lo = 0;
    let hi = front.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (gu(front[mid]!) >= gl(front[mid]!)) hi = mid;
      else lo = mid + 1;
    }
    let best = Number.POSITIVE_INFINITY;
    for (const k of [lo - 1, lo]) {
      const f = front[k];
      if (f !== undefined) best = Math.min(best, Math.max(gu(f), gl(f), 0));
    }
    sum += best;
  }
  return sum / points.length;
}

/** Compares two methods on paired items. Throws RangeError naming the item on a non-finite coordinate. */
export function comparePareto(items: readonly PairedItem[]): ParetoComparison {
  for (const it of items) {
    for (const [side, p] of [
      ['A', it.a],
      ['B', it.b],
    ] as const) {
      if (!Number.isFinite(p.u) || !Number.isFinite(p.l))
        throw new RangeError(
          `item ${JSON.stringify(it.id)}: ${side}'s point (U, L) = (${p.u}, ${p.l}) is not finite`,
        );
    }
  }
  const a = items.map((it) => it.a);
  const b = items.map((it) => it.b);
  const dominance = { a_wins: 0, b_wins: 0, equal: 0, incomparable: 0 };
  for (const it of items) {
    if (dominates(it.a, it.b)) dominance.a_wins++;
    else if (dominates(it.b, it.a)) dominance.b_wins++;
    else if (it.a.u === it.b.u && it.a.l === it.b.l) dominance.equal++;
    else dominance.incomparable++;
  }
  const all = [...a, ...b];
  const reference = minimumCorner(all) ?? { u: 0, l: 0 };
  let uMax = reference.u;
  let lMax = reference.l;
  for (const p of all) {
    if (p.u > uMax) uMax = p.u;
    if (p.l > lMax) lMax = p.l;
  }
  const front = frontier(all);
  // A point is on F iff no point dominates it, i.e. iff it equals one of F's points.
  const onFront = new Set(front.map((p) => `${p.u},${p.l}`));
  const share = (ps: Point2[]): number =>
    ps.length === 0 ? 0 : ps.filter((p) => onFront.has(`${p.u},${p.l}`)).length / ps.length;
  const du = uMax - reference.u;
  const dl = lMax - reference.l;
  return {
    n: items.length,
    dominance,
    reference,
    range: { u: [reference.u, uMax], l: [reference.l, lMax] },
    frontier: front,
    coverage: { a: share(a), b: share(b) },
    hypervolume: {
      a: hypervolume(a, reference),
      b: hypervolume(b, reference),
      joint: hypervolume(all, reference),
    },
    regret: { a: meanRegret(a, front, du, dl), b: meanRegret(b, front, du, dl) },
  };
}
