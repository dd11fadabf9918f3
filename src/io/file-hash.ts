/** Feeding a file's bytes into a running hash: a resumed download's kept part, a file already there. */
import type { Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/**
 * Feeds the first `bytes` bytes of the file at `path` (all of it when `bytes` is not given) into `hash`;
 * rejects when the file holds fewer.
 */
export async function hashFileInto(hash: Hash, path: string, bytes?: number): Promise<void> {
  if (bytes === 0) return;
  let read = 0;
  const stream = createReadStream(path, bytes === undefined ? {} : { end: bytes - 1 });
  for await (const piece of stream as AsyncIterable<Buffer>) {
    hash.update(piece);
    read += piece.length;
  }
  if (bytes !== undefined && read < bytes) throw new Error(`${path} holds ${read} bytes, not ${bytes}`);
}
