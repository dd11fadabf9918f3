/**
 * The embedded engine writes valid UTF-8 even on the tiny random-weights model, whose vocabulary holds all 256
 * byte tokens: llama.cpp's grammar alone let it write F5–FF, overlong forms and code points past U+10FFFF,
 * which every demo run showed as U+FFFD. A character split over several byte tokens must come out whole,
 * streamed or not.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Llama, LlamaModel, Token } from 'node-llama-cpp';
import * as nodeLlamaCpp from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyModel } from '../../src/assistant/tiny-model.js';
import { RANDOM_WEIGHTS_GRAMMAR, runTurn } from '../../src/assistant/turn.js';
import { buildGbnf } from '../../src/chain/grammar.js';
import { DEFAULT_SPEC } from '../../src/game/spec.js';
import { createLocalModel } from '../../src/llm/local.js';
import { tokenBytes } from '../../src/llm/token-bytes.js';
import type { ChatMessage, ChatModel, GenerateRequest } from '../../src/llm/types.js';
import { BETWEEN, Utf8Guard } from '../../src/llm/utf8-guard.js';
import { PRESETS } from '../../src/steering/presets.js';

let dir: string;
let model: ChatModel;
let llama: Llama;
let raw: LlamaModel;

const QUESTION = 'When did dinosaurs first appear?';
const ASK: ChatMessage[] = [{ role: 'user', content: QUESTION }];
/** U+FFFD, or a surrogate not in a pair. */
const BROKEN = /\uFFFD|[\uD800-\uDFFF]/u;
const range = (from: number, to: number): Token[] =>
  Array.from({ length: to - from + 1 }, (_, i) => (from + i) as Token);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-utf8-'));
  // The demo's model, marked as of random weights as `gtalign models tiny` writes it.
  const { path: modelPath } = await writeTinyModel(dir);
  model = await createLocalModel({ modelPath, seed: 1 });
  llama = await nodeLlamaCpp.getLlama({ gpu: false, build: 'never' });
  raw = await llama.loadModel({ modelPath });
});

afterAll(async () => {
  await model?.close();
  await raw?.dispose();
  await llama?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe("the tiny model's byte tokens", () => {
  it('are read byte for byte, though node-llama-cpp detokenizes 0x80–0xFF to U+FFFD', () => {
    const bytes = tokenBytes(raw);
    expect(bytes).toHaveLength(291);
    // The vocabulary starts with one token per byte, id = byte value: ASCII is whole characters.
    for (let b = 0; b < 0x80; b++) expect(bytes[b]).toBe('text');
    for (let b = 0x80; b < 0x100; b++) expect(bytes[b]).toEqual(Uint8Array.of(b));
    expect(raw.detokenize([0xf8 as Token])).toBe('\uFFFD');
    // Merged ASCII tokens, then the control tokens, which write nothing.
    expect(new Set(bytes.slice(0x100, -3))).toEqual(new Set(['text']));
    expect(bytes.slice(-3)).toEqual(['none', 'none', 'none']);
  });

  it('are banned where no valid UTF-8 can go on with them', () => {
    const guard = Utf8Guard.for(nodeLlamaCpp, raw, { insideCharacters: true });
    // Between characters: continuation bytes, C0 and C1 (overlong leads), F5–FF (past U+10FFFF).
    expect(guard.banned(BETWEEN)).toEqual([...range(0x80, 0xc1), ...range(0xf5, 0xff)]);
    // After E0 only A0–BF, after ED 80–9F, after F0 90–BF, after F4 80–8F; after C3 any continuation byte.
    const allowedAfter = (lead: number): Token[] => {
      const banned = new Set(guard.banned(guard.after(BETWEEN, lead as Token)));
      return range(0, 0xff).filter((t) => !banned.has(t));
    };
    expect(allowedAfter(0xe0)).toEqual(range(0xa0, 0xbf));
    expect(allowedAfter(0xed)).toEqual(range(0x80, 0x9f));
    expect(allowedAfter(0xf0)).toEqual(range(0x90, 0xbf));
    expect(allowedAfter(0xf4)).toEqual(range(0x80, 0x8f));
    expect(allowedAfter(0xc3)).toEqual(range(0x80, 0xbf));
    // A complete character ends between characters again.
    const euro = [0xe2, 0x82, 0xac].reduce((s, b) => guard.after(s, b as Token), BETWEEN);
    expect(euro).toBe(BETWEEN);
  });

  it('inside a character are banned only for a model of random weights (a trained one finishes its characters)', () => {
    const guard = Utf8Guard.for(nodeLlamaCpp, raw, { insideCharacters: false });
    // Between characters the ban is the same; inside one nothing is banned (no bias of the whole vocabulary
    // copied before every token), and the state is still followed.
    expect(guard.banned(BETWEEN)).toEqual([...range(0x80, 0xc1), ...range(0xf5, 0xff)]);
    const afterE0 = guard.after(BETWEEN, 0xe0 as Token);
    expect(afterE0).not.toBe(BETWEEN);
    expect(guard.banned(afterE0)).toEqual([]);
    expect(guard.after(guard.after(afterE0, 0xa4 as Token), 0x80 as Token)).toBe(BETWEEN);
  });
});

/** Streams `request`; every piece and the result must be free of U+FFFD, and the pieces must add up. */
async function sample(request: GenerateRequest, label: string): Promise<string> {
  let streamed = '';
  let text: string | undefined;
  for await (const event of model.stream(request)) {
    if (event.type === 'text') {
      expect(event.text, label).not.toMatch(BROKEN);
      streamed += event.text;
    } else text = event.result.text;
  }
  expect(text, label).not.toMatch(BROKEN);
  expect(streamed, label).toBe(text);
  return text ?? '';
}

const nonAscii = (text: string): number => [...text].filter((ch) => (ch.codePointAt(0) ?? 0) > 0x7f).length;

describe('sampled text', () => {
  it('is valid UTF-8 under the chain grammar over a fixed set of seeds, streamed piece by piece', async () => {
    const constraint = { kind: 'gbnf', grammar: buildGbnf(DEFAULT_SPEC, RANDOM_WEIGHTS_GRAMMAR) } as const;
    let written = 0;
    for (const seed of [1, 2, 3, 4]) {
      const request = { messages: ASK, constraint, temperature: 1, seed };
      written += nonAscii(await sample({ ...request, maxTokens: 400 }, `seed ${seed}`));
    }
    // Each non-ASCII character took two to four byte tokens: characters split over tokens came out whole.
    expect(written).toBeGreaterThan(0);
  });

  it('is valid UTF-8 without a grammar, where the model may end inside a character', async () => {
    const france: ChatMessage[] = [
      { role: 'system', content: 'You are a careful assistant. Answer in the four tagged blocks.' },
      { role: 'user', content: 'What is the capital of France? Please be brief.' },
    ];
    // Seed 6 samples the end-of-generation token inside a character, whose bytes are then left out; on the
    // second prompt, seed 1 puts a control token (which writes nothing) between the four bytes of one.
    let written = 0;
    for (const [messages, seed] of [
      [ASK, 6],
      [france, 1],
    ] as const) {
      const request = { messages: [...messages], temperature: 1, seed, maxTokens: 60 };
      written += nonAscii(await sample(request, `seed ${seed}`));
    }
    expect(written).toBeGreaterThan(0);
  });

  it("is valid UTF-8 in the demo's turns, stage 2 continuing stage 1's text", async () => {
    for (const seed of [7, 8]) {
      const result = await runTurn({
        model,
        question: QUESTION,
        grammar: RANDOM_WEIGHTS_GRAMMAR,
        maxTokens: 400,
        temperature: 1,
        seed,
        policy: PRESETS.subscription,
      });
      expect(result.output, `seed ${seed}`).not.toMatch(BROKEN);
      expect(result.trace.formatProblems).toEqual([]);
    }
  });
});
