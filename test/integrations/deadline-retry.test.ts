/**
 * A sample the reward server answers as failed at its deadline (its judge call goes on) is sent again by
 * the Python client, within its retries, instead of failing the trainer's step: the server answers it as
 * such under `--on-judge-error skip` (the default) as it does with 504 under `fail`. A judge that fails is
 * not asked again. Time is the test's: the server's deadline fires when the test says so.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Judge, JudgeVerdict } from '../../src/reward/judge.js';
import { newJudgeStats } from '../../src/reward/judge.js';
import type { RunningServer } from '../../src/server/listen.js';
import { startRewardServer } from '../../src/server/reward.js';
import { manualScheduler } from '../support/manual-scheduler.js';
import { CASES, lastJson, PRELUDE, PYTHON, runPython } from './python-support.js';

const DEADLINE_MS = 170_000;

/** The reward server over `judge`, one request at a time (no coalescing), its deadline on `clock`. */
function serveJudge(judge: Judge, clock: ReturnType<typeof manualScheduler>, deadlineMs = DEADLINE_MS) {
  return startRewardServer({
    judge,
    mathCheck: false,
    coalesce: false,
    deadlineMs,
    scheduler: clock.schedule,
    log: () => {},
  });
}

/** A judge whose calls the test answers by hand; `called(n)` resolves once it has had n calls. */
function handJudge() {
  const calls: Array<(v: JudgeVerdict) => void> = [];
  const aborted: boolean[] = [];
  const waiting: Array<{ n: number; resolve: () => void }> = [];
  const called = (n: number) =>
    new Promise<void>((resolve) => {
      if (calls.length >= n) resolve();
      else waiting.push({ n, resolve });
    });
  const judge: Judge = {
    verdict: (_family, _input, options) =>
      new Promise<JudgeVerdict>((resolve) => {
        const i = calls.push(resolve) - 1;
        aborted.push(false);
        options?.signal?.addEventListener('abort', () => {
          aborted[i] = true;
        });
        for (const w of waiting) if (calls.length >= w.n) w.resolve();
      }),
    ask: () => Promise.reject(new Error('not used')),
    requestKey: () => 'k',
    stats: () => ({ ...newJudgeStats(), httpCalls: calls.length }),
    cache: undefined,
  };
  return { judge, calls, called, aborted };
}

// A sample the reference scores above 0 with verdict 1, so that the judge's verdict decides its reward.
const sample = CASES.find((c) => c.verdict === 1 && c.expected.score > 0)!;

const SCRIPT = (call: string) => `${PRELUDE}
import gtalign_reward as gr
c = [x for x in cases if x["id"] == ${JSON.stringify(sample.id)}][0]
try:
    out = ${call}
    print(json.dumps({"score": out}))
except Exception as e:
    print(json.dumps({"error": type(e).__name__ + ": " + str(e)}))
`;

const CALLS = {
  'verl compute_score (async)':
    'asyncio.run(gr.compute_score(c["data_source"], c["response"], c["ground_truth"], extra(c, False), url=URL))["score"]',
  'verl compute_score_sync':
    'gr.compute_score_sync(c["data_source"], c["response"], c["ground_truth"], extra(c, False), url=URL)["score"]',
};

describe.skipIf(PYTHON === undefined)('a sample failed by the server deadline', () => {
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  for (const [name, call] of Object.entries(CALLS)) {
    it(`${name}: is sent again and scored once its judge call answers`, async () => {
      const clock = manualScheduler();
      const { judge, calls, called } = handJudge();
      server = await serveJudge(judge, clock);
      const running = runPython(SCRIPT(call), server.url);
      await Promise.race([called(1), running]);
      clock.fire();
      // The client sends the sample again (this stand-in judge is asked again; the real one shares the call);
      // the old client raised instead, ending the script.
      await Promise.race([called(2), running]);
      for (const answer of calls) answer({ ok: true, value: 1, cached: false, attempts: 1, reply: '1' });
      const r = await running;
      expect(r.err).toBe('');
      const out = lastJson<{ score?: number; error?: string }>(r);
      expect(out.error).toBeUndefined();
      expect(Math.abs(out.score! - sample.expected.score)).toBeLessThanOrEqual(1e-9);
    });
  }

  it('OpenRLHF reward_func: only the late sample is sent again, and its answer is put in its place', async () => {
    const clock = manualScheduler();
    const { judge, calls, called } = handJudge();
    server = await serveJudge(judge, clock);
    const other = CASES.find((c) => c.id !== sample.id && c.expected.score > 0)!;
    const running = runPython(
      `${PRELUDE}
import gtalign_reward as gr
late = [x for x in cases if x["id"] == ${JSON.stringify(sample.id)}][0]
done = [x for x in cases if x["id"] == ${JSON.stringify(other.id)}][0]
try:
    out = gr.reward_func(["Q\\n" + late["response"], "Q\\n" + done["response"]], ["Q\\n", "Q\\n"], [label(late, False), label(done)], url=URL)
    print(json.dumps(out))
except Exception as e:
    print(json.dumps({"error": type(e).__name__ + ": " + str(e)}))
`,
      server.url,
    );
    await Promise.race([called(1), running]);
    clock.fire();
    await Promise.race([called(2), running]);
    for (const answer of calls) answer({ ok: true, value: 1, cached: false, attempts: 1, reply: '1' });
    const r = await running;
    expect(r.err).toBe('');
    const out = lastJson<{ error?: string; rewards: number[]; extra_logs: Record<string, number[]> }>(r);
    expect(out.error).toBeUndefined();
    expect(calls).toHaveLength(2);
    expect(Math.abs(out.rewards[0]! - sample.expected.score)).toBeLessThanOrEqual(1e-9);
    expect(Math.abs(out.rewards[1]! - other.expected.score)).toBeLessThanOrEqual(1e-9);
    expect(out.extra_logs['gtalign/failed']).toEqual([0, 0]);
  });

  it('a judge that failed after its retries is not asked again: the sample raises', async () => {
    const { judge, calls, called } = handJudge();
    server = await startRewardServer({ judge, mathCheck: false, coalesce: false, log: () => {} });
    const running = runPython(SCRIPT(CALLS['verl compute_score (async)']), server.url);
    await Promise.race([called(1), running]);
    calls[0]!({ ok: false, error: 'judge timed out', reason: 'timeout', attempts: 3 });
    const r = await running;
    expect(r.err).toBe('');
    expect(lastJson<{ error?: string }>(r).error).toMatch(/^GtalignRewardError: .*judge timed out/);
    expect(calls).toHaveLength(1);
  });
});

describe.skipIf(PYTHON === undefined)("a client that gives up before the server's deadline", () => {
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('AReaL: the client asks for an answer by 90% of its timeout (9 s of its 10 s)', async () => {
    const r = await runPython(
      `${PRELUDE}
import gtalign_reward as gr
print(json.dumps([gr.client(timeout=gr.AREAL_TIMEOUT)._headers(0).get("X-Gtalign-Deadline-Ms"), gr.client()._headers(0).get("X-Gtalign-Deadline-Ms")]))
`,
      'http://127.0.0.1:9',
    );
    expect(r.err).toBe('');
    expect(lastJson<string[]>(r)).toEqual(['9000', '270000']);
  });

  it('AReaL: is answered by its own deadline, its judge call going on for the retry, instead of leaving and cancelling it', async () => {
    const clock = manualScheduler();
    const { judge, calls, called, aborted } = handJudge();
    // The server's own deadline is off: the one scheduled is the client's (a long one, so nothing races it).
    server = await serveJudge(judge, clock, 0);
    const running = runPython(
      SCRIPT(
        'gr.areal_reward("Q", c["response"], [], [], data_source=c["data_source"], ground_truth=c["ground_truth"], extra_info=extra(c, False))',
      ),
      server.url,
      { GTALIGN_REWARD_URL: server.url, GTALIGN_REWARD_TIMEOUT: '3600' },
    );
    await Promise.race([called(1), running]);
    expect(clock.scheduled()).toEqual([3_240_000]);
    clock.fire();
    const r = await running;
    expect(r.err).toBe('');
    expect(lastJson<{ error?: string }>(r).error).toMatch(
      /^GtalignRewardError: .*not scored within the client's deadline of 3240 s/,
    );
    expect(aborted).toEqual([false]);
    calls[0]!({ ok: true, value: 1, cached: false, attempts: 1, reply: '1' });
  });

  it('a malformed deadline header is refused with 400', async () => {
    server = await startRewardServer({ log: () => {} });
    const res = await fetch(`${server.url}/v1/reward/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-gtalign-deadline-ms': '-5' },
      body: JSON.stringify({ samples: [] }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /x-gtalign-deadline-ms/,
    );
  });
});
