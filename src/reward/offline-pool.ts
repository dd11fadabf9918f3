/**
 * Offline scoring (verdicts given in the input, no judge) across worker threads. Scoring is pure CPU
 * work, so on a machine with several cores the input bytes are cut into blocks of whole lines, each block
 * moves (transferred, not copied) to the first worker with room, which decodes, parses, scores and
 * serializes it and sends the output back as UTF-8 bytes (transferred too); blocks come back in input
 * order. Workers are fed as they finish, not in turns, so a block of costlier lines does not hold the
 * others up. By default one core is left to this thread, which reads, writes, and scores a block itself
 * whenever every worker holds its share (so it works while the workers start up, too).
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { ByteReader } from '../io/byte-reader.js';
import type { MAX_LINE_BYTES } from '../io/lines.js';
import { ProgressSignal } from '../io/progress-signal.js';
import { startWorker, workerBeside } from '../io/start-worker.js';
import { rethrowFailure, type SourceFailure, untilError } from '../io/until-error.js';
import type { BatchStats } from './batch.js';
import { BlockMemory, rawChunks } from './offline-blocks.js';
import {
  type ChunkBytes,
  type ChunkResult,
  chunkResult,
  type OfflineScoringOptions,
  type RawChunk,
  scoreRawChunk,
} from './offline-chunk.js';

export { rawChunks } from './offline-blocks.js';
export {
  type ChunkResult,
  type InputLine,
  linesOfChunk,
  type RawChunk,
  scoreChunk,
} from './offline-chunk.js';

export interface OfflineOptions extends OfflineScoringOptions {
  /** Worker threads (default: the machine's parallelism; 0 scores in this thread). */
  workers?: number;
  /** Bytes of input per chunk (default 1 MiB). */
  chunkBytes?: number;
  /** The input's name in errors (default 'input'). */
  name?: string;
  /** The longest input line in bytes (default {@link MAX_LINE_BYTES}); a longer one stops the run. */
  maxLineBytes?: number;
  /**
   * Whether this thread scores a block itself when every worker is full (default: when the workers leave
   * a core free, as they do by default).
   */
  thisThreadHelps?: boolean;
}

export function mergeStats(into: BatchStats, from: BatchStats): void {
  for (const key of Object.keys(into) as Array<keyof BatchStats>) into[key] += from[key];
}

/** What a worker needs: the scoring options only (plain data, cloned once at start). */
function scoringOptions(options: OfflineOptions): OfflineScoringOptions {
  const out: OfflineScoringOptions = {};
  if (options.config !== undefined) out.config = options.config;
  if (options.mathCheck !== undefined) out.mathCheck = options.mathCheck;
  if (options.clipVerdicts !== undefined) out.clipVerdicts = options.clipVerdicts;
  if (options.onJudgeError !== undefined) out.onJudgeError = options.onJudgeError;
  return out;
}

/** One chunk sent out: its result once it is back. */
interface Slot {
  done: boolean;
  result?: ChunkResult;
  error?: Error;
}

/** A worker thread that scores raw chunks; `busy` counts the chunks it holds. */
class ChunkWorker {
  private readonly worker: Worker;
  private readonly slots = new Map<number, Slot>();
  private nextId = 0;
  constructor(
    options: OfflineScoringOptions,
    private readonly settled: () => void,
    private readonly memory: BlockMemory,
  ) {
    this.worker = startWorker(workerBeside(import.meta.url, 'offline-worker'), { workerData: { options } });
    this.worker.on('message', (msg: { id: number; result: ChunkBytes; input: Uint8Array }) => {
      this.memory.give(msg.input.buffer as ArrayBuffer);
      const slot = this.slots.get(msg.id);
      this.slots.delete(msg.id);
      if (slot === undefined) return;
      slot.result = chunkResult(msg.result);
      slot.done = true;
      this.settled();
    });
    this.worker.on('error', (err) => this.failAll(err));
    this.worker.on('exit', (code) => {
      if (this.slots.size > 0) this.failAll(new Error(`scoring worker exited with code ${code}`));
    });
  }
  get busy(): number {
    return this.slots.size;
  }
  private failAll(err: Error): void {
    for (const slot of this.slots.values()) {
      slot.error = err;
      slot.done = true;
    }
    this.slots.clear();
    this.settled();
  }
  score(chunk: RawChunk): Slot {
    const id = this.nextId++;
    const slot: Slot = { done: false };
    this.slots.set(id, slot);
    // The bytes move to the worker (transferred, not copied): a block's memory is its own (rawChunks).
    const { bytes } = chunk;
    this.worker.postMessage({ id, firstLine: chunk.firstLine, bytes }, [bytes.buffer as ArrayBuffer]);
    return slot;
  }
  close(): Promise<number> {
    return this.worker.terminate();
  }
}

/** Chunks a worker may hold at once: one it scores, one waiting, so it never waits for the next. */
const PER_WORKER = 2;

/**
 * Scores an input byte stream (JSONL) offline and yields chunk results in input order. Under
 * `onJudgeError: 'fail'` the chunk with the first failure is the last one yielded (its `aborted` says why).
 * A small input (one chunk) is scored in this thread, with no worker start-up.
 */
export async function* scoreLinesOffline(
  source: ByteReader | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  options: OfflineOptions = {},
): AsyncGenerator<ChunkResult> {
  const cores = availableParallelism();
  // One core is this thread's: it reads, writes, and scores whenever the workers are full.
  const workers = Math.max(0, options.workers ?? cores - 1);
  const helps = options.thisThreadHelps ?? workers < cores;
  const scoring = scoringOptions(options);
  const failure: SourceFailure = {};
  const blockBytes = options.chunkBytes ?? 1 << 20;
  const memory = new BlockMemory(blockBytes);
  const chunks = untilError(rawChunks(source, blockBytes, options, memory), failure);
  const inline = (chunk: RawChunk): ChunkResult => {
    const result = chunkResult(scoreRawChunk(chunk, scoring));
    memory.give(chunk.bytes.buffer as ArrayBuffer);
    return result;
  };
  if (workers === 0) {
    for await (const chunk of chunks) {
      const r = inline(chunk);
      yield r;
      if (r.aborted !== undefined) return;
    }
    rethrowFailure(failure);
    return;
  }
  const pool: ChunkWorker[] = [];
  // Chunks sent out and not yet yielded, in input order.
  const order: Slot[] = [];
  // Results held for order are bounded too: a slow chunk at the head stops the reading.
  // Room too for what this thread scores while the first worker starts (~0.1 s: several blocks).
  const maxHeld = Math.max(16, workers * PER_WORKER * 2);
  // A chunk may finish while this generator reads input or waits for its reader: the signal keeps that.
  const progress = new ProgressSignal();
  const settled = () => progress.notify();
  let stopped = false;
  /** Yields the finished results at the head, in order; sets `stopped` at an aborted one. */
  function* ready(): Generator<ChunkResult> {
    while (!stopped && order.length > 0 && order[0]!.done) {
      const slot = order.shift()!;
      if (slot.error !== undefined) throw slot.error;
      const r = slot.result!;
      if (r.aborted !== undefined) stopped = true;
      yield r;
    }
  }
  /** The least busy worker with room (the first such), starting workers as needed. */
  const idle = (): ChunkWorker | undefined => {
    if (order.length >= maxHeld) return undefined;
    if (pool.length < workers) {
      const w = new ChunkWorker(scoring, settled, memory);
      pool.push(w);
      return w;
    }
    let best: ChunkWorker | undefined;
    for (const w of pool) if (w.busy < PER_WORKER && (best === undefined || w.busy < best.busy)) best = w;
    return best;
  };
  let first: RawChunk | undefined;
  let sent = 0;
  try {
    // A stream that fails (an unreadable or over-long line) still has everything before it scored.
    for await (const chunk of chunks) {
      // Hold the first chunk until a second one exists: a one-chunk input never starts a worker.
      if (sent === 0 && first === undefined) {
        first = chunk;
        continue;
      }
      for (const c of first === undefined ? [chunk] : [first, chunk]) {
        let slot: Slot | undefined;
        for (;;) {
          const seen = progress.seen;
          yield* ready();
          if (stopped) return;
          const w = idle();
          if (w !== undefined) {
            slot = w.score(c);
            break;
          }
          if (helps && order.length < maxHeld) {
            // Every worker holds its share and a core is free: this thread scores the block itself
            // (while the workers start, and whenever they fall behind).
            slot = { done: true, result: inline(c) };
            break;
          }
          await progress.after(seen);
        }
        order.push(slot);
        sent++;
      }
      first = undefined;
      yield* ready();
      if (stopped) return;
    }
    if (first !== undefined) {
      const r = inline(first);
      yield r;
      if (r.aborted !== undefined) return;
    }
    while (order.length > 0) {
      const seen = progress.seen;
      yield* ready();
      if (stopped) return;
      if (order.length > 0) await progress.after(seen);
    }
    rethrowFailure(failure);
  } finally {
    // Results still in flight after a stop are dropped: nothing after the stop is written.
    await Promise.all(pool.map((w) => w.close()));
  }
}
