/**
 * A `Scheduler` (src/server/coalesce.ts) whose timers fire only when the test says so: flushes and
 * deadlines of the reward server happen at the test's word, never by the machine's speed.
 */
import type { Scheduler } from '../../src/server/coalesce.js';

interface Timer {
  fn: () => void;
  ms: number;
  live: boolean;
}

export function manualScheduler() {
  const timers: Timer[] = [];
  const schedule: Scheduler = (fn, ms) => {
    const t = { fn, ms, live: true };
    timers.push(t);
    return () => {
      t.live = false;
    };
  };
  return {
    schedule,
    /** The delays of every timer scheduled so far, fired or not. */
    scheduled: () => timers.map((t) => t.ms),
    /** The timers not yet fired or cancelled. */
    live: () => timers.filter((t) => t.live),
    /** Fires the live timers of delay `ms`, or every live timer when `ms` is not given. */
    fire(ms?: number) {
      for (const t of timers.filter((x) => x.live && (ms === undefined || x.ms === ms))) {
        t.live = false;
        t.fn();
      }
    },
  };
}
