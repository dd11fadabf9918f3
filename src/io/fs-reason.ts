/** Why a file operation failed, in words a user can act on (`no space left on the device (ENOSPC)`). */

/**
 * The code of the error for a target that is there and is not a regular file (see atomic-file.ts): no
 * system call fails on it, so gtalign names it.
 */
export const NOT_A_REGULAR_FILE = 'ERR_NOT_A_REGULAR_FILE';

const REASONS: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
  EFBIG: 'the file would pass the size limit (ulimit -f, or the file system)',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is a file, not a directory',
  EEXIST: 'something that is not a directory is already there',
  ENOENT: 'no such file or directory',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many levels of symbolic links (a link loop?)',
  EMFILE: 'too many open files',
  EIO: 'an input/output error',
  [NOT_A_REGULAR_FILE]:
    'it is not a regular file (a device, a pipe or a socket), and the finished file, renamed into place, would replace it',
};

/**
 * The reason a file operation's system error gives (`no space left on the device (ENOSPC)`), as the CLI's
 * one-line file errors (cli/fs-failure.ts) and the studio's logs word it, for callers that name the file
 * themselves (a write's error carries no path); undefined when `err` is not such an error.
 */
export function fsFailureReason(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code !== 'string' || !Object.hasOwn(REASONS, code)) return undefined;
  return `${REASONS[code]} (${code})`;
}
