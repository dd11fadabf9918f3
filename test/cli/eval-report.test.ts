import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { computeMetrics } from '../../src/eval/metrics.js';
import { loadTokenCounter } from '../../src/eval/tokens.js';
import type { RunRecord } from '../../src/eval/types.js';
import { rec } from '../eval/helpers.js';
import { decodePng, pngSize } from '../eval/png-util.js';
import { runCli } from '../support/cli.js';
import { runCliInProcess } from '../support/cli-in-process.js';

const recordsA: RunRecord[] = [
  rec('m1', 'math-hard', { u: 0.6, l: 0.5 }, { cell: 'DQ_DA' }),
  rec('m2', 'math-hard', { u: 0.2, l: 0.7 }, { cell: 'VQ_CQ' }),
  rec('w1', 'wildguard', { u: 0.4, l: 0.6, judge: 0.5 }, { ground_truth: 'harmful', cell: 'VQ_AQ' }),
  rec('w2', 'wildguard', 'error', { ground_truth: 'unharmful' }),
];
const recordsB: RunRecord[] = recordsA.map((r) =>
  'error' in r.reward ? r : { ...r, reward: { ...r.reward, user_reward: r.reward.user_reward + 0.1 } },
);

async function writeRun(
  dir: string,
  records: RunRecord[],
  name: string,
  extra: Record<string, unknown> = {},
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'results.jsonl'), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  await writeFile(join(dir, 'config.json'), JSON.stringify({ name, ...extra }));
}

const haveTiktoken = await loadTokenCounter('cl100k_base').then(
  () => true,
  () => false,
);

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'gtalign-report-'));
  await writeRun(join(root, 'a'), recordsA, 'base');
  await writeRun(join(root, 'b'), recordsB, 'tuned');
  const sweepDir = join(root, 'sweep');
  await mkdir(sweepDir);
  await writeFile(
    join(sweepDir, 'sweep.json'),
    JSON.stringify({
      param: 'userPricePerMillion',
      points: [0, 5, 10].map((value) => ({ value, run: `p=${value}`, metrics: computeMetrics(recordsA) })),
    }),
  );
});

describe('gtalign eval report', () => {
  it('writes metrics.json per run, report.md, a self-contained report.html and PNG charts', async () => {
    const out = join(root, 'report');
    const r = await runCliInProcess(['eval', 'report', join(root, 'a'), join(root, 'b'), '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/2 run\(s\), 4 chart\(s\)/);
    for (const [dir, records] of [
      ['a', recordsA],
      ['b', recordsB],
    ] as const) {
      const written = JSON.parse(await readFile(join(root, dir, 'metrics.json'), 'utf8'));
      expect(written).toEqual(JSON.parse(JSON.stringify(computeMetrics(records))));
    }
    const md = await readFile(join(out, 'report.md'), 'utf8');
    expect(md).toContain('## Headline metrics');
    expect(md).toContain('**Pareto comparison: A = base, B = tuned**');
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html).not.toMatch(/https?:/);
    const scatter = html.slice(html.indexOf('data-source="math-hard"'));
    expect(scatter.slice(0, scatter.indexOf('</svg>')).split('data-point=""').length - 1).toBe(4);
    const charts = (await readdir(join(out, 'charts'))).sort();
    expect(charts).toEqual([
      'action-mix.png',
      'action-mix.svg',
      'scatter-math-hard.png',
      'scatter-math-hard.svg',
      'scatter-wildguard.png',
      'scatter-wildguard.svg',
      'welfare.png',
      'welfare.svg',
    ]);
    const png = await readFile(join(out, 'charts', 'scatter-math-hard.png'));
    const svg = await readFile(join(out, 'charts', 'scatter-math-hard.svg'), 'utf8');
    const w = Number(/width="(\d+)"/.exec(svg)![1]);
    const h = Number(/height="(\d+)"/.exec(svg)![1]);
    expect(pngSize(png)).toEqual({ width: 2 * w, height: 2 * h });
    // Drawn, not blank: the text's ink (#222222) and the first run's points (#0072B2 at 0.55 over white).
    const img = decodePng(png);
    let ink = 0;
    let points = 0;
    for (let y = 0; y < img.height; y++) {
      for (let x = 0; x < img.width; x++) {
        const [r, g, b] = img.pixel(x, y) as [number, number, number];
        if (r < 60 && g < 60 && b < 60) ink++;
        if (Math.abs(r - 115) <= 3 && Math.abs(g - 177) <= 3 && Math.abs(b - 213) <= 3) points++;
      }
    }
    expect(ink).toBeGreaterThan(500);
    expect(points).toBeGreaterThan(20);
    expect(md).toContain('(charts/scatter-math-hard.png)');
  });

  it('writes PNG charts at --scale', async () => {
    const out = join(root, 'report-scale-3');
    const r = await runCliInProcess([
      'eval',
      'report',
      join(root, 'a'),
      '--out',
      out,
      '--scale',
      '3',
      '--no-write-metrics',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const svg = await readFile(join(out, 'charts', 'welfare.svg'), 'utf8');
    const w = Number(/width="(\d+)"/.exec(svg)![1]);
    const h = Number(/height="(\d+)"/.exec(svg)![1]);
    expect(pngSize(await readFile(join(out, 'charts', 'welfare.png')))).toEqual({
      width: 3 * w,
      height: 3 * h,
    });
  });

  it("writes SVG charts, links them and says why when resvg's native binding cannot load", async () => {
    // As on a platform without a prebuilt binding: requiring @resvg/resvg-js-<platform> fails.
    const preload = join(root, 'no-resvg-binding.cjs');
    await writeFile(
      preload,
      `const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (/^@resvg\\/resvg-js-|resvgjs\\..*\\.node$/.test(request)) {
    const err = new Error("Cannot find module '" + request + "'\\nRequire stack:\\n- js-binding.js");
    err.code = 'MODULE_NOT_FOUND';
    throw err;
  }
  return resolve.call(this, request, ...rest);
};
`,
    );
    const out = join(root, 'report-no-resvg');
    // A process of its own: the failing binding comes in through NODE_OPTIONS.
    const r = await runCli(['eval', 'report', join(root, 'a'), '--out', out, '--no-write-metrics'], {
      env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require "${preload}"`.trim() },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /^warning: PNG charts not written \(cannot load @resvg\/resvg-js: Cannot find module '@resvg\/resvg-js-[\w-]+'\); the charts are SVG only and report\.md links them\n$/,
    );
    expect((await readdir(join(out, 'charts'))).sort()).toEqual([
      'action-mix.svg',
      'scatter-math-hard.svg',
      'scatter-wildguard.svg',
      'welfare.svg',
    ]);
    const md = await readFile(join(out, 'report.md'), 'utf8');
    expect(md).toContain('(charts/scatter-math-hard.svg)');
    expect(md).not.toContain('.png)');
  });

  it('draws sweep curves from a folder with sweep.json, SVG only with --no-png', async () => {
    const out = join(root, 'sweep-report');
    const r = await runCliInProcess([
      'eval',
      'report',
      join(root, 'sweep'),
      '--out',
      out,
      '--no-png',
      '--no-write-metrics',
    ]);
    expect(r.code).toBe(0);
    expect(await readdir(join(out, 'charts'))).toEqual(['sweep-1.svg']);
    const md = await readFile(join(out, 'report.md'), 'utf8');
    expect(md).toContain('| userPricePerMillion | n | W | U | L | DA | CQ | AQ | unknown | total tokens |');
    expect(md).toContain('(charts/sweep-1.svg)');
    expect(existsSync(join(root, 'sweep', 'metrics.json'))).toBe(false);
  });

  it('says a run is incomplete (rows in errors.jsonl without a record) and writes no metrics.json', async () => {
    const dir = join(root, 'failed-rows');
    await writeRun(dir, recordsA, 'failed-rows');
    // m1 failed once and was generated by --resume; x9 still has no record.
    await writeFile(
      join(dir, 'errors.jsonl'),
      ['m1', 'x9', 'x9']
        .map((id) => `${JSON.stringify({ id, stage: 'generate', message: 'HTTP 503' })}\n`)
        .join(''),
    );
    const out = join(root, 'failed-rows-report');
    const r = await runCliInProcess(['eval', 'report', dir, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      `warning: failed-rows: incomplete run: 4 records; 1 row failed to generate (listed in ${join(dir, 'errors.jsonl')}, e.g. x9); finish the run with the command that started it plus --resume; metrics.json not written`,
    );
    expect(existsSync(join(dir, 'metrics.json'))).toBe(false);
    const md = await readFile(join(out, 'report.md'), 'utf8');
    expect(md).toContain('INCOMPLETE: 4 records; 1 row failed to generate');
    // The Failures section names the row and the backend's message (m1 has a record now: not listed).
    expect(md).toContain('Rows with no record: the backend failed on them');
    expect(md).toMatch(/\| failed-rows \| x9 \| generate \| HTTP 503 \|/);
    expect(md).not.toMatch(/\| failed-rows \| m1 \|/);
  });

  describe('checks the records against the rows the run selected (config.json)', () => {
    const rows = [0, 1, 2, 3, 4].map((i) =>
      JSON.stringify({
        prompt: [{ role: 'user', content: `question ${i}` }],
        data_source: 'math-hard',
        reward_model: { ground_truth: String(i) },
        extra_info: { index: i, split: 'test' },
      }),
    );
    const run = async (name: string, n: number): Promise<string> => {
      const dir = join(root, name);
      const data = join(root, `${name}-rows.jsonl`);
      await writeFile(data, `${rows.join('\n')}\n`);
      const records = [0, 1, 2, 3, 4]
        .slice(0, n)
        .map((i) => rec(`math-hard:test:${i}`, 'math-hard', { u: 0.5, l: 0.5 }));
      await writeRun(dir, records, name, {
        command: 'eval run',
        data: { files: [data], dataSources: [], limit: null },
      });
      return dir;
    };

    it('fewer records than rows: incomplete, no metrics.json', async () => {
      const dir = await run('short', 3);
      const r = await runCliInProcess(['eval', 'report', dir]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(
        'warning: short: incomplete run: 3 of 5 rows have a record, 2 have none; finish the run with the command that started it plus --resume; metrics.json not written',
      );
      expect(existsSync(join(dir, 'metrics.json'))).toBe(false);
      const md = await readFile(join(dir, 'report', 'report.md'), 'utf8');
      expect(md).toContain('INCOMPLETE: 3 of 5 rows have a record, 2 have none');
    });

    it('every row with a record: complete, metrics.json written', async () => {
      const dir = await run('full', 5);
      const r = await runCliInProcess(['eval', 'report', dir]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      expect(existsSync(join(dir, 'metrics.json'))).toBe(true);
      const md = await readFile(join(dir, 'report', 'report.md'), 'utf8');
      expect(md).toContain('complete: every selected row has a record (5)');
    });
  });

  it('names the file and line of a bad record, exit 1', async () => {
    const dir = join(root, 'bad');
    await writeRun(dir, recordsA, 'bad');
    const text = await readFile(join(dir, 'results.jsonl'), 'utf8');
    const lines = text.split('\n');
    lines[1] = lines[1]!.replace('"data_source":"math-hard"', '"data_source":7');
    await writeFile(join(dir, 'results.jsonl'), lines.join('\n'));
    const r = await runCliInProcess(['eval', 'report', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/results\.jsonl:2: not a run record: field data_source/);
  });

  it('rejects bad usage with exit 2', async () => {
    expect((await runCliInProcess(['eval', 'report'])).code).toBe(2);
    const r = await runCliInProcess(['eval', 'report', join(root, 'a'), '--tokenizer', 'gpt9']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--tokenizer must be one of auto, cl100k_base, o200k_base, approx/);
  });

  it.skipIf(!haveTiktoken)(
    'keeps naming the tokenizer the run counted its tokens with in metrics.json and in eval compare',
    async () => {
      const tokenizer = {
        name: 'cl100k_base',
        exact: true,
        description: 'js-tiktoken cl100k_base (offline BPE)',
      };
      const a = join(root, 'tok-a');
      const b = join(root, 'tok-b');
      await writeRun(a, recordsA, 'tok-a', { tokenizer });
      await writeRun(b, recordsB, 'tok-b', { tokenizer });
      const r = await runCliInProcess(['eval', 'report', a, '--out', join(root, 'tok-report')]);
      expect(r.code, r.stderr).toBe(0);
      const written = JSON.parse(await readFile(join(a, 'metrics.json'), 'utf8'));
      expect(written.tokenizer).toMatchObject({ ...tokenizer, from_records: 3, counted: 0 });
      const md = await readFile(join(root, 'tok-report', 'report.md'), 'utf8');
      expect(md).toContain(
        'token counts of the scored records: 3 from the run, 0 counted with js-tiktoken cl100k_base',
      );
      const cmp = await runCliInProcess(['eval', 'compare', a, b]);
      expect(cmp.code, cmp.stderr).toBe(0);
      expect(cmp.stdout).toContain('tokens: js-tiktoken cl100k_base (offline BPE)');
    },
  );

  it.skipIf(!haveTiktoken)(
    "keeps each run's own tokenizer in its metrics.json when runs counted with different ones are reported together",
    async () => {
      const cl100k = {
        name: 'cl100k_base',
        exact: true,
        description: 'js-tiktoken cl100k_base (offline BPE)',
      };
      const a = join(root, 'mixed-a');
      const b = join(root, 'mixed-b');
      await writeRun(a, recordsA, 'mixed-a', { tokenizer: cl100k });
      await writeRun(b, recordsB, 'mixed-b', {
        tokenizer: { name: 'approx', exact: false, description: 'approx' },
      });
      const r = await runCliInProcess(['eval', 'report', a, b, '--out', join(root, 'mixed-report')]);
      expect(r.code, r.stderr).toBe(0);
      const metricsOf = async (dir: string) => JSON.parse(await readFile(join(dir, 'metrics.json'), 'utf8'));
      expect((await metricsOf(a)).tokenizer).toMatchObject({ ...cl100k, from_records: 3, counted: 0 });
      expect((await metricsOf(b)).tokenizer).toMatchObject({ name: 'approx', exact: false });
    },
  );

  it("prints the control characters of a run folder's name on stderr as visible escapes", async () => {
    const dir = join(root, 'ansi-name');
    await writeRun(dir, recordsA, 'ev\u001b]0;pwned\u0007il');
    // A row that failed and has no record: the run is incomplete, and the warning names the run.
    await writeFile(
      join(dir, 'errors.jsonl'),
      `${JSON.stringify({ id: 'x9', stage: 'generate', message: 'HTTP 503' })}\n`,
    );
    const r = await runCliInProcess(['eval', 'report', dir, '--out', join(root, 'ansi-name-report')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('warning: ev\\x1b]0;pwned\\x07il: incomplete run');
    for (const c of ['\u001b', '\u0007']) expect(r.stderr).not.toContain(c);
  });

  it('writes no metrics.json into a run folder another live process is writing', async () => {
    const dir = join(root, 'locked');
    await writeRun(dir, recordsA, 'locked');
    // The lock of a running writer: the test runner's parent process is alive and is not this one.
    await writeFile(join(dir, '.lock'), `${process.ppid}\n`);
    const r = await runCliInProcess(['eval', 'report', dir, '--out', join(root, 'locked-report')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`locked: process ${process.ppid} is writing ${dir}; metrics.json not written`);
    expect(existsSync(join(dir, 'metrics.json'))).toBe(false);
    // A stale lock (its process gone) does not stop it.
    await writeFile(join(dir, '.lock'), '999999999\n');
    expect((await runCliInProcess(['eval', 'report', dir, '--out', join(root, 'locked-report')])).code).toBe(
      0,
    );
    expect(existsSync(join(dir, 'metrics.json'))).toBe(true);
  });
});
