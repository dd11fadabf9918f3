import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { expandInputs } from '../../src/data/load.js';

// A folder root can still read (these tests run as root in CI): readdir is made to refuse one folder the
// way it refuses a user without the permission. The module mock needs a module graph of this file's own
// (vitest.config.ts: OWN_MODULES).
const refused = new Set<string>();
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const readdir = (async (path: string, options?: unknown) => {
    if (refused.has(String(path)))
      throw Object.assign(new Error(`EACCES: permission denied, scandir '${path}'`), {
        code: 'EACCES',
        syscall: 'scandir',
        path,
      });
    return (real.readdir as (p: string, o?: unknown) => Promise<unknown>)(path, options);
  }) as typeof real.readdir;
  return { ...real, readdir };
});

afterEach(() => refused.clear());

describe('data inputs in folders that cannot be read', () => {
  it('names the folder and the reason instead of finding no files in it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gtalign-unreadable-'));
    await mkdir(join(dir, 'sets', 'math'), { recursive: true });
    await writeFile(join(dir, 'sets', 'math', 'test.jsonl'), '{}\n');
    await writeFile(join(dir, 'sets', 'top.jsonl'), '{}\n');
    expect(await expandInputs([join(dir, 'sets')])).toEqual([
      join(dir, 'sets', 'math', 'test.jsonl'),
      join(dir, 'sets', 'top.jsonl'),
    ]);
    refused.add(join(dir, 'sets', 'math'));
    // A folder given, a folder under it, a glob through it: each says which folder and why.
    const message = `cannot read the folder ${join(dir, 'sets', 'math')}: permission denied (EACCES)`;
    await expect(expandInputs([join(dir, 'sets')])).rejects.toThrow(message);
    await expect(expandInputs([join(dir, 'sets', '**', '*.jsonl')])).rejects.toThrow(message);
    await expect(expandInputs([join(dir, 'sets', 'math', '*.jsonl')])).rejects.toThrow(message);
    // A glob's literal segment that is not there still matches nothing.
    await expect(expandInputs([join(dir, 'nothing', '*.jsonl')])).rejects.toThrow(/no files match/);
  });
});
