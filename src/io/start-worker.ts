/**
 * Starting a worker thread from a module next to the caller, in the built package (`NAME.js`) and when
 * running from source (tests, tsx: `NAME.ts`). Node 20 does not pass the parent's loader to workers, so a
 * TypeScript entry point gets a tiny bootstrap that registers tsx in the worker before importing it.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** The worker module `name` beside the module at `here` (its `import.meta.url`), as that one is: .ts or .js. */
export function workerBeside(here: string, name: string): URL {
  return new URL(`./${name}${here.endsWith('.ts') ? '.ts' : '.js'}`, here);
}

/** Starts a worker running `entry`; a `.ts` entry runs through tsx. */
export function startWorker(entry: URL, options: WorkerOptions = {}): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, options);
  const bootstrap = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}
