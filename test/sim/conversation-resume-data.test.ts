/**
 * `gtalign eval run --turns N --resume` refuses to go on with an unfinished conversation whose row changed
 * in the data files since its first turn was made (its turns and its user's intent came from the row as
 * it was), as it refuses a finished one's record. The real CLI runs in this process against scripted
 * servers (test/sim/scripted.ts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliInProcess } from '../support/cli-in-process.js';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';
import { jsonLines } from '../support/run-folder.js';
import {
  assistantScript,
  conversationRunArgs,
  cupRow,
  judgeScript,
  type Message,
  userScript,
} from './scripted.js';

const cqThenDa = (_m: Message[], turn: number) =>
  turn === 1
    ? { action: 'CQ' as const, response: 'Which year do you mean?' }
    : { action: 'DA' as const, response: 'It was Spain.' };

let dir: string;
let assistant: OpenAIStubServer;
let user: OpenAIStubServer;
let judge: OpenAIStubServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-sim-resume-data-'));
  assistant = await startOpenAIStubServer(assistantScript(cqThenDa));
  user = await startOpenAIStubServer(() => ({ status: 400, errorMessage: 'user model down' }));
  judge = await startOpenAIStubServer(judgeScript);
});
afterAll(async () => {
  await Promise.all([assistant.close(), user.close(), judge.close()]);
  await rm(dir, { recursive: true, force: true });
});

describe('eval run --turns --resume: the data of an unfinished conversation', () => {
  it('refuses a resume whose row changed since the conversation began, naming the conversation', {
    timeout: 60_000,
  }, async () => {
    const data = join(dir, 'rows.jsonl');
    await writeFile(data, `${JSON.stringify(cupRow('d-1'))}\n`);
    const out = join(dir, 'run');
    const args = conversationRunArgs({
      data,
      out,
      assistantUrl: assistant.baseUrl,
      userUrl: user.baseUrl,
      judgeUrl: judge.baseUrl,
    });
    // The user's model fails: the conversation stops after its first assistant turn, with no record.
    const first = await runCliInProcess(args);
    expect(first.code).toBe(1);
    const turns = await jsonLines(join(out, 'turns.jsonl'));
    expect(turns.map((t) => `${t.role}${t.turn}`)).toEqual(['assistant1']);

    // The row's meanings change before the resume: the user would hold an intent turn 1 was not made for.
    await writeFile(data, `${JSON.stringify({ ...cupRow('d-1'), ground_truth: 'singleAnswer###Spain' })}\n`);
    user.setHandler(userScript);
    assistant.requests.length = 0;
    user.requests.length = 0;
    const resumed = await runCliInProcess([...args, '--resume']);
    expect(resumed.code).toBe(1);
    expect(resumed.stderr).toMatch(/cannot resume .*: the data changed .*d-1~cooperative: ground_truth/);
    expect(assistant.requests.length + user.requests.length).toBe(0);
  });
});
