/** Why a file could not be read, in the words every command's "cannot read FILE: …" message uses. */
import { fsFailureReason } from './fs-reason.js';
import { NotUtf8Error } from './utf8.js';

/**
 * "no such file", "is a directory", the line and byte that are not UTF-8, another refusal of the system in
 * words (`permission denied (EACCES)`), or the error's own message.
 */
export function readFailureReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'is a directory';
  if (err instanceof NotUtf8Error) return err.message;
  return fsFailureReason(err) ?? (err instanceof Error ? err.message : String(err));
}
