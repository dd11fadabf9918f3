/**
 * `gtalign eval run --resume` (single turns) judges again the records whose judge call failed, from their
 * stored outputs: no generation, a superseding line per record now scored in results.jsonl, metrics.json
 * written again, and every reader takes the last line. The real CLI runs in this process against scripted
 * stand-ins (loopback OpenAI-compatible servers replaying chosen outputs, test/sim/scripted.ts); the full
 * disk goes through the library with a file system that fails the superseding line's write.
 */

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DatasetRow } from '../../src/data/row.js';
import { assistantProducer, type EvalOptions, evaluate } from '../../src/eval/run.js';
import { readRunDir } from '../../src/eval/run-dir.js';
import { RunStoreIoError } from '../../src/eval/store.js';
import { approxTokenCounter } from '../../src/eval/tokens.js';
import type { FileOps } from '../../src/io/file-ops.js';
import { createJudge } from '../../src/reward/judge.js';
import { loadRuns } from '../../src/studio/runs.js';
import { assistantScript, cupRow, evalRunArgs, switchableJudgeScript } from '../sim/scripted.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import { fullDiskFor } from '../support/faulty-fs.js';
import { type OpenAIStubServer, startOpenAIStubServer, stubModel } from '../support/openai-stub-server.js';
import { fileExists, jsonLines, libraryRunConfig, metricsOf } from '../support/run-folder.js';

let dir: string;
let assistant: OpenAIStubServer;
let judge: OpenAIStubServer;
/** Whether the judge answers (see switchableJudgeScript). */
const judgeState = { up: false };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-eval-rejudge-'));
  assistant = await startOpenAIStubServer(
    assistantScript(() => ({ action: 'CQ', response: 'Which year do you mean?' })),
  );
  judge = await startOpenAIStubServer(switchableJudgeScript(judgeState));
});
beforeEach(() => {
  judgeState.up = false;
  forget();
});
afterAll(async () => {
  await Promise.all([assistant.close(), judge.close()]);
  await rm(dir, { recursive: true, force: true });
});

/** Empties the requests the servers recorded, so a test counts those of its next run. */
function forget(): void {
  assistant.requests.length = 0;
  judge.requests.length = 0;
}

function args(data: string, out: string, extra: string[] = [], judged = true): string[] {
  return evalRunArgs({
    data,
    out,
    assistantUrl: assistant.baseUrl,
    judgeUrl: judged ? judge.baseUrl : undefined,
    extra: [...(judged ? ['--judge-retries', '1'] : []), '--concurrency', '1', ...extra],
  });
}

async function writeRows(name: string, ids: string[]): Promise<string> {
  const path = join(dir, `${name}.jsonl`);
  await writeFile(path, ids.map((id) => `${JSON.stringify(cupRow(id))}\n`).join(''));
  return path;
}

/** A run whose judge is down: every record's reward is a judge failure. */
async function runWithJudgeDown(name: string, rows = 2): Promise<{ data: string; out: string }> {
  const data = await writeRows(
    name,
    Array.from({ length: rows }, (_, i) => `${name}-${i + 1}`),
  );
  const out = join(dir, name);
  const r = await runCliInProcess(args(data, out));
  expect(r.code, r.stderr).toBe(0);
  const records = await jsonLines(join(out, 'results.jsonl'));
  expect(records.map((x) => x.reward.error?.stage)).toEqual(Array(rows).fill('judge'));
  expect((await metricsOf(out)).overall.failures).toBe(rows);
  forget();
  return { data, out };
}

describe('eval run --resume: judging failed records again', () => {
  it('judges each failed record again from its stored output and supersedes it, for every reader', {
    timeout: 60_000,
  }, async () => {
    const { data, out } = await runWithJudgeDown('again');
    const resultsPath = join(out, 'results.jsonl');
    const before = await jsonLines(resultsPath);
    judgeState.up = true;
    const r = await runCliInProcess([...args(data, out), '--resume']);
    expect(r.code, r.stderr).toBe(0);
    // Only the judge was asked: nothing generated.
    expect(assistant.requests).toHaveLength(0);
    expect(judge.requests).toHaveLength(2);
    expect(r.stderr).toMatch(/2 rows, 2 already done, 2 record\(s\) whose scoring failed to judge again/);
    expect(r.stderr).toMatch(
      /judged again 2 record\(s\) whose scoring had failed, from their stored outputs \(nothing generated again\): 2 now scored, 0 failed again and stay counted/,
    );
    expect(r.stderr).not.toContain('failed to score');

    // Append-only: each record's new line follows, whole, with the output it had.
    const records = await jsonLines(resultsPath);
    expect(records.slice(0, 2)).toEqual(before);
    expect(records.map((x) => [x.id, x.supersedes])).toEqual([
      ['again-1', undefined],
      ['again-2', undefined],
      ['again-1', true],
      ['again-2', true],
    ]);
    for (const [i, later] of records.slice(2).entries()) {
      const { reward, supersedes: _s, durationMs, ...same } = later;
      const { reward: failed, durationMs: took, ...was } = before[i]!;
      expect(same).toEqual(was);
      expect('error' in failed).toBe(true);
      expect(reward.verdict_source).toBe('judge');
      expect(reward.user_reward).toBeGreaterThan(0);
      // The record's time is its generation's and both scorings.
      expect(durationMs).toBeGreaterThanOrEqual(took);
    }
    const metrics = await metricsOf(out);
    expect(metrics.overall).toMatchObject({ n: 2, failures: 0 });

    // The readers take the last line: eval report and compare (readRunDir), the studio, eval score.
    const run = await readRunDir(out);
    expect(run.records).toEqual(records.slice(2));
    const [loaded] = await loadRuns([out]);
    expect(loaded!.records).toEqual(records.slice(2));
    const report = await runCliInProcess([
      'eval',
      'report',
      out,
      '--out',
      join(dir, 'again-report'),
      '--no-png',
    ]);
    expect(report.code, report.stderr).toBe(0);
    const compare = await runCliInProcess(['eval', 'compare', out, out]);
    expect(compare.code, compare.stderr).toBe(0);
    const rescored = join(dir, 'again-rescored');
    const score = await runCliInProcess([
      'eval',
      'score',
      '--responses',
      resultsPath,
      '--data',
      data,
      '--out',
      rescored,
      '--judge-url',
      judge.baseUrl,
      '--judge-model',
      'stub-judge',
      '--judge-vendor',
      'vllm',
      '--judge-retries',
      '1',
      '--no-cache',
      '--tokenizer',
      'approx',
      '--no-progress',
    ]);
    expect(score.code, score.stderr).toBe(0);
    expect((await jsonLines(join(rescored, 'results.jsonl'))).map((x) => x.id)).toEqual([
      'again-1',
      'again-2',
    ]);
    expect(await metricsOf(out)).toEqual(metrics);

    // A further resume has nothing left to judge: no call, no line.
    forget();
    const again = await runCliInProcess([...args(data, out), '--resume']);
    expect(again.code, again.stderr).toBe(0);
    expect(judge.requests.length + assistant.requests.length).toBe(0);
    expect(again.stderr).not.toContain('judge again');
    expect(await jsonLines(resultsPath)).toHaveLength(4);
  });

  it('a judge that fails again leaves the record failed, counted and told; nothing is written', {
    timeout: 60_000,
  }, async () => {
    const { data, out } = await runWithJudgeDown('fails-again', 1);
    const resultsBefore = await readFile(join(out, 'results.jsonl'), 'utf8');
    const r = await runCliInProcess([...args(data, out), '--resume']);
    expect(r.code, r.stderr).toBe(0);
    expect(judge.requests).toHaveLength(1);
    expect(assistant.requests).toHaveLength(0);
    expect(r.stderr).toMatch(/judged again 1 record\(s\).*: 0 now scored, 1 failed again and stay counted/);
    expect(r.stderr).toMatch(/1 record\(s\) failed to score/);
    expect(r.stderr).toContain(
      '--resume judges again from its stored output each one whose judge call failed',
    );
    expect(await readFile(join(out, 'results.jsonl'), 'utf8')).toBe(resultsBefore);
    expect((await metricsOf(out)).overall.failures).toBe(1);

    // With --on-judge-error fail the failure stops the run: incomplete (exit 1), for the next resume.
    forget();
    const stopped = await runCliInProcess([...args(data, out, ['--on-judge-error', 'fail']), '--resume']);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toMatch(
      /incomplete: judge failure on row fails-again-1 \(--on-judge-error fail\)/,
    );
    expect(await readFile(join(out, 'results.jsonl'), 'utf8')).toBe(resultsBefore);

    // The next resume, the judge answering, finishes it.
    judgeState.up = true;
    forget();
    const finished = await runCliInProcess([...args(data, out, ['--on-judge-error', 'fail']), '--resume']);
    expect(finished.code, finished.stderr).toBe(0);
    expect(judge.requests).toHaveLength(1);
    expect((await metricsOf(out)).overall.failures).toBe(0);
  });

  it('--on-judge-error fail keeps the output whose judge failed, and the resume judges it without generating it again', {
    timeout: 60_000,
  }, async () => {
    const data = await writeRows('fail-new', ['fail-new-1', 'fail-new-2']);
    const out = join(dir, 'fail-new');
    const strict = args(data, out, ['--on-judge-error', 'fail']);
    const stopped = await runCliInProcess(strict);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toMatch(/judge failure on row fail-new-1 \(--on-judge-error fail\)/);
    // The generated output (two stages) is kept with its failed reward; the run stopped after it.
    expect(assistant.requests).toHaveLength(2);
    const kept = await jsonLines(join(out, 'results.jsonl'));
    expect(kept.map((x) => [x.id, x.reward.error?.stage])).toEqual([['fail-new-1', 'judge']]);

    judgeState.up = true;
    forget();
    const finished = await runCliInProcess([...strict, '--resume']);
    expect(finished.code, finished.stderr).toBe(0);
    // fail-new-1 is judged from its stored output; only fail-new-2 is generated.
    expect(assistant.requests).toHaveLength(2);
    expect(judge.requests).toHaveLength(2);
    expect((await metricsOf(out)).overall.failures).toBe(0);
  });

  it('--judge offline: --resume says that nothing can be judged again, and asks no one', {
    timeout: 60_000,
  }, async () => {
    const data = await writeRows('offline', ['o-1']);
    const out = join(dir, 'offline');
    const first = await runCliInProcess(args(data, out, [], false));
    expect(first.code, first.stderr).toBe(0);
    const resultsBefore = await readFile(join(out, 'results.jsonl'), 'utf8');
    forget();
    const r = await runCliInProcess([...args(data, out, [], false), '--resume']);
    expect(r.code, r.stderr).toBe(0);
    expect(judge.requests.length + assistant.requests.length).toBe(0);
    expect(r.stderr).not.toContain('to judge again');
    expect(r.stderr).toMatch(/1 record\(s\) await a verdict/);
    expect(r.stderr).toContain(
      "--resume cannot judge them (a resume keeps the run's judge, and this run has none)",
    );
    expect(await readFile(join(out, 'results.jsonl'), 'utf8')).toBe(resultsBefore);
  });

  it('a resume killed after removing metrics.json, then while writing the superseding line, is finished by the next', {
    timeout: 60_000,
  }, async () => {
    const { data, out } = await runWithJudgeDown('killed', 1);
    const resultsPath = join(out, 'results.jsonl');
    const [first] = await jsonLines(resultsPath);
    judgeState.up = true;

    // Killed after metrics.json was removed, before the line: the record is still the failed one.
    await rm(join(out, 'metrics.json'));
    const r1 = await runCliInProcess([...args(data, out), '--resume']);
    expect(r1.code, r1.stderr).toBe(0);
    expect(judge.requests).toHaveLength(1);
    const records = await jsonLines(resultsPath);
    expect(records.map((x) => x.supersedes)).toEqual([undefined, true]);
    const metrics = await metricsOf(out);
    expect(metrics.overall.failures).toBe(0);

    // Killed while writing the superseding line: part of it, no newline, metrics.json already removed.
    const torn = JSON.stringify({ ...first, supersedes: true }).slice(0, 80);
    await writeFile(resultsPath, `${JSON.stringify(first)}\n${torn}`);
    await rm(join(out, 'metrics.json'));
    forget();
    const r2 = await runCliInProcess([...args(data, out), '--resume']);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stderr).toMatch(/dropped a cut-off last line \(80 bytes\)/);
    expect(r2.stderr).toMatch(/1 now scored/);
    expect(judge.requests).toHaveLength(1);
    expect(assistant.requests).toHaveLength(0);
    const after = await jsonLines(resultsPath);
    expect(after).toHaveLength(2);
    expect(after[1]).toEqual({ ...records[1], durationMs: after[1]!.durationMs });
    expect(await metricsOf(out)).toEqual(metrics);
  });
});

describe('evaluate: a resume stopped by a full disk while superseding a record', () => {
  it('fails naming results.jsonl, leaves the record and no metrics.json, and the next resume judges it again', {
    timeout: 60_000,
  }, async () => {
    const row: DatasetRow = { ...cupRow('lib-1'), source: { file: 'memory', row: 0 } };
    const config = libraryRunConfig('rejudge');
    const out = join(dir, 'library');
    const options = (fs?: FileOps): EvalOptions => ({
      out,
      config,
      rows: [row],
      produce: assistantProducer(stubModel(assistant), { prompt: 'row' }),
      scoring: { judge: createJudge({ model: stubModel(judge), retry: { attempts: 1 } }) },
      tokenCounter: approxTokenCounter,
      resume: true,
      concurrency: 1,
      ...(fs === undefined ? {} : { fs }),
    });
    const first = await evaluate(options());
    expect(first.complete).toBe(true);
    expect(first.metrics.overall.failures).toBe(1);
    const resultsBefore = await readFile(join(out, 'results.jsonl'), 'utf8');

    judgeState.up = true;
    forget();
    const err = await evaluate(options(fullDiskFor('results.jsonl'))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunStoreIoError);
    expect((err as RunStoreIoError).file).toBe(join(out, 'results.jsonl'));
    expect(judge.requests).toHaveLength(1);
    // The record is the old one; metrics.json, which described it, is gone.
    expect(await readFile(join(out, 'results.jsonl'), 'utf8')).toBe(resultsBefore);
    expect(await fileExists(join(out, 'metrics.json'))).toBe(false);

    forget();
    const resumed = await evaluate(options());
    expect(assistant.requests).toHaveLength(0);
    expect(judge.requests).toHaveLength(1);
    expect(resumed.complete).toBe(true);
    expect(resumed.rejudged).toEqual({ records: 1, scored: 1 });
    expect(resumed.records).toHaveLength(1);
    expect(resumed.records[0]!.supersedes).toBe(true);
    expect(resumed.metrics.overall.failures).toBe(0);
    expect((await metricsOf(out)).overall.failures).toBe(0);
  });
});
