/** A file written beside its target and renamed into place must not replace a device, a pipe or a socket. */
import { stat } from 'node:fs/promises';
import { NOT_A_REGULAR_FILE } from './fs-reason.js';

/**
 * Refuses a target that is there and is neither a regular file nor a folder: a device such as /dev/full or
 * /dev/null, a pipe, a socket, or a link to one. The finished file is renamed into place, which would put a
 * regular file where the device was (as root, even /dev/null). A folder is refused by the rename itself.
 */
export async function refuseSpecialTarget(path: string): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined || info.isFile() || info.isDirectory()) return;
  throw Object.assign(new Error(`${path}: not a regular file, a temporary file would be renamed over it`), {
    code: NOT_A_REGULAR_FILE,
    syscall: 'rename',
    path,
  });
}
