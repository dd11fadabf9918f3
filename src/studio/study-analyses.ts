/**
 * The studio's study analyses, off the server's thread: each runs in a worker thread of its own
 * (analysis-worker.ts), since a large study (10 raters × 1000 items) takes seconds of bootstraps and
 * permutations that would otherwise keep every rater's request waiting.
 *
 * Bounded: one analysis at a time per study. A request for the revision being analyzed shares that
 * analysis; a request made after the study changed waits for it and then shares one fresh analysis of the
 * latest revision (at most one is queued per study), so no one gets figures older than their request.
 * The latest result is kept and served again until the study changes. A worker that fails or stops rejects
 * its requests with an {@link AnalysisError} naming the study and why; the next request starts a new one.
 */

import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { startWorker, workerBeside } from '../io/start-worker.js';
import { createLimiter } from '../reward/limiter.js';
import { type AnalysisInput, analysisInput, type StudyAnalysis } from './analysis.js';
import type { AnalysisWorkerData } from './analysis-worker.js';
import type { StudyStore } from './study.js';

export class AnalysisError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AnalysisError';
  }
}

export interface StudyAnalysesOptions {
  /** The worker module (default analysis-worker beside this file); tests give one that fails. */
  worker?: URL;
  /** For tests only: see {@link AnalysisWorkerData.gate}. */
  gate?: Int32Array;
  /**
   * Analyses running at once across all studies (default: the cores but one, at least one); more wait
   * their turn, so several studies analyzed together do not take every core from the server.
   */
  maxWorkers?: number;
}

export interface StudyAnalyses {
  /** The analysis of the study as it is now (or later), computed in a worker thread. */
  analyze(id: string): Promise<StudyAnalysis>;
  /** Stops every analysis in progress (their requests are told the studio is stopping). */
  close(): Promise<void>;
  /** Worker threads running now. */
  readonly running: number;
}

interface Job {
  revision: number;
  result: Promise<StudyAnalysis>;
}

interface StudySlot {
  running?: Job;
  /** The one analysis queued behind `running`, of the revision there is when it starts. */
  queued?: Promise<StudyAnalysis>;
  latest?: { revision: number; analysis: StudyAnalysis };
}

export function createStudyAnalyses(store: StudyStore, options: StudyAnalysesOptions = {}): StudyAnalyses {
  const entry = options.worker ?? workerBeside(import.meta.url, 'analysis-worker');
  const slots = new Map<string, StudySlot>();
  const workers = new Set<{ id: string; worker: Worker; stop: (err: Error) => void }>();
  let closed = false;
  // Analyses waiting for a worker run first come first served; at close, each one left finds `closed`.
  const workerSlots = createLimiter(Math.max(1, options.maxWorkers ?? availableParallelism() - 1));
  const stopping = (id: string): AnalysisError =>
    new AnalysisError(`the analysis of study ${id} was not started: the studio is stopping`);

  /** Analyzes the study's current items and ratings in a new worker, once a worker slot is free. */
  const run = async (id: string): Promise<StudyAnalysis> => {
    if (closed) throw stopping(id);
    const study = store.get(id);
    // The items and ratings are copied now (to the worker), so later ratings cannot change this analysis.
    const input = { ...analysisInput(study, store.ratings(id)), seed: 1 };
    return workerSlots.run(async () => {
      if (closed) throw stopping(id);
      return inWorker(id, input);
    });
  };

  const inWorker = (id: string, input: AnalysisInput & { seed: number }): Promise<StudyAnalysis> => {
    return new Promise<StudyAnalysis>((resolve, reject) => {
      const data: AnalysisWorkerData = options.gate === undefined ? {} : { gate: options.gate };
      let worker: Worker;
      try {
        worker = startWorker(entry, { workerData: data });
      } catch (err) {
        reject(new AnalysisError(`the analysis of study ${id} could not start: ${(err as Error).message}`));
        return;
      }
      let settled = false;
      const handle = {
        id,
        worker,
        stop: (err: Error) => {
          if (settled) return;
          settled = true;
          workers.delete(handle);
          reject(err);
        },
      };
      workers.add(handle);
      worker.once('message', (analysis: StudyAnalysis) => {
        if (settled) return;
        settled = true;
        workers.delete(handle);
        resolve(analysis);
        void worker.terminate();
      });
      // `on`, not `once`: an 'error' with no listener left would be thrown on the server's thread.
      worker.on('error', (err: unknown) =>
        handle.stop(
          new AnalysisError(
            `the analysis of study ${id} failed: ${err instanceof Error ? err.message : String(err)}`,
          ),
        ),
      );
      worker.once('exit', (code) =>
        handle.stop(
          new AnalysisError(`the analysis of study ${id} stopped (exit code ${code}) before it finished`),
        ),
      );
      worker.postMessage(input);
    });
  };

  /** Starts an analysis of the study's current revision as its running one. */
  const start = (id: string, slot: StudySlot): Promise<StudyAnalysis> => {
    const revision = store.revision(id);
    if (slot.latest?.revision === revision) return Promise.resolve(slot.latest.analysis);
    const job: Job = { revision, result: run(id) };
    slot.running = job;
    const settle = () => {
      if (slot.running === job) slot.running = undefined;
    };
    job.result.then((analysis) => {
      settle();
      if (slot.latest === undefined || slot.latest.revision <= revision) slot.latest = { revision, analysis };
    }, settle);
    return job.result;
  };

  return {
    async analyze(id) {
      const revision = store.revision(id);
      let slot = slots.get(id);
      if (slot === undefined) {
        slot = {};
        slots.set(id, slot);
      }
      if (slot.latest?.revision === revision) return slot.latest.analysis;
      if (slot.running === undefined) return start(id, slot);
      if (slot.running.revision === revision) return slot.running.result;
      // The running analysis is of an older revision: one fresh analysis follows it, shared by all who ask.
      let queued = slot.queued;
      if (queued === undefined) {
        const s = slot;
        queued = slot.running.result
          .then(
            () => undefined,
            () => undefined,
          )
          .then(() => {
            s.queued = undefined;
            return start(id, s);
          });
        slot.queued = queued;
      }
      return queued;
    },
    get running() {
      return workers.size;
    },
    async close() {
      closed = true;
      const stopping = [...workers];
      for (const { id, worker, stop } of stopping) {
        stop(new AnalysisError(`the analysis of study ${id} was stopped: the studio is stopping`));
        await worker.terminate();
      }
    },
  };
}
