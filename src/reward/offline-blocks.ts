/**
 * The offline pool's input side: bytes cut into blocks of whole lines, each block in memory of its own so
 * that it can move to a worker thread without a copy. A file is read straight into the block memory; a
 * stream's pieces are copied into it once. Only newlines are looked for here (natively, with indexOf):
 * decoding and splitting happen where the block is scored, so the reading thread stays light.
 */

import { type ByteReader, isByteReader, streamByteReader } from '../io/byte-reader.js';
import { LineTooLongError, MAX_LINE_BYTES } from '../io/lines.js';
import type { RawChunk } from './offline-chunk.js';

const NEWLINE = 0x0a;

/** Where blocks' memory comes from and goes back to once a block has been read. */
export interface BlockAllocator {
  /** A buffer of at least `size` bytes (its whole length is usable). */
  take(size: number): Uint8Array;
  /** Memory that is free again. */
  give(buffer: ArrayBuffer): void;
}

/**
 * Block memory that comes back from the workers once they have read it, to be filled again: fresh memory
 * costs a page fault per 4 KiB on first touch, which for a large input costs more than the reading itself.
 */
export class BlockMemory implements BlockAllocator {
  private readonly free: ArrayBuffer[] = [];
  constructor(private readonly blockBytes: number) {}
  take(size: number): Uint8Array {
    let buffer = this.free.pop();
    if (buffer === undefined || buffer.byteLength < size) {
      // Room for a block plus a line's tail, so that one buffer fits nearly every block.
      buffer = new ArrayBuffer(Math.max(size, this.blockBytes + (this.blockBytes >> 2)));
    }
    return new Uint8Array(buffer);
  }
  give(buffer: ArrayBuffer): void {
    // The larger buffers a long line needed are not kept: the memory goes back when the line is done.
    if (this.free.length < 32 && buffer.byteLength <= this.blockBytes + (this.blockBytes >> 2))
      this.free.push(buffer);
  }
}

/** Fresh memory for every block (the default when nothing recycles blocks). */
const FRESH_MEMORY: BlockAllocator = {
  take: (size) => new Uint8Array(new ArrayBuffer(size)),
  give: () => {},
};

/**
 * Cuts a byte source into blocks of whole lines of about `targetBytes`, numbering lines as it goes. A
 * line longer than `limits.maxLineBytes` stops the source with a {@link LineTooLongError} naming it, once
 * the whole lines before it have been yielded; it is noticed as soon as that many bytes of it are read.
 * A block is yielded before the reading goes on, so its memory may move elsewhere (a worker) at once.
 */
export async function* rawChunks(
  source: ByteReader | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  targetBytes = 1 << 20,
  limits: { name?: string; maxLineBytes?: number } = {},
  memory: BlockAllocator = FRESH_MEMORY,
): AsyncGenerator<RawChunk> {
  const maxLine = limits.maxLineBytes ?? MAX_LINE_BYTES;
  const reader = isByteReader(source) ? source : streamByteReader(source);
  // The line being read when the last block was cut (a copy: that block's memory has moved on).
  let carry: Uint8Array = new Uint8Array(0);
  let line = 1;
  try {
    for (;;) {
      // Room for the open line and as much again (a long line's buffer grows geometrically), but never
      // more than it takes to see that line end or pass the bound.
      const block = memory.take(Math.max(targetBytes, Math.min(2 * carry.length, maxLine + 2)));
      block.set(carry, 0);
      let filled = carry.length;
      let ended = false;
      while (filled < block.length) {
        const n = await reader.readInto(block, filled, block.length - filled);
        if (n === 0) {
          ended = true;
          break;
        }
        filled += n;
      }
      const bytes = Buffer.from(block.buffer, block.byteOffset, filled);
      // Whole lines end at `lineStart`; `lines` is how many of them the block holds.
      let lineStart = 0;
      let lines = 0;
      for (let nl = bytes.indexOf(NEWLINE); nl >= 0; nl = bytes.indexOf(NEWLINE, nl + 1)) {
        if (nl - lineStart > maxLine) break;
        lineStart = nl + 1;
        lines++;
      }
      // Past the last whole line: a line over the bound (the loop stopped at it) or an open one already over.
      if (filled - lineStart > maxLine) {
        if (lineStart > 0) yield { firstLine: line, bytes: bytes.subarray(0, lineStart) };
        throw new LineTooLongError(limits.name ?? 'input', line + lines, maxLine);
      }
      if (ended) {
        // The last line may have no newline: it is part of the last block.
        if (filled > 0) yield { firstLine: line, bytes };
        else memory.give(block.buffer as ArrayBuffer);
        return;
      }
      if (lineStart === 0) {
        // Only part of one line so far: it stays where it is until a larger buffer takes it.
        carry = bytes;
        continue;
      }
      carry = new Uint8Array(bytes.subarray(lineStart));
      const chunk = { firstLine: line, bytes: bytes.subarray(0, lineStart) };
      line += lines;
      yield chunk;
    }
  } finally {
    await reader.close();
  }
}
