import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportRows } from '../../src/data/export.js';
import { readJsonlRows } from '../../src/data/jsonl.js';
import { loadRows } from '../../src/data/load.js';
import { decodeOpenRlhfLabel, toOpenRlhfRecord } from '../../src/data/openrlhf.js';
import { openParquet, parquetFileFields, readRows } from '../../src/data/parquet.js';
import { loadParquetWriter } from '../../src/data/parquet-write.js';
import type { DatasetRow } from '../../src/data/row.js';
import { shapeToString } from '../../src/data/shape.js';
import { samplePrompt } from '../../src/eval/lookahead.js';
import { openRlhfItem } from '../../src/server/reward.js';
import { HAVE_DATA, shippedPath } from './helpers.js';

const writer = await loadParquetWriter();
if (!writer)
  console.warn(
    '[gtalign tests] skipping verl parquet export tests: the npm package hyparquet-writer is not installed',
  );

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-export-'));
});

/** The JSON objects of a JSONL file, one a line. */
// biome-ignore lint/suspicious/noExplicitAny: the tests look into records of every export layout
const jsonLines = async (path: string): Promise<any[]> =>
  (await readFile(path, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

/** Rows without `source` (where they were read from), the part an export must preserve. */
const content = (rows: DatasetRow[]) => rows.map(({ source: _s, ...rest }) => rest);

const sample: DatasetRow[] = [
  {
    id: 'math-hard:test:1',
    data_source: 'math-hard',
    prompt: [
      { role: 'system', content: 'sys' },
      { role: 'user', content: 'What is 6*7? ✓ émoji 🚀' },
    ],
    ground_truth: '42',
    extra_info: {
      index: 1,
      split: 'test',
      chat_history: [{ role: 'user', content: 'q' }],
      adversarial: null,
    },
    reward_style: 'rule',
    conv_id: 5,
    turn_id: 2,
    adversarial: false,
    ability: 'math-hard',
    columns: { source: 'math-hard', unique_conv_id: 5 },
    source: { file: 'mem', row: 0 },
  },
  {
    id: 'minerva:train:0',
    data_source: 'minerva',
    prompt: [{ role: 'user', content: 'Find x.' }],
    ground_truth: '1.6',
    extra_info: { index: 0, split: 'train', chat_history: [], adversarial: false },
    conv_id: 'conv_0',
    turn_id: 1,
    source: { file: 'mem', row: 1 },
  },
];

describe('export jsonl', () => {
  it('writes normalized rows that read back equal (apart from where they came from)', async () => {
    const out = join(dir, 'rows.jsonl');
    const result = await exportRows(sample, { format: 'jsonl', out });
    expect(result).toMatchObject({ rows: 2, container: 'jsonl', path: out });
    const back = await readJsonlRows(out);
    expect(content(back)).toEqual(content(sample));
    expect(back[1]!.source).toEqual({ file: out, row: 1, line: 2 });
  });

  it('notes the numbers JSON cannot hold (a parquet NaN) instead of writing null without a word', async () => {
    const out = join(dir, 'nan.jsonl');
    const odd = sample.map((r, i) => ({
      ...r,
      extra_info: { ...r.extra_info, w: i === 1 ? Number.NaN : 1 },
    }));
    const result = await exportRows(odd, { format: 'jsonl', out });
    expect(result.notes).toEqual([
      '1 number(s) JSON cannot hold (NaN, ±Infinity) written as null; the first: "w" (NaN) in row 2',
    ]);
    expect((await readJsonlRows(out))[1]!.extra_info.w).toBeNull();
    expect((await exportRows(sample, { format: 'jsonl', out })).notes).toEqual([]);
  });

  it.skipIf(!HAVE_DATA)('round-trips a released file exactly', async () => {
    const rows = await readRows(shippedPath('medium', 'test'));
    const out = join(dir, 'medium.jsonl');
    await exportRows(rows, { format: 'jsonl', out });
    expect(content(await readJsonlRows(out))).toEqual(content(rows));
  });
});

describe('export openrlhf', () => {
  it('writes {id, input: messages, label, datasource} with a JSON label carrying what the reward needs', async () => {
    const out = join(dir, 'orl.jsonl');
    await exportRows(sample, { format: 'openrlhf', out });
    const lines = await jsonLines(out);
    expect(Object.keys(lines[0]).sort()).toEqual(['datasource', 'id', 'input', 'label']);
    expect(lines[0].input).toEqual(sample[0]!.prompt);
    expect(lines[0].datasource).toBe('math-hard');
    expect(typeof lines[0].label).toBe('string');
    const label = decodeOpenRlhfLabel(lines[0].label);
    expect(label).toEqual({
      ok: true,
      label: {
        id: 'math-hard:test:1',
        data_source: 'math-hard',
        ground_truth: '42',
        extra_info: sample[0]!.extra_info,
      },
    });
  });

  it.skipIf(!HAVE_DATA)(
    'writes labels that gtalign reward serve reads back (/get_reward) into the row it was made from',
    async () => {
      const rows = [
        ...(await loadRows([shippedPath('wildguard', 'test')], { limit: 20 })),
        ...(await loadRows([shippedPath('ambig_qa', 'test')], { limit: 20 })),
      ];
      const out = join(dir, 'orl-served.jsonl');
      await exportRows(rows, { format: 'openrlhf', out });
      const lines = (await readFile(out, 'utf8')).trim().split('\n');
      expect(lines).toHaveLength(rows.length);
      lines.forEach((line, i) => {
        const record = JSON.parse(line) as { label: string };
        const row = rows[i]!;
        // OpenRLHF hands the label string back with the prompt and the prompt + rollout.
        const item = openRlhfItem(i, 'PROMPT<out>', 'PROMPT', record.label, []);
        if ('invalid' in item) throw new Error(item.invalid);
        expect(item.id).toBe(row.id);
        expect(item.sample).toEqual({
          data_source: row.data_source,
          response: '<out>',
          ground_truth: row.ground_truth,
          extra_info: row.extra_info,
        });
      });
      // The bare ground truth is no label the server can use: it says so.
      const bare = toOpenRlhfRecord(rows[0]!, 'ground-truth').label;
      const refused = openRlhfItem(0, 'Pq', 'P', bare, []);
      expect('invalid' in refused ? refused.invalid : '').toMatch(/label/);
    },
  );

  it('with json-with-prompt, the label carries the chat messages a look-ahead policy gets, nothing else changed', () => {
    for (const row of sample) {
      const record = toOpenRlhfRecord(row, 'json-with-prompt');
      expect(record.input).toEqual(row.prompt);
      // OpenRLHF sends the reward server the templated prompt text, not the messages: the label brings them.
      const item = openRlhfItem(0, 'PROMPT<out>', 'PROMPT', record.label, []);
      if ('invalid' in item) throw new Error(item.invalid);
      expect(item.sample.extra_info).toEqual({ ...row.extra_info, prompt: row.prompt });
      expect(samplePrompt(item.sample)).toEqual(row.prompt);
      // The plain json label has no prompt: the policy would fall back to gtalign's wording.
      const plain = openRlhfItem(0, 'PROMPT<out>', 'PROMPT', toOpenRlhfRecord(row).label, []);
      if ('invalid' in plain) throw new Error(plain.invalid);
      expect(samplePrompt(plain.sample)).toBeUndefined();
    }
    // A prompt the row's extra_info holds already is the row's own and is kept.
    const own = { ...sample[0]!, extra_info: { ...sample[0]!.extra_info, prompt: 'kept' } };
    expect(decodeOpenRlhfLabel(toOpenRlhfRecord(own, 'json-with-prompt').label)).toMatchObject({
      ok: true,
      label: { extra_info: { prompt: 'kept' } },
    });
  });

  it('can write the bare ground truth as label', () => {
    expect(toOpenRlhfRecord(sample[1]!, 'ground-truth').label).toBe('1.6');
  });

  it('label decoding names what is wrong and never throws', () => {
    expect(decodeOpenRlhfLabel('42')).toEqual({ ok: false, error: expect.stringContaining('label value') });
    expect(decodeOpenRlhfLabel('{"data_source": "x"}')).toEqual({
      ok: false,
      error: expect.stringContaining('field ground_truth'),
    });
    expect(decodeOpenRlhfLabel('{').ok).toBe(false);
  });
});

describe('export verl', () => {
  it('writes JSONL in the verl layout when the target ends in .jsonl, readable back', async () => {
    const out = join(dir, 'verl.jsonl');
    const result = await exportRows(sample, { format: 'verl', out });
    expect(result.container).toBe('jsonl');
    const first = JSON.parse((await readFile(out, 'utf8')).split('\n')[0]!);
    expect(first).toMatchObject({
      prompt: sample[0]!.prompt,
      data_source: 'math-hard',
      ability: 'math-hard',
      reward_model: { ground_truth: '42', style: 'rule' },
      extra_info: sample[0]!.extra_info,
      source: 'math-hard',
      unique_conv_id: 5,
    });
    expect(content(await readJsonlRows(out))).toEqual(content(sample));
  });

  it.skipIf(!writer)(
    'writes verl parquet that reads back to the same rows, mixed column types as string',
    async () => {
      const out = join(dir, 'verl.parquet');
      const result = await exportRows(sample, { format: 'verl', out });
      expect(result.container).toBe('parquet');
      // conv_id is int64 in one source and string in the other: one schema needs string.
      expect(result.notes).toEqual(['field conv_id mixes int64 | string: written as string']);
      const back = await readRows(out);
      expect(back.map((r) => r.conv_id)).toEqual(['5', 'conv_0']);
      const fix = (rows: DatasetRow[]) => content(rows).map((r) => ({ ...r, conv_id: String(r.conv_id) }));
      expect(fix(back)).toEqual(fix(sample));
      const fields = Object.fromEntries(
        parquetFileFields(await openParquet(out)).map((f) => [f.name, shapeToString(f.shape)]),
      );
      expect(fields.prompt).toBe('list<struct<role: string, content: string>>');
      expect(fields.reward_model).toBe('struct<ground_truth: string, style: string>');
    },
  );

  it.skipIf(!writer)(
    'keeps a whole number past 2^53 (1e20) as a double, not an INT64 it does not fit',
    async () => {
      const out = join(dir, 'big.parquet');
      const big = sample.map((r, i) => ({
        ...r,
        extra_info: { ...r.extra_info, weight: i === 0 ? 1e20 : 3 },
      }));
      await exportRows(big, { format: 'verl', out });
      const back = await readRows(out);
      expect(back.map((r) => r.extra_info.weight)).toEqual([1e20, 3]);
      const fields = Object.fromEntries(
        parquetFileFields(await openParquet(out)).map((f) => [f.name, shapeToString(f.shape)]),
      );
      expect(fields.extra_info).toMatch(/weight: double/);
    },
  );

  it.skipIf(!writer)(
    'keeps a floating-point column a double when the rows exported hold only whole numbers of it',
    async () => {
      const fieldsOf = async (path: string) =>
        Object.fromEntries(
          parquetFileFields(await openParquet(path)).map((f) => [f.name, shapeToString(f.shape)]),
        );
      // A first file whose columns are doubles because one row holds fractions.
      const first = join(dir, 'doubles.parquet');
      const mixed = sample.map((r, i) => ({
        ...r,
        extra_info: { ...r.extra_info, difficulty: i === 0 ? 2.5 : 3, scores: i === 0 ? [0.5] : [1, 2] },
        columns: { ...r.columns, weight: i === 0 ? 0.5 : 2 },
      }));
      await exportRows(mixed, { format: 'verl', out: first });
      expect((await fieldsOf(first)).weight).toBe('double');
      // Its second row alone: 3.0, [1.0, 2.0] and 2.0 read back as whole JavaScript numbers.
      const whole = (await readRows(first)).slice(1);
      const out = join(dir, 'doubles-whole.parquet');
      await exportRows(whole, { format: 'verl', out });
      const fields = await fieldsOf(out);
      expect(fields.weight).toBe('double');
      expect(fields.extra_info).toMatch(/difficulty: double/);
      expect(fields.extra_info).toMatch(/scores: list<double>/);
      expect(fields.extra_info).toMatch(/index: int64/);
      const back = await readRows(out);
      expect(back[0]!.extra_info.difficulty).toBe(3);
      expect(back[0]!.columns?.weight).toBe(2);
    },
  );

  it.skipIf(!writer || !HAVE_DATA)('round-trips every released file through verl parquet', async () => {
    for (const [name, split] of [
      ['math-hard', 'test'],
      ['minerva', 'test'],
      ['ambig_qa', 'train'],
    ] as const) {
      const rows = await readRows(shippedPath(name, split));
      const out = join(dir, `${name}-${split}.parquet`);
      await exportRows(rows, { format: 'verl', out });
      expect(content(await readRows(out))).toEqual(content(rows));
    }
  });
});

describe('export skyrl and areal', () => {
  it('skyrl: prompt, env_class, reward_spec {method, ground_truth}, data_source, extra_info (JSONL by name)', async () => {
    const out = join(dir, 'skyrl.jsonl');
    expect(await exportRows(sample, { format: 'skyrl', out })).toMatchObject({ rows: 2, container: 'jsonl' });
    const lines = await jsonLines(out);
    expect(lines[0]).toEqual({
      id: 'math-hard:test:1',
      data_source: 'math-hard',
      prompt: sample[0]!.prompt,
      env_class: 'gtalign',
      reward_spec: { method: 'rule', ground_truth: '42' },
      extra_info: sample[0]!.extra_info,
      conv_id: 5,
      turn_id: 2,
      adversarial: false,
    });
    expect(lines[1]).toMatchObject({
      env_class: 'gtalign',
      reward_spec: { ground_truth: '1.6' },
      conv_id: 'conv_0',
    });
  });

  it.skipIf(!writer)('skyrl goes to parquet by default, with the columns SkyRL reads', async () => {
    const out = join(dir, 'skyrl.parquet');
    expect((await exportRows(sample, { format: 'skyrl', out })).container).toBe('parquet');
    const fields = Object.fromEntries(
      parquetFileFields(await openParquet(out)).map((f) => [f.name, shapeToString(f.shape)]),
    );
    expect(fields.prompt).toBe('list<struct<role: string, content: string>>');
    expect(fields.env_class).toBe('string');
    expect(fields.reward_spec).toBe('struct<method: string, ground_truth: string>');
    expect(fields.data_source).toBe('string');
  });

  it('areal: messages, data_source, ground_truth, extra_info, one JSON object a line', async () => {
    const out = join(dir, 'areal.jsonl');
    // AReaL rows are always JSONL: a parquet name is refused (see the CLI's usage test).
    await expect(exportRows(sample, { format: 'areal', out: join(dir, 'areal.parquet') })).rejects.toThrow(
      '--format areal writes JSONL, not parquet',
    );
    expect(await exportRows(sample, { format: 'areal', out })).toMatchObject({ rows: 2, container: 'jsonl' });
    const lines = await jsonLines(out);
    expect(lines[1]).toEqual({
      id: 'minerva:train:0',
      data_source: 'minerva',
      messages: [{ role: 'user', content: 'Find x.' }],
      ground_truth: '1.6',
      extra_info: sample[1]!.extra_info,
      conv_id: 'conv_0',
      turn_id: 1,
    });
  });
});

describe('export nemo-rl', () => {
  it('messages, data_source, and the reward inputs as one JSON string in extra_env_info', async () => {
    const out = join(dir, 'nemo.jsonl');
    // NeMo-RL rows are always JSONL: a parquet name is refused.
    await expect(exportRows(sample, { format: 'nemo-rl', out: join(dir, 'nemo.parquet') })).rejects.toThrow(
      '--format nemo-rl writes JSONL, not parquet',
    );
    expect(await exportRows(sample, { format: 'nemo-rl', out })).toMatchObject({
      rows: 2,
      container: 'jsonl',
    });
    const lines = await jsonLines(out);
    expect(lines[1]).toEqual({
      id: 'minerva:train:0',
      data_source: 'minerva',
      messages: [{ role: 'user', content: 'Find x.' }],
      extra_env_info: expect.any(String),
      conv_id: 'conv_0',
      turn_id: 1,
    });
    expect(JSON.parse(lines[1].extra_env_info)).toEqual({
      id: 'minerva:train:0',
      data_source: 'minerva',
      ground_truth: '1.6',
      extra_info: sample[1]!.extra_info,
    });
  });
});

describe('export safety', () => {
  it('refuses to write zero rows and leaves an existing file and no temporary file', async () => {
    const out = join(dir, 'keep', 'kept.jsonl');
    await exportRows(sample, { format: 'jsonl', out });
    const before = await readFile(out, 'utf8');
    await expect(exportRows([], { format: 'jsonl', out })).rejects.toThrow('no rows to export');
    expect(await readFile(out, 'utf8')).toBe(before);
    expect(await readdir(join(dir, 'keep'))).toEqual(['kept.jsonl']);
  });

  it('a failure mid-way (bad input row) leaves the previous file intact', async () => {
    const out = join(dir, 'mid.jsonl');
    await writeFile(out, 'previous\n');
    const bad = join(dir, 'bad.jsonl');
    await writeFile(
      bad,
      `${JSON.stringify({ data_source: 'x', prompt: [{ role: 'user', content: 'q' }], ground_truth: 'g' })}\n{oops\n`,
    );
    async function* rows() {
      for (const r of await loadRows([bad], { limit: 1 })) yield r;
      throw new Error('input broke');
    }
    await expect(exportRows(rows(), { format: 'jsonl', out })).rejects.toThrow('input broke');
    expect(await readFile(out, 'utf8')).toBe('previous\n');
    expect((await readdir(dir)).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it.skipIf(process.platform === 'win32')(
    'refuses a target that is not a regular file (a pipe; /dev/full alike) instead of renaming over it',
    async () => {
      const sub = await mkdtemp(join(dir, 'fifo-'));
      const out = join(sub, 'out.jsonl');
      execFileSync('mkfifo', [out]);
      await expect(exportRows(sample, { format: 'jsonl', out })).rejects.toMatchObject({
        code: 'ERR_NOT_A_REGULAR_FILE',
        path: out,
      });
      expect((await stat(out)).isFIFO()).toBe(true);
      expect(await readdir(sub)).toEqual(['out.jsonl']);
    },
  );
});
