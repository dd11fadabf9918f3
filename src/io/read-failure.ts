/** Why a file could not be read, in the words an error message about it uses. */
import { NotUtf8Error } from './utf8.js';

/** "no such file", "is a directory", the line and byte that are not UTF-8, or the error itself. */
export function readFailureReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'is a directory';
  if (err instanceof NotUtf8Error) return err.message;
  return String(err);
}
