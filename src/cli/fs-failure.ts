/**
 * A file operation the machine refused (a full disk, a read-only folder, a path through a file) is the
 * user's to fix, not a bug in gtalign: commands that do not catch it themselves still end with one line
 * naming the file and the reason, exit status 1, instead of "internal error" and a stack trace.
 */

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
  EMFILE: 'too many open files',
  EIO: 'an input/output error',
};

/** Syscalls that read: their failures say "cannot read"; `open`'s "cannot open", the others "cannot write". */
const READS = new Set(['read', 'stat', 'lstat', 'fstat', 'scandir', 'readlink', 'access']);

/**
 * The reason a file operation's system error gives, in the words of {@link describeFsFailure} (`no space
 * left on the device (ENOSPC)`), for callers that name the file themselves (a write's error carries no
 * path); undefined when `err` is not such an error.
 */
export function fsFailureReason(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code !== 'string' || !Object.hasOwn(REASONS, code)) return undefined;
  return `${REASONS[code]} (${code})`;
}

/** The line for a file operation's system error, or undefined when `err` is not one. */
export function describeFsFailure(err: unknown): string | undefined {
  const reason = fsFailureReason(err);
  const e = err as NodeJS.ErrnoException & { dest?: string };
  if (reason === undefined || typeof e.syscall !== 'string' || typeof e.path !== 'string') return undefined;
  // A rename's destination is the file the user named; its source is a temporary file beside it.
  const path = e.syscall === 'rename' && typeof e.dest === 'string' ? e.dest : e.path;
  const verb = READS.has(e.syscall) ? 'read' : e.syscall === 'open' ? 'open' : 'write';
  return `cannot ${verb} ${path}: ${reason}`;
}
