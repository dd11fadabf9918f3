/**
 * The Server-Sent Events of one Responses API stream: each event an SSE `event:` line with its type and a
 * `data:` line with the JSON payload and its `sequence_number`. A stream is written to its followers as it
 * is made; a background response's stream (`keep`) also keeps every event, so a client may follow it from
 * any point (`GET /v1/responses/{id}?stream=true&starting_after=N`) while it runs and after it ended; with a
 * response folder its frames also go to a sink (the run's event file, background-folder.ts), so a process
 * sharing the folder can follow it too.
 */
import type { ServerResponse } from 'node:http';

/** Opens an SSE response (status 200 and the streaming headers). */
export function openEventStream(res: ServerResponse): void {
  if (res.headersSent) return;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
}

export class ResponseEvents {
  private readonly frames: string[] | undefined;
  private readonly followers = new Set<ServerResponse>();
  private sink: ((frame: string) => void) | undefined;
  private chars = 0;
  private done = false;

  /**
   * `keep`: keep every event for followers that come later (background responses). `next`: the first
   * event's sequence number (the rest of a stream another process began).
   */
  constructor(
    keep: boolean,
    private next = 0,
  ) {
    this.frames = keep ? [] : undefined;
  }

  /** Sends every event from now on to `sink` too, as its SSE frame. */
  tee(sink: (frame: string) => void): void {
    this.sink = sink;
  }

  /** Characters of the kept events. */
  get size(): number {
    return this.chars;
  }

  /** Sends one event to every follower (and keeps it, when kept). */
  send(type: string, payload: Record<string, unknown>): void {
    if (this.done) return;
    const data = JSON.stringify({ type, sequence_number: this.next++, ...payload });
    const frame = `event: ${type}\ndata: ${data}\n\n`;
    if (this.frames !== undefined) {
      this.frames.push(frame);
      this.chars += frame.length;
    }
    this.sink?.(frame);
    for (const res of this.followers) if (!res.destroyed) res.write(frame);
  }

  /** Ends the stream for every follower; later events are dropped. */
  end(): void {
    if (this.done) return;
    this.done = true;
    for (const res of this.followers) res.end();
    this.followers.clear();
  }

  /**
   * Writes to `res` the kept events after sequence number `after` (-1: all), then the events to come, and
   * ends it with the stream. `res` must be open (see {@link openEventStream}); it stops following when it
   * closes.
   */
  follow(res: ServerResponse, after = -1): void {
    if (this.frames !== undefined)
      for (let i = Math.max(0, after + 1); i < this.frames.length; i++) res.write(this.frames[i]!);
    if (this.done) {
      res.end();
      return;
    }
    this.followers.add(res);
    res.once('close', () => this.followers.delete(res));
  }
}
