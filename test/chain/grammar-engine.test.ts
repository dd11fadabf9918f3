/**
 * The GBNF grammar in a real engine: llama.cpp (through node-llama-cpp, CPU only, prebuilt binary) must
 * accept the grammar of a custom 3×4 spec, including strategy names that need escaping, and every output it
 * samples under that grammar must be in the language the regex describes and parse against the spec.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, type Llama } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyModel } from '../../src/assistant/tiny-model.js';
import { extractBlocks, isWellFormed } from '../../src/chain/blocks.js';
import { buildFormatRegExp, buildGbnf, type GrammarOptions } from '../../src/chain/grammar.js';
import { parsePayoff } from '../../src/chain/payoff.js';
import { cellKeys, type GameSpec } from '../../src/game/spec.js';
import { createLocalModel } from '../../src/llm/local.js';
import type { ChatModel } from '../../src/llm/types.js';

// A quote, a backslash and a non-ASCII letter in one row name: the cell keys need escaping in GBNF.
const CUSTOM: GameSpec = {
  rows: ['NOVICE', 'EXPERT', 'Q"\\é'],
  columns: ['DA', 'CQ', 'REFUSE', 'CITE'],
};
// Short blocks keep each sampled output small (12 cells of numbers are most of it).
const SMALL: GrammarOptions = { maxChars: 6, maxWhitespace: 1, integerDigits: 1 };

let llama: Llama;
let dir: string;
let model: ChatModel | undefined;

beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: 'never' });
  dir = await mkdtemp(join(tmpdir(), 'gtalign-grammar-'));
});

afterAll(async () => {
  await model?.close();
  await llama?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('buildGbnf in llama.cpp', () => {
  it('parses the grammar of a custom 3×4 spec, whole and split into stages; rejects a broken one', async () => {
    for (const options of [
      {},
      SMALL,
      { endAt: 'payoff' },
      { startAt: 'analyze' },
      { keyOrder: [...cellKeys(CUSTOM)].reverse() },
    ] as GrammarOptions[]) {
      const source = buildGbnf(CUSTOM, options);
      const grammar = await llama.createGrammar({ grammar: source });
      expect(grammar.grammar).toBe(source);
    }
    // The escaped key as GBNF spells it: "\"Q\\\"\\\\é_CITE\"" reads as the JSON text "Q\"\\é_CITE".
    expect(buildGbnf(CUSTOM)).toContain(String.raw`"\"Q\\\"\\\\é_CITE\""`);
    // The same engine refuses a grammar with an undefined rule, so the check above can fail.
    const broken = buildGbnf(CUSTOM).replace('ws ::=', 'wsx ::=');
    await expect(llama.createGrammar({ grammar: broken })).rejects.toThrow();
  });

  it('samples only outputs that the regex accepts and that parse against the spec', async () => {
    // Marked as of random weights, as `gtalign models tiny` writes it: its text is valid UTF-8 only so.
    const { path } = await writeTinyModel(dir);
    model = await createLocalModel({ modelPath: path, seed: 3 });
    const grammar = buildGbnf(CUSTOM, SMALL);
    const language = buildFormatRegExp(CUSTOM, SMALL);
    for (const seed of [1, 2]) {
      const result = await model.generate({
        messages: [{ role: 'user', content: 'Hi' }],
        constraint: { kind: 'gbnf', grammar },
        temperature: 1,
        seed,
      });
      expect(result.finishReason).toBe('stop');
      expect(result.text).toMatch(language);
      const extraction = extractBlocks(result.text);
      expect(isWellFormed(extraction), JSON.stringify(extraction.problems)).toBe(true);
      const { blocks } = extraction;
      for (const name of ['thinking', 'analyze', 'response'] as const) {
        // The engine writes valid UTF-8 (see local-utf8.test.ts), so the grammar's characters are the text's:
        // at most 6 units, a unit being a character or `<` with the character after it.
        const content = blocks[name]?.content ?? '';
        expect(content).not.toContain('\ufffd');
        expect(content.match(/<[\s\S]|[\s\S]/gu)?.length ?? 0).toBeLessThanOrEqual(6);
      }
      const payoff = parsePayoff(blocks.payoff?.content ?? '', CUSTOM);
      expect(payoff.ok, JSON.stringify(payoff)).toBe(true);
      if (payoff.ok) expect(Object.keys(payoff.matrix)).toEqual(cellKeys(CUSTOM));
    }
  });
});
