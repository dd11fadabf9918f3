/**
 * The abort signal of one request attempt: it fires when the caller aborts or when the attempt's timeout
 * runs out (a stream re-arms the timeout on every event), and, once the attempt is over, to close a body
 * nobody read to its end. A class, not closures: a judge makes thousands of attempts a second.
 */

/** Why an attempt's request is aborted when it is over (a static reason: a DOMException costs a stack). */
const ATTEMPT_OVER = new Error('the attempt is over');

function onTimeout(control: AttemptControl): void {
  control.expire();
}

export class AttemptControl {
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private expired = false;
  private bodyOpen = true;

  constructor(
    private readonly caller: AbortSignal | undefined,
    private readonly timeoutMs: number,
  ) {
    if (caller?.aborted) this.controller.abort(caller.reason);
    else caller?.addEventListener('abort', this, { once: true });
    this.rearm();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The timeout ended the attempt. */
  get timedOut(): boolean {
    return this.expired;
  }

  get callerAborted(): boolean {
    return this.caller?.aborted === true;
  }

  /** The caller's abort (this object is the listener). */
  handleEvent(): void {
    this.controller.abort(this.caller?.reason);
  }

  /** Starts the timeout again: the time allowed is between two signs of life. */
  rearm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(onTimeout, this.timeoutMs, this);
  }

  expire(): void {
    this.expired = true;
    this.controller.abort(new Error(`timed out after ${this.timeoutMs} ms`));
  }

  /** The body was read to its end, or cancelled: disposing need not close anything. */
  bodyDone(): void {
    this.bodyOpen = false;
  }

  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.caller?.removeEventListener('abort', this);
    if (this.bodyOpen) this.controller.abort(ATTEMPT_OVER);
  }
}
