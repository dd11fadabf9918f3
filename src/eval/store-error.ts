/**
 * Errors of the run store. A failed file operation (a full disk, an I/O error, a read-only folder) is a
 * {@link RunStoreIoError}: it names the file, the system's code, and what the user does next, so the CLI
 * reports it as one line with exit 1, not as an internal error.
 */

import { type ErrorCode, GtalignError } from '../errors.js';

/** A problem with a run folder that the user must fix (exit 1 in the CLI). */
export class RunStoreError extends GtalignError {
  get code(): ErrorCode {
    return 'input';
  }
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RunStoreError';
  }
}

/** A file operation of the run store failed; `file` is the file it was for, `systemCode` the system's code. */
export class RunStoreIoError extends RunStoreError {
  override get code(): ErrorCode {
    return 'io';
  }
  constructor(
    readonly file: string,
    /** The system's error code (ENOSPC, EIO, …). */
    readonly systemCode: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RunStoreIoError';
  }
}

/** A system error (it has an `E…` code), as opposed to a bug. */
export function isSystemError(err: unknown): err is NodeJS.ErrnoException & { code: string } {
  return (
    err instanceof Error &&
    typeof (err as NodeJS.ErrnoException).code === 'string' &&
    /^E[A-Z0-9]+$/.test((err as NodeJS.ErrnoException).code!)
  );
}

const REASONS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'input/output error (the disk or network file system failed)',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of the path is not a folder',
  EISDIR: 'is a folder',
  EMFILE: 'too many open files',
};

function adviceFor(code: string): string {
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
    case 'ESHORTWRITE':
      return 'free space, then run again with --resume';
    case 'EIO':
      return 'check the disk, then run again with --resume';
    case 'EROFS':
    case 'EACCES':
    case 'EPERM':
      return 'make the run folder writable (or choose another --out), then run again with --resume';
    default:
      return 'fix the cause, then run again with --resume';
  }
}

/**
 * `err` as the user sees it: a system error becomes a {@link RunStoreIoError} ("cannot `doing` `file`:
 * reason (CODE); what to do"); anything else (a bug) is returned as it is. `note` goes before the advice.
 */
export function storeIoError(err: unknown, doing: string, file: string, note?: string): unknown {
  if (err instanceof RunStoreError || !isSystemError(err)) return err;
  const reason = REASONS[err.code] ?? err.message;
  const parts = [`cannot ${doing} ${file}: ${reason} (${err.code})`];
  if (note !== undefined) parts.push(note);
  parts.push(adviceFor(err.code));
  return new RunStoreIoError(file, err.code, parts.join('; '), { cause: err });
}

/** Runs one file operation; a system error becomes a {@link RunStoreIoError} naming `file`. */
export async function fileOp<T>(doing: string, file: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw storeIoError(err, doing, file);
  }
}
