/**
 * `gtalign reward serve --lookahead K` end to end: the real server process against scripted stand-ins
 * (loopback OpenAI-compatible servers replaying outputs this test chooses, test/sim/scripted.ts; none is a
 * model) as the policy, the simulated user's model and the judge. It must give the numbers
 * `gtalign reward score --lookahead K` gives on the same records with the same flags (the CLI is run here
 * on them, against its own policy and user servers), report the calls per sample, make no call for a
 * batch it has seen, share one rollout between identical samples, keep at most --lookahead-concurrency
 * rollouts in flight over every request, and fail a sample whose rollout fails, never giving it a 0.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliArgs, REPO_ROOT } from '../support/cli.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';
import {
  type Action,
  assistantScript,
  CUP_GROUND_TRUTH,
  CUP_QUESTION,
  judgeScript,
  outputOf,
  userScript,
} from './scripted.js';

const CQ_TEXT = 'Which year do you mean?';
const CQ2_TEXT = 'Do you mean the final or the whole tournament?';
const AQ_TEXT = 'Spain won in 2010. Which year did you mean?';
const DA_TEXT = 'It was Spain.';
const PROMPT = [{ role: 'user', content: `Answer in four blocks.\nQuestion: ${CUP_QUESTION}` }];
/** The chat prompt rides in extra_info, so an OpenRLHF label can carry the same record. */
const extra = (question = CUP_QUESTION, more: Record<string, unknown> = {}) => ({
  single_turn_prompt: question,
  chat_history: [{ role: 'user', content: question }],
  prompt: question === CUP_QUESTION ? PROMPT : [{ role: 'user', content: question }],
  ...more,
});

const responseOf = (action: Action, first: string | undefined): string => {
  if (action === 'DA') return DA_TEXT;
  if (action === 'AQ') return AQ_TEXT;
  return first === undefined ? CQ_TEXT : CQ2_TEXT;
};

const sample = (id: string, action: Action, extraInfo: Record<string, unknown> = extra()) => ({
  id,
  data_source: 'ambig_qa',
  response: outputOf(action, responseOf(action, undefined)),
  ground_truth: CUP_GROUND_TRUTH,
  extra_info: extraInfo,
  verdict: 1,
});
const SAMPLES = [sample('cq', 'CQ'), sample('aq', 'AQ'), sample('da', 'DA')];

/** The policy: after a CQ it asks once more, then answers; after anything else it answers. */
const policyScript = assistantScript((messages, turn) => {
  const first = messages.find((m) => m.role === 'assistant')?.content;
  const action: Action = first === CQ_TEXT && turn === 2 ? 'CQ' : 'DA';
  return { action, response: responseOf(action, first) };
});

let dir: string;
let cliPolicy: OpenAIStubServer;
let cliUser: OpenAIStubServer;
let policy: OpenAIStubServer;
let user: OpenAIStubServer;
let judge: OpenAIStubServer;
let personaFile: string;
let cliLines: Array<Record<string, unknown>>;

interface Started {
  child: ChildProcessWithoutNullStreams;
  url: string;
  exit: Promise<number | null>;
}

/** Starts `gtalign reward serve …` and resolves once it says where it listens. */
function serve(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, cliArgs(['reward', 'serve', '--port', '0', ...args]), {
    cwd: REPO_ROOT,
  });
  let stderr = '';
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      const m = /listening on (http:\/\/[\d.:]+)/.exec(stderr);
      if (m) resolve({ child, url: m[1]!, exit });
    });
    void exit.then((code) => reject(new Error(`exited with ${code} before listening: ${stderr}`)));
  });
}

/** The look-ahead flags both commands take, pointing at a policy and a user server. */
const lookaheadArgs = (policyUrl: string, userUrl: string, extraArgs: string[] = []) => [
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
  '0.4',
  '--lookahead-discount',
  '0.8',
  '--policy-url',
  policyUrl,
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
  ...extraArgs,
];

// biome-ignore lint/suspicious/noExplicitAny: the server's JSON answers
type Json = Record<string, any>;

async function post(url: string, body: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

const lookaheadOf = (r: Json) => r.components.lookahead;

let server: Started;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-lookahead-serve-'));
  [cliPolicy, cliUser, policy, user, judge] = await Promise.all([
    startOpenAIStubServer(policyScript),
    startOpenAIStubServer(userScript),
    // The server's policy refuses a conversation about "BROKEN" (its rollout fails).
    startOpenAIStubServer((body) =>
      JSON.stringify(body.messages).includes('BROKEN')
        ? { status: 400, errorMessage: 'scripted policy failure' }
        : policyScript(body),
    ),
    startOpenAIStubServer(userScript),
    startOpenAIStubServer(judgeScript),
  ]);
  personaFile = join(dir, 'personas.json');
  // A persona that always takes an AQ's follow-up (no seeded draw decides it).
  await writeFile(
    personaFile,
    JSON.stringify({ personas: [{ name: 'eager', description: 'You answer every question.', followUp: 1 }] }),
  );
  const input = join(dir, 'in.jsonl');
  await writeFile(input, SAMPLES.map((s) => JSON.stringify(s)).join('\n'));
  const out = join(dir, 'out.jsonl');
  const cli = await runCliInProcess([
    'reward',
    'score',
    '--input',
    input,
    '--output',
    out,
    ...lookaheadArgs(cliPolicy.baseUrl, cliUser.baseUrl),
  ]);
  expect(cli.code, cli.stderr).toBe(0);
  cliLines = (await readFile(out, 'utf8'))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  server = await serve(lookaheadArgs(policy.baseUrl, user.baseUrl, ['--lookahead-concurrency', '1']));
}, 60_000);

afterAll(async () => {
  server?.child.kill('SIGTERM');
  await server?.exit;
  await Promise.all([cliPolicy, cliUser, policy, user, judge].map((s) => s?.close()));
  await rm(dir, { recursive: true, force: true });
});

describe('reward serve --lookahead (scripted policy, user and judge)', () => {
  it('gives the numbers of reward score --lookahead, with the calls per sample; a repeated batch calls nothing', async () => {
    const judgeBefore = judge.requests.length;
    const first = await post(`${server.url}/v1/reward/score`, { samples: SAMPLES });
    expect(first.status).toBe(200);
    // The same lines as the CLI's, look-ahead record included (turns, calls, cached, W_0, W_1..W_T).
    expect(first.body.results).toEqual(cliLines);
    expect(
      first.body.results.map(lookaheadOf).map((l: Record<string, unknown>) => [l.policy_calls, l.user_calls]),
    ).toEqual([
      [4, 2],
      [2, 1],
      [0, 0],
    ]);
    expect(first.body.summary.lookahead).toEqual({
      rollouts: 2,
      cached: 0,
      future_turns: 3,
      policy_calls: 6,
      user_calls: 3,
      policy_calls_per_sample: 2,
      user_calls_per_sample: 1,
    });
    // The servers saw exactly those calls (the CLI's went to its own servers); one judge call: the CQ
    // rollout's asking turn.
    expect(policy.requests).toHaveLength(6);
    expect(user.requests).toHaveLength(3);
    expect(judge.requests.length - judgeBefore).toBe(1);

    const again = await post(`${server.url}/v1/reward/score`, { samples: SAMPLES });
    expect(again.status).toBe(200);
    expect(policy.requests).toHaveLength(6);
    expect(user.requests).toHaveLength(3);
    expect(judge.requests.length - judgeBefore).toBe(1);
    expect(again.body.results.map((r: Record<string, unknown>) => r.score)).toEqual(
      cliLines.map((l) => l.score),
    );
    expect(again.body.results.map(lookaheadOf).map((l: Record<string, unknown>) => l.cached)).toEqual([
      true,
      true,
      false,
    ]);
    expect(again.body.summary.lookahead).toMatchObject({ policy_calls: 0, user_calls: 0, cached: 2 });
  });

  it('answers OpenRLHF /get_reward with the same rewards and logs the look-ahead per sample', async () => {
    const prompt = '<|im_start|>user\nWho won the cup?<|im_end|>\n<|im_start|>assistant\n';
    const r = await post(`${server.url}/get_reward`, {
      query: SAMPLES.map((s) => `${prompt}${s.response}<|im_end|>`),
      prompts: SAMPLES.map(() => prompt),
      labels: SAMPLES.map(({ response: _r, ...label }) => JSON.stringify(label)),
    });
    expect(r.status).toBe(200);
    expect(r.body.rewards).toEqual(cliLines.map((l) => l.score));
    expect(r.body.errors).toEqual([]);
    expect(r.body.extra_logs['gtalign/lookahead_turns']).toEqual([2, 1, 0]);
    expect(r.body.extra_logs['gtalign/lookahead_cached']).toEqual([1, 1, 0]);
    expect(r.body.extra_logs['gtalign/lookahead_policy_calls']).toEqual([0, 0, 0]);
    expect(r.body.extra_logs['gtalign/lookahead_own']).toEqual(cliLines.map((l) => lookaheadOf(l).own));
    expect(policy.requests).toHaveLength(6);
  });

  it('shares one rollout between identical samples and keeps one rollout in flight at a time', async () => {
    const variant = (n: number) => sample(`v${n}`, 'CQ', extra(CUP_QUESTION, { variant: n }));
    const batch = [variant(1), { ...variant(1), id: 'v1-again' }, variant(2), variant(3)];
    const policyBefore = policy.requests.length;
    const userBefore = user.requests.length;
    const r = await post(`${server.url}/v1/reward/score`, { samples: batch });
    expect(r.status).toBe(200);
    const la = r.body.results.map(lookaheadOf);
    // Three distinct samples: three rollouts of 4 policy and 2 user calls; the repeat shares the first.
    expect(policy.requests.length - policyBefore).toBe(12);
    expect(user.requests.length - userBefore).toBe(6);
    const pair = [la[0], la[1]]
      .map((l: Record<string, unknown>) => `${l.cached}:${l.policy_calls}:${l.user_calls}`)
      .sort();
    expect(pair).toEqual(['false:4:2', 'true:0:0']);
    expect(r.body.results[1].score).toBe(r.body.results[0].score);
    // --lookahead-concurrency 1: never two requests at once at the policy or the user, over every request.
    expect(policy.maxInFlight).toBe(1);
    expect(user.maxInFlight).toBe(1);
  });

  it('fails a sample whose rollout fails (null reward, an error naming it), and counts every call in /metrics', async () => {
    const broken = sample('broken', 'CQ', extra('BROKEN?'));
    const r = await post(`${server.url}/get_reward`, {
      query: [`P${broken.response}`, `P${SAMPLES[2]!.response}`],
      prompts: ['P', 'P'],
      labels: [broken, SAMPLES[2]!].map(({ response: _r, ...label }) => JSON.stringify(label)),
    });
    expect(r.status).toBe(200);
    expect(r.body.rewards[0]).toBeNull();
    expect(r.body.rewards[1]).toBe(cliLines[2]!.score);
    expect(r.body.extra_logs['gtalign/failed']).toEqual([1, 0]);
    expect(r.body.errors).toHaveLength(1);
    expect(r.body.errors[0]).toMatchObject({ index: 0, stage: 'lookahead' });
    expect(r.body.errors[0].message).toMatch(/the policy failed at turn 2: .*scripted policy failure/);

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(metrics)?.[1]);
    // Every request the policy and user servers received, the failed rollout's too.
    expect(value('gtalign_lookahead_policy_calls_total')).toBe(policy.requests.length);
    expect(value('gtalign_lookahead_user_calls_total')).toBe(user.requests.length);
    expect(policy.requests.length).toBe(19);
    expect(metrics).toMatch(/gtalign_reward_failures_total\{stage="lookahead"\} 1/);
    // Scored samples so far: 5 made a rollout (cq, aq, v1, v2, v3), 5 shared or remembered one, 4 DA
    // samples needed none. Future turns per scored sample: 3 batches of cq, aq, da (2 + 1 + 0), then four
    // CQ variants (2 each).
    expect(metrics).toMatch(/gtalign_lookahead_samples_total\{rollout="made"\} 5\n/);
    expect(metrics).toMatch(/gtalign_lookahead_samples_total\{rollout="cached"\} 5\n/);
    expect(metrics).toMatch(/gtalign_lookahead_samples_total\{rollout="none"\} 4\n/);
    expect(value('gtalign_lookahead_future_turns_total')).toBe(3 * 3 + 4 * 2);
  });

  it('under --on-judge-error fail a failed rollout fails the request with 502 lookahead_failed', async () => {
    const strict = await serve(lookaheadArgs(policy.baseUrl, user.baseUrl, ['--on-judge-error', 'fail']));
    try {
      const r = await post(`${strict.url}/v1/reward/score`, {
        samples: [sample('broken', 'CQ', extra('BROKEN?'))],
      });
      expect(r.status).toBe(502);
      expect(JSON.stringify(r.body)).toMatch(/lookahead_failed/);
      expect(JSON.stringify(r.body)).toMatch(/sample 0 \(id \\"broken\\"\): the policy failed at turn 2/);
    } finally {
      strict.child.kill('SIGTERM');
      await strict.exit;
    }
  });

  it('refuses look-ahead flags without --lookahead', async () => {
    const r = await runCliInProcess([
      'reward',
      'serve',
      '--judge',
      'offline',
      '--port',
      '0',
      '--persona',
      'terse',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--persona goes with --lookahead K/);
  });
});
