/**
 * Kendall's τ-b, the rank correlation the paper reports next to Pearson and Spearman for its user study
 * (ratings 1–5 against W). Ratings tie a lot, so τ-b (ties in either sample leave the pair out of both
 * the numerator and that sample's side of the denominator) is the variant, as in scipy's default.
 *
 * Counted in O(n log n) (Knight 1966): sort the pairs by x, then y; the pairs tied in x, and in x and y
 * both, are counted off runs of that order; the discordant pairs are the inversions of y in it, counted
 * by a merge sort, after which y is sorted and its ties are counted off runs too. A study may hold tens of
 * thousands of ratings, where the O(n²) pair loop would hold up the analysis request for seconds.
 */

/** Pairs within runs of equal values in a sorted sequence: Σ t(t − 1)/2 over the runs' lengths t. */
function tiedPairs(sorted: Float64Array | readonly number[], same: (i: number) => boolean): number {
  let pairs = 0;
  let run = 1;
  for (let i = 1; i <= sorted.length; i++) {
    if (i < sorted.length && same(i)) {
      run++;
    } else {
      pairs += (run * (run - 1)) / 2;
      run = 1;
    }
  }
  return pairs;
}

/** Sorts `ys` in place (bottom-up merge sort) and returns how many pairs i < j had ys[i] > ys[j]. */
function sortCountingInversions(ys: Float64Array<ArrayBuffer>): number {
  const n = ys.length;
  let from: Float64Array<ArrayBuffer> = ys;
  let to = new Float64Array(n);
  let inversions = 0;
  for (let width = 1; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) {
        if (from[j]! < from[i]!) {
          // Every value left in the left half is greater than this one: that many inversions.
          inversions += mid - i;
          to[k++] = from[j++]!;
        } else {
          to[k++] = from[i++]!;
        }
      }
      while (i < mid) to[k++] = from[i++]!;
      while (j < hi) to[k++] = from[j++]!;
    }
    [from, to] = [to, from];
  }
  if (from !== ys) ys.set(from);
  return inversions;
}

/** Kendall's τ-b (NaN when there are fewer than 2 pairs or either sample is constant). */
export function kendallTauB(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length) throw new RangeError(`samples differ in length (${x.length} vs ${y.length})`);
  const n = x.length;
  if (n < 2) return Number.NaN;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => x[a]! - x[b]! || y[a]! - y[b]!);
  const xTies = tiedPairs(order, (i) => x[order[i]!] === x[order[i - 1]!]);
  const jointTies = tiedPairs(
    order,
    (i) => x[order[i]!] === x[order[i - 1]!] && y[order[i]!] === y[order[i - 1]!],
  );
  const ys = Float64Array.from(order, (i) => y[i]!);
  const discordant = sortCountingInversions(ys);
  const yTies = tiedPairs(ys, (i) => ys[i] === ys[i - 1]);
  const all = (n * (n - 1)) / 2;
  if (all === xTies || all === yTies) return Number.NaN;
  const concordantLessDiscordant = all - xTies - yTies + jointTies - 2 * discordant;
  const tau = concordantLessDiscordant / Math.sqrt((all - xTies) * (all - yTies));
  return Math.max(-1, Math.min(1, tau));
}
