/** Worker thread of the offline scoring pool: scores the chunks it is sent (see offline-pool.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import { type OfflineScoringOptions, scoreRawChunk } from './offline-chunk.js';

const options = (workerData as { options: OfflineScoringOptions }).options;
parentPort!.on('message', (msg: { id: number; firstLine: number; bytes: Uint8Array }) => {
  const result = scoreRawChunk(msg, options);
  // The output bytes own their memory: they move back without a copy, and so does the input's memory,
  // to be filled with another block.
  parentPort!.postMessage({ id: msg.id, result, input: msg.bytes }, [
    result.bytes.buffer as ArrayBuffer,
    msg.bytes.buffer as ArrayBuffer,
  ]);
});
