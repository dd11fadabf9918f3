/**
 * Server-kind detection once per command run: the chat backend and a judge on the same server share one
 * probe. Scoped to the run, not the process, so that runs in one process (tests run the CLI in-process)
 * never reuse what another run saw, at a port a later server may have taken over.
 */
import type { Env } from '../config/env.js';
import { type Detection, type DetectOptions, detectVendorWithin } from '../llm/detect.js';

// A run's environment object stands for the run: the process's for the executable, a fresh one per
// in-process run. Weak, so that a finished run's detections go with it.
const byRun = new WeakMap<Env, Map<string, Promise<Detection>>>();

/** `detectVendor`, once per run (`env`) per base URL and API key: later calls get the same promise. */
export function detectVendorForRun(env: Env, options: DetectOptions): Promise<Detection> {
  let detections = byRun.get(env);
  if (detections === undefined) {
    detections = new Map();
    byRun.set(env, detections);
  }
  return detectVendorWithin(detections, options);
}
