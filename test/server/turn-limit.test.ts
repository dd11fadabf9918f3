/**
 * `maxActiveTurns` (`gtalign serve --max-turns N`): a turn past the limit is a quick 429 naming the limit,
 * not a wait that ends in a 504, and a turn is admitted again once one has ended. A background response,
 * answered `queued`, waits for a turn instead (and can be cancelled while it waits). The upstream is a
 * SCRIPTED loopback server that holds the first turn open until the test lets it go.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/listen.js';
import { type ProxyApp, startProxyServer } from '../../src/server/proxy.js';
import { type OpenAIStubServer, startOpenAIStubServer, stubModel } from '../support/openai-stub-server.js';
import { dinosaurScript } from './scripted-upstream.js';

let upstream: OpenAIStubServer;
let proxy: RunningServer & { app: ProxyApp };
let hold = true;
const answer = dinosaurScript();

beforeAll(async () => {
  upstream = await startOpenAIStubServer((body) => (hold ? { hang: true } : answer(body)));
  proxy = await startProxyServer({ model: stubModel(upstream), port: 0, limits: { maxActiveTurns: 1 } });
});
afterAll(async () => {
  await proxy?.close(0);
  await upstream?.close();
});

const ask = (signal?: AbortSignal) =>
  fetch(`${proxy.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'When did dinosaurs first appear?' }] }),
    ...(signal === undefined ? {} : { signal }),
  });

describe('turns at once', () => {
  it('refuses a turn past the limit with a 429, and admits one again once the first has ended', async () => {
    const leave = new AbortController();
    const first = ask(leave.signal).catch((e: unknown) => e);
    await expect.poll(() => upstream.inFlight).toBe(1);
    const second = await ask();
    expect(second.status).toBe(429);
    const { error } = (await second.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('too_many_turns');
    expect(error.message).toMatch(/at most 1 turns at once .*--max-turns/);
    // The first client leaves: its turn ends, and the next is served.
    leave.abort();
    await first;
    await expect.poll(() => upstream.inFlight).toBe(0);
    hold = false;
    await expect.poll(async () => (await ask()).status).toBe(200);
  });
});

describe('background responses past the turn limit', () => {
  const client = () => new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'none', maxRetries: 0 });

  /** Starts a turn that holds the one slot until its client leaves. */
  async function holdTheSlot(): Promise<() => Promise<void>> {
    hold = true;
    const leave = new AbortController();
    const first = ask(leave.signal).catch((e: unknown) => e);
    await expect.poll(() => upstream.inFlight).toBe(1);
    return async () => {
      hold = false;
      leave.abort();
      await first;
    };
  }

  /** Follows a background response's events until its run has begun (it then waits, or fails at once). */
  async function untilRunning(id: string): Promise<void> {
    const events = await client().responses.retrieve(id, { stream: true });
    for await (const e of events) if (e.type === 'response.in_progress') break;
  }

  it('waits for a turn to end instead of failing with too_many_turns, then completes', async () => {
    const release = await holdTheSlot();
    const queued = await client().responses.create({
      model: 'm',
      input: 'When did dinosaurs first appear?',
      background: true,
    });
    expect(queued.status).toBe('queued');
    await untilRunning(queued.id);
    const waiting = await client().responses.retrieve(queued.id);
    expect(waiting.error).toBeNull();
    expect(waiting.status).toBe('in_progress');
    expect(upstream.inFlight).toBe(1);
    await release();
    await expect
      .poll(async () => (await client().responses.retrieve(queued.id)).status, { timeout: 20_000 })
      .toBe('completed');
    expect(proxy.app.activeTurns).toBe(0);
  });

  it('a waiting background response is cancelled without reaching the upstream', async () => {
    const release = await holdTheSlot();
    const asked = upstream.requests.length;
    const queued = await client().responses.create({
      model: 'm',
      input: 'When did dinosaurs first appear?',
      background: true,
    });
    await untilRunning(queued.id);
    const cancelled = await client().responses.cancel(queued.id);
    expect(cancelled.status).toBe('cancelled');
    await release();
    await expect.poll(() => proxy.app.activeTurns).toBe(0);
    expect(upstream.requests.length).toBe(asked);
  });
});
