/**
 * One studio per studies folder. A second studio on the same folder (another terminal, another port) would
 * read the ratings once at its start and never see the first one's, so its analysis and export would miss
 * them; and opening a log cuts a last line without its newline, which may be the other studio's append
 * under way. The lock is a file holding the studio's process id; one whose process is gone (a studio
 * killed with kill -9) is taken over.
 */
import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pidAlive } from '../io/pid-alive.js';

export const LOCK_FILE = '.studio.lock';

export class FolderLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FolderLockedError';
  }
}

/** Takes the folder's lock for this process; resolves to its release. */
export async function lockStudiesFolder(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 1; ; attempt++) {
    try {
      const file = await open(path, 'wx', 0o600);
      try {
        await file.writeFile(`${process.pid}\n`);
      } finally {
        await file.close();
      }
      return () => unlink(path).catch(() => undefined);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) throw err;
    }
    const holder = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    if (holder > 0 && holder !== process.pid && pidAlive(holder))
      throw new FolderLockedError(
        `another gtalign studio (process ${holder}) is using the studies folder ${dir}: stop it, or give this one another --study-dir (if no studio runs, delete ${path})`,
      );
    // Left by a studio that is gone: take it over.
    await unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
}
