/**
 * Background responses on `gtalign serve` through the official `openai` client (6.49.0):
 * `responses.create({background: true})`, `responses.retrieve` to poll, `responses.cancel`. The upstream is
 * a SCRIPTED loopback server (scripted-upstream.ts, the paper's dinosaur example) whose answers the test
 * holds back or never sends, so each state is seen for certain, without timing.
 *
 * Shown: the create call answers `queued` before the model has answered, and a poll sees `in_progress`,
 * then the completed answer, which is continued with `previous_response_id` like any stored response; a
 * cancel aborts the upstream call and the response ends `cancelled` (cancel again: the same); an upstream
 * failure ends `failed` with the error; an unfinished response cannot be continued; a response made
 * without background cannot be cancelled; store: false with background is refused by name; the bound on
 * running responses is a 429; closing the server cancels what runs. With `stream`, the run's events reach
 * the client as they are made; a client that left follows them again from `starting_after`, live while it
 * runs and whole after it ended, and once its events are no longer kept a resume is a 410 saying so (not an
 * empty stream); a cancelled run's stream ends with an `error` event. A server that keeps no responses
 * refuses background by name; one that keeps few holds a completed answer until its first retrieval. Two
 * servers sharing a response folder: the one not running a response answers its polls, streams its run
 * live from the folder (the same events as the runner's, from any sequence number; a resume once the event
 * file is gone is a 410), and cancels it (the runner aborts the upstream call); deleting it removes its
 * event file.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/listen.js';
import { type ProxyApp, startProxyServer } from '../../src/server/proxy.js';
import { ResponseFolder } from '../../src/server/response-folder.js';
import {
  type OpenAIStubServer,
  type StubHandler,
  startOpenAIStubServer,
  stubModel,
} from '../support/openai-stub-server.js';
import { waitFor } from '../support/wait-for.js';
import { dinosaurScript, QUESTION, RESPONSES } from './scripted-upstream.js';

let upstream: OpenAIStubServer;
let proxy: RunningServer & { app: ProxyApp };
let client: OpenAI;
const KEY = 'sk-test-background-key';

function model() {
  return stubModel(upstream);
}

/** The dinosaur script, its answers held until `release()` is called. */
function held(): { handler: StubHandler; release: () => void; reached: Promise<void> } {
  let release!: () => void;
  let reached!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const script = dinosaurScript();
  return {
    release,
    reached: new Promise<void>((r) => {
      reached = r;
    }),
    handler: async (body) => {
      reached();
      await gate;
      return script(body);
    },
  };
}

/** Polls (no sleeping: each poll is a request) until the response's status is not `queued`/`in_progress`. */
async function settled(id: string): Promise<OpenAI.Responses.Response> {
  for (;;) {
    const now = await client.responses.retrieve(id);
    if (now.status !== 'queued' && now.status !== 'in_progress') return now;
    await new Promise((r) => setImmediate(r));
  }
}

/** The events of a run cancelled while the model was still answering: started, then the cancelled error. */
function expectCancelledStream(seen: readonly OpenAI.Responses.ResponseStreamEvent[]): void {
  expect(seen.map((e) => e.type)).toEqual([
    'response.created',
    'response.queued',
    'response.in_progress',
    'error',
  ]);
  expect(seen.at(-1)).toMatchObject({ code: 'response_cancelled' });
}

beforeAll(async () => {
  upstream = await startOpenAIStubServer(dinosaurScript());
  proxy = await startProxyServer({
    model: model(),
    modelName: 'gtalign-dino',
    apiKeys: [KEY],
    limits: { maxBackgroundResponses: 2 },
    log: () => {},
  });
  client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: KEY, maxRetries: 0 });
});
afterAll(async () => {
  await proxy.close();
  await upstream.close();
});
beforeEach(() => {
  upstream.setHandler(dinosaurScript());
});

describe('background: true', () => {
  it('answers queued at once; a poll sees in_progress, then the answer, which can be continued', async () => {
    const hold = held();
    upstream.setHandler(hold.handler);
    const created = await client.responses.create({
      model: 'gtalign-dino',
      input: QUESTION,
      background: true,
    });
    expect(created).toMatchObject({ status: 'queued', background: true, output: [] });
    expect(created.id).toMatch(/^resp_[0-9a-f]{32}$/);
    await hold.reached;
    expect(await client.responses.retrieve(created.id)).toMatchObject({
      status: 'in_progress',
      background: true,
    });
    // Not continued while it runs.
    const early = await client.responses
      .create({ model: 'gtalign-dino', input: 'And then?', previous_response_id: created.id })
      .catch((e: unknown) => e);
    expect(early).toBeInstanceOf(OpenAI.BadRequestError);
    expect((early as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('previous_response_id');
    expect((early as InstanceType<typeof OpenAI.BadRequestError>).message).toContain('is in_progress');
    hold.release();
    const done = await settled(created.id);
    expect(done).toMatchObject({ status: 'completed', background: true, output_text: RESPONSES.CQ });
    // Cancelling what has ended changes nothing.
    const after = await client.responses.cancel(created.id);
    expect(after.status).toBe('completed');
    expect(after.output).toEqual(done.output);
    const next = await client.responses.create({
      model: 'gtalign-dino',
      input: 'And the first mammals?',
      previous_response_id: created.id,
    });
    expect(next.status).toBe('completed');
    const stage1 = JSON.stringify(upstream.requests.at(-2)!.body!.messages);
    expect(stage1).toContain(RESPONSES.CQ);
  });

  it('with conversation: the exchange is added to the conversation once the run has finished', async () => {
    const conv = await client.conversations.create({});
    const created = await client.responses.create({
      model: 'gtalign-dino',
      input: QUESTION,
      background: true,
      conversation: conv.id,
    });
    expect(created.conversation).toEqual({ id: conv.id });
    const done = await settled(created.id);
    expect(done.status).toBe('completed');
    const items = await client.conversations.items.list(conv.id, { order: 'asc' });
    const texts = items.data.map((i) => {
      const m = i as { role: string; content: Array<{ text: string }> };
      return [m.role, m.content[0]!.text];
    });
    expect(texts).toEqual([
      ['user', QUESTION],
      ['assistant', RESPONSES.CQ],
    ]);
  });

  it('cancel aborts the upstream call and the response ends cancelled', async () => {
    upstream.setHandler(() => ({ hang: true }));
    const cutBefore = upstream.cutOff;
    const created = await client.responses.create({
      model: 'gtalign-dino',
      input: QUESTION,
      background: true,
    });
    await expect.poll(() => upstream.inFlight, { timeout: 30_000 }).toBe(1);
    const cancelled = await client.responses.cancel(created.id);
    expect(cancelled).toMatchObject({ id: created.id, status: 'cancelled', background: true, output: [] });
    await expect.poll(() => upstream.cutOff, { timeout: 30_000 }).toBe(cutBefore + 1);
    expect(await client.responses.retrieve(created.id)).toMatchObject({ status: 'cancelled' });
    expect(await client.responses.cancel(created.id)).toMatchObject({ status: 'cancelled' });
    const again = await client.responses
      .create({ model: 'gtalign-dino', input: 'go on', previous_response_id: created.id })
      .catch((e: unknown) => e);
    expect((again as InstanceType<typeof OpenAI.BadRequestError>).message).toContain('is cancelled');
    // Deleted, it is gone.
    await client.responses.delete(created.id);
    expect(await client.responses.retrieve(created.id).catch((e: unknown) => e)).toBeInstanceOf(
      OpenAI.NotFoundError,
    );
  });

  it('an upstream failure ends failed, with the error; the metrics count it', async () => {
    const counts = async () => {
      const res = await fetch(`${proxy.url}/metrics`, { headers: { authorization: `Bearer ${KEY}` } });
      const text = await res.text();
      const failed = /^gtalign_background_responses_total\{status="failed"\} (\d+)$/m.exec(text);
      const running = /^gtalign_background_responses_running (\d+)$/m.exec(text);
      return { failed: failed === null ? 0 : Number(failed[1]), running: running?.[1] };
    };
    const before = await counts();
    upstream.setHandler(() => ({ status: 500, errorMessage: 'the GPU caught fire' }));
    const created = await client.responses.create({
      model: 'gtalign-dino',
      input: QUESTION,
      background: true,
    });
    const failed = await settled(created.id);
    expect(failed.status).toBe('failed');
    expect(failed.error?.message).toContain('the GPU caught fire');
    expect(await counts()).toEqual({ failed: before.failed + 1, running: '0' });
  });

  it('refuses store: false by name; a response made without background cannot be cancelled', async () => {
    const error = await client.responses
      .create({ model: 'gtalign-dino', input: QUESTION, background: true, store: false })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('store');
    const plain = await client.responses.create({ model: 'gtalign-dino', input: QUESTION });
    expect(plain.background).toBe(false);
    const cancel = await client.responses.cancel(plain.id).catch((e: unknown) => e);
    expect(cancel).toBeInstanceOf(OpenAI.BadRequestError);
    expect((cancel as InstanceType<typeof OpenAI.BadRequestError>).message).toContain(
      'only background responses can be cancelled',
    );
    expect(await client.responses.cancel('resp_nothere').catch((e: unknown) => e)).toBeInstanceOf(
      OpenAI.NotFoundError,
    );
  });

  it('at most maxBackgroundResponses run at once: one more is a 429', async () => {
    upstream.setHandler(() => ({ hang: true }));
    const a = await client.responses.create({ model: 'gtalign-dino', input: QUESTION, background: true });
    const b = await client.responses.create({ model: 'gtalign-dino', input: QUESTION, background: true });
    const c = await client.responses
      .create({ model: 'gtalign-dino', input: QUESTION, background: true })
      .catch((e: unknown) => e);
    expect(c).toBeInstanceOf(OpenAI.RateLimitError);
    expect((c as InstanceType<typeof OpenAI.RateLimitError>).message).toContain(
      'at most 2 background responses',
    );
    await client.responses.cancel(a.id);
    await client.responses.cancel(b.id);
    expect(proxy.app.background.active).toBe(0);
  });
});

describe('background: true with stream', () => {
  it('streams the run; a client that left follows it again from starting_after and gets the rest', async () => {
    const hold = held();
    upstream.setHandler(hold.handler);
    const stream = await client.responses.create({
      model: 'gtalign-dino',
      input: QUESTION,
      background: true,
      stream: true,
    });
    const seen: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) {
      seen.push(event);
      if (event.type === 'response.in_progress') break; // the client leaves; the run goes on
    }
    expect(seen.map((e) => e.type)).toEqual(['response.created', 'response.queued', 'response.in_progress']);
    const created = seen[0] as { response: { id: string; status: string; background: boolean } };
    expect(created.response).toMatchObject({ status: 'queued', background: true });
    const id = created.response.id;
    await hold.reached;
    hold.release();
    const last = seen.at(-1)!.sequence_number;
    const rest: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of await client.responses.retrieve(id, { stream: true, starting_after: last }))
      rest.push(event);
    expect(rest.map((e) => e.sequence_number)).toEqual(rest.map((_, i) => last + 1 + i));
    expect(rest.at(-1)!.type).toBe('response.completed');
    const text = rest
      .filter((e) => e.type === 'response.output_text.delta')
      .map((e) => (e as { delta: string }).delta)
      .join('');
    expect(text).toBe(RESPONSES.CQ);
    // After it ended, the whole stream from the start, and the kept response.
    const again: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of await client.responses.retrieve(id, { stream: true })) again.push(event);
    expect(again.map((e) => e.type)).toEqual([...seen, ...rest].map((e) => e.type));
    expect(await client.responses.retrieve(id)).toMatchObject({
      status: 'completed',
      output_text: RESPONSES.CQ,
    });
  });

  it('a follower of a cancelled run gets an error event with code response_cancelled', async () => {
    upstream.setHandler(() => ({ hang: true }));
    const stream = await client.responses.create({
      model: 'gtalign-dino',
      input: QUESTION,
      background: true,
      stream: true,
    });
    const seen: OpenAI.Responses.ResponseStreamEvent[] = [];
    let id = '';
    for await (const event of stream) {
      seen.push(event);
      if (event.type === 'response.created') id = event.response.id;
      if (event.type === 'response.in_progress') await client.responses.cancel(id);
    }
    expectCancelledStream(seen);
    expect(await client.responses.retrieve(id)).toMatchObject({ status: 'cancelled' });
  });

  it("a client resuming after N once the run's events are no longer kept gets a 410 saying so, not an empty stream", async () => {
    const stream = await client.responses.create({
      model: 'gtalign-dino',
      input: QUESTION,
      background: true,
      stream: true,
    });
    let id = '';
    let last = -1;
    let partial = '';
    for await (const event of stream) {
      if (event.type === 'response.created') id = event.response.id;
      last = event.sequence_number;
      if (event.type === 'response.output_text.delta') {
        partial += event.delta;
        break; // the client leaves mid-text; the run goes on
      }
    }
    expect(partial).not.toBe('');
    expect((await settled(id)).status).toBe('completed');
    // Its events go as later runs' push them out (the last 1,000 runs'): here, at once.
    await proxy.app.background.forget(id);
    const resumed = await client.responses
      .retrieve(id, { stream: true, starting_after: last })
      .catch((e: unknown) => e);
    expect(resumed).toBeInstanceOf(OpenAI.APIError);
    const error = resumed as InstanceType<typeof OpenAI.APIError>;
    expect(error.status).toBe(410);
    expect(error.code).toBe('response_events_not_kept');
    expect(error.param).toBe('starting_after');
    expect(error.message).toContain(`after sequence number ${last} are no longer kept`);
    expect(error.message).toContain('without stream');
    // As the error says: the whole answer is still there.
    expect(await client.responses.retrieve(id)).toMatchObject({
      status: 'completed',
      output_text: RESPONSES.CQ,
    });
    // And from the start, its events rebuilt from it, ending with the whole response.
    const whole: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of await client.responses.retrieve(id, { stream: true })) whole.push(event);
    expect(whole.at(-1)).toMatchObject({ type: 'response.completed', response: { id } });
  });
});

describe('a server that keeps few responses', () => {
  const serve = (maxStoredResponses: number) =>
    startProxyServer({ model: model(), limits: { maxStoredResponses }, log: () => {} });
  const clientOf = (server: RunningServer) =>
    new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'none', maxRetries: 0 });

  it('keeping none (maxStoredResponses: 0), refuses background: true by name, saying how to keep them', async () => {
    const bare = await serve(0);
    try {
      const onBare = clientOf(bare);
      for (const stream of [false, true]) {
        const error = await onBare.responses
          .create({ model: 'x', input: QUESTION, background: true, stream })
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(OpenAI.BadRequestError);
        const refused = error as InstanceType<typeof OpenAI.BadRequestError>;
        expect(refused.param).toBe('background');
        expect(refused.message).toContain('keeps no responses');
        expect(refused.message).toContain('--stored-responses');
      }
      expect(bare.app.background.active).toBe(0);
      // Without background it answers as usual.
      expect((await onBare.responses.create({ model: 'x', input: QUESTION })).status).toBe('completed');
    } finally {
      await bare.close();
    }
  });

  it('keeps a completed background answer until it is retrieved once, though newer responses took its place', async () => {
    const small = await serve(1);
    try {
      const onSmall = clientOf(small);
      const first = await onSmall.responses.create({ model: 'x', input: QUESTION, background: true });
      await expect.poll(() => small.app.background.active).toBe(0);
      // A newer response takes the store's one place before the client polls.
      await onSmall.responses.create({ model: 'x', input: QUESTION });
      expect(await onSmall.responses.retrieve(first.id)).toMatchObject({
        id: first.id,
        status: 'completed',
        background: true,
        output_text: RESPONSES.CQ,
      });
      // Retrieved once, it is kept like any stored response: evicted already.
      expect(await onSmall.responses.retrieve(first.id).catch((e: unknown) => e)).toBeInstanceOf(
        OpenAI.NotFoundError,
      );
    } finally {
      await small.close();
    }
  });
});

describe('two processes sharing a response folder', () => {
  let dir: string;
  let a: RunningServer & { app: ProxyApp };
  let b: RunningServer & { app: ProxyApp };
  let onA: OpenAI;
  let onB: OpenAI;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gtalign-bg-folder-'));
    const serve = async () =>
      startProxyServer({
        model: model(),
        responseFolder: await ResponseFolder.open(dir, { maxResponses: 100 }),
        log: () => {},
      });
    a = await serve();
    b = await serve();
    onA = new OpenAI({ baseURL: `${a.url}/v1`, apiKey: 'none', maxRetries: 0 });
    onB = new OpenAI({ baseURL: `${b.url}/v1`, apiKey: 'none', maxRetries: 0 });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  /** A stream's events, as the official client gives them. */
  async function collect(
    stream: AsyncIterable<OpenAI.Responses.ResponseStreamEvent>,
    onEvent: (e: OpenAI.Responses.ResponseStreamEvent) => void = () => {},
  ): Promise<OpenAI.Responses.ResponseStreamEvent[]> {
    const seen: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) {
      seen.push(event);
      onEvent(event);
    }
    return seen;
  }

  it('the other process answers polls, streams the run live from the folder, and continues the answer', async () => {
    const hold = held();
    upstream.setHandler(hold.handler);
    const created = await onA.responses.create({ model: 'x', input: QUESTION, background: true });
    // B reads it from the folder as A has it: in_progress once A runs it (the model has the request), not
    // continued until it has an answer.
    await hold.reached;
    expect(await onA.responses.retrieve(created.id)).toMatchObject({ status: 'in_progress' });
    expect(await onB.responses.retrieve(created.id)).toMatchObject({
      status: 'in_progress',
      background: true,
    });
    const next = await onB.responses
      .create({ model: 'x', input: 'And then?', previous_response_id: created.id })
      .catch((e: unknown) => e);
    expect((next as InstanceType<typeof OpenAI.BadRequestError>).message).toContain('is in_progress');
    // B streams it from A's event file, live: the model answers only once B has seen the run start.
    const onBStream = await collect(await onB.responses.retrieve(created.id, { stream: true }), (e) => {
      if (e.type === 'response.in_progress') hold.release();
    });
    expect(onBStream.at(-1)).toMatchObject({ type: 'response.completed' });
    expect(onBStream.map((e) => e.sequence_number)).toEqual(onBStream.map((_, i) => i));
    const text = onBStream.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : []));
    expect(text.join('')).toBe(RESPONSES.CQ);
    // The same events A keeps, and from a sequence number on after the end.
    const onAStream = await collect(await onA.responses.retrieve(created.id, { stream: true }));
    expect(onBStream).toEqual(onAStream);
    const tail = await collect(await onB.responses.retrieve(created.id, { stream: true, starting_after: 3 }));
    expect(tail).toEqual(onAStream.slice(4));
    // B sees the answer and continues it.
    expect(await onB.responses.retrieve(created.id)).toMatchObject({
      status: 'completed',
      output_text: RESPONSES.CQ,
    });
    const continued = await onB.responses.create({
      model: 'x',
      input: 'And the first mammals?',
      previous_response_id: created.id,
    });
    expect(continued.status).toBe('completed');
    // Deleting the response removes its event file too.
    expect(existsSync(join(dir, `${created.id}.events`))).toBe(true);
    await onB.responses.delete(created.id);
    expect(existsSync(join(dir, `${created.id}.events`))).toBe(false);
  });

  it("a client resuming after N on the other process, once the run's event file is gone, gets a 410 saying so", async () => {
    const created = await onA.responses.create({ model: 'x', input: QUESTION, background: true });
    await expect.poll(async () => (await onB.responses.retrieve(created.id)).status).toBe('completed');
    await rm(join(dir, `${created.id}.events`));
    const resumed = await onB.responses
      .retrieve(created.id, { stream: true, starting_after: 3 })
      .catch((e: unknown) => e);
    expect(resumed).toBeInstanceOf(OpenAI.APIError);
    expect(resumed).toMatchObject({ status: 410, code: 'response_events_not_kept', param: 'starting_after' });
    expect(await onB.responses.retrieve(created.id)).toMatchObject({ output_text: RESPONSES.CQ });
  });

  it('the other process streams a response made without background, rebuilt from its record', async () => {
    const made = await onA.responses.create({ model: 'x', input: QUESTION });
    const seen = await collect(await onB.responses.retrieve(made.id, { stream: true }));
    expect(seen.map((e) => e.sequence_number)).toEqual(seen.map((_, i) => i));
    expect(seen.at(-1)).toMatchObject({ type: 'response.completed', response: { id: made.id } });
    const text = seen.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : []));
    expect(text.join('')).toBe(made.output_text);
  });

  it('the other process cancels a run: the upstream call is aborted, and both answer cancelled', async () => {
    upstream.setHandler(() => ({ hang: true }));
    const cutBefore = upstream.cutOff;
    const hung = await onA.responses.create({ model: 'x', input: QUESTION, background: true });
    await waitFor(() => upstream.inFlight > 0);
    const following = onB.responses.retrieve(hung.id, { stream: true }).then((s) => collect(s));
    const cancelled = await onB.responses.cancel(hung.id);
    expect(cancelled).toMatchObject({ id: hung.id, status: 'cancelled', background: true });
    await expect.poll(() => upstream.cutOff, { timeout: 30_000 }).toBe(cutBefore + 1);
    expect(await onA.responses.retrieve(hung.id)).toMatchObject({ status: 'cancelled' });
    // Cancelling again changes nothing; the request left in the folder is gone.
    expect(await onB.responses.cancel(hung.id)).toMatchObject({ status: 'cancelled' });
    expect(existsSync(join(dir, `${hung.id}.cancel`))).toBe(false);
    // B's follower saw the run's events end with the cancelled run's error event.
    const seen = await following;
    expectCancelledStream(seen);
    // Deleting a run on B stops it on A first, so A's end does not bring the record back.
    const third = await onA.responses.create({ model: 'x', input: QUESTION, background: true });
    await expect.poll(() => upstream.cutOff, { timeout: 30_000 }).toBe(cutBefore + 1);
    await waitFor(() => upstream.inFlight > 0);
    await onB.responses.delete(third.id);
    await expect.poll(() => upstream.cutOff, { timeout: 30_000 }).toBe(cutBefore + 2);
    await waitFor(() => a.app.background.active === 0);
    for (const on of [onA, onB])
      expect(
        ((await on.responses.retrieve(third.id).catch((e: unknown) => e)) as { status: number }).status,
      ).toBe(404);
    expect(existsSync(join(dir, `${third.id}.json`))).toBe(false);
    // A run A cancels is cancelled for B too.
    const second = await onA.responses.create({ model: 'x', input: QUESTION, background: true });
    await waitFor(() => upstream.inFlight > 0);
    await onA.responses.cancel(second.id);
    expect(await onB.responses.retrieve(second.id)).toMatchObject({ status: 'cancelled' });
  });
});

describe('closing the server', () => {
  /** A server with a folder of its own, and a second one reading it (the first is gone by then). */
  async function serveWithFolder() {
    const dir = await mkdtemp(join(tmpdir(), 'gtalign-bg-close-'));
    const open = async () =>
      startProxyServer({
        model: model(),
        responseFolder: await ResponseFolder.open(dir, { maxResponses: 100 }),
        log: () => {},
      });
    return { dir, own: await open(), reader: open };
  }

  it('gives running responses the grace to finish: one the model answers meanwhile is kept completed', async () => {
    const { dir, own, reader } = await serveWithFolder();
    try {
      const hold = held();
      upstream.setHandler(hold.handler);
      const ownClient = new OpenAI({ baseURL: `${own.url}/v1`, apiKey: 'none', maxRetries: 0 });
      const created = await ownClient.responses.create({ model: 'x', input: QUESTION, background: true });
      await hold.reached;
      // Closing starts; the model answers within the grace (30 s here: nothing waits on it but the answer).
      const closing = own.close(30_000);
      hold.release();
      await closing;
      expect(own.app.background.active).toBe(0);
      const after = await reader();
      try {
        const client = new OpenAI({ baseURL: `${after.url}/v1`, apiKey: 'none', maxRetries: 0 });
        expect(await client.responses.retrieve(created.id)).toMatchObject({
          status: 'completed',
          output_text: RESPONSES.CQ,
        });
      } finally {
        await after.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('past the grace, ends what still runs failed with server_shutdown (not cancelled), and cuts its upstream call', async () => {
    const { dir, own, reader } = await serveWithFolder();
    try {
      upstream.setHandler(() => ({ hang: true }));
      const cutBefore = upstream.cutOff;
      const ownClient = new OpenAI({ baseURL: `${own.url}/v1`, apiKey: 'none', maxRetries: 0 });
      const created = await ownClient.responses.create({ model: 'x', input: QUESTION, background: true });
      await expect.poll(() => upstream.inFlight, { timeout: 30_000 }).toBeGreaterThan(0);
      await own.close(0);
      expect(own.app.background.active).toBe(0);
      await expect.poll(() => upstream.cutOff, { timeout: 30_000 }).toBe(cutBefore + 1);
      const after = await reader();
      try {
        const client = new OpenAI({ baseURL: `${after.url}/v1`, apiKey: 'none', maxRetries: 0 });
        expect(await client.responses.retrieve(created.id)).toMatchObject({
          status: 'failed',
          error: { code: 'server_shutdown' },
        });
        // Its stream, read from the folder, ends with the failure.
        const seen: OpenAI.Responses.ResponseStreamEvent[] = [];
        for await (const e of await client.responses.retrieve(created.id, { stream: true })) seen.push(e);
        expect(seen.map((e) => e.type).slice(-2)).toEqual(['error', 'response.failed']);
      } finally {
        await after.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
