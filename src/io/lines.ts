/**
 * Line reading for JSONL inputs, shared by every reader of such files (reward score, data sets, runs).
 *
 * - Lines end at LF only. A lone CR is JSON whitespace and may sit between a record's fields, so splitting
 *   there (as `node:readline` does) would cut one record in two; a CR right before the LF is dropped.
 * - A byte-order mark before the first line is an editor's artefact, not data, and is dropped.
 * - A line is bounded: past `maxLineBytes` the reader stops with a {@link LineTooLongError} naming the line,
 *   instead of growing one buffer until V8 refuses the string (about 512 MiB) or the process runs out of
 *   memory.
 */

import { GtalignError } from '../errors.js';
import { formatBytes } from './format-bytes.js';
import { utf8Problem } from './utf8.js';

/** The default bound of one line: half of the longest string V8 makes, so decoding always succeeds. */
export const MAX_LINE_BYTES = 256 * 1024 * 1024;

const LF = 0x0a;
const CR = 0x0d;

/** One line of a file, numbered from 1, without its line ending. */
export interface NumberedLine {
  line: number;
  text: string;
  /**
   * Set when the line's bytes are not UTF-8 (io/utf8.ts): what is wrong. `text` then holds U+FFFD for the
   * bad bytes, for showing only: a reader reports the line instead of using it.
   */
  notUtf8?: string;
}

/** A line longer than the reader's bound; `source` and `line` say where it starts. */
export class LineTooLongError extends GtalignError {
  readonly code = 'limit';
  constructor(
    readonly source: string,
    readonly line: number,
    readonly limit: number,
  ) {
    super(
      `${source}:${line}: the line is longer than ${formatBytes(limit)}, the most one record may hold; ` +
        'check that the file is JSONL (one record per line) and split or shorten this record',
    );
    this.name = 'LineTooLongError';
  }
}

export interface ReadLinesOptions {
  /** The file's name in error messages. */
  name: string;
  /** The longest line accepted, in bytes (default {@link MAX_LINE_BYTES}). */
  maxLineBytes?: number;
}

const decoder = new TextDecoder('utf-8');

function toBuffer(piece: Uint8Array | string): Buffer {
  return typeof piece === 'string'
    ? Buffer.from(piece, 'utf8')
    : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
}

/**
 * Yields every line of a byte stream, blank ones included (callers skip them but keep the numbering).
 * Decoding happens per line: an LF byte never occurs inside a multi-byte UTF-8 sequence, so a line's
 * bytes always decode on their own.
 */
export async function* readLines(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  options: ReadLinesOptions,
): AsyncGenerator<NumberedLine> {
  const limit = options.maxLineBytes ?? MAX_LINE_BYTES;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let line = 1;
  const finish = (last: Buffer | undefined): NumberedLine => {
    let bytes =
      pending.length === 0 && last !== undefined ? last : Buffer.concat(last ? [...pending, last] : pending);
    if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
    let text = decoder.decode(bytes);
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    pending = [];
    pendingBytes = 0;
    const notUtf8 = utf8Problem(bytes);
    return notUtf8 === undefined ? { line: line++, text } : { line: line++, text, notUtf8 };
  };
  for await (const piece of source) {
    const buf = toBuffer(piece);
    let start = 0;
    for (let end = buf.indexOf(LF); end >= 0; end = buf.indexOf(LF, start)) {
      if (pendingBytes + (end - start) > limit) throw new LineTooLongError(options.name, line, limit);
      yield finish(buf.subarray(start, end));
      start = end + 1;
    }
    if (start < buf.length) {
      pendingBytes += buf.length - start;
      if (pendingBytes > limit) throw new LineTooLongError(options.name, line, limit);
      // A copy: the stream may reuse its buffer for the next chunk.
      pending.push(Buffer.from(buf.subarray(start)));
    }
  }
  if (pendingBytes > 0) yield finish(undefined);
}
