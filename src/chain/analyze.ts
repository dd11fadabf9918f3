/**
 * Reading the `<analyze>` block: which cells it mentions and which one it chooses. Used to check the
 * model's matrix reasoning (reward, evaluation) and to know which action its response will carry out
 * (assistant). A heuristic over free text, so it prefers saying "none" to guessing.
 */
import { DEFAULT_SPEC, type GameSpec } from '../game/spec.js';

export interface CellMention {
  key: string;
  /** Offset of the mention in the text. */
  index: number;
  /** The text as written (`DQ_AQ`, `DQ AQ`, `DQ-AQ`). */
  text: string;
}

export interface AnalyzeChoice {
  /** The chosen cell, when the text names one. */
  cell?: string;
  /** How it was found: the first key shortly after the last choice word, or the last key mentioned. */
  by?: 'choice-word' | 'last-mention';
  /** Distinct keys mentioned, in order of first mention. */
  mentioned: string[];
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// One compiled pattern per spec object (this runs once per scored sample).
const mentionPatterns = new WeakMap<GameSpec, RegExp>();

function mentionRegExp(spec: GameSpec): RegExp {
  let re = mentionPatterns.get(spec);
  if (re === undefined) {
    const alt = (xs: readonly string[]): string =>
      [...xs]
        .sort((a, b) => b.length - a.length)
        .map(escapeRegExp)
        .join('|');
    re = new RegExp(
      `(?<![A-Za-z0-9_])(${alt(spec.rows)})[_ \\-–](${alt(spec.columns)})(?![A-Za-z0-9_])`,
      'g',
    );
    mentionPatterns.set(spec, re);
  }
  return re;
}

/**
 * Every mention of a cell key in `text`: `ROW_COL`, `ROW COL`, `ROW-COL` (also an en dash),
 * case-sensitive, not glued to other letters, digits or underscores.
 */
export function findCellMentions(text: string, spec: GameSpec = DEFAULT_SPEC): CellMention[] {
  if (typeof text !== 'string' || text === '' || spec.rows.length === 0 || spec.columns.length === 0)
    return [];
  const out: CellMention[] = [];
  for (const m of text.matchAll(mentionRegExp(spec))) {
    if (m[1] === undefined || m[2] === undefined) continue;
    out.push({ key: `${m[1]}_${m[2]}`, index: m.index, text: m[0] });
  }
  return out;
}

const CHOICE_WORDS =
  /\b(?:choos\w*|chose\w*|choice|select\w*|pick\w*|recommend\w*|go(?:ing)? with|opt(?:ing)? for|best|final)\b/gi;
/** How far after a choice word the chosen key may stand and still be the one it refers to. */
const CHOICE_WINDOW = 80;
/** Words that put the key after them aside ("better than X", "over X", "not X"): it is not the choice. */
const SET_ASIDE = /\b(?:than|over|instead\s+of|not|vs\.?|versus|against|beats?|compared)\b/i;

/**
 * Where the sentences holding increasing offsets start: after the last `.`, `!` or `?` followed by
 * whitespace, or after the last line break, before the offset. The offsets asked for only grow, so the
 * text is scanned once in all (a scan back from every choice word was quadratic on a long sentence).
 */
function sentenceStarts(text: string): (at: number) => number {
  let scanned = 0; // every i < scanned has been looked at
  let start = 0;
  return (at) => {
    for (; scanned < at; scanned++) {
      const c = text[scanned];
      if (c === '\n' || ((c === '.' || c === '!' || c === '?') && /\s/.test(text[scanned + 1] ?? ''))) {
        start = scanned + 1;
      }
    }
    return start;
  };
}

/**
 * The cell the analysis chooses: the first key within a short window after the last choice word that
 * has one ("I pick VQ_DA over DQ_DA" → VQ_DA), else the last key mentioned at all. A key that the words
 * between set aside ("the best choice, better than VQ_CQ", "I pick it over VQ_CQ") is not the choice: the
 * nearest key before the choice word in its sentence is ("DQ_DA is the best choice, better than VQ_CQ").
 * Linear in the text: choice words and mentions are both in text order, so each is passed once.
 */
export function readAnalyzeChoice(text: string, spec: GameSpec = DEFAULT_SPEC): AnalyzeChoice {
  const mentions = findCellMentions(text, spec);
  const mentioned = [...new Set(mentions.map((m) => m.key))];
  if (mentions.length === 0) return { mentioned };
  const setAside = (from: number, m: CellMention) => SET_ASIDE.test(text.slice(from, m.index));
  const sentenceStart = sentenceStarts(text);
  let after = 0; // mentions[after] is the first mention at or after the current choice word's end
  let ended = 0; // mentions[0, ended) are the mentions that end at or before the current choice word
  let cued: CellMention | undefined;
  for (const cue of text.matchAll(CHOICE_WORDS)) {
    const end = cue.index + cue[0].length;
    while (after < mentions.length && mentions[after]!.index < end) after++;
    // Mentions never overlap, so their ends are in text order too.
    while (ended < mentions.length && mentions[ended]!.index + mentions[ended]!.text.length <= cue.index)
      ended++;
    const next = mentions[after];
    if (next === undefined || next.index - end > CHOICE_WINDOW) continue;
    if (!setAside(end, next)) {
      cued = next;
      continue;
    }
    const start = sentenceStart(cue.index);
    const last = ended > 0 ? mentions[ended - 1] : undefined;
    const before = last !== undefined && last.index >= start ? last : undefined;
    if (before !== undefined && !setAside(Math.max(start, before.index - 24), before)) cued = before;
  }
  if (cued !== undefined) return { cell: cued.key, by: 'choice-word', mentioned };
  return { cell: mentions[mentions.length - 1]!.key, by: 'last-mention', mentioned };
}
