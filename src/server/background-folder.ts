/**
 * What the processes sharing `--stored-responses-dir` need of each other's background runs, beside the
 * response records of response-folder.ts, so that any of them can stop or stream a run another one holds
 * (as behind a load balancer, where the next request lands anywhere):
 *
 * - the run's stream: the process running it appends every SSE frame to `DIR/resp_<id>.events` as it sends
 *   it, so another process streams the run from any sequence number, live while it runs and whole after;
 * - a cancel request: another process creates `DIR/resp_<id>.cancel`; the process running the response
 *   looks for it every {@link CANCEL_POLL_MS} and cancels the run, whose record then turns `cancelled`.
 *
 * Polling, not file-change events: a folder shared between machines (NFS) gives no reliable ones. Frames
 * are one line of `event:` and one of `data:` (JSON, no raw newline) and a blank line, so a reader cuts
 * them at blank lines, and the n-th frame has sequence number n.
 */
import { access, open } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import { writeAll } from '../io/checked-write.js';
import type { OpenFile } from '../io/file-ops.js';
import { unlessMissing } from '../io/unless-missing.js';
import type { ResponseFolder } from './response-folder.js';

/** How often the process running background responses looks for cancel requests. */
export const CANCEL_POLL_MS = 250;
/** How often a follower looks for new frames. */
const FOLLOW_POLL_MS = 100;
/**
 * How long a follower waits for the end of a stream whose response has ended. The process that ran it
 * writes the last frames just after the response's record; past this, it died between the two, or its
 * event file could not be written.
 */
const ENDING_GRACE_MS = 15_000;
/** The most read from an event file at once. */
const READ_BYTES = 256 << 10;

/** The events that end a stream (a cancelled run ends with an `error` event of its own code). */
function ends(frame: string): boolean {
  return (
    frame.startsWith('event: response.completed\n') ||
    frame.startsWith('event: response.incomplete\n') ||
    frame.startsWith('event: response.failed\n') ||
    (frame.startsWith('event: error\n') && frame.includes('"code":"response_cancelled"'))
  );
}

/** How following another process's stream ended. */
export type FollowOutcome =
  /** Its last event was written, and the response ended. */
  | { ended: 'done' }
  /** The client left. */
  | { ended: 'left' }
  /** There is no event file, and the response has ended: its events are to be rebuilt from it. */
  | { ended: 'no-events' }
  /** The response ended, the file stopped short of its last event: sequence numbers from `next` are free. */
  | { ended: 'cut'; next: number };

/** Appends a run's frames to its event file, in order, a write at a time. */
export class EventLog {
  private queue: string[] = [];
  private file: Promise<OpenFile> | undefined;
  private flushing: Promise<void> | undefined;
  private broken = false;
  private written = 0;

  constructor(
    private readonly folder: ResponseFolder,
    private readonly path: string,
    private readonly onError: (err: Error) => void,
  ) {}

  /** Queues a frame; a failed write stops the file (followers then end from the response's record). */
  append(frame: string): void {
    if (this.broken) return;
    this.queue.push(frame);
    this.flushing ??= this.flush();
  }

  private async flush(): Promise<void> {
    try {
      this.file ??= this.folder.fs.open(this.path, 'a');
      const file = await this.file;
      while (this.queue.length > 0) {
        const data = Buffer.from(this.queue.join(''), 'utf8');
        this.queue = [];
        await writeAll(file, data);
        this.written += data.length;
      }
    } catch (err) {
      this.broken = true;
      this.queue = [];
      this.onError(err as Error);
    } finally {
      this.flushing = undefined;
    }
  }

  /** Writes what is queued and closes the file; resolves with the bytes it holds. */
  async close(): Promise<number> {
    await this.flushing;
    const file = await this.file?.catch(() => undefined);
    await file?.close().catch(() => undefined);
    return this.written;
  }
}

export class BackgroundFolder {
  private readonly endingGraceMs: number;
  private readonly followPollMs: number;

  /** `timing`: {@link ENDING_GRACE_MS} and {@link FOLLOW_POLL_MS} by default (tests shorten them). */
  constructor(
    readonly folder: ResponseFolder,
    private readonly log: (line: string) => void,
    timing: { endingGraceMs?: number; followPollMs?: number } = {},
  ) {
    this.endingGraceMs = timing.endingGraceMs ?? ENDING_GRACE_MS;
    this.followPollMs = timing.followPollMs ?? FOLLOW_POLL_MS;
  }

  /** The event file a run here writes to, or undefined for an id that names no file. */
  eventLog(id: string): EventLog | undefined {
    const path = this.folder.sidePath(id, 'events');
    if (path === undefined) return undefined;
    return new EventLog(this.folder, path, (err) =>
      this.log(
        `gtalign serve: the events of ${id} could not be written to ${path} (other processes will end its stream from its record): ${err.message}`,
      ),
    );
  }

  /** Whether `id`'s event file is in the folder. */
  async hasEvents(id: string): Promise<boolean> {
    const path = this.folder.sidePath(id, 'events');
    if (path === undefined) return false;
    return access(path).then(
      () => true,
      () => false,
    );
  }

  /** Counts a finished run's event file with its response, for the folder's bounds. */
  async logged(id: string, bytes: number): Promise<void> {
    await this.folder.grow(id, bytes);
  }

  /** Asks the process running `id` to cancel it. */
  async requestCancel(id: string): Promise<void> {
    const path = this.folder.sidePath(id, 'cancel');
    if (path === undefined) return;
    const file = await this.folder.fs.open(path, 'w');
    await file.close();
  }

  /** Whether another process asked for `id` to be cancelled. */
  async cancelRequested(id: string): Promise<boolean> {
    const path = this.folder.sidePath(id, 'cancel');
    return path !== undefined && unlessMissing(this.folder.fs.stat(path)).catch(() => false);
  }

  /** Removes a cancel request (acted on, or its run had ended). */
  async clearCancel(id: string): Promise<void> {
    const path = this.folder.sidePath(id, 'cancel');
    if (path !== undefined) await this.folder.fs.unlink(path).catch(() => undefined);
  }

  /**
   * Writes to `res` (an open event stream) the frames of `id`'s event file after sequence number `after`,
   * as they are written, until the one that ends the stream. `status` gives the response's status now
   * (undefined: gone); it is asked only while no new frame comes. `res` is not ended unless the stream is
   * done; the caller ends it otherwise (see {@link FollowOutcome}).
   */
  async follow(
    res: ServerResponse,
    id: string,
    after: number,
    status: () => Promise<string | undefined>,
  ): Promise<FollowOutcome> {
    const path = this.folder.sidePath(id, 'events');
    if (path === undefined) return { ended: 'no-events' };
    let left = res.destroyed;
    res.once('close', () => {
      left = true;
    });
    const decoder = new StringDecoder('utf8');
    const buffer = Buffer.allocUnsafe(READ_BYTES);
    let carry = '';
    let position = 0;
    let index = 0;
    let found = false;
    let quietSince: number | undefined;
    for (;;) {
      if (left) return { ended: 'left' };
      const got = await readAt(path, position, buffer);
      if (got !== undefined) found = true;
      if (got !== undefined && got > 0) {
        position += got;
        carry += decoder.write(buffer.subarray(0, got));
        let cut = carry.indexOf('\n\n');
        while (cut >= 0) {
          const frame = carry.slice(0, cut + 2);
          carry = carry.slice(cut + 2);
          if (index > after) res.write(frame);
          index++;
          if (ends(frame)) {
            res.end();
            return { ended: 'done' };
          }
          cut = carry.indexOf('\n\n');
        }
        quietSince = undefined;
        continue;
      }
      const now = await status();
      if (now === undefined) return { ended: 'cut', next: index };
      if (now !== 'queued' && now !== 'in_progress') {
        if (!found) return { ended: 'no-events' };
        quietSince ??= Date.now();
        if (Date.now() - quietSince >= this.endingGraceMs) return { ended: 'cut', next: index };
      }
      await new Promise((r) => setTimeout(r, this.followPollMs));
    }
  }
}

/** Reads from `position` into `buffer`; the bytes read, or undefined when the file is not there. */
async function readAt(path: string, position: number, buffer: Buffer): Promise<number | undefined> {
  let file: Awaited<ReturnType<typeof open>>;
  try {
    file = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return (await file.read(buffer, 0, buffer.length, position)).bytesRead;
  } finally {
    await file.close();
  }
}
