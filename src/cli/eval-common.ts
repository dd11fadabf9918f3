/**
 * What `gtalign eval run`, `eval score` and `eval sweep` share: the run flags, building a run from them
 * (rows, backend, producer, scoring, the config saved with the run), interrupts, and the summary table.
 */
import { basename, resolve } from 'node:path';
import type { Env } from '../config/env.js';
import type { LoadedOf } from '../config/load.js';
import type { MODES, RUN } from '../config/settings/eval.js';
import { DataError } from '../data/errors.js';
import { expandInputs } from '../data/load.js';
import { conversationSummaryOf, isConversationRun } from '../eval/conversation-metrics.js';
import { type ConversationEvalResult, NO_REPLY } from '../eval/conversation-run.js';
import { type GroupMetrics, isFailedReward, isUnjudgedReward, type Metrics } from '../eval/metrics.js';
import { createProgress } from '../eval/progress.js';
import type { AssistantOptions } from '../eval/run.js';
import {
  assistantProducer,
  type EvalOptions,
  type EvalResult,
  EvalRunError,
  evaluate,
  type RowProducer,
  rawProducer,
  type ScoringOptions,
  selectRows,
} from '../eval/run.js';
import { RunDirError } from '../eval/run-dir.js';
import { ResponsesError } from '../eval/score.js';
import { type RunConfig, RunStoreError } from '../eval/store.js';
import {
  loadTokenCounter,
  type TokenCounter,
  type TokenizerName,
  TokenizerUnavailableError,
} from '../eval/tokens.js';
import type { ChatModel } from '../llm/types.js';
import { configId, type RewardConfig } from '../reward/config.js';
import { VERSION } from '../version.js';
import {
  asInputError,
  type BackendChoice,
  type BackendDescription,
  createBackend,
  type LoadedSteering,
  RANDOM_WEIGHTS_NOTE,
  type TurnFlags,
  turnOptionsOf,
} from './backend-options.js';
import type { OutputStream } from './command.js';
import { InputError, UsageError } from './errors.js';
import type { JudgeDescription, JudgeSetup } from './judge-options.js';

export type Mode = (typeof MODES)[number];

export interface RunFlags {
  data: string[];
  out: string;
  dataSources: string[];
  limit?: number;
  concurrency: number;
  judgeConcurrency: number;
  tokenizer: TokenizerName;
  name?: string;
  resume: boolean;
  maxFailures: number;
  progress: boolean;
}

/** The run settings, checked; data files are `--data` values plus the positionals. */
export function runFlags(
  loaded: Pick<LoadedOf<typeof RUN.settings>, 'values'>,
  judgeConcurrency: number,
  positionals: readonly string[],
): RunFlags {
  const v = loaded.values;
  const data = [...(v.data ?? []), ...positionals];
  if (data.length === 0) throw new UsageError('--data FILE… is required');
  if (v.out === undefined || v.out === '') throw new UsageError('--out RUN_DIR is required');
  return {
    data,
    out: v.out,
    dataSources: v['data-source'] ?? [],
    ...(v.limit === undefined ? {} : { limit: v.limit }),
    concurrency: v.concurrency,
    judgeConcurrency,
    tokenizer: v.tokenizer,
    ...(v.name === undefined ? {} : { name: v.name }),
    resume: v.resume,
    maxFailures: v['max-failures'],
    progress: !v['no-progress'],
  };
}

export async function loadTokenizer(name: TokenizerName): Promise<TokenCounter> {
  try {
    return await loadTokenCounter(name);
  } catch (err) {
    if (err instanceof TokenizerUnavailableError) throw new InputError(err.message);
    throw err;
  }
}

/** Errors about files and folders become one clear line (exit 1). */
export function asEvalInputError(err: unknown): unknown {
  if (
    err instanceof RunStoreError ||
    err instanceof DataError ||
    err instanceof ResponsesError ||
    err instanceof RunDirError ||
    err instanceof EvalRunError
  ) {
    return new InputError(err.message);
  }
  return asInputError(err);
}

/** The tokenizer as a config records it. */
export function tokenizerInfo(counter: TokenCounter): RunConfig['tokenizer'] {
  return {
    name: counter.name,
    exact: counter.exact,
    description: counter.description,
    ...(counter.note === undefined ? {} : { note: counter.note }),
  };
}

export function rewardInfo(config: RewardConfig, mathCheck: boolean): RunConfig['reward'] {
  return { configId: configId(config), config, mathCheck };
}

export function judgeInfo(description: JudgeDescription): Record<string, unknown> {
  return { ...description };
}

/**
 * The generation part of the config and the producer of a mode. In assistant mode stage 1 sends each row's
 * own prompt (`--prompt row`, the default) or the profile the settings name.
 */
export function producerFor(
  mode: Mode,
  model: ChatModel,
  turn: TurnFlags,
  steering: LoadedSteering,
): { produce: RowProducer; generation: Record<string, unknown> } {
  if (mode === 'raw') {
    const raw = {
      maxTokens: turn.maxTokens,
      ...(turn.temperature === undefined ? {} : { temperature: turn.temperature }),
      ...(turn.seed === undefined ? {} : { seed: turn.seed }),
    };
    return { produce: rawProducer(model, raw), generation: { ...raw } };
  }
  const settings = turnOptionsOf(turn, steering);
  const options: AssistantOptions = { ...settings, prompt: settings.prompt ?? 'row' };
  return {
    produce: assistantProducer(model, options),
    generation: {
      prompt: turn.prompt,
      promptFrom: turn.promptFrom === undefined ? null : resolve(turn.promptFrom),
      policy: steering.policy,
      profile: steering.profile ?? null,
      rule: turn.rule,
      analysis: turn.analysis,
      continuation: turn.continuation,
      constrain: turn.constrain,
      maxChars: turn.maxChars ?? null,
      maxTokens: turn.maxTokens,
      temperature: turn.temperature ?? null,
      seed: turn.seed ?? null,
    },
  };
}

/** Loads the rows the run flags select. */
export async function loadSelectedRows(flags: RunFlags) {
  const rows = await selectRows(flags.data, {
    ...(flags.dataSources.length > 0 ? { dataSources: flags.dataSources } : {}),
    ...(flags.limit === undefined ? {} : { limit: flags.limit }),
  });
  if (rows.length === 0) {
    throw new InputError(
      `no rows selected from ${flags.data.join(', ')}${
        flags.dataSources.length > 0 ? ` with --data-source ${flags.dataSources.join(',')}` : ''
      }`,
    );
  }
  return rows;
}

/** The config of an `eval run` (or one sweep point). */
export function runConfig(input: {
  flags: RunFlags;
  out: string;
  dataFiles: string[];
  mode: Mode;
  backend: BackendDescription | Record<string, unknown>;
  generation: Record<string, unknown>;
  judge: JudgeSetup;
  reward: RewardConfig;
  counter: TokenCounter;
  extra?: Record<string, unknown>;
}): RunConfig {
  const { flags } = input;
  return {
    schema: 'gtalign.run/1',
    name: flags.name ?? basename(resolve(input.out)),
    command: 'eval run',
    gtalign: VERSION,
    createdAt: new Date().toISOString(),
    data: {
      files: input.dataFiles.map((f) => resolve(f)),
      dataSources: [...flags.dataSources].sort(),
      limit: flags.limit ?? null,
    },
    mode: input.mode,
    backend: { ...input.backend },
    generation: input.generation,
    judge: judgeInfo(input.judge.description),
    reward: rewardInfo(input.reward, input.judge.mathCheck),
    tokenizer: tokenizerInfo(input.counter),
    runtime: { concurrency: flags.concurrency, judgeConcurrency: flags.judgeConcurrency },
    ...(input.extra === undefined ? {} : { extra: input.extra }),
  };
}

/**
 * An AbortSignal fired by the first SIGINT/SIGTERM (rows in flight are abandoned, records written so far
 * stay); a second signal exits at once. `dispose` removes the handlers.
 */
export function interruptSignal(
  label: string,
  stderr: OutputStream,
): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const handler = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    stderr.write(
      `\n${label}: ${sig}: stopping; the records written so far are kept (--resume finishes the run). Again to quit at once.\n`,
    );
    controller.abort(new Error(sig));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

/**
 * Runs `work` under the interrupt signal of `label`: file, data and backend errors become one clear line,
 * and `close` (the model) runs whatever happens.
 */
export async function interruptible<T>(
  label: string,
  stderr: OutputStream,
  work: (signal: AbortSignal) => Promise<T>,
  close: () => Promise<void> = async () => {},
): Promise<T> {
  const interrupt = interruptSignal(label, stderr);
  try {
    return await work(interrupt.signal);
  } catch (err) {
    throw asEvalInputError(err);
  } finally {
    interrupt.dispose();
    await close();
  }
}

/** The run-control options of `evaluate` that the run settings give. */
export function runControl(flags: RunFlags): Pick<EvalOptions, 'resume' | 'concurrency' | 'maxFailures'> {
  return { resume: flags.resume, concurrency: flags.concurrency, maxFailures: flags.maxFailures };
}

/**
 * What a resume tells once it has judged again recorded outputs whose judge call had failed (`what`: the
 * kind of thing judged, "recorded turn(s)", "record(s)"), followed by `more` when given.
 */
export function judgedAgainNote(
  label: string,
  what: string,
  counts: { judged: number; scored: number },
  more = '',
): string {
  const { judged, scored } = counts;
  return `${label}: judged again ${judged} ${what} whose scoring had failed, from their stored outputs (nothing generated again): ${scored} now scored, ${judged - scored} failed again and stay counted${more}`;
}

/** Runs `evaluate` with progress on `stderr` and the messages of a CLI command. */
export async function evaluateWithProgress(
  label: string,
  options: Omit<EvalOptions, 'onStart' | 'onProgress' | 'onFailure'>,
  showProgress: boolean,
  stderr: OutputStream,
): Promise<EvalResult> {
  const progress = showProgress ? createProgress({ label: `${label}:`, stream: stderr }) : undefined;
  // Messages go through the progress display, so that they do not land in the middle of the bar.
  const say = (text: string): void => {
    if (progress) progress.log(text);
    else stderr.write(`${text}\n`);
  };
  try {
    const result = await evaluate({
      ...options,
      onStart: ({ total, resumed, truncatedBytes, store, rejudge }) => {
        const parts = [`${store.dir}: ${total} rows`];
        if (store.resumed) parts.push(`${resumed} already done`);
        if (rejudge.records > 0) {
          parts.push(`${rejudge.records} record(s) whose scoring failed to judge again`);
        }
        if (truncatedBytes > 0) parts.push(`dropped a cut-off last line (${truncatedBytes} bytes)`);
        say(`${label}: ${parts.join(', ')}`);
      },
      onProgress: (p) => progress?.update(p),
      onFailure: (row, error) => say(`${label}: ${row.id}: ${error.message}`),
    });
    const { records, scored } = result.rejudged;
    if (records > 0) say(judgedAgainNote(label, 'record(s)', { judged: records, scored }));
    return result;
  } finally {
    // Also when the run throws: the bar's line is ended before the error is printed.
    progress?.finish();
  }
}

/** A number for the terminal tables; `-` when there is none. */
export function num(x: number | null | undefined, digits = 3): string {
  return x === null || x === undefined ? '-' : x.toFixed(digits);
}

/** A share as a whole percentage for the terminal tables; `-` when there is none. */
export function pct(x: number | undefined): string {
  return x === undefined ? '-' : `${Math.round(100 * x)}%`;
}

function tableRow(name: string, g: GroupMetrics): string[] {
  const shares = g.action_mix.overall.shares;
  return [
    name,
    String(g.n),
    num(g.format_score),
    num(g.answer_score),
    num(g.welfare),
    num(g.user_welfare),
    num(g.llm_welfare),
    num(g.total_length, 0),
    pct(shares.DA),
    pct(shares.CQ),
    pct(shares.AQ),
    // Records without a known action, so that the shares add up to 100%.
    pct(shares.unknown),
    String(g.unjudged),
    String(g.failures),
  ];
}

/** Aligns rows of cells into columns (first column left, the others right). */
export function formatTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) {
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  }
  return rows
    .map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '))
    .join('\n');
}

/** The run's headline numbers per data source and overall. */
export function metricsTable(metrics: Metrics): string {
  // `unjudged`: records awaiting a verdict (--judge offline); `failed`: records whose scoring failed.
  // Rows the backend failed on have no record (errors.jsonl).
  const rows = ['source n format answer W U L tokens DA CQ AQ unknown unjudged failed'.split(' ')];
  for (const [name, g] of Object.entries(metrics.by_source)) rows.push(tableRow(name, g));
  rows.push(tableRow('overall', metrics.overall));
  return formatTable(rows);
}

/** Turns of a conversation run's records (any turn, not only the final one) counted by `key`, and their conversations. */
function turnCount(
  records: EvalResult['records'],
  key: 'failed_turns' | 'unjudged_turns' | 'empty_replies',
): { turns: number; conversations: number } {
  let turns = 0;
  let conversations = 0;
  for (const r of records) {
    const summary = conversationSummaryOf(r);
    if (summary === undefined) continue;
    let n = summary[key];
    // A summary written before these counts were kept: its final turn is all that is known.
    if (n === undefined && key !== 'empty_replies') {
      const unjudged = isUnjudgedReward(r.reward);
      n = (key === 'unjudged_turns' ? unjudged : isFailedReward(r.reward) && !unjudged) ? 1 : 0;
    }
    n ??= 0;
    turns += n;
    if (n > 0) conversations++;
  }
  return { turns, conversations };
}

/**
 * The messages of a conversation run (`eval run --turns N`) about its turns: a turn that failed to score
 * or awaits a verdict is told whichever turn of its conversation it is, with what `--resume` can do
 * about it (judge it again when the run has a judge; nothing without one), and empty replies of the
 * simulated user are told. `eval score` cannot score conversation runs, so it is not advised.
 */
function conversationNotes(
  label: string,
  result: EvalResult | ConversationEvalResult,
  stderr: OutputStream,
): void {
  const { judged } = result;
  const unjudged = turnCount(result.records, 'unjudged_turns');
  if (unjudged.turns > 0) {
    stderr.write(
      `${label}: ${unjudged.turns} turn(s) of ${unjudged.conversations} conversation(s) await a verdict (no judge: --judge offline); answer, U, L, W and W_γ leave them out. --resume cannot judge them (a resume keeps the run's judge, and this run has none), and eval score does not take conversation runs: run the conversations with --judge-url … --judge-model … into a new --out folder\n`,
    );
  }
  const failed = turnCount(result.records, 'failed_turns');
  if (failed.turns > 0) {
    const again = judged
      ? '--resume judges again the ones that failed at the judge, from their stored outputs, without generating any conversation again, once the judge answers (under --on-judge-error fail the run stops after the first judge failure, kept for that resume); a turn that failed for another reason fails the same way again'
      : 'this run has no judge (--judge offline), so --resume cannot judge them again: run the conversations with --judge-url … --judge-model … into a new --out folder';
    stderr.write(
      `${label}: ${failed.turns} turn(s) of ${failed.conversations} conversation(s) failed to score (judge failures, unusable verdicts, errors of scoring); they are counted under "failed_turns" in the conversation metrics (a final answer's also under "failures") and left out of the means and of U_γ, L_γ and W_γ. ${again}\n`,
    );
  }
  const empty = turnCount(result.records, 'empty_replies');
  if (empty.turns > 0) {
    stderr.write(
      `${label}: ${empty.turns} reply(ies) of the simulated user were empty, in ${empty.conversations} conversation(s) (the user's model wrote nothing); they count 0 user tokens, the assistant was sent "${NO_REPLY}" in their place, and "empty_user_replies" in the conversation metrics counts them\n`,
    );
  }
}

/** Exit code and final message of a finished, stopped or interrupted run. */
export function outcome(
  label: string,
  result: EvalResult | ConversationEvalResult,
  stderr: OutputStream,
): number {
  const { unjudged, failures } = result.metrics.overall;
  if (isConversationRun(result.records)) conversationNotes(label, result, stderr);
  else if (unjudged > 0) {
    stderr.write(
      `${label}: ${unjudged} record(s) await a verdict (no judge: --judge offline); answer, W, U and L leave them out until they are scored. --resume cannot judge them (a resume keeps the run's judge, and this run has none): gtalign eval score --responses ${result.dir}/results.jsonl --data … --judge-url … --judge-model … --out NEW_DIR\n`,
    );
  }
  if (failures > 0 && !isConversationRun(result.records)) {
    const again = result.judged
      ? '--resume judges again from its stored output each one whose judge call failed, without generating anything again, once the judge answers (under --on-judge-error fail the run stops after the first judge failure, kept for that resume)'
      : `this run has no judge (--judge offline), so --resume cannot judge anything again: gtalign eval score --responses ${result.dir}/results.jsonl --data … --judge-url … --judge-model … --out NEW_DIR`;
    stderr.write(
      `${label}: ${failures} record(s) failed to score (judge failures, unusable verdicts, errors of scoring); they are listed under "failures" in the metrics and left out of the means. ${again}\n`,
    );
  }
  if (result.interrupted) {
    stderr.write(`${label}: interrupted; ${result.written} record(s) written; --resume finishes the run\n`);
    return 130;
  }
  if (!result.complete) {
    stderr.write(
      `${label}: incomplete: ${result.stopped ?? 'rows without a record'}; metrics.json not written\n`,
    );
    return 1;
  }
  return 0;
}

export type { ScoringOptions };

/** How the rows of a run are scored, from the judge flags and the reward configuration. */
export function scoringOf(judge: JudgeSetup, reward: RewardConfig): ScoringOptions {
  return { judge: judge.judge, config: reward, mathCheck: judge.mathCheck, onJudgeError: judge.onJudgeError };
}

/** One evaluation of an eval command: where it goes, its config, its rows and how they are produced. */
export type ScoredRun = Pick<EvalOptions, 'out' | 'config' | 'rows' | 'produce'>;

/** How every evaluation of a command is scored and run (a sweep shares it over its points). */
export interface ScoringContext {
  judge: JudgeSetup;
  reward: RewardConfig;
  counter: EvalOptions['tokenCounter'];
  control: Pick<EvalOptions, 'resume' | 'concurrency' | 'maxFailures'>;
  signal: AbortSignal;
  progress: boolean;
  /** Where progress and messages go. */
  stderr: OutputStream;
}

/** The scoring context of a command's run flags. */
export function scoringContext(
  flags: RunFlags,
  parts: Pick<ScoringContext, 'judge' | 'reward' | 'counter' | 'signal' | 'stderr'>,
): ScoringContext {
  return { ...parts, control: runControl(flags), progress: flags.progress };
}

/** What a generating eval command loads before its first row: tokenizer, data files, rows, backend. */
export async function loadGenerationInputs(
  flags: RunFlags,
  choice: BackendChoice,
  env: Env,
  /** Told when the model has random weights: the run's text, and so its scores, mean nothing. */
  warn: (message: string) => void,
) {
  const [counter, dataFiles, rows] = await Promise.all([
    loadTokenizer(flags.tokenizer),
    expandInputs(flags.data),
    loadSelectedRows(flags),
  ]);
  const backend = await createBackend(choice, env);
  if (backend.description.randomWeights === true) warn(RANDOM_WEIGHTS_NOTE);
  return { counter, dataFiles, rows, backend };
}

/** Runs one evaluation of eval run, score or sweep: scored by the judge setup, progress on stderr. */
export function runScored(label: string, run: ScoredRun, context: ScoringContext): Promise<EvalResult> {
  const { judge, reward, counter, control, signal, progress, stderr } = context;
  return evaluateWithProgress(
    label,
    { ...run, scoring: scoringOf(judge, reward), tokenCounter: counter, ...control, signal },
    progress,
    stderr,
  );
}

/** The cleanup of an eval command: the generating model (if one was made), then the judge. */
export function closeModelAndJudge(
  model: () => ChatModel | undefined,
  judge: JudgeSetup,
): () => Promise<void> {
  return async () => {
    await model()?.close();
    await judge.close();
  };
}
