/**
 * The look-ahead welfare reward for training (`gtalign reward score --lookahead K`), CollabLLM's idea with
 * GTAlign's welfare: a rollout's turn is scored by what it leads to, not only by itself.
 *
 * For one input record (the model's four-block output for a row, the row's conversation in `extra_info`):
 *
 * 1. W_0 = the turn's own reward (`reward score`'s score, √(U·L) by default; input verdict or judge).
 * 2. Rollout: the persona's rules (`decideUser`, src/sim/simulator.ts) read the turn's action. A direct
 *    answer (DA), an AQ whose follow-up the persona does not take (seeded draw), an output with no action,
 *    or an unscorable output ends it at once. Otherwise the simulated user (any `ChatModel`) replies to the
 *    turn's `<response>`, and the policy model takes the next GTAlign turn (`assistantProducer`, the same
 *    turn as `eval run`) on the longer conversation; its reward W_t is scored like `eval run --turns`
 *    scores turn t (an ambiguity row's final turn: 1 when it names an answer of the meaning the user holds,
 *    else 0; otherwise the judge). Repeat until the rules end the conversation or K future turns were taken
 *    (the scored turn is turn 1 of at most K+1 assistant turns).
 * 3. With T the number of future turns taken (0 ≤ T ≤ K), λ = `--lookahead-weight`, γ = `--lookahead-discount`:
 *
 *        R = (1 − λ) · W_0 + λ · γ^T · W_T
 *
 *    W_T is the welfare of the conversation's last turn (its outcome); γ^T charges every extra turn the user
 *    had to take. When T = 0 (DA, no follow-up, no action, unscorable), W_T = W_0 and R = W_0: a direct
 *    answer needs no look-ahead and gets exactly its single-turn reward.
 * 4. With several personas, each has a rollout of its own and R is the mean of their R_p (the expected
 *    reward over a population of users, each persona weighing the same): a turn is rewarded for what it
 *    leads to with every kind of user, not with one.
 *
 * The simulated user's hidden intent comes from `intentOf` (src/sim/intent.ts) on a row whose id is
 * `lookahead:` + the first 16 hex digits of sha256 of the canonical JSON of {data_source, ground_truth,
 * extra_info, prompt}: every rollout of the same prompt meets the same user (same meaning, same draws),
 * whatever its sample id.
 *
 * Cost and cache: each rollout is content-addressed (sha256 of the canonical JSON of the sample, the
 * horizon, its persona, seeds, both models and their settings, and the reward config); a rollout in flight
 * or done in this process is shared by every sample with the same key (the last `memoryLimit` finished
 * ones are kept), and with a cache folder the finished rollout (its turns and their welfare) is written
 * there, so a repeated sample costs no policy, user or judge call (an entry of another shape is a miss). λ and γ are applied after the cache, so
 * they can change without new calls. At most `concurrency` rollouts run at once, over every caller (a
 * `reward score` stream, or all the requests of `reward serve`), so a trainer's batch costs bounded calls
 * in flight. Each output record's `components.lookahead` says `{turns, policy_calls, user_calls, cached,
 * …}`: the calls this sample made in this process (0 when cached); `calls` counts every request sent,
 * failed rollouts' included. A failed user, policy or judge call fails the sample (`error.stage:
 * "lookahead"`), never a 0.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { extractBlocks } from '../chain/blocks.js';
import { extractAnalyze } from '../chain/format.js';
import type { ConversationTurn } from '../chain/prompt.js';
import type { DatasetRow } from '../data/row.js';
import { splitCellKey } from '../game/spec.js';
import { writeAtomic } from '../io/atomic-file.js';
import { fsFailureReason } from '../io/fs-reason.js';
import { type NumberedLine, readLines } from '../io/lines.js';
import { type ChatMessage, type ChatModel, exclusiveOf } from '../llm/types.js';
import {
  type BatchItem,
  type BatchOptions,
  type BatchResult,
  type BatchStats,
  describeLine,
  newBatchStats,
  scoreBatch,
} from '../reward/batch.js';
import { canonicalJson } from '../reward/canonical-json.js';
import { DEFAULT_REWARD_CONFIG } from '../reward/config-base.js';
import { outputLine, parseScoreValue } from '../reward/jsonl.js';
import { createLimiter, type Limiter } from '../reward/limiter.js';
import { chosenCell } from '../reward/matrix-check.js';
import type { ChunkResult } from '../reward/offline-pool.js';
import { intentOf, meaningCorrect } from '../sim/intent.js';
import type { Persona } from '../sim/persona.js';
import { decideUser, simulateReply, type VisibleTurn } from '../sim/simulator.js';
import { extendRow } from './conversation-run.js';
import { isRollout } from './lookahead-rollout-shape.js';
import { type AssistantOptions, assistantProducer, questionOf } from './run.js';

export interface LookaheadOptions {
  /** K: most future assistant turns. */
  horizon: number;
  /** λ in [0, 1]: the outcome's weight. */
  weight: number;
  /** γ in [0, 1]: discount per future turn. */
  discount: number;
  /** The policy model taking the future GTAlign turns. */
  policy: ChatModel;
  /** Its turn settings (default: the row's prompt when it has one, else gtalign's wording; no steering). */
  policyOptions?: AssistantOptions;
  /**
   * The pricing policy that steers the policy's turns, with the default prompt choice above (ignored when
   * `policyOptions` is given: put it there).
   */
  policySteering?: Pick<AssistantOptions, 'policy'>;
  /** The model playing the user. */
  user: ChatModel;
  /** Who plays the user; or `personas`. */
  persona?: Persona;
  /** Several users: each sample gets a rollout per persona, and R is the mean of their rewards. */
  personas?: readonly Persona[];
  /** Seed of the user's meaning, follow-up draws and sampling. */
  seed: number;
  userMaxTokens?: number;
  userTemperature?: number;
  /** Rollouts in flight at once, over every caller (default 8). */
  concurrency?: number;
  /** Finished rollouts kept in memory for samples that come again (default 10 000). */
  memoryLimit?: number;
  /** Folder of finished rollouts; undefined: this process only. */
  cacheDir?: string;
  /** Scoring of W_0 and of every future turn (judge, config, math check, failure policy). */
  batch: BatchOptions;
}

/** One future turn of a rollout. */
export interface FutureTurn {
  action: string;
  /** The user's reply it answers (mode and text). */
  user: { mode: 'answer' | 'insist'; text: string };
  output: string;
  W: number;
  U: number;
  L: number;
  verdict: number | null;
}

/** A finished rollout: what the cache holds. */
export interface Rollout {
  turns: FutureTurn[];
  end: string;
  policy_calls: number;
  user_calls: number;
}

/** One persona's rollout of a sample. */
export interface PersonaLookahead {
  persona: string;
  /** T: future assistant turns taken. */
  turns: number;
  /** Calls this sample made in this process (0 when the rollout was shared or read from the cache). */
  policy_calls: number;
  user_calls: number;
  cached: boolean;
  /** Why the rollout ended (`answered`, `no-follow-up`, `user-stopped`, `turn-limit`, `no-action`, `unscorable`). */
  end: string;
  /** W_1..W_T. */
  future: number[];
  actions: string[];
  /** R_p = (1 − λ)·W_0 + λ·γ^T·W_T. */
  reward: number;
}

/**
 * What `components.lookahead` of an output record holds. With one persona: its rollout's `turns`, calls,
 * `cached`, `end`, `future` and `actions` (no `personas`). With several: `personas` (one entry each), and
 * `turns` and the calls summed, `cached` when every rollout was.
 */
export interface LookaheadInfo {
  turns: number;
  policy_calls: number;
  user_calls: number;
  cached: boolean;
  end?: string;
  /** W_0, the turn's own welfare. */
  own: number;
  future?: number[];
  actions?: string[];
  personas?: PersonaLookahead[];
  horizon: number;
  weight: number;
  discount: number;
}

/** Totals of a look-ahead run, for the summary. */
export interface LookaheadTotals {
  samples: number;
  rollouts: number;
  cached: number;
  turns: number;
  /**
   * Future turns whose output names no action (no valid matrix or choice): scored as the reward scores
   * them (0 for a malformed output), and counted, so that a policy server answering junk shows.
   */
  no_action: number;
  policy_calls: number;
  user_calls: number;
}

export function newLookaheadTotals(): LookaheadTotals {
  return { samples: 0, rollouts: 0, cached: 0, turns: 0, no_action: 0, policy_calls: 0, user_calls: 0 };
}

/** The documented formula: R = (1 − λ)·W_0 + λ·γ^T·W_T, with W_T = W_0 when T = 0. */
export function lookaheadReward(
  own: number,
  future: readonly number[],
  weight: number,
  discount: number,
): number {
  const T = future.length;
  const last = T === 0 ? own : future[T - 1]!;
  return (1 - weight) * own + weight * discount ** T * last;
}

/** The id of a rollout's row (see the module comment). */
export function lookaheadRowId(sample: {
  data_source: string;
  ground_truth: string;
  extra_info?: Record<string, unknown> | undefined;
  prompt?: unknown;
}): string {
  const key = canonicalJson({
    data_source: sample.data_source,
    ground_truth: sample.ground_truth,
    extra_info: sample.extra_info ?? {},
    prompt: sample.prompt ?? null,
  });
  return `lookahead:${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
}

/** A failure of the rollout (user, policy or judge): the sample's error, never a 0. */
class RolloutError extends Error {
  constructor(
    message: string,
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'RolloutError';
  }
}

/** A model that counts its calls into each of `counters`. */
function counted(model: ChatModel, ...counters: Array<{ calls: number }>): ChatModel {
  const count = () => {
    for (const c of counters) c.calls++;
  };
  return {
    id: model.id,
    capabilities: model.capabilities,
    ...(model.about === undefined ? {} : { about: model.about }),
    ...exclusiveOf(model),
    generate(request) {
      count();
      return model.generate(request);
    },
    stream(request) {
      count();
      return model.stream(request);
    },
    close: () => model.close(),
  };
}

/**
 * The chat prompt of an input record, as the rollout's policy gets it: the record's `prompt`, else its
 * `extra_info.prompt`, when it is a list of messages; undefined otherwise (the policy then builds the
 * prompt from `extra_info` with gtalign's wording).
 */
export function samplePrompt(value: unknown): ChatMessage[] | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const extra = v.extra_info as Record<string, unknown> | undefined;
  return isMessages(v.prompt) ? v.prompt : isMessages(extra?.prompt) ? extra.prompt : undefined;
}

function isMessages(value: unknown): value is ChatMessage[] {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every(
      (m) =>
        typeof m === 'object' &&
        m !== null &&
        typeof (m as { role?: unknown }).role === 'string' &&
        typeof (m as { content?: unknown }).content === 'string',
    )
  );
}

function actionOf(output: string): string | undefined {
  const analyze = extractAnalyze(output);
  if (analyze === undefined) return undefined;
  const cell = chosenCell(analyze);
  if (cell === undefined) return undefined;
  return splitCellKey(cell)?.column ?? cell;
}

function responseText(output: string): string {
  return extractBlocks(output).blocks.response?.content.trim() ?? '';
}

/**
 * Scores one sample with the batch scorer; counts into `stats` only what says where verdicts came from.
 * A future turn's verdict from the held meaning is handed over as the item's verdict, but it is not one of
 * the input's: `fromMeaning` keeps it out of the summary's "verdicts from input".
 */
async function scoreOne(
  item: BatchItem,
  batch: BatchOptions,
  stats: BatchStats,
  fromMeaning = false,
): Promise<BatchResult> {
  const scratch = newBatchStats();
  let result: BatchResult | undefined;
  for await (const r of scoreBatch([item], { ...batch, concurrency: 1, onJudgeError: 'skip' }, scratch))
    result = r;
  if (!fromMeaning) stats.inputVerdicts += scratch.inputVerdicts;
  stats.mathShortcuts += scratch.mathShortcuts;
  stats.unscorable += scratch.unscorable;
  stats.judgeVerdicts += scratch.judgeVerdicts;
  stats.cachedVerdicts += scratch.cachedVerdicts;
  return result!;
}

interface Input {
  item: Extract<BatchItem, { sample: unknown }>;
  prompt: ChatMessage[] | undefined;
}

/** Scores input records with the look-ahead reward; yields `reward score` chunks in input order. */
export class LookaheadScorer {
  readonly totals = newLookaheadTotals();
  private readonly inflight = new Map<string, Promise<Rollout>>();
  /** Finished rollouts, least recently used first. */
  private readonly finished = new Map<string, Rollout>();
  private readonly options: LookaheadOptions;
  private readonly limiter: Limiter;
  private readonly policyCalls = { calls: 0 };
  private readonly userCalls = { calls: 0 };
  private readonly personas: readonly Persona[];

  constructor(options: LookaheadOptions) {
    this.options = options;
    this.personas = options.personas ?? (options.persona === undefined ? [] : [options.persona]);
    if (this.personas.length === 0) throw new Error('the look-ahead needs a persona');
    this.limiter = createLimiter(Math.max(1, options.concurrency ?? 8));
  }

  /** Every request sent to the policy and to the user's model so far, failed rollouts' included. */
  get calls(): { policy: number; user: number } {
    return { policy: this.policyCalls.calls, user: this.userCalls.calls };
  }

  /** Keeps a finished rollout for repeats; beyond the memory limit the least recently used goes. */
  private remember(key: string, rollout: Rollout): void {
    this.finished.delete(key);
    this.finished.set(key, rollout);
    const limit = Math.max(1, this.options.memoryLimit ?? 10_000);
    for (const oldest of this.finished.keys()) {
      if (this.finished.size <= limit) break;
      this.finished.delete(oldest);
    }
  }

  /** The rollout of `key`: a finished one, the one in flight, or a new one (`made`), and whether it was read. */
  private rolloutOf(
    key: string,
    make: () => Promise<Rollout>,
  ): { pending: Promise<Rollout>; made: boolean; cached: () => boolean } {
    const done = this.finished.get(key);
    if (done !== undefined) {
      this.remember(key, done);
      return { pending: Promise.resolve(done), made: false, cached: () => true };
    }
    const running = this.inflight.get(key);
    if (running !== undefined) return { pending: running, made: false, cached: () => true };
    let fromDisk = false;
    // Bounded over every caller: a trainer's batch waits for a slot instead of flooding the servers.
    const pending = this.limiter.run(async () => {
      const hit = await this.readCache(key);
      if (hit !== undefined) {
        fromDisk = true;
        return hit;
      }
      const r = await make();
      await this.writeCache(key, r);
      return r;
    });
    this.inflight.set(key, pending);
    pending.then(
      (r) => {
        this.inflight.delete(key);
        this.remember(key, r);
      },
      // A failed rollout is not kept: the next sample with this key tries again.
      () => this.inflight.delete(key),
    );
    return { pending, made: true, cached: () => fromDisk };
  }

  private keyOf(input: Input, own: { W: number }, persona: Persona): string {
    const o = this.options;
    const { sample } = input.item;
    return createHash('sha256')
      .update(
        canonicalJson({
          v: 1,
          sample: { ...sample, extra_info: sample.extra_info ?? {} },
          verdict: input.item.verdict ?? null,
          prompt: input.prompt ?? null,
          own: own.W,
          horizon: o.horizon,
          persona,
          seed: o.seed,
          user: { id: o.user.id, maxTokens: o.userMaxTokens ?? null, temperature: o.userTemperature ?? null },
          policy: { id: o.policy.id, options: o.policyOptions ?? null },
          // Only when set, so that unsteered rollouts keep the keys they had before steering existed.
          ...(o.policySteering === undefined ? {} : { steering: o.policySteering as unknown }),
          config: (o.batch.config ?? DEFAULT_REWARD_CONFIG) as unknown,
          mathCheck: o.batch.mathCheck ?? true,
        }),
      )
      .digest('hex');
  }

  private async readCache(key: string): Promise<Rollout | undefined> {
    if (this.options.cacheDir === undefined) return undefined;
    try {
      const value: unknown = JSON.parse(await readFile(join(this.options.cacheDir, `${key}.json`), 'utf8'));
      return isRollout(value, this.options.horizon) ? value : undefined;
    } catch {
      return undefined;
    }
  }

  private async writeCache(key: string, rollout: Rollout): Promise<void> {
    const dir = this.options.cacheDir;
    if (dir === undefined) return;
    // One file per key in a folder that grows: no listing of it at every write.
    try {
      await writeAtomic(join(dir, `${key}.json`), JSON.stringify(rollout), undefined, {
        keepStaleTemps: true,
      });
    } catch (err) {
      const reason = fsFailureReason(err) ?? (err as Error).message;
      throw new RolloutError(`cannot write the rollout into the look-ahead cache ${dir}: ${reason}`, 'cache');
    }
  }

  /** The K future turns of one sample (see the module comment). Throws `RolloutError` on a failure. */
  private async rollout(
    input: Input,
    ownAction: string | undefined,
    persona: Persona,
    stats: BatchStats,
  ): Promise<Rollout> {
    const o = this.options;
    const { sample } = input.item;
    const extra = sample.extra_info ?? {};
    const rowId = lookaheadRowId({ ...sample, prompt: input.prompt });
    const row: DatasetRow = {
      id: rowId,
      data_source: sample.data_source,
      prompt: input.prompt ?? [],
      ground_truth: sample.ground_truth,
      extra_info: extra,
      source: { file: 'lookahead', row: input.item.line },
    };
    const intent = intentOf(row, o.seed);
    const policyCalls = { calls: 0 };
    const userCalls = { calls: 0 };
    const policyOptions: AssistantOptions = o.policyOptions ?? {
      prompt: input.prompt === undefined ? { profile: 'gtalign' } : 'row',
      ...o.policySteering,
    };
    const produce = assistantProducer(counted(o.policy, policyCalls, this.policyCalls), policyOptions);
    const userModel = counted(o.user, userCalls, this.userCalls);
    const { history, question } = questionOf(row);
    const visible: VisibleTurn[] = [...history, { role: 'user', content: question }];
    const exchanges: ConversationTurn[] = [];
    const turns: FutureTurn[] = [];
    const maxTurns = o.horizon + 1;
    let action = ownAction;
    let response = responseText(sample.response);
    let answers = 0;
    let insisted = false;
    let end = '';
    const signal = new AbortController().signal;
    for (let t = 1; ; t++) {
      const decision = decideUser({
        turn: t,
        maxTurns,
        action,
        answers,
        insisted,
        persona,
        seed: o.seed,
        conversation: rowId,
      });
      if (decision.next === 'end') {
        end = decision.reason;
        break;
      }
      visible.push({ role: 'assistant', content: response });
      exchanges.push({ role: 'assistant', content: response });
      let replyText: string;
      try {
        const reply = await simulateReply(
          {
            model: userModel,
            persona,
            intent,
            seed: o.seed,
            ...(o.userMaxTokens === undefined ? {} : { maxTokens: o.userMaxTokens }),
            ...(o.userTemperature === undefined ? {} : { temperature: o.userTemperature }),
          },
          visible,
          decision.next,
          { conversation: rowId, turn: t, signal },
        );
        replyText = reply.text === '' ? '(no reply)' : reply.text;
      } catch (err) {
        throw new RolloutError(`the simulated user failed at turn ${t}: ${(err as Error).message}`, 'user');
      }
      if (decision.next === 'answer') answers++;
      else insisted = true;
      visible.push({ role: 'user', content: replyText });
      exchanges.push({ role: 'user', content: replyText });
      let output: string;
      let nextAction: string | undefined;
      try {
        const produced = await produce(extendRow(row, exchanges), signal);
        output = produced.response;
        nextAction = produced.action;
      } catch (err) {
        throw new RolloutError(`the policy failed at turn ${t + 1}: ${(err as Error).message}`, 'policy');
      }
      response = responseText(output);
      // Same rule as `eval run --turns`: an ambiguity row's final turn is judged against the held meaning.
      const after = decideUser({
        turn: t + 1,
        maxTurns,
        action: nextAction,
        answers,
        insisted,
        persona,
        seed: o.seed,
        conversation: rowId,
      });
      const verdict =
        after.next === 'end' && intent.meaning !== undefined
          ? meaningCorrect(response, intent.meaning)
          : undefined;
      const scored = await scoreOne(
        {
          line: input.item.line,
          id: input.item.id,
          sample: {
            data_source: sample.data_source,
            response: output,
            ground_truth: sample.ground_truth,
            extra_info: extendRow(row, exchanges).extra_info,
          },
          verdict,
        },
        o.batch,
        stats,
        true,
      );
      if ('error' in scored) {
        throw new RolloutError(
          `future turn ${t + 1} could not be scored: ${scored.error.message}`,
          scored.error.stage,
        );
      }
      turns.push({
        action: nextAction ?? '?',
        user: { mode: decision.next, text: replyText },
        output,
        W: scored.record.score,
        U: scored.record.user_reward,
        L: scored.record.llm_reward,
        verdict: scored.record.verdict,
      });
      action = nextAction;
    }
    return { turns, end, policy_calls: policyCalls.calls, user_calls: userCalls.calls };
  }

  /** One persona's rollout of a scored turn: none when the rules end the conversation at once. */
  private async outcome(
    input: Input,
    own: { W: number; scorable: boolean },
    action: string | undefined,
    persona: Persona,
    stats: BatchStats,
  ): Promise<{ rollout: Rollout; cached: boolean; made: boolean }> {
    const o = this.options;
    const { sample } = input.item;
    const first = own.scorable
      ? decideUser({
          turn: 1,
          maxTurns: o.horizon + 1,
          action,
          answers: 0,
          insisted: false,
          persona,
          seed: o.seed,
          conversation: lookaheadRowId({ ...sample, prompt: input.prompt }),
        })
      : ({ next: 'end', reason: 'unscorable' } as const);
    if (first.next === 'end') {
      // No future turn (DA, no follow-up, no action, unscorable): R = W_0, no call, nothing to cache.
      return {
        rollout: { turns: [], end: first.reason, policy_calls: 0, user_calls: 0 },
        cached: false,
        made: false,
      };
    }
    const found = this.rolloutOf(this.keyOf(input, own, persona), () =>
      this.rollout(input, action, persona, stats),
    );
    const rollout = await found.pending;
    return { rollout, cached: found.cached(), made: found.made };
  }

  /** Scores one input: W_0, then each persona's rollout when the turn asks, then R. Never throws. */
  async score(item: BatchItem, stats: BatchStats, prompt?: ChatMessage[]): Promise<BatchResult> {
    const own = await scoreOne(item, this.options.batch, stats);
    if ('error' in own || 'invalid' in item) return own;
    const o = this.options;
    const action = actionOf(item.sample.response);
    const W0 = own.record.score;
    let outcomes: Array<{ rollout: Rollout; cached: boolean; made: boolean }>;
    try {
      outcomes = await Promise.all(
        this.personas.map((p) =>
          this.outcome({ item, prompt }, { W: W0, scorable: own.record.scorable }, action, p, stats),
        ),
      );
    } catch (err) {
      const reason = err instanceof RolloutError ? err.reason : undefined;
      return {
        id: item.id,
        line: item.line,
        data_source: item.sample.data_source,
        // A stage of its own in the output line; the batch types name only the single-turn stages.
        error: {
          stage: 'lookahead' as 'score',
          message: (err as Error).message,
          ...(reason === undefined ? {} : { reason: reason as never }),
        },
      };
    }
    const t = this.totals;
    t.samples++;
    const each: PersonaLookahead[] = outcomes.map(({ rollout, cached, made }, i) => {
      const calls = made && !cached;
      const future = rollout.turns.map((turn) => turn.W);
      const entry: PersonaLookahead = {
        persona: this.personas[i]!.name,
        turns: rollout.turns.length,
        policy_calls: calls ? rollout.policy_calls : 0,
        user_calls: calls ? rollout.user_calls : 0,
        cached,
        end: rollout.end,
        future,
        actions: rollout.turns.map((turn) => turn.action),
        reward: lookaheadReward(W0, future, o.weight, o.discount),
      };
      t.turns += entry.turns;
      t.no_action += rollout.turns.filter((turn) => turn.action === '?').length;
      t.policy_calls += entry.policy_calls;
      t.user_calls += entry.user_calls;
      if (cached) t.cached++;
      else if (made) t.rollouts++;
      return entry;
    });
    const settings = { horizon: o.horizon, weight: o.weight, discount: o.discount };
    let info: LookaheadInfo;
    if (each.length === 1) {
      const e = each[0]!;
      info = {
        turns: e.turns,
        policy_calls: e.policy_calls,
        user_calls: e.user_calls,
        cached: e.cached,
        end: e.end,
        own: W0,
        future: e.future,
        actions: e.actions,
        ...settings,
      };
    } else {
      info = {
        turns: each.reduce((n, e) => n + e.turns, 0),
        policy_calls: each.reduce((n, e) => n + e.policy_calls, 0),
        user_calls: each.reduce((n, e) => n + e.user_calls, 0),
        cached: each.every((e) => e.cached),
        own: W0,
        personas: each,
        ...settings,
      };
    }
    const record = {
      ...own.record,
      // The mean over the personas of R_p (one persona: its R).
      score: each.reduce((sum, e) => sum + e.reward, 0) / each.length,
      components: { ...own.record.components, lookahead: info } as typeof own.record.components,
    };
    return { id: own.id, line: own.line, record };
  }

  /** Scores a JSONL byte stream (`reward score` input) with bounded concurrency, results in input order. */
  async *stream(
    source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
    name: string,
  ): AsyncGenerator<ChunkResult> {
    const concurrency = Math.max(1, this.options.concurrency ?? 8);
    const window: Array<Promise<{ result: BatchResult; stats: BatchStats }>> = [];
    const run = async (l: NumberedLine) => {
      const stats = newBatchStats();
      let value: unknown;
      let item: BatchItem;
      if (l.notUtf8 !== undefined) item = { line: l.line, id: undefined, invalid: l.notUtf8 };
      else
        try {
          value = JSON.parse(l.text);
          item = parseScoreValue(value, l.line);
        } catch (err) {
          item = { line: l.line, id: undefined, invalid: `not valid JSON (${(err as Error).message})` };
        }
      const prompt = samplePrompt(value);
      let result: BatchResult;
      try {
        result = await this.score(item, stats, prompt);
      } catch (err) {
        result = {
          id: item.id,
          line: item.line,
          error: { stage: 'score', message: `internal error: ${(err as Error).message}` },
        };
      }
      stats.samples++;
      if ('error' in result) stats.failures++;
      else {
        stats.scored++;
        stats.scoreSum += result.record.score;
      }
      return { result, stats };
    };
    const emit = ({ result, stats }: { result: BatchResult; stats: BatchStats }): ChunkResult => {
      const failedLine = 'error' in result ? `${describeLine(result)}: ${result.error.message}` : undefined;
      return {
        text: `${outputLine(result)}\n`,
        count: 1,
        errors: failedLine === undefined ? [] : [failedLine],
        stats,
        ...(failedLine !== undefined && this.options.batch.onJudgeError === 'fail'
          ? { aborted: failedLine }
          : {}),
      };
    };
    for await (const l of readLines(source, { name })) {
      if (l.text.trim() === '') continue;
      window.push(run(l));
      if (window.length >= concurrency) {
        const chunk = emit(await window.shift()!);
        yield chunk;
        if (chunk.aborted !== undefined) return;
      }
    }
    while (window.length > 0) {
      const chunk = emit(await window.shift()!);
      yield chunk;
      if (chunk.aborted !== undefined) return;
    }
  }
}

/**
 * The summary line of a look-ahead run: the scored samples' rollouts and calls, then every request `sent`
 * (`LookaheadScorer.calls`), failed rollouts' included: what the run cost, even when its samples failed.
 */
export function lookaheadSummary(t: LookaheadTotals, sent?: { policy: number; user: number }): string {
  const per = (n: number) => (t.samples > 0 ? (n / t.samples).toFixed(3) : 'n/a');
  return (
    `look-ahead: samples ${t.samples}, rollouts ${t.rollouts}, cached ${t.cached}, future turns ${t.turns} ` +
    `(with no action ${t.no_action}), ` +
    `policy calls ${t.policy_calls} (${per(t.policy_calls)}/sample), user calls ${t.user_calls} (${per(t.user_calls)}/sample)` +
    (sent === undefined
      ? ''
      : `, requests sent with failed rollouts': policy ${sent.policy}, user ${sent.user}`)
  );
}
