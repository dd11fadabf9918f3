import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { buildFormatRegExp, buildGbnf, buildRegex } from '../../src/chain/grammar.js';
import { DEFAULT_SPEC, payoffKeyOrder } from '../../src/game/spec.js';
import {
  chatCompletionsUrl,
  createOpenAIModel,
  type OpenAIModelOptions,
  type OpenAIVendor,
  resolveApiKey,
} from '../../src/llm/openai.js';
import { ChatModelError, type GenerateRequest, type StreamEvent } from '../../src/llm/types.js';
import { startEndlessUpstream } from '../server/endless-upstream.js';
import {
  type OpenAIStubServer,
  type StubHandler,
  startOpenAIStubServer,
} from '../support/openai-stub-server.js';
import { waitFor } from '../support/wait-for.js';

const servers: OpenAIStubServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function stub(handler?: StubHandler): Promise<OpenAIStubServer> {
  const server = await startOpenAIStubServer(handler);
  servers.push(server);
  return server;
}

function model(server: OpenAIStubServer, options: Partial<OpenAIModelOptions> = {}) {
  return createOpenAIModel({
    baseUrl: server.baseUrl,
    model: 'test-model',
    env: {},
    retryDelayMs: 1,
    ...options,
  });
}

async function collect(
  iterable: AsyncIterable<StreamEvent>,
): Promise<{ texts: string[]; done: StreamEvent[] }> {
  const texts: string[] = [];
  const done: StreamEvent[] = [];
  for await (const ev of iterable) {
    if (ev.type === 'text') texts.push(ev.text);
    else done.push(ev);
  }
  return { texts, done };
}

async function caught(promise: Promise<unknown>): Promise<ChatModelError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ChatModelError);
    return err as ChatModelError;
  }
  throw new Error('expected a ChatModelError');
}

async function caughtStream(
  iterable: AsyncIterable<StreamEvent>,
  texts: string[] = [],
): Promise<ChatModelError> {
  return caught(
    (async () => {
      for await (const ev of iterable) if (ev.type === 'text') texts.push(ev.text);
    })(),
  );
}

/** A chat completion body as a server would send it, with extra fields merged in. */
function completion(
  content: string,
  extra: Record<string, unknown> = {},
  choiceExtra: Record<string, unknown> = {},
) {
  return JSON.stringify({
    id: 'x',
    object: 'chat.completion',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop', ...choiceExtra }],
    ...extra,
  });
}

const SSE = { 'content-type': 'text/event-stream' };

const MESSAGES: GenerateRequest['messages'] = [
  { role: 'system', content: 'Answer in four blocks.' },
  { role: 'user', content: 'What is 2+2?' },
];

const STAGE1_REGEX = buildRegex(DEFAULT_SPEC, { endAt: 'payoff' });
const MATRIX = `{${payoffKeyOrder(DEFAULT_SPEC)
  .map((k, i) => `"${k}": {"LLM": ${i}, "user": ${i + 0.5}}`)
  .join(', ')}}`;
/** A stage-1 output as the server returns it when stopped at `</payoff>` (stop string cut). */
const STAGE1_TEXT = `<thinking>The user asks a clear question.</thinking>\n<payoff>${MATRIX}`;
const PREFIX = `${STAGE1_TEXT}</payoff>\n`;

describe('chatCompletionsUrl', () => {
  it('normalizes trailing slashes and adds /v1 only to a URL without a path', () => {
    expect(chatCompletionsUrl('http://h:8000')).toBe('http://h:8000/v1/chat/completions');
    expect(chatCompletionsUrl('http://h:8000/')).toBe('http://h:8000/v1/chat/completions');
    expect(chatCompletionsUrl('http://h:8000/v1')).toBe('http://h:8000/v1/chat/completions');
    expect(chatCompletionsUrl('http://h:8000/v1//')).toBe('http://h:8000/v1/chat/completions');
    expect(chatCompletionsUrl('https://h/api/openai/v1beta/')).toBe(
      'https://h/api/openai/v1beta/chat/completions',
    );
    expect(chatCompletionsUrl('http://h/v1/chat/completions')).toBe('http://h/v1/chat/completions');
    expect(chatCompletionsUrl('https://h/openai?api-version=2024')).toBe(
      'https://h/openai/chat/completions?api-version=2024',
    );
  });

  it('rejects what is not an http(s) URL', () => {
    expect(() => chatCompletionsUrl('localhost:8000')).toThrow(ChatModelError);
    expect(() => chatCompletionsUrl('not a url')).toThrow(/invalid baseUrl/);
  });
});

describe('API key', () => {
  it('prefers the explicit key, then the named variable, and falls back to OPENAI_API_KEY only by default', () => {
    const env = { GTALIGN_API_KEY: 'g', OPENAI_API_KEY: 'o', MINE: 'm' };
    expect(resolveApiKey({ apiKey: 'k', env })).toBe('k');
    expect(resolveApiKey({ env })).toBe('g');
    expect(resolveApiKey({ env: { OPENAI_API_KEY: 'o' } })).toBe('o');
    expect(resolveApiKey({ apiKeyEnv: 'MINE', env })).toBe('m');
    expect(resolveApiKey({ apiKeyEnv: 'MISSING', env })).toBeUndefined();
  });

  it('sends the key as a bearer token, and no Authorization header without one', async () => {
    const server = await stub(() => ({ content: 'ok' }));
    await model(server, { env: { GTALIGN_API_KEY: 'sekret' } }).generate({ messages: MESSAGES });
    await model(server).generate({ messages: MESSAGES });
    expect(server.requests[0]?.headers.authorization).toBe('Bearer sekret');
    expect(server.requests[1]?.headers.authorization).toBeUndefined();
  });
});

describe('request bodies per vendor', () => {
  const base = {
    model: 'test-model',
    max_tokens: 256,
    temperature: 0.2,
    seed: 7,
    stop: ['</payoff>'],
    stream: false,
  };
  const request: GenerateRequest = {
    messages: MESSAGES,
    maxTokens: 256,
    temperature: 0.2,
    seed: 7,
    stop: ['</payoff>'],
  };
  const continued = [...MESSAGES, { role: 'assistant', content: PREFIX }];
  // Thinking is switched off when continuing a prefix on the servers whose templates take kwargs.
  const thinkingOff = { chat_template_kwargs: { enable_thinking: false } };
  const gbnf = buildGbnf(DEFAULT_SPEC, { endAt: 'payoff' });

  const cases: Array<{
    vendor: OpenAIVendor;
    continuation: Record<string, unknown> | 'unsupported';
    constrained:
      | { constraint: GenerateRequest['constraint']; fields: Record<string, unknown> }
      | 'unsupported';
  }> = [
    {
      vendor: 'vllm',
      continuation: { continue_final_message: true, add_generation_prompt: false, ...thinkingOff },
      constrained: {
        constraint: { kind: 'regex', pattern: STAGE1_REGEX },
        fields: { structured_outputs: { regex: STAGE1_REGEX } },
      },
    },
    {
      vendor: 'sglang',
      continuation: { continue_final_message: true, add_generation_prompt: false, ...thinkingOff },
      constrained: { constraint: { kind: 'regex', pattern: STAGE1_REGEX }, fields: { regex: STAGE1_REGEX } },
    },
    {
      vendor: 'llamacpp',
      continuation: thinkingOff,
      constrained: { constraint: { kind: 'gbnf', grammar: gbnf }, fields: { grammar: gbnf } },
    },
    { vendor: 'ollama', continuation: {}, constrained: 'unsupported' },
    { vendor: 'openai', continuation: 'unsupported', constrained: 'unsupported' },
  ];

  for (const c of cases) {
    it(`${c.vendor}: plain, continuation and constrained requests`, async () => {
      const server = await stub(() => ({ content: STAGE1_TEXT }));
      const m = model(server, { vendor: c.vendor });

      await m.generate(request);
      expect(server.requests.at(-1)?.body).toEqual({ ...base, messages: MESSAGES });

      if (c.continuation === 'unsupported') {
        expect(m.capabilities.continuation).toBe(false);
        const err = await caught(m.generate({ ...request, assistantPrefix: PREFIX }));
        expect(err.message).toMatch(/cannot continue a partial assistant message/);
      } else {
        expect(m.capabilities.continuation).toBe(true);
        await m.generate({ ...request, assistantPrefix: PREFIX });
        expect(server.requests.at(-1)?.body).toEqual({ ...base, messages: continued, ...c.continuation });
      }

      if (c.constrained === 'unsupported') {
        expect(m.capabilities.regex || m.capabilities.gbnf).toBe(false);
        for (const constraint of [
          { kind: 'regex', pattern: STAGE1_REGEX },
          { kind: 'gbnf', grammar: gbnf },
        ] as const) {
          const err = await caught(m.generate({ ...request, constraint }));
          expect(err.message).toMatch(new RegExp(`cannot apply a ${constraint.kind} constraint`));
        }
      } else {
        await m.generate({ ...request, constraint: c.constrained.constraint });
        expect(server.requests.at(-1)?.body).toEqual({
          ...base,
          messages: MESSAGES,
          ...c.constrained.fields,
        });
      }
      // Refused requests never reach the server.
      const sent = 1 + (c.continuation === 'unsupported' ? 0 : 1) + (c.constrained === 'unsupported' ? 0 : 1);
      expect(server.requests).toHaveLength(sent);
    });
  }

  it('refuses the constraint kinds a vendor does not take, before sending', async () => {
    const server = await stub();
    const vllm = model(server, { vendor: 'vllm' });
    const llama = model(server, { vendor: 'llamacpp' });
    expect(
      (await caught(vllm.generate({ ...request, constraint: { kind: 'gbnf', grammar: gbnf } }))).message,
    ).toMatch(/cannot apply a gbnf constraint \(it supports regex\)/);
    expect(
      (await caught(llama.generate({ ...request, constraint: { kind: 'regex', pattern: 'a' } }))).message,
    ).toMatch(/cannot apply a regex constraint \(it supports gbnf\)/);
    expect(server.requests).toHaveLength(0);
  });

  it('vllm: sends the legacy guided_regex field when asked', async () => {
    const server = await stub(() => ({ content: STAGE1_TEXT }));
    await model(server, { vendor: 'vllm', vllmConstraintApi: 'guided' }).generate({
      ...request,
      constraint: { kind: 'regex', pattern: STAGE1_REGEX },
    });
    expect(server.requests[0]?.body).toEqual({ ...base, messages: MESSAGES, guided_regex: STAGE1_REGEX });
  });

  it('llamacpp: sends the continuation flags only when asked', async () => {
    const server = await stub(() => ({ content: 'x' }));
    await model(server, { vendor: 'llamacpp', llamacppContinueFlag: true }).generate({
      ...request,
      assistantPrefix: PREFIX,
    });
    expect(server.requests[0]?.body).toEqual({
      ...base,
      messages: continued,
      continue_final_message: true,
      add_generation_prompt: false,
      ...thinkingOff,
    });
  });

  it('streaming requests ask for usage; extraBody is merged but cannot override what the backend sets', async () => {
    const server = await stub(() => ({ content: 'x' }));
    const m = model(server, {
      vendor: 'vllm',
      extraBody: { chat_template_kwargs: { enable_thinking: false }, model: 'other', top_p: 0.9 },
    });
    await collect(m.stream({ messages: MESSAGES }));
    expect(server.requests[0]?.body).toEqual({
      model: 'test-model',
      messages: MESSAGES,
      chat_template_kwargs: { enable_thinking: false },
      top_p: 0.9,
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('an empty prefix is no prefix; a prefix after an assistant message is refused', async () => {
    const server = await stub(() => ({ content: 'x' }));
    const m = model(server, { vendor: 'vllm' });
    await m.generate({ messages: MESSAGES, assistantPrefix: '' });
    expect(server.requests[0]?.body).toEqual({ model: 'test-model', messages: MESSAGES, stream: false });
    const err = await caught(
      m.generate({ messages: [...MESSAGES, { role: 'assistant', content: 'a' }], assistantPrefix: 'b' }),
    );
    expect(err.message).toMatch(/already end with an assistant message/);
    expect(server.requests).toHaveLength(1);
  });
});

describe('results', () => {
  it('streaming reassembles exactly the non-streaming text, with the same finish and usage', async () => {
    const text = 'Ünïcode 🎉 mixed\r\nlines\n\n<response>4</response> and emoji 👩‍👩‍👧 end';
    for (const chunkSize of [1, 3, 7, 1000]) {
      const server = await stub(() => ({ content: text, chunkSize }));
      const m = model(server, { vendor: 'vllm' });
      const plain = await m.generate({ messages: MESSAGES });
      const streamed = await collect(m.stream({ messages: MESSAGES }));
      expect(plain.text).toBe(text);
      expect(streamed.texts.join('')).toBe(text);
      expect(streamed.texts.length).toBeGreaterThan(chunkSize === 1000 ? 0 : 3);
      expect(streamed.done).toHaveLength(1);
      const done = streamed.done[0];
      if (done?.type !== 'done') throw new Error('no done event');
      expect(done.result.text).toBe(text);
      expect(done.result.finishReason).toBe('stop');
      expect(done.result.usage).toEqual(plain.usage);
      expect(plain.usage.completionTokens).toBeGreaterThan(0);
    }
  });

  it('reads prompt, completion and cached tokens (OpenAI / vLLM details, llama.cpp timings)', async () => {
    const replies = [
      completion('a', {
        usage: { prompt_tokens: 120, completion_tokens: 9, prompt_tokens_details: { cached_tokens: 96 } },
      }),
      completion('b', {
        usage: { prompt_tokens: 120, completion_tokens: 9 },
        timings: { cache_n: 100, prompt_n: 20, predicted_n: 9 },
      }),
      completion('c', { timings: { cache_n: 64, prompt_n: 6, predicted_n: 3 } }),
      completion('d', { usage: { prompt_tokens: 5, completion_tokens: 1, prompt_tokens_details: null } }),
      completion('e'),
    ];
    const server = await stub((_b, i) => ({ raw: replies[i] ?? '' }));
    const m = model(server, { vendor: 'llamacpp' });
    const usages = [];
    for (let i = 0; i < replies.length; i++) usages.push((await m.generate({ messages: MESSAGES })).usage);
    expect(usages).toEqual([
      { promptTokens: 120, cachedPromptTokens: 96, completionTokens: 9 },
      { promptTokens: 120, cachedPromptTokens: 100, completionTokens: 9 },
      { promptTokens: 70, cachedPromptTokens: 64, completionTokens: 3 },
      { promptTokens: 5, cachedPromptTokens: 0, completionTokens: 1 },
      { promptTokens: 0, cachedPromptTokens: 0, completionTokens: 0 },
    ]);
    expect(m.capabilities.cacheReport).toBe(true);
  });

  it('reads usage with cached tokens from a streamed usage chunk, CRLF lines and keep-alive comments', async () => {
    const chunk = (o: unknown) => `data: ${JSON.stringify(o)}\r\n\r\n`;
    const raw =
      ': keep-alive\r\n\r\n' +
      chunk({ choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] }) +
      chunk({ choices: [{ index: 0, delta: { content: 'Hel' }, finish_reason: null }] }) +
      ': ping\r\n' +
      chunk({ choices: [{ index: 0, delta: { content: 'lo' }, finish_reason: 'length' }] }) +
      chunk({
        choices: [],
        usage: { prompt_tokens: 50, completion_tokens: 2, prompt_tokens_details: { cached_tokens: 48 } },
      }) +
      'data: [DONE]\r\n\r\n';
    const server = await stub(() => ({ raw, headers: SSE }));
    const { texts, done } = await collect(model(server, { vendor: 'vllm' }).stream({ messages: MESSAGES }));
    expect(texts.join('')).toBe('Hello');
    expect(done[0]).toMatchObject({
      type: 'done',
      result: {
        text: 'Hello',
        finishReason: 'length',
        usage: { promptTokens: 50, cachedPromptTokens: 48, completionTokens: 2 },
      },
    });
  });

  it('knows which stop string ended generation', async () => {
    const replies = [
      // vLLM reports the matched string in stop_reason, null for EOS.
      completion('x', {}, { stop_reason: '</payoff>' }),
      completion('x', {}, { stop_reason: null }),
      // SGLang reports matched_stop: the string, or the EOS token id.
      completion('x', {}, { matched_stop: '</analyze>' }),
      completion('x', {}, { matched_stop: 151645 }),
      // Not reported: presumed only when there is a single stop string.
      completion('x'),
      completion('x'),
      completion('x', {}, { finish_reason: 'length' }),
    ];
    const server = await stub((_b, i) => ({ raw: replies[i] ?? '' }));
    const m = model(server, { vendor: 'vllm' });
    const two = { messages: MESSAGES, stop: ['</payoff>', '</analyze>'] };
    const one = { messages: MESSAGES, stop: ['</payoff>'] };
    const results = [];
    for (const req of [two, two, two, two, one, two, one]) results.push(await m.generate(req));
    expect(results.map((r) => r.stoppedBy)).toEqual([
      '</payoff>',
      undefined,
      '</analyze>',
      undefined,
      '</payoff>',
      undefined,
      undefined,
    ]);
    expect(results.map((r) => r.finishReason)).toEqual([
      'stop',
      'stop',
      'stop',
      'stop',
      'stop',
      'stop',
      'length',
    ]);
  });

  it('reads the stop string from a streamed stop_reason', async () => {
    const raw =
      `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'abc' }, finish_reason: null }] })}\n\n` +
      `data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: 'stop', stop_reason: '</payoff>' }] })}\n\n` +
      'data: [DONE]\n\n';
    const server = await stub(() => ({ raw, headers: SSE }));
    const { done } = await collect(
      model(server, { vendor: 'vllm' }).stream({ messages: MESSAGES, stop: ['</payoff>', '</x>'] }),
    );
    expect(done[0]).toMatchObject({ result: { text: 'abc', stoppedBy: '</payoff>', finishReason: 'stop' } });
  });
});

describe('constraints the server ignored', () => {
  const constraint = { kind: 'regex', pattern: STAGE1_REGEX } as const;

  it('accepts a conforming output (the cut stop string counted) and rejects one that breaks the constraint', async () => {
    const bad = STAGE1_TEXT.replace('"LLM": 1', '"LLM": "high"');
    const server = await stub((_b, i) => ({ content: i === 0 ? STAGE1_TEXT : bad }));
    const m = model(server, { vendor: 'vllm' });
    const request = { messages: MESSAGES, stop: ['</payoff>'], constraint };
    const ok = await m.generate(request);
    expect(ok.text).toBe(STAGE1_TEXT);
    const err = await caught(m.generate(request));
    expect(err.message).toMatch(/violates the regex constraint \(the server may have ignored it\)/);
    expect(err.details.body).toBe(bad);
  });

  it('detects the violation at the end of a stream, after the text was delivered', async () => {
    const server = await stub(() => ({ content: 'I will just answer: 4', chunkSize: 5 }));
    const texts: string[] = [];
    const err = await caughtStream(
      model(server, { vendor: 'sglang' }).stream({ messages: MESSAGES, constraint }),
      texts,
    );
    expect(texts.join('')).toBe('I will just answer: 4');
    expect(err.message).toMatch(/violates the regex constraint/);
  });

  it('checks a gbnf constraint through its check RegExp, and leaves truncated outputs alone', async () => {
    const server = await stub((_b, i) => ({
      content: 'plain text',
      finishReason: i === 1 ? 'length' : 'stop',
    }));
    const m = model(server, { vendor: 'llamacpp' });
    const gbnf = {
      kind: 'gbnf',
      grammar: buildGbnf(DEFAULT_SPEC),
      check: buildFormatRegExp(DEFAULT_SPEC),
    } as const;
    const err = await caught(m.generate({ messages: MESSAGES, constraint: gbnf }));
    expect(err.message).toMatch(/violates the gbnf constraint/);
    const truncated = await m.generate({ messages: MESSAGES, constraint: gbnf });
    expect(truncated.finishReason).toBe('length');
    // Without a check, a gbnf constraint is trusted.
    const trusted = await m.generate({
      messages: MESSAGES,
      constraint: { kind: 'gbnf', grammar: 'root ::= "a"' },
    });
    expect(trusted.text).toBe('plain text');
  });

  it('refuses, before sending, a regex it cannot compile to check', async () => {
    const server = await stub();
    const err = await caught(
      model(server, { vendor: 'vllm' }).generate({
        messages: MESSAGES,
        constraint: { kind: 'regex', pattern: '(?P<name>a)' },
      }),
    );
    expect(err.message).toMatch(/not a JavaScript regular expression.*constraint\.check/);
    expect(server.requests).toHaveLength(0);
  });
});

describe('echoed prefixes', () => {
  it('cuts the prefix when the server echoes it, in full and in streamed pieces', async () => {
    const server = await stub(() => ({ content: `${PREFIX}<analyze>ok</analyze>`, chunkSize: 9 }));
    const m = model(server, { vendor: 'llamacpp' });
    const request = { messages: MESSAGES, assistantPrefix: PREFIX };
    expect((await m.generate(request)).text).toBe('<analyze>ok</analyze>');
    const { texts, done } = await collect(m.stream(request));
    expect(texts.join('')).toBe('<analyze>ok</analyze>');
    expect(done[0]).toMatchObject({ result: { text: '<analyze>ok</analyze>' } });
  });

  it('keeps content that only starts like the prefix, and keeps the echo when told to', async () => {
    const partial = `${PREFIX.slice(0, 12)}different`;
    const server = await stub((_b, i) => ({ content: i < 2 ? partial : `${PREFIX}tail`, chunkSize: 4 }));
    const m = model(server, { vendor: 'vllm' });
    const request = { messages: MESSAGES, assistantPrefix: PREFIX };
    expect((await m.generate(request)).text).toBe(partial);
    expect((await collect(m.stream(request))).texts.join('')).toBe(partial);
    const keep = model(server, { vendor: 'vllm', stripEchoedPrefix: false });
    expect((await keep.generate(request)).text).toBe(`${PREFIX}tail`);
  });

  it('releases held-back text when a short stream ends inside the prefix', async () => {
    const server = await stub(() => ({ content: PREFIX.slice(0, 5), chunkSize: 2 }));
    const { texts } = await collect(
      model(server, { vendor: 'vllm' }).stream({ messages: MESSAGES, assistantPrefix: PREFIX }),
    );
    expect(texts.join('')).toBe(PREFIX.slice(0, 5));
  });
});

describe('errors and retries', () => {
  it('retries HTTP 500 and 429, then succeeds', async () => {
    const server = await stub((_b, i) =>
      i === 0
        ? { status: 500 }
        : i === 1
          ? { status: 429, headers: { 'retry-after': '0' } }
          : { content: 'ok' },
    );
    const result = await model(server, { maxRetries: 2 }).generate({ messages: MESSAGES });
    expect(result.text).toBe('ok');
    expect(server.requests).toHaveLength(3);
  });

  it('retries a stream whose request failed before any content', async () => {
    const server = await stub((_b, i) => (i === 0 ? { status: 503 } : { content: 'streamed ok' }));
    const { texts } = await collect(model(server).stream({ messages: MESSAGES }));
    expect(texts.join('')).toBe('streamed ok');
    expect(server.requests).toHaveLength(2);
  });

  it('does not retry HTTP 400, and names the URL, the status and the body', async () => {
    const server = await stub(() => ({ status: 400, errorMessage: 'maximum context length is 4096 tokens' }));
    const err = await caught(model(server, { maxRetries: 3 }).generate({ messages: MESSAGES }));
    expect(server.requests).toHaveLength(1);
    expect(err.message).toContain(`${server.baseUrl}/chat/completions`);
    expect(err.message).toContain('HTTP 400');
    expect(err.message).toContain('maximum context length is 4096 tokens');
    expect(err.details.status).toBe(400);
    expect(err.details.body).toContain('maximum context length');
  });

  it('gives up after maxRetries and says how many attempts it made', async () => {
    const server = await stub(() => ({ status: 502 }));
    const err = await caught(model(server, { maxRetries: 2 }).generate({ messages: MESSAGES }));
    expect(server.requests).toHaveLength(3);
    expect(err.message).toMatch(/HTTP 502.*gave up after 3 attempts/);
  });

  it('names the URL when the connection is refused, and retries it', async () => {
    const server = await stub();
    const baseUrl = server.baseUrl;
    await server.close();
    let calls = 0;
    const counting: typeof fetch = (input, init) => {
      calls++;
      return fetch(input, init);
    };
    const m = createOpenAIModel({
      baseUrl,
      model: 'm',
      env: {},
      retryDelayMs: 1,
      maxRetries: 1,
      fetch: counting,
    });
    const err = await caught(m.generate({ messages: MESSAGES }));
    expect(err.message).toContain(`cannot reach ${baseUrl}/chat/completions`);
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(calls).toBe(2);
  });

  it('gives up on a connection not made within connectTimeoutMs, naming the host, and retries it', async () => {
    // A port that accepts TCP and never speaks: an https client's TLS handshake waits forever on it.
    const silent = createNetServer((socket) => socket.on('error', () => undefined));
    let connections = 0;
    silent.on('connection', () => connections++);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const m = createOpenAIModel({
        baseUrl: `https://${host}/v1`,
        model: 'm',
        env: {},
        retryDelayMs: 1,
        maxRetries: 1,
        connectTimeoutMs: 200,
        timeoutMs: 30_000,
      });
      const err = await caught(m.generate({ messages: MESSAGES }));
      expect(err.details.reason).toBe('network');
      expect(err.message).toContain(`no connection to ${host} within 200 ms`);
      expect(err.message).toMatch(/gave up after 2 attempts/);
      expect(connections).toBe(2);
    } finally {
      silent.close();
    }
  });

  it('times out a hung request without retrying it', async () => {
    const server = await stub(() => ({ hang: true }));
    const err = await caught(
      model(server, { timeoutMs: 150, maxRetries: 2 }).generate({ messages: MESSAGES }),
    );
    expect(err.message).toMatch(/timed out after 150 ms/);
    expect(server.requests).toHaveLength(1);
  });

  it('times a stream out on silence between events, not on its total length', async () => {
    const server = await stub((_b, i) =>
      i === 0
        ? { content: 'a b c d e f g h', chunkSize: 2, chunkDelayMs: 60 } // ~480 ms in all, never 900 ms silent
        : { content: 'late', chunkDelayMs: 3000 },
    );
    // Silence bound 900 ms: the 60 ms gaps stay far below it even on a loaded machine; 3 s of silence exceeds it.
    const m = model(server, { timeoutMs: 900, maxRetries: 2 });
    const { texts } = await collect(m.stream({ messages: MESSAGES }));
    expect(texts.join('')).toBe('a b c d e f g h');
    const err = await caughtStream(m.stream({ messages: MESSAGES }));
    expect(err.message).toMatch(/timed out after 900 ms/);
    expect(server.requests).toHaveLength(2);
  });

  it('stops when the caller aborts', async () => {
    const server = await stub(() => ({ hang: true }));
    const controller = new AbortController();
    const pending = caught(model(server).generate({ messages: MESSAGES, signal: controller.signal }));
    // Abort once the request has reached the server, however slow the machine is (a fixed delay was a bet).
    await waitFor(() => server.requests.length === 1);
    controller.abort();
    const err = await pending;
    expect(err.message).toMatch(/aborted by the caller/);
    expect(server.requests).toHaveLength(1);
  });

  it('never retries a stream that broke after delivering content', async () => {
    const partial = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'half' }, finish_reason: null }] })}\n\n`;
    const server = await stub(() => ({ raw: partial, headers: SSE }));
    const texts: string[] = [];
    const err = await caughtStream(model(server, { maxRetries: 3 }).stream({ messages: MESSAGES }), texts);
    expect(texts).toEqual(['half']);
    expect(err.message).toMatch(/ended before the completion finished/);
    expect(server.requests).toHaveLength(1);
  });

  it('retries a stream that broke before delivering content', async () => {
    const empty = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { role: 'assistant' }, finish_reason: null }] })}\n\n`;
    const server = await stub((_b, i) => (i === 0 ? { raw: empty, headers: SSE } : { content: 'second' }));
    const { texts } = await collect(model(server).stream({ messages: MESSAGES }));
    expect(texts.join('')).toBe('second');
    expect(server.requests).toHaveLength(2);
  });

  it('reports an error event sent inside the stream', async () => {
    const raw = `data: ${JSON.stringify({ error: { message: 'KV cache exhausted', code: 500 } })}\n\n`;
    const server = await stub(() => ({ raw, headers: SSE }));
    const err = await caughtStream(model(server).stream({ messages: MESSAGES }));
    expect(err.message).toMatch(/reported an error in the stream: .*KV cache exhausted/);
    expect(server.requests).toHaveLength(1);
  });

  it('fails on an SSE `event: error` whatever its data, with the message, and does not retry it', async () => {
    // A proxy's way of ending a failed stream: the data is no chunk and carries no `error` key.
    const token = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'half' } }] })}\n\n`;
    const server = await stub(() => ({
      raw: `${token}event: error\ndata: {"message": "upstream model crashed"}\n\n`,
      headers: SSE,
    }));
    const texts: string[] = [];
    const err = await caughtStream(model(server, { maxRetries: 2 }).stream({ messages: MESSAGES }), texts);
    expect(texts).toEqual(['half']);
    expect(err.details.reason).toBe('upstream');
    expect(err.message).toMatch(/sent an error event in the stream: \{"message": "upstream model crashed"\}/);
    expect(server.requests).toHaveLength(1);
  });

  it("reports vLLM's bare error object in a stream", async () => {
    const raw = `data: ${JSON.stringify({ object: 'error', message: 'prompt too long', type: 'BadRequestError', code: 400 })}\n\n`;
    const server = await stub(() => ({ raw, headers: SSE }));
    const err = await caughtStream(model(server, { maxRetries: 0 }).stream({ messages: MESSAGES }));
    expect(err.details.reason).toBe('upstream');
    expect(err.message).toMatch(/reported an error in the stream: .*prompt too long/);
  });

  it('reports an error sent with HTTP 200 instead of a completion as the server error it is', async () => {
    const server = await stub(() => ({
      raw: JSON.stringify({ error: { message: 'model is overloaded', code: 503 } }),
    }));
    const err = await caught(model(server, { maxRetries: 0 }).generate({ messages: MESSAGES }));
    expect(err.details.reason).toBe('upstream');
    expect(err.message).toMatch(/reported an error instead of a completion: .*model is overloaded/);
  });

  it('names where a redirect points, since it does not follow it', async () => {
    const server = await stub(() => ({
      status: 301,
      raw: '<html>Moved</html>',
      headers: { location: 'https://llm.example/v1/chat/completions' },
    }));
    const err = await caught(model(server, { maxRetries: 0 }).generate({ messages: MESSAGES }));
    expect(err.details).toMatchObject({ reason: 'http_status', status: 301 });
    expect(err.message).toMatch(
      /answered HTTP 301 Moved Permanently to https:\/\/llm\.example\/v1\/chat\/completions \(redirects are not followed: use that address as the base URL\)/,
    );
  });

  it('names what is wrong with a malformed response', async () => {
    const server = await stub((_b, i) => ({
      raw: i === 0 ? 'upstream proxy error' : '{"object":"chat.completion"}',
    }));
    const m = model(server);
    expect((await caught(m.generate({ messages: MESSAGES }))).message).toMatch(
      /returned a body that is not JSON: upstream proxy error/,
    );
    expect((await caught(m.generate({ messages: MESSAGES }))).message).toMatch(
      /not a chat completion \(choices:/,
    );
  });

  it('accepts a server that answers a streaming request with one JSON completion', async () => {
    const server = await stub(() => ({
      raw: completion('whole answer', { usage: { prompt_tokens: 3, completion_tokens: 2 } }),
    }));
    const { texts, done } = await collect(model(server).stream({ messages: MESSAGES }));
    expect(texts).toEqual(['whole answer']);
    expect(done[0]).toMatchObject({
      result: { text: 'whole answer', usage: { promptTokens: 3, completionTokens: 2 } },
    });
  });

  it('closes the connection when the consumer stops reading a stream', async () => {
    const server = await stub(() => ({
      content: 'a b c d e f g h i j k l m n o p',
      chunkSize: 2,
      chunkDelayMs: 30,
    }));
    for await (const ev of model(server).stream({ messages: MESSAGES })) {
      expect(ev.type).toBe('text');
      break;
    }
    while (server.inFlight > 0) await new Promise((r) => setTimeout(r, 10));
    // Cut off mid-reply: a stream that ran to its end would not count.
    expect(server.cutOff).toBe(1);
  });

  it('refuses calls after close', async () => {
    const server = await stub(() => ({ content: 'x' }));
    const m = model(server);
    await m.close();
    expect((await caught(m.generate({ messages: MESSAGES }))).message).toMatch(/closed/);
    expect(server.requests).toHaveLength(0);
  });
});

describe('bounded response reads', () => {
  /** Runs `call` against an upstream whose body never ends; the body must be given up (cancelled). */
  async function againstEndless(
    options: Parameters<typeof startEndlessUpstream>[0],
    call: (baseUrl: string) => Promise<unknown>,
  ): Promise<{ error: ChatModelError; baseUrl: string }> {
    const upstream = await startEndlessUpstream(options);
    try {
      const error = await caught(call(upstream.baseUrl));
      // The upstream sees its response closed: the body was cancelled, not left to stream on.
      await upstream.closed(1);
      expect(upstream.requests).toBe(1);
      return { error, baseUrl: upstream.baseUrl };
    } finally {
      await upstream.close();
    }
  }

  const endlessModel = (baseUrl: string, options: Partial<OpenAIModelOptions> = {}) =>
    createOpenAIModel({ baseUrl, model: 'm', env: {}, retryDelayMs: 1, ...options });

  it('a JSON body over maxResponseBytes fails the call, names the URL and the limit, and is not retried', async () => {
    const { error, baseUrl } = await againstEndless(
      { contentType: 'application/json', head: '{"choices":"', piece: 'x' },
      (url) => endlessModel(url, { maxResponseBytes: 1 << 20 }).generate({ messages: MESSAGES }),
    );
    expect(error.message).toBe(
      `openai:m: ${baseUrl}/chat/completions sent a response body larger than 1048576 bytes (maxResponseBytes)`,
    );
  });

  it('the same for a streaming request answered with one JSON body', async () => {
    const { error } = await againstEndless({ contentType: 'application/json', piece: ' ' }, (url) =>
      collect(endlessModel(url, { maxResponseBytes: 1 << 20 }).stream({ messages: MESSAGES })),
    );
    expect(error.message).toMatch(/sent a response body larger than 1048576 bytes \(maxResponseBytes\)$/);
  });

  it('an SSE line that never ends fails the stream at maxStreamEventChars', async () => {
    const { error, baseUrl } = await againstEndless(
      { contentType: 'text/event-stream', head: 'data: ', piece: 'x' },
      (url) => collect(endlessModel(url, { maxStreamEventChars: 100_000 }).stream({ messages: MESSAGES })),
    );
    expect(error.message).toBe(
      `openai:m: ${baseUrl}/chat/completions sent an SSE line longer than 100000 characters (maxStreamEventChars)`,
    );
  });

  it('an SSE event whose data lines never end fails the stream at maxStreamEventChars', async () => {
    const { error } = await againstEndless(
      { contentType: 'text/event-stream', piece: 'data: xxxxxxxx\n' },
      (url) => collect(endlessModel(url, { maxStreamEventChars: 100_000 }).stream({ messages: MESSAGES })),
    );
    expect(error.message).toMatch(/sent an SSE event longer than 100000 characters \(maxStreamEventChars\)$/);
  });

  it('a stream of chunks that never finishes fails once its text passes maxResponseBytes', async () => {
    const chunk = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'loop ' } }] })}\n\n`;
    const { error, baseUrl } = await againstEndless(
      { contentType: 'text/event-stream', piece: chunk },
      (url) => collect(endlessModel(url, { maxResponseBytes: 1 << 20 }).stream({ messages: MESSAGES })),
    );
    expect(error.details.reason).toBe('too_large');
    expect(error.message).toBe(
      `openai:m: ${baseUrl}/chat/completions sent a stream whose text is longer than 1048576 characters (maxResponseBytes)`,
    );
  });

  it('an error response with an endless body is reported from its beginning', async () => {
    const { error } = await againstEndless(
      { status: 400, contentType: 'text/plain', piece: 'bad request ' },
      (url) => endlessModel(url).generate({ messages: MESSAGES }),
    );
    expect(error.details.status).toBe(400);
    expect(error.message).toMatch(/answered HTTP 400 Bad Request: bad request bad request/);
  });

  it('rejects limits that are not positive integers', () => {
    expect(() => endlessModel('http://127.0.0.1:9', { maxResponseBytes: 0 })).toThrow(/maxResponseBytes/);
    expect(() => endlessModel('http://127.0.0.1:9', { maxStreamEventChars: 1.5 })).toThrow(
      /maxStreamEventChars/,
    );
  });
});
