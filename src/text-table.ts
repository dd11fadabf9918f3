/**
 * The one plain-text table printer of the CLI's outputs (chat traces, run summaries, comparisons):
 * columns padded to their widest cell, numbers right-aligned, an optional rule under the head.
 */

export interface TextTableOptions {
  /** Columns to right-align (numbers); default every column but the first. */
  numeric?: readonly number[];
  /** A line of dashes under the head (default true). */
  rule?: boolean;
}

/** Display width: code points (good enough for the ASCII and symbols printed here). */
const width = (s: string): number => [...s].length;

/** The table as lines joined by newlines, without a trailing newline; trailing spaces trimmed. */
export function textTable(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  options: TextTableOptions = {},
): string {
  const right = new Set(options.numeric ?? head.map((_, i) => i).slice(1));
  const widths = head.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: readonly string[]): string =>
    head
      .map((_, i) => {
        const c = cells[i] ?? '';
        const pad = ' '.repeat(Math.max(0, widths[i]! - width(c)));
        return right.has(i) ? pad + c : c + pad;
      })
      .join('  ')
      .trimEnd();
  const rule = options.rule === false ? [] : [line(widths.map((w) => '-'.repeat(w)))];
  return [line(head), ...rule, ...rows.map(line)].join('\n');
}
