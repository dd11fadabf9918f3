/**
 * Request coalescing: items submitted by concurrent callers are gathered into shared batches, so that many
 * small trainer requests (verl's reward loop and OpenRLHF 0.11 send one sample per request) are scored as
 * full batches. A batch is flushed as soon as it holds `maxBatch` items (count-based, synchronous), or
 * `maxWaitMs` after its first item arrived, whichever comes first. Time enters only through the
 * {@link Scheduler}, so tests drive it by hand.
 */

/** Schedules `fn` after `ms`; returns a function that cancels it. */
export type Scheduler = (fn: () => void, ms: number) => () => void;

/** The real clock: `setTimeout`, unref'd so that a pending flush never keeps the process alive. */
export const timerScheduler: Scheduler = (fn, ms) => {
  const t = setTimeout(fn, ms);
  t.unref?.();
  return () => clearTimeout(t);
};

export interface CoalescerOptions<I, R> {
  /** Most items in one batch (≥ 1); a full batch is flushed at once. */
  maxBatch: number;
  /** Longest wait, in ms, of a batch's first item before the batch is flushed (0: the next tick of the scheduler). */
  maxWaitMs: number;
  /**
   * Scores one batch: one promise per item, in order, each settling when that item is done (so that an
   * item is not held back by a slower one of another caller). A throw fails every item of the batch.
   */
  run: (items: readonly I[]) => ReadonlyArray<Promise<R>>;
  scheduler?: Scheduler;
  /** Called with the size of every batch started (for metrics). */
  onBatch?: (size: number) => void;
}

export interface Coalescer<I, R> {
  /** Queues the items; each returned promise settles with its item's result. */
  submit(items: readonly I[]): Array<Promise<R>>;
  /** Flushes what is queued now (e.g. at shutdown, or from a test). */
  flush(): void;
  /** Items queued and not yet in a batch. */
  readonly queued: number;
}

interface Slot<I, R> {
  item: I;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export function createCoalescer<I, R>(options: CoalescerOptions<I, R>): Coalescer<I, R> {
  const maxBatch = Math.max(1, Math.floor(options.maxBatch));
  const maxWait = Math.max(0, options.maxWaitMs);
  const schedule = options.scheduler ?? timerScheduler;
  let queue: Array<Slot<I, R>> = [];
  let cancelTimer: (() => void) | undefined;

  function start(batch: Array<Slot<I, R>>): void {
    options.onBatch?.(batch.length);
    let running: ReadonlyArray<Promise<R>>;
    try {
      running = options.run(batch.map((s) => s.item));
    } catch (err) {
      for (const s of batch) s.reject(err);
      return;
    }
    if (running.length !== batch.length) {
      const err = new Error(`coalesced batch gave ${running.length} results for ${batch.length} items`);
      for (const s of batch) s.reject(err);
      return;
    }
    for (const [i, s] of batch.entries()) running[i]!.then(s.resolve, s.reject);
  }

  function flush(): void {
    cancelTimer?.();
    cancelTimer = undefined;
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(maxBatch);
      start(batch);
    }
  }

  function submit(items: readonly I[]): Array<Promise<R>> {
    const promises = items.map(
      (item) =>
        new Promise<R>((resolve, reject) => {
          queue.push({ item, resolve, reject });
        }),
    );
    // Full batches go at once; the remainder waits for company, at most maxWaitMs.
    while (queue.length >= maxBatch) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(maxBatch);
      start(batch);
    }
    if (queue.length === 0) {
      cancelTimer?.();
      cancelTimer = undefined;
    } else if (cancelTimer === undefined) {
      cancelTimer = schedule(() => {
        cancelTimer = undefined;
        flush();
      }, maxWait);
    }
    return promises;
  }

  return {
    submit,
    flush,
    get queued() {
      return queue.length;
    },
  };
}
