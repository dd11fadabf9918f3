/**
 * The one entry point for scoring a JSONL stream of samples (`gtalign reward score`): without a judge the
 * lines go to the offline worker pool; with one, they are read as bounded lines and scored as they
 * arrive, each result yielded at once so that a reader sees it and a stop loses none. Both paths yield
 * the same chunks: output lines in input order, messages for stderr, statistics, and under `fail` the
 * first failure.
 */
import { type NumberedLine, readLines } from '../io/lines.js';
import {
  BatchAbortedError,
  type BatchOptions,
  type BatchStats,
  describeLine,
  newBatchStats,
  scoreBatch,
} from './batch.js';
import { outputLine, parseScoreLine } from './jsonl.js';
import { type ChunkResult, type OfflineOptions, scoreLinesOffline } from './offline-pool.js';

export interface StreamOptions extends BatchOptions, Omit<OfflineOptions, keyof BatchOptions> {}

/** What changed in `now` since `before` (the statistics of one result). */
function delta(now: BatchStats, before: BatchStats): BatchStats {
  const out = newBatchStats();
  for (const key of Object.keys(out) as Array<keyof BatchStats>) out[key] = now[key] - before[key];
  return out;
}

async function* judgedChunks(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  options: StreamOptions,
): AsyncGenerator<ChunkResult> {
  async function* items() {
    const lines = readLines(source, {
      name: options.name ?? 'input',
      ...(options.maxLineBytes === undefined ? {} : { maxLineBytes: options.maxLineBytes }),
    });
    for await (const l of lines as AsyncIterable<NumberedLine>) {
      if (l.text.trim() !== '') yield parseScoreLine(l.text, l.line, l.notUtf8);
    }
  }
  const stats = newBatchStats();
  let seen = newBatchStats();
  const next = (): BatchStats => {
    const d = delta(stats, seen);
    seen = { ...stats };
    return d;
  };
  try {
    for await (const result of scoreBatch(items(), options, stats)) {
      yield {
        text: `${outputLine(result)}\n`,
        count: 1,
        errors: 'error' in result ? [`${describeLine(result)}: ${result.error.message}`] : [],
        stats: next(),
      };
    }
  } catch (err) {
    if (!(err instanceof BatchAbortedError)) throw err;
    yield { text: '', count: 0, errors: [], stats: next(), aborted: err.message };
  }
}

/** Scores a JSONL byte stream; see the module comment. A line over the bound throws `LineTooLongError`. */
export function scoreJsonlStream(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  options: StreamOptions = {},
): AsyncGenerator<ChunkResult> {
  return options.judge === undefined ? scoreLinesOffline(source, options) : judgedChunks(source, options);
}
