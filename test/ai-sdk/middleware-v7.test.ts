/**
 * `gtalignMiddleware` with AI SDK 7 (language-model specification v4): `generateText` and `streamText` from
 * `ai@7` (installed as the `ai-v7` alias beside AI SDK 6) over `wrapLanguageModel({ model:
 * createOpenAICompatible(…)(…), middleware: gtalignMiddleware({ …, specificationVersion: 'v4' }) })`, with
 * `@ai-sdk/openai-compatible@3` (a v4 model; alias `@ai-sdk/openai-compatible-v3`), against a scripted
 * loopback upstream (not a model) that plays the paper's dinosaur example. AI SDK 7 declares Node ≥ 22
 * but runs on Node 20 (this suite is the evidence); the v6 suite is middleware.test.ts.
 */
import { createOpenAICompatible } from '@ai-sdk/openai-compatible-v3';
import { generateText, streamText, wrapLanguageModel } from 'ai-v7';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type GtalignMiddlewareOptions, gtalignMiddleware } from '../../src/ai-sdk/middleware.js';
import { extractBlocks } from '../../src/chain/blocks.js';
import {
  dinosaurScript,
  MATRIX,
  PAPER_API_MATRIX,
  QUESTION,
  RESPONSES,
  STAGE1,
} from '../server/scripted-upstream.js';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';

let upstream: OpenAIStubServer;
beforeAll(async () => {
  upstream = await startOpenAIStubServer(dinosaurScript());
});
afterAll(async () => {
  await upstream.close();
});
beforeEach(() => {
  upstream.setHandler(dinosaurScript());
  upstream.requests.length = 0;
});

const VLLM_PREFILL = {
  providerOptions: { vllm: { continue_final_message: true, add_generation_prompt: false } },
};

function wrapped(options: GtalignMiddlewareOptions) {
  const provider = createOpenAICompatible({ name: 'vllm', baseURL: upstream.baseUrl, apiKey: 'unused' });
  const model = provider('stub-model');
  expect(model.specificationVersion).toBe('v4');
  // The type check is part of the test: a v4 middleware is what AI SDK 7's wrapLanguageModel takes.
  return wrapLanguageModel({
    model,
    middleware: gtalignMiddleware({ ...options, specificationVersion: 'v4' }),
  });
}

interface Meta {
  action: string;
  cell: string;
  matrix_before: unknown;
  matrix_after: unknown;
  continuation: string;
  tokens: Record<string, { completion: number }>;
}
const metaOf = (m: Record<string, unknown> | undefined): Meta => m?.gtalign as unknown as Meta;

describe('AI SDK 7: generateText through gtalignMiddleware (spec v4)', () => {
  it('continues the same turn with prefill: the text is the <response>, the record in providerMetadata.gtalign', async () => {
    const result = await generateText({
      model: wrapped({ policy: 'paper-api', prefill: VLLM_PREFILL }),
      prompt: QUESTION,
      maxRetries: 0,
    });
    expect(result.text).toBe(RESPONSES.DA);
    const g = metaOf(result.providerMetadata);
    expect([g.action, g.cell, g.continuation]).toEqual(['DA', 'DQ_DA', 'continue']);
    expect(g.matrix_before).toEqual(MATRIX);
    expect(g.matrix_after).toEqual(PAPER_API_MATRIX);
    expect(result.usage.outputTokens).toBe(g.tokens.stage1!.completion + g.tokens.stage2!.completion);
    expect(upstream.requests[0]!.body!.stop).toEqual(['</payoff>']);
    const second = upstream.requests[1]!.body!;
    expect(second.continue_final_message).toBe(true);
    const messages = second.messages as Array<{ role: string; content: string }>;
    expect(messages.at(-1)).toMatchObject({ role: 'assistant' });
    expect(messages.at(-1)!.content).toContain('"DQ_DA": {"LLM": 2.6, "user": 2.3}');
  });

  it('re-asks without prefill, takes the policy per call, and returns the chain as reasoning when asked', async () => {
    const plain = await generateText({ model: wrapped({}), prompt: QUESTION, maxRetries: 0 });
    expect(plain.text).toBe(RESPONSES.CQ);
    expect(metaOf(plain.providerMetadata).continuation).toBe('reask');
    const steered = await generateText({
      model: wrapped({}),
      prompt: QUESTION,
      maxRetries: 0,
      providerOptions: { gtalign: { policy: 'paper-api' } },
    });
    expect(steered.text).toBe(RESPONSES.DA);
    const reasoning = await generateText({
      model: wrapped({ prefill: VLLM_PREFILL, reasoning: true }),
      prompt: QUESTION,
      maxRetries: 0,
    });
    expect(reasoning.reasoningText?.startsWith(STAGE1)).toBe(true);
  });

  it("warns that the app's system prompt and AI SDK 7's reasoning effort are not applied", async () => {
    const globals = globalThis as { AI_SDK_LOG_WARNINGS?: unknown };
    const before = globals.AI_SDK_LOG_WARNINGS;
    globals.AI_SDK_LOG_WARNINGS = false;
    try {
      const result = await generateText({
        model: wrapped({}),
        system: 'You are a pirate.',
        prompt: QUESTION,
        reasoning: 'high',
        maxRetries: 0,
      });
      expect(result.text).toBe(RESPONSES.CQ);
      expect(result.warnings).toEqual([
        { type: 'other', message: expect.stringMatching(/1 system message\(s\) not used/) },
        { type: 'unsupported', feature: 'reasoning', details: expect.stringMatching(/<thinking>/) },
      ]);
    } finally {
      globals.AI_SDK_LOG_WARNINGS = before;
    }
  });

  it('surfaces an upstream failure as an error', async () => {
    upstream.setHandler(() => ({ status: 500, errorMessage: 'upstream exploded' }));
    await expect(generateText({ model: wrapped({}), prompt: QUESTION, maxRetries: 0 })).rejects.toThrow(
      /upstream exploded/,
    );
  });
});

describe('AI SDK 7: streamText through gtalignMiddleware (spec v4)', () => {
  it('streams only the <response> text as it is generated and ends with the gtalign record', async () => {
    upstream.setHandler(dinosaurScript({ chunkSize: 3, chunkDelayMs: 1 }));
    const result = streamText({
      model: wrapped({ policy: 'paper-api', prefill: VLLM_PREFILL }),
      prompt: QUESTION,
      maxRetries: 0,
    });
    const pieces: string[] = [];
    for await (const piece of result.textStream) pieces.push(piece);
    expect(pieces.join('')).toBe(RESPONSES.DA);
    expect(pieces.length).toBeGreaterThan(5);
    for (const p of pieces) expect(p).not.toMatch(/<\/?(response|analyze)/);
    const g = metaOf(await result.providerMetadata);
    expect([g.action, g.cell]).toEqual(['DA', 'DQ_DA']);
    expect(await result.finishReason).toBe('stop');
    expect(upstream.requests[1]!.body!.stream).toBe(true);
  });

  it("reasoning: 'separate' comes as AI SDK 7 reasoning, before the text", async () => {
    upstream.setHandler(dinosaurScript({ chunkSize: 5 }));
    const result = streamText({
      model: wrapped({ policy: 'paper-api', prefill: VLLM_PREFILL, reasoning: 'separate' }),
      prompt: QUESTION,
      maxRetries: 0,
    });
    const kinds: string[] = [];
    for await (const part of result.fullStream) kinds.push(part.type);
    expect(await result.text).toBe(RESPONSES.DA);
    const reasoning = await result.reasoningText;
    expect(reasoning?.startsWith(extractBlocks(STAGE1).blocks.thinking!.content.trim())).toBe(true);
    expect(reasoning).toMatch(/DQ_DA/);
    expect(kinds.lastIndexOf('reasoning-delta')).toBeLessThan(kinds.indexOf('text-delta'));
  });

  it('a retried stage 2 does not pay for stage 1 again (AI SDK 7 builds the prompt anew per attempt)', async () => {
    const script = dinosaurScript();
    let failures = 1;
    upstream.setHandler((body) => {
      const last = (body.messages as Array<{ role: string }>).at(-1);
      return last?.role === 'assistant' && failures-- > 0
        ? { status: 503, errorMessage: 'stage 2 overloaded', headers: { 'retry-after-ms': '1' } }
        : script(body);
    });
    const result = streamText({
      model: wrapped({ policy: 'paper-api', prefill: VLLM_PREFILL }),
      prompt: QUESTION,
      maxRetries: 1,
    });
    expect(await result.text).toBe(RESPONSES.DA);
    const stop = upstream.requests.map((r) => JSON.stringify(r.body!.stop));
    // Stage 1 (stopping at </payoff>) once, stage 2 twice.
    expect(stop).toEqual(['["</payoff>"]', '["</response>"]', '["</response>"]']);
  });

  it('reports an upstream failure through the stream', async () => {
    upstream.setHandler(() => ({ status: 500, errorMessage: 'upstream exploded' }));
    const errors: unknown[] = [];
    const result = streamText({
      model: wrapped({}),
      prompt: QUESTION,
      maxRetries: 0,
      onError: ({ error }) => {
        errors.push(error);
      },
    });
    await result.consumeStream();
    expect(String(errors[0])).toMatch(/upstream exploded/);
  });
});
