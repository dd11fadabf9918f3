/**
 * A resume scores rows as they were when their records were written (src/eval/resume-data.ts): a data
 * file edited between a run and its `--resume` is refused, naming the records, before anything is judged
 * again or generated; and a resumed run that adds records removes the metrics.json of its earlier rows
 * first, so a stop in between leaves no metrics that describe other records. The real CLI runs in this
 * process against scripted stand-ins (loopback OpenAI-compatible servers replaying chosen outputs,
 * test/sim/scripted.ts); the stop goes through the library with a file system that fails the append.
 */

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DatasetRow } from '../../src/data/row.js';
import { assistantProducer, type EvalOptions, evaluate } from '../../src/eval/run.js';
import { RunStoreIoError } from '../../src/eval/store.js';
import { approxTokenCounter } from '../../src/eval/tokens.js';
import type { FileOps } from '../../src/io/file-ops.js';
import { createJudge } from '../../src/reward/judge.js';
import {
  assistantScript,
  CUP_GROUND_TRUTH,
  cupRow,
  evalRunArgs,
  simulatedUserArgs,
  switchableJudgeScript,
  userScript,
} from '../sim/scripted.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import { fullDiskFor } from '../support/faulty-fs.js';
import { type OpenAIStubServer, startOpenAIStubServer, stubModel } from '../support/openai-stub-server.js';
import { fileExists, libraryRunConfig, metricsOf } from '../support/run-folder.js';

let dir: string;
let assistant: OpenAIStubServer;
let user: OpenAIStubServer;
let judge: OpenAIStubServer;
/** Whether the judge answers (see switchableJudgeScript). */
const judgeState = { up: false };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-resume-data-'));
  assistant = await startOpenAIStubServer(
    assistantScript(() => ({ action: 'DA', response: 'It was Spain.' })),
  );
  user = await startOpenAIStubServer(userScript);
  judge = await startOpenAIStubServer(switchableJudgeScript(judgeState));
});
beforeEach(() => {
  judgeState.up = false;
  for (const s of [assistant, user, judge]) s.requests.length = 0;
});
afterAll(async () => {
  await Promise.all([assistant.close(), user.close(), judge.close()]);
  await rm(dir, { recursive: true, force: true });
});

async function writeRows(path: string, rows: object[]): Promise<string> {
  await writeFile(path, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return path;
}

const singleTurn = (data: string, out: string) =>
  evalRunArgs({
    data,
    out,
    assistantUrl: assistant.baseUrl,
    judgeUrl: judge.baseUrl,
    extra: ['--judge-retries', '1', '--concurrency', '1'],
  });

const conversations = (data: string, out: string) => [
  ...singleTurn(data, out),
  ...simulatedUserArgs(user.baseUrl),
  '--persona',
  'cooperative',
];

describe('eval run --resume after the data file was edited', () => {
  for (const [kind, argsOf] of [
    ['single-turn', singleTurn],
    ['conversation', conversations],
  ] as const) {
    it(`${kind}: is refused naming the records whose row changed, and nothing is judged or generated`, {
      timeout: 60_000,
    }, async () => {
      const data = join(dir, `${kind}.jsonl`);
      const out = join(dir, kind);
      await writeRows(data, [cupRow('e-1'), cupRow('e-2')]);
      const first = await runCliInProcess(argsOf(data, out));
      expect(first.code, first.stderr).toBe(0);
      const resultsBefore = await readFile(join(out, 'results.jsonl'), 'utf8');

      // e-1's first meaning now has another answer: the judge would grade the stored output against a
      // label it was not made for, and a conversation would be re-summarised with another held answer.
      const swapped = CUP_GROUND_TRUTH.replace('Answer 0: Spain', 'Answer 0: Italy');
      expect(swapped).not.toBe(CUP_GROUND_TRUTH);
      await writeRows(data, [{ ...cupRow('e-1'), ground_truth: swapped }, cupRow('e-2')]);
      judgeState.up = true;
      for (const s of [assistant, user, judge]) s.requests.length = 0;
      const resumed = await runCliInProcess([...argsOf(data, out), '--resume']);
      expect(resumed.code).not.toBe(0);
      expect(resumed.stderr).toMatch(
        /cannot resume .*: the data changed since these records were written \(e-1/,
      );
      expect(resumed.stderr).toContain('ground_truth');
      expect(resumed.stderr).not.toMatch(/e-2/);
      expect(assistant.requests).toHaveLength(0);
      expect(user.requests).toHaveLength(0);
      expect(judge.requests).toHaveLength(0);
      expect(await readFile(join(out, 'results.jsonl'), 'utf8')).toBe(resultsBefore);
    });
  }
});

describe('evaluate: a resumed run that adds records', () => {
  it('removes the metrics.json of its earlier rows before the first new record, so a stop leaves none', {
    timeout: 60_000,
  }, async () => {
    judgeState.up = true;
    const row = (id: string): DatasetRow => ({ ...cupRow(id), source: { file: 'memory', row: 0 } });
    const out = join(dir, 'grown');
    const options = (rows: DatasetRow[], fs?: FileOps): EvalOptions => ({
      out,
      config: libraryRunConfig('grown'),
      rows,
      produce: assistantProducer(stubModel(assistant), { prompt: 'row' }),
      scoring: { judge: createJudge({ model: stubModel(judge), retry: { attempts: 1 } }) },
      tokenCounter: approxTokenCounter,
      resume: true,
      concurrency: 1,
      ...(fs === undefined ? {} : { fs }),
    });
    const first = await evaluate(options([row('g-1'), row('g-2')]));
    expect(first.complete).toBe(true);
    expect((await metricsOf(out)).overall.n).toBe(2);

    // The data grew; the new row's record cannot be written.
    const rows = [row('g-1'), row('g-2'), row('g-3')];
    const err = await evaluate(options(rows, fullDiskFor('results.jsonl'))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunStoreIoError);
    expect(await fileExists(join(out, 'metrics.json'))).toBe(false);

    const finished = await evaluate(options(rows));
    expect(finished.complete).toBe(true);
    expect((await metricsOf(out)).overall.n).toBe(3);
  });
});
