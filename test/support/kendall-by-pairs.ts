/** Kendall's τ-b by its definition, pair by pair (O(n²)): the oracle the fast count is checked against. */
export function kendallByPairs(x: readonly number[], y: readonly number[]): number {
  let s = 0;
  let untiedX = 0;
  let untiedY = 0;
  for (let i = 0; i < x.length; i++) {
    for (let j = i + 1; j < x.length; j++) {
      const dx = Math.sign(x[i]! - x[j]!);
      const dy = Math.sign(y[i]! - y[j]!);
      s += dx * dy;
      if (dx !== 0) untiedX++;
      if (dy !== 0) untiedY++;
    }
  }
  return s / Math.sqrt(untiedX * untiedY);
}
