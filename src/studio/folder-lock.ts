/**
 * One studio per studies folder. A second studio on the same folder (another terminal, another port) would
 * read the ratings once at its start and never see the first one's, so its analysis and export would miss
 * them; and opening a log cuts a last line without its newline, which may be the other studio's append
 * under way. The lock is a file holding the studio's process id; one whose process is gone (a studio
 * killed with kill -9) is taken over.
 */
import { join } from 'node:path';
import { takePidLock } from '../io/pid-lock.js';

export const LOCK_FILE = '.studio.lock';

export class FolderLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FolderLockedError';
  }
}

/** Takes the folder's lock for this process (io/pid-lock.ts, as the run store does); resolves to its release. */
export function lockStudiesFolder(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, LOCK_FILE);
  return takePidLock(path, {
    busy: (holder) =>
      new FolderLockedError(
        `another gtalign studio (process ${holder}) is using the studies folder ${dir}: stop it, or give this one another --study-dir (if no studio runs, delete ${path})`,
      ),
  });
}
