/**
 * The access log of a gtalign server (`--access-log PATH`, or `-` for stdout): one JSON line per request,
 * written when its response has ended, for operators who account for every request's tokens and actions:
 *
 *   {"time", "id", "method", "path", "route", "status", "ms", "remote", "key", "completed", …}
 *
 * plus what the request's handler noted: a GTAlign turn's `turn` (action, cell, policy, tokens by kind),
 * a reward request's `samples` and `failed`, an error's `error` code. `key` is a fingerprint of the API key
 * the request was let in with (`sha256:` and 12 hex digits), never the key.
 *
 * A slow file must neither stop the server nor grow it without bound: past {@link MAX_PENDING_BYTES} not
 * yet written, lines are dropped and counted. A file that fails (a full disk) is reported once, and the
 * server goes on without it.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';

/** Bytes of lines waiting to be written past which new lines are dropped. */
export const MAX_PENDING_BYTES = 8 << 20;

export class AccessLog {
  private failed = false;
  private droppedLines = 0;

  constructor(
    private readonly out: Writable,
    /** The file's path, or `stdout`. */
    readonly name: string,
    private readonly log: (line: string) => void,
    /** Whether closing the log ends the stream (a file opened for it; not stdout). */
    private readonly owned: boolean,
  ) {
    out.on('error', (err: Error) => this.fail(err));
  }

  /** Lines dropped so far (the file was too slow, or failed). */
  get dropped(): number {
    return this.droppedLines;
  }

  write(entry: Readonly<Record<string, unknown>>): void {
    if (this.failed || this.out.writableLength > MAX_PENDING_BYTES) {
      this.droppedLines++;
      return;
    }
    this.out.write(`${JSON.stringify(entry)}\n`);
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.log(
      `gtalign server: the access log ${this.name} cannot be written (${err.message}); requests are served without it`,
    );
  }

  /** Writes what is pending; ends the file (not stdout). */
  async close(): Promise<void> {
    if (!this.owned) return;
    if (!this.out.writableEnded && !this.out.destroyed) this.out.end();
    // Settles however the stream ends: written out, failed, or already destroyed.
    await finished(this.out).catch(() => undefined);
  }
}

/**
 * Opens the access log at `target` (appending), or on `stdout` for `-`. A file that cannot be opened is
 * an error here, at start, naming it.
 */
export async function openAccessLog(
  target: string,
  stdout: Writable,
  log: (line: string) => void,
): Promise<AccessLog> {
  if (target === '-') return new AccessLog(stdout, 'stdout', log, false);
  const stream = createWriteStream(target, { flags: 'a' });
  try {
    await once(stream, 'open');
  } catch (err) {
    throw new Error(`cannot open ${target}: ${(err as Error).message}`);
  }
  return new AccessLog(stream, target, log, true);
}

/** When something that took `seconds` began, and how long it took, as the log writes them. */
export function timing(seconds: number): { time: string; ms: number } {
  return { time: new Date(Date.now() - seconds * 1000).toISOString(), ms: Math.round(seconds * 10_000) / 10 };
}

/** A fingerprint of an API key for the log (`sha256:` and 12 hex digits): which key, never the key. */
export function keyFingerprint(authorization: string | undefined): string | undefined {
  const key = authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : undefined;
  if (key === undefined || key === '') return undefined;
  return `sha256:${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
}
