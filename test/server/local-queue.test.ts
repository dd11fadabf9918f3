/**
 * `gtalign serve --backend local`: one engine, one sequence, so turns queue for it. A turn waiting in that
 * queue whose client leaves (or whose server stops) must leave the queue at once: before, it sat there
 * until the engine came free, still holding one of the `--max-turns` places, so clients that gave up
 * made the server refuse new ones with 429 too_many_turns while nobody waited.
 *
 * The engine is a real one (a generated tiny GGUF, random weights); the test holds it with the model's
 * own `exclusive` (as a long turn would), so which turns wait is certain, not a matter of timing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeTinyModel } from '../../src/assistant/tiny-model.js';
import { createLocalModel } from '../../src/llm/local.js';
import type { ChatModel } from '../../src/llm/types.js';
import type { RunningServer } from '../../src/server/listen.js';
import { type ProxyApp, startProxyServer } from '../../src/server/proxy.js';

let dir: string;
let model: ChatModel;
let proxy: RunningServer & { app: ProxyApp };
let client: OpenAI;
/** Ends the test's hold on the engine. */
let release: () => void = () => {};
let held: Promise<void> = Promise.resolve();

beforeAll(async () => {
  dir = await mkdtemp(`${tmpdir()}/gtalign-local-queue-`);
  const { path } = await writeTinyModel(dir);
  model = await createLocalModel({ modelPath: path, threads: 1, contextSize: 4096, seed: 3 });
});
afterAll(async () => {
  await model?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  proxy = await startProxyServer({ model, port: 0, limits: { maxActiveTurns: 2 }, log: () => {} });
  client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'none', maxRetries: 0 });
});
afterEach(async () => {
  release();
  await held;
  await proxy.close(0);
});

/** Takes the engine as a running turn would, until `release()`. */
async function holdEngine(): Promise<void> {
  if (model.exclusive === undefined) throw new Error('the local model has no exclusive');
  let entered!: () => void;
  const inside = new Promise<void>((resolve) => {
    entered = resolve;
  });
  held = model.exclusive(
    () =>
      new Promise<void>((resolve) => {
        release = resolve;
        entered();
      }),
  );
  await inside;
}

async function turnsInFlight(): Promise<number> {
  const text = await (await fetch(`${proxy.url}/metrics`)).text();
  const line = /^gtalign_turns_in_flight (\d+)$/m.exec(text);
  if (line === null) throw new Error('no gtalign_turns_in_flight on /metrics');
  return Number(line[1]);
}

const ask = (signal?: AbortSignal) =>
  client.chat.completions.create(
    { model: 'x', messages: [{ role: 'user', content: 'Hi?' }], max_tokens: 400 },
    signal === undefined ? {} : { signal },
  );

describe('a turn queued for the local engine', () => {
  it('gives its place back at once when its client leaves, so a new client is not refused', async () => {
    await holdEngine();
    const leaving = [new AbortController(), new AbortController()];
    const asked = leaving.map((c) => ask(c.signal).catch((err: unknown) => err));
    await expect.poll(turnsInFlight, { timeout: 30_000 }).toBe(2);
    for (const c of leaving) c.abort();
    for (const err of await Promise.all(asked)) expect(err).toBeInstanceOf(OpenAI.APIUserAbortError);
    // Both clients are gone while the engine is still held: their places are free again.
    await expect.poll(turnsInFlight, { timeout: 30_000 }).toBe(0);
    const next = ask().catch((err: unknown) => err);
    await expect.poll(turnsInFlight, { timeout: 30_000 }).toBe(1);
    release();
    const answer = await next;
    expect(answer).not.toBeInstanceOf(Error);
    expect(answer).toMatchObject({ object: 'chat.completion' });
  });

  it('past --max-turns is a 429 too_many_turns with a Retry-After the official client waits for', async () => {
    await holdEngine();
    const waiting = [ask().catch((err: unknown) => err), ask().catch((err: unknown) => err)];
    await expect.poll(turnsInFlight, { timeout: 30_000 }).toBe(2);
    const refused = await ask().catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect(refused).toMatchObject({ status: 429, code: 'too_many_turns' });
    const retryAfter = (refused as InstanceType<typeof OpenAI.RateLimitError>).headers?.get('retry-after');
    expect(retryAfter).toMatch(/^[1-9]\d*$/);
    release();
    await Promise.all(waiting);
  });

  it('whose deadline passes before it gets the engine is a 503 server_busy the client may retry, not a paid-for 504', async () => {
    await proxy.close(0);
    // The engine is held until the test releases it, so the deadline passes while the turn waits.
    proxy = await startProxyServer({ model, port: 0, upstreamTimeoutMs: 50, log: () => {} });
    client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'none', maxRetries: 0 });
    await holdEngine();
    const err = await ask().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err).toMatchObject({ status: 503, code: 'server_busy' });
    const headers = (err as InstanceType<typeof OpenAI.APIError>).headers;
    expect(headers?.get('x-should-retry')).toBeNull();
    expect(headers?.get('retry-after')).toMatch(/^[1-9]\d*$/);
    const metrics = await (await fetch(`${proxy.url}/metrics`)).text();
    expect(metrics).not.toMatch(/gtalign_upstream_errors_total\{[^}]*\} [1-9]/);
  });

  it('is answered server_shutdown at once when the server stops, not when the engine comes free', async () => {
    await holdEngine();
    const asked = ask().catch((err: unknown) => err);
    await expect.poll(turnsInFlight, { timeout: 30_000 }).toBe(1);
    const closing = proxy.close(0);
    const err = await asked;
    await closing;
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err).toMatchObject({ status: 503, code: 'server_shutdown' });
  });
});
