import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJsonlRows } from '../../src/data/jsonl.js';
import { readRows } from '../../src/data/parquet.js';
import { loadParquetWriter } from '../../src/data/parquet-write.js';
import { HAVE_DATA, shippedPath } from '../data/helpers.js';
import { runCliInProcess } from '../support/cli-in-process.js';
import { runCliOnFullDisk } from '../support/full-disk-cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-cli-data-'));
});

const verlLine = (i: number, source = 'wildguard') =>
  JSON.stringify({
    prompt: [{ role: 'user', content: `request ${i}` }],
    data_source: source,
    reward_model: { ground_truth: i % 2 ? 'harmful' : 'unharmful' },
    extra_info: { index: i, split: 'test' },
  });

describe('gtalign data inspect', () => {
  it.skipIf(!HAVE_DATA)('prints rows per data source, nested fields and one shortened example', async () => {
    const r = await runCliInProcess([
      'data',
      'inspect',
      shippedPath('math-hard', 'test'),
      shippedPath('minerva', 'test'),
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${shippedPath('math-hard', 'test')}  (parquet, 353 rows)`);
    expect(r.stdout).toMatch(/rows per data source:\n {4}math-hard {2}353\n/);
    expect(r.stdout).toContain('    prompt: list<struct<content: string, role: string>>\n');
    expect(r.stdout).toContain('    reward_model: struct<ground_truth: string, style: string>\n');
    expect(r.stdout).toMatch(/ {4}extra_info: struct\n {6}adversarial: null\n {6}chat_history: list<struct/);
    expect(r.stdout).toContain('  example (row 0, id math-hard:test:300):');
    expect(r.stdout).toMatch(/… \(\+\d+ chars\)/);
    expect(r.stdout).toContain('total: 625 rows in 2 files');
  });

  it.skipIf(!HAVE_DATA)('--json gives counts, typed fields and the full example', async () => {
    const r = await runCliInProcess(['data', 'inspect', '--json', shippedPath('wildguard', 'test')]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.total).toEqual({
      files: 1,
      rows: 300,
      data_sources: { wildguard: 300 },
      invalid: 0,
      duplicate_ids: 0,
    });
    const f = out.files[0];
    expect(f.fields.find((x: { name: string }) => x.name === 'conv_id')).toEqual({
      name: 'conv_id',
      type: 'int64',
    });
    expect(f.example.id).toBe('wildguard:test:0');
    expect(f.example.record.reward_model.ground_truth).toBe('unharmful');
    expect(f.example.record.prompt[1].content.length).toBeGreaterThan(1000);
  });

  it('reports invalid lines with their line and field, and exits 1', async () => {
    const path = join(dir, 'bad.jsonl');
    await writeFile(
      path,
      [verlLine(0), '{not json', verlLine(2).replace('"user"', '"robot"'), verlLine(3)].join('\n'),
    );
    const r = await runCliInProcess(['data', 'inspect', '--json', path]);
    expect(r.code).toBe(1);
    const f = JSON.parse(r.stdout).files[0];
    expect(f).toMatchObject({ rows: 4, invalid: 2, data_sources: { wildguard: 2 } });
    expect(f.errors[0]).toContain(`${path}:2: not valid JSON`);
    expect(f.errors[1]).toContain(`${path}:3: field prompt.0.role`);
    expect(f.fields.map((x: { name: string; type: string }) => `${x.name}: ${x.type}`)).toContain(
      'extra_info: struct<index: int64, split: string>',
    );
  });

  it('lists a parquet row holding a string that is not UTF-8 as invalid, naming its field', async (ctx) => {
    if (!(await loadParquetWriter())) ctx.skip();
    const { encodeParquet } = await import('../../src/data/parquet-write.js');
    const records = ['first question', 'caf1QQ au lait'].map((content, i) => ({
      prompt: [{ role: 'user', content }],
      data_source: 'wildguard',
      reward_model: { ground_truth: 'harmful' },
      extra_info: { index: i },
    }));
    const bytes = Buffer.from((await encodeParquet(records)).bytes);
    bytes[bytes.indexOf('caf1QQ') + 4] = 0xe9; // Latin-1 é, in the data page
    const path = join(dir, 'latin1.parquet');
    await writeFile(path, bytes);
    const r = await runCliInProcess(['data', 'inspect', '--json', path]);
    expect(r.code).toBe(1);
    const f = JSON.parse(r.stdout).files[0];
    expect(f).toMatchObject({ rows: 2, invalid: 1, data_sources: { wildguard: 1 } });
    expect(f.errors[0]).toBe(
      `${path}: row 1: field prompt.0.content: not valid UTF-8: byte 5 of the string (0xE9) does not start a valid character`,
    );
  });

  it('flags the same ids twice and exits 1', async () => {
    const path = join(dir, 'dup.jsonl');
    await writeFile(path, [verlLine(0), verlLine(0)].join('\n'));
    const r = await runCliInProcess(['data', 'inspect', path]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`repeated ids: 1\n  id wildguard:test:0 at ${path}:2 repeats ${path}:1`);
  });

  it('recognises its own OpenRLHF export, says so, and reads its rows back from input and label', async () => {
    const src = join(dir, 'orl-src.jsonl');
    await writeFile(src, [verlLine(0), verlLine(1), verlLine(2, 'ambig_qa')].join('\n'));
    for (const label of ['json', 'json-with-prompt', 'ground-truth']) {
      const out = join(dir, `orl-${label}.jsonl`);
      const exported = await runCliInProcess([
        'data',
        'export',
        '--format',
        'openrlhf',
        '--label',
        label,
        '--out',
        out,
        src,
      ]);
      expect(exported.code, exported.stderr).toBe(0);
      const r = await runCliInProcess(['data', 'inspect', out]);
      expect(r.code, r.stdout).toBe(0);
      expect(r.stdout).toContain(`${out}  (jsonl, OpenRLHF prompt data, 3 rows)`);
      expect(r.stdout).toContain(
        'note: an OpenRLHF export (gtalign data export --format openrlhf), fields id, input, label, datasource',
      );
      expect(r.stdout).toContain('inspect the files it was exported from');
      expect(r.stdout).toMatch(/rows per data source:\n {4}ambig_qa {3}1\n {4}wildguard {2}2\n/);
      expect(r.stdout).toContain('example (row 0, id wildguard:test:0)');
      expect(r.stdout).not.toContain('invalid');
      const json = JSON.parse((await runCliInProcess(['data', 'inspect', '--json', out])).stdout);
      expect(json.files[0]).toMatchObject({ layout: 'openrlhf', rows: 3, invalid: 0 });
    }
    // As a data set (eval run, data export) it is refused, and the message says what the file is.
    const again = await runCliInProcess([
      'data',
      'export',
      '--format',
      'jsonl',
      '--out',
      join(dir, 'never-orl.jsonl'),
      join(dir, 'orl-json.jsonl'),
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('an OpenRLHF prompt record (fields input, label;');
  });

  it('usage and input errors', async () => {
    expect((await runCliInProcess(['data', 'inspect'])).code).toBe(2);
    const missing = await runCliInProcess(['data', 'inspect', join(dir, 'none.parquet')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no such file');
  });
});

describe('gtalign data export', () => {
  it('exports filtered, limited rows as JSONL that reads back', async () => {
    const src = join(dir, 'src.jsonl');
    await writeFile(src, [verlLine(0), verlLine(1, 'ambig_qa'), verlLine(2), verlLine(3)].join('\n'));
    const out = join(dir, 'out', 'rows.jsonl');
    const r = await runCliInProcess([
      'data',
      'export',
      '--format',
      'jsonl',
      '--out',
      out,
      '--data-source',
      'wildguard',
      '--limit',
      '2',
      src,
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`wrote 2 rows to ${out} (jsonl, jsonl): wildguard 2`);
    expect((await readJsonlRows(out)).map((x) => x.id)).toEqual(['wildguard:test:0', 'wildguard:test:2']);
  });

  it('exports OpenRLHF prompt/label lines', async () => {
    const src = join(dir, 'src2.jsonl');
    await writeFile(src, [verlLine(1)].join('\n'));
    const out = join(dir, 'orl.jsonl');
    const r = await runCliInProcess([
      'data',
      'export',
      '--format',
      'openrlhf',
      '--label',
      'ground-truth',
      '--out',
      out,
      src,
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(await readFile(out, 'utf8'))).toEqual({
      id: 'wildguard:test:1',
      input: [{ role: 'user', content: 'request 1' }],
      label: 'harmful',
      datasource: 'wildguard',
    });
  });

  it.skipIf(!HAVE_DATA)('exports verl parquet, or says which package it needs', async () => {
    const out = join(dir, 'verl.parquet');
    const r = await runCliInProcess([
      'data',
      'export',
      '--format',
      'verl',
      '--out',
      out,
      shippedPath('minerva', 'test'),
    ]);
    if (await loadParquetWriter()) {
      expect(r.code).toBe(0);
      const back = await readRows(out);
      expect(back.map(({ source: _s, ...x }) => x)).toEqual(
        (await readRows(shippedPath('minerva', 'test'))).map(({ source: _s, ...x }) => x),
      );
    } else {
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('hyparquet-writer');
      await expect(stat(out)).rejects.toThrow();
    }
  });

  it('usage errors exit 2 and name the option', async () => {
    const a = await runCliInProcess(['data', 'export', '--format', 'csv', '--out', 'x', 'y.jsonl']);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain(
      "--format must be one of verl, openrlhf, skyrl, areal, nemo-rl, jsonl, got 'csv'",
    );
    expect((await runCliInProcess(['data', 'export', '--format', 'jsonl', 'y.jsonl'])).stderr).toContain(
      '--out is required',
    );
    const b = await runCliInProcess([
      'data',
      'export',
      '--format',
      'jsonl',
      '--label',
      'json',
      '--out',
      'x',
      'y.jsonl',
    ]);
    expect(b.stderr).toContain('--label applies to --format openrlhf only');
  });

  it('refuses to give JSON lines a parquet name (exit 2), writing nothing', async () => {
    const src = join(dir, 'for-parquet-name.jsonl');
    await writeFile(src, `${verlLine(0)}\n`);
    for (const format of ['openrlhf', 'areal', 'nemo-rl', 'jsonl']) {
      const out = join(dir, `${format}-train.parquet`);
      const r = await runCliInProcess(['data', 'export', '--format', format, '--out', out, src]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(
        `--format ${format} writes JSONL, not parquet: give an --out path ending in .jsonl (not --out ${out})`,
      );
      await expect(stat(out)).rejects.toMatchObject({ code: 'ENOENT' });
    }
  });

  it('a bad input row exits 1 naming the line and field, writing nothing', async () => {
    const src = join(dir, 'broken.jsonl');
    await writeFile(src, [verlLine(0), '{"data_source": "x", "prompt": [], "ground_truth": "g"}'].join('\n'));
    const out = join(dir, 'never.jsonl');
    const r = await runCliInProcess(['data', 'export', '--format', 'jsonl', '--out', out, src]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${src}:2: field prompt`);
    await expect(stat(out)).rejects.toThrow();
  });
});

describe('gtalign data export on a full disk', () => {
  it('exits 1 naming the target when the parked rows fill the disk, leaving the previous file alone', async (ctx) => {
    if (!(await loadParquetWriter())) ctx.skip();
    const sub = await mkdtemp(join(dir, 'full-'));
    const src = join(sub, 'rows.jsonl');
    await writeFile(src, `${Array.from({ length: 200 }, (_, i) => verlLine(i)).join('\n')}\n`);
    const out = join(sub, 'out.parquet');
    await writeFile(out, 'previous');
    // The rows parked beside out.parquet (.out.parquet.PID.HEX.tmp) get 4000 bytes.
    const r = await runCliOnFullDisk(
      ['data', 'export', '--format', 'verl', '--out', out, src],
      '.out.parquet',
      4000,
    );
    expect(r.stderr).not.toContain('internal error');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot write ${out}: no space left on the device (ENOSPC)`);
    expect(await readFile(out, 'utf8')).toBe('previous');
    expect((await readdir(sub)).sort()).toEqual(['out.parquet', 'rows.jsonl']);
  });
});

describe('gtalign data pull', () => {
  let server: Server;
  let base: string;
  let closedBase: string;
  beforeAll(async () => {
    const minerva = HAVE_DATA ? readFileSync(shippedPath('minerva', 'test')) : Buffer.alloc(0);
    server = createServer((req, res) => {
      if (req.url === '/repo/data/minerva_math/test.parquet' && minerva.length > 0)
        res.writeHead(200).end(minerva);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/repo`;
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    closedBase = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/repo`;
    await new Promise((r) => closed.close(r));
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  it('offline: fails fast with the URLs to fetch by hand', async () => {
    const target = join(dir, 'cache-offline');
    const r = await runCliInProcess([
      'data',
      'pull',
      '--dir',
      target,
      '--base-url',
      closedBase,
      '--only',
      'minerva,medium',
    ]);
    expect(r.code).toBe(1);
    // Refused at once, not timed out after the connect timeout: the message says which.
    expect(r.stderr).toContain('ECONNREFUSED');
    expect(r.stderr).toContain('Fetch these files by hand');
    expect(r.stderr).toContain(
      `${closedBase}/data/gamellm_wildbreak_math_medium_abgqa/by_source/medium/test.parquet`,
    );
    expect(r.stderr).toContain(
      `${closedBase}/data/minerva_math/test.parquet\n    -> ${join(target, 'minerva', 'test.parquet')}`,
    );
  });

  it.skipIf(!HAVE_DATA)('downloads into the cache folder, then finds it present', async () => {
    const target = join(dir, 'cache');
    const r = await runCliInProcess([
      'data',
      'pull',
      '--dir',
      target,
      '--base-url',
      base,
      '--only',
      'minerva',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`downloaded minerva/test: 272 rows`);
    expect(r.stdout).toContain(`data in ${target}`);
    expect(await readRows(join(target, 'minerva', 'test.parquet'))).toHaveLength(272);
    const again = await runCliInProcess([
      'data',
      'pull',
      '--json',
      '--dir',
      target,
      '--base-url',
      base,
      '--only',
      'minerva',
    ]);
    expect(JSON.parse(again.stdout).files[0]).toMatchObject({
      name: 'minerva',
      status: 'present',
      rows: 272,
    });
  });

  it.skipIf(!HAVE_DATA)('uses $GTALIGN_DATA_DIR as the default folder', async () => {
    const envDir = join(dir, 'env');
    const r = await runCliInProcess(['data', 'pull', '--base-url', base, '--only', 'minerva/test'], {
      env: { GTALIGN_DATA_DIR: envDir },
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`data in ${envDir}`);
    expect((await stat(join(envDir, 'minerva', 'test.parquet'))).size).toBeGreaterThan(0);
  });

  it('rejects unknown data set names and documents the default source', async () => {
    const r = await runCliInProcess([
      'data',
      'pull',
      '--dir',
      join(dir, 'x'),
      '--base-url',
      closedBase,
      '--only',
      'nope',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("unknown data set 'nope' (known: math-hard/test");
    const h = await runCliInProcess(['data', 'pull', '--help']);
    expect(h.stdout).toContain('https://github.com/ulab-uiuc/GTAlign/raw/main');
  });
});
