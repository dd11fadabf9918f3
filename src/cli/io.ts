import { createReadStream } from 'node:fs';
import { formatBytes } from '../io/format-bytes.js';
import { readFailureReason } from '../io/read-failure.js';
import { fileUtf8Problem } from '../io/utf8.js';
import type { InputStream, OutputStream } from './command.js';
import { InputError } from './errors.js';

/**
 * The most a command that reads its whole input at once takes (`game analyze`): the text, its lines, the
 * parsed games and the report all sit in memory, and past about 512 MiB V8 cannot even make the string.
 */
export const MAX_INPUT_BYTES = 64 * 1024 * 1024;

/**
 * Reads a whole file, or `stdin` when the path is `-` or absent, refusing more than `maxBytes` (default
 * {@link MAX_INPUT_BYTES}) by name: reading stops there, so a huge file costs no more than the bound.
 */
export async function readInput(
  path: string | undefined,
  stdin: InputStream,
  maxBytes = MAX_INPUT_BYTES,
): Promise<{ name: string; text: string }> {
  const fromStdin = path === undefined || path === '-';
  const name = fromStdin ? '<stdin>' : path;
  const source = fromStdin ? stdin : createReadStream(path);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of source) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      size += bytes.length;
      if (size > maxBytes) {
        throw new InputError(
          `${name}: the input is larger than ${formatBytes(maxBytes)}, the most this command reads at once; ` +
            'split it into smaller files (JSONL splits at any line: split -l 100000 FILE part-)',
        );
      }
      chunks.push(bytes);
    }
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read ${name}: ${readFailureReason(err)}`);
  } finally {
    if (!fromStdin) (source as ReturnType<typeof createReadStream>).destroy();
  }
  const bytes = Buffer.concat(chunks);
  const bad = fileUtf8Problem(bytes);
  if (bad !== undefined) throw new InputError(`${name}:${bad.line}: ${bad.problem}`);
  const text = bytes.toString('utf8');
  // A byte order mark is an editor's artefact, not data: JSONL's first line would not parse with it.
  return { name, text: text.charCodeAt(0) === 0xfeff ? text.slice(1) : text };
}

/**
 * The lines of `text` with 1-based line numbers, skipping blank lines, one at a time (a large input's lines
 * are not all held at once).
 */
export function* nonBlankLines(text: string): Generator<{ line: number; text: string }> {
  let start = 0;
  for (let line = 1; start <= text.length; line++) {
    const end = text.indexOf('\n', start);
    const stop = end < 0 ? text.length : end;
    const t = text.slice(start, stop > start && text.charCodeAt(stop - 1) === 13 ? stop - 1 : stop);
    if (t.trim() !== '') yield { line, text: t };
    if (end < 0) return;
    start = end + 1;
  }
}

/** Writes to `stream` (stdout) and waits for the drain so large outputs are not cut off by process.exit. */
export function writeOut(stream: OutputStream, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(text, (err) => (err ? reject(err) : resolve()));
  });
}
