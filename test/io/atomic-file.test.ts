import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { describeFsFailure } from '../../src/cli/fs-failure.js';
import { openAtomic, writeAtomic } from '../../src/io/atomic-file.js';
import { writeFileAtomic } from '../../src/io/checked-write.js';
import { faultyFs } from '../support/faulty-fs.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtalign-atomic-'));
});

const BIG = 'x'.repeat(3 * (1 << 20) + 17);

describe('atomic files over a file system that fails', () => {
  it('continues short writes: the file holds every byte written', async () => {
    const path = join(dir, 'out.jsonl');
    const fs = faultyFs([
      { on: 'write', index: 0, kind: 'short' },
      { on: 'write', index: 2, kind: 'short' },
    ]);
    const file = await openAtomic(path, fs);
    await file.write(BIG);
    await file.write('tail\n');
    await file.commit();
    expect(await readFile(path, 'utf8')).toBe(`${BIG}tail\n`);
    expect(await readdir(dir)).toEqual(['out.jsonl']);
  });

  it('on a full disk keeps the previous file and leaves no temporary file', async () => {
    const path = join(dir, 'out.jsonl');
    await writeFile(path, 'previous\n');
    for (const fault of [
      { on: 'bytes', limit: 1 << 20 },
      { on: 'sync', index: 0, kind: 'EIO' },
      { on: 'rename', index: 0, kind: 'ENOSPC' },
    ] as const) {
      const file = await openAtomic(path, faultyFs([fault]));
      const done = (async () => {
        await file.write(BIG);
        await file.commit();
      })();
      await expect(done, fault.on).rejects.toMatchObject({ code: expect.stringMatching(/^E/) });
      // The error names the file the caller gave, not the temporary one (the CLI prints it).
      if (fault.on === 'bytes') await expect(done).rejects.toMatchObject({ code: 'ENOSPC', path });
      expect(await readFile(path, 'utf8')).toBe('previous\n');
      expect(await readdir(dir)).toEqual(['out.jsonl']);
    }
  });

  it('writeFileAtomic reports a failed write and removes its temporary file', async () => {
    const path = join(dir, 'metrics.json');
    await expect(
      writeFileAtomic(path, BIG, faultyFs([{ on: 'write', index: 0, kind: 'ENOSPC' }])),
    ).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(await readdir(dir)).toEqual([]);
  });
});

describe.skipIf(process.platform === 'win32')('atomic files never replace what is not a regular file', () => {
  it('refuses a pipe as the target when opened, and one that appears before the commit, leaving it whole', async () => {
    const fifo = join(dir, 'out.jsonl');
    execFileSync('mkfifo', [fifo]);
    await expect(openAtomic(fifo)).rejects.toMatchObject({ code: 'ERR_NOT_A_REGULAR_FILE', path: fifo });
    await expect(writeFileAtomic(fifo, 'text')).rejects.toMatchObject({ code: 'ERR_NOT_A_REGULAR_FILE' });
    const later = join(dir, 'later.jsonl');
    const file = await openAtomic(later);
    await file.write('rows\n');
    execFileSync('mkfifo', [later]);
    await expect(file.commit()).rejects.toMatchObject({ code: 'ERR_NOT_A_REGULAR_FILE', path: later });
    expect((await stat(fifo)).isFIFO()).toBe(true);
    expect((await stat(later)).isFIFO()).toBe(true);
    // No temporary file is left behind.
    expect((await readdir(dir)).sort()).toEqual(['later.jsonl', 'out.jsonl']);
  });

  it("says so in the CLI's words: cannot write FILE: it is not a regular file", async () => {
    const fifo = join(dir, 'report.json');
    execFileSync('mkfifo', [fifo]);
    const err = await writeAtomic(fifo, '{}').catch((e: unknown) => e);
    expect(describeFsFailure(err)).toBe(
      `cannot write ${fifo}: it is not a regular file (a device, a pipe or a socket), and the finished file, renamed into place, would replace it (ERR_NOT_A_REGULAR_FILE)`,
    );
  });
});
