import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LineTooLongError, type NumberedLine, readLines } from '../io/lines.js';
import {
  BatchAbortedError,
  type BatchItem,
  type BatchStats,
  describeLine,
  newBatchStats,
  scoreBatch,
} from '../reward/batch.js';
import { AGGREGATOR_NAMES } from '../reward/config.js';
import { outputLine, parseScoreLine } from '../reward/jsonl.js';
import type { Judge } from '../reward/judge.js';
import { type InputLine, mergeStats, scoreLinesOffline } from '../reward/offline-pool.js';
import { nonNegativeInt, positiveInt, usageErrors } from './args.js';
import type { Command } from './command.js';
import { InputError, UsageError } from './errors.js';
import { JUDGE_OPTIONS, judgeFromFlags, loadRewardConfig, REWARD_OPTIONS } from './judge-options.js';

const HELP = `Usage: gtalign reward score --input IN.jsonl [--output OUT.jsonl] [options]

Scores model outputs with the GTAlign mutual-welfare reward, exactly as the reference computes it.

Input lines (JSONL): {"id", "data_source", "response" (the full output), "ground_truth",
  "extra_info" (object, optional), "verdict" (optional: the judge's verdict on the task's native scale)}
data_source: math-hard, minerva, medium, wildguard, advbench, ambig_qa, abg-coqa.

Output: one JSON line per input line, in input order: {"id", "score", "user_reward", "llm_reward",
  "answer_reward", "components", "lengths", "verdict", "verdict_source", "matrix_reasoning", ...},
  or {"id", "line", "error": {"stage", "message"}} when the line could not be scored (never a silent 0).
A summary goes to stderr.

Options:
  --input FILE             input JSONL ('-' for stdin)                            (required)
  --output FILE            output JSONL (default: stdout)
  --aggregate NAME         ${AGGREGATOR_NAMES.join(' | ')} (default cobb-douglas)
  --alpha X                weight of U in weighted-cobb-douglas (default 0.5)
  --config FILE            reward configuration JSON (weights, length bands; see docs); flags win over it
  --judge offline          use the lines' verdicts, call no judge (a line without one is an error)
  --judge-url URL          OpenAI-compatible base URL of the judge, e.g. http://localhost:8000/v1
  --judge-model NAME       judge model name (with --judge-url)
  --judge-key-env NAME     environment variable with the judge's API key (default GTALIGN_JUDGE_API_KEY)
  --judge-timeout MS       timeout of one judge call (default 120000)
  --judge-retries N        attempts per verdict, the first included (default 4)
  --judge-backoff MS       first retry's backoff cap; doubles per retry, full jitter (default 500)
  --cache-dir DIR          judge reply cache (default ~/.cache/gtalign/judge)
  --no-cache               do not read or write the judge cache
  --no-math-check          always ask the judge on math sets (the reference's behaviour)
  --clip-verdicts          clip a line's verdict outside its task's scale into the scale, as the
                           reference does (default: such a line is an error naming the value and scale)
  --concurrency N          judge calls in flight (default 16)
  --workers N              offline scoring threads (default: CPU count; 0 = this thread only)
  --on-judge-error MODE    skip (default): failed lines become error records; fail: stop at the first
  -h, --help               show this help

Lines that carry a verdict use it; the judge is asked only for the others.
Exit codes: 0 done (error records may exist, see the summary), 1 stopped by --on-judge-error fail or bad
input/output file, 2 bad usage. A reader that closes the output early (| head) stops the run with 0.
`;

function describeFsError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EISDIR':
      return 'is a directory';
    case 'EACCES':
      return 'permission denied';
    default:
      return err.message;
  }
}

/** The input as a byte stream (stdin for '-'), with a clear error when the file cannot be read. */
async function openInput(path: string): Promise<NodeJS.ReadableStream> {
  if (path === '-') return process.stdin;
  // A directory opens fine and fails only on the first read: check first.
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new InputError(`cannot read ${path}: ${describeFsError(err)}`);
  });
  if (info.isDirectory()) throw new InputError(`cannot read ${path}: is a directory`);
  const stream = createReadStream(path, { highWaterMark: 1 << 20 });
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (err: NodeJS.ErrnoException) =>
      reject(new InputError(`cannot read ${path}: ${describeFsError(err)}`)),
    );
  });
  return stream;
}

async function* inputLines(path: string): AsyncGenerator<NumberedLine> {
  const stream = (await openInput(path)) as AsyncIterable<Uint8Array>;
  for await (const l of readLines(stream, { name: path === '-' ? '<stdin>' : path })) {
    if (l.text.trim() !== '') yield l;
  }
}

async function* readItems(path: string): AsyncGenerator<BatchItem> {
  for await (const { line, text } of inputLines(path)) yield parseScoreLine(text, line);
}

/**
 * The output with backpressure. A reader that went away (EPIPE, e.g. `| head -1`) ends the run
 * quietly; any other write error (disk full, no such folder) fails it with the file's name.
 */
class Output {
  private error: NodeJS.ErrnoException | undefined;
  private readonly wake = new Set<() => void>();
  constructor(
    readonly stream: WriteStream | NodeJS.WriteStream,
    readonly name: string,
  ) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      this.error ??= err;
      for (const w of this.wake) w();
    });
  }
  /** The reader closed the pipe: nothing more can be written. */
  get closed(): boolean {
    return this.error?.code === 'EPIPE';
  }
  private check(): void {
    if (this.error !== undefined && !this.closed)
      throw new InputError(`cannot write ${this.name}: ${describeFsError(this.error)}`);
  }
  async write(text: string): Promise<void> {
    this.check();
    if (this.closed || this.stream.write(text)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.wake.delete(done);
        this.stream.off('drain', done);
        resolve();
      };
      this.wake.add(done);
      this.stream.on('drain', done);
    });
    this.check();
  }
  /** Waits until everything written has reached the file (not for stdout); throws a write error. */
  async end(): Promise<void> {
    if (this.stream !== process.stdout && this.error === undefined)
      await new Promise<void>((resolve) => (this.stream as WriteStream).end(() => resolve()));
    this.check();
  }
}

/** Opens the output file before any work, so a bad path fails at once, naming the file. */
async function openOutput(path: string): Promise<Output> {
  const stream = createWriteStream(path, { encoding: 'utf8' });
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (err: NodeJS.ErrnoException) =>
      reject(new InputError(`cannot write ${path}: ${describeFsError(err)}`)),
    );
  });
  return new Output(stream, path);
}

/** Refuses an output that is the input itself: opening it for writing would empty it before it is read. */
async function checkOutputPath(input: string, output: string): Promise<void> {
  if (input === '-') return;
  const [a, b] = await Promise.all([stat(input).catch(() => undefined), stat(output).catch(() => undefined)]);
  if (resolve(input) === resolve(output) || (a && b && a.dev === b.dev && a.ino === b.ino))
    throw new UsageError(`--output ${output} is the input file; write to another file`);
}

function summary(stats: BatchStats, judge: Judge | undefined, seconds: number): string {
  const j = judge?.stats();
  const parts = [
    `samples ${stats.samples}`,
    `scored ${stats.scored}`,
    `mean score ${stats.scored > 0 ? (stats.scoreSum / stats.scored).toFixed(6) : 'n/a'}`,
    `failures ${stats.failures}`,
    `unscorable (reward 0, no judge needed) ${stats.unscorable}`,
    `verdicts from input ${stats.inputVerdicts}`,
    `deterministic math shortcuts ${stats.mathShortcuts}`,
    `judge calls ${j ? j.httpCalls : 0}`,
    `judge retries ${j ? j.retries : 0}`,
    `cache hits ${j ? j.cacheHits : 0}`,
    `samples/s ${seconds > 0 ? Math.round(stats.samples / seconds) : stats.samples}`,
  ];
  if (j && j.failures > 0) {
    parts.push(`judge failures by reason ${JSON.stringify(j.failuresByReason)}`);
  }
  return `gtalign reward score: ${parts.join(', ')}\n`;
}

export const rewardScoreCommand: Command = {
  name: 'reward score',
  summary: 'score model outputs with the mutual-welfare reward (offline verdicts or live judges)',
  help: HELP,
  async run(args) {
    const { values, positionals } = usageErrors(() =>
      parseArgs({
        args,
        allowPositionals: false,
        options: {
          input: { type: 'string' },
          output: { type: 'string' },
          ...REWARD_OPTIONS,
          ...JUDGE_OPTIONS,
          concurrency: { type: 'string' },
          workers: { type: 'string' },
          'clip-verdicts': { type: 'boolean', default: false },
        },
      }),
    );
    void positionals;
    if (values.input === undefined) throw new UsageError('--input is required');
    const concurrency = positiveInt('concurrency', values.concurrency, 16);
    const { judge, onJudgeError } = judgeFromFlags(values, concurrency);
    const config = await loadRewardConfig(values.config, values.aggregate, values.alpha);

    if (values.output !== undefined) await checkOutputPath(values.input, values.output);
    // With `2>&1 | head -1` stderr is the closed pipe too: its notes are then lost, not a crash.
    process.stderr.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
    const out =
      values.output === undefined ? new Output(process.stdout, 'stdout') : await openOutput(values.output);
    const stats = newBatchStats();
    const started = performance.now();
    let exitCode = 0;
    let buffer = '';
    const flush = async (force: boolean) => {
      // Batch small lines into larger writes; flush often enough that a crash loses little.
      if (buffer.length > (force ? 0 : 1 << 16)) {
        await out.write(buffer);
        buffer = '';
      }
    };
    try {
      if (judge === undefined) {
        // Offline: pure CPU work, spread over worker threads, chunks back in input order.
        const workers = values.workers === undefined ? undefined : nonNegativeInt('workers', values.workers);
        const chunks = scoreLinesOffline((await openInput(values.input)) as AsyncIterable<Uint8Array>, {
          config,
          mathCheck: !values['no-math-check'],
          clipVerdicts: values['clip-verdicts'],
          onJudgeError,
          name: values.input === '-' ? '<stdin>' : values.input,
          ...(workers !== undefined ? { workers } : {}),
        });
        for await (const chunk of chunks) {
          mergeStats(stats, chunk.stats);
          for (const e of chunk.errors) process.stderr.write(`gtalign reward score: ${e}\n`);
          buffer += chunk.text;
          await flush(false);
          if (out.closed) break;
          if (chunk.aborted !== undefined) {
            process.stderr.write(
              `gtalign reward score: stopped (--on-judge-error fail) at ${chunk.aborted}\n`,
            );
            exitCode = 1;
          }
        }
      } else {
        const results = scoreBatch(
          readItems(values.input),
          {
            judge,
            concurrency: concurrency * 2,
            onJudgeError,
            config,
            mathCheck: !values['no-math-check'],
            clipVerdicts: values['clip-verdicts'],
          },
          stats,
        );
        for await (const result of results) {
          if ('error' in result) {
            process.stderr.write(`gtalign reward score: ${describeLine(result)}: ${result.error.message}\n`);
          }
          // Judged results trickle in: write each one now, so a reader sees it and a stop loses none.
          await out.write(`${outputLine(result)}\n`);
          // Leaving the loop cancels the judge calls still in flight.
          if (out.closed) break;
        }
      }
    } catch (err) {
      if (err instanceof LineTooLongError) throw new InputError(err.message);
      if (!(err instanceof BatchAbortedError)) throw err;
      process.stderr.write(`gtalign reward score: stopped (--on-judge-error fail) at ${err.message}\n`);
      exitCode = 1;
    } finally {
      // Everything scored before a stop is still written.
      await flush(true);
      await out.end();
    }
    if (out.closed)
      process.stderr.write('gtalign reward score: the output was closed by its reader; stopped early\n');
    process.stderr.write(summary(stats, judge, (performance.now() - started) / 1000));
    return exitCode;
  },
};
