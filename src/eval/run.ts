/**
 * Evaluation runs: data-set rows → model output (or recorded output) → reward → run store → metrics.
 *
 * Modes:
 * - `raw`: the row's own `prompt` messages (which already hold the four-block instruction) go to the
 *   model in one request; its output is scored as is. For models trained to write the format.
 * - `assistant`: one GTAlign turn (`runTurn`: stage 1 to `</payoff>`, steering, selection, stage 2).
 *   Stage 1 sends the row's own prompt messages by default (`prompt: 'row'`): a checkpoint trained on
 *   the data is steered on its own distribution, with the earlier turns in the layout the row uses.
 *   With a prompt profile instead (gtalign's wording, or a trained template), the turn builds the
 *   prompt from the row's question and history; a re-asked stage 2 always uses them. The question is
 *   the last user message of `extra_info.chat_history` and the messages before it are the history (the
 *   released rows are multi-turn: an earlier clarifying exchange is part of the context); without a
 *   chat history, `extra_info.single_turn_prompt`; failing that, the last user message of the prompt
 *   (what follows its last `Question:` marker when it has one), with the earlier user/assistant
 *   messages as history (system messages are dropped).
 *
 * Failures:
 * - A model that writes no valid payoff matrix or no `<response>` (a `TurnError` about the output) is a
 *   result, not a failure: the text it wrote is recorded and scored (the reward gives it 0), as the
 *   paper's format score counts it.
 * - A backend failure (`ChatModelError`: network, HTTP status, after the backend's own retries) gives
 *   the row no record: it is noted in errors.jsonl and generated again by `--resume`. After
 *   `maxFailures` such failures in a row the run stops (the server is likely down).
 * - A judge failure is a record whose reward is `{error}` (with `onJudgeError: 'skip'`), or stops the run
 *   (`'fail'`, the row then has no record). Anything else (a bad option, a bug) stops the run and is thrown.
 *
 * Judging again: when the run has a judge, a resume first scores again, from its stored output, every
 * record whose judge call failed or gave an unusable verdict ({@link isJudgeFailure}); nothing is
 * generated. It is the default, as for conversation runs: the resume keeps the run's judge (a setting the
 * resume must match), and finishing a run means scoring what could not be scored. A record now scored is
 * superseded by a whole line with `"supersedes": true` (the last line of an id is its record, see
 * store.ts); metrics.json is removed before the first such line and written again once the run is
 * complete. A record that fails again keeps its line and stays counted. The superseding line is the one
 * step that changes the folder, so a resume stopped anywhere (a kill, a full disk) leaves either the old
 * record (judged again by the next resume) or the new one. Without a judge nothing can be judged again.
 *
 * Rows run `concurrency` at a time and are appended in completion order; ids make that resumable.
 */

import { TurnError } from '../assistant/errors.js';
import { runTurn, type TurnOptions } from '../assistant/turn.js';
import type { ConversationTurn } from '../chain/prompt.js';
import { type PromptProfile, QUESTION_MARKER } from '../chain/prompt-profile.js';
import { iterateRows } from '../data/load.js';
import type { DatasetRow } from '../data/row.js';
import { GtalignError } from '../errors.js';
import { type ChatModel, ChatModelError } from '../llm/types.js';
import {
  BatchAbortedError,
  type BatchItem,
  type BatchResult,
  type BatchStats,
  newBatchStats,
  scoreBatch,
} from '../reward/batch.js';
import { DEFAULT_REWARD_CONFIG, type RewardConfig } from '../reward/config.js';
import type { Judge } from '../reward/judge.js';
import { computeMetrics, isFailedReward, isJudgeFailure, isUnjudgedReward, type Metrics } from './metrics.js';
import { changedDataProblem } from './resume-data.js';
import { beforeRecordsChange, writeMetrics } from './run-dir.js';
import { type FileOps, openRunStore, type RunConfig, type RunStore } from './store.js';
import { countOutputTokens, type TokenCounter } from './tokens.js';
import type { RunRecord, RunReward } from './types.js';

/** What a row produced: the full output, and what the producer knows about it. */
export interface RowOutput {
  response: string;
  cell?: string;
  action?: string;
  trace?: unknown;
  /** A verdict given with the output (eval score); used instead of asking the judge. */
  verdict?: number;
}

/** Makes one row's output. Throws `ChatModelError` for a backend failure (the row is retried on resume). */
export type RowProducer = (row: DatasetRow, signal: AbortSignal) => Promise<RowOutput>;

export interface ScoringOptions {
  /** The live judge; undefined: no judge (rows that need one get a `{error}` reward, reason `no-judge`). */
  judge?: Judge | undefined;
  config?: RewardConfig;
  mathCheck?: boolean;
  onJudgeError?: 'skip' | 'fail';
}

/** Counters of a loop, for progress reports and the summary. */
export interface RunProgress {
  /** Rows selected for the run (with a record or not). */
  total: number;
  /** Rows that had a record before this process started. */
  resumed: number;
  /** Records written by this process. */
  written: number;
  /** Rows without a record because the backend failed (retried on resume). */
  failed: number;
  /** Records whose reward is an error (judge failure, no judge). */
  unscored: number;
}

export interface RunRowsOptions {
  rows: readonly DatasetRow[];
  store: RunStore;
  produce: RowProducer;
  scoring: ScoringOptions;
  tokenCounter: TokenCounter;
  /** Rows in flight at once (default 4). */
  concurrency?: number;
  /** Backend failures in a row that stop the run (default 10). */
  maxFailures?: number;
  /** Stops taking rows; rows in flight are abandoned (their generation is aborted). */
  signal?: AbortSignal;
  onProgress?: (progress: Readonly<RunProgress>) => void;
  /** Called for each row the backend failed on. */
  onFailure?: (row: DatasetRow, error: Error) => void;
  /** The run folder's file operations, for removing metrics.json before a record is superseded. */
  fs?: FileOps;
}

/** What a resume did with the records whose judge call had failed (see the module comment). */
export interface RejudgedRecords {
  /** Records scored again. */
  records: number;
  /** Of those, the records that now have a score and were superseded (the others failed again). */
  scored: number;
}

export interface RunRowsResult extends RunProgress {
  /** Why the run stopped before every row had a record (undefined when it did not). */
  stopped?: string;
  interrupted: boolean;
  /** False when the run has no judge (--judge offline): then nothing can be judged again. */
  judged: boolean;
  rejudged: RejudgedRecords;
  stats: BatchStats;
}

/** A problem that stops the whole run (as opposed to one row's backend failure). */
export class EvalRunError extends GtalignError {
  readonly code = 'input';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EvalRunError';
  }
}

const NO_JUDGE_REASON = 'no-judge';

function isRecordObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function messagesOf(value: unknown): ConversationTurn[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const out: ConversationTurn[] = [];
  for (const m of value) {
    if (!isRecordObject(m) || typeof m.content !== 'string') return undefined;
    if (m.role === 'user' || m.role === 'assistant') out.push({ role: m.role, content: m.content });
  }
  return out;
}

/** The question and the earlier turns of a row, for `assistant` mode (see the module comment). */
export function questionOf(row: DatasetRow): { question: string; history: ConversationTurn[] } {
  const fromHistory = messagesOf(row.extra_info.chat_history);
  if (fromHistory !== undefined && fromHistory.length > 0 && fromHistory.at(-1)!.role === 'user') {
    const last = fromHistory.at(-1)!;
    if (last.content.trim() !== '') return { question: last.content, history: fromHistory.slice(0, -1) };
  }
  const single = row.extra_info.single_turn_prompt;
  if (typeof single === 'string' && single.trim() !== '') return { question: single, history: [] };
  const prompt = messagesOf(row.prompt) ?? [];
  const lastUser = prompt.map((m) => m.role).lastIndexOf('user');
  if (lastUser >= 0 && prompt[lastUser]!.content.trim() !== '') {
    // A verl prompt holds the instruction too; the question is what follows its last marker.
    const content = prompt[lastUser]!.content;
    const at = content.lastIndexOf(QUESTION_MARKER);
    const asked = at < 0 ? '' : content.slice(at + QUESTION_MARKER.length).trim();
    return { question: asked === '' ? content : asked, history: prompt.slice(0, lastUser) };
  }
  throw new EvalRunError(
    `row ${row.id} has no question (no chat_history, single_turn_prompt or user message)`,
  );
}

/** Generation settings of `raw` mode. */
export interface RawOptions {
  maxTokens?: number;
  temperature?: number;
  seed?: number;
}

/** `raw` mode: the row's prompt in one request; the output as the model wrote it. */
export function rawProducer(model: ChatModel, options: RawOptions = {}): RowProducer {
  return async (row, signal) => {
    const result = await model.generate({
      messages: row.prompt,
      maxTokens: options.maxTokens ?? 1024,
      ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
      ...(options.seed === undefined ? {} : { seed: options.seed }),
      signal,
    });
    return {
      response: result.text,
      trace: {
        stages: [
          {
            name: 'raw',
            promptTokens: result.usage.promptTokens,
            cachedPromptTokens: result.usage.cachedPromptTokens,
            completionTokens: result.usage.completionTokens,
            durationMs: result.durationMs,
            finishReason: result.finishReason,
          },
        ],
      },
    };
  };
}

/** The turn settings of `assistant` mode: everything of `runTurn` but the model, question and history. */
export type AssistantOptions = Omit<TurnOptions, 'model' | 'question' | 'history' | 'signal' | 'prompt'> & {
  /**
   * Stage 1's prompt: `'row'` (default) sends each row's own prompt messages; a profile (gtalign's
   * wording, a trained template) is built from the row's question and history instead.
   */
  prompt?: 'row' | PromptProfile;
};

/** The prompt profile of one row's turn. */
export function rowPromptProfile(row: DatasetRow, prompt: AssistantOptions['prompt']): PromptProfile {
  return prompt === undefined || prompt === 'row' ? { profile: 'messages', messages: row.prompt } : prompt;
}

/** `assistant` mode: one GTAlign turn per row (see the module comment for the question and the prompt). */
export function assistantProducer(model: ChatModel, options: AssistantOptions = {}): RowProducer {
  return async (row, signal) => {
    const { question, history } = questionOf(row);
    const prompt = rowPromptProfile(row, options.prompt);
    try {
      const result = await runTurn({ ...options, prompt, model, question, history, signal });
      return { response: result.output, cell: result.cell, action: result.action, trace: result.trace };
    } catch (err) {
      // The model's output is the result here: record what it wrote; the reward scores it (0).
      if (err instanceof TurnError && (err.kind === 'payoff' || err.kind === 'response')) {
        return {
          response: err.details.text ?? '',
          trace: {
            error: {
              kind: err.kind,
              stage: err.details.stage,
              message: err.message,
              problems: err.details.problems,
            },
          },
        };
      }
      throw err;
    }
  };
}

function labelOf(row: DatasetRow): string | undefined {
  const gt = row.extra_info.ground_truth;
  return typeof gt === 'string' ? gt : undefined;
}

function rewardOf(result: BatchResult, judged: boolean): RunReward {
  if (!('error' in result)) return result.record;
  const { stage, message, reason } = result.error;
  // Without a judge the batch scorer calls a missing verdict an input problem; here it is a choice of the run.
  if (!judged && stage === 'input') {
    return {
      error: {
        stage: 'judge',
        message:
          'not judged: no judge configured (--judge offline); score it with gtalign eval score --judge-url …',
        reason: NO_JUDGE_REASON,
      },
    };
  }
  return { error: { stage, message, ...(reason === undefined ? {} : { reason }) } };
}

/** Scores one row's output with the reward code of `gtalign reward score` (the same batch scorer). */
export async function scoreRow(
  row: DatasetRow,
  output: RowOutput,
  scoring: ScoringOptions,
  stats: BatchStats,
): Promise<RunReward> {
  const item: BatchItem = {
    line: 0,
    id: row.id,
    sample: {
      data_source: row.data_source,
      response: output.response,
      ground_truth: row.ground_truth,
      extra_info: row.extra_info,
    },
    verdict: output.verdict,
  };
  let result: BatchResult | undefined;
  for await (const r of scoreBatch(
    [item],
    {
      judge: scoring.judge,
      concurrency: 1,
      onJudgeError: scoring.onJudgeError ?? 'skip',
      config: scoring.config ?? DEFAULT_REWARD_CONFIG,
      mathCheck: scoring.mathCheck ?? true,
    },
    stats,
  )) {
    result = r;
  }
  return rewardOf(result!, scoring.judge !== undefined);
}

/**
 * {@link scoreRow} for an output just generated: under `--on-judge-error fail` the failure is returned
 * with its reward instead of thrown, so the caller writes the paid-for output (with that failed reward)
 * before it stops, and the resume judges it again instead of generating it again. Without a judge an
 * output awaiting its verdict does not stop the run: nothing failed, and no resume could judge it.
 */
export async function scoreNewOutput(
  row: DatasetRow,
  output: RowOutput,
  scoring: ScoringOptions,
  stats: BatchStats,
): Promise<{ reward: RunReward; stop?: BatchAbortedError }> {
  try {
    return { reward: await scoreRow(row, output, scoring, stats) };
  } catch (err) {
    if (!(err instanceof BatchAbortedError)) throw err;
    const reward = rewardOf(err.result, scoring.judge !== undefined);
    // Without a judge (--judge offline) an output awaiting its verdict is expected, not a judge failure.
    return isUnjudgedReward(reward) ? { reward } : { reward, stop: err };
  }
}

/** The record of one finished row. */
export function buildRecord(
  row: DatasetRow,
  output: RowOutput,
  reward: RunReward,
  counter: TokenCounter,
  durationMs: number,
): RunRecord {
  const label = labelOf(row);
  const record: RunRecord = {
    id: row.id,
    data_source: row.data_source,
    ground_truth: row.ground_truth,
    ...(label === undefined ? {} : { label }),
    response: output.response,
    ...(output.cell === undefined ? {} : { cell: output.cell }),
    ...(output.action === undefined ? {} : { action: output.action }),
    tokens: countOutputTokens(output.response, counter),
    reward,
    ...(output.trace === undefined ? {} : { trace: output.trace }),
    durationMs: Math.round(durationMs * 1000) / 1000,
  };
  return record;
}

function isAbort(err: unknown, signal: AbortSignal): boolean {
  return signal.aborted || (err instanceof Error && err.name === 'AbortError');
}

/** The rows whose record a resume judges again: none without a judge (see the module comment). */
export function rowsToJudgeAgain(
  rows: readonly DatasetRow[],
  store: RunStore,
  scoring: ScoringOptions,
): DatasetRow[] {
  if (scoring.judge === undefined) return [];
  const stored = new Map(store.records.map((r) => [r.id, r]));
  return rows.filter((row) => {
    const record = stored.get(row.id);
    return record !== undefined && isJudgeFailure(record.reward);
  });
}

/**
 * Runs every row of `rows` that has no record in the store yet, `concurrency` at a time, appending each
 * record as it finishes; first, with a judge, scores again the records whose judge call failed. Resolves when every row is done, or the run stopped (see `stopped`), or the
 * signal aborted it. Throws {@link EvalRunError} (or the original error) when a row fails in a way
 * that is not the backend's (see the module comment); records already written stay.
 */
export async function runRows(options: RunRowsOptions): Promise<RunRowsResult> {
  const { store, scoring, tokenCounter } = options;
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const maxFailures = Math.max(1, options.maxFailures ?? 10);
  const controller = new AbortController();
  const outer = options.signal;
  const onAbort = () => controller.abort(outer?.reason);
  if (outer?.aborted) controller.abort(outer.reason);
  else outer?.addEventListener('abort', onAbort, { once: true });
  const signal = controller.signal;

  const todo = options.rows.filter((r) => !store.done.has(r.id));
  const stored = new Map(store.records.map((r) => [r.id, r]));
  // The recorded rows first: judging again asks only the judge.
  const work = [...rowsToJudgeAgain(options.rows, store, scoring), ...todo];
  const rejudged: RejudgedRecords = { records: 0, scored: 0 };
  // metrics.json goes before the first record changes: it describes the records before.
  const recordsChange = beforeRecordsChange(store.dir, options.fs, stored.size > 0);
  const progress: RunProgress = {
    total: options.rows.length,
    resumed: options.rows.length - todo.length,
    written: 0,
    failed: 0,
    unscored: 0,
  };
  const stats = newBatchStats();
  let next = 0;
  let consecutiveFailures = 0;
  let stopped: string | undefined;
  let fatal: unknown;
  const stop = (why: string) => {
    stopped ??= why;
  };
  options.onProgress?.(progress);

  /** Ends the run on a scoring error: a stop for a judge failure under --on-judge-error fail, else fatal. */
  const endOnScoring = (row: DatasetRow, err: unknown): void => {
    if (err instanceof BatchAbortedError) {
      stop(`judge failure on row ${row.id} (--on-judge-error fail): ${err.result.error.message}`);
      return;
    }
    fatal ??= err;
    controller.abort();
  };

  /** Scores a recorded output again; a record now scored is superseded in the store. */
  const rejudge = async (row: DatasetRow, before: RunRecord): Promise<void> => {
    const started = performance.now();
    const reward = await scoreRow(row, { response: before.response }, scoring, stats);
    rejudged.records++;
    if (isFailedReward(reward)) return;
    await recordsChange();
    // The record's time is the generation's and both scorings.
    const durationMs = Math.round(((before.durationMs ?? 0) + performance.now() - started) * 1000) / 1000;
    await store.supersede({ ...before, reward, durationMs });
    rejudged.scored++;
  };

  const worker = async (): Promise<void> => {
    while (stopped === undefined && fatal === undefined && !signal.aborted) {
      const row = work[next++];
      if (row === undefined) return;
      const before = stored.get(row.id);
      if (before !== undefined) {
        try {
          await rejudge(row, before);
        } catch (err) {
          endOnScoring(row, err);
          return;
        }
        continue;
      }
      const started = performance.now();
      let output: RowOutput;
      try {
        output = await options.produce(row, signal);
      } catch (err) {
        if (isAbort(err, signal)) return;
        if (err instanceof ChatModelError) {
          progress.failed++;
          consecutiveFailures++;
          options.onFailure?.(row, err);
          try {
            await store.logError({
              id: row.id,
              data_source: row.data_source,
              stage: 'generate',
              message: err.message,
            });
          } catch (logErr) {
            // errors.jsonl cannot be written (a full disk): the run cannot go on either.
            fatal ??= logErr;
            controller.abort();
            return;
          }
          options.onProgress?.(progress);
          if (consecutiveFailures >= maxFailures) {
            stop(`the backend failed on ${consecutiveFailures} rows in a row (last: ${err.message})`);
          }
          continue;
        }
        fatal ??= err;
        controller.abort();
        return;
      }
      consecutiveFailures = 0;
      let reward: RunReward;
      let judgeStop: BatchAbortedError | undefined;
      try {
        ({ reward, stop: judgeStop } = await scoreNewOutput(row, output, scoring, stats));
      } catch (err) {
        endOnScoring(row, err);
        return;
      }
      const record = buildRecord(row, output, reward, tokenCounter, performance.now() - started);
      try {
        // A resumed run may hold the metrics.json of an earlier, complete set of rows (the data file
        // grew); it is written again once the run is complete.
        await recordsChange();
        await store.append(record);
      } catch (err) {
        fatal ??= err;
        controller.abort();
        return;
      }
      progress.written++;
      if ('error' in reward) progress.unscored++;
      options.onProgress?.(progress);
      // The output is kept: the stop comes after its record.
      if (judgeStop !== undefined) {
        endOnScoring(row, judgeStop);
        return;
      }
    }
  };

  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, work.length)) }, worker));
  } finally {
    outer?.removeEventListener('abort', onAbort);
  }
  if (fatal !== undefined) throw fatal;
  const interrupted = outer?.aborted === true;
  const result: RunRowsResult = {
    ...progress,
    interrupted,
    judged: scoring.judge !== undefined,
    rejudged,
    stats,
  };
  if (stopped !== undefined) result.stopped = stopped;
  else if (!interrupted && progress.failed > 0) {
    result.stopped = `${progress.failed} row(s) got no output from the backend (see errors.jsonl); --resume tries them again`;
  }
  return result;
}

/**
 * The rows of the data files (files, directories or globs), kept by data source, at most `limit` rows
 * of each data source, in file order.
 */
export async function selectRows(
  data: readonly string[],
  options: { dataSources?: readonly string[]; limit?: number } = {},
): Promise<DatasetRow[]> {
  const perSource = new Map<string, number>();
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const out: DatasetRow[] = [];
  for await (const row of iterateRows(
    data,
    options.dataSources ? { dataSources: options.dataSources } : {},
  )) {
    const n = perSource.get(row.data_source) ?? 0;
    if (n >= limit) continue;
    perSource.set(row.data_source, n + 1);
    out.push(row);
  }
  return out;
}

/** What a run tells once its store is open. */
export interface StartInfo {
  total: number;
  /** Rows (conversations) with a record before this process started. */
  resumed: number;
  /** Bytes of a cut-off last line dropped on resume. */
  truncatedBytes: number;
  store: RunStore;
}

/** Everything of a run but its rows: where to store it, how to make and score outputs. */
export interface EvalOptions {
  /** The run folder. */
  out: string;
  /** The run's configuration as config.json saves it (see `store.ts`). */
  config: RunConfig;
  rows: readonly DatasetRow[];
  produce: RowProducer;
  scoring: ScoringOptions;
  tokenCounter: TokenCounter;
  resume: boolean;
  concurrency?: number;
  maxFailures?: number;
  signal?: AbortSignal;
  /** fdatasync each commit (default true). */
  fsync?: boolean;
  /** The run folder's file operations (default node:fs/promises); tests pass one that injects faults. */
  fs?: FileOps;
  /**
   * Called once the store is open: how many rows there are, how many already have a record, and how many
   * of those this resume judges again.
   */
  onStart?: (info: StartInfo & { rejudge: { records: number } }) => void;
  onProgress?: (progress: Readonly<RunProgress>) => void;
  onFailure?: (row: DatasetRow, error: Error) => void;
}

export interface EvalResult extends RunRowsResult {
  dir: string;
  /** Every record of the run (resumed and new). */
  records: readonly RunRecord[];
  /** Metrics over every record; written to metrics.json when the run finished (not stopped or interrupted). */
  metrics: Metrics;
  /** True when metrics.json was written. */
  complete: boolean;
}

/**
 * One run: opens (or resumes) the store, judges again the records whose judge call failed (with a
 * judge), runs the rows without a record, then computes the metrics of
 * every record and, when every row has a record, writes metrics.json.
 */
export async function evaluate(options: EvalOptions): Promise<EvalResult> {
  const store = await openRunStore(options.out, options.config, {
    resume: options.resume,
    ...(options.fsync === undefined ? {} : { fsync: options.fsync }),
    ...(options.fs === undefined ? {} : { fs: options.fs }),
  });
  let loop: RunRowsResult;
  try {
    const ids = new Set(options.rows.map((r) => r.id));
    const stray = [...store.done].filter((id) => !ids.has(id));
    if (stray.length > 0) {
      throw new EvalRunError(
        `${store.dir} holds records of ${stray.length} row(s) that are not among the selected rows (e.g. ${stray[0]}); the data files changed?`,
      );
    }
    const byId = new Map(options.rows.map((r) => [r.id, r]));
    const changed = changedDataProblem(store.records, (id) => byId.get(id));
    if (changed !== undefined) throw new EvalRunError(`cannot resume ${store.dir}: ${changed}`);
    options.onStart?.({
      total: options.rows.length,
      resumed: options.rows.filter((r) => store.done.has(r.id)).length,
      truncatedBytes: store.truncatedBytes,
      store,
      rejudge: { records: rowsToJudgeAgain(options.rows, store, options.scoring).length },
    });
    loop = await runRows({
      rows: options.rows,
      store,
      produce: options.produce,
      scoring: options.scoring,
      tokenCounter: options.tokenCounter,
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      ...(options.maxFailures === undefined ? {} : { maxFailures: options.maxFailures }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
      ...(options.onFailure === undefined ? {} : { onFailure: options.onFailure }),
      ...(options.fs === undefined ? {} : { fs: options.fs }),
    });
  } catch (err) {
    // The run's own error is the one to report; closing still releases the lock.
    await store.close().catch(() => undefined);
    throw err;
  }
  await store.close();
  // Only acknowledged records: a record whose write failed is not among them.
  const records = store.records;
  const metrics = computeMetrics(records, { tokenCounter: options.tokenCounter });
  // Every row has a record; a stop while judging again (--on-judge-error fail) leaves the run unfinished
  // all the same, for the next resume to judge those records.
  const complete = records.length === options.rows.length && loop.stopped === undefined;
  if (complete) await writeMetrics(store.dir, metrics, options.fs);
  return { ...loop, dir: store.dir, records, metrics, complete };
}
