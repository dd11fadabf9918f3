/**
 * `gtalignMiddleware` with the real AI SDK: `generateText` and `streamText` over
 * `wrapLanguageModel({ model: createOpenAICompatible(…)(…), middleware: gtalignMiddleware(…) })` against a
 * loopback upstream that plays the paper's dinosaur example.
 */
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import type { LanguageModelV3CallOptions, LanguageModelV3StreamPart } from '@ai-sdk/provider';
import {
  generateObject,
  generateText,
  jsonSchema,
  type ModelMessage,
  simulateReadableStream,
  streamText,
  tool,
  wrapLanguageModel,
} from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type GtalignMiddlewareOptions, gtalignMiddleware } from '../../src/ai-sdk/middleware.js';
import { extractBlocks } from '../../src/chain/blocks.js';
import { GtalignError } from '../../src/errors.js';
import {
  dinosaurScript,
  MATRIX,
  PAPER_API_MATRIX,
  QUESTION,
  RESPONSES,
  STAGE1,
} from '../server/scripted-upstream.js';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';
import { waitFor } from '../support/wait-for.js';

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
  return wrapLanguageModel({ model: provider('stub-model'), middleware: gtalignMiddleware(options) });
}

/** Which stage a request of the dinosaur script is: stage 1 stops at </payoff>; stage 2 extends the prefix. */
const stageOf = (body: { messages?: unknown; stop?: unknown }): string => {
  const messages = body.messages as Array<{ role: string }>;
  if (messages.at(-1)?.role === 'assistant') return 'stage2';
  return Array.isArray(body.stop) && body.stop.includes('</payoff>') ? 'stage1' : 'reask';
};

const metaOf = (m: Record<string, unknown> | undefined): Meta => m?.gtalign as unknown as Meta;

interface Meta {
  action: string;
  cell: string;
  matrix_before: unknown;
  matrix_after: unknown;
  policy: string;
  continuation: string;
  tokens: Record<string, { completion: number }>;
}

describe('generateText through gtalignMiddleware', () => {
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
    // Stage 1 stopped at </payoff>; stage 2 extended the assistant message with the edited matrix.
    expect(upstream.requests[0]!.body!.stop).toEqual(['</payoff>']);
    const second = upstream.requests[1]!.body!;
    expect(second.continue_final_message).toBe(true);
    expect(second.add_generation_prompt).toBe(false);
    const messages = second.messages as Array<{ role: string; content: string }>;
    expect(messages.at(-1)!.role).toBe('assistant');
    expect(messages.at(-1)!.content).toContain('"DQ_DA": {"LLM": 2.6, "user": 2.3}');
    expect(upstream.requests[0]!.body!.continue_final_message).toBeUndefined();
  });

  it('re-asks without prefill, and takes the policy per call from providerOptions.gtalign', async () => {
    const model = wrapped({});
    const plain = await generateText({ model, prompt: QUESTION, maxRetries: 0 });
    expect(plain.text).toBe(RESPONSES.CQ);
    expect(metaOf(plain.providerMetadata).continuation).toBe('reask');
    const steered = await generateText({
      model,
      prompt: QUESTION,
      maxRetries: 0,
      providerOptions: { gtalign: { policy: 'paper-api' } },
    });
    expect(steered.text).toBe(RESPONSES.DA);
    // The gtalign options never reach the upstream.
    for (const r of upstream.requests) expect(r.body!.gtalign).toBeUndefined();
  });

  it('returns the whole chain as reasoning when asked', async () => {
    const result = await generateText({
      model: wrapped({ prefill: VLLM_PREFILL, reasoning: true }),
      prompt: QUESTION,
      maxRetries: 0,
    });
    expect(result.text).toBe(RESPONSES.CQ);
    expect(result.reasoningText?.startsWith(STAGE1)).toBe(true);
    expect(result.reasoningText).toContain(`<response>${RESPONSES.CQ}</response>`);
  });

  it('surfaces an upstream failure as an error, and a bad policy when the model is wrapped', async () => {
    upstream.setHandler(() => ({ status: 500, errorMessage: 'upstream exploded' }));
    await expect(generateText({ model: wrapped({}), prompt: QUESTION, maxRetries: 0 })).rejects.toThrow(
      /upstream exploded/,
    );
    expect(() => gtalignMiddleware({ policy: 'no-such-preset' })).toThrow(/unknown steering preset/);
  });
});

describe('a conversation with earlier turns', () => {
  it("carries earlier turns as their text: a turn's chain, returned as reasoning, stays out of the history", async () => {
    const model = wrapped({ prefill: VLLM_PREFILL, reasoning: true });
    const first = await generateText({ model, prompt: QUESTION, maxRetries: 0 });
    expect(first.reasoningText).toContain('<payoff>');
    upstream.requests.length = 0;
    const followUp = 'The first true dinosaurs, please.';
    await generateText({
      model,
      system: 'You are a pirate.',
      messages: [
        { role: 'user', content: QUESTION },
        ...first.response.messages,
        { role: 'user', content: followUp },
      ],
      maxRetries: 0,
    });
    // Stage 1's one message: the instruction prompt with the conversation so far, then the new question.
    const sent = (upstream.requests[0]!.body!.messages as Array<{ content: string }>)[0]!.content;
    expect(sent).toContain(
      `User: ${QUESTION}\n\nAssistant: ${RESPONSES.CQ}\n\nCurrent question:\n\n${followUp}`,
    );
    expect(sent).not.toContain(extractBlocks(STAGE1).blocks.thinking!.content.trim());
    expect(sent).not.toContain('"DQ_DA": {"LLM": 1.6');
    expect(sent).not.toContain('pirate');
  });
});

describe('streamText through gtalignMiddleware', () => {
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

  it("reports a turn's tokens as unknown when a streamed stage did not report them, not an undercount", async () => {
    // The OpenAI-compatible provider asks for a stream's usage only with includeUsage: stage 2 reports none.
    const unreported = streamText({ model: wrapped({}), prompt: QUESTION, maxRetries: 0 });
    expect(await unreported.text).toBe(RESPONSES.CQ);
    const usage = await unreported.usage;
    expect(usage.inputTokens).toBeUndefined();
    expect(usage.outputTokens).toBeUndefined();
    // With includeUsage every stage reports its tokens, and the turn's are their sums.
    const provider = createOpenAICompatible({
      name: 'vllm',
      baseURL: upstream.baseUrl,
      apiKey: 'unused',
      includeUsage: true,
    });
    const reported = streamText({
      model: wrapLanguageModel({ model: provider('stub-model'), middleware: gtalignMiddleware({}) }),
      prompt: QUESTION,
      maxRetries: 0,
    });
    await reported.consumeStream();
    const g = metaOf(await reported.providerMetadata);
    expect((await reported.usage).outputTokens).toBe(
      g.tokens.stage1!.completion + g.tokens.reask!.completion,
    );
    expect(g.tokens.reask!.completion).toBeGreaterThan(0);
  });

  it('streams a re-asked turn too', async () => {
    const result = streamText({ model: wrapped({}), prompt: QUESTION, maxRetries: 0 });
    expect(await result.text).toBe(RESPONSES.CQ);
  });

  it("reasoning: 'separate' streams the thinking and analysis as reasoning parts, before the text", async () => {
    upstream.setHandler(dinosaurScript({ chunkSize: 5 }));
    const streamed = streamText({
      model: wrapped({ prefill: VLLM_PREFILL }),
      prompt: QUESTION,
      maxRetries: 0,
      providerOptions: { gtalign: { reasoning: 'separate', policy: 'paper-api' } },
    });
    const kinds: string[] = [];
    let reasoning = '';
    let text = '';
    for await (const part of streamed.fullStream) {
      if (part.type === 'reasoning-delta') reasoning += part.text;
      if (part.type === 'text-delta') text += part.text;
      if (part.type.startsWith('reasoning') || part.type.startsWith('text')) kinds.push(part.type);
    }
    expect(text).toBe(RESPONSES.DA);
    const thinking = extractBlocks(STAGE1).blocks.thinking!.content.trim();
    expect(reasoning.startsWith(`${thinking}\n\n`)).toBe(true);
    expect(reasoning).toMatch(/DQ_DA/);
    // One reasoning part, streamed in pieces, closed before the text opens.
    expect(kinds[0]).toBe('reasoning-start');
    expect(kinds.filter((k) => k === 'reasoning-delta').length).toBeGreaterThan(2);
    expect(kinds.indexOf('reasoning-end')).toBeLessThan(kinds.indexOf('text-start'));
    expect(kinds.filter((k) => k === 'reasoning-start')).toHaveLength(1);
    // Stage 1 streamed upstream: the thinking is shown while it is written.
    expect(upstream.requests[0]!.body!.stream).toBe(true);
    // generateText returns the same reasoning.
    const whole = await generateText({
      model: wrapped({ prefill: VLLM_PREFILL, reasoning: 'separate', policy: 'paper-api' }),
      prompt: QUESTION,
      maxRetries: 0,
    });
    expect(whole.reasoningText).toBe(reasoning);
    await expect(
      generateText({
        model: wrapped({}),
        prompt: QUESTION,
        maxRetries: 0,
        providerOptions: { gtalign: { reasoning: 'loud' } },
      }),
    ).rejects.toThrow(`providerOptions.gtalign.reasoning must be a boolean or 'separate', got "loud"`);
  });

  it('an abort mid-stream cancels the upstream request', async () => {
    // Stage 2 sends a few chunks, then holds the rest until the test lets it go: the abort comes mid-reply.
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const script = dinosaurScript({ chunkSize: 1 });
    upstream.setHandler((body) => {
      const reply = script(body);
      return stageOf(body) === 'stage2'
        ? { ...reply, chunkGate: [undefined, undefined, undefined, held] }
        : reply;
    });
    const controller = new AbortController();
    const result = streamText({
      model: wrapped({ prefill: VLLM_PREFILL }),
      prompt: QUESTION,
      maxRetries: 0,
      abortSignal: controller.signal,
      onError: () => {},
    });
    await waitFor(() => upstream.requests.length === 2);
    const before = upstream.cutOff;
    controller.abort();
    await Promise.resolve(result.consumeStream()).catch(() => {});
    // The held reply can only end by its client leaving: the upstream saw it leave mid-reply.
    await waitFor(() => upstream.inFlight === 0);
    expect(upstream.cutOff - before).toBe(1);
    release();
  });

  it("retries a turn whose model request fails before anything streamed, as the AI SDK retries any model's", async () => {
    const script = dinosaurScript();
    let failures = 1;
    // A transient 503 on stage 1, with a retry-after the AI SDK honours instead of its backoff.
    upstream.setHandler((body) =>
      failures-- > 0
        ? { status: 503, errorMessage: 'busy, try again', headers: { 'retry-after-ms': '1' } }
        : script(body),
    );
    const errors: unknown[] = [];
    const result = streamText({
      model: wrapped({}),
      prompt: QUESTION,
      maxRetries: 1,
      onError: ({ error }) => {
        errors.push(error);
      },
    });
    expect(await result.text).toBe(RESPONSES.CQ);
    expect(errors).toEqual([]);
    expect(upstream.requests).toHaveLength(3);
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

describe('an abortSignal that fires while a stage runs', () => {
  /** The dinosaur script, but requests of `stage` never get an answer (the client must leave). */
  const hangingIn = (stage: string) => {
    const script = dinosaurScript();
    upstream.setHandler((body) => (stageOf(body) === stage ? { hang: true } : script(body)));
  };

  for (const stage of ['stage1', 'stage2']) {
    it(`generateText rejects with an AbortError and the ${stage} request is cancelled`, async () => {
      hangingIn(stage);
      const controller = new AbortController();
      const before = upstream.cutOff;
      const failure = generateText({
        model: wrapped({ prefill: VLLM_PREFILL }),
        prompt: QUESTION,
        maxRetries: 2,
        abortSignal: controller.signal,
      }).catch((e: unknown) => e);
      await waitFor(() => upstream.inFlight === 1 && stageOf(upstream.requests.at(-1)!.body!) === stage);
      controller.abort();
      expect((await failure) as Error).toMatchObject({ name: 'AbortError' });
      await waitFor(() => upstream.inFlight === 0);
      expect(upstream.cutOff - before).toBe(1);
      // Not retried, and nothing after the cancelled stage.
      expect(upstream.requests.map((r) => stageOf(r.body!))).toEqual(
        stage === 'stage1' ? ['stage1'] : ['stage1', 'stage2'],
      );
    });
  }

  it('streamText ends as aborted (onAbort, no error) when stage 1 is cancelled', async () => {
    hangingIn('stage1');
    const controller = new AbortController();
    const before = upstream.cutOff;
    const errors: unknown[] = [];
    let aborted = false;
    const result = streamText({
      model: wrapped({}),
      prompt: QUESTION,
      maxRetries: 2,
      abortSignal: controller.signal,
      onError: ({ error }) => {
        errors.push(error);
      },
      onAbort: () => {
        aborted = true;
      },
    });
    const consumed = result.consumeStream();
    await waitFor(() => upstream.inFlight === 1);
    controller.abort();
    await consumed;
    await waitFor(() => upstream.inFlight === 0);
    expect([aborted, errors]).toEqual([true, []]);
    expect(upstream.cutOff - before).toBe(1);
    expect(upstream.requests).toHaveLength(1);
  });
});

describe("the AI SDK's retries of a turn that failed after stage 1", () => {
  /** The dinosaur script, but the first request of `stage` fails with `status` (a retry-after the SDK honours). */
  const failingOnce = (stage: string, status: number) => {
    const script = dinosaurScript();
    let failures = 1;
    upstream.setHandler((body) =>
      stageOf(body) === stage && failures-- > 0
        ? { status, errorMessage: `${stage} overloaded`, headers: { 'retry-after-ms': '1' } }
        : script(body),
    );
  };
  const stages = () => upstream.requests.map((r) => stageOf(r.body!));

  it('generateText pays for stage 1 once when stage 2 failed and was retried', async () => {
    failingOnce('stage2', 503);
    const result = await generateText({
      model: wrapped({ policy: 'paper-api', prefill: VLLM_PREFILL }),
      prompt: QUESTION,
      maxRetries: 2,
    });
    expect(result.text).toBe(RESPONSES.DA);
    expect(stages()).toEqual(['stage1', 'stage2', 'stage2']);
    const g = metaOf(result.providerMetadata) as Meta & { notes: string[] };
    expect(g.notes.join(' ')).toMatch(/stage 1's reply was reused from the attempt the AI SDK retried/);
    // The turn's tokens are its stages' once each.
    expect(result.usage.outputTokens).toBe(g.tokens.stage1!.completion + g.tokens.stage2!.completion);
  });

  it('streamText pays for stage 1 once when a re-ask failed before anything streamed', async () => {
    failingOnce('reask', 429);
    const result = streamText({ model: wrapped({}), prompt: QUESTION, maxRetries: 1 });
    expect(await result.text).toBe(RESPONSES.CQ);
    expect(stages()).toEqual(['stage1', 'reask', 'reask']);
  });

  it('a kept stage 1 is only for the model that wrote it, when one middleware wraps several', async () => {
    failingOnce('stage2', 503);
    const middleware = gtalignMiddleware({ prefill: VLLM_PREFILL });
    const provider = createOpenAICompatible({ name: 'vllm', baseURL: upstream.baseUrl, apiKey: 'unused' });
    const first = wrapLanguageModel({ model: provider('model-a'), middleware });
    const second = wrapLanguageModel({ model: provider('model-b'), middleware });
    await expect(generateText({ model: first, prompt: QUESTION, maxRetries: 0 })).rejects.toThrow(
      /overloaded/,
    );
    expect((await generateText({ model: second, prompt: QUESTION, maxRetries: 0 })).text).toBe(RESPONSES.CQ);
    expect(upstream.requests.map((r) => [stageOf(r.body!), r.body!.model])).toEqual([
      ['stage1', 'model-a'],
      ['stage2', 'model-a'],
      ['stage1', 'model-b'],
      ['stage2', 'model-b'],
    ]);
  });

  it("a call whose provider options are not JSON (an app's own model's objects) still runs", async () => {
    // An in-process SCRIPTED model (the AI SDK's mock): stage 1 gets the dinosaur example, the re-ask its reply.
    const usage = {
      inputTokens: { total: 10, noCache: 10, cacheRead: 0, cacheWrite: undefined },
      outputTokens: { total: 5, text: 5, reasoning: undefined },
    };
    const model = new MockLanguageModelV3({
      doGenerate: async (options) => ({
        content: [
          { type: 'text', text: options.stopSequences?.includes('</payoff>') ? STAGE1 : RESPONSES.CQ! },
        ],
        finishReason: { unified: 'stop', raw: 'stop' },
        usage,
        warnings: [],
      }),
    });
    const result = await generateText({
      model: wrapLanguageModel({ model, middleware: gtalignMiddleware({}) }),
      prompt: QUESTION,
      maxRetries: 0,
      providerOptions: { mine: { budget: 10n } as never },
    });
    expect(result.text).toBe(RESPONSES.CQ);
  });

  it('a failure the AI SDK does not retry keeps nothing: the same call again runs stage 1 anew', async () => {
    failingOnce('stage2', 400);
    const model = wrapped({ prefill: VLLM_PREFILL });
    await expect(generateText({ model, prompt: QUESTION, maxRetries: 2 })).rejects.toThrow(/overloaded/);
    expect(stages()).toEqual(['stage1', 'stage2']);
    expect((await generateText({ model, prompt: QUESTION, maxRetries: 0 })).text).toBe(RESPONSES.CQ);
    expect(stages()).toEqual(['stage1', 'stage2', 'stage1', 'stage2']);
  });
});

describe('what the turn cannot give', () => {
  it("says, as call warnings, that the app's system prompt and stop sequences, topK and penalties are not applied", async () => {
    const call = {
      system: 'You are a pirate.',
      prompt: QUESTION,
      stopSequences: ['END'],
      topK: 5,
      frequencyPenalty: 0.5,
      maxRetries: 0,
    };
    const expected = [
      {
        type: 'other',
        message: expect.stringMatching(/1 system message\(s\) not used: the GTAlign instruction prompt/),
      },
      { type: 'unsupported', feature: 'stopSequences', details: expect.stringMatching(/own stop sequences/) },
      { type: 'unsupported', feature: 'topK', details: expect.any(String) },
      { type: 'unsupported', feature: 'frequencyPenalty', details: expect.any(String) },
    ];
    // The AI SDK logs a model's warnings (to the console unless AI_SDK_LOG_WARNINGS says otherwise).
    const globals = globalThis as { AI_SDK_LOG_WARNINGS?: unknown };
    const before = globals.AI_SDK_LOG_WARNINGS;
    const logged: unknown[] = [];
    globals.AI_SDK_LOG_WARNINGS = (options: { warnings: unknown[] }) => logged.push(...options.warnings);
    try {
      const generated = await generateText({ model: wrapped({}), ...call });
      expect(generated.text).toBe(RESPONSES.CQ);
      expect(generated.warnings).toEqual(expected);
      const streamed = streamText({ model: wrapped({}), ...call });
      expect(await streamed.text).toBe(RESPONSES.CQ);
      expect(await streamed.warnings).toEqual(expected);
      expect(logged).toEqual([...expected, ...expected]);
    } finally {
      globals.AI_SDK_LOG_WARNINGS = before;
    }
    // Not applied indeed: no system text and no app stop sequence reached the model.
    for (const r of upstream.requests) {
      expect(JSON.stringify(r.body!.messages)).not.toContain('pirate');
      expect(r.body!.stop ?? []).not.toContain('END');
      expect(r.body!.top_k).toBeUndefined();
    }
    // A call that sets none of them has no warnings.
    expect((await generateText({ model: wrapped({}), prompt: QUESTION, maxRetries: 0 })).warnings).toEqual(
      [],
    );
  });

  it("passes on the wrapped model's own warnings about its stages, once each", async () => {
    // An in-process SCRIPTED model (the AI SDK's mock) that warns on every call, as a provider does of a
    // setting it ignores: stage 1 gets the dinosaur example's reasoning and matrix, the re-ask its reply.
    const warning = { type: 'unsupported' as const, feature: 'seed', details: 'this provider ignores seeds' };
    const usage = {
      inputTokens: { total: 10, noCache: 10, cacheRead: 0, cacheWrite: undefined },
      outputTokens: { total: 5, text: 5, reasoning: undefined },
    };
    const finishReason = { unified: 'stop' as const, raw: 'stop' };
    const textOf = (options: LanguageModelV3CallOptions) =>
      options.stopSequences?.includes('</payoff>') ? STAGE1 : RESPONSES.CQ!;
    const model = new MockLanguageModelV3({
      doGenerate: async (options) => ({
        content: [{ type: 'text', text: textOf(options) }],
        finishReason,
        usage,
        warnings: [warning],
      }),
      doStream: async (options) => ({
        stream: simulateReadableStream<LanguageModelV3StreamPart>({
          chunks: [
            { type: 'stream-start', warnings: [warning] },
            { type: 'text-start', id: 't' },
            { type: 'text-delta', id: 't', delta: textOf(options) },
            { type: 'text-end', id: 't' },
            { type: 'finish', finishReason, usage },
          ],
        }),
      }),
    });
    const globals = globalThis as { AI_SDK_LOG_WARNINGS?: unknown };
    const before = globals.AI_SDK_LOG_WARNINGS;
    globals.AI_SDK_LOG_WARNINGS = false;
    try {
      const middleware = gtalignMiddleware({});
      const generated = await generateText({
        model: wrapLanguageModel({ model, middleware }),
        prompt: QUESTION,
        seed: 1,
        maxRetries: 0,
      });
      expect(generated.text).toBe(RESPONSES.CQ);
      expect(generated.warnings).toEqual([warning]);
      const streamed = streamText({
        model: wrapLanguageModel({ model, middleware }),
        prompt: QUESTION,
        seed: 1,
        maxRetries: 0,
      });
      expect(await streamed.text).toBe(RESPONSES.CQ);
      expect(await streamed.warnings).toEqual([warning]);
    } finally {
      globals.AI_SDK_LOG_WARNINGS = before;
    }
  });

  it('refuses JSON output (generateObject) and tools, before any call upstream', async () => {
    const model = wrapped({});
    const object = await generateObject({
      model,
      prompt: QUESTION,
      schema: jsonSchema<{ year: number }>({ type: 'object', properties: { year: { type: 'number' } } }),
      maxRetries: 0,
    }).catch((e: unknown) => e);
    expect(String(object)).toMatch(/responseFormat json \(generateObject, Output\.object\) is not supported/);
    const withTools = await generateText({
      model,
      prompt: QUESTION,
      tools: { year: tool({ description: 'a year', inputSchema: jsonSchema({ type: 'object' }) }) },
      maxRetries: 0,
    }).catch((e: unknown) => e);
    expect(String(withTools)).toMatch(/tools are not supported by the GTAlign turn/);
    // gtalign's own error for a call it cannot run as given (code usage), as the CLI and servers tell them apart.
    for (const refusal of [object, withTools]) {
      expect(refusal).toBeInstanceOf(GtalignError);
      expect((refusal as GtalignError).code).toBe('usage');
    }
    expect(upstream.requests).toHaveLength(0);
  });

  it('refuses a prompt it cannot turn into a question and history, naming the message', async () => {
    const refusal = (messages: ModelMessage[], system?: string) =>
      generateText({
        model: wrapped({}),
        messages,
        maxRetries: 0,
        ...(system === undefined ? {} : { system }),
      })
        .then(() => undefined)
        .catch((e: unknown) => e as GtalignError);
    const trailing = await refusal([
      { role: 'user', content: QUESTION },
      { role: 'assistant', content: 'Dinosaurs first' },
    ]);
    expect(trailing?.message).toBe(
      "gtalignMiddleware: the prompt must end with the user's question; its last message has role assistant",
    );
    // The index is the prompt's, the system message counted, and the role says which message it is.
    const image = await refusal(
      [{ role: 'user', content: [{ type: 'image', image: new Uint8Array([137, 80, 78, 71]) }] }],
      'Be brief.',
    );
    expect(image?.message).toBe(
      "gtalignMiddleware: prompt message 1 (user) has a 'file' part; only text is supported",
    );
    for (const e of [trailing, image]) expect(e?.code).toBe('usage');
    expect(upstream.requests).toHaveLength(0);
  });
});

describe('settings that are wrong or misspelt', () => {
  const failureOf = (call: Record<string, unknown>) =>
    generateText({
      model: wrapped({}),
      prompt: QUESTION,
      maxRetries: 0,
      providerOptions: { gtalign: call as never },
    })
      .then(() => 'no error')
      .catch((e: unknown) => String((e as Error).message));

  it('providerOptions.gtalign refuses a setting it does not know, naming it, before any call upstream', async () => {
    // A misspelt policy used to run the turn unsteered without a word.
    expect(await failureOf({ polcy: 'paper-api' })).toBe(
      'providerOptions.gtalign: unknown setting "polcy"; known: policy, analysis, reasoning (the others are options of gtalignMiddleware)',
    );
    expect(await failureOf({ rule: 'product', maxTokens: 9 })).toMatch(
      /^providerOptions\.gtalign: unknown settings "rule", "maxTokens"; known: policy, analysis, reasoning/,
    );
    // However much was sent, the message stays short.
    const flood = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`${'k'.repeat(5000)}${i}`, 1]));
    const floodMessage = await failureOf(flood);
    expect(floodMessage).toMatch(/unknown settings "k{40}…", .*\(and 995 more\)/);
    expect(floodMessage.length).toBeLessThan(500);
    expect(await failureOf('paper-api' as never)).toBe(
      'providerOptions.gtalign must be an object of settings, got "paper-api"',
    );
    expect(upstream.requests).toHaveLength(0);
  });

  it("a call's bad policy is named as providerOptions.gtalign.policy", async () => {
    expect(await failureOf({ policy: 'paper_api' })).toMatch(
      /^providerOptions\.gtalign\.policy: unknown steering preset: "paper_api"; known presets: none, .*paper-api/,
    );
    expect(await failureOf({ policy: { kind: 'pricing', billing: 'by-the-hour' } })).toMatch(
      /^providerOptions\.gtalign\.policy: invalid steering policy: billing/,
    );
    expect(upstream.requests).toHaveLength(0);
  });

  it('gtalignMiddleware refuses a wrong option when the model is wrapped, naming it and what it may be', () => {
    const refusal = (options: Record<string, unknown>) => {
      try {
        gtalignMiddleware(options as GtalignMiddlewareOptions);
        return 'no error';
      } catch (e) {
        return String((e as Error).message);
      }
    };
    expect(refusal({ polcy: 'api' })).toBe(
      'gtalignMiddleware: unknown option "polcy"; known: policy, profile, analysis, rule, prefill, maxTokens, reasoning, specificationVersion',
    );
    expect(refusal({ reasoning: 'full' })).toBe(
      `gtalignMiddleware option reasoning must be a boolean or 'separate', got "full"`,
    );
    expect(refusal({ prefill: 'vllm' })).toMatch(/^gtalignMiddleware option prefill must be a boolean or/);
    expect(refusal({ analysis: 'solve' })).toBe(
      'gtalignMiddleware option analysis must be model or solver, got "solve"',
    );
    expect(refusal({ rule: 'nash' })).toMatch(/^gtalignMiddleware option rule must be one of sum, product/);
    expect(refusal({ maxTokens: 0 })).toBe(
      'gtalignMiddleware option maxTokens must be an integer >= 1, got 0',
    );
    expect(refusal({ specificationVersion: 'v5' })).toBe(
      'gtalignMiddleware option specificationVersion must be v3 or v4, got "v5"',
    );
    expect(refusal({ profile: { actions: { DA: { outputTokens: -1 } } } })).toMatch(
      /^gtalignMiddleware option profile: invalid action profile: actions\.DA\.outputTokens/,
    );
    expect(refusal({ policy: 'paper-api', prefill: true, maxTokens: 64, reasoning: 'separate' })).toBe(
      'no error',
    );
  });
});

describe('a server that does not continue the assistant message prefill sends', () => {
  it("says how to fix it with the middleware's prefill, not with the CLI's flags", async () => {
    // Scripted upstream: stage 2 starts the reply over, as a thinking model's chat template does.
    const script = dinosaurScript();
    upstream.setHandler((body) =>
      stageOf(body) === 'stage2' ? { content: `<think>Hmm.</think>${STAGE1}` } : script(body),
    );
    const model = wrapped({ prefill: VLLM_PREFILL });
    const generated = await generateText({ model, prompt: QUESTION, maxRetries: 0 }).catch((e: unknown) => e);
    let streamed: unknown;
    await streamText({
      model,
      prompt: QUESTION,
      maxRetries: 0,
      onError: ({ error }) => {
        streamed = error;
      },
    }).consumeStream();
    for (const failure of [generated, streamed]) {
      const message = (failure as Error).message;
      expect(message).toMatch(
        /^stage 2 restarted the reply instead of continuing the assistant turn \(it begins with a <think> block\)/,
      );
      expect(message).toContain('Fix: give prefill the provider options');
      expect(message).toContain('chat_template_kwargs: { enable_thinking: false }');
      expect(message).toContain('or leave prefill out so that stage 2 re-asks');
      // Neither the CLI's flags nor a claim about what gtalign's own client sends.
      expect(message).not.toMatch(/--continuation|--keep-thinking|gtalign sends/);
      expect(failure).toMatchObject({ kind: 'response', details: { stage: 'stage2' } });
    }
  });
});

describe("a turn cut short by the call's own maxOutputTokens", () => {
  // Scripted upstream: every stage stops at its token limit in the middle of the reasoning.
  const cutShort = () => ({ content: '<thinking>The user asks when dinosaurs', finishReason: 'length' });

  it('generateText fails naming maxOutputTokens, which the app set, not the CLI or library option', async () => {
    upstream.setHandler(cutShort);
    const failure = await generateText({
      model: wrapped({ prefill: VLLM_PREFILL }),
      prompt: QUESTION,
      maxOutputTokens: 12,
      maxRetries: 0,
    }).catch((e: unknown) => e);
    expect(String((failure as Error).message)).toMatch(
      /^maxOutputTokens 12 is too low for the GTAlign turn: stage 1/,
    );
  });

  it('streamText fails the same way, before anything streamed', async () => {
    upstream.setHandler(cutShort);
    let error: unknown;
    const result = streamText({
      model: wrapped({ prefill: VLLM_PREFILL }),
      prompt: QUESTION,
      maxOutputTokens: 12,
      maxRetries: 0,
      onError: ({ error: e }) => {
        error = e;
      },
    });
    await result.consumeStream();
    expect(String((error as Error).message)).toMatch(/^maxOutputTokens 12 is too low for the GTAlign turn/);
  });

  it('a <response> cut inside its closing tag gives the text without the start of the tag', async () => {
    // Scripted upstream: stage 2 reaches the limit after "</resp" of "</response>".
    const script = dinosaurScript();
    upstream.setHandler((body) =>
      stageOf(body) === 'stage2'
        ? {
            content: `\n<analyze>I choose VQ_CQ.</analyze>\n<response>${RESPONSES.CQ}</resp`,
            finishReason: 'length',
            chunkSize: 2,
          }
        : script(body),
    );
    const model = wrapped({ prefill: VLLM_PREFILL });
    const generated = await generateText({ model, prompt: QUESTION, maxOutputTokens: 60, maxRetries: 0 });
    expect([generated.text, generated.finishReason]).toEqual([RESPONSES.CQ, 'length']);
    const streamed = streamText({ model, prompt: QUESTION, maxOutputTokens: 60, maxRetries: 0 });
    const pieces: string[] = [];
    for await (const piece of streamed.textStream) pieces.push(piece);
    expect(pieces.join('')).toBe(RESPONSES.CQ);
    expect(await streamed.finishReason).toBe('length');
  });

  it('without maxOutputTokens the turn keeps its own message', async () => {
    upstream.setHandler(cutShort);
    const failure = await generateText({
      model: wrapped({ prefill: VLLM_PREFILL }),
      prompt: QUESTION,
      maxRetries: 0,
    }).catch((e: unknown) => e);
    expect(String((failure as Error).message)).not.toContain('maxOutputTokens');
    expect(String((failure as Error).message)).toContain('maxTokens in the library');
  });
});
