/**
 * `gtalign serve` closing with turns still running past its grace (SIGTERM, a rolling restart): each open
 * request is answered `server_shutdown` before its connection goes, through the official `openai` client
 * (6.49.0): a plain request gets a 503 (which the clients retry elsewhere), a chat stream already under way
 * an error chunk the client raises, a Responses stream `error` and `response.failed` (code `server_shutdown`). Before, the connections were cut and the
 * clients saw a network error mid-stream. The upstream is a SCRIPTED loopback server: stage 1 answers the
 * paper's dinosaur example, stage 2 never answers, so each turn is open for certain when the server closes.
 */
import OpenAI from 'openai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/listen.js';
import { type ProxyApp, startProxyServer } from '../../src/server/proxy.js';
import { type OpenAIStubServer, startOpenAIStubServer, stubModel } from '../support/openai-stub-server.js';
import { dinosaurScript, QUESTION } from './scripted-upstream.js';

let upstream: OpenAIStubServer;
let proxy: RunningServer & { app: ProxyApp };
let client: OpenAI;

/** Stage 1 (the first request of each turn) answered by the script; every later request hangs. */
function stageOneOnly() {
  const script = dinosaurScript();
  let calls = 0;
  return (body: Parameters<ReturnType<typeof dinosaurScript>>[0]) =>
    calls++ === 0 ? script(body) : { hang: true };
}

beforeEach(async () => {
  upstream = await startOpenAIStubServer(stageOneOnly());
  proxy = await startProxyServer({ model: stubModel(upstream), log: () => {} });
  client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'none', maxRetries: 0 });
});
afterEach(async () => {
  await proxy.close(0);
  await upstream.close();
});

/** Resolves once the stage-2 call hangs at the upstream (by count, not by time). */
async function stageTwoOpen(): Promise<void> {
  await expect.poll(() => upstream.inFlight, { timeout: 30_000 }).toBeGreaterThan(0);
}

describe('closing with turns past the grace', () => {
  it('answers a plain request 503 server_shutdown, with connection: close, and cuts its upstream call', async () => {
    const asked = client.chat.completions
      .create({ model: 'x', messages: [{ role: 'user', content: QUESTION }] })
      .withResponse()
      .catch((err: unknown) => err);
    await stageTwoOpen();
    const cutBefore = upstream.cutOff;
    await proxy.close(0);
    const err = await asked;
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err).toMatchObject({ status: 503, code: 'server_shutdown' });
    expect((err as InstanceType<typeof OpenAI.APIError>).headers?.get('connection')).toBe('close');
    await expect.poll(() => upstream.cutOff, { timeout: 30_000 }).toBe(cutBefore + 1);
  });

  it('ends a chat stream already under way with an error the client raises, not a cut connection', async () => {
    const stream = await client.chat.completions.create({
      model: 'x',
      stream: true,
      messages: [{ role: 'user', content: QUESTION }],
    });
    const chunks = stream[Symbol.asyncIterator]();
    expect((await chunks.next()).done).toBe(false);
    await stageTwoOpen();
    const closing = proxy.close(0);
    const rest = (async () => {
      for (;;) if ((await chunks.next()).done === true) return 'ended';
    })().catch((err: unknown) => err);
    const err = await rest;
    await closing;
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(String((err as Error).message)).toMatch(/stopped before this turn finished/);
  });

  it('ends a Responses stream under way with error and response.failed (server_shutdown)', async () => {
    const stream = await client.responses.create({ model: 'x', input: QUESTION, stream: true });
    const seen: OpenAI.Responses.ResponseStreamEvent[] = [];
    const events = stream[Symbol.asyncIterator]();
    const first = await events.next();
    if (first.done !== true) seen.push(first.value);
    await stageTwoOpen();
    const closing = proxy.close(0);
    const rest = (async () => {
      for (;;) {
        const e = await events.next();
        if (e.done === true) return 'ended';
        seen.push(e.value);
      }
    })();
    expect(await rest).toBe('ended');
    await closing;
    expect(seen[0]?.type).toBe('response.created');
    expect(seen.map((e) => e.type).slice(-2)).toEqual(['error', 'response.failed']);
    expect(seen.at(-1)).toMatchObject({
      type: 'response.failed',
      response: { status: 'failed', error: { code: 'server_shutdown' } },
    });
  });
});
