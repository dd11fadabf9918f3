/**
 * `gtalign eval run --turns N` end to end: the real CLI in a child process, against scripted stand-ins
 * (loopback OpenAI-compatible servers replaying chosen outputs, test/sim/scripted.ts) as the assistant,
 * the simulated user's model and the judge. Expected records and metrics are computed here from the
 * canned outputs with the reward code's scorer (scoreWithVerdict) and the documented formulas.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approxTokenCounter, countOutputTokens } from '../../src/eval/tokens.js';
import { scoreWithVerdict } from '../../src/reward/score.js';
import { cliArgs } from '../support/cli.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';
import { jsonLines } from '../support/run-folder.js';
import {
  type Action,
  assistantArgs,
  assistantScript,
  CUP_GROUND_TRUTH,
  cupRow,
  heldIndex,
  judgeScript,
  type Message,
  outputOf,
  simulatedUserArgs,
  USER_TEXT,
  userScript,
} from './scripted.js';

const ANSWERS = ['Spain', 'Germany'];
const CQ_TEXT = 'Which year do you mean?';
const DA_TEXT = 'It was Spain.';

let dir: string;
let assistant: OpenAIStubServer;
let user: OpenAIStubServer;
let judge: OpenAIStubServer;
/** The actions of turns 1, 2, 3… of every conversation. */
let plan: Action[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-sim-'));
  assistant = await startOpenAIStubServer(
    assistantScript((_m, turn) => {
      const action = plan[turn - 1] ?? 'DA';
      return { action, response: action === 'DA' ? DA_TEXT : CQ_TEXT };
    }),
  );
  user = await startOpenAIStubServer(userScript);
  judge = await startOpenAIStubServer(judgeScript);
});
afterAll(async () => {
  await Promise.all([assistant.close(), user.close(), judge.close()]);
  await rm(dir, { recursive: true, force: true });
});

function args(data: string, out: string, persona: string, extra: string[] = []): string[] {
  return [
    'eval',
    'run',
    '--data',
    data,
    '--out',
    out,
    ...assistantArgs(assistant.baseUrl),
    '--judge-url',
    judge.baseUrl,
    '--judge-model',
    'stub-judge',
    '--judge-vendor',
    'vllm',
    '--no-cache',
    '--tokenizer',
    'approx',
    '--no-progress',
    ...simulatedUserArgs(user.baseUrl),
    '--persona',
    persona,
    ...extra,
  ];
}

/** What the run must hold for one conversation whose assistant took `actions` and whose user replied `replies`. */
function expected(id: string, actions: Action[], replies: string[]) {
  const held = heldIndex(0, id, 2);
  const correct = ANSWERS[held] === 'Spain' ? 1 : 0;
  const turns = actions.map((a, i) => {
    const output = outputOf(a, a === 'DA' ? DA_TEXT : CQ_TEXT);
    const final = i === actions.length - 1;
    const rec = scoreWithVerdict(
      { data_source: 'ambig_qa', response: output, ground_truth: CUP_GROUND_TRUTH },
      final ? correct : 1,
    );
    if (rec.kind !== 'record') throw new Error('unscorable');
    return {
      output,
      U: rec.user_reward,
      L: rec.llm_reward,
      W: rec.score,
      tokens: countOutputTokens(output, approxTokenCounter).total,
    };
  });
  const g = 0.9;
  return {
    correct,
    held,
    turns,
    discounted: {
      U: turns.reduce((s, t, i) => s + g ** i * t.U, 0),
      L: turns.reduce((s, t, i) => s + g ** i * t.L, 0),
      W: turns.reduce((s, t, i) => s + g ** i * t.W, 0),
    },
    assistantTokens: turns.reduce((s, t) => s + t.tokens, 0),
    userTokens: replies.reduce((s, r) => s + approxTokenCounter.count(r), 0),
  };
}

describe('eval run --turns 3 against scripted servers', () => {
  it('cooperative: the assistant asks once, the user answers, the assistant answers', {
    timeout: 60_000,
  }, async () => {
    plan = ['CQ', 'DA'];
    const data = join(dir, 'coop.jsonl');
    await writeFile(data, `${JSON.stringify(cupRow('coop-1'))}\n`);
    const out = join(dir, 'coop');
    assistant.requests.length = 0;
    user.requests.length = 0;
    const r = await runCliInProcess(args(data, out, 'cooperative'));
    expect(r.code, r.stderr).toBe(0);
    const want = expected('coop-1', ['CQ', 'DA'], [USER_TEXT.answer]);

    const turns = await jsonLines(join(out, 'turns.jsonl'));
    expect(turns.map((t) => `${t.role}${t.turn}`)).toEqual(['assistant1', 'user1', 'assistant2']);
    expect(turns[0]).toMatchObject({
      action: 'CQ',
      next: 'answer',
      output: want.turns[0]!.output,
      response: CQ_TEXT,
    });
    expect(turns[1]).toMatchObject({ mode: 'answer', text: USER_TEXT.answer });
    expect(turns[2]).toMatchObject({
      action: 'DA',
      next: 'end',
      end: 'answered',
      output: want.turns[1]!.output,
    });
    // 2 stages per assistant turn; one user reply.
    expect(assistant.requests).toHaveLength(4);
    expect(user.requests).toHaveLength(1);
    // The user saw the response only, never the hidden blocks, and knows its held meaning.
    const seen = JSON.stringify(user.requests[0]!.body!.messages);
    expect(seen).toContain(CQ_TEXT);
    for (const tag of ['<thinking>', '<payoff>', '<analyze>', '<response>']) expect(seen).not.toContain(tag);
    expect(seen).toContain(['Who won the cup in 2010?', 'Who won the cup in 2014?'][want.held]!);
    // Turn 2 of the assistant carried the user's reply after its own response.
    const last = (assistant.requests[2]!.body!.messages as Message[]).slice(-2);
    expect(last).toEqual([
      { role: 'assistant', content: CQ_TEXT },
      { role: 'user', content: USER_TEXT.answer },
    ]);

    const [record] = await jsonLines(join(out, 'results.jsonl'));
    expect(record!.id).toBe('coop-1~cooperative');
    const c = record!.conversation;
    expect(c).toMatchObject({
      turns: 2,
      end: 'answered',
      actions: ['CQ', 'DA'],
      answered_at: 2,
      correct: want.correct,
    });
    expect(c.assistant_tokens).toBe(want.assistantTokens);
    expect(c.user_tokens).toBe(want.userTokens);
    expect(c.discounted.U).toBeCloseTo(want.discounted.U, 12);
    expect(c.discounted.L).toBeCloseTo(want.discounted.L, 12);
    expect(c.discounted.W).toBeCloseTo(want.discounted.W, 12);
    c.per_turn.forEach((p: { U: number; L: number }, i: number) => {
      expect(p.U).toBeCloseTo(want.turns[i]!.U, 12);
      expect(p.L).toBeCloseTo(want.turns[i]!.L, 12);
    });

    const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8'));
    const g = metrics.conversations.groups['ambig_qa/cooperative'];
    expect(g).toMatchObject({
      n: 1,
      turns: 2,
      answered: 1,
      turns_to_answer: 2,
      correct: want.correct,
      ends: { answered: 1 },
    });
    expect(g.action_by_turn).toEqual([
      { turn: 1, DA: 0, CQ: 1, AQ: 0 },
      { turn: 2, DA: 1, CQ: 0, AQ: 0 },
    ]);
    expect(g.discounted.W).toBeCloseTo(want.discounted.W, 12);
    expect(g.user_tokens).toBe(want.userTokens);
    expect(r.stdout).toContain('ambig_qa/cooperative');
  });

  it("W is the paper's √(U·L) whatever aggregator the run's reward uses (--aggregate linear)", {
    timeout: 60_000,
  }, async () => {
    plan = ['CQ', 'DA'];
    const data = join(dir, 'linear.jsonl');
    await writeFile(data, `${JSON.stringify(cupRow('coop-1'))}\n`);
    const out = join(dir, 'linear');
    const r = await runCliInProcess(args(data, out, 'cooperative', ['--aggregate', 'linear']));
    expect(r.code, r.stderr).toBe(0);
    // The default aggregator's score is √(U·L); U and L do not depend on the aggregator.
    const want = expected('coop-1', ['CQ', 'DA'], [USER_TEXT.answer]);
    const [record] = await jsonLines(join(out, 'results.jsonl'));
    const c = record!.conversation;
    c.per_turn.forEach((p: { U: number; L: number; W: number }, i: number) => {
      expect(p.W).toBeCloseTo(want.turns[i]!.W, 12);
      // The linear score, (U + L) / 2, is another number: the test tells the two apart.
      expect(Math.abs(p.W - (p.U + p.L) / 2)).toBeGreaterThan(1e-6);
    });
    expect(c.discounted.W).toBeCloseTo(want.discounted.W, 12);
  });

  it('impatient: answers one question, refuses the second and insists, then gets the answer', {
    timeout: 60_000,
  }, async () => {
    plan = ['CQ', 'CQ', 'DA'];
    const data = join(dir, 'imp.jsonl');
    await writeFile(data, `${JSON.stringify(cupRow('imp-1'))}\n`);
    const out = join(dir, 'imp');
    user.requests.length = 0;
    const r = await runCliInProcess(args(data, out, 'impatient'));
    expect(r.code, r.stderr).toBe(0);
    const want = expected('imp-1', ['CQ', 'CQ', 'DA'], [USER_TEXT.answer, USER_TEXT.insist]);
    const turns = await jsonLines(join(out, 'turns.jsonl'));
    expect(turns.map((t) => `${t.role}${t.turn}:${t.next ?? t.mode}`)).toEqual([
      'assistant1:answer',
      'user1:answer',
      'assistant2:insist',
      'user2:insist',
      'assistant3:end',
    ]);
    expect(turns[3]!.text).toBe(USER_TEXT.insist);
    expect(user.requests).toHaveLength(2);
    const [record] = await jsonLines(join(out, 'results.jsonl'));
    expect(record!.conversation).toMatchObject({
      turns: 3,
      end: 'answered',
      correct: want.correct,
      answered_at: 3,
    });
    expect(record!.conversation.user_tokens).toBe(want.userTokens);
    expect(record!.conversation.discounted.W).toBeCloseTo(want.discounted.W, 12);
    const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8'));
    const g = metrics.conversations.overall;
    expect(g.turns).toBe(3);
    expect(g.discounted.U).toBeCloseTo(want.discounted.U, 12);
    expect(g.discounted.L).toBeCloseTo(want.discounted.L, 12);
    expect(g.per_turn.map((p: { n: number }) => p.n)).toEqual([1, 1, 1]);
    expect(g.per_turn[2].W).toBeCloseTo(want.turns[2]!.W, 12);

    // With the same personas and a second run asking for one more question the user leaves.
    plan = ['CQ', 'CQ', 'CQ'];
    const out2 = join(dir, 'imp-leaves');
    const r2 = await runCliInProcess(args(data, out2, 'impatient', ['--turns', '4']));
    expect(r2.code, r2.stderr).toBe(0);
    const [left] = await jsonLines(join(out2, 'results.jsonl'));
    expect(left!.conversation).toMatchObject({ turns: 3, end: 'user-stopped', answered_at: null });
  });

  it('resumes inside a conversation after SIGKILL without generating a finished turn again', {
    timeout: 90_000,
  }, async () => {
    plan = ['CQ', 'DA'];
    const data = join(dir, 'kill.jsonl');
    await writeFile(
      data,
      `${[cupRow('k-1', 'Who won the cup first?'), cupRow('k-2', 'Who won the cup last?')].map((x) => JSON.stringify(x)).join('\n')}\n`,
    );
    const out = join(dir, 'kill');
    assistant.requests.length = 0;
    user.requests.length = 0;
    // The user's model never answers: the run stops right after the first assistant turn is on disk.
    user.setHandler(() => ({ hang: true }));
    const child: ChildProcess = spawn(
      process.execPath,
      cliArgs(args(data, out, 'cooperative', ['--concurrency', '1'])),
      { stdio: 'ignore' },
    );
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const turnsFile = join(out, 'turns.jsonl');
    for (;;) {
      const size = await stat(turnsFile).then(
        (s) => s.size,
        () => 0,
      );
      if (size > 0 && (await readFile(turnsFile, 'utf8')).endsWith('\n')) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    child.kill('SIGKILL');
    await exited;
    const before = await jsonLines(turnsFile);
    expect(before.map((t) => `${t.conversation}:${t.role}${t.turn}`)).toEqual(['k-1~cooperative:assistant1']);
    const firstRunRequests = assistant.requests.length;
    expect(firstRunRequests).toBe(2);

    user.setHandler(userScript);
    const r = await runCliInProcess([...args(data, out, 'cooperative', ['--concurrency', '1']), '--resume']);
    expect(r.code, r.stderr).toBe(0);
    const turns = await jsonLines(turnsFile);
    const keys = turns.map((t) => `${t.conversation}:${t.role}${t.turn}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys).toEqual([
      'k-1~cooperative:assistant1',
      'k-1~cooperative:user1',
      'k-1~cooperative:assistant2',
      'k-2~cooperative:assistant1',
      'k-2~cooperative:user1',
      'k-2~cooperative:assistant2',
    ]);
    // k-1's first turn was not generated again: 3 assistant turns of 2 stages on resume, 1 before.
    expect(assistant.requests.length - firstRunRequests).toBe(6);
    const stage1OfK1Turn1 = assistant.requests.filter((q) => {
      const m = q.body!.messages as Message[];
      return m.length === 1 && m[0]!.content.includes('cup first');
    });
    expect(stage1OfK1Turn1).toHaveLength(1);
    const records = await jsonLines(join(out, 'results.jsonl'));
    expect(records.map((x) => x.id).sort()).toEqual(['k-1~cooperative', 'k-2~cooperative']);
    for (const x of records) expect(x.conversation).toMatchObject({ turns: 2, end: 'answered' });
  });
});
