import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openValueSpool } from '../../src/io/value-spool.js';

const tempDir = () => mkdtemp(join(tmpdir(), 'gtalign-spool-'));

async function all(batches: AsyncIterable<unknown[]>): Promise<unknown[][]> {
  const out: unknown[][] = [];
  for await (const b of batches) out.push(b);
  return out;
}

describe('value spool', () => {
  it('gives the values back in order and as they were, in batches bounded by bytes and count', async () => {
    const dir = await tempDir();
    const spool = await openValueSpool(join(dir, 'out.parquet'));
    const values: unknown[] = [];
    for (let i = 0; i < 10; i++) values.push({ i, text: 'x'.repeat(100), nan: Number.NaN, none: undefined });
    let size = 0;
    for (const v of values) size = await spool.append(v);
    expect(spool.count).toBe(10);
    // Three values' bytes per batch (the count allows more).
    const byBytes = await all(spool.batches(3 * size, 100));
    expect(byBytes.map((b) => b.length)).toEqual([3, 3, 3, 1]);
    expect(byBytes.flat()).toEqual(values);
    expect(Object.hasOwn(byBytes[0]![0] as object, 'none')).toBe(true);
    await spool.remove();
    expect(await readdir(dir)).toEqual([]);
  });

  it('ends a batch at the count when the bytes allow more', async () => {
    const spool = await openValueSpool(join(await tempDir(), 'out.parquet'));
    for (let i = 0; i < 10; i++) await spool.append(i);
    expect(await all(spool.batches(1 << 30, 4))).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
    await spool.remove();
  });

  it('reads a value larger than a batch (and than its read block) as a batch of its own', async () => {
    const dir = await tempDir();
    const spool = await openValueSpool(join(dir, 'out.parquet'));
    const big = 'y'.repeat(3 * 1024 * 1024);
    await spool.append('a');
    await spool.append(big);
    await spool.append('b');
    const batches = await all(spool.batches(1024, 10));
    expect(batches).toEqual([['a'], [big], ['b']]);
    await spool.remove();
  });

  it('sits beside its target under the name of a killed write, and is gone once removed', async () => {
    const dir = await tempDir();
    const spool = await openValueSpool(join(dir, 'sub', 'out.parquet'));
    await spool.append(1);
    const names = await readdir(join(dir, 'sub'));
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(new RegExp(`^\\.out\\.parquet\\.${process.pid}\\.[0-9a-f]{8}\\.tmp$`));
    await spool.remove();
    await spool.remove();
    expect(await readdir(join(dir, 'sub'))).toEqual([]);
  });
});
