import { describe, expect, it } from 'vitest';
import { ProgressSignal } from '../../src/io/progress-signal.js';

describe('ProgressSignal', () => {
  it('wakes at once for an event that came before the wait (the lost wake-up)', async () => {
    const signal = new ProgressSignal();
    const seen = signal.seen;
    signal.notify(); // while the waiter was busy elsewhere
    let woke = false;
    await signal.after(seen).then(() => {
      woke = true;
    });
    expect(woke).toBe(true);
  });

  it('waits when nothing happened since, and wakes on the next event', async () => {
    const signal = new ProgressSignal();
    let woke = false;
    const waiting = signal.after(signal.seen).then(() => {
      woke = true;
    });
    await Promise.resolve();
    expect(woke).toBe(false);
    signal.notify();
    await waiting;
    expect(woke).toBe(true);
  });
});
