/**
 * `gtalign serve` through the official `openai` npm client, unmodified, against a loopback upstream that
 * plays the paper's dinosaur example: non-streaming and streaming completions, per-request steering by body
 * field and header, the `gtalign` object, the full-reasoning option, and the errors a client relies on.
 */
import { gzipSync } from 'node:zlib';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { extractBlocks, isWellFormed } from '../../src/chain/blocks.js';
import { createOpenAIModel } from '../../src/llm/openai.js';
import type { RunningServer } from '../../src/server/listen.js';
import { type ProxyApp, type ProxyOptions, startProxyServer } from '../../src/server/proxy.js';
import { type OpenAIStubServer, startOpenAIStubServer, stubModel } from '../support/openai-stub-server.js';
import { waitFor } from '../support/wait-for.js';
import {
  dinosaurScript,
  MATRIX,
  PAPER_API_MATRIX,
  QUESTION,
  RESPONSES,
  STAGE1,
} from './scripted-upstream.js';

let upstream: OpenAIStubServer;
let proxy: RunningServer & { app: ProxyApp };
let client: OpenAI;
const KEY = 'sk-test-proxy-key';

async function startProxy(extra: Partial<ProxyOptions> = {}) {
  return startProxyServer({
    model: stubModel(upstream),
    modelName: 'gtalign-dino',
    apiKeys: [KEY],
    log: () => {},
    ...extra,
  });
}

beforeAll(async () => {
  upstream = await startOpenAIStubServer(dinosaurScript());
  proxy = await startProxy();
  client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: KEY });
});
afterAll(async () => {
  await proxy.close();
  await upstream.close();
});
beforeEach(() => {
  upstream.setHandler(dinosaurScript());
  upstream.requests.length = 0;
});

const ASK = [{ role: 'user' as const, content: QUESTION }];

interface GtalignObject {
  action: string;
  cell: string;
  matrix_before: unknown;
  matrix_after: unknown;
  policy: string;
  analysis: string;
  continuation: string;
  tokens: Record<string, { prompt: number; cached_prompt: number; completion: number }>;
  notes: string[];
}
const gtalignOf = (x: unknown): GtalignObject => (x as { gtalign: GtalignObject }).gtalign;

/** Params with gtalign's own body field (the client passes unknown fields through). */
function withGtalign<T extends object>(params: T, gtalign: Record<string, unknown>): T {
  return { ...params, gtalign } as T;
}

describe('POST /v1/chat/completions, non-streaming', () => {
  it('answers with the <response> text only and a gtalign object with action, cell, matrices, policy and tokens', async () => {
    const completion = await client.chat.completions.create({ model: 'gtalign-dino', messages: ASK });
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('gtalign-dino');
    expect(completion.choices[0]!.message.content).toBe(RESPONSES.CQ);
    expect(completion.choices[0]!.finish_reason).toBe('stop');
    const g = gtalignOf(completion);
    expect(g.action).toBe('CQ');
    expect(g.cell).toBe('VQ_CQ');
    expect(g.matrix_before).toEqual(MATRIX);
    expect(g.matrix_after).toEqual(MATRIX);
    expect(g.policy).toBe('none');
    expect(Object.keys(g.tokens)).toEqual(['stage1', 'stage2']);
    const completionTokens = g.tokens.stage1!.completion + g.tokens.stage2!.completion;
    expect(g.tokens.stage1!.completion).toBeGreaterThan(10);
    expect(completion.usage?.completion_tokens).toBe(completionTokens);
    expect(completion.usage?.prompt_tokens).toBe(g.tokens.stage1!.prompt + g.tokens.stage2!.prompt);
    // Two upstream calls: stage 1 stopping at </payoff>, stage 2 continuing the same assistant message.
    expect(upstream.requests).toHaveLength(2);
    expect(upstream.requests[1]!.body!.messages).toEqual([
      expect.objectContaining({ role: 'user' }),
      { role: 'assistant', content: STAGE1 },
    ]);
  });

  it('takes the policy from the gtalign body field: paper-api moves the choice to a direct answer', async () => {
    const completion = await client.chat.completions.create(
      withGtalign({ model: 'gtalign-dino', messages: ASK }, { policy: 'paper-api' }),
    );
    expect(completion.choices[0]!.message.content).toBe(RESPONSES.DA);
    const g = gtalignOf(completion);
    expect([g.action, g.cell]).toEqual(['DA', 'DQ_DA']);
    expect(g.matrix_before).toEqual(MATRIX);
    expect(g.matrix_after).toEqual(PAPER_API_MATRIX);
    expect(g.policy).toContain('paper-api');
  });

  it('takes the policy from the x-gtalign-policy header (a preset name or a JSON object); the body field wins', async () => {
    const byHeader = await client.chat.completions.create(
      { model: 'gtalign-dino', messages: ASK },
      { headers: { 'x-gtalign-policy': 'paper-api' } },
    );
    expect(gtalignOf(byHeader).action).toBe('DA');
    const fixed = JSON.stringify({
      kind: 'fixed',
      name: 'favour-aq',
      all: { LLM: 0, user: 0 },
      columns: { DA: { LLM: 0, user: 0 }, CQ: { LLM: 0, user: 0 }, AQ: { LLM: 3, user: 3 } },
    });
    const byJson = await client.chat.completions.create(
      { model: 'gtalign-dino', messages: ASK },
      { headers: { 'x-gtalign-policy': fixed } },
    );
    expect(gtalignOf(byJson).action).toBe('AQ');
    expect(byJson.choices[0]!.message.content).toBe(RESPONSES.AQ);
    const bodyWins = await client.chat.completions.create(
      withGtalign({ model: 'gtalign-dino', messages: ASK }, { policy: 'none' }),
      { headers: { 'x-gtalign-policy': 'paper-api' } },
    );
    expect(gtalignOf(bodyWins).action).toBe('CQ');
  });

  it('takes the analysis mode from the body or the x-gtalign-analysis header', async () => {
    const solver = await client.chat.completions.create(
      { model: 'gtalign-dino', messages: ASK },
      { headers: { 'x-gtalign-analysis': 'solver' } },
    );
    expect(gtalignOf(solver).analysis).toBe('solver');
    expect(solver.choices[0]!.message.content).toBe(RESPONSES.CQ);
    // gtalign wrote <analyze> into the prefix of stage 2.
    expect(JSON.stringify(upstream.requests[1]!.body!.messages)).toContain('<analyze>');
  });

  it('returns the whole four-block chain when the request asks for the reasoning', async () => {
    const completion = await client.chat.completions.create(
      withGtalign({ model: 'gtalign-dino', messages: ASK }, { reasoning: true, policy: 'paper-api' }),
    );
    const content = completion.choices[0]!.message.content!;
    expect(content.startsWith('<thinking>')).toBe(true);
    expect(content.endsWith(`<response>${RESPONSES.DA}</response>`)).toBe(true);
    expect(isWellFormed(extractBlocks(content))).toBe(true);
    const header = await client.chat.completions.create(
      { model: 'gtalign-dino', messages: ASK },
      { headers: { 'x-gtalign-reasoning': 'full' } },
    );
    expect(header.choices[0]!.message.content!.startsWith('<thinking>')).toBe(true);
  });

  it('passes earlier turns as history and notes a system prompt it did not use', async () => {
    const completion = await client.chat.completions.create({
      model: 'gtalign-dino',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Tell me about dinosaurs.' },
        { role: 'assistant', content: 'What would you like to know?' },
        { role: 'user', content: QUESTION },
      ],
    });
    const prompt = (upstream.requests[0]!.body!.messages as Array<{ content: string }>)[0]!.content;
    expect(prompt).toContain('What would you like to know?');
    expect(prompt).not.toContain('You are terse.');
    expect(gtalignOf(completion).notes.join(' ')).toMatch(/system\/developer message/);
  });
});

describe('POST /v1/chat/completions, streaming', () => {
  it('streams the response text as generated, only the <response> content, and ends with the gtalign object and usage', async () => {
    upstream.setHandler(dinosaurScript({ chunkSize: 3, chunkDelayMs: 2 }));
    const stream = await client.chat.completions.create(
      withGtalign(
        {
          model: 'gtalign-dino',
          messages: ASK,
          stream: true as const,
          stream_options: { include_usage: true },
        },
        { policy: 'paper-api' },
      ),
    );
    const pieces: string[] = [];
    let last: unknown;
    let usage: unknown;
    for await (const chunk of stream) {
      const piece = chunk.choices[0]?.delta.content;
      if (piece) pieces.push(piece);
      if (chunk.choices[0]?.finish_reason) last = chunk;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(pieces.join('')).toBe(RESPONSES.DA);
    expect(pieces.length).toBeGreaterThan(5);
    for (const p of pieces) expect(p).not.toMatch(/<\/?(response|analyze|payoff|thinking)/);
    const g = gtalignOf(last);
    expect([g.action, g.cell]).toEqual(['DA', 'DQ_DA']);
    expect(g.matrix_after).toEqual(PAPER_API_MATRIX);
    expect((last as { choices: Array<{ finish_reason: string }> }).choices[0]!.finish_reason).toBe('stop');
    expect(usage).toMatchObject({ completion_tokens: expect.any(Number), prompt_tokens: expect.any(Number) });
    // Stage 2 went upstream as a streaming request.
    expect(upstream.requests[1]!.body!.stream).toBe(true);
  });

  it('gives every chunk the id and created of the stream, across seconds, and usage summing both stages', async () => {
    // Stage 2's third upstream chunk waits until the clock has passed the second of the stream's first chunk.
    let release!: () => void;
    const nextSecond = new Promise<void>((resolve) => {
      release = resolve;
    });
    const script = dinosaurScript();
    upstream.setHandler((body) => {
      const reply = script(body);
      const stage2 = (body.messages as Array<{ role: string }>).at(-1)?.role === 'assistant';
      return stage2 ? { ...reply, chunkGate: [undefined, undefined, nextSecond] } : reply;
    });
    const stream = await client.chat.completions.create({
      model: 'gtalign-dino',
      messages: ASK,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) {
      if (chunks.length === 0) {
        const first = chunk.created;
        void waitFor(() => Math.floor(Date.now() / 1000) > first).then(release);
      }
      chunks.push(chunk);
    }
    expect(chunks.length).toBeGreaterThan(4);
    expect(new Set(chunks.map((c) => c.created)).size).toBe(1);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    const tokens = gtalignOf(chunks.find((c) => c.choices[0]?.finish_reason)).tokens;
    const usage = chunks.at(-1)!.usage!;
    expect(chunks.at(-1)!.choices).toEqual([]);
    expect(usage.prompt_tokens).toBe(tokens.stage1!.prompt + tokens.stage2!.prompt);
    expect(usage.completion_tokens).toBe(tokens.stage1!.completion + tokens.stage2!.completion);
    expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);
    expect(tokens.stage2!.completion).toBeGreaterThan(0);
  });

  it('streams the whole chain with x-gtalign-reasoning: full', async () => {
    const stream = await client.chat.completions.create(
      { model: 'gtalign-dino', messages: ASK, stream: true },
      { headers: { 'x-gtalign-reasoning': 'full' } },
    );
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text.startsWith(STAGE1)).toBe(true);
    expect(text.endsWith(`<response>${RESPONSES.CQ}</response>`)).toBe(true);
  });

  it('reports an upstream failure during stage 2 as an error event the client raises', async () => {
    const script = dinosaurScript();
    let calls = 0;
    upstream.setHandler((body) =>
      calls++ === 1 ? { status: 500, errorMessage: 'stage 2 exploded' } : script(body),
    );
    const stream = await client.chat.completions.create({
      model: 'gtalign-dino',
      messages: ASK,
      stream: true,
    });
    const read = async () => {
      for await (const _ of stream) {
        // drain
      }
    };
    await expect(read()).rejects.toThrow(/stage 2 exploded|upstream/);
  });

  it('a failure before any text (upstream down in stage 1) is a plain HTTP error, not a broken stream', async () => {
    upstream.setHandler(() => ({ status: 503, errorMessage: 'overloaded' }));
    const quick = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const err = await quick.chat.completions
      .create({ model: 'gtalign-dino', messages: ASK, stream: true })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
  });
});

describe('errors in the OpenAI format', () => {
  it('a bad or missing key is 401 AuthenticationError', async () => {
    const bad = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
    await expect(bad.chat.completions.create({ model: 'm', messages: ASK })).rejects.toBeInstanceOf(
      OpenAI.AuthenticationError,
    );
    const res = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: ASK }),
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({
      error: {
        message: expect.stringMatching(/missing API key/),
        type: 'authentication_error',
        param: null,
        code: 'invalid_api_key',
      },
    });
    expect(upstream.requests).toHaveLength(0);
  });

  it('a malformed body is 400 BadRequestError naming the field', async () => {
    const err = await client.chat.completions
      .create({ model: 'm', messages: [{ role: 'wizard', content: 'hi' }] as never })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.APIError>).param).toBe('messages.0.role');
    await expect(
      client.chat.completions.create({ model: 'm', messages: [{ role: 'assistant', content: 'hi' }] }),
    ).rejects.toThrow(/last message must be the user's question/);
    await expect(
      client.chat.completions.create(
        withGtalign({ model: 'm', messages: ASK }, { policy: 'no-such-preset' }),
      ),
    ).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(client.chat.completions.create({ model: 'm', messages: ASK, n: 2 })).rejects.toThrow(
      /n must be 1/,
    );
    const many = Array.from({ length: 300 }, () => ({ role: 'user' as const, content: 'hi' }));
    const tooMany = await client.chat.completions.create({ model: 'm', messages: many }).then(
      () => undefined,
      (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
    );
    expect(tooMany).toBeInstanceOf(OpenAI.BadRequestError);
    expect(tooMany!.code).toBe('too_many_messages');
    const res = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: '{"messages": [',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_json');
    // A body in Latin-1 (é as the one byte 0xE9) is refused by byte, not sent on with U+FFFD in its place.
    const latin = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: Buffer.from(
        JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'café?' }] }),
        'latin1',
      ),
    });
    expect(latin.status).toBe(400);
    expect(((await latin.json()) as { error: { message: string } }).error.message).toMatch(
      /^the request body is not valid UTF-8: byte 55 of the body \(0xE9\) does not start a valid character/,
    );
    expect(upstream.requests).toHaveLength(0);
  });

  it('unknown paths are 404, wrong methods 405, oversized bodies 413, non-JSON bodies 415', async () => {
    const auth = { authorization: `Bearer ${KEY}` };
    expect((await fetch(`${proxy.url}/v1/nothing`, { headers: auth })).status).toBe(404);
    const wrong = await fetch(`${proxy.url}/v1/chat/completions`, { headers: auth });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    const big = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(2 << 20) }] }),
    });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe('request_too_large');
    const text = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'text/plain' },
      body: JSON.stringify({ model: 'm', messages: ASK }),
    });
    expect(text.status).toBe(415);
    // A compressed body is named as such, not read as text whose first byte is bad UTF-8.
    const gzipped = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(JSON.stringify({ model: 'm', messages: ASK })),
    });
    expect(gzipped.status).toBe(415);
    expect(((await gzipped.json()) as { error: unknown }).error).toMatchObject({
      code: 'unsupported_content_encoding',
      message: expect.stringMatching(/content-encoding 'gzip'; send it uncompressed/),
    });
    // The server is still fine.
    const ok = await client.chat.completions.create({ model: 'm', messages: ASK });
    expect(ok.choices[0]!.message.content).toBe(RESPONSES.CQ);
  });

  it('an upstream that is down is 502, one that errors is 502 with its message, one that hangs is 504', async () => {
    const deadUpstream = await startOpenAIStubServer();
    const deadUrl = deadUpstream.baseUrl;
    await deadUpstream.close();
    const dead = await startProxyServer({
      model: createOpenAIModel({ baseUrl: deadUrl, model: 'x', vendor: 'vllm', maxRetries: 0 }),
      log: () => {},
    });
    const c = new OpenAI({ baseURL: `${dead.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const down = await c.chat.completions.create({ model: 'x', messages: ASK }).then(
      () => undefined,
      (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
    );
    expect(down).toBeInstanceOf(OpenAI.InternalServerError);
    expect(down!.status).toBe(502);
    expect(down!.message).toMatch(/upstream error/);
    await dead.close();

    upstream.setHandler(() => ({ status: 400, errorMessage: 'context length exceeded' }));
    const quick = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const rejected = await quick.chat.completions.create({ model: 'x', messages: ASK }).then(
      () => undefined,
      (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
    );
    expect(rejected!.status).toBe(502);
    expect(rejected!.message).toMatch(/context length exceeded/);

    upstream.setHandler(() => ({ hang: true }));
    const slow = await startProxy({ upstreamTimeoutMs: 300 });
    const s = new OpenAI({ baseURL: `${slow.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const timedOut = await s.chat.completions.create({ model: 'x', messages: ASK }).then(
      () => undefined,
      (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
    );
    expect(timedOut!.status).toBe(504);
    // The hung upstream request was aborted, not leaked.
    await waitFor(() => upstream.inFlight === 0);
    await slow.close();
  });

  it('a model that writes no valid matrix is 502 with the reason', async () => {
    upstream.setHandler(() => ({ content: '<thinking>hmm</thinking><payoff>not json</payoff>' }));
    const quick = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const err = await quick.chat.completions.create({ model: 'x', messages: ASK }).then(
      () => undefined,
      (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
    );
    expect(err!.status).toBe(502);
    expect(err!.message).toMatch(/payoff/);
  });

  it("an upstream's refusal of a conversation too long for its context is a 400 context_length_exceeded", async () => {
    // Each server's own words (the bodies as vLLM, llama.cpp, OpenAI and SGLang send them).
    const refusals = [
      '{"error":{"message":"\'max_tokens\' or \'max_completion_tokens\' is too large: 1024. This model\'s maximum context length is 4096 tokens and your request has 3500 input tokens (1024 > 4096 - 3500).","type":"BadRequestError","param":null,"code":400}}',
      '{"error":{"code":400,"message":"request (4476 tokens) exceeds the available context size (4096 tokens)","type":"exceed_context_size_error","n_prompt_tokens":4476,"n_ctx":4096}}',
      '{"error":{"message":"This model\'s maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}',
      '{"object":"error","message":"Input length (5000 tokens) exceeds the maximum allowed length (4096 tokens).","type":"BadRequestError","param":null,"code":400}',
    ];
    const quick = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const failure = () =>
      quick.chat.completions.create({ model: 'x', messages: ASK }).then(
        () => undefined,
        (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
      );
    for (const raw of refusals) {
      upstream.setHandler(() => ({ status: 400, raw }));
      const err = await failure();
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err!.code).toBe('context_length_exceeded');
      expect(err!.message).toContain(JSON.parse(raw).error?.message ?? JSON.parse(raw).message);
    }
    // Another refusal stays an upstream failure.
    upstream.setHandler(() => ({ status: 400, errorMessage: 'unknown field: structured_outputs' }));
    expect((await failure())!.status).toBe(502);
  });
});

describe('client disconnects', () => {
  it('a client that goes away mid-stream aborts the upstream request', async () => {
    upstream.setHandler(dinosaurScript({ chunkSize: 1, chunkDelayMs: 50 }));
    const controller = new AbortController();
    const res = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ model: 'm', messages: ASK, stream: true }),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    // The first event comes once stage 1 is done; stage 2 is then streaming upstream at 50 ms a character.
    let seen = '';
    while (!seen.includes('"role":"assistant"'))
      seen += new TextDecoder().decode((await reader.read()).value);
    await new Promise((r) => setTimeout(r, 150));
    expect(upstream.inFlight).toBe(1);
    controller.abort();
    // The full stage 2 would take ~9 s; the abort ends it at once.
    await waitFor(() => upstream.inFlight === 0);
    await waitFor(() => proxy.app.activeTurns === 0);
  });
});

describe('GET routes', () => {
  it('/v1/models lists the served name; /healthz needs no key; /metrics counts requests, actions, tokens and upstream errors', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['gtalign-dino']);
    const health = await fetch(`${proxy.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok' });
    expect((await fetch(`${proxy.url}/metrics`)).status).toBe(401);
    const res = await fetch(`${proxy.url}/metrics`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toMatch(
      /gtalign_http_requests_total\{route="\/v1\/chat\/completions",method="POST",status="200"\} [1-9]/,
    );
    expect(text).toMatch(
      /gtalign_http_requests_total\{route="\/v1\/chat\/completions",method="POST",status="401"\}/,
    );
    expect(text).toMatch(/gtalign_actions_total\{action="CQ",cell="VQ_CQ"\} [1-9]/);
    expect(text).toMatch(/gtalign_actions_total\{action="DA",cell="DQ_DA"\} [1-9]/);
    expect(text).toMatch(/gtalign_tokens_total\{stage="stage1",kind="completion"\} [1-9]/);
    expect(text).toMatch(/gtalign_upstream_errors_total\{kind="http"\} [1-9]/);
    expect(text).toMatch(
      /gtalign_http_request_duration_seconds_bucket\{route="\/v1\/chat\/completions",le="\+Inf"\}/,
    );
    expect(text).toMatch(/gtalign_client_disconnects_total\{route="\/v1\/chat\/completions"\} [1-9]/);
  });
});
