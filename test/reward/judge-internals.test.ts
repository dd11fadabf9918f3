import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  createJudgeCache,
  judgeCacheKey,
  judgeCacheKeyer,
} from '../../src/reward/judge-cache.js';
import { InFlightTable, pathOf, plainMessages } from '../../src/reward/judge-inflight.js';
import { createLimiter } from '../../src/reward/limiter.js';

describe('limiter', () => {
  it('bounds concurrency, keeps FIFO order and frees the slot when a task fails', async () => {
    const limiter = createLimiter(2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const task = (i: number) => async () => {
      running++;
      peak = Math.max(peak, running);
      order.push(i);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      if (i === 0) throw new Error('boom');
      return i;
    };
    const results = await Promise.allSettled([0, 1, 2, 3, 4].map((i) => limiter.run(task(i))));
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect(results[0]?.status).toBe('rejected');
    expect(results.slice(1).map((r) => (r.status === 'fulfilled' ? r.value : null))).toEqual([1, 2, 3, 4]);
    expect(limiter.active).toBe(0);
    expect(limiter.pending).toBe(0);
  });

  it('rejects a non-positive limit', () => {
    expect(() => createLimiter(0)).toThrow(RangeError);
  });
});

describe('judge cache', () => {
  it('hashes requests independently of object key order', () => {
    const messages = [{ role: 'user', content: 'x' }];
    const a = judgeCacheKey({ model: 'm', messages, params: { temperature: 0, max_tokens: 5 } });
    const b = judgeCacheKey({ model: 'm', messages, params: { max_tokens: 5, temperature: 0 } });
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(judgeCacheKey({ model: 'm', messages, params: { temperature: 0.1, max_tokens: 5 } })).not.toBe(a);
    expect(
      judgeCacheKey({
        endpoint: 'http://b/v1/chat/completions',
        model: 'm',
        messages,
        params: { temperature: 0, max_tokens: 5 },
      }),
    ).not.toBe(a);
    expect(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: 0 } })).toBe(
      '{"a":{"c":0,"d":[{"y":2,"z":1}]},"b":1}',
    );
  });

  it("keys a judge's many requests exactly as judgeCacheKey does", () => {
    const text = fc.string({ unit: 'binary', maxLength: 40 });
    const message = fc.oneof(
      fc.record({ role: fc.constantFrom('system', 'user', 'assistant'), content: text }),
      // Messages with more fields go the long way.
      fc.record({ role: text, content: text, name: text }),
    );
    fc.assert(
      fc.property(
        fc.option(text, { nil: undefined }),
        text,
        fc.array(message, { maxLength: 4 }),
        fc.dictionary(text, fc.jsonValue(), { maxKeys: 4 }),
        (endpoint, model, messages, params) => {
          const identity = { ...(endpoint === undefined ? {} : { endpoint }), model, params };
          expect(judgeCacheKeyer(identity)(messages)).toBe(judgeCacheKey({ ...identity, messages }));
        },
      ),
    );
  });

  it('writes entries atomically and reads back hits, misses and corrupt files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gtalign-cache-'));
    try {
      const cache = createJudgeCache(dir);
      const key = 'ab'.repeat(32);
      await expect(cache.get(key)).resolves.toEqual({ status: 'miss' });
      await cache.set(key, { reply: '\\boxed{1}', model: 'm' });
      await expect(cache.get(key)).resolves.toEqual({
        status: 'hit',
        entry: { reply: '\\boxed{1}', model: 'm' },
      });
      expect(await readdir(join(dir, 'ab'))).toEqual([`${key}.json`]); // no temp files left behind
      await writeFile(
        cache.pathOf(key),
        JSON.stringify({ v: 1, key: 'cd'.repeat(32), model: 'm', reply: 'x' }),
      );
      await expect(cache.get(key)).resolves.toMatchObject({ status: 'corrupt', reason: /does not match/ });
      await writeFile(cache.pathOf(key), '');
      await expect(cache.get(key)).resolves.toMatchObject({ status: 'corrupt', reason: 'not valid JSON' });
      expect(() => cache.pathOf('../../etc/passwd')).toThrow(RangeError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('never shows a reader a half-written entry while writers race on one key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gtalign-cache-'));
    try {
      // Two cache objects on one folder stand for two scoring processes.
      const caches = [createJudgeCache(dir), createJudgeCache(dir)];
      const key = 'ef'.repeat(32);
      const replies = Array.from({ length: 40 }, (_, i) => `reply ${i} ${'x'.repeat(20_000)}`);
      const reads: Array<Promise<{ status: string }>> = [];
      const writes = replies.map((reply, i) => {
        reads.push(caches[(i + 1) % 2]!.get(key));
        return caches[i % 2]!.set(key, { reply, model: 'm' });
      });
      await Promise.all(writes);
      for (const r of await Promise.all(reads)) expect(['hit', 'miss']).toContain(r.status);
      const final = await caches[0]!.get(key);
      expect(final.status).toBe('hit');
      if (final.status === 'hit') expect(replies).toContain(final.entry.reply);
      expect(await readdir(join(dir, 'ef'))).toEqual([`${key}.json`]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the table of judge requests in flight', () => {
  const sys = { role: 'system', content: 'rubric' };
  const ask = (content: string) => [sys, { role: 'user', content }];

  it('finds a request by scope and messages, and prunes what its removal leaves empty', () => {
    const table = new InFlightTable<string>();
    const a = pathOf(ask('a'));
    const b = pathOf(ask('b'));
    table.set('plain', a, 'run a');
    table.set('plain', b, 'run b');
    expect(table.get('plain', pathOf(ask('a')))).toBe('run a');
    expect(table.get('other', a)).toBeUndefined();
    // A prefix of a request is not a request.
    expect(table.get('plain', pathOf([sys]))).toBeUndefined();
    table.delete('plain', a);
    expect(table.get('plain', a)).toBeUndefined();
    expect(table.get('plain', b)).toBe('run b');
    table.delete('plain', b);
    expect((table as unknown as { roots: Map<unknown, unknown> }).roots.size).toBe(0);
  });

  it('tells apart texts of the same length, and keeps one when the other leaves', () => {
    const table = new InFlightTable<string>();
    const one = pathOf(ask(`${'x'.repeat(3000)}1`));
    const two = pathOf(ask(`${'x'.repeat(3000)}2`));
    table.set('plain', one, 'run 1');
    table.set('plain', two, 'run 2');
    // Equal texts made apart are the same request.
    expect(table.get('plain', pathOf(ask(`${'x'.repeat(3000)}${1}`)))).toBe('run 1');
    expect(table.get('plain', two)).toBe('run 2');
    table.delete('plain', one);
    expect(table.get('plain', one)).toBeUndefined();
    expect(table.get('plain', two)).toBe('run 2');
  });

  it('holds only plain {role, content} messages', () => {
    expect(plainMessages(ask('a'))).toBe(true);
    expect(
      plainMessages([{ role: 'user', content: 'x', name: 'n' } as { role: string; content: string }]),
    ).toBe(false);
  });
});
