import { readFile } from 'node:fs/promises';
import { readFailureReason } from '../io/read-failure.js';
import { fileUtf8Problem } from '../io/utf8.js';
import type { InputStream, OutputStream } from './command.js';
import { InputError } from './errors.js';

/** Reads a whole file, or `stdin` when the path is `-` or absent. */
export async function readInput(
  path: string | undefined,
  stdin: InputStream,
): Promise<{ name: string; text: string }> {
  let name: string;
  let bytes: Buffer;
  if (path === undefined || path === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    name = '<stdin>';
    bytes = Buffer.concat(chunks);
  } else {
    name = path;
    try {
      bytes = await readFile(path);
    } catch (err) {
      throw new InputError(`cannot read ${path}: ${readFailureReason(err)}`);
    }
  }
  const bad = fileUtf8Problem(bytes);
  if (bad !== undefined) throw new InputError(`${name}:${bad.line}: ${bad.problem}`);
  return { name, text: bytes.toString('utf8') };
}

/** Splits text into lines with 1-based line numbers, skipping blank lines. */
export function nonBlankLines(text: string): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i]!.replace(/\r$/, '');
    if (t.trim() !== '') out.push({ line: i + 1, text: t });
  }
  return out;
}

/** Writes to `stream` (stdout) and waits for the drain so large outputs are not cut off by process.exit. */
export function writeOut(stream: OutputStream, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(text, (err) => (err ? reject(err) : resolve()));
  });
}
