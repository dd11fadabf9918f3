import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataError } from '../../src/data/errors.js';
import {
  iterateParquetRecords,
  iterateParquetRows,
  MAX_FOOTER_BYTES,
  openParquet,
  parquetFileFields,
  readRows,
} from '../../src/data/parquet.js';
import { encodeParquet, loadParquetWriter } from '../../src/data/parquet-write.js';
import type { DatasetRow } from '../../src/data/row.js';
import { shapeToString } from '../../src/data/shape.js';
import { HAVE_DATA, SHIPPED, shippedPath } from './helpers.js';

const writer = await loadParquetWriter();

const MESSAGES = 'list<struct<content: string, role: string>>';

function expectWellTyped(row: DatasetRow): void {
  expect(row.prompt.length).toBeGreaterThan(0);
  for (const m of row.prompt) {
    expect(['system', 'user', 'assistant']).toContain(m.role);
    expect(typeof m.content).toBe('string');
  }
  expect(typeof row.ground_truth).toBe('string');
  expect(typeof row.extra_info.index).toBe('number');
  expect(typeof row.extra_info.single_turn_prompt).toBe('string');
  expect(Array.isArray(row.extra_info.chat_history)).toBe(true);
  expect(typeof row.turn_id).toBe('number');
  // No BigInt survives normalization anywhere in the row.
  expect(() => JSON.stringify(row)).not.toThrow();
}

describe.skipIf(!HAVE_DATA)('released parquet files', () => {
  for (const f of SHIPPED) {
    it(`${f.name}/${f.split} has ${f.rows} well-typed rows with unique ids`, async () => {
      const path = shippedPath(f.name, f.split);
      const rows = await readRows(path);
      expect(rows).toHaveLength(f.rows);
      expect(new Set(rows.map((r) => r.data_source))).toEqual(new Set([f.name]));
      expect(new Set(rows.map((r) => r.id)).size).toBe(f.rows);
      rows.forEach((r, i) => {
        expect(r.source).toEqual({ file: path, row: i });
        expectWellTyped(r);
      });
    });
  }

  it('ids are unique across every released file together', async () => {
    const ids = new Set<string>();
    let n = 0;
    for (const f of SHIPPED) {
      for (const r of await readRows(shippedPath(f.name, f.split))) {
        ids.add(r.id);
        n++;
      }
    }
    expect(ids.size).toBe(n);
  });

  it('keeps the verl fields and their values (ids, ground truths, labels)', async () => {
    const [first] = await readRows(shippedPath('ambig_qa', 'test'), { limit: 1 });
    expect(first!.id).toBe('ambig_qa:test:901');
    expect(first!.ground_truth.startsWith('multipleQAs###')).toBe(true);
    expect(first!.prompt.map((m) => m.role)).toEqual(['system', 'user']);
    expect(first!.extra_info).toMatchObject({ index: 901, split: 'test', adversarial: null });
    expect(first!.columns).toEqual({ source: 'ambig_qa', unique_conv_id: 1 });
    const guard = await readRows(shippedPath('wildguard', 'test'));
    expect(new Set(guard.map((r) => r.ground_truth))).toEqual(new Set(['harmful', 'unharmful']));
    // Minerva's conv_id is a string column; the released file labels its rows split "train", but they
    // are the test split, and the ids say so (the file's name wins).
    const [m] = await readRows(shippedPath('minerva', 'test'), { limit: 1 });
    expect(m).toMatchObject({ id: 'minerva:test:0', conv_id: 'conv_0', ground_truth: '1.6' });
    expect(m!.extra_info.split).toBe('train');
  });

  it('offset and limit select the same rows as a full read', async () => {
    const path = shippedPath('math-hard', 'test');
    const all = await readRows(path);
    const some = await readRows(path, { offset: 100, limit: 7 });
    expect(some).toEqual(all.slice(100, 107));
    expect(await readRows(path, { offset: 350, limit: 10 })).toEqual(all.slice(350));
    expect(await readRows(path, { limit: 0 })).toEqual([]);
  });

  it('describes the nested columns from the file schema', async () => {
    const fields = parquetFileFields(await openParquet(shippedPath('math-hard', 'test')));
    const byName = Object.fromEntries(fields.map((f) => [f.name, shapeToString(f.shape)]));
    expect(byName.prompt).toBe(MESSAGES);
    expect(byName.reward_model).toBe('struct<ground_truth: string, style: string>');
    expect(byName.conv_id).toBe('int64');
    expect(byName.extra_info).toContain(`chat_history: ${MESSAGES}`);
  });

  it('reads fast (prints rows/s)', async () => {
    const start = performance.now();
    let n = 0;
    for (const f of SHIPPED) for await (const _ of iterateParquetRows(shippedPath(f.name, f.split))) n++;
    const seconds = (performance.now() - start) / 1000;
    console.log(
      `[bench] parquet → validated rows: ${n} rows in ${seconds.toFixed(2)} s (${(n / seconds).toFixed(0)} rows/s)`,
    );
    expect(n).toBe(SHIPPED.reduce((s, f) => s + f.rows, 0));
  });
});

describe('parquet errors', () => {
  it('names a missing file', async () => {
    await expect(readRows('/nonexistent/x.parquet')).rejects.toThrow(
      'cannot read /nonexistent/x.parquet: no such file',
    );
  });

  it('names a file that is not parquet', async () => {
    const path = join(tmpdir(), `gtalign-not-parquet-${process.pid}.parquet`);
    await writeFile(path, 'this is text, not parquet\n');
    const err = await readRows(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as Error).message).toContain(`${path}: not a readable parquet file`);
  });

  it('names an empty file as too short to be parquet', async () => {
    const path = join(tmpdir(), `gtalign-empty-${process.pid}.parquet`);
    await writeFile(path, '');
    await expect(readRows(path)).rejects.toThrow(
      `${path}: not a parquet file (0 bytes, too short to be one)`,
    );
  });

  it('refuses a footer past the bound before decoding it (a hostile one would exhaust the heap)', async () => {
    const path = join(tmpdir(), `gtalign-big-footer-${process.pid}.parquet`);
    const footer = MAX_FOOTER_BYTES + 1;
    const bytes = Buffer.alloc(footer + 12);
    bytes.write('PAR1', 0);
    bytes.writeUInt32LE(footer, footer + 4);
    bytes.write('PAR1', footer + 8);
    await writeFile(path, bytes);
    await expect(readRows(path)).rejects.toThrow(
      `${path}: the footer (the file's metadata) is ${footer} bytes, more than the 16 MiB gtalign reads`,
    );
  });

  it.skipIf(!writer)('refuses a footer whose row count is not the sum of its row groups', async () => {
    const { parquetMetadata } = await import('hyparquet');
    // biome-ignore lint/suspicious/noExplicitAny: hyparquet-writer's internal metadata writer has no types
    const { writeMetadata } = (await import('hyparquet-writer/src/metadata.js' as string)) as any;
    // biome-ignore lint/suspicious/noExplicitAny: as above
    const { ByteWriter } = (await import('hyparquet-writer/src/bytewriter.js' as string)) as any;
    const records = [0, 1].map((i) => ({
      prompt: [{ role: 'user', content: `q${i}` }],
      data_source: 'x',
      reward_model: { ground_truth: 'g' },
      extra_info: { index: i },
    }));
    const good = Buffer.from((await encodeParquet(records)).bytes);
    const footerLength = good.readUInt32LE(good.length - 8);
    const metadata = parquetMetadata(good.buffer.slice(good.byteOffset, good.byteOffset + good.length));
    metadata.num_rows = 1000n; // the groups hold 2
    const writer = new ByteWriter();
    writeMetadata(writer, metadata);
    const footer = Buffer.from(writer.getBuffer());
    const length = Buffer.alloc(4);
    length.writeUInt32LE(footer.length);
    const path = join(tmpdir(), `gtalign-row-count-${process.pid}.parquet`);
    await writeFile(
      path,
      Buffer.concat([good.subarray(0, good.length - 8 - footerLength), footer, length, Buffer.from('PAR1')]),
    );
    await expect(readRows(path)).rejects.toThrow(
      `${path}: not a readable parquet file (the footer says 1000 rows, its row groups hold 2: the file is damaged)`,
    );
  });

  it.skipIf(!writer)(
    'names the row and field of a string that is not UTF-8, instead of reading U+FFFD in its place',
    async () => {
      const records = [0, 1].map((i) => ({
        prompt: [{ role: 'user', content: i === 0 ? 'first question' : 'caf1QQ au lait' }],
        data_source: 'x',
        reward_model: { ground_truth: 'g' },
        extra_info: { index: i },
      }));
      const bytes = Buffer.from((await encodeParquet(records)).bytes);
      // Row 1's "QQ" becomes 0xE9 'Q' (Latin-1 é) in the data page (the first place it is, before the
      // footer's statistics): the same length, so the file stays well-formed.
      const at = bytes.indexOf('caf1QQ');
      expect(at).toBeGreaterThan(0);
      bytes[at + 4] = 0xe9;
      const path = join(tmpdir(), `gtalign-latin1-${process.pid}.parquet`);
      await writeFile(path, bytes);
      await expect(readRows(path)).rejects.toThrow(
        `${path}: row 1: field prompt.0.content: not valid UTF-8: byte 5 of the string (0xE9) does not start a valid character`,
      );
      const raw = [];
      for await (const r of iterateParquetRecords(path)) raw.push(r);
      expect(raw[0]!.notUtf8).toBeUndefined();
      expect(raw[1]!.notUtf8).toMatch(/^field prompt\.0\.content: not valid UTF-8/);
    },
  );
});
