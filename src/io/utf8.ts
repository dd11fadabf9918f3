/**
 * Input text must be UTF-8 (JSON text is, by RFC 8259). A decoder that is not fatal turns every byte it
 * cannot read into U+FFFD, so a file saved as Latin-1 or Windows-1252 would be scored, exported or sent
 * on with its accented letters silently replaced. Readers check first: `isUtf8` is native and costs about
 * 0.2 µs on a 4 KB line; only on failure is the first bad byte looked for, to name it.
 */
import { isUtf8 } from 'node:buffer';
import { open, readFile } from 'node:fs/promises';
import { formatBytes } from './format-bytes.js';

/** A file that is not UTF-8; the message names the line and the byte (`line 3: not valid UTF-8: …`). */
export class NotUtf8Error extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotUtf8Error';
  }
}

/** A file past the bound its reader set; the message says how large it may be. */
export class FileTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`the file is larger than ${formatBytes(maxBytes)}, the most it may hold`);
    this.name = 'FileTooLargeError';
  }
}

/** The file's bytes, or a {@link FileTooLargeError} once more than `maxBytes` are read (no more are). */
async function readAtMost(path: string, maxBytes: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let size = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(1 << 20, maxBytes + 1 - size));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) return Buffer.concat(chunks, size);
      size += bytesRead;
      if (size > maxBytes) throw new FileTooLargeError(maxBytes);
      chunks.push(chunk.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
}

/**
 * A whole text file (a config, a policy, a persona file), read as UTF-8 or refused with a
 * {@link NotUtf8Error}; errors of the read itself (ENOENT…) are thrown as they come. With `maxBytes`, a
 * larger file is refused with a {@link FileTooLargeError} after reading one byte past the bound.
 */
export async function readUtf8File(path: string, maxBytes?: number): Promise<string> {
  const bytes = maxBytes === undefined ? await readFile(path) : await readAtMost(path, maxBytes);
  const bad = fileUtf8Problem(bytes);
  if (bad !== undefined) throw new NotUtf8Error(`line ${bad.line}: ${bad.problem}`);
  return bytes.toString('utf8');
}

/** Why `bytes` are not UTF-8, naming the first bad byte (1-based) of `what`; undefined when they are. */
export function utf8Problem(bytes: Uint8Array, what = 'the line'): string | undefined {
  if (isUtf8(bytes)) return undefined;
  const { at, cut } = firstBadByte(bytes);
  const hex = `0x${bytes[at]!.toString(16).toUpperCase().padStart(2, '0')}`;
  const where = cut
    ? `${what} ends inside the character that starts at byte ${at + 1} (${hex})`
    : `byte ${at + 1} of ${what} (${hex}) does not start a valid character`;
  return `not valid UTF-8: ${where}; JSON text must be UTF-8 (was it written as Latin-1 or Windows-1252?)`;
}

/**
 * Where a whole file's bytes stop being UTF-8: the 1-based line and what is wrong on it; undefined when
 * they are UTF-8.
 */
export function fileUtf8Problem(bytes: Uint8Array): { line: number; problem: string } | undefined {
  if (isUtf8(bytes)) return undefined;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = firstBadByte(bytes).at;
  const start = buf.lastIndexOf(0x0a, bad) + 1;
  let end = buf.indexOf(0x0a, bad);
  if (end < 0) end = buf.length;
  let line = 1;
  for (let at = buf.indexOf(0x0a); at >= 0 && at < start; at = buf.indexOf(0x0a, at + 1)) line++;
  return { line, problem: utf8Problem(buf.subarray(start, end)) ?? 'not valid UTF-8' };
}

/**
 * Where the first ill-formed sequence starts (the Unicode Standard's table 3-7): everything before `at` is
 * UTF-8. `cut`: the bytes end inside a sequence that was well-formed so far.
 */
function firstBadByte(bytes: Uint8Array): { at: number; cut: boolean } {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    // The sequence length and the range of its second byte, by its first.
    let length: number;
    let low = 0x80;
    let high = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) length = 2;
    else if (b >= 0xe0 && b <= 0xef) {
      length = 3;
      if (b === 0xe0) low = 0xa0; // no overlong forms
      if (b === 0xed) high = 0x9f; // no surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      length = 4;
      if (b === 0xf0) low = 0x90; // no overlong forms
      if (b === 0xf4) high = 0x8f; // nothing past U+10FFFF
    } else return { at: i, cut: false };
    for (let k = 1; k < length; k++) {
      if (i + k >= n) return { at: i, cut: true };
      const c = bytes[i + k]!;
      if (k === 1 ? c < low || c > high : c < 0x80 || c > 0xbf) return { at: i, cut: false };
    }
    i += length;
  }
  return { at: Math.max(0, n - 1), cut: false };
}
