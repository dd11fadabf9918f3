/**
 * The end of one request attempt: it comes when the caller aborts or when the attempt's timeout runs out
 * (a stream re-arms the timeout on every event), and, once the attempt is over, to close a body nobody
 * read to its end. It aborts the attempt's request: the HTTP client's exchange directly, or, for an
 * injected fetch, through an AbortSignal made only then (making one costs microseconds). A class, not
 * closures: a judge makes thousands of attempts a second, all watching one caller's signal.
 */
import { type AbortWatcher, unwatchAbort, watchAbort } from './abort-watch.js';

/** What an attempt's end aborts. */
export interface Abortable {
  abort(reason: unknown): void;
  /** Where a request whose answer has not begun is (`connecting to host:port`), for a timeout's message. */
  progress?(): string;
}

/** Why an attempt's request is aborted when it is over (a static reason: a DOMException costs a stack). */
const ATTEMPT_OVER = new Error('the attempt is over');

function onTimeout(control: AttemptControl): void {
  control.expire();
}

export class AttemptControl implements AbortWatcher {
  private request: Abortable | undefined;
  private controller: AbortController | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private expired = false;
  private bodyOpen = true;
  private stopped = false;
  private reason: unknown;
  /**
   * What the attempt is waiting for once its answer's headers are in (set by the transport), e.g.
   * `reading the response body`; before, the request's own {@link Abortable.progress} says.
   */
  stage: string | undefined;
  /** What the attempt was waiting for when its time ran out. */
  expiredWhile: string | undefined;

  constructor(
    private readonly caller: AbortSignal | undefined,
    private readonly timeoutMs: number,
  ) {
    if (caller?.aborted) this.stop(caller.reason);
    else if (caller !== undefined) watchAbort(caller, this);
    this.rearm();
  }

  /** A signal that aborts with the attempt, for an injected fetch. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.stopped) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  /** The request the attempt's end aborts (at once when it has already come). */
  attach(request: Abortable): void {
    this.request = request;
    if (this.stopped) request.abort(this.reason);
  }

  /** The timeout ended the attempt. */
  get timedOut(): boolean {
    return this.expired;
  }

  get callerAborted(): boolean {
    return this.caller?.aborted === true;
  }

  /** The caller's abort. */
  aborted(reason: unknown): void {
    this.stop(reason);
  }

  /** Starts the timeout again: the time allowed is between two signs of life. */
  rearm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(onTimeout, this.timeoutMs, this);
  }

  expire(): void {
    if (this.stopped) return;
    this.expired = true;
    // Asked before the abort, which ends the request's progress.
    this.expiredWhile = this.stage ?? this.request?.progress?.();
    this.stop(new Error(`timed out after ${this.timeoutMs} ms`));
  }

  /** The body was read to its end, or cancelled: disposing need not close anything. */
  bodyDone(): void {
    this.bodyOpen = false;
  }

  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.caller !== undefined) unwatchAbort(this.caller, this);
    if (this.bodyOpen) this.stop(ATTEMPT_OVER);
  }

  private stop(reason: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.reason = reason;
    this.request?.abort(reason);
    this.controller?.abort(reason);
  }
}
