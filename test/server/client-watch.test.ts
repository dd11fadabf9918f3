/** A request's client watch: the flag, the watchers and the AbortSignal made on demand agree. */
import { describe, expect, it } from 'vitest';
import { ClientWatch } from '../../src/server/client-watch.js';

describe('ClientWatch', () => {
  it('tells each watcher once, with the reason, and aborts a signal made before or after', () => {
    const client = new ClientWatch();
    const early = client.signal;
    const told: unknown[] = [];
    const stays = { aborted: (r: unknown) => told.push(['stays', r]) };
    const leaves = { aborted: (r: unknown) => told.push(['leaves', r]) };
    client.watch(stays);
    client.watch(leaves);
    client.unwatch(leaves);
    expect(client.gone).toBe(false);
    expect(early.aborted).toBe(false);

    const reason = new Error('gone');
    client.leave(reason);
    client.leave(new Error('again'));
    expect(client.gone).toBe(true);
    expect(client.reason).toBe(reason);
    expect(told).toEqual([['stays', reason]]);
    expect(early.aborted).toBe(true);
    expect(early.reason).toBe(reason);
    const late = client.signal;
    expect(late.aborted).toBe(true);
    expect(late.reason).toBe(reason);
  });
});
