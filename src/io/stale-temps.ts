/**
 * The temporary files a killed writer left beside a target. A file written under a temporary name and
 * renamed into place (atomic-file.ts, checked-write.ts) leaves that temporary file behind when its process
 * is killed before the rename (kill -9, a power cut): `.NAME.PID.HEX.tmp` or `NAME.PID.HEX.tmp`. Once a
 * later write of the same target is in place, those of a process that no longer runs are removed.
 *
 * Only names of exactly that shape, for that target, in its folder, are touched, and only when their
 * process is gone: a writer still running (another command writing the same target) keeps its file. A
 * pid reused by an unrelated process keeps the file too, which errs on the side of keeping it.
 */
import { readdir, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pidAlive } from './pid-alive.js';

/** `[.]NAME.PID.HEX.tmp` for the target's NAME: the pid in group 1. */
function tempPattern(name: string): RegExp {
  const literal = name.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
  return new RegExp(`^\\.?${literal}\\.(\\d{1,10})\\.[0-9a-f]{8,12}\\.tmp$`);
}

/**
 * Removes the temporary files of `path` left by processes that no longer run; returns their names.
 * Best effort: a folder that cannot be listed or a file that cannot be removed is left as it is.
 */
export async function removeStaleTemps(path: string): Promise<string[]> {
  const dir = dirname(path) || '.';
  const pattern = tempPattern(basename(path));
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = Number(pattern.exec(name)?.[1] ?? Number.NaN);
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || pidAlive(pid)) continue;
    try {
      await unlink(join(dir, name));
      removed.push(name);
    } catch {
      // gone already, or not ours to remove
    }
  }
  return removed;
}
