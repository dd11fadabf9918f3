/**
 * `gtalign reward serve`: OpenRLHF-shaped requests give exactly the numbers `gtalign reward score` gives on
 * the same samples (the 280-case parity fixture, verdicts in the labels), the batch endpoint returns the
 * CLI's own lines, and a failed sample is reported as failed, never as a 0.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJudge } from '../../src/reward/judge.js';
import type { RunningServer } from '../../src/server/listen.js';
import {
  type RewardApp,
  startRewardServer,
  stripEndTokens,
  stripLeadingTokens,
} from '../../src/server/reward.js';
import { runCli } from '../support/cli.js';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';

interface ParityCase {
  id: string;
  data_source: string;
  response: string;
  ground_truth: string;
  extra_info: Record<string, unknown>;
  verdict: number;
  expected: { score: number; user_reward: number; llm_reward: number; answer_reward: number };
}

const FIXTURE = 'test/fixtures/reward-parity.jsonl';
const cases: ParityCase[] = readFileSync(new URL(`../../${FIXTURE}`, import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as ParityCase);

/** What OpenRLHF sends: the chat-templated prompt, and the prompt + rollout decoded with special tokens. */
const promptOf = (c: ParityCase) =>
  `<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nQuestion ${c.id}<|im_end|>\n<|im_start|>assistant\n`;
const labelOf = (c: ParityCase, withVerdict = true) =>
  JSON.stringify({
    id: c.id,
    data_source: c.data_source,
    ground_truth: c.ground_truth,
    extra_info: c.extra_info,
    ...(withVerdict ? { verdict: c.verdict } : {}),
  });
function openRlhfBody(list: ParityCase[], withVerdict = true) {
  return {
    query: list.map((c) => `${promptOf(c)}${c.response}<|im_end|>`),
    prompts: list.map(promptOf),
    labels: list.map((c) => labelOf(c, withVerdict)),
  };
}

interface GetRewardResponse {
  rewards: Array<number | null>;
  scores: Array<number | null>;
  extra_logs: Record<string, Array<number | null>>;
  errors: Array<{ index: number; id: unknown; stage: string; message: string }>;
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

let offline: RunningServer & { app: RewardApp };
let cliLines: Array<Record<string, unknown>>;

beforeAll(async () => {
  // The parity labels replay the reference, which clips its one off-scale verdict.
  offline = await startRewardServer({ clipVerdicts: true, log: () => {} });
  const cli = await runCli([
    'reward',
    'score',
    '--input',
    FIXTURE,
    '--judge',
    'offline',
    '--clip-verdicts',
    '--workers',
    '0',
  ]);
  expect(cli.code).toBe(0);
  cliLines = cli.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
});
afterAll(async () => {
  await offline.close();
});

describe('POST /get_reward (OpenRLHF protocol), offline verdicts from the labels', () => {
  it('gives the same numbers as gtalign reward score on all 280 parity samples, in order, across concurrent requests', async () => {
    const chunks = [0, 70, 140, 210].map((s) => cases.slice(s, s + 70));
    const replies = await Promise.all(
      chunks.map(async (chunk) => {
        const res = await post(`${offline.url}/get_reward`, openRlhfBody(chunk));
        expect(res.status).toBe(200);
        return (await res.json()) as GetRewardResponse;
      }),
    );
    const rewards = replies.flatMap((r) => r.rewards);
    const logs = (name: string) => replies.flatMap((r) => r.extra_logs[`gtalign/${name}`]!);
    expect(rewards).toHaveLength(280);
    expect(replies.flatMap((r) => r.errors)).toEqual([]);
    expect(replies.flatMap((r) => r.scores)).toEqual(rewards);
    for (const [i, c] of cases.entries()) {
      const line = cliLines[i]!;
      expect(line.id).toBe(c.id);
      expect(rewards[i]).toBe(line.score);
      expect(logs('user_reward')[i]).toBe(line.user_reward);
      expect(logs('llm_reward')[i]).toBe(line.llm_reward);
      expect(logs('answer_reward')[i]).toBe(line.answer_reward);
      const components = line.components as Record<string, number>;
      for (const k of ['format', 'payoff_quality', 'a_user', 'a_llm', 'brevity', 'judge']) {
        expect(logs(k)[i], `${c.id} ${k}`).toBe(components[k]);
      }
      expect(logs('failed')[i]).toBe(0);
      // And both agree with the reference.
      expect(Math.abs(rewards[i]! - c.expected.score)).toBeLessThanOrEqual(1e-9);
    }
  });

  it('accepts labels as objects and scores the text after the prompt, without trailing end-of-text tokens', async () => {
    const c = cases.find((x) => x.expected.score > 0)!;
    const res = await post(`${offline.url}/get_reward`, {
      query: [`${promptOf(c)}${c.response}<|im_end|><|endoftext|><|endoftext|>`],
      prompts: [promptOf(c)],
      labels: [JSON.parse(labelOf(c))],
    });
    const body = (await res.json()) as GetRewardResponse;
    expect(body.rewards[0]).toBeCloseTo(c.expected.score, 12);
    expect(stripEndTokens('a</response><|im_end|></s>', ['<|im_end|>', '</s>'])).toBe('a</response>');
    expect(stripEndTokens('<|im_end|> keep', ['<|im_end|>'])).toBe('<|im_end|> keep');
  });

  it('cuts the left padding that older OpenRLHF versions decode before the prompt', async () => {
    const c = cases.find((x) => x.expected.score > 0)!;
    const res = await post(`${offline.url}/get_reward`, {
      query: [`<|endoftext|><|endoftext|>${promptOf(c)}${c.response}<|im_end|><|endoftext|>`],
      prompts: [promptOf(c)],
      labels: [labelOf(c)],
    });
    const body = (await res.json()) as GetRewardResponse;
    expect(body.errors).toEqual([]);
    expect(body.rewards[0]).toBeCloseTo(c.expected.score, 12);
    expect(stripLeadingTokens('<pad><pad><|im_start|>user', ['<pad>'])).toBe('<|im_start|>user');
    expect(stripLeadingTokens('x<pad>', ['<pad>'])).toBe('x<pad>');
  });

  it('reports a bad sample as failed (null reward, an error naming it) and scores the others', async () => {
    const [a, b, c] = cases.filter((x) => x.expected.score > 0);
    const body = openRlhfBody([a!, b!, c!]);
    body.labels[0] = 'not json';
    body.query[2] = `something else${c!.response}`;
    const res = await post(`${offline.url}/get_reward`, body);
    expect(res.status).toBe(200);
    const reply = (await res.json()) as GetRewardResponse;
    expect(reply.rewards[0]).toBeNull();
    expect(reply.rewards[1]).toBeCloseTo(b!.expected.score, 12);
    expect(reply.rewards[2]).toBeNull();
    expect(reply.extra_logs['gtalign/failed']).toEqual([1, 0, 1]);
    expect(reply.extra_logs['gtalign/user_reward']![0]).toBeNull();
    expect(reply.errors.map((e) => [e.index, e.stage])).toEqual([
      [0, 'input'],
      [2, 'input'],
    ]);
    expect(reply.errors[0]!.message).toMatch(/label is not JSON/);
    expect(reply.errors[1]!.message).toMatch(/does not start with its prompt \(prompts\[2\]\)/);
  });

  it('refuses a label id that JSON.parse rounded, instead of answering under another id', async () => {
    const [a, b] = cases.filter((x) => x.expected.score > 0);
    const body = openRlhfBody([a!, b!]);
    const label = JSON.parse(body.labels[0]!) as Record<string, unknown>;
    body.labels[0] = JSON.stringify({ ...label, id: 0 }).replace('"id":0', '"id":12345678901234567891');
    const reply = (await (await post(`${offline.url}/get_reward`, body)).json()) as GetRewardResponse;
    expect(reply.rewards[0]).toBeNull();
    expect(reply.rewards[1]).toBeCloseTo(b!.expected.score, 12);
    expect(reply.errors).toEqual([
      expect.objectContaining({
        index: 0,
        id: 0,
        stage: 'input',
        message: expect.stringContaining('12345678901234567000 is an integer past 2^53 − 1'),
      }),
    ]);
  });

  it('a sample without a verdict and no judge is a failure, not a 0', async () => {
    const c = cases.find((x) => x.expected.score > 0)!;
    const reply = (await (
      await post(`${offline.url}/get_reward`, openRlhfBody([c], false))
    ).json()) as GetRewardResponse;
    expect(reply.rewards).toEqual([null]);
    expect(reply.errors[0]!.message).toMatch(/no "verdict"/);
  });

  it('rejects a malformed request with 400 in the OpenAI error format', async () => {
    const res = await post(`${offline.url}/get_reward`, { query: ['a'], prompts: [], labels: ['{}'] });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toMatch(/same length/);
    expect((await post(`${offline.url}/get_reward`, '[1,')).status).toBe(400);
    expect((await post(`${offline.url}/get_reward`, { query: 'a' })).status).toBe(400);
  });
});

describe('POST /v1/reward/score (the CLI records)', () => {
  it('returns exactly the lines gtalign reward score writes', async () => {
    const res = await post(`${offline.url}/v1/reward/score`, { samples: cases });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { results: unknown[]; summary: { samples: number; scored: number } };
    expect(body.results).toEqual(cliLines);
    expect(body.summary).toMatchObject({ samples: 280, scored: 280, failures: 0 });
  });

  it('reports unreadable records as error lines naming the sample', async () => {
    const res = await post(`${offline.url}/v1/reward/score`, {
      samples: [{ id: 'x', data_source: 'math-hard', response: 5 }, cases[0]],
    });
    const body = (await res.json()) as { results: Array<Record<string, unknown>> };
    expect(body.results[0]).toMatchObject({ id: 'x', line: 1, error: { stage: 'input' } });
    expect(String((body.results[0]!.error as { message: string }).message)).toMatch(
      /response must be a string/,
    );
    expect(body.results[1]).toEqual(cliLines[0]);
  });
});

describe('a live judge that fails', () => {
  let judgeServer: OpenAIStubServer;
  let skip: RunningServer;
  let fail: RunningServer;
  beforeAll(async () => {
    judgeServer = await startOpenAIStubServer(() => ({ status: 500, errorMessage: 'judge down' }));
    const judge = () =>
      createJudge({
        baseUrl: judgeServer.baseUrl,
        model: 'judge',
        retry: { attempts: 2, baseDelayMs: 0 },
        env: {},
      });
    skip = await startRewardServer({ judge: judge(), mathCheck: false, log: () => {} });
    fail = await startRewardServer({ judge: judge(), mathCheck: false, onJudgeError: 'fail', log: () => {} });
  });
  afterAll(async () => {
    await skip.close();
    await fail.close();
    await judgeServer.close();
  });

  it('skip: the sample that needed the judge is null with a judge error; samples with verdicts are scored', async () => {
    const [a, b] = cases.filter((x) => x.expected.score > 0);
    const body = openRlhfBody([a!, b!]);
    body.labels[0] = labelOf(a!, false);
    const reply = (await (await post(`${skip.url}/get_reward`, body)).json()) as GetRewardResponse;
    expect(reply.rewards[0]).toBeNull();
    expect(reply.rewards[1]).toBeCloseTo(b!.expected.score, 12);
    expect(reply.errors).toEqual([
      expect.objectContaining({
        index: 0,
        id: a!.id,
        stage: 'judge',
        message: expect.stringMatching(/judge down/),
      }),
    ]);
    expect(judgeServer.requests.length).toBe(2);
    const metrics = await (await fetch(`${skip.url}/metrics`)).text();
    expect(metrics).toMatch(/gtalign_reward_failures_total\{stage="judge"\} 1/);
    expect(metrics).toMatch(/gtalign_judge_http_calls_total 2/);
  });

  it('fail: /v1/reward/score is 502 judge_failed; /get_reward a null reward, which OpenRLHF does not send again; never a 0', async () => {
    const a = cases.find((x) => x.expected.score > 0)!;
    const res = await post(`${fail.url}/v1/reward/score`, { samples: [{ ...a, verdict: undefined }] });
    expect(res.status).toBe(502);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('judge_failed');
    expect(body.error.message).toMatch(new RegExp(`sample 0 \\(id "${a.id}"\\)`));
    const asked = judgeServer.requests.length;
    const openRlhf = await post(`${fail.url}/get_reward`, openRlhfBody([a], false));
    expect(openRlhf.status).toBe(200);
    const reply = (await openRlhf.json()) as GetRewardResponse;
    expect(reply.rewards).toEqual([null]);
    expect(reply.extra_logs['gtalign/failed']).toEqual([1]);
    expect(reply.errors).toEqual([
      expect.objectContaining({
        index: 0,
        id: a.id,
        stage: 'judge',
        message: expect.stringMatching(/judge down/),
      }),
    ]);
    // The judge's own 2 attempts, once.
    expect(judgeServer.requests.length - asked).toBe(2);
    const bad = await post(`${fail.url}/get_reward`, { query: ['x'], prompts: ['x'], labels: ['nope'] });
    expect(bad.status).toBe(400);
    // The sample is named once (it used to read "sample 0: sample 0: the label is not JSON").
    const badBody = (await bad.json()) as { error: { message: string } };
    expect(badBody.error.message).toMatch(/^sample 0 \(id 0\): the label is not JSON/);
  });
});

describe('a live judge that answers', () => {
  it('asks the judge for samples without a verdict and gives the numbers of that verdict', async () => {
    const judgeServer = await startOpenAIStubServer(() => ({ content: 'The answer matches. \\boxed{1}' }));
    const server = await startRewardServer({
      judge: createJudge({ baseUrl: judgeServer.baseUrl, model: 'judge', env: {} }),
      mathCheck: false,
      log: () => {},
    });
    try {
      const c = cases.find((x) => x.data_source === 'math-hard' && x.verdict === 1 && x.expected.score > 0)!;
      const res = await post(`${server.url}/v1/reward/score`, {
        samples: [{ ...c, verdict: undefined }],
      });
      const body = (await res.json()) as { results: Array<Record<string, unknown>> };
      expect(body.results[0]).toMatchObject({ id: c.id, verdict_source: 'judge', verdict: 1 });
      expect(body.results[0]!.score).toBeCloseTo(c.expected.score, 12);
      expect(judgeServer.requests).toHaveLength(1);
    } finally {
      await server.close();
      await judgeServer.close();
    }
  });
});

describe('a deadline past what a timer can wait (about 24.8 days)', () => {
  it('bounds nothing: samples are scored, not failed at once as over it', async () => {
    // 35 days: Node fires a timer that long after 1 ms.
    const server = await startRewardServer({
      clipVerdicts: true,
      deadlineMs: 35 * 86_400_000,
      log: () => {},
    });
    try {
      const c = cases.find((x) => x.expected.score > 0)!;
      const reply = (await (
        await post(`${server.url}/get_reward`, openRlhfBody([c]))
      ).json()) as GetRewardResponse;
      expect(reply.errors).toEqual([]);
      expect(reply.rewards[0]).toBeCloseTo(c.expected.score, 12);
    } finally {
      await server.close();
    }
  });
});

describe('safe defaults', () => {
  it('binds loopback, needs the key when keys are set, and answers /healthz without one', async () => {
    const server = await startRewardServer({ apiKeys: ['k1', 'k2'], log: () => {} });
    try {
      expect(server.host).toBe('127.0.0.1');
      const c = cases[0]!;
      expect((await post(`${server.url}/get_reward`, openRlhfBody([c]))).status).toBe(401);
      expect(
        (await post(`${server.url}/get_reward`, openRlhfBody([c]), { authorization: 'Bearer k3' })).status,
      ).toBe(401);
      expect(
        (await post(`${server.url}/get_reward`, openRlhfBody([c]), { authorization: 'Bearer k2' })).status,
      ).toBe(200);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});
