import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BLOCK_NAMES, type ChainProblemKind, extractBlocks, isWellFormed } from '../../src/chain/blocks.js';

const VALID =
  '<thinking>VQ: vague.</thinking>\n<payoff>{"VQ_DA": {"LLM": 1, "user": 1}}</payoff>\n' +
  '<analyze>Pick VQ_CQ.</analyze>\n<response>Which era do you mean?</response>';

const kinds = (text: string): ChainProblemKind[] => extractBlocks(text).problems.map((p) => p.kind);

describe('extractBlocks', () => {
  it('extracts the four blocks of a well-formed chain with exact offsets', () => {
    const r = extractBlocks(VALID);
    expect(r.problems).toEqual([]);
    expect(isWellFormed(r)).toBe(true);
    expect(r.all.map((b) => b.name)).toEqual([...BLOCK_NAMES]);
    const response = r.blocks.response!;
    expect(response.content).toBe('Which era do you mean?');
    expect(VALID.slice(response.start, response.end)).toBe('<response>Which era do you mean?</response>');
    expect(VALID.slice(response.contentStart, response.contentEnd)).toBe(response.content);
    expect(response.closed).toBe(true);
    expect(r.blocks.payoff!.content).toBe('{"VQ_DA": {"LLM": 1, "user": 1}}');
  });

  it('reports text outside the blocks with its position and an excerpt', () => {
    const text = `Sure! ${VALID}\nThanks for asking.`;
    const r = extractBlocks(text);
    expect(isWellFormed(r)).toBe(false);
    const outside = r.problems.filter((p) => p.kind === 'outside_text');
    expect(outside.map((p) => [p.position, p.excerpt])).toEqual([
      [0, 'Sure!'],
      [text.indexOf('Thanks'), 'Thanks for asking.'],
    ]);
    // The blocks themselves are still found.
    expect(r.blocks.response!.content).toBe('Which era do you mean?');
  });

  it('cuts long outside text to a short excerpt', () => {
    const r = extractBlocks(`${'x'.repeat(100)}${VALID}`);
    const p = r.problems.find((q) => q.kind === 'outside_text')!;
    expect(p.excerpt).toBe(`${'x'.repeat(40)}…`);
  });

  it('reports each missing block where it was expected', () => {
    const text = '<thinking>a</thinking><payoff>{}</payoff><response>hi</response>';
    const r = extractBlocks(text);
    expect(r.problems).toEqual([
      expect.objectContaining({
        kind: 'missing_block',
        block: 'analyze',
        position: text.indexOf('<response>'),
      }),
    ]);
    expect(kinds('')).toEqual(['missing_block', 'missing_block', 'missing_block', 'missing_block']);
  });

  it('reports blocks out of order', () => {
    const text = '<thinking>a</thinking><analyze>b</analyze><payoff>{}</payoff><response>r</response>';
    const r = extractBlocks(text);
    expect(r.problems).toEqual([
      expect.objectContaining({ kind: 'wrong_order', block: 'payoff', position: text.indexOf('<payoff>') }),
    ]);
    expect(r.blocks.payoff!.content).toBe('{}');
  });

  it('keeps the first of duplicate blocks and reports the others', () => {
    const text = `${VALID}<response>second</response>`;
    const r = extractBlocks(text);
    expect(r.blocks.response!.content).toBe('Which era do you mean?');
    expect(r.all).toHaveLength(5);
    expect(r.problems).toEqual([
      expect.objectContaining({ kind: 'duplicate_block', block: 'response', position: VALID.length }),
    ]);
  });

  it('ends an unclosed block at the next opening tag, so later blocks survive', () => {
    const text = '<thinking>forgot to close\n<payoff>{}</payoff><analyze>a</analyze><response>r</response>';
    const r = extractBlocks(text);
    expect(r.blocks.thinking).toMatchObject({ content: 'forgot to close\n', closed: false });
    expect(r.blocks.thinking!.end).toBe(text.indexOf('<payoff>'));
    expect(r.blocks.payoff!.content).toBe('{}');
    expect(kinds(text)).toEqual(['unclosed_block']);
  });

  it('runs an unclosed last block to the end of the text', () => {
    const text = `${VALID.slice(0, VALID.indexOf('</response>'))}`;
    const r = extractBlocks(text);
    expect(r.blocks.response).toMatchObject({
      content: 'Which era do you mean?',
      closed: false,
      end: text.length,
    });
    expect(kinds(text)).toEqual(['unclosed_block']);
  });

  it('reports stray closing tags outside blocks and inside other blocks, keeping them as content', () => {
    const text = `</payoff>${VALID.replace('vague.', 'vague.</response>')}`;
    const r = extractBlocks(text);
    expect(r.blocks.thinking!.content).toBe('VQ: vague.</response>');
    expect(r.blocks.response!.content).toBe('Which era do you mean?');
    expect(r.problems.map((p) => [p.kind, p.block ?? null, p.position])).toEqual([
      ['stray_closing_tag', 'payoff', 0],
      ['outside_text', null, 0],
      ['stray_closing_tag', 'response', text.indexOf('</response>')],
    ]);
  });

  it('treats non-exact tags as text', () => {
    const text = VALID.replace('vague.', 'vague <Payoff> < payoff> <b>x</b> a<b and </thinking >');
    const r = extractBlocks(text);
    expect(r.problems).toEqual([]);
    expect(r.blocks.thinking!.content).toBe('VQ: vague <Payoff> < payoff> <b>x</b> a<b and </thinking >');
  });

  it('reports empty blocks without making the chain ill-formed', () => {
    const text = VALID.replace('VQ: vague.', ' \n ');
    const r = extractBlocks(text);
    expect(r.problems).toEqual([expect.objectContaining({ kind: 'empty_block', block: 'thinking' })]);
    expect(isWellFormed(r)).toBe(true);
  });

  it('sorts problems by position', () => {
    const r = extractBlocks('x<response>a</analyze><payoff>b<thinking>c');
    const positions = r.problems.map((p) => p.position);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(new Set(r.problems.map((p) => p.kind))).toEqual(
      new Set(['outside_text', 'stray_closing_tag', 'unclosed_block', 'wrong_order', 'missing_block']),
    );
  });

  it('never throws, and its spans are consistent, for arbitrary text built from tags and noise', () => {
    const piece = fc.oneof(
      fc.constantFrom(
        ...BLOCK_NAMES.flatMap((n) => [`<${n}>`, `</${n}>`]),
        '<',
        '</',
        '<<thinking>',
        '</resp',
        ' ',
        '\n',
      ),
      fc.string({ unit: 'binary', maxLength: 8 }),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), (pieces) => {
        const text = pieces.join('');
        const r = extractBlocks(text);
        let last = 0;
        for (const b of r.all) {
          expect(b.content).toBe(text.slice(b.contentStart, b.contentEnd));
          expect(text.startsWith(`<${b.name}>`, b.start)).toBe(true);
          expect(b.start).toBeGreaterThanOrEqual(last);
          if (b.closed) expect(text.slice(b.contentEnd, b.end)).toBe(`</${b.name}>`);
          else expect(b.end).toBe(b.contentEnd);
          last = b.end;
        }
        for (const name of BLOCK_NAMES) expect(r.blocks[name]).toBe(r.all.find((b) => b.name === name));
        for (const p of r.problems) {
          expect(p.position).toBeGreaterThanOrEqual(0);
          expect(p.position).toBeLessThanOrEqual(text.length);
        }
        // Well-formed implies: the four blocks in order with only whitespace around them.
        const canonical =
          /^\s*<thinking>[\s\S]*?<\/thinking>\s*<payoff>[\s\S]*?<\/payoff>\s*<analyze>[\s\S]*?<\/analyze>\s*<response>[\s\S]*?<\/response>\s*$/;
        if (isWellFormed(r)) expect(canonical.test(text)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('is linear on adversarial input', () => {
    const text = '<thinking><'.repeat(100_000) + '</payoff'.repeat(100_000);
    const t0 = performance.now();
    const r = extractBlocks(text);
    // Tens of milliseconds here; a quadratic path takes minutes. Wide, so that a loaded machine passes.
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(r.all).toHaveLength(100_000);
  });
});
