/**
 * Scoring one block of whole JSONL lines offline (verdicts given in the input, no judge), in whatever
 * thread holds it: the bytes are split and decoded line by line, each line is parsed, scored and written
 * as an output line, and the output comes back as UTF-8 bytes (what a file or pipe takes, and what moves
 * between threads without a copy). Imports nothing heavy, so that a scoring worker starts fast.
 */

import { utf8Problem } from '../io/utf8.js';
import {
  type BatchStats,
  describeLine,
  newBatchStats,
  resolveBatchOptions,
  scoreWithoutJudge,
} from './batch.js';
import type { RewardConfig } from './config-base.js';
import { outputLine, parseScoreLine } from './jsonl.js';

export interface OfflineScoringOptions {
  config?: RewardConfig;
  mathCheck?: boolean;
  /** Clip an input verdict outside its task's scale, as the reference does (default: an error). */
  clipVerdicts?: boolean;
  onJudgeError?: 'skip' | 'fail';
}

export interface InputLine {
  line: number;
  text: string;
  /** What is wrong when the line's bytes are not UTF-8 (the line is then an input error). */
  notUtf8?: string;
}

export interface ChunkResult {
  /** Output lines, each JSON + newline, in input order; under `fail` they stop before the first failure. */
  text: string;
  /** The same output as UTF-8 bytes, when the scorer produced bytes (a writer should prefer them). */
  bytes?: Uint8Array;
  /** How many output lines `text` holds. */
  count: number;
  /** One message per failed line, for stderr. */
  errors: string[];
  stats: BatchStats;
  /** Under `fail`: the first failure's message; nothing after it was scored. */
  aborted?: string;
}

/** A block of whole input lines as raw bytes, and the line number of its first line. */
export interface RawChunk {
  firstLine: number;
  bytes: Uint8Array;
}

/** What a scorer of raw chunks returns: {@link ChunkResult} without the text (see {@link chunkResult}). */
export interface ChunkBytes {
  bytes: Uint8Array;
  count: number;
  errors: string[];
  stats: BatchStats;
  aborted?: string;
}

const decoder = new TextDecoder('utf-8');

/** A {@link ChunkResult} over output bytes: `text` is decoded only if someone reads it. */
export function chunkResult(out: ChunkBytes): ChunkResult {
  let text: string | undefined;
  const result = {
    bytes: out.bytes,
    count: out.count,
    errors: out.errors,
    stats: out.stats,
    get text(): string {
      text ??= decoder.decode(out.bytes);
      return text;
    },
  } as ChunkResult;
  if (out.aborted !== undefined) result.aborted = out.aborted;
  return result;
}

/**
 * Output lines as UTF-8, written into one scratch buffer kept for the thread's life (warm memory) and
 * copied out once per block into memory of its own (to be transferred or written).
 */
class ByteSink {
  private static scratch = Buffer.allocUnsafeSlow(1 << 18);
  private buf = ByteSink.scratch;
  length = 0;
  /** Appends `text` and a newline. */
  line(text: string): void {
    // A UTF-16 code unit takes at most 3 bytes of UTF-8 (a surrogate pair, 2 units, takes 4).
    const need = this.length + 3 * text.length + 1;
    if (need > this.buf.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(need, 2 * this.buf.length));
      this.buf.copy(grown, 0, 0, this.length);
      this.buf = grown;
      ByteSink.scratch = grown;
    }
    this.length += this.buf.write(text, this.length);
    this.buf[this.length++] = 0x0a;
  }
  /** The bytes written, in memory of their own. */
  bytes(): Uint8Array {
    // Not zero-filled (every byte is written next), and not from Buffer's shared pool: its memory is its
    // own, to be transferred. Zeroing it cost as much as the copy.
    const out = Buffer.allocUnsafeSlow(this.length);
    out.set(this.buf.subarray(0, this.length));
    return out;
  }
}

/** Scores numbered lines one at a time into a sink; see {@link scoreRawChunk}. */
class LineScorer {
  readonly resolved;
  readonly stats = newBatchStats();
  readonly errors: string[] = [];
  count = 0;
  aborted: string | undefined;
  constructor(options: OfflineScoringOptions) {
    this.resolved = resolveBatchOptions({ ...options, judge: undefined });
  }
  /** The output line of one input line, or undefined when the run stops before it (under `fail`). */
  score(text: string, line: number, notUtf8?: string): string | undefined {
    const stats = this.stats;
    const result = scoreWithoutJudge(parseScoreLine(text, line, notUtf8), this.resolved, stats);
    // Without a judge nothing stays pending: scoreWithoutJudge returns a failure instead.
    if ('pending' in result) throw new Error('unreachable: a pending sample without a judge');
    stats.samples++;
    if ('error' in result) {
      stats.failures++;
      const message = `${describeLine(result)}: ${result.error.message}`;
      if (this.resolved.onJudgeError === 'fail') {
        this.aborted = message;
        return undefined;
      }
      this.errors.push(message);
    } else {
      stats.scored++;
      stats.scoreSum += result.record.score;
    }
    this.count++;
    return outputLine(result);
  }
}

/** Scores already split lines in this thread. Never throws. */
export function scoreChunk(chunk: readonly InputLine[], options: OfflineScoringOptions): ChunkResult {
  const scorer = new LineScorer(options);
  const lines: string[] = [];
  for (const { line, text, notUtf8 } of chunk) {
    const out = scorer.score(text, line, notUtf8);
    if (out === undefined) break;
    lines.push(out);
  }
  const result: ChunkResult = {
    text: lines.length > 0 ? `${lines.join('\n')}\n` : '',
    count: scorer.count,
    errors: scorer.errors,
    stats: scorer.stats,
  };
  if (scorer.aborted !== undefined) result.aborted = scorer.aborted;
  return result;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * The lines of a raw chunk: calls `each(text, line, notUtf8)` for every non-blank one until it returns
 * false (`notUtf8` says what is wrong when the line's bytes are not UTF-8).
 */
function eachLine(
  chunk: RawChunk,
  each: (text: string, line: number, notUtf8: string | undefined) => boolean,
): void {
  const { bytes } = chunk;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let line = chunk.firstLine;
  let start = 0;
  const length = buf.length;
  while (start <= length) {
    let end = buf.indexOf(LF, start);
    if (end < 0) end = length;
    let stop = end;
    if (stop > start && buf[stop - 1] === CR) stop--;
    // Each line decoded on its own (an LF byte never occurs inside a UTF-8 sequence): small strings
    // are cheap to make and to drop, one string per chunk is not. The decoder drops a byte-order mark
    // at the start of a line, as the line reader of judged runs does.
    if (stop > start) {
      const lineBytes = bytes.subarray(start, stop);
      const text = decoder.decode(lineBytes);
      if (text.trim() !== '' && !each(text, line, utf8Problem(lineBytes))) return;
    }
    line++;
    start = end + 1;
  }
}

/** The non-blank lines of a raw chunk, numbered; a byte-order mark starting a line is dropped. */
export function linesOfChunk(chunk: RawChunk): InputLine[] {
  const out: InputLine[] = [];
  eachLine(chunk, (text, line, notUtf8) => {
    out.push(notUtf8 === undefined ? { line, text } : { line, text, notUtf8 });
    return true;
  });
  return out;
}

/** Scores a raw chunk in this thread, the output as UTF-8 bytes. Never throws. */
export function scoreRawChunk(chunk: RawChunk, options: OfflineScoringOptions): ChunkBytes {
  const scorer = new LineScorer(options);
  const sink = new ByteSink();
  eachLine(chunk, (text, line, notUtf8) => {
    const out = scorer.score(text, line, notUtf8);
    if (out === undefined) return false;
    sink.line(out);
    return true;
  });
  const result: ChunkBytes = {
    bytes: sink.bytes(),
    count: scorer.count,
    errors: scorer.errors,
    stats: scorer.stats,
  };
  if (scorer.aborted !== undefined) result.aborted = scorer.aborted;
  return result;
}
