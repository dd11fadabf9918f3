import { createWriteStream, type WriteStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { asFlag, group } from '../config/setting.js';
import { JUDGE_CONCURRENCY, JUDGE_SETTINGS } from '../config/settings/judge.js';
import { REWARD } from '../config/settings/reward.js';
import { REWARD_SCORE_SETTINGS } from '../config/settings/scoring.js';
import { LOOKAHEAD_USER } from '../config/settings/sim.js';
import { type AtomicFile, openAtomic } from '../io/atomic-file.js';
import { FileBytes } from '../io/byte-reader.js';
import { fsFailureReason } from '../io/fs-reason.js';
import { readFailureReason } from '../io/read-failure.js';
import { type BatchStats, newBatchStats } from '../reward/batch.js';
import type { Judge } from '../reward/judge.js';
import { mergeStats } from '../reward/offline-pool.js';
import { scoreJsonlStream } from '../reward/stream.js';
import { defineCommand, type InputStream, type OutputStream } from './command.js';
import { InputError, UsageError } from './errors.js';
import { judgeConcurrencyOf, judgeSetup, rewardConfigOf } from './judge-options.js';
import { checkLookaheadFlags, type LookaheadSetup, lookaheadSetup } from './lookahead-options.js';
import { type GivenSetting, givenSetting, settingConflict } from './setting-conflict.js';

const SETTINGS = [
  group('Options', [...REWARD_SCORE_SETTINGS, asFlag(JUDGE_CONCURRENCY, 'concurrency')]),
  REWARD,
  group('Judge', JUDGE_SETTINGS),
  LOOKAHEAD_USER,
] as const;

/** Why the output could not be written, in the words of every command's file errors (a full disk…). */
function writeFailure(err: NodeJS.ErrnoException): string {
  return fsFailureReason(err) ?? err.message;
}

/** The input as a byte stream (stdin for '-'), with a clear error when the file cannot be read. */
async function openInput(path: string, stdin: InputStream): Promise<AsyncIterable<Uint8Array | string>> {
  if (path === '-') return stdin;
  // A directory opens fine and fails only on the first read: check first.
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new InputError(`cannot read ${path}: ${readFailureReason(err)}`);
  });
  if (info.isDirectory()) throw new InputError(`cannot read ${path}: is a directory`);
  // Readable straight into the offline pool's block memory, and as a stream by the judged path.
  return FileBytes.open(path).catch((err: NodeJS.ErrnoException) => {
    throw new InputError(`cannot read ${path}: ${readFailureReason(err)}`);
  });
}

/**
 * The output with backpressure. A reader that went away (EPIPE, e.g. `| head -1`) ends the run
 * quietly; any other write error (disk full, no such folder) fails it with the file's name.
 */
class Output {
  private error: NodeJS.ErrnoException | undefined;
  private readonly wake = new Set<() => void>();
  constructor(
    readonly stream: WriteStream | OutputStream,
    readonly name: string,
    /** A file this run opened (ended at the end), not stdout. */
    readonly ownsStream: boolean,
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
      throw new InputError(`cannot write ${this.name}: ${writeFailure(this.error)}`);
  }
  async write(data: string | Uint8Array): Promise<void> {
    this.check();
    if (this.closed || this.stream.write(data)) return;
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
  /** Waits until everything written has reached the stream (a device or a pipe it opened); throws a write error. */
  async end(_complete: boolean): Promise<boolean> {
    if (this.ownsStream && this.error === undefined)
      await new Promise<void>((resolve) => (this.stream as WriteStream).end(() => resolve()));
    this.check();
    return true;
  }
}

/** Where the scored lines go: stdout or a device as a stream, a file through an atomic write. */
type RunOutput = Pick<Output, 'closed' | 'write' | 'end' | 'name'>;

/**
 * A file output (io/atomic-file.ts): written under a temporary name beside its target and renamed into
 * place only when the run is `complete`, so a stop, an error or a kill leaves an earlier file as it was
 * and never a shorter one under its name. `end` returns whether it became the file.
 */
class FileOutput {
  readonly closed = false;
  constructor(
    private readonly file: AtomicFile,
    readonly name: string,
  ) {}
  private failed(err: unknown): InputError {
    return err instanceof InputError
      ? err
      : new InputError(`cannot write ${this.name}: ${writeFailure(err as NodeJS.ErrnoException)}`);
  }
  async write(data: string | Uint8Array): Promise<void> {
    await this.file.write(data).catch((err: unknown) => {
      throw this.failed(err);
    });
  }
  async end(complete: boolean): Promise<boolean> {
    if (!complete) {
      await this.file.abort();
      return false;
    }
    await this.file.commit().catch((err: unknown) => {
      throw this.failed(err);
    });
    return true;
  }
}

/**
 * Opens the output before any work, so a bad path fails at once, naming the file. A regular file (or a
 * new one) is written under a temporary name beside it (`.NAME.PID.HEX.tmp`, as every atomic write of
 * gtalign) and renamed into place at the end; a device or a pipe (/dev/stdout, a FIFO) is written in place.
 */
async function openOutput(path: string): Promise<RunOutput> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined || info.isFile()) {
    // A link to a file stays a link: the file it names is the one replaced.
    const target = info === undefined ? path : await realpath(path);
    try {
      // The folder must be there already (openAtomic would make it): a mistyped folder is an error.
      await stat(dirname(target));
      return new FileOutput(await openAtomic(target), path);
    } catch (err) {
      throw new InputError(`cannot write ${path}: ${writeFailure(err as NodeJS.ErrnoException)}`);
    }
  }
  const stream = createWriteStream(path, { encoding: 'utf8' });
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (err: NodeJS.ErrnoException) =>
      reject(new InputError(`cannot write ${path}: ${writeFailure(err)}`)),
    );
  });
  return new Output(stream, path, true);
}

/**
 * Refuses an output that is the input itself: opening it for writing would empty it before it is read.
 * Each is named where it was given (a flag, or the settings file's key).
 */
async function checkOutputPath(input: GivenSetting, output: GivenSetting): Promise<void> {
  const [i, o] = [String(input.value), String(output.value)];
  if (i === '-') return;
  const [a, b] = await Promise.all([stat(i).catch(() => undefined), stat(o).catch(() => undefined)]);
  if (resolve(i) === resolve(o) || (a && b && a.dev === b.dev && a.ino === b.ino))
    throw settingConflict(
      [output, input],
      (out, inp) => `${out} is the input file (${inp}); write to another file`,
    );
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

export const rewardScoreCommand = defineCommand({
  name: 'reward score',
  usage: 'Usage: gtalign reward score --input IN.jsonl [--output OUT.jsonl] [options]',
  about: `Scores model outputs with the GTAlign mutual-welfare reward, exactly as the reference computes it.

Input lines (JSONL): {"id", "data_source", "response" (the full output), "ground_truth",
  "extra_info" (object, optional), "verdict" (optional: the judge's verdict on the task's native scale)}
data_source: math-hard, minerva, medium, wildguard, advbench, ambig_qa, abg-coqa.

Output: one JSON line per input line, in input order: {"id", "score", "user_reward", "llm_reward",
  "answer_reward", "components", "lengths", "verdict", "verdict_source", "matrix_reasoning", ...},
  or {"id", "line", "error": {"stage", "message"}} when the line could not be scored (never a silent 0).
A summary goes to stderr.`,
  notes: `Lines that carry a verdict use it; the judge is asked only for the others (with --judge offline,
a line without one is an error).
Exit codes: 0 every line scored, 1 stopped by --on-judge-error fail or bad input/output file, 2 bad usage,
3 done but some lines are error records (the summary counts them). A reader that closes the output early
(| head) stops the run with 0. --output FILE is written beside FILE and renamed into place when the run
ends: a stop or a kill leaves an earlier FILE as it was.`,
  settings: SETTINGS,
  async run(loaded, ctx) {
    const { values } = loaded;
    if (values.input === undefined) throw new UsageError('--input is required');
    checkLookaheadFlags(loaded);
    const input = values.input;
    const setup = await judgeSetup(loaded, judgeConcurrencyOf(loaded, 'concurrency'), ctx.env, (m) =>
      ctx.stderr.write(`gtalign reward score: ${m}\n`),
    );
    const { judge, onJudgeError } = setup;
    const config = rewardConfigOf(loaded);

    // '-' is stdout, as '-' of --input is stdin.
    const outputFile = values.output === '-' ? undefined : values.output;
    if (outputFile !== undefined)
      await checkOutputPath(
        givenSetting(loaded, 'input', 'rewardScore.input', true),
        givenSetting(loaded, 'output', 'rewardScore.output', true),
      );
    // With `2>&1 | head -1` stderr is the closed pipe too: its notes are then lost, not a crash.
    ctx.stderr.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
    const stats = newBatchStats();
    const batch = {
      judge,
      config,
      mathCheck: !values['no-math-check'],
      clipVerdicts: values['clip-verdicts'],
      onJudgeError,
    };
    // The input and the look-ahead before the output: opening the output empties an existing file, which
    // a missing input or a bad persona file must not cost.
    const source = await openInput(input, ctx.stdin);
    let lookahead: LookaheadSetup | undefined;
    let out: RunOutput;
    try {
      lookahead = values.lookahead > 0 ? await lookaheadSetup(values, ctx.env, batch) : undefined;
      out = outputFile === undefined ? new Output(ctx.stdout, 'stdout', false) : await openOutput(outputFile);
    } catch (err) {
      if (source instanceof FileBytes) await source.close();
      await lookahead?.close();
      await setup.close();
      throw err;
    }
    const started = performance.now();
    let exitCode = 0;
    /** Every input line was read and has its output line (no stop, no error, no closed reader). */
    let complete = false;
    let written = true;
    let buffer = '';
    const flush = async (force: boolean) => {
      // Batch small lines into larger writes; flush often enough that a crash loses little.
      if (buffer.length > (force ? 0 : 1 << 16)) {
        await out.write(buffer);
        buffer = '';
      }
    };
    try {
      // One pipeline for both paths: offline lines go to the worker pool, judged ones trickle in one by one.
      const { workers } = values;
      const name = input === '-' ? '<stdin>' : input;
      const bytes = source as AsyncIterable<Uint8Array>;
      const chunks = lookahead
        ? lookahead.scorer.stream(bytes, name)
        : scoreJsonlStream(bytes, {
            judge,
            concurrency: values.concurrency * 2,
            config,
            mathCheck: !values['no-math-check'],
            clipVerdicts: values['clip-verdicts'],
            onJudgeError,
            name: input === '-' ? '<stdin>' : input,
            ...(workers !== undefined ? { workers } : {}),
          });
      for await (const chunk of chunks) {
        mergeStats(stats, chunk.stats);
        for (const e of chunk.errors) ctx.stderr.write(`gtalign reward score: ${e}\n`);
        if (chunk.bytes !== undefined) {
          // A scored block comes as UTF-8 bytes (offline workers): written as they are, in order.
          await flush(true);
          if (chunk.bytes.length > 0) await out.write(chunk.bytes);
        } else {
          buffer += chunk.text;
          // A judged result is written at once, so a reader sees it and a stop loses none.
          await flush(judge !== undefined || lookahead !== undefined);
        }
        // Leaving the loop cancels the judge calls still in flight.
        if (out.closed) break;
        if (chunk.aborted !== undefined) {
          ctx.stderr.write(`gtalign reward score: stopped (--on-judge-error fail) at ${chunk.aborted}\n`);
          exitCode = 1;
        }
      }
      complete = exitCode === 0 && !out.closed;
    } finally {
      // Everything scored before a stop is still written (to stdout; a file only when complete). A write
      // that fails (a full disk) still ends the output, dropping its temporary file, and closes the models.
      try {
        await flush(true);
      } finally {
        try {
          written = await out.end(complete);
        } finally {
          await setup.close();
          await lookahead?.close();
        }
      }
    }
    if (out.closed)
      ctx.stderr.write('gtalign reward score: the output was closed by its reader; stopped early\n');
    if (!written)
      ctx.stderr.write(
        `gtalign reward score: ${out.name} was not written (the run stopped before its end); an earlier file of that name is as it was\n`,
      );
    ctx.stderr.write(summary(stats, judge, (performance.now() - started) / 1000));
    if (lookahead) {
      // Loaded already by the look-ahead's setup.
      const { lookaheadSummary } = await import('../eval/lookahead.js');
      const { totals, calls } = lookahead.scorer;
      ctx.stderr.write(`gtalign reward score: ${lookaheadSummary(totals, calls)}\n`);
    }
    // A line that is an error record (a failed judge, a bad line, a failed rollout) is not a score: a
    // pipeline that trains on the output must be able to tell.
    if (exitCode === 0 && stats.failures > 0 && !out.closed) return 3;
    return exitCode;
  },
});
