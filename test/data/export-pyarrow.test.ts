/**
 * The verl parquet export as verl reads it: verl's RLHFDataset loads parquet through HF datasets, that is
 * pyarrow. Runs where a python3 with pyarrow is found (python3 on PATH, else Debian's /usr/bin/python3,
 * e.g. `apt-get install python3-pyarrow` on releases that package it); skipped with a note otherwise.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportRows } from '../../src/data/export.js';
import { GROUP_BYTES } from '../../src/data/export-parquet.js';
import { loadRows } from '../../src/data/load.js';
import { loadParquetWriter } from '../../src/data/parquet-write.js';
import type { DatasetRow } from '../../src/data/row.js';
import { HAVE_DATA, shippedPath } from './helpers.js';

function pythonWithPyarrow(): string | undefined {
  for (const candidate of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(candidate, ['-c', 'import pyarrow.parquet'], { encoding: 'utf8' });
    if (r.status === 0) return candidate;
  }
  return undefined;
}

const PYTHON = pythonWithPyarrow();
const writer = await loadParquetWriter();
if (PYTHON === undefined)
  console.warn(
    '[gtalign tests] skipping the pyarrow check of the verl parquet export: no python3 with pyarrow ' +
      '(python3 on PATH or /usr/bin/python3; e.g. apt-get install python3-pyarrow, or pip install pyarrow)',
  );
else if (!writer)
  console.warn(
    '[gtalign tests] skipping the pyarrow check: the npm package hyparquet-writer is not installed',
  );

/** What pyarrow makes of a parquet file: rows, row groups, each column's type, and the rows as Python sees them. */
const READ = `
import json, sys
import pyarrow.parquet as pq
f = pq.ParquetFile(sys.argv[1])
t = f.read()
print(json.dumps({
  "rows": t.num_rows,
  "groups": f.metadata.num_row_groups,
  "types": {name: str(t.schema.field(name).type) for name in t.schema.names},
  "records": t.to_pylist(),
}, default=str))
`;

interface PyarrowView {
  rows: number;
  groups: number;
  types: Record<string, string>;
  records: Array<Record<string, unknown>>;
}

function readWithPyarrow(path: string): PyarrowView {
  const r = spawnSync(PYTHON!, ['-c', READ, path], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`pyarrow could not read ${path}:\n${r.stderr}`);
  return JSON.parse(r.stdout) as PyarrowView;
}

function row(i: number, size: number): DatasetRow {
  return {
    id: `math-hard:test:${i}`,
    data_source: 'math-hard',
    prompt: [
      { role: 'system', content: 'sys' },
      { role: 'user', content: `What is ${i}? ✓ ${'x'.repeat(size)}` },
    ],
    ground_truth: String(i),
    extra_info: { index: i, split: 'test', chat_history: [{ role: 'user', content: 'q' }] },
    reward_style: 'rule',
    conv_id: i,
    turn_id: 1,
    adversarial: false,
    ability: 'math',
    source: { file: 'mem', row: i },
  };
}

describe.skipIf(PYTHON === undefined || !writer)('verl parquet export read by pyarrow', () => {
  it('opens with pyarrow across row groups, with the verl columns and their types', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gtalign-pyarrow-'));
    const out = join(dir, 'train.parquet');
    // Rows filling about two row groups, so the file is one the streaming writer made in pieces.
    const size = 256 * 1024;
    const count = Math.ceil((2 * GROUP_BYTES) / size) + 1;
    const rows = Array.from({ length: count }, (_, i) => row(i, size));
    await exportRows(rows, { format: 'verl', out });
    const view = readWithPyarrow(out);
    expect(view.rows).toBe(count);
    expect(view.groups).toBeGreaterThanOrEqual(2);
    expect(view.types).toMatchObject({
      id: 'string',
      prompt: 'list<element: struct<role: string, content: string>>',
      data_source: 'string',
      ability: 'string',
      reward_model: 'struct<ground_truth: string, style: string>',
      conv_id: 'int64',
      turn_id: 'int64',
      adversarial: 'bool',
    });
    expect(view.types.extra_info).toMatch(/^struct<index: int64, split: string, chat_history: list</);
    const last = view.records[count - 1]!;
    expect(last).toMatchObject({
      id: `math-hard:test:${count - 1}`,
      data_source: 'math-hard',
      reward_model: { ground_truth: String(count - 1), style: 'rule' },
      extra_info: { index: count - 1, split: 'test' },
    });
    expect(last.prompt).toEqual(rows[count - 1]!.prompt);
  });

  it.skipIf(!HAVE_DATA)('opens the released files exported together, every row there', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gtalign-pyarrow-'));
    const out = join(dir, 'test.parquet');
    const inputs = [shippedPath('minerva', 'test'), shippedPath('ambig_qa', 'test')];
    const rows = await loadRows(inputs);
    await exportRows(rows, { format: 'verl', out });
    const view = readWithPyarrow(out);
    expect(view.rows).toBe(rows.length);
    expect(view.types.prompt).toBe('list<element: struct<role: string, content: string>>');
    expect(view.types.reward_model).toMatch(/^struct<ground_truth: string/);
    expect(view.records.map((r) => r.id)).toEqual(rows.map((r) => r.id));
  });

  it('carries fields named like built-ins (__proto__, constructor) to pyarrow as they are', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gtalign-pyarrow-'));
    const out = join(dir, 'builtins.parquet');
    const rows = [row(0, 1), row(1, 1)];
    rows[0]!.extra_info = JSON.parse('{"index": 0, "__proto__": "a string", "constructor": "c"}');
    rows[1]!.extra_info = JSON.parse('{"index": 1, "__proto__": "another"}');
    await exportRows(rows, { format: 'verl', out });
    const view = readWithPyarrow(out);
    // JSON.parse: an object literal's __proto__ would set the prototype, not a field.
    expect(view.records.map((r) => r.extra_info)).toEqual(
      JSON.parse(
        '[{"index": 0, "__proto__": "a string", "constructor": "c"}, {"index": 1, "__proto__": "another", "constructor": null}]',
      ),
    );
  });
});
