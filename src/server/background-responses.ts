/**
 * Background responses on `gtalign serve` (`background: true` on `POST /v1/responses`, as the official
 * clients send it: `openai` 6.49.0). The request is checked and answered at once with the response in
 * status `queued`; the turn then runs detached from the request (its client leaving does not stop it), and
 * the response is `in_progress` until it ends:
 *
 * - completed (or incomplete at the token limit): kept like any stored response (response-keeper.ts), so
 *   it is retrieved, continued with `previous_response_id` and deleted as usual; its answer is also held
 *   here until it has been retrieved once (the last {@link MAX_ENDED} not yet retrieved), so a client
 *   polling late still gets it when newer responses have pushed it out of a small store;
 * - failed (the upstream failed, or the deadline passed): `status: "failed"` with `error`;
 * - cancelled (`POST /v1/responses/{id}/cancel`): the upstream call is aborted and the response is
 *   `status: "cancelled"`.
 *
 * Closing the server gives the running responses the grace open requests get, then stops the rest: they
 * end failed with code `server_shutdown` (nobody cancelled them; a client may create them again).
 *
 * Every run keeps its stream events (response-events.ts), so a client can follow it, from any sequence
 * number, while it runs and after it ended (`GET /v1/responses/{id}?stream=true&starting_after=N`);
 * `stream: true` on the request follows it from the start.
 *
 * Running, failed and cancelled responses live in this process's memory (the last {@link MAX_ENDED} that
 * ended without an answer), and so do the answers not yet retrieved. With a response folder (`shared`) each run also writes its events there and
 * heeds cancel requests other processes leave there (background-folder.ts), so any process sharing the
 * folder can poll, stream and cancel it. At most `maxRunning` run at once: one more is a 429.
 */
import { type BackgroundFolder, CANCEL_POLL_MS } from './background-folder.js';
import { BoundedLru } from './bounded-lru.js';
import { ClientWatch } from './client-watch.js';
import { HttpError } from './errors.js';
import type { ResponseEvents } from './response-events.js';
import type { ResponseObject } from './responses.js';

/** Why a turn stopped when the server closed: it ends failed (`server_shutdown`), not cancelled. */
export class ServerShutdown extends Error {
  constructor() {
    super('the server stopped before this turn finished');
    this.name = 'ServerShutdown';
  }
}

/** Failed and cancelled background responses kept for `GET` and `cancel`. */
export const MAX_ENDED = 1000;
const MAX_ENDED_CHARS = 32 << 20;

interface Running {
  /** The response as polled now (`queued`, then `in_progress`). */
  current: ResponseObject;
  /** The turn's stand-in client: leaving it aborts the turn. */
  watch: ClientWatch;
  /** Settles once the run has ended and its outcome is recorded. */
  ended: Promise<void>;
  events: ResponseEvents;
}

/** What a background run ends with: a kept answer, or a response without one (failed, cancelled). */
export type BackgroundOutcome = { kept: boolean; response: ResponseObject };

export class BackgroundResponses {
  private readonly running = new Map<string, Running>();
  private readonly ended = new BoundedLru<string>(MAX_ENDED, MAX_ENDED_CHARS);
  /** The answers of runs that completed, until they are retrieved once (`GET` without `stream`). */
  private readonly answers = new BoundedLru<string>(MAX_ENDED, MAX_ENDED_CHARS);
  /** The events of runs that ended, for clients that follow them later. */
  private readonly streams = new BoundedLru<ResponseEvents>(MAX_ENDED, MAX_ENDED_CHARS);

  /** Looks for cancel requests from other processes while runs run here (with `shared`). */
  private cancelWatch: NodeJS.Timeout | undefined;
  private checkingCancels = false;

  /**
   * `onEnded`: told how each run ended (the server's metrics count them). `shared`: the response folder
   * other processes share, for runs' events and cancel requests.
   */
  constructor(
    readonly maxRunning: number,
    private readonly onEnded: (status: 'completed' | 'failed' | 'cancelled') => void = () => {},
    readonly shared?: BackgroundFolder,
  ) {}

  /** Running now. */
  get active(): number {
    return this.running.size;
  }

  /**
   * Starts `work` for the response `queued`; `work` gets the run's stand-in client (gone once cancelled)
   * and returns the outcome. Throws a 429 when `maxRunning` are running.
   */
  start(
    queued: ResponseObject,
    events: ResponseEvents,
    work: (client: ClientWatch) => Promise<BackgroundOutcome>,
  ): void {
    if (this.running.size >= this.maxRunning)
      throw new HttpError(
        429,
        `gtalign serve runs at most ${this.maxRunning} background responses at once; retry when one has ended`,
        'rate_limit_error',
        'too_many_background_responses',
        'background',
      );
    const watch = new ClientWatch();
    const run: Running = { current: queued, watch, ended: Promise.resolve(), events };
    this.running.set(queued.id, run);
    const log = this.shared?.eventLog(queued.id);
    if (log !== undefined) events.tee((frame) => log.append(frame));
    this.watchCancels();
    // Started on the next turn of the event loop, so the queued response is answered first.
    run.ended = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => {
        run.current = { ...queued, status: 'in_progress' };
        return work(watch);
      })
      .then(
        (outcome) => {
          if (outcome.kept) {
            const text = JSON.stringify(outcome.response);
            this.answers.set(queued.id, text, text.length);
            this.onEnded('completed');
          } else {
            this.remember(outcome.response);
            this.onEnded(outcome.response.status === 'cancelled' ? 'cancelled' : 'failed');
          }
        },
        (err: unknown) => {
          // `work` maps every failure to an outcome; this is a defect, still reported as a failure.
          const failed: ResponseObject = {
            ...queued,
            status: 'failed',
            error: { code: 'server_error', message: (err as Error).message ?? String(err) },
          };
          events.send('response.failed', { response: failed });
          this.remember(failed);
          this.onEnded('failed');
        },
      )
      .finally(async () => {
        events.end();
        this.streams.set(queued.id, events, events.size);
        this.running.delete(queued.id);
        if (log !== undefined) await this.shared?.logged(queued.id, await log.close()).catch(() => undefined);
        await this.shared?.clearCancel(queued.id);
      });
  }

  /** Starts looking for other processes' cancel requests, while anything runs here. */
  private watchCancels(): void {
    if (this.shared === undefined || this.cancelWatch !== undefined) return;
    this.cancelWatch = setInterval(() => void this.checkCancels(), CANCEL_POLL_MS);
    this.cancelWatch.unref();
  }

  private async checkCancels(): Promise<void> {
    const shared = this.shared;
    if (shared === undefined || this.checkingCancels) return;
    this.checkingCancels = true;
    try {
      for (const id of [...this.running.keys()]) if (await shared.cancelRequested(id)) void this.cancel(id);
    } finally {
      this.checkingCancels = false;
    }
    if (this.running.size === 0) this.stopWatch();
  }

  private stopWatch(): void {
    clearInterval(this.cancelWatch);
    this.cancelWatch = undefined;
  }

  private remember(response: ResponseObject): void {
    const text = JSON.stringify(response);
    this.ended.set(response.id, text, text.length);
  }

  /** The response as it stands (running, failed or cancelled), as JSON text; undefined when not here. */
  get(id: string): string | undefined {
    const run = this.running.get(id);
    if (run !== undefined) return JSON.stringify(run.current);
    return this.ended.get(id);
  }

  /** The answer of a run here that completed and has not been retrieved yet (JSON text), else undefined. */
  answer(id: string): string | undefined {
    return this.answers.get(id);
  }

  /** `id`'s answer has been retrieved: from now on it is kept like any stored response, no longer here. */
  answered(id: string): void {
    this.answers.delete(id);
  }

  /** The events of a background response run here (running, or ended and still kept). */
  events(id: string): ResponseEvents | undefined {
    return this.running.get(id)?.events ?? this.streams.get(id);
  }

  /**
   * With a shared folder, which is the truth for what is in it: forgets a run that ended here whose record
   * another process has deleted since.
   */
  async sync(id: string): Promise<void> {
    if (this.shared === undefined || this.running.has(id)) return;
    if (!this.ended.has(id) && !this.streams.has(id) && !this.answers.has(id)) return;
    if (!(await this.shared.folder.has(id))) await this.forget(id);
  }

  /** The status of a background response held here that cannot be continued, else undefined. */
  unfinished(id: string): string | undefined {
    const run = this.running.get(id);
    if (run !== undefined) return run.current.status;
    const ended = this.ended.get(id);
    return ended === undefined ? undefined : (JSON.parse(ended) as ResponseObject).status;
  }

  /**
   * Cancels a running response and waits for it to stop; returns false when it is not running here. A
   * run that finished before the abort reached it keeps its answer.
   */
  async cancel(id: string): Promise<boolean> {
    const run = this.running.get(id);
    if (run === undefined) return false;
    run.watch.leave(new Error('cancelled'));
    await run.ended;
    return true;
  }

  /** Forgets a response run here: its end, answer and events (a running one is cancelled first). */
  async forget(id: string): Promise<boolean> {
    const wasRunning = await this.cancel(id);
    const hadStream = this.streams.delete(id);
    const hadAnswer = this.answers.delete(id);
    return this.ended.delete(id) || hadStream || hadAnswer || wasRunning;
  }

  /**
   * The server is closing: waits up to `graceMs` for the running responses to end, then stops the rest
   * with {@link ServerShutdown} (they end failed) and waits for them to stop.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.stopWatch();
    const runs = [...this.running.values()];
    if (runs.length > 0 && graceMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([Promise.all(runs.map((r) => r.ended)), grace]);
      clearTimeout(timer);
    }
    const left = [...this.running.values()];
    for (const run of left) run.watch.leave(new ServerShutdown());
    await Promise.all(left.map((r) => r.ended));
  }
}
