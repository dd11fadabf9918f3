/**
 * `maxActiveTurns` (`gtalign serve --max-turns N`): a turn past the limit is a quick 429 naming the limit,
 * not a wait that ends in a 504, and a turn is admitted again once one has ended. The upstream is a
 * SCRIPTED loopback server that holds the first turn open until the test lets it go.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/listen.js';
import { startProxyServer } from '../../src/server/proxy.js';
import { type OpenAIStubServer, startOpenAIStubServer, stubModel } from '../support/openai-stub-server.js';
import { dinosaurScript } from './scripted-upstream.js';

let upstream: OpenAIStubServer;
let proxy: RunningServer;
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
