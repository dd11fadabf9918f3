/**
 * Worker thread of the studio's study analysis (study-analyses.ts): analyzes the one study it is sent and
 * posts the result back, so the seconds a large study takes keep no rater's page waiting.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type AnalysisInput, analyzeStudy } from './analysis.js';

/** What the worker is started with. */
export interface AnalysisWorkerData {
  /**
   * For tests only: once the worker has its input it adds 1 to `gate[1]` (the analyses started so far) and
   * notifies it, then waits while `gate[0]` is 0: a test so holds an analysis in progress for as long as
   * it needs, with no sleep.
   */
  gate?: Int32Array;
}

const { gate } = (workerData ?? {}) as AnalysisWorkerData;
parentPort!.once('message', (input: AnalysisInput & { seed: number }) => {
  if (gate !== undefined) {
    Atomics.add(gate, 1, 1);
    Atomics.notify(gate, 1);
    Atomics.wait(gate, 0, 0);
  }
  parentPort!.postMessage(analyzeStudy(input, input.ratings, input.seed));
});
