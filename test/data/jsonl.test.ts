import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DataError } from '../../src/data/errors.js';
import { iterateJsonlRows, readJsonlRows } from '../../src/data/jsonl.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-jsonl-'));
});

async function file(name: string, lines: unknown[]): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n'));
  return path;
}

const verlLine = (i: number) => ({
  prompt: [{ role: 'user', content: `question ${i}` }],
  data_source: 'wildguard',
  reward_model: { ground_truth: 'harmful', style: 'rule' },
  extra_info: { index: i, split: 'test' },
});

const flatLine = (id: string) => ({
  id,
  data_source: 'ambig_qa',
  prompt: [{ role: 'user', content: 'q' }],
  ground_truth: 'singleAnswer###1988',
  extra_info: {},
});

describe('JSONL reader', () => {
  it('reads verl and flat lines, skipping blank lines, with line numbers', async () => {
    const path = await file('mixed.jsonl', [verlLine(0), '', '   ', flatLine('q7'), verlLine(1)]);
    const rows = await readJsonlRows(path);
    expect(rows.map((r) => r.id)).toEqual(['wildguard:test:0', 'q7', 'wildguard:test:1']);
    expect(rows.map((r) => r.source)).toEqual([
      { file: path, row: 0, line: 1 },
      { file: path, row: 1, line: 4 },
      { file: path, row: 2, line: 5 },
    ]);
    expect(rows[0]).toMatchObject({
      ground_truth: 'harmful',
      reward_style: 'rule',
      prompt: [{ role: 'user' }],
    });
  });

  it('names the line of invalid JSON', async () => {
    const path = await file('badjson.jsonl', [verlLine(0), '{"prompt": [', verlLine(2)]);
    const err = await readJsonlRows(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as Error).message).toMatch(new RegExp(`^${path}:2: not valid JSON`));
  });

  it('names the line and byte of a record that is not UTF-8, instead of reading it with U+FFFD', async () => {
    const path = join(dir, 'latin1.jsonl');
    const latin = JSON.stringify({ ...verlLine(1), extra: 'naïve' });
    await writeFile(path, Buffer.from(`${JSON.stringify(verlLine(0))}\n${latin}`, 'latin1'));
    const err = await readJsonlRows(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^${path}:2: not valid UTF-8: byte \\d+ of the line \\(0xEF\\) does not start a valid character`,
      ),
    );
  });

  it('names the line and field of a record that does not validate', async () => {
    const bad = { ...verlLine(3), prompt: [{ role: 'user', content: 5 }] };
    const path = await file('badfield.jsonl', [verlLine(0), verlLine(1), '', bad]);
    await expect(readJsonlRows(path)).rejects.toThrow(`${path}:4: field prompt.0.content`);
  });

  it('names a missing ground truth in either layout', async () => {
    const { reward_model: _drop, ...noTruth } = verlLine(0);
    const path = await file('notruth.jsonl', [noTruth]);
    await expect(readJsonlRows(path)).rejects.toThrow(
      `${path}:1: field reward_model.ground_truth (verl layout)`,
    );
  });

  it('offset and limit count records, not lines', async () => {
    const path = await file('range.jsonl', [verlLine(0), '', verlLine(1), verlLine(2), '', verlLine(3)]);
    const rows = await readJsonlRows(path, { offset: 1, limit: 2 });
    expect(rows.map((r) => [r.id, r.source.line])).toEqual([
      ['wildguard:test:1', 3],
      ['wildguard:test:2', 4],
    ]);
  });

  it('stops reading at the limit (a bad line after it is never reached)', async () => {
    const path = await file('early.jsonl', [verlLine(0), 'not json']);
    const rows: unknown[] = [];
    for await (const r of iterateJsonlRows(path, { limit: 1 })) rows.push(r);
    expect(rows).toHaveLength(1);
  });

  it('accepts a byte-order mark and CRLF line ends', async () => {
    const path = join(dir, 'bom.jsonl');
    await writeFile(path, `\uFEFF${JSON.stringify(verlLine(0))}\r\n${JSON.stringify(verlLine(1))}\r\n`);
    expect((await readJsonlRows(path)).map((r) => r.id)).toEqual(['wildguard:test:0', 'wildguard:test:1']);
  });

  it('names a missing file', async () => {
    await expect(readJsonlRows(join(dir, 'nope.jsonl'))).rejects.toThrow('no such file');
  });
});
