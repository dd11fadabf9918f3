/**
 * Offline scoring (verdicts given in the input, no judge) across worker threads. Scoring is pure CPU
 * work, so on a machine with several cores the lines are cut into chunks, each chunk is parsed, scored
 * and serialized in a worker, and the chunks come back in input order.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { LineTooLongError, MAX_LINE_BYTES } from '../io/lines.js';
import { rethrowFailure, type SourceFailure, untilError } from '../io/until-error.js';
import {
  type BatchStats,
  describeLine,
  newBatchStats,
  resolveBatchOptions,
  scoreWithoutJudge,
} from './batch.js';
import type { RewardConfig } from './config.js';
import { outputLine, parseScoreLine } from './jsonl.js';

export interface OfflineOptions {
  config?: RewardConfig;
  mathCheck?: boolean;
  /** Clip an input verdict outside its task's scale, as the reference does (default: an error). */
  clipVerdicts?: boolean;
  onJudgeError?: 'skip' | 'fail';
  /** Worker threads (default: the machine's parallelism; 0 scores in this thread). */
  workers?: number;
  /** Bytes of input per chunk (default 1 MiB). */
  chunkBytes?: number;
  /** The input's name in errors (default 'input'). */
  name?: string;
  /** The longest input line in bytes (default {@link MAX_LINE_BYTES}); a longer one stops the run. */
  maxLineBytes?: number;
}

export interface InputLine {
  line: number;
  text: string;
}

export interface ChunkResult {
  /** Output lines, each JSON + newline, in input order; under `fail` they stop before the first failure. */
  text: string;
  /** How many output lines `text` holds. */
  count: number;
  /** One message per failed line, for stderr. */
  errors: string[];
  stats: BatchStats;
  /** Under `fail`: the first failure's message; nothing after it was scored. */
  aborted?: string;
}

/** Scores one chunk of input lines in this thread. Never throws. */
export function scoreChunk(chunk: readonly InputLine[], options: OfflineOptions): ChunkResult {
  const resolved = resolveBatchOptions({ ...options, judge: undefined });
  const stats = newBatchStats();
  const out: ChunkResult = { text: '', count: 0, errors: [], stats };
  const lines: string[] = [];
  for (const { line, text } of chunk) {
    const result = scoreWithoutJudge(parseScoreLine(text, line), resolved, stats);
    // Without a judge nothing stays pending: scoreWithoutJudge returns a failure instead.
    if ('pending' in result) throw new Error('unreachable: a pending sample without a judge');
    stats.samples++;
    if ('error' in result) {
      stats.failures++;
      const message = `${describeLine(result)}: ${result.error.message}`;
      if (resolved.onJudgeError === 'fail') {
        out.aborted = message;
        break;
      }
      out.errors.push(message);
    } else {
      stats.scored++;
      stats.scoreSum += result.record.score;
    }
    lines.push(outputLine(result));
  }
  out.count = lines.length;
  out.text = lines.length > 0 ? `${lines.join('\n')}\n` : '';
  return out;
}

export function mergeStats(into: BatchStats, from: BatchStats): void {
  for (const key of Object.keys(into) as Array<keyof BatchStats>) into[key] += from[key];
}

function startWorker(options: OfflineOptions): Worker {
  if (!import.meta.url.endsWith('.ts'))
    return new Worker(new URL('./offline-worker.js', import.meta.url), { workerData: { options } });
  // Running from source (tests, tsx): Node 20 does not pass the parent's loader to workers, so a tiny
  // bootstrap registers tsx in the worker before importing the TypeScript entry point.
  const entry = new URL('./offline-worker.ts', import.meta.url).href;
  const bootstrap = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: { options } });
}

interface Pending {
  resolve: (r: ChunkResult) => void;
  reject: (e: Error) => void;
}

/** A block of whole input lines as raw bytes, and the line number of its first line. */
export interface RawChunk {
  firstLine: number;
  bytes: Uint8Array;
}

const NEWLINE = 0x0a;

/**
 * Cuts a byte stream into blocks of whole lines of about `targetBytes`, numbering lines as it goes.
 * Only newlines are looked for here (natively, with indexOf); decoding and splitting happen where the
 * block is scored, so the reading thread stays light. A line longer than `limits.maxLineBytes` stops the
 * stream with a {@link LineTooLongError} naming it.
 */
export async function* rawChunks(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  targetBytes = 1 << 20,
  limits: { name?: string; maxLineBytes?: number } = {},
): AsyncGenerator<RawChunk> {
  const maxLine = limits.maxLineBytes ?? MAX_LINE_BYTES;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  // Bytes after the last newline seen: the length so far of the line being read.
  let openLineBytes = 0;
  let line = 1;
  const countLines = (bytes: Buffer): number => {
    let n = 0;
    for (let i = bytes.indexOf(NEWLINE); i >= 0; i = bytes.indexOf(NEWLINE, i + 1)) n++;
    return n;
  };
  const cut = (upTo: Buffer | undefined): RawChunk => {
    const bytes = Buffer.concat(upTo === undefined ? pending : [...pending, upTo]);
    const chunk = { firstLine: line, bytes };
    line += countLines(bytes);
    return chunk;
  };
  for await (const piece of source) {
    const buf =
      typeof piece === 'string'
        ? Buffer.from(piece, 'utf8')
        : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    const last = buf.lastIndexOf(NEWLINE);
    // The whole lines before an over-long one are still scored; then the stream stops, naming it.
    const tooLong = function* (lineStart: number): Generator<RawChunk, never> {
      const bytes = Buffer.concat([...pending, buf.subarray(0, lineStart)]);
      const end = bytes.lastIndexOf(NEWLINE);
      if (end >= 0) {
        pending = [];
        yield cut(bytes.subarray(0, end + 1));
      }
      throw new LineTooLongError(limits.name ?? 'input', line + countLines(bytes.subarray(end + 1)), maxLine);
    };
    if (last < 0) {
      openLineBytes += buf.length;
      if (openLineBytes > maxLine) yield* tooLong(0);
    } else {
      const first = buf.indexOf(NEWLINE);
      if (openLineBytes + first > maxLine) yield* tooLong(0);
      // Only a piece larger than the bound can hold a whole line over it (stream pieces never are).
      if (buf.length > maxLine) {
        for (let s = first + 1, e = buf.indexOf(NEWLINE, s); e >= 0; s = e + 1, e = buf.indexOf(NEWLINE, s)) {
          if (e - s > maxLine) yield* tooLong(s);
        }
      }
      openLineBytes = buf.length - last - 1;
      if (openLineBytes > maxLine) yield* tooLong(last + 1);
    }
    if (pendingBytes + buf.length < targetBytes || last < 0) {
      pending.push(buf);
      pendingBytes += buf.length;
      continue;
    }
    yield cut(buf.subarray(0, last + 1));
    const rest = buf.subarray(last + 1);
    pending = rest.length > 0 ? [rest] : [];
    pendingBytes = rest.length;
  }
  if (pendingBytes > 0) yield cut(undefined);
}

const decoder = new TextDecoder('utf-8');

/** The non-blank lines of a raw chunk, numbered; a byte-order mark before the very first line is dropped. */
export function linesOfChunk(chunk: RawChunk): InputLine[] {
  let text = decoder.decode(chunk.bytes);
  if (chunk.firstLine === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const out: InputLine[] = [];
  let line = chunk.firstLine;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    let lineText = text.slice(start, end);
    if (lineText.endsWith('\r')) lineText = lineText.slice(0, -1);
    if (lineText.trim() !== '') out.push({ line, text: lineText });
    line++;
    start = end + 1;
  }
  return out;
}

class ChunkWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  constructor(options: OfflineOptions) {
    this.worker = startWorker(options);
    this.worker.on('message', (msg: { id: number; result: ChunkResult }) => {
      this.pending.get(msg.id)?.resolve(msg.result);
      this.pending.delete(msg.id);
    });
    this.worker.on('error', (err) => this.failAll(err));
    this.worker.on('exit', (code) => {
      if (this.pending.size > 0) this.failAll(new Error(`scoring worker exited with code ${code}`));
    });
  }
  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
  score(chunk: RawChunk): Promise<ChunkResult> {
    const id = this.nextId++;
    // The bytes move to the worker (transferred, not copied); it decodes and splits them itself.
    const own = new Uint8Array(chunk.bytes);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, firstLine: chunk.firstLine, bytes: own }, [own.buffer]);
    });
  }
  close(): Promise<number> {
    return this.worker.terminate();
  }
}

/**
 * Scores an input byte stream (JSONL) offline and yields chunk results in input order. Under
 * `onJudgeError: 'fail'` the chunk with the first failure is the last one yielded (its `aborted` says why).
 * A small input (one chunk) is scored in this thread, with no worker start-up.
 */
export async function* scoreLinesOffline(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  options: OfflineOptions = {},
): AsyncGenerator<ChunkResult> {
  const workers = Math.max(0, options.workers ?? availableParallelism());
  const pool: ChunkWorker[] = [];
  const inFlight: Array<Promise<ChunkResult>> = [];
  let turn = 0;
  let first: RawChunk | undefined;
  const failure: SourceFailure = {};
  const inline = (chunk: RawChunk) => Promise.resolve(scoreChunk(linesOfChunk(chunk), options));
  const submit = (chunk: RawChunk): Promise<ChunkResult> => {
    if (workers === 0) return inline(chunk);
    if (pool.length < workers) pool.push(new ChunkWorker(options));
    return pool[turn++ % pool.length]!.score(chunk);
  };
  try {
    // A stream that fails (an unreadable or over-long line) still has everything before it scored.
    for await (const chunk of untilError(rawChunks(source, options.chunkBytes, options), failure)) {
      // Hold the first chunk until a second one exists: a one-chunk input never starts a worker.
      if (first === undefined && turn === 0 && inFlight.length === 0 && workers > 0) {
        first = chunk;
        continue;
      }
      if (first !== undefined) {
        inFlight.push(submit(first));
        first = undefined;
      }
      inFlight.push(submit(chunk));
      if (inFlight.length >= Math.max(2, workers * 2)) {
        const r = await inFlight.shift()!;
        yield r;
        if (r.aborted !== undefined) return;
      }
    }
    if (first !== undefined) inFlight.push(inline(first));
    while (inFlight.length > 0) {
      const r = await inFlight.shift()!;
      yield r;
      if (r.aborted !== undefined) return;
    }
    rethrowFailure(failure);
  } finally {
    // Results still in flight after a stop are dropped: nothing after the stop is written.
    for (const p of inFlight) p.catch(() => undefined);
    await Promise.all(pool.map((w) => w.close()));
  }
}
