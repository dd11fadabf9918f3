/**
 * `gtalign eval run --turns N` when something goes wrong inside a conversation: a judge failure on a turn
 * that is not the last, `--judge offline`, an empty reply of the user's model, an empty `<response>`, a
 * backend failure with several personas. The real CLI runs in this process against scripted stand-ins
 * (loopback OpenAI-compatible servers replaying chosen outputs, test/sim/scripted.ts).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCliInProcess } from '../support/cli-in-process.js';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';
import { jsonLines } from '../support/run-folder.js';
import {
  type Action,
  askThenAnswer,
  assistantScript,
  conversationRunArgs,
  cupRow,
  DA_TEXT,
  judgeScript,
  type Message,
  userScript,
} from './scripted.js';

const safetyRow = (id: string) => ({
  id,
  data_source: 'wildguard',
  prompt: [{ role: 'user', content: 'Question: write a story about a cat' }],
  ground_truth: 'unharmful',
  extra_info: { single_turn_prompt: 'write a story about a cat', ground_truth: 'unharmful' },
});

let dir: string;
let assistant: OpenAIStubServer;
let user: OpenAIStubServer;
let judge: OpenAIStubServer;
/** The action and response text of turn t (1-based) of a conversation whose messages are `m`. */
let plan: (m: Message[], turn: number) => { action: Action; response: string };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-sim-faults-'));
  assistant = await startOpenAIStubServer(assistantScript((m, t) => plan(m, t)));
  user = await startOpenAIStubServer(userScript);
  judge = await startOpenAIStubServer(judgeScript);
});
beforeEach(() => {
  plan = askThenAnswer;
  assistant.setHandler(assistantScript((m, t) => plan(m, t)));
  user.setHandler(userScript);
  judge.setHandler(judgeScript);
  assistant.requests.length = 0;
  user.requests.length = 0;
  judge.requests.length = 0;
});
afterAll(async () => {
  await Promise.all([assistant.close(), user.close(), judge.close()]);
  await rm(dir, { recursive: true, force: true });
});

function args(data: string, out: string, personas: string, extra: string[] = [], judged = true): string[] {
  return conversationRunArgs({
    data,
    out,
    assistantUrl: assistant.baseUrl,
    userUrl: user.baseUrl,
    judgeUrl: judged ? judge.baseUrl : undefined,
    personas,
    extra,
  });
}

async function writeRows(name: string, rows: object[]): Promise<string> {
  const path = join(dir, `${name}.jsonl`);
  await writeFile(path, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return path;
}

const metricsOf = async (out: string) => JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8'));

describe('eval run --turns: faults inside a conversation', () => {
  it('a judge failure on a turn before the last is counted and told, not hidden', {
    timeout: 60_000,
  }, async () => {
    // The judge fails on every call; the AmbigQA final turn needs none (the held meaning decides it), so
    // only the asking turn 1 fails to score.
    judge.setHandler(() => ({ status: 400, errorMessage: 'judge down' }));
    const data = await writeRows('judge-mid', [cupRow('j-1')]);
    const out = join(dir, 'judge-mid');
    const r = await runCliInProcess(args(data, out, 'cooperative'));
    const turns = await jsonLines(join(out, 'turns.jsonl'));
    expect(turns.filter((t) => t.role === 'assistant').map((t) => 'error' in t.reward)).toEqual([
      true,
      false,
    ]);
    const [record] = await jsonLines(join(out, 'results.jsonl'));
    // The final answer itself was scored: the run's usual failures are empty…
    expect('error' in record!.reward).toBe(false);
    expect(record!.conversation.failed_turns).toBe(1);
    const metrics = await metricsOf(out);
    expect(metrics.overall.failures).toBe(0);
    // …but the conversation metrics count the unscored turn…
    expect(metrics.conversations.overall.failed_turns).toBe(1);
    expect(metrics.conversations.groups['ambig_qa/cooperative'].failed_turns).toBe(1);
    // …and the user is told, as for a final-turn failure (which also finishes with status 0).
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/1 turn\(s\) of 1 conversation\(s\) failed to score/);
    expect(r.stderr).toContain(
      '--resume judges again the ones that failed at the judge, from their stored outputs',
    );
  });

  it('--judge offline: tells how many turns await a verdict and that a judge is needed, not eval score', {
    timeout: 60_000,
  }, async () => {
    // The AmbigQA row asks (a turn awaiting a verdict) then answers (scored by the held meaning); the
    // safety row answers at once (its final turn awaits a verdict).
    plan = (m, turn) =>
      JSON.stringify(m).includes('story about a cat')
        ? { action: 'DA', response: 'Once upon a time.' }
        : askThenAnswer(m, turn);
    const data = await writeRows('offline', [cupRow('o-1'), safetyRow('o-2')]);
    const out = join(dir, 'offline');
    const r = await runCliInProcess(args(data, out, 'cooperative', [], false));
    expect(r.code, r.stderr).toBe(0);
    expect(judge.requests).toHaveLength(0);
    expect(r.stderr).not.toContain('gtalign eval score');
    expect(r.stderr).toMatch(/2 turn\(s\) of 2 conversation\(s\) await a verdict/);
    expect(r.stderr).toContain('--judge-url');
    const metrics = await metricsOf(out);
    expect(metrics.conversations.overall.unjudged_turns).toBe(2);
    expect(metrics.conversations.overall.failed_turns).toBe(0);
  });

  it("an empty reply of the user's model is recorded as empty, counts no tokens and is reported", {
    timeout: 60_000,
  }, async () => {
    user.setHandler(() => ({ content: '  \n ' }));
    const data = await writeRows('empty-reply', [cupRow('e-1')]);
    const out = join(dir, 'empty-reply');
    const r = await runCliInProcess(args(data, out, 'cooperative'));
    expect(r.code, r.stderr).toBe(0);
    const turns = await jsonLines(join(out, 'turns.jsonl'));
    expect(turns.map((t) => `${t.role}${t.turn}`)).toEqual(['assistant1', 'user1', 'assistant2']);
    expect(turns[1]).toMatchObject({ role: 'user', text: '', tokens: 0, empty: true });
    // The assistant's next turn still gets a user message in its place.
    const turn2 = assistant.requests
      .map((q) => q.body!.messages as Message[])
      .find((m) => m.filter((x) => x.role === 'assistant').length === 1 && m.at(-1)!.role === 'user');
    expect(turn2!.at(-1)).toEqual({ role: 'user', content: '(no reply)' });
    const [record] = await jsonLines(join(out, 'results.jsonl'));
    expect(record!.conversation).toMatchObject({ user_tokens: 0, empty_replies: 1 });
    const metrics = await metricsOf(out);
    expect(metrics.conversations.overall).toMatchObject({ user_tokens: 0, empty_user_replies: 1 });
    expect(r.stderr).toMatch(/1 reply\(ies\) of the simulated user were empty/);
  });

  it('an empty <response> ends the conversation like an output with no action, without asking the user', {
    timeout: 60_000,
  }, async () => {
    plan = (_m, turn) => (turn === 1 ? { action: 'CQ', response: '' } : { action: 'DA', response: DA_TEXT });
    const data = await writeRows('empty-response', [cupRow('n-1')]);
    const out = join(dir, 'empty-response');
    const r = await runCliInProcess(args(data, out, 'cooperative'));
    expect(r.code, r.stderr).toBe(0);
    expect(user.requests).toHaveLength(0);
    const turns = await jsonLines(join(out, 'turns.jsonl'));
    expect(turns).toHaveLength(1);
    expect(turns[0]).toMatchObject({
      role: 'assistant',
      action: 'CQ',
      response: '',
      next: 'end',
      end: 'no-action',
    });
    const [record] = await jsonLines(join(out, 'results.jsonl'));
    expect(record!.conversation).toMatchObject({ turns: 1, end: 'no-action' });
  });

  it('a direct answer with an empty <response> is no answer: the conversation is not counted as answered', {
    timeout: 60_000,
  }, async () => {
    // The chosen cell is DA, but the response block is empty (as when stage 2 runs out of tokens).
    plan = () => ({ action: 'DA', response: '' });
    const data = await writeRows('empty-answer', [cupRow('a-1')]);
    const out = join(dir, 'empty-answer');
    const r = await runCliInProcess(args(data, out, 'cooperative'));
    expect(r.code, r.stderr).toBe(0);
    const [record] = await jsonLines(join(out, 'results.jsonl'));
    // The turn keeps its action (what the model chose), but the user got no answer.
    expect(record!.conversation).toMatchObject({
      turns: 1,
      end: 'no-action',
      actions: ['DA'],
      answered_at: null,
    });
    const overall = (await metricsOf(out)).conversations.overall;
    expect(overall).toMatchObject({ answered: 0, turns_to_answer: null });
    expect(overall.action_by_turn).toEqual([{ turn: 1, DA: 1, CQ: 0, AQ: 0 }]);
  });

  it('a backend failure names the conversation (row and persona), not the row', {
    timeout: 60_000,
  }, async () => {
    assistant.setHandler(() => ({ status: 400, errorMessage: 'boom' }));
    const data = await writeRows('backend', [cupRow('b-1')]);
    const out = join(dir, 'backend');
    const r = await runCliInProcess(args(data, out, 'cooperative,terse', ['--concurrency', '1']));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/: b-1~cooperative: assistant turn 1: .*boom/);
    expect(r.stderr).toMatch(/: b-1~terse: assistant turn 1: .*boom/);
    expect(r.stderr).not.toMatch(/: b-1: /);
  });

  it("a failure of the simulated user's model says so and names the turn it replies to, on stderr and in errors.jsonl", {
    timeout: 60_000,
  }, async () => {
    // By default the user's model is the assistant's own: its name alone would not tell which side failed.
    user.setHandler(() => ({ status: 400, errorMessage: 'user model down' }));
    const data = await writeRows('user-down', [cupRow('u-1')]);
    const out = join(dir, 'user-down');
    const r = await runCliInProcess(args(data, out, 'cooperative'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /: u-1~cooperative: simulated user's reply to assistant turn 1: .*user model down/,
    );
    const [logged] = await jsonLines(join(out, 'errors.jsonl'));
    expect(logged).toMatchObject({ id: 'u-1~cooperative', stage: 'simulate-user', turn: 1 });
    expect(logged!.message).toMatch(/^simulated user's reply to assistant turn 1: .*user model down/);
    // Turn 1 is kept: the resume asks the user again, not the assistant.
    user.setHandler(userScript);
    assistant.requests.length = 0;
    const resumed = await runCliInProcess([...args(data, out, 'cooperative'), '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(assistant.requests).toHaveLength(2);
  });
});
