/** The known names a mistyped one was probably meant as, for a "did you mean" (flags, settings-file keys). */

/** Edits (insert, delete, replace one character, or swap two neighbours) that turn `a` into `b`. */
export function editDistance(a: string, b: string): number {
  // Rows of the classic table; `prev2` is the row before `prev`, for the swap of two neighbours.
  let prev2: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const same = a[i - 1] === b[j - 1];
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (same ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, prev2[j - 2]! + 1);
      row.push(d);
    }
    prev2 = prev;
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * The names of `known` nearest to `name`, ignoring case, when near enough to be a typo of it (a third of
 * its length, at most 3 edits); [] when none is.
 */
export function nearNames(name: string, known: readonly string[]): string[] {
  const limit = Math.min(3, Math.max(1, Math.floor(name.length / 3)));
  const scored = known
    .filter((k) => k !== name)
    .map((k) => ({ k, d: editDistance(name.toLowerCase(), k.toLowerCase()) }));
  const best = Math.min(...scored.map((s) => s.d));
  return best > limit ? [] : scored.filter((s) => s.d === best).map((s) => s.k);
}
