/**
 * The verl parquet export in bounded memory: rows are parked on disk while the schema is inferred, then
 * written a row group at a time; whatever happens, nothing but the finished file stays beside the target.
 */
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { describe, expect, it } from 'vitest';
import { exportRows } from '../../src/data/export.js';
import { GROUP_BYTES } from '../../src/data/export-parquet.js';
import { openParquet, parquetFileFields, readRows } from '../../src/data/parquet.js';
import { loadParquetWriter } from '../../src/data/parquet-write.js';
import type { DatasetRow } from '../../src/data/row.js';
import { shapeToString } from '../../src/data/shape.js';

const writer = await loadParquetWriter();
if (!writer)
  console.warn(
    '[gtalign tests] skipping parquet export tests: the npm package hyparquet-writer is not installed',
  );

const tempDir = () => mkdtemp(join(tmpdir(), 'gtalign-export-pq-'));

/** A row whose prompt holds `size` characters, with a double column that JSON could not carry. */
function bigRow(i: number, size: number): DatasetRow {
  return {
    id: `big:test:${i}`,
    data_source: 'big',
    prompt: [{ role: 'user', content: `${i} ${'x'.repeat(size)}` }],
    ground_truth: String(i),
    extra_info: { index: i, split: 'test', score: i === 0 ? Number.NaN : i + 0.5 },
    source: { file: 'mem', row: i },
  };
}

const content = (rows: DatasetRow[]) => rows.map(({ source: _s, ...rest }) => rest);

describe.skipIf(!writer)('verl parquet export in bounded memory', () => {
  it('writes a row group as each fills, not all rows as one, and the rows read back equal', async () => {
    const dir = await tempDir();
    const out = join(dir, 'big.parquet');
    // About four groups' worth of rows, from a generator: no caller-held array of them.
    const size = 256 * 1024;
    const count = Math.ceil((4 * GROUP_BYTES) / size);
    function* rows() {
      for (let i = 0; i < count; i++) yield bigRow(i, size);
    }
    const result = await exportRows(rows(), { format: 'verl', out });
    expect(result.rows).toBe(count);
    const pq = await openParquet(out);
    expect(pq.rows).toBe(count);
    expect(pq.metadata.row_groups.length).toBeGreaterThanOrEqual(4);
    const back = await readRows(out);
    expect(content(back)).toEqual(content([...rows()]));
    // NaN went through the parked records as it is (JSON would have made it null).
    expect(back[0]!.extra_info.score).toBeNaN();
    expect(await readdir(dir)).toEqual(['big.parquet']);
  });

  it('leaves the previous file and no parked rows when the rows cannot share one schema', async () => {
    const dir = await tempDir();
    const out = join(dir, 'mixed.parquet');
    await writeFile(out, 'previous');
    const rows = [bigRow(0, 10), bigRow(1, 10)];
    rows[1]!.extra_info.score = [1, 2];
    await expect(exportRows(rows, { format: 'verl', out })).rejects.toThrow(
      /cannot write field extra_info\.score to parquet: its values have mixed types/,
    );
    expect(await readdir(dir)).toEqual(['mixed.parquet']);
  });

  it('leaves the previous file and no parked rows when the input fails mid-way', async () => {
    const dir = await tempDir();
    const out = join(dir, 'cut.parquet');
    await writeFile(out, 'previous');
    async function* rows() {
      yield bigRow(0, 10);
      throw new Error('input broke');
    }
    await expect(exportRows(rows(), { format: 'verl', out })).rejects.toThrow('input broke');
    expect(await readdir(dir)).toEqual(['cut.parquet']);
  });

  it('writes a field named __proto__ holding a string, which the parquet reader then refuses naming it', async () => {
    const dir = await tempDir();
    const out = join(dir, 'builtins.parquet');
    const rows = [bigRow(0, 10), bigRow(1, 10)];
    // Own keys, as JSON.parse gives them: "__proto__" holding a string, "constructor" in one row only.
    rows[0]!.extra_info = JSON.parse('{"index": 0, "__proto__": "a string", "constructor": "c"}');
    rows[1]!.extra_info = JSON.parse('{"index": 1, "__proto__": "another"}');
    await exportRows(rows, { format: 'verl', out });
    const records = await parquetReadObjects({ file: await asyncBufferFromFile(out), columns: ['id'] });
    expect(records.map((r) => r.id)).toEqual(['big:test:0', 'big:test:1']);
    // Read with gtalign's reader, which cannot keep a field named __proto__: refused, naming it.
    await expect(readRows(out)).rejects.toThrow(
      `${out}: gtalign's parquet reader cannot keep the field extra_info.__proto__`,
    );
  });

  it('fills a field some rows lack with null, also one named like an Object method', async () => {
    const dir = await tempDir();
    const out = join(dir, 'sparse.parquet');
    const rows = [bigRow(0, 10), bigRow(1, 10)];
    rows[0]!.extra_info = { index: 0, constructor: 'c', toString: 't' };
    rows[1]!.extra_info = { index: 1 };
    await exportRows(rows, { format: 'verl', out });
    const back = await readRows(out);
    expect(back.map((r) => r.extra_info)).toEqual([
      { index: 0, constructor: 'c', toString: 't' },
      { index: 1, constructor: null, toString: null },
    ]);
  });

  it('says when a string with a lone surrogate (which UTF-8 cannot hold) was written with U+FFFD', async () => {
    const dir = await tempDir();
    const out = join(dir, 'surrogate.parquet');
    const rows = [bigRow(0, 10), bigRow(1, 10), bigRow(2, 10)];
    rows[1]!.prompt = [
      { role: 'system', content: 'sys' },
      { role: 'user', content: 'a\ud800b' },
    ];
    rows[2]!.ground_truth = '\udc00';
    // In an earlier row than the prompt's, in a column written after it: still the first named.
    rows[0]!.ground_truth = 'x\ud800';
    const result = await exportRows(rows, { format: 'verl', out });
    expect(result.notes).toEqual([
      '3 string(s) with a lone surrogate (JSON\'s "\\ud800", which UTF-8 cannot hold) written with U+FFFD in its place; the first: field reward_model.ground_truth in row 1',
    ]);
    const back = await readRows(out);
    expect(back[1]!.prompt[1]!.content).toBe('a\ufffdb');
  });

  it('keeps extra_info an object when no row has a field in it (verl calls extra_info.get)', async () => {
    const dir = await tempDir();
    const out = join(dir, 'no-extra.parquet');
    const rows = [bigRow(0, 10), bigRow(1, 10)].map((r) => ({ ...r, extra_info: {} }));
    const result = await exportRows(rows, { format: 'verl', out });
    expect(result.notes).toEqual([
      'extra_info holds no field in any row, and parquet has no empty struct: written as {"index": null}, so that readers (verl) find an object there',
    ]);
    const fields = parquetFileFields(await openParquet(out));
    expect(shapeToString(fields.find((f) => f.name === 'extra_info')!.shape)).toBe('struct<index: int64>');
    const back = await readRows(out);
    expect(back.map((r) => [r.id, r.extra_info])).toEqual([
      ['big:test:0', { index: null }],
      ['big:test:1', { index: null }],
    ]);
  });
});
