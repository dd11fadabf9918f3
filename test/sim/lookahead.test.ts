/**
 * `gtalign reward score --lookahead K` end to end: the real CLI in a child process, against scripted
 * stand-ins (loopback OpenAI-compatible servers replaying outputs this test chooses, test/sim/scripted.ts;
 * none of them is a model) as the policy, the simulated user's model and the judge. Vendors are given
 * explicitly, so no detection probe is sent. The expected rewards are computed here from the scripted
 * turns' welfare (the reward code's scorer, `scoreWithVerdict`) and the documented formula
 * R = (1 − λ)·W_0 + λ·γ^T·W_T, written out again below.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LookaheadScorer, lookaheadRowId } from '../../src/eval/lookahead.js';
import { scoreWithVerdict } from '../../src/reward/score.js';
import { loadPersonaFile, resolvePersonas } from '../../src/sim/persona.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import { type OpenAIStubServer, startOpenAIStubServer, stubModel } from '../support/openai-stub-server.js';
import {
  type Action,
  assistantScript,
  CUP_GROUND_TRUTH,
  CUP_QUESTION,
  heldIndex,
  judgeScript,
  outputOf,
  STAGE1,
  userScript,
} from './scripted.js';

const ANSWERS = ['Spain', 'Germany'];
const CQ_TEXT = 'Which year do you mean?';
const CQ2_TEXT = 'Do you mean the final or the whole tournament?';
const AQ_TEXT = 'Spain won in 2010. Which year did you mean?';
const DA_TEXT = 'It was Spain.';
const PROMPT = [{ role: 'user', content: `Answer in four blocks.\nQuestion: ${CUP_QUESTION}` }];
const EXTRA = { single_turn_prompt: CUP_QUESTION, chat_history: [{ role: 'user', content: CUP_QUESTION }] };
const LAMBDA = 0.4;
const GAMMA = 0.8;

/** The rollouts' turn texts: a CQ turn is asked again once (K = 2 then ends on a DA), an AQ is answered. */
const responseOf = (action: Action, first: string | undefined): string => {
  if (action === 'DA') return DA_TEXT;
  if (action === 'AQ') return AQ_TEXT;
  return first === undefined ? CQ_TEXT : CQ2_TEXT;
};

const sample = (id: string, action: Action) => ({
  id,
  data_source: 'ambig_qa',
  response: outputOf(action, responseOf(action, undefined)),
  ground_truth: CUP_GROUND_TRUTH,
  extra_info: EXTRA,
  prompt: PROMPT,
  verdict: 1,
});

let dir: string;
let policy: OpenAIStubServer;
let user: OpenAIStubServer;
let badUser: OpenAIStubServer;
let judge: OpenAIStubServer;
let input: string;
let personaFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-lookahead-'));
  policy = await startOpenAIStubServer(
    assistantScript((messages, turn) => {
      // The scored turn is the first assistant message; what follows depends on what it was.
      const first = messages.find((m) => m.role === 'assistant')?.content;
      const action: Action = first === CQ_TEXT && turn === 2 ? 'CQ' : 'DA';
      return { action, response: responseOf(action, first) };
    }),
  );
  user = await startOpenAIStubServer(userScript);
  badUser = await startOpenAIStubServer(() => ({ status: 400, errorMessage: 'scripted user failure' }));
  judge = await startOpenAIStubServer(judgeScript);
  input = join(dir, 'in.jsonl');
  await writeFile(
    input,
    [sample('cq', 'CQ'), sample('aq', 'AQ'), sample('da', 'DA')].map((s) => JSON.stringify(s)).join('\n'),
  );
  personaFile = join(dir, 'personas.json');
  // A persona that always takes an AQ's follow-up, so the AQ rollout does not hang on a seeded draw.
  await writeFile(
    personaFile,
    JSON.stringify({ personas: [{ name: 'eager', description: 'You answer every question.', followUp: 1 }] }),
  );
});
afterAll(async () => {
  await Promise.all([policy.close(), user.close(), badUser.close(), judge.close()]);
  await rm(dir, { recursive: true, force: true });
});

function args(out: string, cache: string, userUrl: string): string[] {
  return [
    'reward',
    'score',
    '--input',
    input,
    '--output',
    out,
    '--judge-url',
    judge.baseUrl,
    '--judge-model',
    'stub-judge',
    '--judge-vendor',
    'vllm',
    '--no-cache',
    '--lookahead',
    '2',
    '--lookahead-weight',
    String(LAMBDA),
    '--lookahead-discount',
    String(GAMMA),
    '--lookahead-cache',
    cache,
    '--policy-url',
    policy.baseUrl,
    '--policy-model',
    'stub-policy',
    '--policy-vendor',
    'vllm',
    '--user-base-url',
    userUrl,
    '--user-model',
    'stub-user',
    '--user-vendor',
    'vllm',
    '--persona-file',
    personaFile,
    '--persona',
    'eager',
  ];
}

const records = async (path: string) =>
  (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l.trim() !== '')
    // biome-ignore lint/suspicious/noExplicitAny: JSON records read back from the output
    .map((l) => JSON.parse(l) as Record<string, any>);

const W = (action: Action, text: string, verdict: number): number => {
  const r = scoreWithVerdict(
    { data_source: 'ambig_qa', response: outputOf(action, text), ground_truth: CUP_GROUND_TRUTH },
    verdict,
  );
  if (r.kind !== 'record') throw new Error('unscorable');
  return r.score;
};

/** R = (1 − λ)·W_0 + λ·γ^T·W_T, with W_T = W_0 when T = 0. */
const formula = (w0: number, future: number[]) =>
  (1 - LAMBDA) * w0 + LAMBDA * GAMMA ** future.length * (future.length === 0 ? w0 : future.at(-1)!);

describe('reward score --lookahead (scripted policy, user and judge)', () => {
  it('gives the documented formula per sample, with the calls counted, and a cached rerun calls nothing', async () => {
    const rowId = lookaheadRowId({
      data_source: 'ambig_qa',
      ground_truth: CUP_GROUND_TRUTH,
      extra_info: EXTRA,
      prompt: PROMPT,
    });
    const correct = ANSWERS[heldIndex(0, rowId, 2)] === 'Spain' ? 1 : 0;
    // CQ: user answers, policy asks again (judged by the ambiguity rubric: 1), user answers, policy answers
    // (final: judged against the held meaning). AQ: user answers the follow-up, policy answers. DA: nothing.
    const expected: Record<
      string,
      { w0: number; future: number[]; policy: number; user: number; end: string }
    > = {
      cq: {
        w0: W('CQ', CQ_TEXT, 1),
        future: [W('CQ', CQ2_TEXT, 1), W('DA', DA_TEXT, correct)],
        policy: 4, // two turns, two stages each (stage 1 to </payoff>, then the continuation)
        user: 2,
        end: 'answered',
      },
      aq: {
        w0: W('AQ', AQ_TEXT, 1),
        future: [W('DA', DA_TEXT, correct)],
        policy: 2,
        user: 1,
        end: 'answered',
      },
      da: { w0: W('DA', DA_TEXT, 1), future: [], policy: 0, user: 0, end: 'answered' },
    };
    const cache = join(dir, 'cache');
    const out = join(dir, 'out1.jsonl');
    const r = await runCliInProcess(args(out, cache, user.baseUrl));
    expect(r.code, r.stderr).toBe(0);
    const got = await records(out);
    expect(got.map((g) => g.id)).toEqual(['cq', 'aq', 'da']);
    for (const g of got) {
      const e = expected[g.id]!;
      const la = g.components.lookahead;
      console.log(
        `lookahead ${g.id}: R=${g.score} turns=${la.turns} policy_calls=${la.policy_calls} user_calls=${la.user_calls} cached=${la.cached}`,
      );
      expect(la.own).toBeCloseTo(e.w0, 12);
      expect(la.future.length).toBe(e.future.length);
      for (const [i, w] of (la.future as number[]).entries()) expect(w).toBeCloseTo(e.future[i]!, 12);
      expect(g.score).toBeCloseTo(formula(e.w0, e.future), 12);
      expect(la).toMatchObject({
        turns: e.future.length,
        policy_calls: e.policy,
        user_calls: e.user,
        cached: false,
        end: e.end,
        horizon: 2,
        weight: LAMBDA,
        discount: GAMMA,
      });
    }
    // A DA turn has no look-ahead: its reward is its own.
    expect(got[2]!.score).toBeCloseTo(expected.da!.w0, 12);
    // The servers saw exactly the counted calls (one judge call: the CQ rollout's asking turn).
    expect(policy.requests.length).toBe(6);
    expect(user.requests.length).toBe(3);
    expect(judge.requests.length).toBe(1);
    expect(r.stderr).toMatch(/policy calls 6 \(2\.000\/sample\), user calls 3 \(1\.000\/sample\)/);
    // The three input verdicts; the two final turns' verdicts from the held meaning are not the input's.
    expect(r.stderr).toMatch(/verdicts from input 3,/);

    // The same input again with the cache: no new call of any kind, the same rewards.
    const out2 = join(dir, 'out2.jsonl');
    const r2 = await runCliInProcess(args(out2, cache, user.baseUrl));
    expect(r2.code, r2.stderr).toBe(0);
    const again = await records(out2);
    expect(policy.requests.length).toBe(6);
    expect(user.requests.length).toBe(3);
    expect(judge.requests.length).toBe(1);
    expect(again.map((g) => g.score)).toEqual(got.map((g) => g.score));
    expect(again.map((g) => g.components.lookahead.cached)).toEqual([true, true, false]);
    expect(again.map((g) => g.components.lookahead.policy_calls + g.components.lookahead.user_calls)).toEqual(
      [0, 0, 0],
    );
    expect(r2.stderr).toMatch(/policy calls 0 .*user calls 0/);
  }, 60_000);

  it('rolls out again when a cached rollout is not one (edited, truncated), never a reward of null', async () => {
    const cache = join(dir, 'cache-damaged');
    const first = join(dir, 'out-damaged-1.jsonl');
    const r = await runCliInProcess(args(first, cache, user.baseUrl));
    expect(r.code, r.stderr).toBe(0);
    const files = await readdir(cache);
    // The CQ and the AQ rollouts (the DA turn has none).
    expect(files.filter((f) => f.endsWith('.json'))).toHaveLength(2);
    for (const [i, f] of files.entries()) {
      const path = join(cache, f);
      const text = await readFile(path, 'utf8');
      // One entry whose last welfare is not a number, one cut short.
      if (i === 0) {
        const rollout = JSON.parse(text);
        rollout.turns.at(-1).W = 'high';
        await writeFile(path, JSON.stringify(rollout));
      } else await writeFile(path, text.slice(0, text.length >> 1));
    }
    const calls = policy.requests.length;
    const second = join(dir, 'out-damaged-2.jsonl');
    const r2 = await runCliInProcess(args(second, cache, user.baseUrl));
    expect(r2.code, r2.stderr).toBe(0);
    const [before, after] = [await records(first), await records(second)];
    expect(after.map((g) => g.score)).toEqual(before.map((g) => g.score));
    expect(after.map((g) => g.components.lookahead.cached)).toEqual([false, false, false]);
    expect(policy.requests.length - calls).toBe(6);
    // Written anew: a third run reads both.
    const third = join(dir, 'out-damaged-3.jsonl');
    expect((await runCliInProcess(args(third, cache, user.baseUrl))).code).toBe(0);
    expect((await records(third)).map((g) => g.components.lookahead.cached)).toEqual([true, true, false]);
  }, 60_000);

  it("scores a policy's junk future turn as the reward does (0) and counts it in the summary", async () => {
    // A scripted policy server (not a model) that answers every turn with text of no GTAlign block.
    const junk = await startOpenAIStubServer(() => ({ content: 'hello' }));
    try {
      const out = join(dir, 'out-junk.jsonl');
      const r = await runCliInProcess(
        args(out, join(dir, 'cache-junk'), user.baseUrl).map((a) =>
          a === policy.baseUrl ? junk.baseUrl : a,
        ),
      );
      expect(r.code, r.stderr).toBe(0);
      const [, aq] = await records(out);
      const la = aq!.components.lookahead;
      expect(la).toMatchObject({ turns: 1, future: [0], actions: ['?'], end: 'no-action' });
      expect(aq!.score).toBeCloseTo(formula(la.own, [0]), 12);
      // The CQ rollout ends at its junk turn too: two future turns in all, both with no action.
      expect(r.stderr).toMatch(/future turns 2 \(with no action 2\)/);
    } finally {
      await junk.close();
    }
  }, 60_000);

  it('names the look-ahead cache when a finished rollout cannot be written into it', async () => {
    // The library's scorer, which takes the folder as given (the CLI checks it before any call).
    const blocker = join(dir, 'not-a-folder');
    await writeFile(blocker, '');
    const scorer = new LookaheadScorer({
      horizon: 2,
      weight: LAMBDA,
      discount: GAMMA,
      policy: stubModel(policy),
      user: stubModel(user),
      // An AQ turn whose follow-up `eager` takes: one future turn, a final one, judged with no judge.
      personas: resolvePersonas(['eager'], await loadPersonaFile(personaFile)),
      seed: 0,
      cacheDir: join(blocker, 'cache'),
      batch: {},
    });
    const chunks = [];
    for await (const chunk of scorer.stream([JSON.stringify(sample('aq', 'AQ'))], 'in.jsonl'))
      chunks.push(chunk);
    const line = JSON.parse(chunks[0]!.text!);
    expect(line.error.stage).toBe('lookahead');
    expect(line.error.message).toBe(
      `cannot write the rollout into the look-ahead cache ${join(blocker, 'cache')}: a part of the path is a file, not a directory (ENOTDIR)`,
    );
  }, 60_000);

  it('with two personas, gives the mean of their rewards, each persona rolled out and cached on its own', async () => {
    // `aloof` answers no question and never takes an AQ's follow-up: its rollouts end at once (T = 0).
    const file = join(dir, 'two-personas.json');
    await writeFile(
      file,
      JSON.stringify({
        personas: [
          { name: 'eager', description: 'You answer every question.', followUp: 1 },
          { name: 'aloof', description: 'You answer no question.', maxAnswers: 0, followUp: 0 },
        ],
      }),
    );
    const cache = join(dir, 'cache-two');
    const run = (out: string, personas: string) =>
      runCliInProcess([
        ...args(out, cache, user.baseUrl).slice(0, -4),
        '--persona-file',
        file,
        '--persona',
        personas,
      ]);
    const one = join(dir, 'eager.jsonl');
    const r1 = await run(one, 'eager');
    expect(r1.code, r1.stderr).toBe(0);
    const eager = await records(one);
    const calls = [policy.requests.length, user.requests.length, judge.requests.length];
    const two = join(dir, 'two.jsonl');
    const r2 = await run(two, 'eager,aloof');
    expect(r2.code, r2.stderr).toBe(0);
    // Eager's rollouts come from the cache its own run left (a rollout's key has one persona); aloof needs none.
    expect([policy.requests.length, user.requests.length, judge.requests.length]).toEqual(calls);
    const both = await records(two);
    expect(both.map((g) => g.id)).toEqual(['cq', 'aq', 'da']);
    const aloofEnd: Record<string, string> = { cq: 'user-stopped', aq: 'no-follow-up', da: 'answered' };
    for (const [i, g] of both.entries()) {
      const single = eager[i]!;
      const la = g.components.lookahead;
      const own = la.own as number;
      expect(own).toBeCloseTo(single.components.lookahead.own, 12);
      // R = mean(R_eager, R_aloof), and aloof's R is the turn's own reward W_0.
      expect(g.score).toBeCloseTo((single.score + own) / 2, 12);
      expect(la.personas).toHaveLength(2);
      expect(la.personas[0]).toMatchObject({
        persona: 'eager',
        turns: single.components.lookahead.turns,
        end: single.components.lookahead.end,
        future: single.components.lookahead.future,
        cached: single.components.lookahead.turns > 0,
        policy_calls: 0,
        user_calls: 0,
      });
      expect(la.personas[0].reward).toBeCloseTo(single.score, 12);
      expect(la.personas[1]).toMatchObject({ persona: 'aloof', turns: 0, future: [], end: aloofEnd[g.id] });
      expect(la.personas[1].reward).toBeCloseTo(own, 12);
      expect(la).toMatchObject({ turns: single.components.lookahead.turns, policy_calls: 0, user_calls: 0 });
      expect(la.future).toBeUndefined();
    }
    // CQ and AQ really look ahead with eager, so the mean differs from eager's reward alone.
    expect(both[0]!.score).not.toBeCloseTo(eager[0]!.score, 6);
  }, 60_000);

  it("steers the policy's future turns with --lookahead-pricing, in rollouts of their own", async () => {
    const cqOnly = join(dir, 'cq.jsonl');
    await writeFile(cqOnly, JSON.stringify(sample('cq', 'CQ')));
    const cache = join(dir, 'cache-pricing');
    const run = async (extra: string[]) => {
      const before = policy.requests.length;
      const out = join(dir, `pricing-${extra.length}.jsonl`);
      const argv = args(out, cache, user.baseUrl);
      argv[argv.indexOf('--input') + 1] = cqOnly;
      const r = await runCliInProcess([...argv, ...extra]);
      expect(r.code, r.stderr).toBe(0);
      // The payoff blocks the policy was shown in its stage-2 requests (the assistant prefix).
      const shown = policy.requests
        .slice(before)
        .map((q) => (q.body!.messages as Array<{ role: string; content: string }>).at(-1)!)
        .filter((m) => m.role === 'assistant')
        .map((m) => /<payoff>([\s\S]*?)<\/payoff>/.exec(m.content)?.[1]?.trim());
      return { record: (await records(out))[0]!, shown, calls: policy.requests.length - before };
    };
    const plain = await run([]);
    const steered = await run(['--lookahead-pricing', 'paper-api']);
    // Unsteered, the policy sees its own matrix; steered, the edited one: a new rollout, not the cached one.
    const own = /<payoff>([\s\S]*?)<\/payoff>/.exec(STAGE1.CQ)![1]!.trim();
    expect(plain.shown.length).toBeGreaterThan(0);
    expect(plain.shown.map((m) => JSON.parse(m!))).toContainEqual(JSON.parse(own));
    expect(steered.calls).toBeGreaterThan(0);
    expect(steered.shown.length).toBe(plain.shown.length);
    expect(steered.shown.map((m) => JSON.parse(m!))).not.toContainEqual(JSON.parse(own));
    expect(steered.record.components.lookahead.turns).toBeGreaterThan(0);
    expect(steered.record.components.lookahead.cached).toBe(false);
    // A pricing policy that does not exist is refused at start, naming the flag.
    const bad = await runCliInProcess([
      ...args(join(dir, 'bad.jsonl'), cache, user.baseUrl),
      '--lookahead-pricing',
      join(dir, 'missing.json'),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--lookahead-pricing');
  }, 60_000);

  it('fails a sample whose simulated user fails (never a 0)', async () => {
    const out = join(dir, 'out-fail.jsonl');
    const r = await runCliInProcess(args(out, join(dir, 'cache-fail'), badUser.baseUrl));
    // The run ends, and its exit code says that two samples have no reward.
    expect(r.code, r.stderr).toBe(3);
    const got = await records(out);
    expect(got.map((g) => g.id)).toEqual(['cq', 'aq', 'da']);
    for (const g of got.slice(0, 2)) {
      expect(g.score).toBeUndefined();
      expect(g.error.stage).toBe('lookahead');
      expect(g.error.message).toMatch(/simulated user failed/);
    }
    expect(got[2]!.score).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/failures 2/);
    // The failed rollouts' requests are counted in what the run cost, though no sample counts them.
    expect(r.stderr).toMatch(
      /policy calls 0 .*user calls 0 .*requests sent with failed rollouts': policy 0, user (\d+)/,
    );
    const sent = Number(/failed rollouts': policy 0, user (\d+)/.exec(r.stderr)![1]);
    expect(sent).toBe(badUser.requests.length);
    expect(sent).toBeGreaterThan(0);
  }, 60_000);
});
