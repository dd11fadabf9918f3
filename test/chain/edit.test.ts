import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readAnalyzeChoice } from '../../src/chain/analyze.js';
import { solverAnalysis } from '../../src/chain/analyze-write.js';
import { extractBlocks } from '../../src/chain/blocks.js';
import { parsePayoff } from '../../src/chain/payoff.js';
import {
  modelKeyOrder,
  quantizeMatrix,
  renderMatrix,
  renderNumber,
  replacePayoffContent,
} from '../../src/chain/payoff-edit.js';
import { reaskInstruction } from '../../src/chain/reask.js';
import { selectCell } from '../../src/game/select.js';
import { cellKeys, DEFAULT_SPEC, type PayoffMatrix } from '../../src/game/spec.js';

const DINO: PayoffMatrix = {
  DQ_DA: { LLM: 1.6, user: 2.8 },
  DQ_CQ: { LLM: 1.3, user: 2.7 },
  DQ_AQ: { LLM: 1.0, user: 2.5 },
  VQ_DA: { LLM: 1.9, user: 2.4 },
  VQ_CQ: { LLM: 1.7, user: 2.9 },
  VQ_AQ: { LLM: 1.4, user: 2.3 },
};

describe('rendering the edited matrix', () => {
  it('writes one decimal when exact and two otherwise, without float noise or -0', () => {
    expect(renderNumber(2)).toBe('2.0');
    expect(renderNumber(2.8 - 0.5)).toBe('2.3');
    expect(renderNumber(0.1 + 0.2)).toBe('0.3');
    expect(renderNumber(-0.27)).toBe('-0.27');
    expect(renderNumber(-0)).toBe('0.0');
    expect(renderNumber(-0.001)).toBe('-0.001');
  });

  it('quantizes to two decimals so selection sees what the model reads', () => {
    const q = quantizeMatrix({ ...DINO, DQ_DA: { LLM: 1.6 + 0.405, user: 2.8 - 0.675 } });
    expect(q.DQ_DA).toEqual({ LLM: 2.01, user: 2.13 });
    expect(quantizeMatrix({ ...DINO, DQ_DA: { LLM: -0.001, user: 0 } }).DQ_DA).toEqual({ LLM: 0, user: 0 });
    // The same edit rounds the same way on every row: float noise (8.404999…) does not decide.
    const api = quantizeMatrix({
      ...DINO,
      DQ_DA: { LLM: 0 + 0.405, user: 0 },
      VQ_DA: { LLM: 8 + 0.405, user: -0.405 },
    });
    expect(api.DQ_DA!.LLM).toBe(0.41);
    expect(api.VQ_DA).toEqual({ LLM: 8.41, user: -0.41 });
    expect(Object.is(quantizeMatrix({ ...DINO, DQ_DA: { LLM: -0.001, user: 0 } }).DQ_DA!.LLM, -0)).toBe(
      false,
    );
  });

  it('renders JSON that parses back to the same matrix, in the order given', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -999, max: 999 }), { minLength: 12, maxLength: 12 }),
        fc.shuffledSubarray(cellKeys(), { minLength: 6, maxLength: 6 }),
        (values, order) => {
          const matrix: PayoffMatrix = {};
          cellKeys().forEach((k, i) => {
            matrix[k] = { LLM: values[2 * i]! / 100, user: values[2 * i + 1]! / 100 };
          });
          const json = renderMatrix(matrix, DEFAULT_SPEC, order);
          const parsed = parsePayoff(json);
          expect(parsed.ok && parsed.matrix).toEqual(matrix);
          expect(Object.keys(JSON.parse(json))).toEqual(order);
        },
      ),
    );
  });

  it("finds the order the model wrote its keys in, falling back to the spec's payoff key order", () => {
    const text = '{"VQ_AQ": 1, "DQ_DA": 1, "DQ_CQ": 1, "DQ_AQ": 1, "VQ_DA": 1, "VQ_CQ": 1}';
    expect(modelKeyOrder(text)).toEqual(['VQ_AQ', 'DQ_DA', 'DQ_CQ', 'DQ_AQ', 'VQ_DA', 'VQ_CQ']);
    const paper = ['DQ_AQ', 'DQ_CQ', 'DQ_DA', 'VQ_AQ', 'VQ_CQ', 'VQ_DA'];
    expect(modelKeyOrder("{'DQ_AQ': 1}")).toEqual(paper);
    expect(modelKeyOrder('"DQ_DA" "DQ_DA"')).toEqual(paper);
  });

  it('replaces only the JSON of the payoff block, keeping the whitespace around it', () => {
    const text = '<thinking>t</thinking>\n<payoff> \n{"a": 1}\n</payoff>';
    const block = extractBlocks(text).blocks.payoff!;
    expect(replacePayoffContent(text, block.contentStart, block.contentEnd, '{"b": 2}')).toBe(
      '<thinking>t</thinking>\n<payoff> \n{"b": 2}\n</payoff>',
    );
    const empty = '<payoff></payoff>';
    expect(replacePayoffContent(empty, 8, 8, '{}')).toBe('<payoff>{}</payoff>');
  });

  it('keeps exactly the whitespace the former regular expressions kept', () => {
    const former = (text: string, start: number, end: number, json: string): string => {
      const content = text.slice(start, end);
      const lead = /^\s*/.exec(content)?.[0] ?? '';
      const trail = content.length > lead.length ? (/\s*$/.exec(content)?.[0] ?? '') : '';
      return `${text.slice(0, start)}${lead}${json}${trail}${text.slice(end)}`;
    };
    const unit = fc.constantFrom(' ', '\n', '\r', '\t', '\u3000', '\ufeff', '\x1c', '\x85', 'a', '{', '<');
    fc.assert(
      fc.property(fc.array(unit, { maxLength: 20 }), fc.nat(), fc.nat(), (units, i, j) => {
        const text = units.join('');
        const [start, end] = [i % (text.length + 1), j % (text.length + 1)].sort((a, b) => a - b) as [
          number,
          number,
        ];
        expect(replacePayoffContent(text, start, end, '{}')).toBe(former(text, start, end, '{}'));
      }),
      { numRuns: 3000 },
    );
  });

  it('replaces the JSON of a block holding a long run of blank lines in linear time', () => {
    // The former /\s*$/ ran from every character of the run to its end: 14 s for 100 KB, about two
    // minutes for this block. Linear counting takes milliseconds; the bound only catches a quadratic path.
    const content = `{${'\n'.repeat(300_000)}"a": 1}\n`;
    const text = `<payoff>${content}</payoff>`;
    const t0 = performance.now();
    const out = replacePayoffContent(text, 8, 8 + content.length, '{"b": 2}');
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(out).toBe('<payoff>{"b": 2}\n</payoff>');
  });
});

describe("gtalign's own analysis (solver mode)", () => {
  it('names the frontier with (LLM, user) points, the reason and the chosen key', () => {
    const selection = selectCell(DINO);
    const text = solverAnalysis(DINO, selection);
    expect(text).toContain('frontier of the 6 points (LLM, user) is VQ_CQ (1.7, 2.9) and VQ_DA (1.9, 2.4).');
    expect(text).toContain('VQ_CQ has the highest LLM + user = 4.6');
    expect(text).toContain('Chosen cell: VQ_CQ, so the reply is a clarifying question (CQ).');
    expect(readAnalyzeChoice(text).cell).toBe('VQ_CQ');
  });

  it('never contains a tag', () => {
    const text = solverAnalysis(DINO, selectCell(DINO, 'pareto'));
    expect(text).not.toMatch(/<[a-z/]/);
  });
});

describe('re-ask instructions', () => {
  it('has one line per default action, and derives others from descriptions or names', () => {
    expect(reaskInstruction('DA')).toBe('Answer the question directly and concisely.');
    expect(reaskInstruction('CQ')).toBe('Ask exactly one clarifying question and do not answer yet.');
    expect(reaskInstruction('AQ')).toBe('Give a brief answer, then ask exactly one follow-up question.');
    expect(reaskInstruction('SEARCH', { SEARCH: 'look it up first' })).toBe(
      'Reply this way: look it up first.',
    );
    expect(reaskInstruction('SEARCH')).toBe('Reply with the action SEARCH.');
  });
});

describe('reading the model’s choice from its analysis', () => {
  it('takes the key after the last choice word', () => {
    expect(readAnalyzeChoice('Frontier: DQ_DA, VQ_CQ. I choose VQ_CQ because it beats DQ_DA.').cell).toBe(
      'VQ_CQ',
    );
    expect(readAnalyzeChoice('The best cell is DQ_DA; VQ_DA is dominated.').cell).toBe('DQ_DA');
    expect(readAnalyzeChoice('Pareto: VQ_CQ, DQ_DA. Selected: DQ_DA').by).toBe('choice-word');
  });

  it('does not take a key the words before it set aside ("better than", "over", "not")', () => {
    // The key after the choice word is the rejected one: the choice is the key before it in its sentence.
    expect(readAnalyzeChoice('DQ_DA is the best choice here, better than VQ_CQ.').cell).toBe('DQ_DA');
    expect(
      readAnalyzeChoice('Frontier: DQ_DA, VQ_CQ. Summing gives DQ_DA (4.9); I pick it over VQ_CQ (4.1).')
        .cell,
    ).toBe('DQ_DA');
    expect(readAnalyzeChoice('I will go with DQ_DA rather than VQ_CQ.').cell).toBe('DQ_DA');
    // Set aside with no key before it in the sentence: the other cues, then the last mention, decide.
    expect(readAnalyzeChoice('The best choice is not VQ_CQ but DQ_DA.').cell).toBe('DQ_DA');
    // A key before the choice word in an earlier sentence is not taken.
    expect(readAnalyzeChoice('VQ_DA looks weak. My choice beats VQ_CQ: DQ_AQ.').cell).toBe('DQ_AQ');
  });

  it('falls back to the last key mentioned, and to nothing when no key is named', () => {
    expect(readAnalyzeChoice('Frontier DQ_DA and VQ_CQ; so VQ_CQ.')).toEqual({
      cell: 'VQ_CQ',
      by: 'last-mention',
      mentioned: ['DQ_DA', 'VQ_CQ'],
    });
    expect(readAnalyzeChoice('no idea')).toEqual({ mentioned: [] });
  });

  it('matches whole keys only', () => {
    expect(readAnalyzeChoice('choose XDQ_DA or DQ_DAX').cell).toBeUndefined();
  });

  it('never throws and only returns keys of the spec', () => {
    const keys = new Set(cellKeys());
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (text) => {
        const choice = readAnalyzeChoice(`${text} choose ${text}`);
        if (choice.cell !== undefined) expect(keys.has(choice.cell)).toBe(true);
      }),
    );
  });
});
