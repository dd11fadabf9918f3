/**
 * Request coalescing and the per-request deadline of `gtalign reward serve`. Time is a hand-driven
 * scheduler: batches flush by count or when the test fires the wait timer, and a deadline passes when the
 * test says so; nothing here depends on how fast the machine is.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { type Judge, type JudgeStats, type JudgeVerdict, newJudgeStats } from '../../src/reward/judge.js';
import { createCoalescer } from '../../src/server/coalesce.js';
import type { RunningServer } from '../../src/server/listen.js';
import { startRewardServer } from '../../src/server/reward.js';
import { manualScheduler } from '../support/manual-scheduler.js';

interface ParityCase {
  id: string;
  data_source: string;
  response: string;
  ground_truth: string;
  verdict: number;
  expected: { score: number };
}
const cases: ParityCase[] = readFileSync(new URL('../fixtures/reward-parity.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as ParityCase);
const scorable = cases.filter((c) => c.expected.score > 0);

/** Lets pending I/O and promise callbacks run (no clock involved). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  expect(cond()).toBe(true);
}

/** A judge whose verdicts the test gives by hand; a call ends as `aborted` when its signal fires. */
function handJudge() {
  const calls: Array<{ resolve: (v: JudgeVerdict) => void; aborted: boolean }> = [];
  const stats = (): JudgeStats => ({ ...newJudgeStats(), httpCalls: calls.length });
  const judge: Judge = {
    verdict: (_family, _input, options) =>
      new Promise<JudgeVerdict>((resolve) => {
        const call = { resolve, aborted: false };
        calls.push(call);
        options?.signal?.addEventListener('abort', () => {
          call.aborted = true;
          resolve({ ok: false, error: 'aborted', reason: 'aborted', attempts: 1 });
        });
      }),
    ask: () => Promise.reject(new Error('not used')),
    requestKey: () => 'k',
    stats,
    cache: undefined,
  };
  return { judge, calls };
}

function body(list: ParityCase[], withVerdict: boolean[]) {
  const prompt = (c: ParityCase) => `Q ${c.id}\n`;
  return JSON.stringify({
    query: list.map((c) => `${prompt(c)}${c.response}`),
    prompts: list.map(prompt),
    labels: list.map((c, i) =>
      JSON.stringify({
        id: c.id,
        data_source: c.data_source,
        ground_truth: c.ground_truth,
        ...(withVerdict[i] ? { verdict: c.verdict } : {}),
      }),
    ),
  });
}

const post = (url: string, text: string) =>
  fetch(`${url}/get_reward`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });

describe('createCoalescer', () => {
  it('flushes a full batch at once, the rest when the wait timer fires, and maps results back', async () => {
    const clock = manualScheduler();
    const batches: number[][] = [];
    const c = createCoalescer<number, string>({
      maxBatch: 4,
      maxWaitMs: 5,
      scheduler: clock.schedule,
      run: (items) => {
        batches.push([...items]);
        return items.map((i) => Promise.resolve(`r${i}`));
      },
    });
    const a = c.submit([1, 2, 3]);
    expect(batches).toEqual([]);
    expect(clock.live().map((t) => t.ms)).toEqual([5]);
    const b = c.submit([4, 5]);
    expect(batches).toEqual([[1, 2, 3, 4]]);
    expect(c.queued).toBe(1);
    clock.fire(5);
    expect(batches).toEqual([[1, 2, 3, 4], [5]]);
    expect(await Promise.all([...a, ...b])).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
    const big = c.submit([6, 7, 8, 9, 10, 11, 12, 13, 14]);
    expect(batches.slice(2)).toEqual([
      [6, 7, 8, 9],
      [10, 11, 12, 13],
    ]);
    c.flush();
    expect(batches.slice(4)).toEqual([[14]]);
    expect(clock.live()).toEqual([]);
    expect(await Promise.all(big)).toHaveLength(9);
  });

  it('a batch that throws, or gives the wrong number of results, fails each of its items', async () => {
    const bad = createCoalescer<number, number>({
      maxBatch: 2,
      maxWaitMs: 0,
      scheduler: manualScheduler().schedule,
      run: (items) => {
        if (items[0] === 0) throw new Error('boom');
        return [Promise.resolve(1)];
      },
    });
    const r1 = await Promise.allSettled(bad.submit([0, 1]));
    expect(r1.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    const r2 = await Promise.allSettled(bad.submit([1, 2]));
    expect(String((r2[0] as PromiseRejectedResult).reason)).toMatch(/1 results for 2 items/);
  });
});

describe('reward server: coalescing and deadline', () => {
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('samples of concurrent requests are scored as one batch, each request gets its own numbers', async () => {
    const clock = manualScheduler();
    server = await startRewardServer({
      clipVerdicts: true,
      coalesce: { maxBatch: 4, maxWaitMs: 50 },
      scheduler: clock.schedule,
      log: () => {},
    });
    const [a, b, c, d] = scorable;
    const r1 = post(server.url, body([a!, b!], [true, true]));
    // The first request waits for company (the 50 ms timer is never fired here): the second fills the batch.
    await until(() => clock.live().some((t) => t.ms === 50));
    const r2 = post(server.url, body([c!, d!], [true, true]));
    const [j1, j2] = (await Promise.all([(await r1).json(), (await r2).json()])) as Array<{
      rewards: number[];
    }>;
    expect(j1!.rewards[0]).toBeCloseTo(a!.expected.score, 12);
    expect(j1!.rewards[1]).toBeCloseTo(b!.expected.score, 12);
    expect(j2!.rewards[0]).toBeCloseTo(c!.expected.score, 12);
    expect(j2!.rewards[1]).toBeCloseTo(d!.expected.score, 12);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/gtalign_reward_coalesced_batch_samples_count 1\n/);
    expect(metrics).toMatch(/gtalign_reward_coalesced_batch_samples_sum 4\n/);
  });

  it('skip: at the deadline the request is answered; the unscored sample is a failure naming it, its judge call goes on', async () => {
    const clock = manualScheduler();
    const { judge, calls } = handJudge();
    server = await startRewardServer({
      judge,
      mathCheck: false,
      coalesce: { maxBatch: 2, maxWaitMs: 5 },
      deadlineMs: 170_000,
      scheduler: clock.schedule,
      log: () => {},
    });
    const [a, b] = scorable;
    const pending = post(server.url, body([a!, b!], [false, true]));
    await until(() => calls.length === 1);
    clock.fire(170_000);
    const reply = (await (await pending).json()) as {
      rewards: Array<number | null>;
      errors: Array<{ index: number; stage: string; reason: string; message: string }>;
      extra_logs: Record<string, unknown[]>;
    };
    expect(reply.rewards[0]).toBeNull();
    expect(reply.rewards[1]).toBeCloseTo(b!.expected.score, 12);
    expect(reply.errors).toEqual([
      expect.objectContaining({
        index: 0,
        stage: 'judge',
        reason: 'timeout',
        message: expect.stringMatching(/not scored within the server's deadline of 170 s/),
      }),
    ]);
    expect(reply.extra_logs['gtalign/failed']).toEqual([1, 0]);
    // Not cancelled: a retry of the request joins this call (or finds its verdict cached).
    expect(calls[0]!.aborted).toBe(false);
    calls[0]!.resolve({ ok: true, value: 1, cached: false, attempts: 1, reply: '\\boxed{1}' });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/gtalign_reward_deadline_failures_total 1\n/);
  });

  it('fail: a request that reaches its deadline is 504 deadline_exceeded (OpenRLHF retries it)', async () => {
    const clock = manualScheduler();
    const { judge, calls } = handJudge();
    server = await startRewardServer({
      judge,
      mathCheck: false,
      onJudgeError: 'fail',
      coalesce: false,
      deadlineMs: 1000,
      scheduler: clock.schedule,
      log: () => {},
    });
    const [a] = scorable;
    const pending = post(server.url, body([a!], [false]));
    await until(() => calls.length === 1);
    clock.fire(1000);
    const res = await pending;
    expect(res.status).toBe(504);
    const err = (await res.json()) as { error: { code: string; message: string } };
    expect(err.error.code).toBe('deadline_exceeded');
    expect(err.error.message).toMatch(/^sample 0: not scored within the server's deadline of 1 s/);
  });

  it('a client that leaves cancels the judge calls of its batch', async () => {
    const clock = manualScheduler();
    const { judge, calls } = handJudge();
    server = await startRewardServer({
      judge,
      mathCheck: false,
      coalesce: { maxBatch: 1, maxWaitMs: 5 },
      scheduler: clock.schedule,
      log: () => {},
    });
    const controller = new AbortController();
    const pending = fetch(`${server.url}/get_reward`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body([scorable[0]!], [false]),
      signal: controller.signal,
    }).catch(() => undefined);
    await until(() => calls.length === 1);
    controller.abort();
    await pending;
    await until(() => calls[0]!.aborted);
  });
});
