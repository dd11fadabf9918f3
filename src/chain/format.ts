/**
 * The reference's strict view of a reasoning chain (GTALIGN.md §3): its format check and its block
 * extraction, reproduced exactly, quirks included. The lenient, diagnostic parser lives in `blocks.ts`;
 * this module answers "what would the reference reward code see?".
 *
 * The reference checks the format with a regular expression run with DOTALL and MULTILINE:
 *
 *     ^<thinking>.*?</thinking>\s*<payoff>.*?</payoff>\s*<analyze>.*?</analyze>\s*<response>.*?</response>$
 *
 * where `\s` is Python's Unicode whitespace and `$` matches at the end of the text or before any `\n`.
 * So anything may follow `</response>` once a line break comes first (a quirk kept on purpose), and the
 * lazy groups may swallow extra tags. Only whether a match exists matters, which {@link referenceStructureOk}
 * decides in linear time; {@link REFERENCE_FORMAT_REGEX} is the same pattern as a JavaScript RegExp.
 */

import { DEFAULT_SPEC, type GameSpec } from '../game/spec.js';
import { type PayoffParseResult, parsePayoff } from './payoff.js';
import { isPySpace, PY_WHITESPACE_CLASS } from './py-whitespace.js';

/**
 * The reference pattern translated to JavaScript: Python's `\s` as an explicit class and MULTILINE `$`
 * as a lookahead. Backtracking makes it slow on adversarial input; use {@link referenceStructureOk}.
 */
export const REFERENCE_FORMAT_REGEX = new RegExp(
  `^<thinking>.*?</thinking>[${PY_WHITESPACE_CLASS}]*<payoff>.*?</payoff>[${PY_WHITESPACE_CLASS}]*` +
    `<analyze>.*?</analyze>[${PY_WHITESPACE_CLASS}]*<response>.*?</response>(?=\\n|(?![\\s\\S]))`,
  's',
);

/**
 * Finds the first `close` (at or after `from`) followed by optional Python whitespace and then `open`;
 * returns the offset just past `open`, or -1. The first such occurrence ends earliest, and an earlier end
 * leaves every later choice available, so this greedy choice finds a match whenever the regex would.
 */
function findJoint(text: string, from: number, close: string, open: string): number {
  let i = text.indexOf(close, from);
  while (i >= 0) {
    let j = i + close.length;
    while (j < text.length && isPySpace(text.charCodeAt(j))) j++;
    if (text.startsWith(open, j)) return j + open.length;
    // A tag cannot overlap itself, so the next candidate starts after this one.
    i = text.indexOf(close, i + close.length);
  }
  return -1;
}

/** Whether the reference's format regex matches `text` (the structural half of `format`). Linear time. */
export function referenceStructureOk(text: string): boolean {
  if (!text.startsWith('<thinking>')) return false;
  let pos = findJoint(text, '<thinking>'.length, '</thinking>', '<payoff>');
  if (pos < 0) return false;
  pos = findJoint(text, pos, '</payoff>', '<analyze>');
  if (pos < 0) return false;
  pos = findJoint(text, pos, '</analyze>', '<response>');
  if (pos < 0) return false;
  // `</response>` must end the text or be followed by a line feed (MULTILINE `$`).
  let i = text.indexOf('</response>', pos);
  while (i >= 0) {
    const end = i + '</response>'.length;
    if (end === text.length || text.charCodeAt(end) === 10) return true;
    i = text.indexOf('</response>', end);
  }
  return false;
}

/**
 * The reference's `extract_tag_block`: the content between the first `<tag>` and the first `</tag>` after
 * it, stripped with Python's `str.strip()`; undefined when there is no such pair.
 */
export function extractTagBlock(text: string, tag: string): string | undefined {
  const span = tagBlockSpan(text, tag);
  return span === undefined ? undefined : text.slice(span.start, span.end);
}

/**
 * Where {@link extractTagBlock}'s result lies in `text`: `[start, end)` of the stripped content, and
 * `open`, the offset of the opening tag.
 */
export function tagBlockSpan(
  text: string,
  tag: string,
): { open: number; start: number; end: number } | undefined {
  const openTag = `<${tag}>`;
  const open = text.indexOf(openTag);
  if (open < 0) return undefined;
  let start = open + openTag.length;
  let end = text.indexOf(`</${tag}>`, start);
  if (end < 0) return undefined;
  while (start < end && isPySpace(text.charCodeAt(start))) start++;
  while (end > start && isPySpace(text.charCodeAt(end - 1))) end--;
  return { open, start, end };
}

/** Content of the first `<response>…</response>`, stripped; undefined when missing. */
export function extractResponse(text: string): string | undefined {
  return extractTagBlock(text, 'response');
}

/** Content of the first `<payoff>…</payoff>`, stripped; undefined when missing. */
export function extractPayoffText(text: string): string | undefined {
  return extractTagBlock(text, 'payoff');
}

/** Content of the first `<analyze>…</analyze>`, stripped; undefined when missing. */
export function extractAnalyze(text: string): string | undefined {
  return extractTagBlock(text, 'analyze');
}

/** Content of the first `<thinking>…</thinking>`, stripped; undefined when missing. */
export function extractThinking(text: string): string | undefined {
  return extractTagBlock(text, 'thinking');
}

/** The reasoning part the brevity term measures: the raw text before the first `<response>` (all of it if none). */
export function reasoningPart(text: string): string {
  const i = text.indexOf('<response>');
  return i < 0 ? text : text.slice(0, i);
}

export interface ReferenceFormatCheck {
  /** `format` as the reference scores it: 1 iff the structure matches and the payoff parses and validates. */
  format: 0 | 1;
  /** Whether the format regex matches. */
  structure: boolean;
  /** The stripped `<payoff>` content, undefined when there is no payoff block. */
  payoffText: string | undefined;
  /** The payoff parse, undefined when there is no payoff block. */
  payoff: PayoffParseResult | undefined;
}

/** The format check with its parts, so a scorer parses the payoff only once. Never throws. */
export function referenceFormatCheck(text: string, spec: GameSpec = DEFAULT_SPEC): ReferenceFormatCheck {
  const structure = referenceStructureOk(text);
  const payoffText = extractPayoffText(text);
  const payoff = payoffText === undefined ? undefined : parsePayoff(payoffText, spec);
  const format = structure && payoff?.ok === true ? 1 : 0;
  return { format, structure, payoffText, payoff };
}

/** The reference's `format` ∈ {0, 1} as a boolean: structure matches AND the payoff parses and validates. */
export function referenceFormatOk(text: string, spec: GameSpec = DEFAULT_SPEC): boolean {
  if (!referenceStructureOk(text)) return false;
  const payoffText = extractPayoffText(text);
  return payoffText !== undefined && parsePayoff(payoffText, spec).ok;
}
