import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  extractAnalyze,
  extractPayoffText,
  extractResponse,
  extractTagBlock,
  extractThinking,
  REFERENCE_FORMAT_REGEX,
  reasoningPart,
  referenceFormatCheck,
  referenceFormatOk,
  referenceStructureOk,
  tagBlockSpan,
} from '../../src/chain/format.js';

const PAYOFF =
  '{"DQ_AQ": {"LLM": 2.2, "user": 1.9}, "DQ_CQ": {"LLM": 3.1, "user": 3.5}, "DQ_DA": {"LLM": 4.2, "user": 4.3}, ' +
  '"VQ_AQ": {"LLM": 2.0, "user": 2.1}, "VQ_CQ": {"LLM": 1.3, "user": 1.2}, "VQ_DA": {"LLM": 2.0, "user": 1.8}}';

function chain(parts: {
  thinking?: string;
  payoff?: string;
  analyze?: string;
  response?: string;
  sep?: string;
}): string {
  const sep = parts.sep ?? '';
  return [
    `<thinking>${parts.thinking ?? 'DQ, so DA or AQ.'}</thinking>`,
    `<payoff>${parts.payoff ?? PAYOFF}</payoff>`,
    `<analyze>${parts.analyze ?? 'Frontier: DQ_DA. Pick DQ_DA.'}</analyze>`,
    `<response>${parts.response ?? 'About 230 million years ago.'}</response>`,
  ].join(sep);
}

describe('referenceStructureOk / referenceFormatOk (the reference format regex)', () => {
  const valid = chain({});

  it('accepts the four blocks in order, glued or separated by Python whitespace', () => {
    expect(referenceFormatOk(valid)).toBe(true);
    expect(referenceFormatOk(chain({ sep: '\n\n' }))).toBe(true);
    // \x1c and \u3000 are whitespace to Python's `\s`.
    expect(referenceFormatOk(chain({ sep: ' \t\x1c\u3000\n' }))).toBe(true);
  });

  it('rejects separators that are not Python whitespace (U+FEFF, U+200B)', () => {
    expect(referenceStructureOk(chain({ sep: '\ufeff' }))).toBe(false);
    expect(referenceStructureOk(chain({ sep: '\u200b' }))).toBe(false);
  });

  it('rejects text before the first block or after </response> on the same line', () => {
    expect(referenceStructureOk(` ${valid}`)).toBe(false);
    expect(referenceStructureOk(`${valid} done`)).toBe(false);
    expect(referenceStructureOk(`${valid}<extra/>`)).toBe(false);
    expect(referenceStructureOk(`${valid}\r\nmore`)).toBe(false);
  });

  it('keeps the reference quirk: anything may follow a line break after </response>', () => {
    expect(referenceFormatOk(`${valid}\nanything at all`)).toBe(true);
    expect(referenceFormatOk(`${valid}\n`)).toBe(true);
  });

  it('lets the lazy groups swallow extra tags, as the regex does', () => {
    // A second response block: the match can end at the last </response>.
    expect(referenceStructureOk(`${valid}<response>again</response>`)).toBe(true);
    // Text after the first </response>, then a later </response> at the end.
    expect(referenceStructureOk(valid.replace('</response>', '</response> x </response>'))).toBe(true);
  });

  it('rejects missing or reordered blocks', () => {
    expect(referenceStructureOk(valid.replace(/<analyze>.*<\/analyze>/s, ''))).toBe(false);
    expect(referenceStructureOk(valid.replace(/<payoff>.*<\/payoff>/s, ''))).toBe(false);
    expect(referenceStructureOk(valid.replace(/<response>.*<\/response>/s, ''))).toBe(false);
    const [t, p, a, r] = valid.split(/(?=<thinking>|<payoff>|<analyze>|<response>)/);
    expect(referenceStructureOk(`${t}${a}${p}${r}`)).toBe(false);
    expect(referenceStructureOk('')).toBe(false);
  });

  it('needs the payoff block to parse and validate for format = 1', () => {
    const bad = chain({ payoff: '{"DQ_AQ": {"LLM": 1, "user": 2}}' });
    expect(referenceStructureOk(bad)).toBe(true);
    expect(referenceFormatOk(bad)).toBe(false);
    expect(referenceFormatOk(chain({ payoff: '' }))).toBe(false);
    expect(referenceFormatOk(chain({ payoff: PAYOFF.replaceAll('"', "'") }))).toBe(true);
  });

  it('reports its parts without parsing twice', () => {
    const r = referenceFormatCheck(`${valid} trailing`);
    expect(r).toMatchObject({ format: 0, structure: false, payoffText: PAYOFF });
    expect(r.payoff?.ok).toBe(true);
    expect(referenceFormatCheck('no blocks')).toEqual({
      format: 0,
      structure: false,
      payoffText: undefined,
      payoff: undefined,
    });
  });

  it('agrees with the reference regex on tag soup', () => {
    const piece = fc.constantFrom(
      '<thinking>',
      '</thinking>',
      '<payoff>',
      '</payoff>',
      '<analyze>',
      '</analyze>',
      '<response>',
      '</response>',
      ' ',
      '\n',
      '\r',
      '\x1c',
      '\ufeff',
      'x',
      '<',
      '>',
    );
    const skeleton = [
      '<thinking>',
      '</thinking>',
      '<payoff>',
      '</payoff>',
      '<analyze>',
      '</analyze>',
      '<response>',
      '</response>',
    ];
    // Random soup, and the valid skeleton with random pieces inserted (so that both answers occur).
    const soup = fc.array(piece, { maxLength: 24 }).map((a) => a.join(''));
    const mutated = fc.array(fc.tuple(fc.nat(skeleton.length), piece), { maxLength: 6 }).map((inserts) => {
      const parts = skeleton.map((s) => [s]);
      parts.push([]);
      for (const [at, p] of inserts) parts[at]?.unshift(p);
      return parts.flat().join('');
    });
    let matches = 0;
    fc.assert(
      fc.property(fc.oneof(soup, mutated), (text) => {
        const expected = REFERENCE_FORMAT_REGEX.test(text);
        if (expected) matches++;
        expect(referenceStructureOk(text)).toBe(expected);
      }),
      { numRuns: 4000 },
    );
    expect(matches).toBeGreaterThan(100);
  });

  it('stays linear on adversarial input', () => {
    const evil = `<thinking>${'</thinking><payoff></payoff><analyze></analyze><response></response>x'.repeat(20_000)}`;
    const t0 = performance.now();
    expect(referenceStructureOk(evil)).toBe(false);
    // About 20 ms here; a quadratic path takes minutes. The bound is wide so that a loaded machine passes.
    expect(performance.now() - t0).toBeLessThan(10_000);
  });

  it('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(typeof referenceFormatOk(s)).toBe('boolean');
        expect(
          typeof referenceFormatOk(
            `<thinking>${s}</thinking><payoff>${s}</payoff><analyze></analyze><response>${s}</response>`,
          ),
        ).toBe('boolean');
      }),
      { numRuns: 1000 },
    );
  });
});

describe('block extraction (the reference extract_tag_block)', () => {
  it('takes the first block and strips Python whitespace only', () => {
    const text = '<response>\x1c first \ufeff</response><response>second</response>';
    expect(extractResponse(text)).toBe('first \ufeff');
    expect(extractTagBlock(text, 'response')).toBe('first \ufeff');
  });

  it('pairs the first opening tag with the first closing tag after it', () => {
    expect(extractPayoffText('</payoff><payoff> a <payoff> b </payoff> c </payoff>')).toBe('a <payoff> b');
    expect(extractAnalyze('<analyze>unclosed')).toBeUndefined();
    expect(extractThinking('no tags')).toBeUndefined();
    expect(extractAnalyze('<analyze></analyze>')).toBe('');
  });

  it('gives the span of the stripped content', () => {
    const text = 'ab<response>  hi \n</response>';
    const span = tagBlockSpan(text, 'response');
    expect(span).toEqual({ open: 2, start: 14, end: 16 });
    expect(text.slice(span?.start, span?.end)).toBe('hi');
  });

  it('cuts the reasoning part at the first <response>, or keeps everything', () => {
    expect(reasoningPart('<thinking>t</thinking><response>r</response><response>')).toBe(
      '<thinking>t</thinking>',
    );
    expect(reasoningPart('no response')).toBe('no response');
  });
});
