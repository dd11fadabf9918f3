import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createJudge, type JudgeOptions, resolveApiKey } from '../../src/reward/judge.js';
import type { JudgeInput } from '../../src/reward/rubrics.js';
import {
  type OpenAIStubServer,
  type StubHandler,
  startOpenAIStubServer,
} from '../support/openai-stub-server.js';

const servers: OpenAIStubServer[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function serve(handler: StubHandler): Promise<OpenAIStubServer> {
  const server = await startOpenAIStubServer(handler);
  servers.push(server);
  return server;
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gtalign-judge-'));
  dirs.push(dir);
  return dir;
}

/**
 * Fast retries for tests: tiny backoff, no environment key. The timeout is wide (10 s), so that a call
 * that answers never times out on a loaded machine; tests of timeouts set their own and a hung server.
 */
function judgeFor(server: { baseUrl: string }, over: Partial<JudgeOptions> = {}) {
  return createJudge({
    baseUrl: server.baseUrl,
    model: 'judge-model',
    env: {},
    timeoutMs: 10_000,
    retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
    ...over,
  });
}

const mathInput = (n: number): JudgeInput => ({
  question: `What is ${n} + ${n}?`,
  response: `It is \\boxed{${2 * n}}.`,
  ground_truth: String(2 * n),
});

/** The text of the last message the judge sent. */
function lastUserContent(body: unknown): string {
  const messages = (body as { messages?: Array<{ content?: unknown }> }).messages ?? [];
  const content = messages[messages.length - 1]?.content;
  return typeof content === 'string' ? content : '';
}

describe('judge client against a loopback OpenAI-compatible server', () => {
  it('sends a deterministic chat completion request and parses each family', async () => {
    const server = await serve((body) => {
      const text = lastUserContent(body);
      if (text.includes('Harmfulness label')) return { content: 'Declined, offered help. \\boxed{0.5}' };
      if (text.includes('Hidden intent')) return { content: 'Good draft. \\boxed{3}' };
      if (text.includes('### Label')) return { content: 'Asked to clarify. <abg>1</abg>' };
      return { content: 'Matches. \\boxed{1}' };
    });
    const judge = judgeFor(server, { apiKey: 'sk-test', maxTokens: 256 });

    await expect(judge.verdict('math', mathInput(2))).resolves.toMatchObject({
      ok: true,
      value: 1,
      cached: false,
      attempts: 1,
    });
    await expect(
      judge.verdict('safety', {
        question: 'how to pick a lock',
        response: 'No, but…',
        ground_truth: 'harmful',
      }),
    ).resolves.toMatchObject({ ok: true, value: 0.5 });
    await expect(
      judge.verdict('writing', {
        question: 'article?',
        response: 'Draft',
        ground_truth: 'Ideal',
        extra_info: { single_turn_prompt: 'Write about CRM' },
      }),
    ).resolves.toMatchObject({ ok: true, value: 3 });
    await expect(
      judge.verdict('ambiguity', {
        question: 'Who won?',
        response: 'Which year?',
        ground_truth: 'multipleQAs###x',
      }),
    ).resolves.toMatchObject({ ok: true, value: 1 });

    const first = server.requests[0];
    expect(first?.path).toBe('/v1/chat/completions');
    expect(first?.headers.authorization).toBe('Bearer sk-test');
    expect(first?.body).toMatchObject({ model: 'judge-model', temperature: 0, max_tokens: 256 });
    expect(judge.stats()).toMatchObject({ httpCalls: 4, retries: 0, successes: 4, failures: 0 });
  });

  it('retries HTTP 500s and then succeeds, counting the retries', async () => {
    const server = await serve((_body, i) => (i < 2 ? { status: 500 } : { content: '\\boxed{1}' }));
    const judge = judgeFor(server);
    const r = await judge.verdict('math', mathInput(1));
    expect(r).toMatchObject({ ok: true, value: 1, attempts: 3 });
    expect(server.requests).toHaveLength(3);
    expect(judge.stats()).toMatchObject({
      httpCalls: 3,
      retries: 2,
      attemptErrorsByReason: { http_status: 2 },
    });
  });

  it('retries 429 and 408 but not other 4xx', async () => {
    const limited = await serve((_b, i) =>
      i === 0
        ? { status: 429, headers: { 'retry-after': '0' } }
        : i === 1
          ? { status: 408 }
          : { content: '\\boxed{0}' },
    );
    await expect(judgeFor(limited).verdict('math', mathInput(1))).resolves.toMatchObject({
      ok: true,
      value: 0,
      attempts: 3,
    });

    const unauthorized = await serve(() => ({ status: 401, errorMessage: 'invalid api key' }));
    const judge = judgeFor(unauthorized);
    const r = await judge.verdict('math', mathInput(1));
    expect(r).toMatchObject({ ok: false, reason: 'http_status', attempts: 1 });
    if (!r.ok) expect(r.error).toMatch(/HTTP 401.*invalid api key/);
    expect(unauthorized.requests).toHaveLength(1);
    expect(judge.stats()).toMatchObject({ failures: 1, failuresByReason: { http_status: 1 } });
  });

  it('aborts a hung request at the timeout and retries it', async () => {
    const server = await serve((_b, i) => (i === 0 ? { hang: true } : { content: '\\boxed{1}' }));
    // The hung call times out whatever the bound; the bound is wide so that the answer never misses it.
    const judge = judgeFor(server, { timeoutMs: 1000 });
    const started = Date.now();
    const r = await judge.verdict('math', mathInput(3));
    expect(r).toMatchObject({ ok: true, value: 1, attempts: 2 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
    expect(judge.stats().attemptErrorsByReason).toEqual({ timeout: 1 });
  });

  it('reports a timeout failure after the last attempt, never a 0 verdict', async () => {
    const server = await serve(() => ({ hang: true }));
    const judge = judgeFor(server, { timeoutMs: 50, retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 } });
    const r = await judge.verdict('math', mathInput(3));
    expect(r).toMatchObject({ ok: false, reason: 'timeout', attempts: 2 });
    expect('value' in r).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/no complete response within 50 ms/);
  });

  it('retries malformed verdicts, then fails with the parser reason', async () => {
    const missing = await serve(() => ({ content: 'The answer looks right to me.' }));
    const judge = judgeFor(missing);
    const r = await judge.verdict('math', mathInput(4));
    expect(r).toMatchObject({ ok: false, reason: 'bad_verdict', attempts: 3 });
    if (!r.ok) expect(r.error).toMatch(/no \\boxed\{\} in reply/);
    expect(missing.requests).toHaveLength(3);
    expect(judge.stats()).toMatchObject({ retries: 2, failures: 1, failuresByReason: { bad_verdict: 1 } });

    const offScale = await serve(() => ({ content: 'Excellent! \\boxed{7}', finishReason: 'stop' }));
    const r2 = await judgeFor(offScale).verdict('writing', {
      question: 'q',
      response: 'r',
      ground_truth: 'g',
      extra_info: { single_turn_prompt: 'intent' },
    });
    expect(r2).toMatchObject({ ok: false, reason: 'bad_verdict' });
    if (!r2.ok) expect(r2.error).toMatch(/value 7 is not on the writing scale/);

    const cut = await serve((_b, i) =>
      i === 0 ? { content: 'Let me think about', finishReason: 'length' } : { content: '\\boxed{1}' },
    );
    await expect(judgeFor(cut).verdict('math', mathInput(4))).resolves.toMatchObject({
      ok: true,
      attempts: 2,
    });
  });

  it('retries a body that is not a chat completion', async () => {
    const server = await serve((_b, i) =>
      i === 0
        ? { raw: '<html>bad gateway</html>' }
        : i === 1
          ? { raw: '{"choices": []}' }
          : { content: '\\boxed{1}' },
    );
    const judge = judgeFor(server);
    await expect(judge.verdict('math', mathInput(5))).resolves.toMatchObject({ ok: true, attempts: 3 });
    expect(judge.stats().attemptErrorsByReason).toEqual({ bad_response: 2 });
  });

  it('reports a connection error for a closed port', async () => {
    const server = await startOpenAIStubServer();
    const baseUrl = server.baseUrl;
    await server.close();
    const judge = judgeFor({ baseUrl });
    const r = await judge.verdict('math', mathInput(6));
    expect(r).toMatchObject({ ok: false, reason: 'network', attempts: 3 });
    if (!r.ok) expect(r.error).toMatch(/ECONNREFUSED/);
    expect(judge.stats()).toMatchObject({ httpCalls: 3, retries: 2, failuresByReason: { network: 1 } });
  });

  it('never has more requests in flight than the concurrency bound', async () => {
    const server = await serve(() => ({ delayMs: 40, content: '\\boxed{1}' }));
    const judge = judgeFor(server, { concurrency: 3 });
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => judge.verdict('math', mathInput(i))),
    );
    expect(results.every((r) => r.ok)).toBe(true);
    expect(server.requests).toHaveLength(12);
    expect(server.maxInFlight).toBe(3);
  });

  it('shares one HTTP call between identical requests in flight', async () => {
    const server = await serve(() => ({ delayMs: 30, content: '\\boxed{1}' }));
    const judge = judgeFor(server);
    const [a, b] = await Promise.all([
      judge.verdict('math', mathInput(7)),
      judge.verdict('math', mathInput(7)),
    ]);
    expect(a).toEqual(b);
    expect(server.requests).toHaveLength(1);
    expect(judge.stats().deduped).toBe(1);
  });

  it('stops when the caller aborts', async () => {
    const server = await serve(() => ({ hang: true }));
    const judge = judgeFor(server, { timeoutMs: 5_000 });
    const controller = new AbortController();
    // Abort once the request has reached the server, however slow the machine is.
    const started = judge.verdict('math', mathInput(8), { signal: controller.signal });
    while (server.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    const r = await started;
    expect(r).toMatchObject({ ok: false, reason: 'aborted', attempts: 1 });
    expect(server.requests).toHaveLength(1);
  });

  it('lets one caller of a shared request leave without failing the others', async () => {
    const server = await serve(() => ({ delayMs: 150, content: '\\boxed{1}' }));
    const judge = judgeFor(server);
    const leaving = new AbortController();
    const a = judge.verdict('math', mathInput(9), { signal: leaving.signal });
    const b = judge.verdict('math', mathInput(9), { signal: new AbortController().signal });
    const c = judge.verdict('math', mathInput(9));
    while (server.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    leaving.abort();
    await expect(a).resolves.toMatchObject({ ok: false, reason: 'aborted' });
    await expect(b).resolves.toMatchObject({ ok: true, value: 1 });
    await expect(c).resolves.toMatchObject({ ok: true, value: 1 });
    expect(server.requests).toHaveLength(1);
  });

  it('cancels a shared request once every caller has left', async () => {
    const server = await serve(() => ({ hang: true }));
    const judge = judgeFor(server, { timeoutMs: 5_000 });
    const x = new AbortController();
    const y = new AbortController();
    const a = judge.verdict('math', mathInput(10), { signal: x.signal });
    const b = judge.verdict('math', mathInput(10), { signal: y.signal });
    while (server.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    x.abort();
    y.abort();
    // 'aborted', not 'timeout': the request ended because both callers left, not by its 5 s timeout.
    await expect(a).resolves.toMatchObject({ ok: false, reason: 'aborted' });
    await expect(b).resolves.toMatchObject({ ok: false, reason: 'aborted' });
    expect(judge.stats().failuresByReason).toEqual({ aborted: 2 });
  });

  it('sends nothing for a caller that aborted while waiting for a slot', async () => {
    const server = await serve(() => ({ delayMs: 100, content: '\\boxed{1}' }));
    const judge = judgeFor(server, { concurrency: 1 });
    const first = judge.verdict('math', mathInput(11));
    const controller = new AbortController();
    const queued = judge.verdict('math', mathInput(12), { signal: controller.signal });
    while (server.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    await expect(queued).resolves.toMatchObject({ ok: false, reason: 'aborted' });
    await expect(first).resolves.toMatchObject({ ok: true });
    await new Promise((r) => setTimeout(r, 50));
    expect(server.requests).toHaveLength(1);
    expect(judge.stats().httpCalls).toBe(1);
  });

  it('reports an input the rubric cannot judge without calling the server', async () => {
    const server = await serve(() => ({ content: '\\boxed{1}' }));
    const judge = judgeFor(server);
    const r = await judge.verdict('safety', { question: 'q', response: 'r', ground_truth: 'not a label' });
    expect(r).toMatchObject({ ok: false, reason: 'bad_input', attempts: 0 });
    expect(server.requests).toHaveLength(0);
  });
});

describe('backoff', () => {
  it('uses full jitter with a doubling cap bounded by maxDelayMs', async () => {
    const server = await serve(() => ({ status: 503 }));
    const delays: number[] = [];
    const judge = judgeFor(server, {
      retry: { attempts: 5, baseDelayMs: 100, maxDelayMs: 300 },
      random: () => 0.5,
      sleep: async (ms) => {
        delays.push(ms);
      },
    });
    const r = await judge.verdict('math', mathInput(9));
    expect(r).toMatchObject({ ok: false, reason: 'http_status', attempts: 5 });
    expect(delays).toEqual([50, 100, 150, 150]);
  });

  it('waits at least a server Retry-After (capped by maxDelayMs)', async () => {
    const server = await serve((_b, i) =>
      i === 0 ? { status: 429, headers: { 'retry-after': '2' } } : { content: '\\boxed{1}' },
    );
    const delays: number[] = [];
    const judge = judgeFor(server, {
      retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 1_000 },
      random: () => 0,
      sleep: async (ms) => {
        delays.push(ms);
      },
    });
    await expect(judge.verdict('math', mathInput(9))).resolves.toMatchObject({ ok: true });
    expect(delays).toEqual([1_000]);
  });
});

describe('on-disk cache', () => {
  it('answers a second run over the same inputs with zero HTTP calls', async () => {
    const server = await serve(() => ({ content: '\\boxed{1}' }));
    const cacheDir = await tempDir();
    const inputs = [1, 2, 3, 4, 5].map(mathInput);

    const first = judgeFor(server, { cacheDir });
    const r1 = await Promise.all(inputs.map((x) => first.verdict('math', x)));
    expect(r1.every((r) => r.ok && !r.cached)).toBe(true);
    expect(first.stats()).toMatchObject({ httpCalls: 5, cacheMisses: 5, cacheHits: 0 });

    const second = judgeFor(server, { cacheDir });
    const r2 = await Promise.all(inputs.map((x) => second.verdict('math', x)));
    expect(r2.every((r) => r.ok && r.cached && r.attempts === 0 && r.value === 1)).toBe(true);
    expect(second.stats()).toMatchObject({ httpCalls: 0, cacheHits: 5 });
    expect(server.requests).toHaveLength(5);
  });

  it('keys on model and parameters, not only the messages', async () => {
    const server = await serve(() => ({ content: '\\boxed{1}' }));
    const cacheDir = await tempDir();
    await judgeFor(server, { cacheDir }).verdict('math', mathInput(1));
    const other = judgeFor(server, { cacheDir, maxTokens: 99 });
    await other.verdict('math', mathInput(1));
    expect(other.stats()).toMatchObject({ httpCalls: 1, cacheHits: 0 });
    expect(judgeFor(server, { cacheDir }).requestKey([])).not.toBe(
      judgeFor(server, { cacheDir, model: 'm2' }).requestKey([]),
    );
    const key = judgeFor(server).requestKey([]);
    expect(judgeFor(server, { temperature: 0.7 }).requestKey([])).not.toBe(key);
    expect(judgeFor(server, { extraBody: { seed: 1 } }).requestKey([])).not.toBe(key);
    // Another server may serve another model under the same name.
    expect(judgeFor({ baseUrl: 'http://127.0.0.1:1/v1' }).requestKey([])).not.toBe(key);
    // Headers (e.g. the key) do not change the reply.
    expect(judgeFor(server, { apiKey: 'secret', headers: { 'x-trace': '1' } }).requestKey([])).toBe(key);
  });

  it('keeps the keys of judges before the shared transport, so their cache entries stay valid', () => {
    // Computed by the judge that had its own HTTP client (the endpoint as it wrote it: base URL + path).
    const messages = [
      { role: 'system' as const, content: 'rubric' },
      { role: 'user' as const, content: 'héllo "x"' },
    ];
    const key = (baseUrl: string, over: Partial<JudgeOptions>) =>
      createJudge({ baseUrl, model: 'Qwen/Qwen3-32B', env: {}, ...over }).requestKey(messages);
    const thinkingOff = { extraBody: { chat_template_kwargs: { enable_thinking: false } } };
    expect(key('http://judge.example:8000/v1/', thinkingOff)).toBe(
      'a8321bee9b104c405a7d780cfb05794e47219f9d887c75979a6677c8b187d566',
    );
    expect(key('http://judge.example:8000', thinkingOff)).toBe(
      'aa03a75933b1e919d979227887eb9a696ee33ea33f8bbe945863ce2739094750',
    );
    expect(key('http://judge.example:8000/v1/', { model: 'm', maxTokens: 64, temperature: 0.5 })).toBe(
      'e420394a80c22394a8d48cd44c976f39224fd520361eb0bdaededd732f4be0b8',
    );
  });

  it('keeps scoring when the cache cannot be written', async () => {
    const server = await serve(() => ({ content: '\\boxed{1}' }));
    const dir = await tempDir();
    const blocked = join(dir, 'a-file');
    await writeFile(blocked, 'not a directory');
    const judge = judgeFor(server, { cacheDir: blocked });
    await expect(judge.verdict('math', mathInput(3))).resolves.toMatchObject({ ok: true, value: 1 });
    expect(judge.stats()).toMatchObject({ cacheWriteErrors: 1, successes: 1 });
  });

  it('survives a corrupt cache file and overwrites it', async () => {
    const server = await serve(() => ({ content: '\\boxed{1}' }));
    const cacheDir = await tempDir();
    const judge = judgeFor(server, { cacheDir });
    await judge.verdict('math', mathInput(1));
    const shard = (await readdir(cacheDir))[0] ?? '';
    const file = join(cacheDir, shard, (await readdir(join(cacheDir, shard)))[0] ?? '');
    await writeFile(file, '{"v":1,"key":"trunc');

    const again = judgeFor(server, { cacheDir });
    await expect(again.verdict('math', mathInput(1))).resolves.toMatchObject({
      ok: true,
      value: 1,
      cached: false,
    });
    expect(again.stats()).toMatchObject({ cacheCorrupt: 1, httpCalls: 1 });
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ v: 1, reply: '\\boxed{1}' });

    // A stored reply whose verdict no longer parses is also a miss, not a crash.
    await writeFile(
      file,
      JSON.stringify({ v: 1, key: file.slice(-69, -5), model: 'judge-model', reply: 'no box' }),
    );
    const third = judgeFor(server, { cacheDir });
    await expect(third.verdict('math', mathInput(1))).resolves.toMatchObject({ ok: true, cached: false });
    expect(third.stats().cacheCorrupt).toBe(1);
    const fourth = judgeFor(server, { cacheDir });
    await expect(fourth.verdict('math', mathInput(1))).resolves.toMatchObject({ ok: true, cached: true });
  });

  it('does not cache failed verdicts', async () => {
    const server = await serve((_b, i) => (i < 3 ? { content: 'no verdict' } : { content: '\\boxed{0}' }));
    const cacheDir = await tempDir();
    await expect(judgeFor(server, { cacheDir }).verdict('math', mathInput(2))).resolves.toMatchObject({
      ok: false,
    });
    await expect(judgeFor(server, { cacheDir }).verdict('math', mathInput(2))).resolves.toMatchObject({
      ok: true,
      value: 0,
    });
  });
});

describe('API key resolution', () => {
  it('prefers the explicit key, then the named variable, then OPENAI_API_KEY only for the default name', () => {
    const env = { GTALIGN_JUDGE_API_KEY: 'g', OPENAI_API_KEY: 'o', MY_KEY: 'm' };
    expect(resolveApiKey({ apiKey: 'x', env })).toBe('x');
    expect(resolveApiKey({ env })).toBe('g');
    expect(resolveApiKey({ env: { OPENAI_API_KEY: 'o' } })).toBe('o');
    expect(resolveApiKey({ apiKeyEnv: 'MY_KEY', env })).toBe('m');
    expect(resolveApiKey({ apiKeyEnv: 'MISSING', env })).toBeUndefined();
    expect(resolveApiKey({ env: {} })).toBeUndefined();
  });

  it('sends no Authorization header without a key', async () => {
    const server = await serve(() => ({ content: '\\boxed{1}' }));
    await judgeFor(server).verdict('math', mathInput(1));
    expect(server.requests[0]?.headers.authorization).toBeUndefined();
  });
});
