/**
 * A file written under a temporary name beside its target and renamed into place on `commit`, so that a
 * reader never sees half a file and a failed write leaves the previous file intact. Every write is
 * checked (a short write is continued, see checked-write.ts) and the data is synced before the rename.
 */
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { syncDir, writeAll } from './checked-write.js';
import { type FileOps, nodeFileOps, type OpenFile } from './file-ops.js';
import { refuseSpecialTarget } from './special-target.js';
import { removeStaleTemps } from './stale-temps.js';

export interface AtomicFile {
  write(data: string | Uint8Array): Promise<void>;
  /** Flushes, syncs and renames the file into place. */
  commit(): Promise<void>;
  /** Drops the temporary file; the target is left as it was (a failed write or commit does it already). */
  abort(): Promise<void>;
}

/** Small writes are gathered into blocks of this size. */
const BLOCK_BYTES = 1 << 20;

export interface AtomicOptions {
  /**
   * Leave the temporary files of killed writes of this target alone (default: removed once the new file
   * is in place, see stale-temps.ts, which lists the folder). For stores that write many files into one
   * folder, one per key: a listing per write would make filling the folder quadratic.
   */
  keepStaleTemps?: boolean;
}

export async function openAtomic(
  path: string,
  fs: FileOps = nodeFileOps,
  options: AtomicOptions = {},
): Promise<AtomicFile> {
  await refuseSpecialTarget(path);
  const dir = dirname(path) || '.';
  await fs.mkdir(dir, { recursive: true });
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let file: OpenFile | undefined = await fs.open(temp, 'w');
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    if (pendingBytes === 0 || file === undefined) return;
    const block = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    try {
      await writeAll(file, block);
    } catch (err) {
      // A write through an open file names no file, or the temporary one (a full disk's ENOSPC): name
      // the one the user gave.
      const e = err as NodeJS.ErrnoException;
      if (typeof e === 'object' && e !== null && (e.path === undefined || e.path === temp)) e.path = path;
      throw err;
    }
  };
  const abort = async (): Promise<void> => {
    await file?.close().catch(() => undefined);
    file = undefined;
    await fs.unlink(temp).catch(() => undefined);
  };
  return {
    async write(data) {
      if (file === undefined) throw new Error(`${path}: write after commit or abort`);
      const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
      pending.push(buf);
      pendingBytes += buf.length;
      if (pendingBytes < BLOCK_BYTES) return;
      try {
        await flush();
      } catch (err) {
        // Nothing more can go into this file: drop it now, so no temporary file outlives the error.
        await abort();
        throw err;
      }
    },
    async commit() {
      try {
        await flush();
        await file!.sync();
        const done = file!;
        file = undefined;
        await done.close();
        // Checked again: the target may have appeared while the file was written.
        await refuseSpecialTarget(path);
        await fs.rename(temp, path);
      } catch (err) {
        await abort();
        throw err;
      }
      await syncDir(fs, dir);
      // The new file is in place: what killed writes of it left behind can go.
      if (options.keepStaleTemps !== true) await removeStaleTemps(path);
    },
    abort,
  };
}

/** Writes `data` as the whole new content of `path`, atomically (see {@link openAtomic}). */
export async function writeAtomic(
  path: string,
  data: string | Uint8Array,
  fs: FileOps = nodeFileOps,
  options: AtomicOptions = {},
): Promise<void> {
  const file = await openAtomic(path, fs, options);
  try {
    await file.write(data);
    await file.commit();
  } catch (err) {
    await file.abort();
    throw err;
  }
}
