/**
 * Batch scoring: many samples through the two-phase scorer, with judge calls in between, bounded
 * concurrency, results in input order, and an explicit failure policy. A judge failure is never a 0:
 * the sample's result carries `error` and no score.
 */

import { setMaxListeners } from 'node:events';
import { extractAnalyze } from '../chain/format.js';
import { type ErrorCode, GtalignError } from '../errors.js';
import { rethrowFailure, type SourceFailure, untilError } from '../io/until-error.js';
import type { TaskFamily } from './components.js';
import { DEFAULT_REWARD_CONFIG, type RewardConfig } from './config-base.js';
import type { Judge, JudgeFailureReason } from './judge.js';
import { mathAnswersMatch } from './math-check.js';
import { matrixReasoningValue } from './matrix-check.js';
import {
  analyzeSample,
  finishSample,
  type PendingVerdict,
  type RewardRecord,
  type RewardSample,
} from './score.js';
import { verdictOutsideScale } from './verdict.js';

/** One input of a batch: a sample to score, or a line that could not be read (kept to report it in order). */
export type BatchItem =
  | { line: number; id: unknown; sample: RewardSample; verdict?: number | undefined }
  | { line: number; id: unknown; invalid: string };

/** Where a record's verdict came from. */
export type VerdictSource = 'input' | 'judge' | 'cache' | 'math-check' | 'none';

export interface ScoredResult {
  id: unknown;
  line: number;
  record: Omit<RewardRecord, 'kind' | 'needsVerdict'> & {
    verdict_source: VerdictSource;
    /** 1 when `<analyze>` names a Pareto-optimal cell of the output's own matrix, 0 when not; null when unscorable. */
    matrix_reasoning: number | null;
  };
}

export interface FailedResult {
  id: unknown;
  line: number;
  data_source?: string;
  error: { stage: 'input' | 'score' | 'judge'; message: string; reason?: JudgeFailureReason };
}

export type BatchResult = ScoredResult | FailedResult;

export interface BatchOptions {
  /** The judge for samples without a verdict; undefined means offline (a verdict is required). */
  judge?: Judge | undefined;
  /**
   * Samples in flight at once (default 32). Set it to about twice the judge's HTTP concurrency so that a
   * slow head-of-line sample does not idle the judge while results wait to be yielded in order.
   */
  concurrency?: number;
  /** `skip` (default): failed samples become error results and the batch goes on; `fail`: stop at the first. */
  onJudgeError?: 'skip' | 'fail';
  config?: RewardConfig;
  /** Deterministic math check before calling the judge (default true; false matches the reference). */
  mathCheck?: boolean;
  /**
   * A verdict given with the input that lies outside its task's scale: an error for that sample (default
   * false), or clipped into the scale as the reference does (true, for replaying reference data).
   */
  clipVerdicts?: boolean;
  /** Cancels the batch's judge calls (they end as `aborted` failures). */
  signal?: AbortSignal | undefined;
}

export interface BatchStats {
  samples: number;
  scored: number;
  failures: number;
  scoreSum: number;
  /** Verdicts taken from the input lines. */
  inputVerdicts: number;
  /** Verdicts settled by the deterministic math check (judge calls saved). */
  mathShortcuts: number;
  /** Outputs the reference gives zero reward without a judge. */
  unscorable: number;
  judgeVerdicts: number;
  cachedVerdicts: number;
}

/** "line 3 (id "a")": where a result's input was, for messages about it. */
export function describeLine(result: { line: number; id: unknown }): string {
  // An id that is not a string or number is itself the problem being reported: not repeated here.
  const { id } = result;
  return `line ${result.line}${typeof id === 'string' || typeof id === 'number' ? ` (id ${JSON.stringify(id)})` : ''}`;
}

/** Thrown by {@link scoreBatch} under `onJudgeError: 'fail'`; `result` is the first failure. */
export class BatchAbortedError extends GtalignError {
  get code(): ErrorCode {
    return this.result.error.stage === 'judge' ? 'backend' : 'input';
  }
  constructor(readonly result: FailedResult) {
    super(`${describeLine(result)}: ${result.error.message}`);
    this.name = 'BatchAbortedError';
  }
}

export function newBatchStats(): BatchStats {
  return {
    samples: 0,
    scored: 0,
    failures: 0,
    scoreSum: 0,
    inputVerdicts: 0,
    mathShortcuts: 0,
    unscorable: 0,
    judgeVerdicts: 0,
    cachedVerdicts: 0,
  };
}

function scored(
  item: { id: unknown; line: number },
  record: RewardRecord,
  source: VerdictSource,
): ScoredResult {
  // Built key by key, in the record's own order (an output line's field order), without copying twice.
  const out: ScoredResult['record'] = {
    data_source: record.data_source,
    family: record.family,
    scorable: record.scorable,
  } as ScoredResult['record'];
  if (record.unscorable !== undefined) out.unscorable = record.unscorable;
  out.score = record.score;
  out.user_reward = record.user_reward;
  out.llm_reward = record.llm_reward;
  out.answer_reward = record.answer_reward;
  out.components = record.components;
  out.lengths = record.lengths;
  out.verdict = record.verdict;
  out.aggregator = record.aggregator;
  out.config_id = record.config_id;
  out.verdict_source = source;
  out.matrix_reasoning = null;
  return { id: item.id, line: item.line, record: out };
}

type ResolvedOptions = Required<Omit<BatchOptions, 'judge' | 'signal'>> & { judge?: Judge | undefined };

function failed(
  item: BatchItem,
  stage: FailedResult['error']['stage'],
  message: string,
  dataSource?: string,
): FailedResult {
  return {
    id: item.id,
    line: item.line,
    ...(dataSource !== undefined ? { data_source: dataSource } : {}),
    error: { stage, message },
  };
}

/** Why `verdict` cannot be a verdict of `family`, with what to do about it, if it cannot. */
function outsideScale(family: TaskFamily, verdict: number): string | undefined {
  const outside = verdictOutsideScale(family, verdict);
  return outside === undefined
    ? undefined
    : `${outside}; fix the verdict, or clip it as the reference does (--clip-verdicts)`;
}

/** Completes a pending sample with its verdict and counts where the verdict came from. */
function finish(
  item: BatchItem & { sample: RewardSample },
  analysis: PendingVerdict,
  verdict: number,
  source: VerdictSource,
  options: ResolvedOptions,
  stats: BatchStats,
): BatchResult {
  const record = finishSample(analysis, verdict, options.config);
  if (record.kind === 'error') return failed(item, 'score', record.message, item.sample.data_source);
  if (source === 'input') stats.inputVerdicts++;
  else if (source === 'math-check') stats.mathShortcuts++;
  else if (source === 'cache') stats.cachedVerdicts++;
  else stats.judgeVerdicts++;
  const result = scored(item, record, source);
  const analyze =
    analysis.analyze !== undefined ? analysis.analyze : (extractAnalyze(item.sample.response) ?? null);
  if (analyze !== null)
    result.record.matrix_reasoning = matrixReasoningValue(analysis.partial.matrix, analyze);
  return result;
}

/**
 * Everything that needs no judge, synchronously: a final result, or the pending analysis when only a
 * judge can give the verdict. Never throws.
 */
export function scoreWithoutJudge(
  item: BatchItem,
  options: ResolvedOptions,
  stats: BatchStats,
): BatchResult | { pending: PendingVerdict; item: BatchItem & { sample: RewardSample } } {
  if ('invalid' in item) return failed(item, 'input', item.invalid);
  const { sample } = item;
  const analysis = analyzeSample(sample, options.config);
  if (analysis.kind === 'error') return failed(item, 'score', analysis.message, sample.data_source);
  if (analysis.kind === 'record') {
    stats.unscorable++;
    return scored(item, analysis, 'none');
  }
  if (item.verdict !== undefined) {
    const outside = outsideScale(analysis.family, item.verdict);
    // Stage 'score': the sample has a verdict, it is just not one its task can have.
    if (outside !== undefined && !options.clipVerdicts)
      return failed(item, 'score', outside, sample.data_source);
    return finish(item, analysis, item.verdict, 'input', options, stats);
  }
  if (
    options.mathCheck &&
    analysis.family === 'math' &&
    mathAnswersMatch(analysis.judgeInput.response, sample.ground_truth)
  ) {
    return finish(item, analysis, 1, 'math-check', options, stats);
  }
  if (options.judge === undefined) {
    return failed(
      item,
      'input',
      'no "verdict" and no judge configured (offline scoring needs a verdict on every sample)',
      sample.data_source,
    );
  }
  return { pending: analysis, item };
}

/** Scores one item; never throws or rejects (a failure, even an unexpected one, is a FailedResult). */
async function scoreItem(
  item: BatchItem,
  options: ResolvedOptions,
  stats: BatchStats,
  signal: AbortSignal,
): Promise<BatchResult> {
  // One async function per item, not a wrapper around another: a judge batch scores thousands a second.
  let pending: PendingVerdict;
  let withSample: BatchItem & { sample: RewardSample };
  try {
    const first = scoreWithoutJudge(item, options, stats);
    if (!('pending' in first)) return first;
    pending = first.pending;
    withSample = first.item;
  } catch (err) {
    return unexpected(item, err);
  }
  const input = pending.judgeInput;
  let reply: Awaited<ReturnType<Judge['verdict']>>;
  try {
    reply = await options.judge!.verdict(
      pending.family,
      {
        question: input.question ?? '',
        response: input.response,
        ground_truth: input.ground_truth,
        extra_info: input.extra_info,
        data_source: input.data_source,
      },
      { signal },
    );
  } catch (err) {
    // A custom Judge that throws instead of returning a failure is still a judge failure, not a 0.
    return failed(
      item,
      'judge',
      `judge threw: ${(err as Error)?.message ?? String(err)}`,
      withSample.sample.data_source,
    );
  }
  try {
    if (!reply.ok) {
      const f = failed(
        item,
        'judge',
        `the judge failed after ${reply.attempts} ${reply.attempts === 1 ? 'attempt' : 'attempts'}: ${reply.error}`,
        withSample.sample.data_source,
      );
      f.error.reason = reply.reason;
      return f;
    }
    return finish(withSample, pending, reply.value, reply.cached ? 'cache' : 'judge', options, stats);
  } catch (err) {
    return unexpected(item, err);
  }
}

/** An unexpected error while scoring: the item's failure (a rejected promise in the window would end the whole batch and lose every later sample). */
function unexpected(item: BatchItem, err: unknown): FailedResult {
  const dataSource = 'sample' in item ? item.sample.data_source : undefined;
  return failed(item, 'score', `internal error: ${(err as Error)?.message ?? String(err)}`, dataSource);
}

/** Fills in the defaults of batch options. */
export function resolveBatchOptions(options: BatchOptions): ResolvedOptions {
  return {
    judge: options.judge,
    concurrency: Math.max(1, options.concurrency ?? 32),
    onJudgeError: options.onJudgeError ?? 'skip',
    config: options.config ?? DEFAULT_REWARD_CONFIG,
    mathCheck: options.mathCheck ?? true,
    clipVerdicts: options.clipVerdicts ?? false,
  };
}

/**
 * Scores items as they arrive and yields results in input order. At most `concurrency` samples are in
 * flight; with `onJudgeError: 'fail'` the first failure (in input order) throws {@link BatchAbortedError}
 * after every earlier result has been yielded. When the batch stops early (that error, or the consumer
 * leaving the loop), the judge calls still in flight are cancelled, so none outlives the batch.
 */
export async function* scoreBatch(
  items: AsyncIterable<BatchItem> | Iterable<BatchItem>,
  options: BatchOptions = {},
  stats: BatchStats = newBatchStats(),
): AsyncGenerator<BatchResult> {
  const resolved = resolveBatchOptions(options);
  const window: Array<Promise<BatchResult>> = [];
  const settle = (result: BatchResult): BatchResult => {
    stats.samples++;
    if ('error' in result) {
      stats.failures++;
      if (resolved.onJudgeError === 'fail') throw new BatchAbortedError(result);
    } else {
      stats.scored++;
      stats.scoreSum += result.record.score;
    }
    return result;
  };
  const stop = new AbortController();
  const signal = options.signal === undefined ? stop.signal : AbortSignal.any([options.signal, stop.signal]);
  // Every judge call in flight watches it (through one listener, see llm/abort-watch.ts).
  setMaxListeners(0, signal);
  // A source that fails (an unreadable input) still has every item it gave scored, then its error.
  const failure: SourceFailure = {};
  try {
    for await (const item of untilError(items, failure)) {
      window.push(scoreItem(item, resolved, stats, signal));
      if (window.length >= resolved.concurrency) yield settle(await window.shift()!);
    }
    while (window.length > 0) yield settle(await window.shift()!);
    rethrowFailure(failure);
  } finally {
    stop.abort();
  }
}
