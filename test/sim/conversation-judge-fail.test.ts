/**
 * `gtalign eval run --turns N --on-judge-error fail`: a judge failure on a turn just generated stops the
 * run, and the turn's output is kept, so the resume judges it from its stored output instead of paying the
 * assistant for it again. The real CLI runs in this process against scripted servers (test/sim/scripted.ts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliInProcess } from '../support/cli-in-process.js';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';
import { jsonLines } from '../support/run-folder.js';
import {
  askThenAnswer,
  assistantScript,
  conversationRunArgs,
  cupRow,
  switchableJudgeScript,
  userScript,
} from './scripted.js';

let dir: string;
let assistant: OpenAIStubServer;
let user: OpenAIStubServer;
let judge: OpenAIStubServer;
const judgeState = { up: false };

function args(data: string, out: string, judged: boolean): string[] {
  return conversationRunArgs({
    data,
    out,
    assistantUrl: assistant.baseUrl,
    userUrl: user.baseUrl,
    judgeUrl: judged ? judge.baseUrl : undefined,
    extra: ['--on-judge-error', 'fail'],
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-sim-judge-fail-'));
  assistant = await startOpenAIStubServer(assistantScript(askThenAnswer));
  user = await startOpenAIStubServer(userScript);
  judge = await startOpenAIStubServer(switchableJudgeScript(judgeState));
});
afterAll(async () => {
  await Promise.all([assistant.close(), user.close(), judge.close()]);
  await rm(dir, { recursive: true, force: true });
});

describe('eval run --turns --on-judge-error fail', () => {
  it('keeps the turn whose judge failed, so the resume judges it without generating it again', {
    timeout: 60_000,
  }, async () => {
    const data = join(dir, 'rows.jsonl');
    await writeFile(data, `${JSON.stringify(cupRow('f-1'))}\n`);
    const out = join(dir, 'run');
    const strict = args(data, out, true);
    const stopped = await runCliInProcess(strict);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toMatch(/judge failure in f-1~cooperative/);
    // Turn 1 was generated (two stages): it is in the log, with its failed reward.
    expect(assistant.requests).toHaveLength(2);
    const turns = await jsonLines(join(out, 'turns.jsonl'));
    expect(turns.map((t) => `${t.role}${t.turn}`)).toEqual(['assistant1']);
    expect('error' in turns[0]!.reward).toBe(true);

    judgeState.up = true;
    assistant.requests.length = 0;
    const resumed = await runCliInProcess([...strict, '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    // Only turn 2 is generated: turn 1 is judged from its stored output.
    expect(assistant.requests).toHaveLength(2);
    const [record] = await jsonLines(join(out, 'results.jsonl'));
    expect(record!.conversation).toMatchObject({ turns: 2, failed_turns: 0 });
  });

  it('--judge offline: a turn awaiting its verdict is no failure, so the run finishes instead of stopping', {
    timeout: 60_000,
  }, async () => {
    const data = join(dir, 'offline.jsonl');
    await writeFile(data, `${JSON.stringify(cupRow('o-1'))}\n${JSON.stringify(cupRow('o-2'))}\n`);
    const out = join(dir, 'offline');
    assistant.requests.length = 0;
    const r = await runCliInProcess(args(data, out, false));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/2 turn\(s\) of 2 conversation\(s\) await a verdict/);
    const records = await jsonLines(join(out, 'results.jsonl'));
    expect(records.map((x) => x.id).sort()).toEqual(['o-1~cooperative', 'o-2~cooperative']);
    // Two turns of two stages each, per conversation: nothing generated twice.
    expect(assistant.requests).toHaveLength(8);
  });
});
