/**
 * `gtalign eval run --turns N --resume` judges again the recorded turns whose judge call failed, from their
 * stored outputs: no assistant or simulated-user call, a superseding line per turn now scored in
 * turns.jsonl and per finished conversation in results.jsonl, and every reader takes the last line. The
 * real CLI runs in this process against scripted stand-ins (loopback OpenAI-compatible servers replaying
 * chosen outputs, test/sim/scripted.ts); the stop between the turn line and the record goes through the
 * library with a file system that fails the record's write.
 */

import { appendFile, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DatasetRow } from '../../src/data/row.js';
import { type ConversationEvalOptions, evaluateConversations } from '../../src/eval/conversation-run.js';
import { readRunDir } from '../../src/eval/run-dir.js';
import { RunStoreIoError } from '../../src/eval/store.js';
import { approxTokenCounter } from '../../src/eval/tokens.js';
import type { FileOps } from '../../src/io/file-ops.js';
import { createJudge } from '../../src/reward/judge.js';
import { resolvePersonas } from '../../src/sim/persona.js';
import { itemView, loadRuns } from '../../src/studio/runs.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import { fullDiskFor } from '../support/faulty-fs.js';
import { type OpenAIStubServer, startOpenAIStubServer, stubModel } from '../support/openai-stub-server.js';
import { fileExists, jsonLines, libraryRunConfig, metricsOf } from '../support/run-folder.js';
import {
  askThenAnswer,
  assistantScript,
  conversationRunArgs,
  cupRow,
  type Message,
  switchableJudgeScript,
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
/** Whether the judge answers (see switchableJudgeScript). */
const judgeState = { up: false };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-sim-rejudge-'));
  assistant = await startOpenAIStubServer(assistantScript(askThenAnswer));
  user = await startOpenAIStubServer(userScript);
  judge = await startOpenAIStubServer(switchableJudgeScript(judgeState));
});
beforeEach(() => {
  judgeState.up = false;
  forget();
});
afterAll(async () => {
  await Promise.all([assistant.close(), user.close(), judge.close()]);
  await rm(dir, { recursive: true, force: true });
});

/** Empties the requests the servers recorded, so a test counts those of its next run. */
function forget(): void {
  assistant.requests.length = 0;
  user.requests.length = 0;
  judge.requests.length = 0;
}

function args(data: string, out: string, extra: string[] = [], judged = true): string[] {
  return conversationRunArgs({
    data,
    out,
    assistantUrl: assistant.baseUrl,
    userUrl: user.baseUrl,
    judgeUrl: judged ? judge.baseUrl : undefined,
    extra: ['--concurrency', '1', ...extra],
  });
}

async function writeRows(name: string, rows: object[]): Promise<string> {
  const path = join(dir, `${name}.jsonl`);
  await writeFile(path, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return path;
}

/** A run whose judge is down: its one conversation ends with turn 1 unscored. */
async function runWithJudgeDown(name: string): Promise<{ data: string; out: string }> {
  const data = await writeRows(name, [cupRow(`${name}-1`)]);
  const out = join(dir, name);
  const r = await runCliInProcess(args(data, out));
  expect(r.code, r.stderr).toBe(0);
  const [record] = await jsonLines(join(out, 'results.jsonl'));
  expect(record!.conversation.failed_turns).toBe(1);
  forget();
  return { data, out };
}

describe('eval run --turns --resume: judging failed turns again', () => {
  it('judges a failed turn again from its stored output and supersedes the turn and the record, for every reader', {
    timeout: 60_000,
  }, async () => {
    const { data, out } = await runWithJudgeDown('again');
    const before = await jsonLines(join(out, 'turns.jsonl'));
    judgeState.up = true;
    const r = await runCliInProcess([...args(data, out), '--resume']);
    expect(r.code, r.stderr).toBe(0);
    // Only the judge was asked: nothing generated, the simulated user not asked.
    expect(assistant.requests).toHaveLength(0);
    expect(user.requests).toHaveLength(0);
    expect(judge.requests).toHaveLength(1);
    expect(r.stderr).toMatch(
      /1 recorded turn\(s\) of 1 conversation\(s\) whose scoring failed to judge again/,
    );
    expect(r.stderr).toMatch(
      /judged again 1 recorded turn\(s\).*: 1 now scored, 0 failed again and stay counted; 1 finished conversation record\(s\) superseded/,
    );
    expect(r.stderr).not.toContain('failed to score');

    // Append-only: the turn's new line follows, whole, with the output it had.
    const turns = await jsonLines(join(out, 'turns.jsonl'));
    expect(turns.slice(0, 3)).toEqual(before);
    expect(turns).toHaveLength(4);
    const { reward, supersedes, ...same } = turns[3]!;
    const { reward: failed, ...was } = before[0]!;
    expect(same).toEqual(was);
    expect(supersedes).toBe(true);
    expect('error' in failed).toBe(true);
    expect(reward.user_reward).toBeGreaterThan(0);

    const records = await jsonLines(join(out, 'results.jsonl'));
    expect(records.map((x) => [x.id, x.supersedes])).toEqual([
      ['again-1~cooperative', undefined],
      ['again-1~cooperative', true],
    ]);
    const c = records[1]!.conversation;
    expect(c).toMatchObject({ failed_turns: 0, unjudged_turns: 0, turns: 2 });
    expect(c.per_turn[0].U).toBe(reward.user_reward);
    expect(c.discounted).not.toBeNull();
    const metrics = await metricsOf(out);
    expect(metrics.conversations.overall).toMatchObject({ n: 1, failed_turns: 0 });
    expect(metrics.conversations.overall.per_turn.map((p: { n: number }) => p.n)).toEqual([1, 1]);
    expect(metrics.conversations.overall.discounted.n).toBe(1);

    // The readers take the last line: eval report and compare (readRunDir), and the studio's thread.
    const run = await readRunDir(out);
    expect(run.records).toEqual([records[1]]);
    const [loaded] = await loadRuns([out]);
    const thread = loaded!.threads.get('again-1~cooperative')!;
    expect(thread.map((t) => `${t.role}${t.turn}`)).toEqual(['assistant1', 'user1', 'assistant2']);
    expect(thread[0]).toEqual(turns[3]);
    const report = await runCliInProcess([
      'eval',
      'report',
      out,
      '--out',
      join(dir, 'again-report'),
      '--no-png',
    ]);
    expect(report.code, report.stderr).toBe(0);
    expect(await metricsOf(out)).toEqual(metrics);

    // A further resume has nothing left to judge: no call, no line.
    forget();
    const again = await runCliInProcess([...args(data, out), '--resume']);
    expect(again.code, again.stderr).toBe(0);
    expect(judge.requests).toHaveLength(0);
    expect(await jsonLines(join(out, 'turns.jsonl'))).toHaveLength(4);
    expect(await jsonLines(join(out, 'results.jsonl'))).toHaveLength(2);
  });

  it('the studio shows a thread as the resume reads it: lines that are not turns, or replace a turn unmarked, are left out', {
    timeout: 60_000,
  }, async () => {
    const { out } = await runWithJudgeDown('studio-lines');
    const id = 'studio-lines-1~cooperative';
    const turns = await jsonLines(join(out, 'turns.jsonl'));
    // A superseding line without its reward, and a second user line: the resume refuses both.
    await appendFile(
      join(out, 'turns.jsonl'),
      `${JSON.stringify({ conversation: id, role: 'assistant', turn: 1, supersedes: true })}\n` +
        `${JSON.stringify({ ...turns.find((t) => t.role === 'user'), text: 'edited' })}\n`,
    );
    const [loaded] = await loadRuns([out]);
    expect(loaded!.threads.get(id)).toEqual(turns);
    expect(loaded!.warnings).toContain('turns.jsonl: 2 line(s) that are not turns, not shown');
    const record = loaded!.records.find((r) => r.id === id)!;
    expect(itemView(loaded!, record).thread.map((t) => `${t.role}${t.turn}`)).toEqual(
      turns.map((t) => `${t.role}${t.turn}`),
    );
  });

  it('a judge that fails again leaves the turn failed, counted and told; nothing is written', {
    timeout: 60_000,
  }, async () => {
    const { data, out } = await runWithJudgeDown('fails-again');
    const turnsBefore = await readFile(join(out, 'turns.jsonl'), 'utf8');
    const resultsBefore = await readFile(join(out, 'results.jsonl'), 'utf8');
    const r = await runCliInProcess([...args(data, out), '--resume']);
    expect(r.code, r.stderr).toBe(0);
    expect(judge.requests).toHaveLength(1);
    expect(assistant.requests).toHaveLength(0);
    expect(r.stderr).toMatch(
      /judged again 1 recorded turn\(s\).*: 0 now scored, 1 failed again and stay counted/,
    );
    expect(r.stderr).toMatch(/1 turn\(s\) of 1 conversation\(s\) failed to score/);
    expect(r.stderr).toContain(
      '--resume judges again the ones that failed at the judge, from their stored outputs',
    );
    expect(await readFile(join(out, 'turns.jsonl'), 'utf8')).toBe(turnsBefore);
    expect(await readFile(join(out, 'results.jsonl'), 'utf8')).toBe(resultsBefore);
    expect((await metricsOf(out)).conversations.overall.failed_turns).toBe(1);

    // With --on-judge-error fail the failure stops the run: incomplete (exit 1), for the next resume.
    forget();
    const stopped = await runCliInProcess([...args(data, out, ['--on-judge-error', 'fail']), '--resume']);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toMatch(
      /incomplete: judge failure in fails-again-1~cooperative \(--on-judge-error fail\)/,
    );
    expect(await readFile(join(out, 'results.jsonl'), 'utf8')).toBe(resultsBefore);
  });

  it('--judge offline: --resume says that nothing can be judged again, and asks no one', {
    timeout: 60_000,
  }, async () => {
    const plan = (m: Message[], turn: number) =>
      JSON.stringify(m).includes('story about a cat')
        ? { action: 'DA' as const, response: 'Once upon a time.' }
        : askThenAnswer(m, turn);
    assistant.setHandler(assistantScript(plan));
    try {
      const data = await writeRows('offline', [cupRow('o-1'), safetyRow('o-2')]);
      const out = join(dir, 'offline');
      const first = await runCliInProcess(args(data, out, [], false));
      expect(first.code, first.stderr).toBe(0);
      const turnsBefore = await readFile(join(out, 'turns.jsonl'), 'utf8');
      const resultsBefore = await readFile(join(out, 'results.jsonl'), 'utf8');
      forget();
      const r = await runCliInProcess([...args(data, out, [], false), '--resume']);
      expect(r.code, r.stderr).toBe(0);
      expect(judge.requests.length + assistant.requests.length + user.requests.length).toBe(0);
      expect(r.stderr).not.toContain('to judge again');
      expect(r.stderr).toMatch(/2 turn\(s\) of 2 conversation\(s\) await a verdict/);
      expect(r.stderr).toContain(
        "--resume cannot judge them (a resume keeps the run's judge, and this run has none)",
      );
      expect(await readFile(join(out, 'turns.jsonl'), 'utf8')).toBe(turnsBefore);
      expect(await readFile(join(out, 'results.jsonl'), 'utf8')).toBe(resultsBefore);
    } finally {
      assistant.setHandler(assistantScript(askThenAnswer));
    }
  });

  it('a resume killed while writing the turn line, then while writing the record, is finished by the next', {
    timeout: 90_000,
  }, async () => {
    const { data, out } = await runWithJudgeDown('killed');
    const turnsPath = join(out, 'turns.jsonl');
    const resultsPath = join(out, 'results.jsonl');
    const [first] = await jsonLines(turnsPath);

    // Killed while writing the turn's superseding line: part of it, no newline.
    const torn = JSON.stringify({ ...first, supersedes: true }).slice(0, 80);
    await writeFile(turnsPath, (await readFile(turnsPath, 'utf8')) + torn);
    judgeState.up = true;
    const r1 = await runCliInProcess([...args(data, out), '--resume']);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.stderr).toMatch(/dropped a cut-off last line \(80 bytes\)/);
    expect(judge.requests).toHaveLength(1);
    const turns = await jsonLines(turnsPath);
    expect(turns.map((t) => `${t.role}${t.turn}${t.supersedes ? '*' : ''}`)).toEqual([
      'assistant1',
      'user1',
      'assistant2',
      'assistant1*',
    ]);
    const records = await jsonLines(resultsPath);
    expect(records).toHaveLength(2);
    const metrics = await metricsOf(out);

    // Killed after the turn line, while writing the record: the record's line torn, metrics.json already
    // removed (it is removed before a record is superseded). The turn is scored in the log: no judge call.
    const text = await readFile(resultsPath, 'utf8');
    const lastLine = text.slice(text.lastIndexOf('\n', text.length - 2) + 1);
    await truncate(resultsPath, Buffer.byteLength(text) - Buffer.byteLength(lastLine) + 100);
    await rm(join(out, 'metrics.json'));
    forget();
    const r2 = await runCliInProcess([...args(data, out), '--resume']);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stderr).toMatch(/dropped a cut-off last line \(100 bytes\)/);
    expect(judge.requests.length + assistant.requests.length + user.requests.length).toBe(0);
    expect(await jsonLines(turnsPath)).toEqual(turns);
    const after = await jsonLines(resultsPath);
    expect(after).toHaveLength(2);
    expect(after[1]).toEqual({ ...records[1], durationMs: after[1]!.durationMs });
    expect(await metricsOf(out)).toEqual(metrics);
  });

  it('a conversation stopped after a turn whose judge call failed has that turn judged again before it goes on', {
    timeout: 60_000,
  }, async () => {
    const { data, out } = await runWithJudgeDown('unfinished');
    // The folder as a kill after the first turn leaves it: that turn only, no record, no metrics.
    const turnsPath = join(out, 'turns.jsonl');
    const [first] = await jsonLines(turnsPath);
    await writeFile(turnsPath, `${JSON.stringify(first)}\n`);
    await writeFile(join(out, 'results.jsonl'), '');
    await rm(join(out, 'metrics.json'));
    judgeState.up = true;
    const r = await runCliInProcess([...args(data, out), '--resume']);
    expect(r.code, r.stderr).toBe(0);
    // Turn 1 judged again, not generated again: the two stages of turn 2 only.
    expect(judge.requests).toHaveLength(1);
    expect(assistant.requests).toHaveLength(2);
    expect(user.requests).toHaveLength(1);
    const turns = await jsonLines(turnsPath);
    expect(turns.map((t) => `${t.role}${t.turn}${t.supersedes ? '*' : ''}`)).toEqual([
      'assistant1',
      'assistant1*',
      'user1',
      'assistant2',
    ]);
    // The conversation's record is its first: written once, with turn 1 scored.
    const records = await jsonLines(join(out, 'results.jsonl'));
    expect(records).toHaveLength(1);
    expect(records[0]!.supersedes).toBeUndefined();
    expect(records[0]!.conversation).toMatchObject({ failed_turns: 0, turns: 2 });
    expect(r.stderr).toMatch(
      /judged again 1 recorded turn\(s\).*1 now scored.*0 finished conversation record\(s\) superseded/,
    );
  });
});

describe('evaluateConversations: a resume stopped between the turn line and the record', () => {
  it('fails naming results.jsonl, keeps the scored turn, and the next resume supersedes the record without the judge', {
    timeout: 60_000,
  }, async () => {
    const row: DatasetRow = { ...cupRow('lib-1'), source: { file: 'memory', row: 0 } };
    const config = libraryRunConfig('rejudge');
    const out = join(dir, 'library');
    const options = (fs?: FileOps): ConversationEvalOptions => ({
      out,
      config,
      rows: [row],
      scoring: { judge: createJudge({ model: stubModel(judge), retry: { attempts: 1 } }) },
      tokenCounter: approxTokenCounter,
      resume: true,
      concurrency: 1,
      assistant: { model: stubModel(assistant), options: { prompt: 'row' } },
      sim: {
        personas: resolvePersonas(['cooperative']),
        maxTurns: 3,
        userModel: stubModel(user),
        seed: 0,
        discount: 0.9,
      },
      ...(fs === undefined ? {} : { fs }),
    });
    const first = await evaluateConversations(options());
    expect(first.complete).toBe(true);
    expect(first.metrics.conversations.overall.failed_turns).toBe(1);
    const resultsBefore = await readFile(join(out, 'results.jsonl'), 'utf8');

    judgeState.up = true;
    forget();
    const err = await evaluateConversations(options(fullDiskFor('results.jsonl'))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunStoreIoError);
    expect((err as RunStoreIoError).file).toBe(join(out, 'results.jsonl'));
    expect(judge.requests).toHaveLength(1);
    // The turn's new line is on disk; the record is the old one; metrics.json, which described it, is gone.
    const turns = await jsonLines(join(out, 'turns.jsonl'));
    expect(turns.at(-1)).toMatchObject({ role: 'assistant', turn: 1, supersedes: true });
    expect(await readFile(join(out, 'results.jsonl'), 'utf8')).toBe(resultsBefore);
    expect(await fileExists(join(out, 'metrics.json'))).toBe(false);

    forget();
    const resumed = await evaluateConversations(options());
    expect(judge.requests.length + assistant.requests.length + user.requests.length).toBe(0);
    expect(resumed.complete).toBe(true);
    expect(resumed.rejudged).toEqual({ turns: 0, scored: 0, records: 1 });
    expect(resumed.records).toHaveLength(1);
    expect(resumed.records[0]!.supersedes).toBe(true);
    expect(resumed.metrics.conversations.overall.failed_turns).toBe(0);
    expect((await metricsOf(out)).conversations.overall.failed_turns).toBe(0);
    expect(await jsonLines(join(out, 'turns.jsonl'))).toEqual(turns);
  });
});
