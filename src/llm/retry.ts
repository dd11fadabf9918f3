/**
 * The one retry policy of every client here (chat backends and judges): a bounded number of attempts,
 * exponential backoff with full jitter, a server's `Retry-After` as a floor, and waits the caller can
 * abort. What is worth retrying is the caller's predicate; the waiting is the same for all.
 */
import { abortableSleep } from './http.js';

export interface RetryPolicy {
  /** Attempts in all, the first included (>= 1). */
  attempts: number;
  /** Backoff cap before the first retry, in ms; doubles with each retry. */
  baseDelayMs: number;
  /** Upper bound of any one wait, `Retry-After` included, in ms. */
  maxDelayMs: number;
}

/** Injected clock and dice, for tests; default `abortableSleep` and `Math.random`. */
export interface RetryEnvironment {
  /** Uniform in [0, 1); drives the jitter. */
  random?: (() => number) | undefined;
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
}

/** Throws a RangeError naming `who` and the field when the policy cannot be used. */
export function checkRetryPolicy(policy: RetryPolicy, who: string): RetryPolicy {
  const { attempts, baseDelayMs, maxDelayMs } = policy;
  if (!Number.isInteger(attempts) || attempts < 1)
    throw new RangeError(`${who}: attempts must be an integer >= 1, got ${attempts}`);
  for (const [name, value] of [
    ['baseDelayMs', baseDelayMs],
    ['maxDelayMs', maxDelayMs],
  ] as const) {
    if (!Number.isFinite(value) || value < 0)
      throw new RangeError(`${who}: ${name} must be a number >= 0, got ${value}`);
  }
  return policy;
}

/**
 * The wait before retry number `retry` (1 for the first): uniform in [0, min(max, base·2^(retry−1))]
 * (full jitter, so that many clients failing together do not come back together), but at least the
 * server's `Retry-After`, itself capped by `maxDelayMs`.
 */
export function backoffMs(
  policy: RetryPolicy,
  retry: number,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  const jittered = random() * cap;
  return retryAfterMs === undefined
    ? jittered
    : Math.max(jittered, Math.min(retryAfterMs, policy.maxDelayMs));
}

export interface RetryRun<F> extends RetryEnvironment {
  policy: RetryPolicy;
  /** Aborts the wait between attempts (the attempt itself watches the signal on its own). */
  signal?: AbortSignal | undefined;
  /** Whether this failure may be tried again. */
  retryable(failure: unknown): failure is F;
  /** The server's `Retry-After` carried by a failure, in ms. */
  retryAfterMs?(failure: F): number | undefined;
  /** Called before each retry with the failure that caused it. */
  onRetry?(failure: F, retry: number): void;
  /** What to throw for the last failure (`attempts` made); default the failure itself. */
  giveUp?(failure: unknown, attempts: number): unknown;
  /** What to throw when the wait before a retry was aborted; default the abort reason. */
  abortedWhileWaiting?(failure: F, attempts: number, reason: unknown): unknown;
}

/** Runs `attempt` (numbered from 1) until it resolves, fails for good, or the attempts are used up. */
export async function retrying<T, F>(attempt: (n: number) => Promise<T>, run: RetryRun<F>): Promise<T> {
  const sleep = run.sleep ?? abortableSleep;
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (failure) {
      if (n >= run.policy.attempts || !run.retryable(failure)) throw run.giveUp?.(failure, n) ?? failure;
      run.onRetry?.(failure, n);
      const delay = backoffMs(run.policy, n, run.retryAfterMs?.(failure), run.random);
      try {
        await sleep(delay, run.signal);
      } catch (reason) {
        throw run.abortedWhileWaiting?.(failure, n, reason) ?? reason;
      }
    }
  }
}
