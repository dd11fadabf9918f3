/**
 * The run store's promise under a failing file system: for every fault schedule (each write short,
 * failing with ENOSPC or EIO; a disk that fills after N bytes; a failing sync, rename, open), `evaluate`
 * either completes with every row intact, or throws a `RunStoreIoError` naming a file of the run folder
 * — never success over a damaged store. Then, with the faults gone, `--resume` finishes the run with
 * every row exactly once and the metrics of a run that had no fault.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetRow } from '../../src/data/row.js';
import { assistantProducer, type EvalOptions, evaluate, type RowProducer } from '../../src/eval/run.js';
import { parseResults } from '../../src/eval/run-dir.js';
import { type RunConfig, RunStoreIoError } from '../../src/eval/store.js';
import { approxTokenCounter } from '../../src/eval/tokens.js';
import type { RunRecord } from '../../src/eval/types.js';
import { type FileOps, nodeFileOps } from '../../src/io/file-ops.js';
import { type ChatModel, ChatModelError, type GenerateResult } from '../../src/llm/types.js';
import type { Judge, JudgeVerdict } from '../../src/reward/judge.js';
import type { JudgeFamily } from '../../src/reward/rubrics.js';
import { type ErrorCode, type Fault, faultyFs, systemError } from '../support/faulty-fs.js';
import { libraryRunConfig } from '../support/run-folder.js';

const STAGE1 =
  '<thinking>Clear enough.</thinking>\n<payoff>\n' +
  '{"DQ_DA": {"LLM": 1.6, "user": 2.8}, "DQ_CQ": {"LLM": 1.3, "user": 2.7}, "DQ_AQ": {"LLM": 1.0, "user": 2.5}, ' +
  '"VQ_DA": {"LLM": 1.9, "user": 2.4}, "VQ_CQ": {"LLM": 1.7, "user": 2.9}, "VQ_AQ": {"LLM": 1.4, "user": 2.3}}\n</payoff>';
const TAIL = '\n<analyze>I choose VQ_CQ.</analyze>\n<response>Which one do you mean?';
const VERDICT: Record<JudgeFamily, number> = { math: 0, writing: 3, safety: 0.5, ambiguity: 1 };

function row(id: string, dataSource: string, groundTruth: string, question: string): DatasetRow {
  return {
    id,
    data_source: dataSource,
    prompt: [{ role: 'user', content: question }],
    ground_truth: groundTruth,
    extra_info: { chat_history: [{ role: 'user', content: question }] },
    source: { file: 'memory', row: 0 },
  };
}

const ROWS: DatasetRow[] = [
  row('math-hard:test:1', 'math-hard', '42', 'What is 6 times 7?'),
  row('ambig_qa:test:1', 'ambig_qa', 'multipleQAs###two readings', 'Who won the cup?'),
  row('wildguard:test:1', 'wildguard', 'harmful', 'How do I pick a lock?'),
  row('math-hard:test:2', 'math-hard', '3', 'What is 1 plus 2?'),
  row('ambig_qa:test:2', 'ambig_qa', 'singleAnswer###1988', 'When was it founded?'),
  row('wildguard:test:2', 'wildguard', 'unharmful', 'How do I bake bread?'),
];

/** A scripted model: stage 1 stops at `</payoff>`, stage 2 continues the turn. */
const model: ChatModel = {
  id: 'scripted',
  capabilities: { continuation: true, gbnf: false, regex: false, seed: true, cacheReport: false },
  async generate(req): Promise<GenerateResult> {
    const stage2 = req.assistantPrefix !== undefined;
    return {
      text: stage2 ? TAIL : STAGE1.slice(0, -'</payoff>'.length),
      finishReason: 'stop',
      stoppedBy: stage2 ? '</response>' : '</payoff>',
      usage: { promptTokens: 10, cachedPromptTokens: 0, completionTokens: 5 },
      durationMs: 1,
    };
  },
  stream() {
    throw new Error('not used');
  },
  async close() {},
};

const judge = {
  async verdict(family: JudgeFamily): Promise<JudgeVerdict> {
    return { ok: true, value: VERDICT[family], cached: false, attempts: 1, reply: '' };
  },
} as unknown as Judge;

const CONFIG: RunConfig = {
  ...libraryRunConfig('faults'),
  backend: { kind: 'in-process', model: 'scripted' },
};

let dir: string;
let runs = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-faults-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function options(out: string, overrides: Partial<EvalOptions> = {}): EvalOptions {
  return {
    out,
    config: CONFIG,
    rows: ROWS,
    produce: assistantProducer(model, { analysis: 'model' }),
    scoring: { judge },
    tokenCounter: approxTokenCounter,
    resume: false,
    concurrency: 1,
    ...overrides,
  };
}

/** A record without its timings, which differ from run to run. */
function content(r: RunRecord): RunRecord {
  const { durationMs: _, trace, ...rest } = r;
  const { timings: __, ...kept } = trace as Record<string, unknown>;
  return { ...rest, trace: kept } as RunRecord;
}

/** results.jsonl's text and its whole lines' records (what a resume keeps; a torn last line is not one). */
async function resultsOf(out: string): Promise<{ text: string; records: RunRecord[] }> {
  const text = await readFile(join(out, 'results.jsonl'), 'utf8').catch(() => '');
  // Whatever a fault left: at most a torn last line, never a bad line before good ones.
  expect(parseResults(text).problems).toEqual([]);
  const whole = parseResults(text.slice(0, text.lastIndexOf('\n') + 1));
  return { text, records: whole.records };
}

/** Numbers equal up to rounding (records committed in another order are summed in another order). */
function expectSameMetrics(got: unknown, want: unknown, path = 'metrics'): void {
  if (typeof want === 'number' && typeof got === 'number') {
    expect(got, path).toBeCloseTo(want, 12);
  } else if (typeof want === 'object' && want !== null && typeof got === 'object' && got !== null) {
    expect(Object.keys(got).sort(), path).toEqual(Object.keys(want).sort());
    for (const key of Object.keys(want)) {
      expectSameMetrics(
        (got as Record<string, unknown>)[key],
        (want as Record<string, unknown>)[key],
        `${path}.${key}`,
      );
    }
  } else {
    expect(got, path).toEqual(want);
  }
}

let baseline: { records: RunRecord[]; metrics: unknown; counts: ReturnType<typeof faultyFs>['counts'] };

/** Runs the whole run once without faults, through the counting layer: what every faulted run must reach. */
async function unfaulted(): Promise<typeof baseline> {
  const out = join(dir, 'baseline');
  const fs = faultyFs([]);
  const result = await evaluate(options(out, { fs }));
  expect(result.complete).toBe(true);
  // Every file operation went through the layer: the lock, config.json, each row, metrics.json.
  expect(fs.counts.write).toBeGreaterThanOrEqual(ROWS.length + 3);
  expect(fs.counts.sync).toBeGreaterThanOrEqual(ROWS.length + 2);
  expect(fs.counts.rename).toBe(2);
  const { records } = await resultsOf(out);
  return {
    records: records.map(content),
    metrics: JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')),
    counts: { ...fs.counts },
  };
}

function byId(records: readonly RunRecord[]): RunRecord[] {
  return [...records].map(content).sort((a, b) => a.id.localeCompare(b.id));
}

/** One schedule: the faulted run keeps its promise, the folder is clean, and a resume finishes it. */
async function check(
  faults: Fault[],
  concurrency = 1,
): Promise<{ outcome: 'completed' | 'failed'; torn: boolean }> {
  const out = join(dir, `run-${runs++}`);
  const label = JSON.stringify(faults);
  const fs = faultyFs(faults);
  let acknowledged = 0;
  const outcome = await evaluate(
    options(out, { fs, concurrency, onProgress: (p) => (acknowledged = p.written) }),
  ).then(
    (result) => ({ result }),
    (error: unknown) => ({ error }),
  );
  const after = await resultsOf(out);
  if ('result' in outcome) {
    // Success: metrics.json and every row, each once, intact.
    expect(outcome.result.complete, label).toBe(true);
    expect(after.text.endsWith('\n'), label).toBe(true);
    expect(byId(after.records), label).toEqual(byId(baseline.records));
    expectSameMetrics(JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')), baseline.metrics);
  } else {
    const err = outcome.error as RunStoreIoError;
    expect(err, `${label}: ${String(err)}`).toBeInstanceOf(RunStoreIoError);
    expect(err.file.startsWith(out), label).toBe(true);
    expect(err.message, label).toContain(err.file);
    expect(err.message, label).toMatch(/run again with --resume/);
    // Every row the run acknowledged is in the file.
    expect(after.records.length, label).toBeGreaterThanOrEqual(acknowledged);
    await expect(readFile(join(out, 'metrics.json')), label).rejects.toThrow();
  }
  // Neither the lock nor a temporary file stays behind.
  const left = await readdir(out).catch(() => [] as string[]);
  expect(
    left.filter((f) => f.startsWith('.lock') || f.endsWith('.tmp')),
    label,
  ).toEqual([]);

  const resumed = await evaluate(options(out, { resume: true }));
  expect(resumed.complete, label).toBe(true);
  const final = await resultsOf(out);
  expect(final.text.endsWith('\n'), label).toBe(true);
  expect(byId(final.records), label).toEqual(byId(baseline.records));
  // Rows saved before the fault were not generated again.
  expect(resumed.written, label).toBe(ROWS.length - after.records.length);
  expectSameMetrics(JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')), baseline.metrics);
  return {
    outcome: 'result' in outcome ? 'completed' : 'failed',
    torn: !after.text.endsWith('\n') && after.text !== '',
  };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('a run under a failing file system', () => {
  beforeAll(async () => {
    baseline = await unfaulted();
  });

  it('continues every short write: the run completes with every row intact', async () => {
    for (const index of range(baseline.counts.write)) {
      expect((await check([{ on: 'write', index, kind: 'short' }])).outcome).toBe('completed');
    }
  });

  it('fails on a write error at any write, naming the file, and --resume finishes the run', async () => {
    for (const kind of ['ENOSPC', 'EIO', 'EDQUOT'] as const satisfies readonly ErrorCode[]) {
      for (const index of range(baseline.counts.write)) {
        expect((await check([{ on: 'write', index, kind }])).outcome).toBe('failed');
      }
    }
  });

  it('fails cleanly when the disk fills up at any byte: a short write, then ENOSPC', async () => {
    const total = baseline.counts.bytes;
    // Below the run's size (less what the numbers of timings may vary): the run cannot complete.
    const limits = [0, 1, ...range(40).map((i) => Math.floor(((total - 200) * (i + 0.5)) / 40))];
    for (const limit of limits) {
      expect((await check([{ on: 'bytes', limit }])).outcome).toBe('failed');
    }
    // Room to spare (timings make the size vary a little from run to run): the run completes.
    expect((await check([{ on: 'bytes', limit: 2 * total }])).outcome).toBe('completed');
  });

  it('fails on a failed sync, rename or open at any point (a directory sync is best effort)', async () => {
    const outcomes: string[] = [];
    for (const index of range(baseline.counts.sync)) {
      outcomes.push((await check([{ on: 'sync', index, kind: 'EIO' }])).outcome);
    }
    for (const index of range(baseline.counts.rename)) {
      expect((await check([{ on: 'rename', index, kind: 'ENOSPC' }])).outcome).toBe('failed');
    }
    for (const index of range(baseline.counts.open)) {
      outcomes.push((await check([{ on: 'open', index, kind: 'EIO' }])).outcome);
    }
    // Only the folder's own sync (and its open) may fail without failing the run.
    expect(outcomes.filter((o) => o === 'completed').length).toBeLessThanOrEqual(2);
  });

  it('stops with an error naming errors.jsonl when a backend failure cannot be noted', async () => {
    const out = join(dir, 'errors-full');
    const fs: FileOps = {
      ...nodeFileOps,
      open: (path, flags) =>
        path.endsWith('errors.jsonl')
          ? Promise.reject(systemError('ENOSPC', 'open', path))
          : nodeFileOps.open(path, flags),
    };
    const healthy = assistantProducer(model, { analysis: 'model' });
    const produce: RowProducer = (r, signal) =>
      r.id === ROWS[1]!.id
        ? Promise.reject(new ChatModelError('HTTP 503', { backend: 'scripted' }))
        : healthy(r, signal);
    const err = await evaluate(options(out, { fs, produce, concurrency: 3 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunStoreIoError);
    expect((err as RunStoreIoError).file).toBe(join(out, 'errors.jsonl'));
    expect((await readdir(out)).filter((f) => f.startsWith('.lock'))).toEqual([]);
    const resumed = await evaluate(options(out, { resume: true }));
    expect(resumed.complete).toBe(true);
    expect(byId((await resultsOf(out)).records)).toEqual(byId(baseline.records));
  });

  it('never appends after a torn write, even when the file cannot be cut back', async () => {
    // Rows finishing together (concurrency 3) would append after the torn one; the store refuses them.
    let torn = 0;
    for (const index of range(baseline.counts.write)) {
      const faults: Fault[] = [
        { on: 'write', index, kind: 'short' },
        { on: 'write', index: index + 1, kind: 'ENOSPC' },
        { on: 'truncate', index: 0, kind: 'EIO' },
      ];
      if ((await check(faults, 3)).torn) torn++;
    }
    // Some schedules did leave a cut-off line (in results.jsonl, which the resume then cut off).
    expect(torn).toBeGreaterThan(0);
  });
});
