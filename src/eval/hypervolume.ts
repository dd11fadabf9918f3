/**
 * Two-objective Pareto geometry on (U, L) points, both maximized (GTALIGN.md §7).
 *
 * The hypervolume of a point set is the area of the UNION of the rectangles [ref.u, p.u] × [ref.l, p.l],
 * each point's dominated region above the reference point. Summing rectangles (or slabs that ignore
 * the overlap with earlier ones) counts shared area more than once or misses it; the sweep below adds,
 * for each point in order of decreasing u, only the strip it covers above everything seen so far.
 */

/** One item's outcome: user welfare U and LLM welfare L. */
export interface Point2 {
  u: number;
  l: number;
}

function checkFinite(p: Point2, what: string): void {
  if (!Number.isFinite(p.u) || !Number.isFinite(p.l)) {
    throw new RangeError(`${what} must have finite coordinates, got (${p.u}, ${p.l})`);
  }
}

/** a ≻ b: a is at least as good on both coordinates and strictly better on one. */
export function dominates(a: Point2, b: Point2): boolean {
  return a.u >= b.u && a.l >= b.l && (a.u > b.u || a.l > b.l);
}

/**
 * Indices of the points no other point dominates (duplicates of a frontier point are all on it),
 * in input order. O(n log n). Throws RangeError on a non-finite coordinate.
 */
export function frontierIndices(points: readonly Point2[]): number[] {
  // A NaN never equals itself, so the grouping by equal u below would never move past it.
  for (const p of points) checkFinite(p, 'every point');
  const order = points.map((_, i) => i);
  order.sort((i, j) => points[j]!.u - points[i]!.u || points[j]!.l - points[i]!.l);
  const onFront: boolean[] = new Array(points.length).fill(false);
  // Best l among points with strictly greater u than the current group.
  let bestL = Number.NEGATIVE_INFINITY;
  let k = 0;
  while (k < order.length) {
    const u = points[order[k]!]!.u;
    const groupMaxL = points[order[k]!]!.l; // sorted by l descending within equal u
    let end = k;
    while (end < order.length && points[order[end]!]!.u === u) {
      const p = points[order[end]!]!;
      if (p.l === groupMaxL && p.l > bestL) onFront[order[end]!] = true;
      end++;
    }
    if (groupMaxL > bestL) bestL = groupMaxL;
    k = end;
  }
  const out: number[] = [];
  for (let i = 0; i < points.length; i++) if (onFront[i]) out.push(i);
  return out;
}

/**
 * The distinct frontier points, sorted by u ascending (so l descending): a staircase. Throws RangeError
 * on a non-finite coordinate.
 */
export function frontier(points: readonly Point2[]): Point2[] {
  const seen = new Set<string>();
  const out: Point2[] = [];
  for (const i of frontierIndices(points)) {
    const p = points[i]!;
    const key = `${p.u},${p.l}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ u: p.u, l: p.l });
  }
  return out.sort((a, b) => a.u - b.u);
}

/**
 * Area of the union of the rectangles [ref.u, p.u] × [ref.l, p.l]. Points not strictly above the
 * reference on both coordinates add nothing; dominated and duplicate points add nothing. O(n log n).
 * Throws RangeError on a non-finite coordinate.
 */
export function hypervolume(points: readonly Point2[], ref: Point2): number {
  checkFinite(ref, 'the reference point');
  const above: Point2[] = [];
  for (const p of points) {
    checkFinite(p, 'every point');
    if (p.u > ref.u && p.l > ref.l) above.push(p);
  }
  above.sort((a, b) => b.u - a.u || b.l - a.l);
  let area = 0;
  let coveredL = ref.l;
  for (const p of above) {
    if (p.l > coveredL) {
      area += (p.u - ref.u) * (p.l - coveredL);
      coveredL = p.l;
    }
  }
  return area;
}

/** Componentwise minimum of all points (the paper's reference point); undefined for no points. */
export function minimumCorner(...sets: ReadonlyArray<readonly Point2[]>): Point2 | undefined {
  let u = Number.POSITIVE_INFINITY;
  let l = Number.POSITIVE_INFINITY;
  let any = false;
  for (const set of sets) {
    for (const p of set) {
      any = true;
      if (p.u < u) u = p.u;
      if (p.l < l) l = p.l;
    }
  }
  return any ? { u, l } : undefined;
}
