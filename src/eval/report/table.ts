/**
 * One table model rendered three ways: Markdown (report.md), HTML (report.html) and aligned plain text
 * (the terminal output of `gtalign eval compare`).
 */
import { toWellFormed } from '../../io/well-formed.js';
import { textTable } from '../../text-table.js';

export interface Table {
  head: string[];
  rows: string[][];
  /** Columns to right-align (numbers); by index. */
  numeric?: readonly number[];
}

/** A number with `digits` decimals; `–` for null / undefined / non-finite. */
export function fmt(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  const s = x.toFixed(digits);
  return s === `-${(0).toFixed(digits)}` ? (0).toFixed(digits) : s;
}

/** A share as a percentage with one decimal. */
export function pct(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(1)}%`;
}

/** A signed difference (`+0.012`, `-0.300`). */
export function signed(x: number | null | undefined, digits = 3): string {
  const s = fmt(x, digits);
  return s === '–' || s.startsWith('-') || Number(s) === 0 ? s : `+${s}`;
}

/**
 * Markdown-safe inline text: backslashes, `<` (which would start an HTML tag) and brackets (which would
 * make a link or an image of `[x](url)`) escaped, lines joined. A lone CR ends a line in Markdown too, so
 * a name holding one could start a heading, a list or a code fence on the next line.
 */
export const mdText = (s: string): string =>
  s
    .replace(/\\/g, '\\\\')
    .replace(/</g, '\\<')
    .replace(/[[\]]/g, '\\$&')
    .replace(/\r\n|[\r\n]/g, ' ');
const mdCell = (s: string): string => mdText(s).replace(/\|/g, '\\|');

export function tableToMarkdown(t: Table): string {
  const numeric = new Set(t.numeric ?? []);
  const lines = [
    `| ${t.head.map(mdCell).join(' | ')} |`,
    `|${t.head.map((_, i) => (numeric.has(i) ? ' ---: ' : ' --- ')).join('|')}|`,
    ...t.rows.map((r) => `| ${r.map(mdCell).join(' | ')} |`),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Characters XML does not allow (controls but tab and line ends, U+FFFE/U+FFFF; lone surrogates go by
 * toWellFormed): a chart is also a standalone SVG file that resvg parses as XML, and one such character
 * in a label fails it.
 */
const NOT_XML =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters it removes
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g;

export function escapeHtml(s: string): string {
  return toWellFormed(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
    .replace(NOT_XML, '\ufffd');
}

export function tableToHtml(t: Table, caption?: string): string {
  const numeric = new Set(t.numeric ?? []);
  const cls = (i: number): string => (numeric.has(i) ? ' class="num"' : '');
  const head = t.head.map((h, i) => `<th${cls(i)}>${escapeHtml(h)}</th>`).join('');
  const body = t.rows
    .map((r) => `<tr>${r.map((c, i) => `<td${cls(i)}>${escapeHtml(c)}</td>`).join('')}</tr>`)
    .join('\n');
  const cap = caption === undefined ? '' : `<caption>${escapeHtml(caption)}</caption>`;
  return `<table>${cap}<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody></table>\n`;
}

export function tableToText(t: Table): string {
  return `${textTable(t.head, t.rows, { numeric: t.numeric ?? [] })}\n`;
}
