/**
 * Reading input bytes into memory the caller owns. A block reader (the offline reward pool) fills buffers
 * it later hands to worker threads; reading a file straight into them skips the copy from a read stream's
 * pieces, and the fresh memory each of those pieces is (page faults on every 4 KiB), which together cost
 * more CPU than the newline search the reading thread does.
 */

import { type FileHandle, open } from 'node:fs/promises';

/** A source of bytes that writes into a buffer it is given. */
export interface ByteReader {
  /** Reads up to `length` bytes into `into` at `at`; 0 at the end of the input. */
  readInto(into: Uint8Array, at: number, length: number): Promise<number>;
  /** Releases the source (closes the file, ends the stream) before its end is read. */
  close(): Promise<void>;
}

export function isByteReader(source: unknown): source is ByteReader {
  return typeof (source as Partial<ByteReader> | null)?.readInto === 'function';
}

/** The pieces of a stream, copied into the caller's buffers (one copy, the least a stream allows). */
export function streamByteReader(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
): ByteReader {
  const pieces =
    Symbol.asyncIterator in source
      ? source[Symbol.asyncIterator]()
      : (source as Iterable<Uint8Array | string>)[Symbol.iterator]();
  let piece: Uint8Array = new Uint8Array(0);
  let at = 0;
  let ended = false;
  return {
    async readInto(into, offset, length) {
      while (at >= piece.length) {
        if (ended) return 0;
        const next = await pieces.next();
        if (next.done === true) {
          ended = true;
          return 0;
        }
        piece = typeof next.value === 'string' ? Buffer.from(next.value, 'utf8') : next.value;
        at = 0;
      }
      const n = Math.min(length, piece.length - at);
      into.set(piece.subarray(at, at + n), offset);
      at += n;
      return n;
    },
    async close() {
      if (ended) return;
      ended = true;
      await pieces.return?.();
    },
  };
}

/** Bytes per piece when a {@link FileBytes} is read as a stream. */
const PIECE_BYTES = 1 << 20;

/**
 * An open file read front to back, either straight into a caller's buffer ({@link ByteReader}) or, for
 * readers that take a stream, as an async iterable of pieces. It closes itself at its end.
 */
export class FileBytes implements ByteReader, AsyncIterable<Uint8Array> {
  private closed = false;
  private constructor(private readonly handle: FileHandle) {}

  /** Opens `path` for reading; the file system's error (ENOENT, EACCES, EISDIR on first read) as is. */
  static async open(path: string): Promise<FileBytes> {
    return new FileBytes(await open(path, 'r'));
  }

  async readInto(into: Uint8Array, at: number, length: number): Promise<number> {
    if (this.closed) return 0;
    const { bytesRead } = await this.handle.read(into, at, length, null);
    if (bytesRead === 0) await this.close();
    return bytesRead;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        const piece = Buffer.allocUnsafe(PIECE_BYTES);
        const n = await this.readInto(piece, 0, piece.length);
        if (n === 0) return;
        yield piece.subarray(0, n);
      }
    } finally {
      await this.close();
    }
  }
}
