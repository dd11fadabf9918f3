import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CellMention, findCellMentions, readAnalyzeChoice } from '../../src/chain/analyze.js';

/** The former definition, which searched the mentions and scanned back anew for every choice word. */
function formerChoice(text: string): string | undefined {
  const CHOICE_WORDS =
    /\b(?:choos\w*|chose\w*|choice|select\w*|pick\w*|recommend\w*|go(?:ing)? with|opt(?:ing)? for|best|final)\b/gi;
  const SET_ASIDE = /\b(?:than|over|instead\s+of|not|vs\.?|versus|against|beats?|compared)\b/i;
  const sentenceStart = (at: number): number => {
    for (let i = at - 1; i >= 0; i--) {
      const c = text[i];
      if (c === '\n') return i + 1;
      if ((c === '.' || c === '!' || c === '?') && /\s/.test(text[i + 1] ?? '')) return i + 1;
    }
    return 0;
  };
  const mentions = findCellMentions(text);
  if (mentions.length === 0) return undefined;
  const setAside = (from: number, m: CellMention) => SET_ASIDE.test(text.slice(from, m.index));
  let cued: CellMention | undefined;
  for (const cue of text.matchAll(CHOICE_WORDS)) {
    const end = cue.index + cue[0].length;
    const next = mentions.find((m) => m.index >= end);
    if (next === undefined || next.index - end > 80) continue;
    if (!setAside(end, next)) {
      cued = next;
      continue;
    }
    const start = sentenceStart(cue.index);
    const before = mentions.findLast((m) => m.index >= start && m.index + m.text.length <= cue.index);
    if (before !== undefined && !setAside(Math.max(start, before.index - 24), before)) cued = before;
  }
  return (cued ?? mentions[mentions.length - 1])?.key;
}

describe('readAnalyzeChoice on hostile text', () => {
  it('chooses exactly what the former per-word search chose', () => {
    const pieces = fc.constantFrom(
      'DQ_DA',
      'VQ_CQ',
      'DQ AQ',
      'VQ-DA',
      'best',
      'pick',
      'choose',
      'go with',
      'than',
      'over',
      'not',
      '. ',
      '! ',
      '.',
      '\n',
      ' ',
      ', ',
      'x',
    );
    fc.assert(
      fc.property(
        fc.array(fc.oneof(pieces, fc.string({ maxLength: 3 })), { maxLength: 30 }),
        fc.constantFrom(' ', ''),
        (parts, glue) => {
          const text = parts.join(glue);
          expect(readAnalyzeChoice(text).cell).toBe(formerChoice(text));
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('reads a megabyte of choice words and set-aside keys in linear time', () => {
    // The former search scanned back to the start of the one long sentence from every choice word: 219 s
    // on this text. Linear reading takes milliseconds; the bound only catches a quadratic path.
    const text = 'best than DQ_DA '.repeat(65_536);
    const t0 = performance.now();
    const choice = readAnalyzeChoice(text);
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(choice).toMatchObject({ cell: 'DQ_DA', mentioned: ['DQ_DA'] });
  });
});
