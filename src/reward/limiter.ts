/**
 * A counting semaphore: at most `limit` tasks run at once; the rest wait in FIFO order.
 * Used by the judge client so a large batch never opens more than a few HTTP requests at a time.
 */
export interface Limiter {
  /** Runs `task` once a slot is free; the slot is released when the task settles (even on error). */
  run<T>(task: () => Promise<T>): Promise<T>;
  /** Tasks running now. */
  readonly active: number;
  /** Tasks waiting for a slot. */
  readonly pending: number;
  readonly limit: number;
}

/** A task waiting for a slot, and the settling of the promise its caller holds. */
interface Waiting {
  task: () => Promise<unknown>;
  resolve: (value: Promise<unknown>) => void;
}

export function createLimiter(limit: number): Limiter {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`limiter: limit must be an integer >= 1, got ${String(limit)}`);
  }
  let active = 0;
  const waiting: Waiting[] = [];

  // No async wrapper: a judge runs thousands of tasks a second, and each layer of promises costs.
  const release = (): void => {
    const next = waiting.shift();
    // Hand the slot straight to the next waiter so `active` never dips and over-admits.
    if (next) next.resolve(start(next.task));
    else active--;
  };

  /** Runs `task` in a slot already taken; the slot is released when it settles. */
  const start = <T>(task: () => Promise<T>): Promise<T> => {
    let running: Promise<T>;
    try {
      running = task();
    } catch (err) {
      running = Promise.reject(err);
    }
    // Released before the caller's own reactions run (they were registered after these).
    running.then(release, release);
    return running;
  };

  return {
    run<T>(task: () => Promise<T>): Promise<T> {
      if (active < limit) {
        active++;
        return start(task);
      }
      return new Promise<T>((resolve) => {
        waiting.push({ task, resolve: resolve as Waiting['resolve'] });
      });
    },
    get active() {
      return active;
    },
    get pending() {
      return waiting.length;
    },
    limit,
  };
}
