import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BatchAbortedError,
  type BatchItem,
  type BatchResult,
  newBatchStats,
  scoreBatch,
} from '../../src/reward/batch.js';
import type { AskOptions, Judge, JudgeVerdict } from '../../src/reward/judge.js';
import type { JudgeInput } from '../../src/reward/rubrics.js';
import { analyzeSample, type RewardSample, scoreWithVerdict } from '../../src/reward/score.js';

interface ParityCase extends RewardSample {
  id: string;
  verdict: number;
}

const cases: ParityCase[] = readFileSync(new URL('../fixtures/reward-parity.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as ParityCase);
const judged = cases.filter((c) => analyzeSample(c).kind === 'pending' && c.verdict <= 1);

const PAYOFF = JSON.stringify({
  DQ_AQ: { LLM: 2.1, user: 2.6 },
  DQ_CQ: { LLM: 1.4, user: 1.9 },
  DQ_DA: { LLM: 3.2, user: 3.4 },
  VQ_AQ: { LLM: 1.2, user: 1.5 },
  VQ_CQ: { LLM: 0.8, user: 1.1 },
  VQ_DA: { LLM: 2.0, user: 1.8 },
});
const mathOutput = (thinking: string, response: string) =>
  `<thinking>${thinking}</thinking><payoff>${PAYOFF}</payoff><analyze>I choose DQ_DA.</analyze><response>${response}</response>`;

type Script = (input: JudgeInput, call: number) => JudgeVerdict | Promise<JudgeVerdict> | 'throw' | 'hang';

/** A scripted Judge: answers by the sample's response text, records calls and aborts. */
function scriptedJudge(script: Script) {
  const calls: JudgeInput[] = [];
  const aborted: JudgeInput[] = [];
  const judge: Judge = {
    async verdict(_family, input: JudgeInput, options?: AskOptions) {
      calls.push(input);
      const r = script(input, calls.length);
      if (r === 'throw') throw new Error('socket exploded');
      if (r === 'hang') {
        return new Promise<JudgeVerdict>((resolve) => {
          options?.signal?.addEventListener('abort', () => {
            aborted.push(input);
            resolve({ ok: false, reason: 'aborted', error: 'aborted by caller', attempts: 1 });
          });
        });
      }
      return r;
    },
    ask: () => Promise.reject(new Error('unused')),
    requestKey: () => '',
    stats: () => {
      throw new Error('unused');
    },
    cache: undefined,
  };
  return { judge, calls, aborted };
}

const ok = (value: number): JudgeVerdict => ({ ok: true, value, cached: false, attempts: 1, reply: '' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function collect(it: AsyncIterable<BatchResult>): Promise<BatchResult[]> {
  const out: BatchResult[] = [];
  for await (const r of it) out.push(r);
  return out;
}

describe('scoreBatch', () => {
  it('yields every sample once, in input order, whatever order the judge answers in', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(judged.length - 1), fc.nat(6), fc.boolean()), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.integer({ min: 1, max: 9 }),
        async (plan, concurrency) => {
          // Each item: a parity case, a judge delay, and whether the judge fails on it.
          const items: BatchItem[] = plan.map(([c, ,], i) => ({
            line: i + 1,
            id: `s${i}`,
            sample: { ...judged[c]!, extra_info: { ...judged[c]!.extra_info, single_turn_prompt: `#${i}` } },
          }));
          const { judge } = scriptedJudge(async (input) => {
            const i = Number(String(input.question).slice(1));
            const [c, delay, fails] = plan[i]!;
            await sleep(delay);
            return fails
              ? { ok: false, reason: 'http_status', error: 'HTTP 500', attempts: 3 }
              : ok(judged[c]!.verdict);
          });
          const stats = newBatchStats();
          const out = await collect(scoreBatch(items, { judge, concurrency, mathCheck: false }, stats));
          expect(out.map((r) => r.id)).toEqual(items.map((i) => i.id));
          for (const [i, r] of out.entries()) {
            const [c, , fails] = plan[i]!;
            if (fails) {
              expect('error' in r && r.error.stage === 'judge' && r.error.reason === 'http_status').toBe(
                true,
              );
              expect('record' in r).toBe(false); // a failed judge is never a 0
            } else {
              const want = scoreWithVerdict(judged[c]!, judged[c]!.verdict);
              expect('record' in r && want.kind === 'record' && r.record.score).toBe(
                want.kind === 'record' && want.score,
              );
            }
          }
          expect(stats.failures).toBe(plan.filter((p) => p[2]).length);
          expect(stats.samples).toBe(plan.length);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('under fail, yields everything before the first failure in input order, then throws', async () => {
    const items: BatchItem[] = judged.slice(0, 12).map((c, i) => ({ line: i + 1, id: i, sample: c }));
    // Item 5 fails fast; later items answer quickly, earlier ones slowly.
    const { judge } = scriptedJudge(async (input) => {
      const i = judged.findIndex((c) => c.response.includes(input.response));
      if (i === 5) return { ok: false, reason: 'bad_verdict', error: 'no \\boxed{}', attempts: 4 };
      await sleep(i < 5 ? 30 : 1);
      return ok(judged[i]!.verdict);
    });
    const seen: unknown[] = [];
    const run = async () => {
      for await (const r of scoreBatch(items, {
        judge,
        concurrency: 8,
        onJudgeError: 'fail',
        mathCheck: false,
      }))
        seen.push(r.id);
    };
    const err = await run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BatchAbortedError);
    expect((err as BatchAbortedError).message).toMatch(
      /^line 6 \(id 5\): the judge failed after 4 attempts: /,
    );
    // The count is said once (it used to read "after 4 attempt(s): … (gave up after 4 attempts)").
    expect((err as BatchAbortedError).message).not.toMatch(/gave up|attempt\(s\)/);
    expect(seen).toEqual([0, 1, 2, 3, 4]);
  });

  it('cancels the judge calls in flight when the batch stops early', async () => {
    const items: BatchItem[] = judged.slice(0, 6).map((c, i) => ({ line: i + 1, id: i, sample: c }));
    const { judge, aborted } = scriptedJudge((_input, call) => (call === 1 ? ok(1) : 'hang'));
    for await (const r of scoreBatch(items, { judge, concurrency: 6, mathCheck: false })) {
      expect(r.id).toBe(0);
      break; // the consumer leaves (e.g. its output pipe closed)
    }
    await sleep(0);
    expect(aborted).toHaveLength(5);
  });

  it('turns a judge that throws into a judge error for that sample only', async () => {
    const items: BatchItem[] = judged.slice(0, 3).map((c, i) => ({ line: i + 1, id: i, sample: c }));
    const { judge } = scriptedJudge((_input, call) => (call === 2 ? 'throw' : ok(1)));
    const out = await collect(scoreBatch(items, { judge, concurrency: 1, mathCheck: false }));
    expect(out.map((r) => r.id)).toEqual([0, 1, 2]);
    expect(out[1]).toMatchObject({ error: { stage: 'judge', message: 'judge threw: socket exploded' } });
    expect('record' in out[0]! && 'record' in out[2]!).toBe(true);
  });

  it('settles a plainly right math answer without the judge, and only that', async () => {
    const gt = '\\frac{3}{4}';
    const items: BatchItem[] = [
      // Right, in another form: no judge call.
      mathOutput('Compute.', 'So the probability is $\\boxed{\\dfrac{3}{4}}$. Want the steps?'),
      // The true answer appears only in the reasoning; the response's answer is wrong.
      mathOutput('It might be 3/4, I first thought.', 'The answer is $\\boxed{0.7}$.'),
      // Right, then taken back.
      mathOutput('Compute.', 'The answer is $\\frac{3}{4}$. Wait, that is wrong: it is $\\frac{2}{3}$.'),
    ].map((response, i) => ({
      line: i + 1,
      id: i,
      sample: { data_source: 'math-hard', response, ground_truth: gt },
    }));
    const { judge, calls } = scriptedJudge(() => ok(0));
    const stats = newBatchStats();
    const out = await collect(scoreBatch(items, { judge }, stats));
    expect(out.map((r) => ('record' in r ? [r.record.verdict_source, r.record.verdict] : 'error'))).toEqual([
      ['math-check', 1],
      ['judge', 0],
      ['judge', 0],
    ]);
    expect(calls).toHaveLength(2);
    expect(stats).toMatchObject({ mathShortcuts: 1, judgeVerdicts: 2 });
    // Switched off, as in the reference: every sample goes to the judge.
    const off = scriptedJudge(() => ok(1));
    await collect(scoreBatch(items, { judge: off.judge, mathCheck: false }));
    expect(off.calls).toHaveLength(3);
  });
});
