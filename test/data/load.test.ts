import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { expandGlob, expandInputs, formatOf, loadRows } from '../../src/data/load.js';
import { DATA_DIR, HAVE_DATA, SHIPPED } from './helpers.js';

let dir: string;

const line = (source: string, i: number) =>
  JSON.stringify({
    prompt: [{ role: 'user', content: `q${i}` }],
    data_source: source,
    reward_model: { ground_truth: 'g' },
    extra_info: { index: i, split: 'test' },
  });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-load-'));
  await mkdir(join(dir, 'a'));
  await mkdir(join(dir, 'b', 'deep'), { recursive: true });
  await writeFile(join(dir, 'a', 'one.jsonl'), [line('x', 0), line('y', 1), line('x', 2)].join('\n'));
  await writeFile(join(dir, 'b', 'deep', 'two.jsonl'), [line('z', 0), line('x', 3)].join('\n'));
  await writeFile(join(dir, 'b', 'notes.txt'), 'not data');
});

describe('input expansion', () => {
  it('picks the reader by extension', () => {
    expect(formatOf('a/b.parquet')).toBe('parquet');
    expect(formatOf('a/b.JSONL')).toBe('jsonl');
    expect(formatOf('a/b.csv')).toBeUndefined();
  });

  it('expands a directory to its data files at any depth, sorted, ignoring other files', async () => {
    expect(await expandInputs([dir])).toEqual([
      join(dir, 'a', 'one.jsonl'),
      join(dir, 'b', 'deep', 'two.jsonl'),
    ]);
  });

  it('expands globs with *, ? and **', async () => {
    expect(await expandGlob(`${dir}/*/one.jsonl`)).toEqual([join(dir, 'a', 'one.jsonl')]);
    expect(await expandGlob(`${dir}/**/*.jsonl`)).toEqual([
      join(dir, 'a', 'one.jsonl'),
      join(dir, 'b', 'deep', 'two.jsonl'),
    ]);
    expect(await expandGlob(`${dir}/?/one.json?`)).toEqual([join(dir, 'a', 'one.jsonl')]);
  });

  it('rejects unknown file types, missing paths and globs matching nothing', async () => {
    await expect(expandInputs([join(dir, 'b', 'notes.txt')])).rejects.toThrow('unknown data file type');
    await expect(expandInputs([join(dir, 'missing.jsonl')])).rejects.toThrow('no such file');
    await expect(expandInputs([`${dir}/*.nothing`])).rejects.toThrow('no files match');
  });

  it('says a symlink loop is one, not that the file is missing', async () => {
    const loop = join(await mkdtemp(join(tmpdir(), 'gtalign-loop-')), 'loop.jsonl');
    await symlink(loop, loop);
    await expect(expandInputs([loop])).rejects.toThrow(
      `cannot read ${loop}: too many levels of symbolic links (a link loop?) (ELOOP)`,
    );
  });

  it('does not read the same file twice when given twice', async () => {
    const one = join(dir, 'a', 'one.jsonl');
    expect(await expandInputs([one, one, `${dir}/a/*.jsonl`])).toEqual([one]);
  });
});

describe('loadRows', () => {
  it('filters by data source before applying the limit', async () => {
    const rows = await loadRows([dir], { dataSources: ['x'], limit: 2 });
    expect(rows.map((r) => r.id)).toEqual(['x:test:0', 'x:test:2']);
    const all = await loadRows([dir], { dataSources: ['x'] });
    expect(all.map((r) => r.id)).toEqual(['x:test:0', 'x:test:2', 'x:test:3']);
  });

  it('stops at a repeated id, naming both places, unless told to keep duplicates', async () => {
    const copy = join(dir, 'copy.jsonl');
    await writeFile(copy, line('x', 2));
    await expect(loadRows([join(dir, 'a'), copy])).rejects.toThrow(
      `${copy}:1: id x:test:2 repeats ${join(dir, 'a', 'one.jsonl')}:3`,
    );
    expect(await loadRows([join(dir, 'a'), copy], { duplicateIds: 'keep' })).toHaveLength(4);
  });

  it.skipIf(!HAVE_DATA)('loads the whole released data folder', async () => {
    const rows = await loadRows([DATA_DIR]);
    expect(rows).toHaveLength(SHIPPED.reduce((s, f) => s + f.rows, 0));
    const test = await loadRows([`${DATA_DIR}/*/test.parquet`], { dataSources: ['medium', 'minerva'] });
    expect(test).toHaveLength(248 + 272);
  });
});
