import { describe, expect, it } from 'vitest';
import { backoffMs, checkRetryPolicy, retrying } from '../../src/llm/retry.js';
import { ChatModelError, type ChatModelFailure } from '../../src/llm/types.js';

const policy = { attempts: 4, baseDelayMs: 100, maxDelayMs: 300 };

describe('backoffMs', () => {
  it('is full jitter under a cap that doubles per retry, bounded by maxDelayMs', () => {
    expect([1, 2, 3, 4].map((n) => backoffMs(policy, n, undefined, () => 0.5))).toEqual([50, 100, 150, 150]);
    expect(backoffMs(policy, 3, undefined, () => 0)).toBe(0);
    expect(backoffMs(policy, 1, undefined, () => 0.999)).toBeLessThan(100);
  });

  it('waits at least a Retry-After, itself capped by maxDelayMs', () => {
    expect(backoffMs(policy, 1, 250, () => 0)).toBe(250);
    expect(backoffMs(policy, 1, 5_000, () => 0)).toBe(300);
    expect(backoffMs(policy, 3, 10, () => 1)).toBe(300);
  });
});

describe('checkRetryPolicy', () => {
  it('names the field that cannot be used', () => {
    expect(() => checkRetryPolicy({ ...policy, attempts: 0 }, 'x')).toThrow(
      /x: attempts must be an integer >= 1/,
    );
    expect(() => checkRetryPolicy({ ...policy, baseDelayMs: -1 }, 'x')).toThrow(/baseDelayMs/);
    expect(() => checkRetryPolicy({ ...policy, maxDelayMs: Number.NaN }, 'x')).toThrow(/maxDelayMs/);
  });
});

describe('retrying', () => {
  const retryable = (e: unknown): e is Error => e instanceof Error && e.message === 'again';

  it('retries what the predicate allows, waits as the policy says, and gives up after the last attempt', async () => {
    const waits: number[] = [];
    const seen: number[] = [];
    const run = retrying(
      async (n) => {
        seen.push(n);
        throw new Error('again');
      },
      {
        policy,
        random: () => 1,
        sleep: async (ms) => {
          waits.push(ms);
        },
        retryable,
        giveUp: (e, n) => new Error(`${(e as Error).message} ×${n}`),
      },
    );
    await expect(run).rejects.toThrow('again ×4');
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(waits).toEqual([100, 200, 300]);
  });

  it('stops at a failure the predicate refuses, and returns the first success', async () => {
    let calls = 0;
    await expect(
      retrying(
        async () => {
          calls++;
          throw new Error('final');
        },
        { policy, sleep: async () => {}, retryable },
      ),
    ).rejects.toThrow('final');
    expect(calls).toBe(1);
    await expect(
      retrying(async (n) => (n < 3 ? Promise.reject(new Error('again')) : n), {
        policy,
        sleep: async () => {},
        retryable,
      }),
    ).resolves.toBe(3);
  });

  it('ends the wait when the signal aborts', async () => {
    const controller = new AbortController();
    const run = retrying(
      async () => {
        setTimeout(() => controller.abort(new Error('left')), 5);
        throw new Error('again');
      },
      {
        policy: { attempts: 2, baseDelayMs: 60_000, maxDelayMs: 60_000 },
        random: () => 1,
        signal: controller.signal,
        retryable,
        abortedWhileWaiting: (e, n, reason) =>
          new Error(`${(reason as Error).message} after ${n}: ${e.message}`),
      },
    );
    await expect(run).rejects.toThrow('left after 1: again');
  });
});

describe('ChatModelError', () => {
  it('says from its reason and status whether trying again can help', () => {
    const err = (reason?: ChatModelFailure, status?: number) =>
      new ChatModelError('x', { backend: 'b', ...(reason ? { reason } : {}), ...(status ? { status } : {}) });
    for (const reason of ['network', 'timeout', 'malformed', 'incomplete', 'upstream'] as const) {
      expect(err(reason).retryable, reason).toBe(true);
    }
    for (const reason of ['too_large', 'constraint', 'refused', 'aborted', 'engine'] as const) {
      expect(err(reason).retryable, reason).toBe(false);
    }
    expect([408, 429, 500, 503].map((s) => err('http_status', s).retryable)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect([400, 401, 404].map((s) => err('http_status', s).retryable)).toEqual([false, false, false]);
    // Made without a reason: no status means no answer at all.
    expect(err().retryable).toBe(true);
    expect(err().cause).toBeUndefined();
    expect(new ChatModelError('x', { backend: 'b', cause: 'why' }).cause).toBe('why');
  });
});
