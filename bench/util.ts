/** Runs `fn` repeatedly for about `seconds` after a warm-up and returns calls per second. */
import { seededRandom } from '../src/random.js';
export function measure(fn: () => void, seconds = 1.5): { perSecond: number; calls: number } {
  const warmUntil = performance.now() + 200;
  while (performance.now() < warmUntil) fn();
  let calls = 0;
  const start = performance.now();
  const until = start + seconds * 1000;
  let now = start;
  while (now < until) {
    for (let i = 0; i < 50; i++) fn();
    calls += 50;
    now = performance.now();
  }
  return { perSecond: calls / ((now - start) / 1000), calls };
}

/** A seeded PRNG so benchmark inputs are the same on every run. */
export const rng = seededRandom;

export function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2);
}
