/**
 * A lock file holding its process's id, for one writer of a folder at a time (the run store, the studio's
 * studies folder). A lock whose process no longer runs (a kill -9) is taken over; so is one naming this
 * process's own pid that this process does not hold (a container restarted with the same pid).
 */
import { randomBytes } from 'node:crypto';
import { writeNewFile } from './checked-write.js';
import { type FileOps, nodeFileOps } from './file-ops.js';
import { pidAlive } from './pid-alive.js';

/** Codes of a file system that cannot make hard links. */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * Creates the lock file with its content in one step: the pid is written to a private file that is then
 * hard-linked to the lock's name (a link fails if the name exists). So no other process ever sees an
 * empty lock and mistakes it for a stale one. Where links are not supported, falls back to `wx`. A
 * failure (a full disk) leaves nothing behind: the private file is always removed, and a lock this call
 * created but could not write whole is removed too. False when the lock exists.
 */
export async function createPidLockFile(fs: FileOps, path: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await writeNewFile(fs, tmp, `${process.pid}\n`);
    await fs.link(tmp, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (!NO_LINKS.has(code)) throw err;
  } finally {
    await fs.unlink(tmp).catch(() => undefined);
  }
  try {
    await writeNewFile(fs, path, `${process.pid}\n`);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

export interface PidLockOptions {
  fs?: FileOps;
  /** Creates the lock file (default {@link createPidLockFile}); the run store wraps it to name its errors. */
  create?: (path: string) => Promise<boolean>;
  /** The error for a lock held by the running process `pid`. */
  busy: (pid: number) => Error;
}

/** The pid of another running process holding the lock at `path`, or undefined (no lock, or a stale one). */
export async function lockHolder(path: string, fs: FileOps = nodeFileOps): Promise<number | undefined> {
  const text = await fs.readFile(path).then(
    (b) => b.toString('utf8'),
    () => '',
  );
  const pid = Number.parseInt(text, 10);
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid) ? pid : undefined;
}

/**
 * Takes the lock at `path`; resolves to its release. A lock held by another running process is refused
 * with `busy(pid)`; a stale one is removed and taken (three tries, for two processes taking it at once).
 */
export async function takePidLock(path: string, options: PidLockOptions): Promise<() => Promise<void>> {
  const fs = options.fs ?? nodeFileOps;
  const create = options.create ?? ((p: string) => createPidLockFile(fs, p));
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await create(path)) return () => fs.unlink(path).catch(() => undefined);
    const pid = await lockHolder(path, fs);
    if (pid !== undefined) throw options.busy(pid);
    await fs.unlink(path).catch(() => undefined);
  }
  throw new Error(`cannot take the lock ${path}`);
}
