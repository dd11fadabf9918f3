/**
 * Writes that either write everything or fail: a write may write fewer bytes than asked without an
 * error (a full disk does that), so every write is a loop, and a file that could not be written whole
 * is removed instead of being left half-written.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { type FileOps, nodeFileOps, type OpenFile } from './file-ops.js';
import { refuseSpecialTarget } from './special-target.js';
import { removeStaleTemps } from './stale-temps.js';

/** Writes all of `data` at the file's position: a short write is continued; a write that takes nothing fails. */
export async function writeAll(file: OpenFile, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await file.write(data, offset, data.length - offset);
    if (!(bytesWritten > 0)) {
      throw Object.assign(
        new Error(`the file system took 0 of ${data.length - offset} bytes without an error`),
        { code: 'ESHORTWRITE' },
      );
    }
    offset += bytesWritten;
  }
}

/**
 * Creates `path` (it must not exist) holding `text`. On any failure the file is removed, so no empty or
 * partial file stays behind. Errors are the system's, for the caller to name.
 */
export async function writeNewFile(fs: FileOps, path: string, text: string): Promise<void> {
  const file = await fs.open(path, 'wx');
  try {
    try {
      await writeAll(file, Buffer.from(text, 'utf8'));
    } finally {
      await file.close();
    }
  } catch (err) {
    await fs.unlink(path).catch(() => undefined);
    throw err;
  }
}

/** Makes new directory entries durable; not every platform can open a directory (Windows). */
export async function syncDir(fs: FileOps, dir: string): Promise<void> {
  try {
    const file = await fs.open(dir, fsConstants.O_RDONLY);
    try {
      await file.sync();
    } finally {
      await file.close();
    }
  } catch {
    // best effort
  }
}

/**
 * Writes a file through a temporary name + fsync + rename, so a reader sees the old or the new content.
 * On failure the temporary file is removed and the system's error is rethrown, for the caller to name.
 */
export async function writeFileAtomic(path: string, text: string, fs: FileOps = nodeFileOps): Promise<void> {
  // Unique per call: two writes of one path in one process must not share a temporary file.
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  let file: OpenFile | undefined;
  try {
    file = await fs.open(tmp, 'w');
    await writeAll(file, Buffer.from(text, 'utf8'));
    await file.sync();
    const written = file;
    file = undefined;
    await written.close();
    await refuseSpecialTarget(path);
    await fs.rename(tmp, path);
  } catch (err) {
    await file?.close().catch(() => undefined);
    await fs.unlink(tmp).catch(() => undefined);
    throw err;
  }
  // The new file is in place: what killed writes of it left behind can go.
  await removeStaleTemps(path);
}
