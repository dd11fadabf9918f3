/**
 * A file operation the machine refused (a full disk, a read-only folder, a path through a file) is the
 * user's to fix, not a bug in gtalign: commands that do not catch it themselves still end with one line
 * naming the file and the reason, exit status 1, instead of "internal error" and a stack trace.
 */

import { fsFailureReason } from '../io/fs-reason.js';

/** Syscalls that read: their failures say "cannot read"; `open`'s "cannot open", the others "cannot write". */
const READS = new Set(['read', 'stat', 'lstat', 'fstat', 'scandir', 'readlink', 'access']);

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
