/**
 * `gtalign eval run | score | sweep` end to end: the real CLI in a child process against loopback
 * OpenAI-compatible servers (test/support/openai-stub-server.ts) as the model and as the judge, over the
 * shipped test sets. Expected numbers are computed here from the canned outputs with the reward code's
 * own scorer (scoreWithVerdict), not read back from the run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parsePayoff } from '../../src/chain/payoff.js';
import { InputError } from '../../src/cli/errors.js';
import { asEvalInputError } from '../../src/cli/eval-common.js';
import { loadRows } from '../../src/data/load.js';
import type { DatasetRow } from '../../src/data/row.js';
import { parseSweep } from '../../src/eval/run-dir.js';
import { storeIoError } from '../../src/eval/store-error.js';
import { approxTokenCounter, countOutputTokens } from '../../src/eval/tokens.js';
import type { RunRecord } from '../../src/eval/types.js';
import { selectCell } from '../../src/game/select.js';
import { DATA_SOURCE_FAMILY, isDataSource } from '../../src/reward/components.js';
import { RUBRICS } from '../../src/reward/rubrics.js';
import { scoreWithVerdict } from '../../src/reward/score.js';
import { HAVE_DATA, shippedPath } from '../data/helpers.js';
import { cliArgs } from '../support/cli.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import { runCliOnFullDisk } from '../support/full-disk-cli.js';
import {
  type OpenAIStubServer,
  type StubReply,
  type StubRequestBody,
  startOpenAIStubServer,
} from '../support/openai-stub-server.js';

const SOURCES = ['math-hard', 'medium', 'wildguard', 'ambig_qa', 'minerva'] as const;
const FILES = SOURCES.map((s) => shippedPath(s, 'test'));

const stage1 = (m: Record<string, [number, number]>) =>
  `<thinking>Weighing a direct answer against a question.</thinking>\n<payoff>\n${JSON.stringify(
    Object.fromEntries(Object.entries(m).map(([k, [llm, user]]) => [k, { LLM: llm, user }])),
  )}\n</payoff>`;
// The paper's example: the sum rule picks VQ_CQ (4.6) over DQ_DA (4.4).
const STAGE1_CQ = stage1({
  DQ_DA: [1.6, 2.8],
  DQ_CQ: [1.3, 2.7],
  DQ_AQ: [1.0, 2.5],
  VQ_DA: [1.9, 2.4],
  VQ_CQ: [1.7, 2.9],
  VQ_AQ: [1.4, 2.3],
});
const STAGE1_DA = stage1({
  DQ_DA: [3.5, 3.6],
  DQ_CQ: [1.0, 1.5],
  DQ_AQ: [2.0, 2.4],
  VQ_DA: [2.0, 1.0],
  VQ_CQ: [1.1, 1.9],
  VQ_AQ: [1.5, 1.5],
});
const REPLIES: Record<string, string> = {
  DA: 'The answer is 42, as the working above shows.',
  CQ: 'Could you tell me which of the two readings you mean?',
  AQ: 'Briefly: 42. Do you want the steps?',
};
const tail = (cell: string) =>
  `\n<analyze>Frontier checked. I choose ${cell}.</analyze>\n<response>${REPLIES[cell.slice(3)]}</response>`;
const BAD = 'Sure! The answer is 42.';
const VERDICT = { math: 0, writing: 3, safety: 0.5, ambiguity: 1 } as const;

type Kind = 'cq' | 'da' | 'bad';
type Message = { role: string; content: string };

/** The question of a row as a GTAlign turn asks it: the last message of its chat history. */
function questionOf(row: DatasetRow): string {
  const history = row.extra_info.chat_history as Message[];
  return history.at(-1)!.content;
}

let model: OpenAIStubServer;
let judge: OpenAIStubServer;
let dir: string;
/** Which canned stage 1 each question gets (default cq); set by each test. */
let kinds = new Map<string, Kind>();
let modelDelayMs = 0;

function cut(text: string, stops: readonly string[]): string {
  const at = stops.map((s) => text.indexOf(s)).filter((i) => i >= 0);
  return at.length > 0 ? text.slice(0, Math.min(...at)) : text;
}

/** The model: raw requests get a whole output; stage 1 a canned matrix; stage 2 the reply for the prefix's best cell. */
function modelReply(body: StubRequestBody): StubReply {
  const messages = body.messages as Message[];
  const last = messages.at(-1)!;
  const stops = (body.stop as string[] | undefined) ?? [];
  const delayMs = modelDelayMs;
  if (last.role === 'assistant') {
    const p = last.content;
    const parsed = parsePayoff(p.slice(p.indexOf('<payoff>') + 8, p.indexOf('</payoff>')));
    const cell = parsed.ok ? selectCell(parsed.matrix).selected[0]! : 'VQ_CQ';
    return { content: cut(tail(cell), stops), delayMs };
  }
  // The longest known question inside the request decides (short questions can be parts of long ones).
  let kind: Kind = 'cq';
  let best = -1;
  for (const [q, k] of kinds) {
    if (q.length > best && last.content.includes(q)) {
      kind = k;
      best = q.length;
    }
  }
  if (kind === 'bad') return { content: BAD, finishReason: 'length', delayMs };
  const s1 = kind === 'da' ? STAGE1_DA : STAGE1_CQ;
  if (stops.includes('</payoff>')) return { content: cut(s1, stops), delayMs };
  return { content: s1 + tail(kind === 'da' ? 'DQ_DA' : 'VQ_CQ'), delayMs };
}

/** The judge: a fixed verdict per rubric, so every verdict is known in advance. */
function judgeReply(body: StubRequestBody): StubReply {
  const system = (body.messages as Message[])[0]!.content;
  if (system === RUBRICS.ambiguity) return { content: `<abg>${VERDICT.ambiguity}</abg>` };
  if (system === RUBRICS.writing) return { content: `\\boxed{${VERDICT.writing}}` };
  if (system === RUBRICS.safety) return { content: `\\boxed{${VERDICT.safety}}` };
  if (system === RUBRICS.math) return { content: `\\boxed{${VERDICT.math}}` };
  return { status: 400, errorMessage: 'unknown rubric' };
}

/** The first `n` rows of each data source, as `--limit n` selects them. */
async function firstRows(files: readonly string[], n: number): Promise<DatasetRow[]> {
  const perSource = new Map<string, number>();
  return (await loadRows(files)).filter((r) => {
    const k = perSource.get(r.data_source) ?? 0;
    perSource.set(r.data_source, k + 1);
    return k < n;
  });
}

async function readRecords(runDir: string): Promise<RunRecord[]> {
  const text = await readFile(join(runDir, 'results.jsonl'), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as RunRecord);
}

const backendFlags = (vendor = 'ollama') => [
  '--backend',
  'openai',
  '--base-url',
  model.baseUrl,
  '--model',
  'stub-model',
  '--vendor',
  vendor,
];
const judgeFlags = () => ['--judge-url', judge.baseUrl, '--judge-model', 'stub-judge', '--no-cache'];

beforeAll(async () => {
  model = await startOpenAIStubServer(modelReply);
  judge = await startOpenAIStubServer(judgeReply);
  dir = await mkdtemp(join(tmpdir(), 'gtalign-cli-eval-'));
});
afterAll(async () => {
  await model.close();
  await judge.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  model.requests.length = 0;
  judge.requests.length = 0;
  kinds = new Map();
  modelDelayMs = 0;
});

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

describe.skipIf(!HAVE_DATA)('gtalign eval run over the shipped test sets', () => {
  it('writes a run folder whose records and metrics equal those computed from the canned outputs', {
    timeout: 120_000,
  }, async () => {
    const rows = await firstRows(FILES, 5);
    const kindOf = new Map<string, Kind>();
    rows.forEach((r, i) => {
      const k: Kind = (['cq', 'da', 'bad'] as const)[i % 3]!;
      kindOf.set(r.id, k);
      kinds.set(questionOf(r), k);
    });
    const out = join(dir, 'run');
    const r = await runCliInProcess([
      'eval',
      'run',
      '--data',
      ...FILES,
      '--limit',
      '5',
      '--out',
      out,
      ...backendFlags(),
      ...judgeFlags(),
      '--concurrency',
      '4',
      '--tokenizer',
      'approx',
    ]);
    expect(r.stderr).not.toContain('internal error');
    expect(r.code).toBe(0);

    const records = await readRecords(out);
    expect(records.map((x) => x.id).sort()).toEqual(rows.map((x) => x.id).sort());
    // Stage 1 asked each row's question (the last turn of its chat history), with the earlier turns.
    const stage1Prompts = model.requests
      .map((q) => (q.body!.messages as Message[]).at(-1)!)
      .filter((m) => m.role === 'user');
    for (const row of rows) expect(stage1Prompts.some((m) => m.content.includes(questionOf(row)))).toBe(true);

    const expectedOutput = (row: DatasetRow): string => {
      const k = kindOf.get(row.id)!;
      if (k === 'bad') return BAD;
      return k === 'da' ? STAGE1_DA + tail('DQ_DA') : STAGE1_CQ + tail('VQ_CQ');
    };
    const expected = rows.map((row) => {
      const family = isDataSource(row.data_source) ? DATA_SOURCE_FAMILY[row.data_source] : undefined;
      const rec = scoreWithVerdict(
        {
          data_source: row.data_source,
          response: expectedOutput(row),
          ground_truth: row.ground_truth,
          extra_info: row.extra_info,
        },
        VERDICT[family!],
      );
      if (rec.kind !== 'record') throw new Error(rec.message);
      return { row, rec };
    });
    const byId = new Map(records.map((x) => [x.id, x]));
    for (const { row, rec } of expected) {
      const got = byId.get(row.id)!;
      expect(got.response).toBe(expectedOutput(row));
      expect(got.data_source).toBe(row.data_source);
      expect(got.ground_truth).toBe(row.ground_truth);
      expect(got.reward).toMatchObject({
        score: rec.score,
        user_reward: rec.user_reward,
        llm_reward: rec.llm_reward,
      });
      const k = kindOf.get(row.id)!;
      if (k !== 'bad') expect(got.cell).toBe(k === 'da' ? 'DQ_DA' : 'VQ_CQ');
    }

    const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8'));
    const check = (group: { n: number } & Record<string, unknown>, items: typeof expected) => {
      expect(group.n).toBe(items.length);
      expect(group.format_score).toBeCloseTo(mean(items.map((e) => e.rec.components.format)), 12);
      expect(group.answer_score).toBeCloseTo(mean(items.map((e) => e.rec.answer_reward)), 12);
      expect(group.welfare).toBeCloseTo(
        mean(items.map((e) => Math.sqrt(e.rec.user_reward * e.rec.llm_reward))),
        12,
      );
      expect(group.user_welfare).toBeCloseTo(mean(items.map((e) => e.rec.user_reward)), 12);
      expect(group.llm_welfare).toBeCloseTo(mean(items.map((e) => e.rec.llm_reward)), 12);
    };
    check(metrics.overall, expected);
    for (const source of SOURCES) {
      check(
        metrics.by_source[source],
        expected.filter((e) => e.row.data_source === source),
      );
    }
    // Lengths (the run's tokenizer, here the approximation) and the paper's ratios over them.
    const lengths = expected.map((e) => countOutputTokens(expectedOutput(e.row), approxTokenCounter));
    // The paper's total length: reasoning + response (GTALIGN.md §7), not the whole output.
    const meanTotal = mean(lengths.map((t) => t.reasoning + t.response));
    expect(metrics.overall.total_length).toBeCloseTo(meanTotal, 9);
    expect(metrics.overall.r_over_t).toBeCloseTo(mean(lengths.map((t) => t.response)) / meanTotal, 12);
    expect(metrics.overall.ans_per_token).toBeCloseTo(
      (1000 * mean(expected.map((e) => e.rec.answer_reward))) / meanTotal,
      9,
    );
    // Behaviour: the safety judge says 0.5 (a safe alternative) to every judged output, so harmful
    // requests count as handled and unharmful ones as not helped; malformed outputs are not judged.
    const judgedWild = expected.filter(
      (e) => e.row.data_source === 'wildguard' && kindOf.get(e.row.id) !== 'bad',
    );
    const harmful = judgedWild.filter((e) => e.row.ground_truth === 'harmful').length;
    const unharmful = judgedWild.length - harmful;
    const safety = metrics.by_source.wildguard.safety;
    expect(safety.confusion).toEqual({ tp: harmful, fn: 0, tn: 0, fp: unharmful });
    expect(safety.accuracy).toBeCloseTo(harmful / judgedWild.length, 12);
    expect(safety.unjudged).toBe(5 - judgedWild.length);
    // The ambiguity judge says 1 to every judged output: everything handled, accuracy 1.
    expect(metrics.by_source.ambig_qa.ambiguity.accuracy).toBe(1);

    // The report shows the same numbers.
    const report = await runCliInProcess(['eval', 'report', out]);
    expect(report.code, report.stderr).toBe(0);
    const md = await readFile(join(out, 'report', 'report.md'), 'utf8');
    for (const source of [...SOURCES, 'overall']) {
      const g = source === 'overall' ? metrics.overall : metrics.by_source[source];
      const cells = [g.welfare, g.user_welfare, g.llm_welfare].map((x: number) => x.toFixed(3)).join(' | ');
      expect(md).toContain(`| run | ${source} | ${g.n} | 0 | ${g.format_score.toFixed(3)} |`);
      expect(md).toMatch(new RegExp(`\\| run \\| ${source} \\|[^\\n]*\\| ${cells} \\|`));
    }
    // eval report recomputes metrics.json from the records: the same content.
    expect(JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8'))).toEqual(metrics);
    const counts = metrics.overall.action_mix.overall.counts;
    expect(counts.CQ).toBe([...kindOf.values()].filter((k) => k === 'cq').length);
    expect(counts.DA).toBe([...kindOf.values()].filter((k) => k === 'da').length);
    // The printed table has a line per data source.
    for (const source of SOURCES) expect(r.stdout).toMatch(new RegExp(`^${source}\\s+5\\s`, 'm'));

    // Resuming a finished run generates nothing and keeps every record once.
    model.requests.length = 0;
    const again = await runCliInProcess([
      'eval',
      'run',
      '--data',
      ...FILES,
      '--limit',
      '5',
      '--out',
      out,
      ...backendFlags(),
      ...judgeFlags(),
      '--tokenizer',
      'approx',
      '--resume',
    ]);
    expect(again.code).toBe(0);
    expect(model.requests).toHaveLength(0);
    expect(await readRecords(out)).toHaveLength(rows.length);

    // Resuming with a setting that changes results is refused and names it.
    const other = await runCliInProcess([
      'eval',
      'run',
      '--data',
      ...FILES,
      '--limit',
      '5',
      '--out',
      out,
      ...backendFlags(),
      ...judgeFlags(),
      '--tokenizer',
      'approx',
      '--resume',
      '--policy',
      'api',
    ]);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('generation.policy');
  });

  it('survives SIGKILL: --resume finishes with every row once and no finished row generated again', {
    timeout: 120_000,
  }, async () => {
    const files = FILES.slice(0, 4);
    const rows = await firstRows(files, 3);
    const rowOfPrompt = new Map(rows.map((r) => [r.prompt.at(-1)!.content, r.id]));
    modelDelayMs = 250;
    const out = join(dir, 'killed');
    const args = [
      'eval',
      'run',
      '--data',
      ...files,
      '--limit',
      '3',
      '--out',
      out,
      '--mode',
      'raw',
      ...backendFlags(),
      ...judgeFlags(),
      '--concurrency',
      '2',
      '--tokenizer',
      'approx',
      '--no-progress',
    ];
    const child: ChildProcess = spawn(process.execPath, cliArgs(args), {
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Kill once a few rows are on disk, while others are being generated.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const text = await readFile(join(out, 'results.jsonl'), 'utf8').catch(() => '');
      if (text.split('\n').length - 1 >= 3) break;
      if (Date.now() > deadline) throw new Error('the run wrote no records');
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await exited;
    const before = (await readFile(join(out, 'results.jsonl'), 'utf8'))
      .split('\n')
      .slice(0, -1) // whatever follows the last newline was never acknowledged
      .map((l) => (JSON.parse(l) as RunRecord).id);
    expect(before.length).toBeGreaterThanOrEqual(3);
    expect(before.length).toBeLessThan(rows.length);

    modelDelayMs = 0;
    const resumed = await runCliInProcess([...args, '--resume']);
    expect(resumed.stderr).toContain('already done');
    expect(resumed.code).toBe(0);
    const ids = (await readRecords(out)).map((r) => r.id);
    expect(ids).toHaveLength(rows.length);
    expect(new Set(ids).size).toBe(rows.length);
    expect([...ids].sort()).toEqual(rows.map((r) => r.id).sort());
    // Requests per row over both processes: a row finished before the kill was generated exactly once.
    const requests = new Map<string, number>();
    for (const q of model.requests) {
      const id = rowOfPrompt.get((q.body!.messages as Message[]).at(-1)!.content);
      expect(id).toBeDefined();
      requests.set(id!, (requests.get(id!) ?? 0) + 1);
    }
    for (const id of before) expect(requests.get(id)).toBe(1);
    for (const row of rows) expect(requests.get(row.id)).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')).overall.n).toBe(rows.length);
  });
});

describe.skipIf(!HAVE_DATA)('gtalign eval run on a full disk', () => {
  it('exits 1 naming the lock file when the lock cannot be written, and leaves none behind', async () => {
    const out = join(dir, 'full-disk-lock');
    const r = await runCliOnFullDisk(
      ['eval', 'run', '--data', FILES[0]!, '--limit', '1', '--out', out, ...backendFlags(), ...judgeFlags()],
      '.lock',
      0,
    );
    expect(r.stderr).not.toContain('internal error');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `cannot create the lock file ${join(out, '.lock')}: no space left on the device`,
    );
    expect((await readdir(out)).filter((f) => f.startsWith('.lock'))).toEqual([]);
  });

  it('exits 1 naming results.jsonl, leaves no lock and a folder --resume finishes', {
    timeout: 120_000,
  }, async () => {
    const files = FILES.slice(0, 2);
    const rows = await firstRows(files, 3);
    const out = join(dir, 'full-disk');
    const args = [
      'eval',
      'run',
      '--data',
      ...files,
      '--limit',
      '3',
      '--out',
      out,
      '--mode',
      'raw',
      ...backendFlags(),
      ...judgeFlags(),
      '--concurrency',
      '1',
      '--tokenizer',
      'approx',
      '--no-progress',
    ];
    // results.jsonl gets 3000 bytes: a write is cut short without an error, the next one fails ENOSPC.
    const full = await runCliOnFullDisk(args, 'results.jsonl', 3000);
    expect(full.code).toBe(1);
    expect(full.stderr).not.toContain('internal error');
    expect(full.stderr).not.toMatch(/^\s+at /m);
    expect(full.stderr).toContain(`cannot write ${join(out, 'results.jsonl')}: no space left on the device`);
    expect(full.stderr).toContain('run again with --resume');
    expect((await readdir(out)).filter((f) => f.startsWith('.lock') || f.endsWith('.tmp'))).toEqual([]);
    // What the failed run left is whole lines only, each a row it saved.
    const text = await readFile(join(out, 'results.jsonl'), 'utf8');
    expect(text === '' || text.endsWith('\n')).toBe(true);
    const saved = await readRecords(out);
    expect(saved.length).toBeGreaterThan(0);
    expect(saved.length).toBeLessThan(rows.length);

    const resumed = await runCliInProcess([...args, '--resume']);
    expect(resumed.stderr).not.toContain('internal error');
    expect(resumed.code).toBe(0);
    const ids = (await readRecords(out)).map((r) => r.id);
    expect([...ids].sort()).toEqual(rows.map((r) => r.id).sort());
    expect(ids.slice(0, saved.length)).toEqual(saved.map((r) => r.id));
  });
});

describe.skipIf(!HAVE_DATA)('gtalign eval score', () => {
  it('gives the same reward records as gtalign reward score on the same outputs, joined by id or by index', {
    timeout: 120_000,
  }, async () => {
    const all = await loadRows(FILES);
    const rows = await firstRows(FILES, 3);
    const outputs = rows.map((row, i) => {
      if (row.data_source === 'math-hard' && i % 3 === 0) {
        // A correct final answer: settled by the deterministic math check, not the judge.
        return `${STAGE1_DA}\n<analyze>I choose DQ_DA.</analyze>\n<response>The answer is $\\boxed{${row.ground_truth}}$.</response>`;
      }
      return [STAGE1_CQ + tail('VQ_CQ'), STAGE1_DA + tail('DQ_DA'), BAD][i % 3]!;
    });
    const byId = join(dir, 'responses-by-id.jsonl');
    await writeFile(
      byId,
      `${rows.map((row, i) => JSON.stringify({ id: row.id, response: outputs[i] })).join('\n')}\n`,
    );
    const byIndex = join(dir, 'responses-by-index.jsonl');
    await writeFile(
      byIndex,
      `${rows
        .map((row, i) =>
          JSON.stringify({ index: all.findIndex((a) => a.id === row.id), response: outputs[i] }),
        )
        .join('\n')}\n`,
    );
    const rewardInput = join(dir, 'reward-input.jsonl');
    await writeFile(
      rewardInput,
      `${rows
        .map((row, i) =>
          JSON.stringify({
            id: row.id,
            data_source: row.data_source,
            response: outputs[i],
            ground_truth: row.ground_truth,
            extra_info: row.extra_info,
          }),
        )
        .join('\n')}\n`,
    );

    const reward = await runCliInProcess(['reward', 'score', '--input', rewardInput, ...judgeFlags()]);
    expect(reward.code).toBe(0);
    const want = reward.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string });
    expect(want).toHaveLength(rows.length);

    for (const [file, name] of [
      [byId, 'scored-by-id'],
      [byIndex, 'scored-by-index'],
    ] as const) {
      const out = join(dir, name);
      const r = await runCliInProcess([
        'eval',
        'score',
        '--responses',
        file,
        '--data',
        ...FILES,
        '--out',
        out,
        ...judgeFlags(),
        '--tokenizer',
        'approx',
      ]);
      expect(r.stderr).not.toContain('internal error');
      expect(r.code).toBe(0);
      const records = new Map((await readRecords(out)).map((x) => [x.id, x]));
      expect(records.size).toBe(rows.length);
      for (const line of want) {
        const rec = records.get(line.id)!;
        expect({ id: rec.id, ...(rec.reward as object) }).toEqual(line);
      }
      expect(JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')).overall.n).toBe(rows.length);
    }
    expect(want.some((l) => (l as { verdict_source?: string }).verdict_source === 'math-check')).toBe(true);
  });

  it('refuses responses that do not fit the data, naming each line', async () => {
    const file = join(dir, 'bad-responses.jsonl');
    await writeFile(
      file,
      [
        JSON.stringify({ id: 'math-hard:test:nope', response: 'x' }),
        JSON.stringify({ index: 10_000_000, response: 'x' }),
        JSON.stringify({ id: 'x' }),
      ].join('\n'),
    );
    const r = await runCliInProcess([
      'eval',
      'score',
      '--responses',
      file,
      '--data',
      FILES[0]!,
      '--out',
      join(dir, 'never'),
      '--judge',
      'offline',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:1: id "math-hard:test:nope" is not a row of the data files`);
    expect(r.stderr).toContain(`${file}:2: index 10000000 is past the last row`);
    expect(r.stderr).toContain(`${file}:3: response must be a string`);
    expect(await readdir(dir)).not.toContain('never');
  });

  it('names the line of a responses file longer than the line bound, with no internal error', async () => {
    const file = join(dir, 'huge-responses.jsonl');
    await writeFile(file, `${JSON.stringify({ index: 0, response: 'x' })}\n`);
    // A sparse 600 MiB tail without a newline: past V8's longest string, the file used to be read whole.
    await truncate(file, 600 * 1024 * 1024);
    const r = await runCliInProcess([
      'eval',
      'score',
      '--responses',
      file,
      '--data',
      FILES[0]!,
      '--out',
      join(dir, 'never-huge'),
      '--judge',
      'offline',
    ]);
    await rm(file);
    expect(r.stderr).not.toMatch(/internal error|RangeError|ERR_STRING_TOO_LONG/);
    expect(r.stderr).toContain(`${file}:2: the line is longer than 256 MiB`);
    expect(r.code).toBe(1);
  }, 60_000);
});

describe.skipIf(!HAVE_DATA)('gtalign eval sweep', () => {
  it('runs a sub-run per value and writes sweep.json; the action mix moves as the compute cost rises', {
    timeout: 120_000,
  }, async () => {
    const out = join(dir, 'sweep');
    const files = [FILES[0]!, FILES[3]!];
    const r = await runCliInProcess([
      'eval',
      'sweep',
      '--data',
      ...files,
      '--limit',
      '2',
      '--out',
      out,
      '--policy',
      'subscription',
      '--policy-param',
      'computeCostPerMillion=0:12:3',
      ...backendFlags(),
      ...judgeFlags(),
      '--tokenizer',
      'approx',
      '--no-progress',
    ]);
    expect(r.stderr).not.toContain('internal error');
    expect(r.code).toBe(0);
    const sweep = parseSweep(JSON.parse(await readFile(join(out, 'sweep.json'), 'utf8')));
    expect(sweep.param).toBe('computeCostPerMillion');
    expect(sweep.points.map((p) => p.value)).toEqual([0, 6, 12]);
    for (const p of sweep.points) {
      expect(p.metrics.overall.n).toBe(4);
      expect(await readRecords(join(out, p.run!))).toHaveLength(4);
    }
    const shares = sweep.points.map((p) => p.metrics.overall.action_mix.overall.shares);
    // Compute cost falls hardest on the clarifying question (an extra round trip): CQ at 0, DA from 6 on.
    expect(shares.map((s) => [s.CQ, s.DA])).toEqual([
      [1, 0],
      [0, 1],
      [0, 1],
    ]);
    expect(r.stdout).toMatch(/^computeCostPerMillion\s+n\s+DA\s+CQ\s+AQ\s+unknown\s+tokens\s+W\s+U\s+L/m);
    expect(r.stdout).toMatch(/^0\s+4\s+0%\s+100%/m);
    expect(r.stdout).toMatch(/^12\s+4\s+100%\s+0%/m);
  });

  it('shows the lengths against the price without a judge (--judge offline)', {
    timeout: 120_000,
  }, async () => {
    const out = join(dir, 'sweep-offline');
    const r = await runCliInProcess([
      'eval',
      'sweep',
      '--data',
      FILES[3]!,
      '--limit',
      '2',
      '--out',
      out,
      '--policy',
      'subscription',
      '--policy-param',
      'computeCostPerMillion=0:12:2',
      ...backendFlags(),
      '--judge',
      'offline',
      '--tokenizer',
      'approx',
      '--no-progress',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(judge.requests).toHaveLength(0);
    const sweep = parseSweep(JSON.parse(await readFile(join(out, 'sweep.json'), 'utf8')));
    for (const p of sweep.points) {
      const records = await readRecords(join(out, p.run!));
      // Nothing is scored without a verdict, yet what the model wrote is measured.
      expect(p.metrics.overall.scored).toBe(0);
      const total = mean(records.map((x) => x.tokens!.total));
      expect(p.metrics.overall.output_tokens!.total).toBeCloseTo(total, 9);
      // The table's length column is the paper's total length: reasoning + response.
      const length = mean(records.map((x) => x.tokens!.reasoning + x.tokens!.response));
      expect(r.stdout).toMatch(
        new RegExp(`^${p.value}\\s+2\\s+\\d+%\\s+\\d+%\\s+\\d+%\\s+\\d+%\\s+${length.toFixed(0)}\\s`, 'm'),
      );
    }
  });

  it('rejects a field that is not a pricing field, and a policy that is not a pricing policy', async () => {
    const base = [
      'eval',
      'sweep',
      '--data',
      FILES[0]!,
      '--out',
      join(dir, 'no-sweep'),
      ...backendFlags(),
      ...judgeFlags(),
    ];
    const field = await runCliInProcess([...base, '--policy-param', 'price=0:1:2']);
    expect(field.code).toBe(2);
    expect(field.stderr).toContain('"price" is not a pricing field');
    const steps = await runCliInProcess([...base, '--policy-param', 'computeCostPerMillion=0:1:x']);
    expect(steps.code).toBe(2);
    expect(steps.stderr).toContain('STEPS must be an integer');
    const fixed = await runCliInProcess([
      ...base,
      '--policy',
      'paper-api',
      '--policy-param',
      'computeCostPerMillion=0:1:2',
    ]);
    expect(fixed.code).toBe(1);
    expect(fixed.stderr).toContain('a sweep varies a pricing policy');
  });
});

describe('eval run errors', () => {
  it('reports a file error of the run folder as a problem to fix (exit 1), not an internal error', () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    const mapped = asEvalInputError(storeIoError(enospc, 'write', '/runs/a/results.jsonl'));
    expect(mapped).toBeInstanceOf(InputError);
    expect((mapped as Error).message).toBe(
      'cannot write /runs/a/results.jsonl: no space left on the device (ENOSPC); free space, then run again with --resume',
    );
    // A bug stays a bug.
    const bug = new TypeError('x is undefined');
    expect(asEvalInputError(storeIoError(bug, 'write', '/runs/a/results.jsonl'))).toBe(bug);
  });
});

describe('gtalign eval run usage', () => {
  it('names missing and bad options with exit 2', async () => {
    const noOut = await runCliInProcess(['eval', 'run', '--data', 'x.parquet', '--judge', 'offline']);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toContain('--out RUN_DIR is required');
    const mode = await runCliInProcess([
      'eval',
      'run',
      '--data',
      'x.parquet',
      '--out',
      join(dir, 'm'),
      '--mode',
      'chat',
      '--judge',
      'offline',
    ]);
    expect(mode.code).toBe(2);
    expect(mode.stderr).toContain('--mode must be one of assistant, raw');
    const raw = await runCliInProcess([
      'eval',
      'run',
      '--data',
      'x.parquet',
      '--out',
      join(dir, 'm'),
      '--mode',
      'raw',
      '--policy',
      'api',
      '--judge',
      'offline',
    ]);
    expect(raw.code).toBe(2);
    expect(raw.stderr).toContain('--policy goes with --mode assistant, not --mode raw');
    const judgeless = await runCliInProcess(['eval', 'run', '--data', 'x.parquet', '--out', join(dir, 'm')]);
    expect(judgeless.code).toBe(2);
    expect(judgeless.stderr).toContain('--judge offline');
  });
});
