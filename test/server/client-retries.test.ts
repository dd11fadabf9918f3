/**
 * The official `openai` client (6.49.0) retries every 5xx twice by default unless the answer says
 * `x-should-retry: false`. A turn that timed out or whose output could not be used has paid for the
 * model's tokens (and the server retried its own calls): the client must not run it again. A plain
 * upstream failure (the server answered 5xx, no tokens) stays retryable. The upstream is a SCRIPTED
 * loopback server, not a model; the client's `fetch` counts what it sends.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/listen.js';
import { startProxyServer } from '../../src/server/proxy.js';
import {
  type OpenAIStubServer,
  type StubRequestBody,
  startOpenAIStubServer,
  stubModel,
} from '../support/openai-stub-server.js';
import { dinosaurScript, QUESTION } from './scripted-upstream.js';

/** Stage 2 continues the assistant message stage 1 wrote; stage 1's request ends with the user's. */
const isStage2 = (body: StubRequestBody): boolean =>
  (body.messages as Array<{ role: string }>).at(-1)?.role === 'assistant';
const stage1Calls = (): number => upstream.requests.filter((r) => !isStage2(r.body!)).length;

let upstream: OpenAIStubServer;
let proxy: RunningServer;
/** The same with a short deadline: a hanging upstream ends in a 504 soon. */
let hurried: RunningServer;

beforeAll(async () => {
  upstream = await startOpenAIStubServer();
  proxy = await startProxyServer({ model: stubModel(upstream), log: () => {} });
  hurried = await startProxyServer({ model: stubModel(upstream), upstreamTimeoutMs: 300, log: () => {} });
});
afterAll(async () => {
  await proxy?.close(0);
  await hurried?.close(0);
  await upstream?.close();
});

/** The official client with its default retries, counting the requests it sends. */
function countingClient(server = proxy): { client: OpenAI; sent: () => number } {
  let sent = 0;
  const client = new OpenAI({
    baseURL: `${server.url}/v1`,
    apiKey: 'none',
    maxRetries: 2,
    fetch: (url, init) => {
      sent++;
      return fetch(url, init);
    },
  });
  return { client, sent: () => sent };
}

const routes = {
  chat: (client: OpenAI) =>
    client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: QUESTION }] }),
  responses: (client: OpenAI) => client.responses.create({ model: 'm', input: QUESTION }),
};

describe('client retries of failed turns', () => {
  for (const [route, call] of Object.entries(routes)) {
    it(`${route}: an unusable model output (502 upstream_bad_output) is not sent again`, async () => {
      upstream.setHandler(() => ({ content: 'no payoff matrix in this reply' }));
      const { client, sent } = countingClient();
      const err = (await call(client).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
      expect(err.status).toBe(502);
      expect((err.error as { code?: string }).code).toBe('upstream_bad_output');
      expect(err.headers?.get('x-should-retry')).toBe('false');
      expect(sent()).toBe(1);
    });

    it(`${route}: a turn past its deadline (504 upstream_timeout) is not sent again`, async () => {
      upstream.setHandler(() => ({ hang: true }));
      const { client, sent } = countingClient(hurried);
      const err = (await call(client).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
      expect(err.status).toBe(504);
      expect(err.headers?.get('x-should-retry')).toBe('false');
      expect(sent()).toBe(1);
    });
  }

  it('an upstream that answered 5xx (no tokens spent) stays retryable', async () => {
    upstream.setHandler(() => ({ status: 500, errorMessage: 'down' }));
    const { client, sent } = countingClient();
    const err = (await routes.chat(client).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(err.status).toBe(502);
    expect(err.headers?.get('x-should-retry')).toBeNull();
    expect(sent()).toBe(3);
  }, 30_000);

  it('a stage 2 that fails after stage 1 answered is not sent again: a retry would pay for stage 1 once more', async () => {
    const dino = dinosaurScript();
    upstream.setHandler((body) =>
      isStage2(body) ? { status: 503, errorMessage: 'overloaded' } : dino(body),
    );
    upstream.requests.length = 0;
    const { client, sent } = countingClient();
    const err = (await routes.chat(client).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(err.status).toBe(502);
    expect((err.error as { code?: string }).code).toBe('upstream_error');
    expect(err.headers?.get('x-should-retry')).toBe('false');
    expect(sent()).toBe(1);
    expect(stage1Calls()).toBe(1);
  });

  it('a stage-1 retry that fails after the first attempt answered is not sent again: that attempt was paid for', async () => {
    let stage1 = 0;
    upstream.setHandler((body) =>
      isStage2(body) || stage1++ === 0
        ? { content: '<thinking>No matrix here.</thinking>' }
        : { status: 503, errorMessage: 'overloaded' },
    );
    upstream.requests.length = 0;
    const { client, sent } = countingClient();
    const err = (await routes.chat(client).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(err.status).toBe(502);
    expect(err.message).toContain('overloaded');
    expect(err.headers?.get('x-should-retry')).toBe('false');
    expect(sent()).toBe(1);
    expect(stage1Calls()).toBe(2);
  });

  it('an upstream that refuses the request (a 4xx) is not sent again: it would refuse it each time', async () => {
    upstream.setHandler(() => ({ status: 400, errorMessage: 'unsupported parameter' }));
    const { client, sent } = countingClient();
    const err = (await routes.chat(client).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(err.status).toBe(502);
    expect(err.message).toContain('unsupported parameter');
    expect(err.headers?.get('x-should-retry')).toBe('false');
    expect(sent()).toBe(1);
  });

  it('an upstream rate limit is a 429 the client raises as RateLimitError, with the upstream’s Retry-After', async () => {
    upstream.setHandler(() => ({ status: 429, headers: { 'retry-after': '7' }, errorMessage: 'slow down' }));
    const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'none', maxRetries: 0 });
    const err = (await routes.chat(client).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.error).toMatchObject({ type: 'rate_limit_error', code: 'upstream_rate_limited' });
    expect(err.message).toContain('slow down');
    // The official client waits this long before its retry (it honours Retry-After under a minute).
    expect(err.headers?.get('retry-after')).toBe('7');
    expect(err.headers?.get('x-should-retry')).toBeNull();
  });

  it('a rate limit in stage 2 is a 429 too, not retried: stage 1 was paid for', async () => {
    const dino = dinosaurScript();
    upstream.setHandler((body) =>
      isStage2(body) ? { status: 429, headers: { 'retry-after': '7' } } : dino(body),
    );
    const { client, sent } = countingClient();
    const err = (await routes.chat(client).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.headers?.get('x-should-retry')).toBe('false');
    expect(sent()).toBe(1);
  });
});
