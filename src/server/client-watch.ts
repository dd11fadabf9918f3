/**
 * Whether a request's client is still there. Every request needs to know when its client leaves (the body
 * reader stops, the turn aborts its upstream call), but an AbortSignal made for each request, with a
 * listener or two on it, cost a proxied turn tens of microseconds of its added latency. Here leaving is a
 * flag and a few watchers; the AbortSignal is made only when a handler asks for one.
 */
import type { AbortWatcher } from '../llm/abort-watch.js';

export class ClientWatch {
  private left = false;
  private why: unknown;
  private watchers: AbortWatcher[] | undefined;
  private controller: AbortController | undefined;

  /** The client went away before the response was complete. */
  get gone(): boolean {
    return this.left;
  }

  /** Why the client is gone (undefined while it is there). */
  get reason(): unknown {
    return this.why;
  }

  /** Aborts when the client leaves (made on first use; already aborted if it has left). */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.left) this.controller.abort(this.why);
    }
    return this.controller.signal;
  }

  /** Tells `watcher` once, when the client leaves. Check `gone` first: a client gone is not told again. */
  watch(watcher: AbortWatcher): void {
    if (this.watchers === undefined) this.watchers = [watcher];
    else this.watchers.push(watcher);
  }

  /** Stops telling `watcher` (nothing when it is not watching). */
  unwatch(watcher: AbortWatcher): void {
    const watchers = this.watchers;
    if (watchers === undefined) return;
    const i = watchers.indexOf(watcher);
    if (i >= 0) watchers.splice(i, 1);
  }

  /** The client left: aborts the signal (if made) and tells the watchers, once. */
  leave(reason: unknown): void {
    if (this.left) return;
    this.left = true;
    this.why = reason;
    this.controller?.abort(reason);
    const watchers = this.watchers;
    this.watchers = undefined;
    if (watchers !== undefined) for (const w of watchers) w.aborted(reason);
  }
}
