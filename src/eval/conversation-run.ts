/**
 * Conversation runs (`gtalign eval run --turns N`): each selected row, once per persona, becomes a
 * conversation between the GTAlign assistant and a simulated user (src/sim/) holding a hidden intent.
 *
 * Turn t of the assistant is one GTAlign turn (`assistantProducer`, the same steering as single-turn
 * runs) on the row extended by the conversation so far: with `--prompt row` the row's own prompt messages
 * followed by the later assistant responses and user replies; with a prompt profile, the question is the
 * user's latest message and the history everything before it. After each assistant turn the persona's
 * rules (`decideUser`) say whether the user replies (the conversation goes on) or the conversation ends
 * (a direct answer, an AQ not followed up, the user leaves, the turn limit, an output with no action or
 * an empty response). An empty reply of the user's model is kept as written (`empty: true`, 0 tokens) and
 * the assistant is sent {@link NO_REPLY} in its place.
 *
 * Scoring: every assistant turn gets the reward of `gtalign reward score` for its own output against the
 * row (judge as configured). The conversation's last turn is its final answer: for ambiguity rows its
 * verdict is whether the response names an answer of the meaning the user held (`meaningCorrect`), not
 * the judge's ambiguity rubric; for the other rows the judge's verdict against the ground truth (the
 * user's intent) is the final answer's. The conversation's correctness is that final verdict's answer term.
 * A turn whose scoring failed or awaits a verdict keeps its `{error}` reward and is counted in the
 * conversation's summary (`failed_turns`, `unjudged_turns`), whichever turn it is.
 *
 * Storage: RUN_DIR/turns.jsonl gets every finished turn (append-only, synced; see conversation-store.ts)
 * as it finishes; RUN_DIR/results.jsonl gets one record per finished conversation (id `ROW_ID~PERSONA`,
 * the final turn's output and reward, and a `conversation` summary). `--resume` replays the recorded turns
 * of an unfinished conversation and goes on from the first missing one: no finished turn is generated
 * again. metrics.json holds the usual metrics of the final answers and, under `conversations`, the
 * conversation metrics (conversation-metrics.ts).
 *
 * Judging again: when the run has a judge, `--resume` also scores again, from its stored output, every
 * recorded assistant turn whose scoring failed (a judge failure, an unusable verdict), in finished and
 * unfinished conversations alike; nothing is generated and the simulated user is not asked. It is the
 * default, not a flag: the resume keeps the run's judge (its model is a setting the resume must match),
 * and finishing a run means scoring what could not be scored. A turn that is now scored gets a
 * superseding line in turns.jsonl, then its finished conversation a superseding record in results.jsonl
 * (summary and metrics recomputed); both files stay append-only and the last line of a turn or an id
 * wins. A turn that fails again keeps its line and stays counted. The order (turn lines, then the record)
 * makes a stopped resume safe: a record that counts unscored a turn the log has scored
 * ({@link recordBehindTurns}) is superseded by the next resume without asking the judge again. Without a
 * judge (--judge offline) nothing can be judged again.
 */
import { extractBlocks } from '../chain/blocks.js';
import type { ConversationTurn } from '../chain/prompt.js';
import type { DatasetRow } from '../data/row.js';
import { type ChatModel, ChatModelError } from '../llm/types.js';
import { cobbDouglas } from '../reward/aggregate.js';
import { BatchAbortedError, type BatchStats, newBatchStats } from '../reward/batch.js';
import { type HiddenIntent, intentOf, meaningCorrect } from '../sim/intent.js';
import type { Persona } from '../sim/persona.js';
import { decideUser, simulateReply, type VisibleTurn } from '../sim/simulator.js';
import {
  type ConversationMetrics,
  computeConversationMetrics,
  conversationSummaryOf,
} from './conversation-metrics.js';
import {
  type AssistantTurnRecord,
  openTurnLog,
  type TurnLog,
  type TurnRecord,
  type UserTurnRecord,
} from './conversation-store.js';
import { computeMetrics, isFailedReward, isJudgeFailure, isUnjudgedReward, type Metrics } from './metrics.js';
import { changedDataProblem, type RowStamp } from './resume-data.js';
import {
  type AssistantOptions,
  assistantProducer,
  type EvalOptions,
  EvalRunError,
  questionOf,
  type RunProgress,
  type StartInfo,
  scoreNewOutput,
  scoreRow,
} from './run.js';
import { beforeRecordsChange, writeMetrics } from './run-dir.js';
import { openRunStore, type RunStore } from './store.js';
import { countOutputTokens } from './tokens.js';
import type { RunRecord, RunReward } from './types.js';

/** The simulated users of a conversation run. */
export interface SimSettings {
  personas: readonly Persona[];
  /** Most assistant turns per conversation. */
  maxTurns: number;
  /** The model that plays the user. */
  userModel: ChatModel;
  userMaxTokens?: number;
  userTemperature?: number;
  /** Seed of meanings, follow-up draws and sampling. */
  seed: number;
  /** γ of the discounted welfare. */
  discount: number;
}

export interface ConversationEvalOptions extends Omit<EvalOptions, 'produce' | 'onFailure' | 'onStart'> {
  assistant: { model: ChatModel; options: AssistantOptions };
  sim: SimSettings;
  /**
   * Before the first conversation: as for single-turn runs, plus the recorded turns this resume judges
   * again (`turns`, in `conversations`; none without a judge).
   */
  onStart?: (info: StartInfo & { rejudge: { turns: number; conversations: number } }) => void;
  /**
   * A conversation stopped on a backend failure: its id (`ROW_ID~PERSONA`), its row, the step that failed
   * and the error.
   */
  onFailure?: (conversation: { id: string; row: DatasetRow; step: ConversationStep }, error: Error) => void;
}

/**
 * What the assistant is sent (and the user's model later sees) in place of an empty reply of the user's
 * model: the next turn needs a user message. The turn log keeps the reply as written ('', `empty: true`).
 */
export const NO_REPLY = '(no reply)';

/**
 * Where a conversation is: the assistant's turn `turn`, or the simulated user's reply to it. A backend
 * failure names it, since the user's model may be the assistant's own.
 */
export interface ConversationStep {
  side: 'assistant' | 'user';
  turn: number;
}

/** The step as a failure message names it. */
export function describeStep(step: ConversationStep): string {
  return step.side === 'assistant'
    ? `assistant turn ${step.turn}`
    : `simulated user's reply to assistant turn ${step.turn}`;
}

/** The per-conversation summary kept on its results.jsonl record. */
export interface ConversationSummary {
  row: string;
  persona: string;
  intent: { kind: HiddenIntent['kind']; meaning?: HiddenIntent['meaning'] };
  /** Assistant turns. */
  turns: number;
  end: string;
  /** Actions of the assistant turns, in order (`?` for none). */
  actions: string[];
  /** 1-based turn of the first answer (DA or AQ with a non-empty response), null when none came. */
  answered_at: number | null;
  /** Final-answer correctness against the held intent (null: not scored). */
  correct: number | null;
  assistant_tokens: number;
  /** Tokens of the simulated user's replies as written (an empty reply counts 0). */
  user_tokens: number;
  /** Assistant turns whose scoring failed (judge failures, unusable verdicts), the final one included. */
  failed_turns: number;
  /** Assistant turns awaiting a verdict (no judge: --judge offline), the final one included. */
  unjudged_turns: number;
  /** Replies of the simulated user that were empty (the assistant got {@link NO_REPLY} instead). */
  empty_replies: number;
  per_turn: Array<{ turn: number; action: string; U: number | null; L: number | null; W: number | null }>;
  /** Σ γ^(t-1)·x_t over the assistant turns; null when a turn is unscored. */
  discounted: { gamma: number; U: number; L: number; W: number } | null;
  /** What the user saw: its own messages and the assistant's responses. */
  messages: VisibleTurn[];
}

/** What a resume did with the recorded turns whose scoring had failed (see the module comment). */
export interface RejudgeCounts {
  /** Turns scored again. */
  turns: number;
  /** Of those, the turns that now have a score (the others failed again and stay counted). */
  scored: number;
  /** Records of finished conversations superseded with the new scores. */
  records: number;
}

export interface ConversationEvalResult extends RunProgress {
  stopped?: string;
  interrupted: boolean;
  /** False when the run has no judge (--judge offline): then no turn can be judged again. */
  judged: boolean;
  rejudged: RejudgeCounts;
  stats: BatchStats;
  dir: string;
  records: readonly RunRecord[];
  metrics: Metrics & { conversations: ConversationMetrics };
  complete: boolean;
}

interface Unit {
  id: string;
  row: DatasetRow;
  persona: Persona;
  intent: HiddenIntent;
}

/** The id of a row's conversation with a persona. */
export function conversationId(rowId: string, persona: string): string {
  return `${rowId}~${persona}`;
}

/** The row as turn `t` of its conversation sees it: the exchanges after the row's question appended. */
export function extendRow(row: DatasetRow, exchanges: readonly ConversationTurn[]): DatasetRow {
  if (exchanges.length === 0) return row;
  const { question, history } = questionOf(row);
  return {
    ...row,
    prompt: [...row.prompt, ...exchanges.map((m) => ({ role: m.role, content: m.content }))],
    extra_info: {
      ...row.extra_info,
      chat_history: [...history, { role: 'user', content: question }, ...exchanges],
    },
  };
}

function responseText(output: string): string {
  return extractBlocks(output).blocks.response?.content.trim() ?? '';
}

/**
 * A turn's U, L and W. W is the paper's social welfare √(U·L) (GTALIGN.md §3), whatever aggregator the
 * run's reward uses, as single-turn metrics compute it (metrics.ts).
 */
function welfareOf(reward: RunReward): { U: number; L: number; W: number } | null {
  if ('error' in reward) return null;
  return {
    U: reward.user_reward,
    L: reward.llm_reward,
    W: cobbDouglas(reward.user_reward, reward.llm_reward),
  };
}

function summarize(
  unit: Unit,
  turns: readonly TurnRecord[],
  visible: VisibleTurn[],
  gamma: number,
  rowVisible: number,
): { summary: ConversationSummary; final: AssistantTurnRecord } {
  const assistant = turns.filter((t): t is AssistantTurnRecord => t.role === 'assistant');
  const users = turns.filter((t): t is UserTurnRecord => t.role === 'user');
  const final = assistant.at(-1)!;
  const perTurn = assistant.map((t) => {
    const w = welfareOf(t.reward);
    return { turn: t.turn, action: t.action ?? '?', U: w?.U ?? null, L: w?.L ?? null, W: w?.W ?? null };
  });
  let discounted: ConversationSummary['discounted'] = { gamma, U: 0, L: 0, W: 0 };
  for (const p of perTurn) {
    if (p.U === null || p.L === null || p.W === null || discounted === null) {
      discounted = null;
      continue;
    }
    const g = gamma ** (p.turn - 1);
    discounted = { gamma, U: discounted.U + g * p.U, L: discounted.L + g * p.L, W: discounted.W + g * p.W };
  }
  // An answering action with an empty response (stage 2 out of tokens, say) gave the user no answer.
  const firstAnswer = assistant.find((t) => (t.action === 'DA' || t.action === 'AQ') && t.response !== '');
  let correct: number | null;
  if (unit.intent.meaning !== undefined) correct = meaningCorrect(final.response, unit.intent.meaning);
  else correct = 'error' in final.reward ? null : final.reward.answer_reward;
  const unjudged = assistant.filter((t) => isUnjudgedReward(t.reward)).length;
  const failed = assistant.filter((t) => isFailedReward(t.reward)).length - unjudged;
  return {
    final,
    summary: {
      row: unit.row.id,
      persona: unit.persona.name,
      intent: {
        kind: unit.intent.kind,
        ...(unit.intent.meaning === undefined ? {} : { meaning: unit.intent.meaning }),
      },
      turns: assistant.length,
      end: final.end ?? 'turn-limit',
      actions: assistant.map((t) => t.action ?? '?'),
      answered_at: firstAnswer?.turn ?? null,
      correct,
      assistant_tokens: assistant.reduce((s, t) => s + t.tokens.total, 0),
      user_tokens: users.reduce((s, t) => s + t.tokens, 0),
      failed_turns: failed,
      unjudged_turns: unjudged,
      empty_replies: users.filter((t) => t.empty === true).length,
      per_turn: perTurn,
      discounted,
      messages: visible.slice(rowVisible),
    },
  };
}

/** What turn 1 keeps of its row, for a resume to check the data files against (resume-data.ts). */
function rowStamp(row: DatasetRow): NonNullable<AssistantTurnRecord['row']> {
  const label = row.extra_info.ground_truth;
  return {
    data_source: row.data_source,
    ground_truth: row.ground_truth,
    ...(typeof label === 'string' ? { label } : {}),
  };
}

/** A recorded assistant turn whose judge call failed: what a resume judges again. */
function needsJudging(turn: TurnRecord): turn is AssistantTurnRecord {
  return turn.role === 'assistant' && isJudgeFailure(turn.reward);
}

/**
 * True when the turn log has a score for a turn that `record` counts unscored: a resume judged the turn
 * again and stopped before it superseded the record.
 */
function recordBehindTurns(record: RunRecord, turns: readonly TurnRecord[]): boolean {
  const summary = conversationSummaryOf(record);
  if (summary === undefined) return false;
  return turns.some(
    (t) =>
      t.role === 'assistant' &&
      !isFailedReward(t.reward) &&
      summary.per_turn.find((p) => p.turn === t.turn)?.U === null,
  );
}

function isAbort(err: unknown, signal: AbortSignal): boolean {
  return signal.aborted || (err instanceof Error && err.name === 'AbortError');
}

/**
 * Runs (or resumes) a conversation run: see the module comment. Resolves when every conversation has a
 * record, the run stopped, or the signal aborted it.
 */
export async function evaluateConversations(
  options: ConversationEvalOptions,
): Promise<ConversationEvalResult> {
  const { sim, scoring, tokenCounter } = options;
  const store: RunStore = await openRunStore(options.out, options.config, {
    resume: options.resume,
    ...(options.fsync === undefined ? {} : { fsync: options.fsync }),
    ...(options.fs === undefined ? {} : { fs: options.fs }),
  });
  let log: TurnLog | undefined;
  const controller = new AbortController();
  const outer = options.signal;
  const onAbort = () => controller.abort(outer?.reason);
  if (outer?.aborted) controller.abort(outer.reason);
  else outer?.addEventListener('abort', onAbort, { once: true });
  const signal = controller.signal;
  const stats = newBatchStats();
  const rejudged: RejudgeCounts = { turns: 0, scored: 0, records: 0 };
  let progress: RunProgress;
  let stopped: string | undefined;
  let fatal: unknown;
  try {
    log = await openTurnLog(store.dir, {
      resume: store.resumed,
      ...(options.fsync === undefined ? {} : { fsync: options.fsync }),
      ...(options.fs === undefined ? {} : { fs: options.fs }),
    });
    const turnLog = log;
    const units: Unit[] = options.rows.flatMap((row) =>
      sim.personas.map((persona) => ({
        id: conversationId(row.id, persona.name),
        row,
        persona,
        intent: intentOf(row, sim.seed),
      })),
    );
    const ids = new Set(units.map((u) => u.id));
    const stray = [
      ...new Set([...store.done, ...turnLog.turns.map((t) => t.conversation)].filter((id) => !ids.has(id))),
    ];
    if (stray.length > 0) {
      throw new EvalRunError(
        `${store.dir} holds conversations that are not among the selected rows and personas (e.g. ${stray[0]}); the data files or --persona changed?`,
      );
    }
    const unitById = new Map(units.map((u) => [u.id, u]));
    // A conversation's turns were generated and its intent drawn from its row as it was: a finished one's
    // record says how the row was, an unfinished one's first turn (in logs that keep it).
    const unfinished: RowStamp[] = turnLog.turns.flatMap((t) =>
      t.role === 'assistant' && t.turn === 1 && t.row !== undefined && !store.done.has(t.conversation)
        ? [{ id: t.conversation, ...t.row }]
        : [],
    );
    const changed = changedDataProblem([...store.records, ...unfinished], (id) => unitById.get(id)?.row);
    if (changed !== undefined) throw new EvalRunError(`cannot resume ${store.dir}: ${changed}`);
    const recorded = new Map<string, TurnRecord[]>();
    for (const t of turnLog.turns) {
      const list = recorded.get(t.conversation) ?? [];
      list.push(t);
      recorded.set(t.conversation, list);
    }
    const judged = scoring.judge !== undefined;
    const stored = new Map(store.records.map((r) => [r.id, r]));
    const todo = units.filter((u) => !store.done.has(u.id));
    // Finished conversations with a turn to judge again, or a record behind its turns.
    const revisit = units.filter((u) => {
      const record = stored.get(u.id);
      if (record === undefined) return false;
      const turns = recorded.get(u.id) ?? [];
      return (judged && turns.some(needsJudging)) || recordBehindTurns(record, turns);
    });
    // The finished conversations first: judging again asks only the judge.
    const work = [...revisit, ...todo];
    const toJudge = judged ? turnLog.turns.filter(needsJudging) : [];
    progress = {
      total: units.length,
      resumed: units.length - todo.length,
      written: 0,
      failed: 0,
      unscored: 0,
    };
    options.onStart?.({
      total: units.length,
      resumed: progress.resumed,
      truncatedBytes: store.truncatedBytes + turnLog.truncatedBytes,
      store,
      rejudge: {
        turns: toJudge.length,
        conversations: new Set(toJudge.map((t) => t.conversation)).size,
      },
    });
    options.onProgress?.(progress);
    const produce = assistantProducer(options.assistant.model, options.assistant.options);
    const maxFailures = Math.max(1, options.maxFailures ?? 10);
    let consecutiveFailures = 0;
    let next = 0;
    // metrics.json goes before the first record changes: it describes the records before.
    const recordsChange = beforeRecordsChange(store.dir, options.fs, stored.size > 0);

    /**
     * The reward of an assistant turn (`output` the whole output, `response` its response block): the
     * final turn of an ambiguity row by the meaning the user holds, the others by the judge, alike when the
     * turn is generated and when it is judged again.
     */
    const turnOutput = (unit: Unit, output: string, response: string, final: boolean) => {
      const verdict =
        final && unit.intent.meaning !== undefined
          ? meaningCorrect(response, unit.intent.meaning)
          : undefined;
      return { response: output, ...(verdict === undefined ? {} : { verdict }) };
    };
    const scoreTurn = (unit: Unit, output: string, response: string, final: boolean) =>
      scoreRow(unit.row, turnOutput(unit, output, response, final), scoring, stats);

    /** Scores a recorded turn again from its output; a turn now scored is superseded in the log. */
    const rejudge = async (unit: Unit, turn: AssistantTurnRecord): Promise<AssistantTurnRecord> => {
      const reward = await scoreTurn(unit, turn.output, turn.response, turn.next === 'end');
      rejudged.turns++;
      if (isFailedReward(reward)) return turn;
      const scored: AssistantTurnRecord = { ...turn, reward, supersedes: true };
      await turnLog.supersede(scored);
      rejudged.scored++;
      return scored;
    };

    /** `step` follows the conversation, so that a failure can say where it happened. */
    const converse = async (unit: Unit, step: ConversationStep): Promise<void> => {
      const started = performance.now();
      const prior = recorded.get(unit.id) ?? [];
      const before = stored.get(unit.id);
      const find = (role: 'assistant' | 'user', turn: number) =>
        prior.find((t) => t.role === role && t.turn === turn);
      // A finished conversation is only replayed: its turns must all be in the log.
      const missing = (role: string, turn: number): never => {
        throw new EvalRunError(
          `${store.dir}: ${unit.id} has a record in results.jsonl but its ${role} turn ${turn} is not in turns.jsonl; its turns cannot be judged again`,
        );
      };
      const { question, history } = questionOf(unit.row);
      const visible: VisibleTurn[] = [...history, { role: 'user', content: question }];
      const rowVisible = visible.length;
      const exchanges: ConversationTurn[] = [];
      const turns: TurnRecord[] = [];
      let answers = 0;
      let insisted = false;
      for (let t = 1; ; t++) {
        let a = find('assistant', t) as AssistantTurnRecord | undefined;
        if (a !== undefined && judged && needsJudging(a)) a = await rejudge(unit, a);
        if (a === undefined && before !== undefined) missing('assistant', t);
        if (a === undefined) {
          step.side = 'assistant';
          step.turn = t;
          const turnStarted = performance.now();
          const output = await produce(extendRow(unit.row, exchanges), signal);
          const response = responseText(output.response);
          const decision = decideUser({
            turn: t,
            maxTurns: sim.maxTurns,
            // An empty response gives the user nothing to reply to: it ends the conversation as an output
            // with no action does (`no-action`); the turn keeps its action.
            action: response === '' ? undefined : output.action,
            answers,
            insisted,
            persona: unit.persona,
            seed: sim.seed,
            conversation: unit.id,
          });
          // Under --on-judge-error fail the turn is written before the run stops: it was paid for, and
          // the resume judges it again from the log instead of generating it again.
          const { reward, stop } = await scoreNewOutput(
            unit.row,
            turnOutput(unit, output.response, response, decision.next === 'end'),
            scoring,
            stats,
          );
          a = {
            conversation: unit.id,
            turn: t,
            role: 'assistant',
            ...(t === 1 ? { row: rowStamp(unit.row) } : {}),
            output: output.response,
            response,
            ...(output.cell === undefined ? {} : { cell: output.cell }),
            ...(output.action === undefined ? {} : { action: output.action }),
            tokens: countOutputTokens(output.response, tokenCounter),
            reward,
            next: decision.next,
            ...(decision.next === 'end' ? { end: decision.reason } : {}),
            ...(output.trace === undefined ? {} : { trace: output.trace }),
            durationMs: Math.round((performance.now() - turnStarted) * 1000) / 1000,
          };
          await turnLog.append(a);
          if (stop !== undefined) throw stop;
        }
        turns.push(a);
        visible.push({ role: 'assistant', content: a.response });
        exchanges.push({ role: 'assistant', content: a.response });
        if (a.next === 'end') break;
        let u = find('user', t) as UserTurnRecord | undefined;
        if (u === undefined && before !== undefined) missing('user', t);
        if (u === undefined) {
          step.side = 'user';
          step.turn = t;
          const replyStarted = performance.now();
          const reply = await simulateReply(
            {
              model: sim.userModel,
              persona: unit.persona,
              intent: unit.intent,
              seed: sim.seed,
              ...(sim.userMaxTokens === undefined ? {} : { maxTokens: sim.userMaxTokens }),
              ...(sim.userTemperature === undefined ? {} : { temperature: sim.userTemperature }),
            },
            visible,
            a.next,
            { conversation: unit.id, turn: t, signal },
          );
          u = {
            conversation: unit.id,
            turn: t,
            role: 'user',
            mode: reply.mode,
            text: reply.text,
            ...(reply.text === '' ? { empty: true as const } : {}),
            tokens: reply.text === '' ? 0 : tokenCounter.count(reply.text),
            usage: {
              promptTokens: reply.result.usage.promptTokens,
              completionTokens: reply.result.usage.completionTokens,
            },
            durationMs: Math.round((performance.now() - replyStarted) * 1000) / 1000,
          };
          await turnLog.append(u);
        }
        turns.push(u);
        if (u.mode === 'answer') answers++;
        else insisted = true;
        // An empty reply still has to be a message for the next turn's question.
        const sent = u.text === '' ? NO_REPLY : u.text;
        visible.push({ role: 'user', content: sent });
        exchanges.push({ role: 'user', content: sent });
      }
      const { summary, final } = summarize(unit, turns, visible, sim.discount, rowVisible);
      const label = unit.row.extra_info.ground_truth;
      const record: RunRecord & { conversation: ConversationSummary } = {
        id: unit.id,
        data_source: unit.row.data_source,
        ground_truth: unit.row.ground_truth,
        ...(typeof label === 'string' ? { label } : {}),
        response: final.output,
        ...(final.cell === undefined ? {} : { cell: final.cell }),
        ...(final.action === undefined ? {} : { action: final.action }),
        tokens: final.tokens,
        reward: final.reward,
        // A superseding record adds this resume's time to the time the conversation took before.
        durationMs: Math.round(((before?.durationMs ?? 0) + performance.now() - started) * 1000) / 1000,
        conversation: summary,
      };
      if (before !== undefined) {
        if (!recordBehindTurns(before, turns)) return;
        await recordsChange();
        await store.supersede(record);
        rejudged.records++;
        return;
      }
      // A resumed run may hold the metrics.json of an earlier, complete set of conversations (the data
      // file grew); it is written again once the run is complete.
      await recordsChange();
      await store.append(record);
      progress.written++;
      if (summary.failed_turns + summary.unjudged_turns > 0) progress.unscored++;
      options.onProgress?.(progress);
    };

    const worker = async (): Promise<void> => {
      while (stopped === undefined && fatal === undefined && !signal.aborted) {
        const unit = work[next++];
        if (unit === undefined) return;
        const step: ConversationStep = { side: 'assistant', turn: 1 };
        try {
          await converse(unit, step);
          consecutiveFailures = 0;
        } catch (err) {
          if (isAbort(err, signal)) return;
          if (err instanceof BatchAbortedError) {
            stopped ??= `judge failure in ${unit.id} (--on-judge-error fail): ${err.result.error.message}`;
            return;
          }
          if (err instanceof ChatModelError) {
            progress.failed++;
            consecutiveFailures++;
            options.onFailure?.({ id: unit.id, row: unit.row, step: { ...step } }, err);
            try {
              await store.logError({
                id: unit.id,
                data_source: unit.row.data_source,
                stage: step.side === 'assistant' ? 'generate' : 'simulate-user',
                turn: step.turn,
                message: `${describeStep(step)}: ${err.message}`,
              });
            } catch (logErr) {
              fatal ??= logErr;
              controller.abort();
              return;
            }
            options.onProgress?.(progress);
            if (consecutiveFailures >= maxFailures) {
              stopped ??= `the backend failed on ${consecutiveFailures} conversations in a row (last: ${err.message})`;
            }
            continue;
          }
          fatal ??= err;
          controller.abort();
          return;
        }
      }
    };
    const concurrency = Math.max(1, options.concurrency ?? 4);
    await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, work.length)) }, worker));
  } catch (err) {
    await log?.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  } finally {
    outer?.removeEventListener('abort', onAbort);
  }
  if (fatal !== undefined) {
    await log?.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw fatal;
  }
  await log.close();
  await store.close();
  const records = store.records;
  const metrics = {
    ...computeMetrics(records, { tokenCounter }),
    conversations: computeConversationMetrics(records),
  };
  // Every conversation has a record; a stop while judging again (--on-judge-error fail) leaves the run
  // unfinished all the same, for the next resume to judge those turns.
  const complete = records.length === progress.total && stopped === undefined;
  if (complete) await writeMetrics(store.dir, metrics, options.fs);
  const interrupted = outer?.aborted === true;
  const result: ConversationEvalResult = {
    ...progress,
    interrupted,
    judged: scoring.judge !== undefined,
    rejudged,
    stats,
    dir: store.dir,
    records,
    metrics,
    complete,
  };
  if (stopped !== undefined) result.stopped = stopped;
  else if (!interrupted && progress.failed > 0) {
    result.stopped = `${progress.failed} conversation(s) stopped on a backend failure (see errors.jsonl); --resume goes on from their last finished turn`;
  }
  return result;
}
