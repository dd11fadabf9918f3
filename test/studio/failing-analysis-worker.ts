/**
 * A study analysis worker that fails, for test/studio/analysis-off-thread.test.ts: `?throw` in its URL
 * throws on its input, `?exit` ends the thread with exit code 3 without an answer.
 */
import { parentPort } from 'node:worker_threads';

const how = new URL(import.meta.url).search;
parentPort!.once('message', () => {
  if (how === '?exit') process.exit(3);
  throw new Error('the statistics ran out of memory (simulated)');
});
