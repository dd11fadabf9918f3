/**
 * Values parked on disk for a second pass: a writer that must see every value before it writes the first
 * (a parquet schema is inferred from all rows) keeps one batch in memory instead of all of them.
 *
 * Values are stored with the structured clone format (node:v8), which keeps what JSON loses (NaN,
 * ±Infinity, -0, undefined), each framed by its length. The file sits beside the target under the name a
 * killed atomic write leaves (`.NAME.PID.HEX.tmp`, see stale-temps.ts), so a spool a killed export left
 * behind is removed by the next write of that target.
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { writeAll } from './checked-write.js';

/** Small frames are gathered into blocks of this size before a write, and read back in blocks of it. */
const BLOCK_BYTES = 1 << 20;

export interface ValueSpool {
  /** Appends one value; returns its size on disk (what a batch of it will take to read back). */
  append(value: unknown): Promise<number>;
  /** Values appended so far. */
  readonly count: number;
  /**
   * Reads the values back in order, in batches of at most `maxBytes` (on disk; one value larger than that
   * is a batch of its own) and `maxCount` values. Appending ends when reading starts.
   */
  batches(maxBytes: number, maxCount: number): AsyncGenerator<unknown[]>;
  /** Deletes the file; safe to call more than once. */
  remove(): Promise<void>;
}

/** Opens an empty spool beside `target` (its folder must exist or be creatable). */
export async function openValueSpool(target: string): Promise<ValueSpool> {
  const dir = dirname(target) || '.';
  await mkdir(dir, { recursive: true });
  const path = join(dir, `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let file: FileHandle | undefined = await open(path, 'w');
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let count = 0;
  let removed = false;

  // An error writing the spool (a full disk) names the target the user gave, not the temporary file.
  const named = (err: unknown): unknown => {
    const e = err as NodeJS.ErrnoException;
    if (typeof e === 'object' && e !== null && (e.path === undefined || e.path === path)) e.path = target;
    return err;
  };
  const flush = async (): Promise<void> => {
    if (pendingBytes === 0) return;
    const block = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    try {
      await writeAll(file!, block);
    } catch (err) {
      throw named(err);
    }
  };
  const remove = async (): Promise<void> => {
    if (removed) return;
    removed = true;
    pending = [];
    await file?.close().catch(() => undefined);
    file = undefined;
    await unlink(path).catch(() => undefined);
  };

  return {
    get count() {
      return count;
    },
    async append(value) {
      if (file === undefined) throw new Error(`${path}: append after the spool was read or removed`);
      const body = serialize(value);
      const head = Buffer.allocUnsafe(4);
      head.writeUInt32LE(body.length, 0);
      pending.push(head, body);
      pendingBytes += 4 + body.length;
      count++;
      if (pendingBytes >= BLOCK_BYTES) await flush();
      return 4 + body.length;
    },
    async *batches(maxBytes, maxCount) {
      if (file === undefined) throw new Error(`${path}: the spool was read or removed already`);
      await flush();
      await file.close();
      file = undefined;
      const handle = await open(path, 'r');
      // Bytes read but not yet decoded: buf[at, end).
      let buf = Buffer.alloc(0);
      let at = 0;
      let end = 0;
      let position = 0;
      /** Makes `n` bytes available at `at`; false at the end of the file. */
      const need = async (n: number): Promise<boolean> => {
        if (end - at >= n) return true;
        if (buf.length - at < n) {
          const bigger = Buffer.allocUnsafe(Math.max(n, BLOCK_BYTES));
          buf.copy(bigger, 0, at, end);
          buf = bigger;
        } else buf.copy(buf, 0, at, end);
        end -= at;
        at = 0;
        while (end < n) {
          const { bytesRead } = await handle.read(buf, end, buf.length - end, position);
          if (bytesRead === 0) return false;
          end += bytesRead;
          position += bytesRead;
        }
        return true;
      };
      try {
        let batch: unknown[] = [];
        let batchBytes = 0;
        for (let i = 0; i < count; i++) {
          if (!(await need(4))) throw new Error(`${path}: the spool ended early (value ${i} of ${count})`);
          const size = buf.readUInt32LE(at);
          if (batch.length > 0 && (batchBytes + 4 + size > maxBytes || batch.length >= maxCount)) {
            yield batch;
            batch = [];
            batchBytes = 0;
          }
          if (!(await need(4 + size)))
            throw new Error(`${path}: the spool ended early (value ${i} of ${count})`);
          batch.push(deserialize(buf.subarray(at + 4, at + 4 + size)));
          at += 4 + size;
          batchBytes += 4 + size;
        }
        if (batch.length > 0) yield batch;
      } finally {
        await handle.close().catch(() => undefined);
      }
    },
    remove,
  };
}
