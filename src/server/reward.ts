/**
 * `gtalign reward serve`: the mutual-welfare reward over HTTP for RL trainers, with the judge settings of
 * `gtalign reward score` (concurrency, retries, cache, failure policy) and the same numbers.
 *
 * - `POST /get_reward`: OpenRLHF's remote reward protocol (`--remote_rm_url http://HOST:PORT/get_reward`).
 *   Request `{"query": [...], "prompts": [...], "labels": [...]}`: `query[i]` is the prompt followed by the
 *   rollout, so the scored output is `query[i]` after its prefix `prompts[i]` (end-of-text tokens such as
 *   `<|im_end|>` at its very end are cut, since OpenRLHF decodes with special tokens, and so is left
 *   padding before the prompt, which older OpenRLHF versions leave in); `labels[i]` is the
 *   JSON object `gtalign data export --format openrlhf` writes (`data_source`, `ground_truth`, optional
 *   `extra_info`, `id`, and `verdict` for `--judge offline`), as a JSON string or an object. Response
 *   `{"rewards": [...], "scores": [...], "extra_logs": {name: [per sample]}, "errors": [...]}`; `scores`
 *   equals `rewards`; `extra_logs` holds the components under `gtalign/…` names, numbers only (OpenRLHF
 *   turns every entry into a tensor).
 * - `POST /v1/reward/score`: `{"samples": [records of gtalign reward score's input]}` →
 *   `{"results": [the CLI's output lines, in order], "summary": {...}}`; a sample's `line` is its 1-based
 *   index.
 *
 * A failed sample is never a 0. Under `onJudgeError: 'skip'` (default) its reward is `null` (and `null`
 * in every `extra_logs` list, 1 in `gtalign/failed`) with an entry in `errors` naming the sample and the
 * cause; under `'fail'` the whole request fails: 400 for a bad sample (label, prefix, record), 422 for a
 * sample that cannot be scored, 502 for a judge that failed after its retries. On `/get_reward` a judge
 * (or look-ahead) failure is answered as under `'skip'` in both modes: OpenRLHF (3c3be62,
 * openrlhf/utils/agent.py) sends a request again on any error status, 5 times, which would pay for the
 * judge's attempts 5 times over; a `null` reward it does not retry, and its `torch.tensor` refuses it, so
 * the step stops all the same.
 *
 * Throughput (see coalesce.ts): samples of concurrent requests are gathered into shared batches (at most
 * `coalesce.maxBatch` samples, flushed after `coalesce.maxWaitMs`), since verl's reward loop and
 * OpenRLHF 0.11 send one sample per request. Deadline: every request is answered within `deadlineMs`
 * (default 170 s, under OpenRLHF's 180 s client timeout), or the client's own sooner one
 * (`x-gtalign-deadline-ms`); a sample not scored by then is a failure naming the deadline (`deadline:
 * true`; under `fail`, the request is 504 `deadline_exceeded`), and its judge call goes on, so that the
 * trainer's retry finds the verdict in flight (or in the cache) instead of starting over.
 *
 * Look-ahead (`lookahead`, `gtalign reward serve --lookahead K`): every sample is scored by the
 * `LookaheadScorer` of src/eval/lookahead.ts, exactly as `gtalign reward score --lookahead K` scores it
 * (the chat prompt of a record is its `prompt`, else `extra_info.prompt`; an OpenRLHF label's
 * `extra_info.prompt`). Its rollouts are bounded over all requests (`--lookahead-concurrency`), shared by
 * identical samples and remembered, so a trainer's repeated batch costs no call; a rollout outlives the
 * request that started it, so a retry after a deadline finds it. Each result's `components.lookahead` says
 * its turns, policy and user calls and whether it was cached; `/get_reward` logs them under
 * `gtalign/lookahead_*`, `/v1/reward/score` sums them in its summary, and /metrics counts every policy and
 * user call. A failed rollout is a failed sample (stage `lookahead`; 502 `lookahead_failed` under `fail`,
 * a `null` reward on `/get_reward` as for a judge's failure).
 */

import { setMaxListeners } from 'node:events';
import { z } from 'zod';
import { type LookaheadInfo, type LookaheadScorer, samplePrompt } from '../eval/lookahead.js';
import { exactIdNumber } from '../io/record-id-schema.js';
import { formatIssues, zodIssues } from '../issues.js';
import type { ChatMessage } from '../llm/types.js';
import {
  type BatchItem,
  type BatchOptions,
  type BatchResult,
  type FailedResult,
  newBatchStats,
  scoreBatch,
} from '../reward/batch.js';
import { outputLine, parseScoreValue } from '../reward/jsonl.js';
import type { AskOptions, Judge, JudgeStats } from '../reward/judge.js';
import type { RewardSample } from '../reward/score.js';
import type { AccessLog } from './access-log.js';
import { createKeyChecker } from './auth.js';
import { createCoalescer, type Scheduler, timerScheduler } from './coalesce.js';
import { DEFAULT_END_TOKENS } from './end-tokens.js';
import { HttpError } from './errors.js';
import { createHandler, metricsRoute, type RequestContext, readJsonBody, sendJson } from './http.js';
import { type ListenOptions, listen, type RunningServer } from './listen.js';
import { createMetricsRegistry, type MetricsRegistry } from './metrics.js';
import {
  DEADLINE_HEADER,
  MAX_TIMER_MS,
  type OpenRlhfLabel,
  readDeadlineHeader,
  readGetRewardBody,
  readScoreBody,
} from './reward-request.js';

/**
 * The batch's scoring options, per request: `concurrency` is samples in flight per request (default 32;
 * about twice the judge's HTTP concurrency is right); under `onJudgeError: 'fail'` the request fails.
 */
export interface RewardServerOptions
  extends Pick<
    BatchOptions,
    'judge' | 'concurrency' | 'onJudgeError' | 'config' | 'mathCheck' | 'clipVerdicts'
  > {
  apiKeys?: readonly string[];
  limits?: {
    /** Largest request body in bytes (default 64 MiB). */
    maxBodyBytes?: number;
    /** Most samples in one request (default 65 536). */
    maxSamples?: number;
  };
  /** Strings cut from the end of an OpenRLHF rollout, repeatedly (default: common end-of-text tokens). */
  endTokens?: readonly string[];
  /**
   * Request coalescing (default on: at most 256 samples a batch, 2 ms wait); `false` scores every request
   * as its own batch.
   */
  coalesce?: false | { maxBatch?: number; maxWaitMs?: number };
  /**
   * Every request is answered within this many ms (default 170 000: OpenRLHF's client gives up after
   * 180 s); samples not scored by then are failures. 0, Infinity or past what a timer can wait (about
   * 24.8 days): no deadline.
   */
  deadlineMs?: number;
  /** The clock of coalescing and deadlines (default: timers); injected by tests. */
  scheduler?: Scheduler;
  metrics?: MetricsRegistry;
  log?: (line: string) => void;
  /** One JSON line per request (access-log.ts). */
  accessLog?: AccessLog;
  /** Score every sample with the look-ahead reward (see the module comment); its batch options are its own. */
  lookahead?: LookaheadScorer;
}

export interface RewardApp {
  readonly handler: ReturnType<typeof createHandler>;
  readonly metrics: MetricsRegistry;
}

export { DEFAULT_END_TOKENS } from './end-tokens.js';

const DEFAULT_MAX_BODY = 64 << 20;
const DEFAULT_MAX_SAMPLES = 65_536;
/** Under OpenRLHF's 180 s client timeout, with room for the answer to travel. */
export const DEFAULT_DEADLINE_MS = 170_000;
export const DEFAULT_COALESCE = { maxBatch: 256, maxWaitMs: 2 } as const;

const labelSchema = z.object({
  id: z.union([z.string(), exactIdNumber]).optional(),
  data_source: z.string().min(1),
  ground_truth: z.string(),
  extra_info: z.record(z.string(), z.unknown()).nullish(),
  verdict: z.number().finite().nullish(),
});

/** Cuts end-of-text tokens (and only them) from the end of a rollout. */
export function stripEndTokens(text: string, tokens: readonly string[]): string {
  let out = text;
  for (let changed = true; changed; ) {
    changed = false;
    for (const t of tokens) {
      if (t !== '' && out.endsWith(t)) {
        out = out.slice(0, -t.length);
        changed = true;
      }
    }
  }
  return out;
}

/** Cuts end-of-text and padding tokens (and only them) from the start of a decoded sequence. */
export function stripLeadingTokens(text: string, tokens: readonly string[]): string {
  let out = text;
  for (let changed = true; changed; ) {
    changed = false;
    for (const t of tokens) {
      if (t !== '' && out.startsWith(t)) {
        out = out.slice(t.length);
        changed = true;
      }
    }
  }
  return out;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : typeof value;
}

/** One OpenRLHF sample as a batch item; a bad one becomes an `invalid` item naming the problem. */
export function openRlhfItem(
  index: number,
  query: string,
  prompt: string,
  label: OpenRlhfLabel,
  endTokens: readonly string[],
): BatchItem {
  const line = index + 1;
  let raw: unknown = label;
  if (typeof label === 'string') {
    try {
      raw = JSON.parse(label);
    } catch (err) {
      return {
        line,
        id: index,
        invalid: `the label is not JSON (${(err as Error).message}); export the data with 'gtalign data export --format openrlhf'`,
      };
    }
  }
  const parsed = labelSchema.safeParse(raw);
  if (!parsed.success) {
    // The response's errors carry the sample's index; `fail` mode prefixes "sample N": no location here.
    const [first] = zodIssues(parsed.error, 1);
    const problem = first === undefined || first.path === '' ? `is ${describe(raw)}` : formatIssues([first]);
    return { line, id: index, invalid: `label ${problem}` };
  }
  const l = parsed.data;
  const id = l.id ?? index;
  // OpenRLHF versions that decode the padded batch put the left padding (pad tokens) before the prompt.
  const unpadded = query.startsWith(prompt) ? query : stripLeadingTokens(query, endTokens);
  if (!unpadded.startsWith(prompt)) {
    return {
      line,
      id,
      invalid: `query does not start with its prompt (prompts[${index}]), even after cutting leading pad tokens`,
    };
  }
  const sample: RewardSample = {
    data_source: l.data_source,
    response: stripEndTokens(unpadded.slice(prompt.length), endTokens),
    ground_truth: l.ground_truth,
  };
  if (l.extra_info !== undefined && l.extra_info !== null) sample.extra_info = l.extra_info;
  return { line, id, sample, verdict: l.verdict ?? undefined };
}

/** The judge with every call bound to `signal` (and to the caller's own signal, if any). */
function judgeWithSignal(judge: Judge, signal: AbortSignal): Judge {
  const bind = (o: AskOptions | undefined): AskOptions => ({
    signal: o?.signal === undefined ? signal : AbortSignal.any([o.signal, signal]),
  });
  return {
    verdict: (family, input, o) => judge.verdict(family, input, bind(o)),
    ask: (kind, messages, o) => judge.ask(kind, messages, bind(o)),
    requestKey: (messages) => judge.requestKey(messages),
    stats: () => judge.stats(),
    get cache() {
      return judge.cache;
    },
  };
}

/** A request with samples in coalesced batches; `gone` once it needs no more results. */
interface Owner {
  gone: boolean;
  /** Batches holding its samples, told when it goes. */
  listeners: Set<() => void>;
}

interface Entry {
  item: BatchItem;
  owner: Owner;
  /** The sample's chat prompt, for the look-ahead policy. */
  prompt?: ChatMessage[];
}

/** The HTTP status of a batch stopped by its first failure under `onJudgeError: 'fail'`. */
function abortedError(result: FailedResult): HttpError {
  const where = `sample ${result.line - 1}${result.id !== undefined ? ` (id ${JSON.stringify(result.id)})` : ''}`;
  const message = `${where}: ${result.error.message}`;
  // The look-ahead's own stage (its rollout's user, policy or judge failed): an upstream failure.
  if ((result.error.stage as string) === 'lookahead')
    return new HttpError(502, message, 'upstream_error', 'lookahead_failed');
  switch (result.error.stage) {
    case 'input':
      return new HttpError(400, message, 'invalid_request_error', 'invalid_sample');
    case 'score':
      return new HttpError(422, message, 'invalid_request_error', 'unscorable_sample');
    case 'judge':
      return new HttpError(502, message, 'upstream_error', 'judge_failed');
  }
}

/** A judge or look-ahead rollout that failed after its retries: asking again pays for them again. */
function upstream(result: FailedResult): boolean {
  const stage = result.error.stage as string;
  return stage === 'judge' || stage === 'lookahead';
}

/** The look-ahead numbers OpenRLHF logs per sample (under `gtalign/lookahead_…`). */
const LOOKAHEAD_LOGS = ['own', 'turns', 'policy_calls', 'user_calls', 'cached'] as const;

function lookaheadOf(result: BatchResult): LookaheadInfo | undefined {
  if ('error' in result) return undefined;
  return (result.record.components as { lookahead?: LookaheadInfo }).lookahead;
}

/**
 * The look-ahead's counters in /metrics: every request sent to the policy and to the user's model (read
 * from the scorer, so failed rollouts count), and the scored samples by rollout and their future turns.
 */
function lookaheadCounters(
  metrics: MetricsRegistry,
  scorer: LookaheadScorer,
): { observe(info: LookaheadInfo): void } {
  const policyCalls = metrics.counter(
    'gtalign_lookahead_policy_calls_total',
    'Look-ahead: requests sent to the policy (failed rollouts included).',
  );
  const userCalls = metrics.counter(
    'gtalign_lookahead_user_calls_total',
    "Look-ahead: requests sent to the simulated user's model (failed rollouts included).",
  );
  const samples = metrics.counter(
    'gtalign_lookahead_samples_total',
    'Look-ahead: scored samples by rollout (made: new calls; cached: shared, remembered or read from the cache folder; none: no future turn).',
    ['rollout'],
  );
  const turns = metrics.counter(
    'gtalign_lookahead_future_turns_total',
    'Look-ahead: future turns of the scored samples.',
  );
  let counted = { policy: 0, user: 0 };
  metrics.onCollect(() => {
    const now = scorer.calls;
    policyCalls.inc({}, now.policy - counted.policy);
    userCalls.inc({}, now.user - counted.user);
    counted = now;
  });
  return {
    observe(info) {
      const calls = info.policy_calls + info.user_calls;
      samples.inc({ rollout: info.cached ? 'cached' : calls > 0 ? 'made' : 'none' });
      turns.inc({}, info.turns);
    },
  };
}

/** The numeric components OpenRLHF logs per sample (under `gtalign/…`). */
const COMPONENTS = [
  'user_reward',
  'llm_reward',
  'answer_reward',
  'format',
  'payoff_quality',
  'a_user',
  'a_llm',
  'response_length',
  'whole_length',
  'brevity',
  'judge',
] as const;

export function createRewardApp(options: RewardServerOptions): RewardApp {
  const metrics = options.metrics ?? createMetricsRegistry();
  const maxBody = options.limits?.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const maxSamples = options.limits?.maxSamples ?? DEFAULT_MAX_SAMPLES;
  const endTokens = options.endTokens ?? DEFAULT_END_TOKENS;
  const batchOptions = {
    judge: options.judge,
    concurrency: options.concurrency ?? 32,
    onJudgeError: options.onJudgeError ?? 'skip',
    ...(options.config === undefined ? {} : { config: options.config }),
    mathCheck: options.mathCheck ?? true,
    clipVerdicts: options.clipVerdicts ?? false,
  } as const;

  const samplesTotal = metrics.counter('gtalign_reward_samples_total', 'Samples by endpoint and result.', [
    'endpoint',
    'result',
  ]);
  const failuresTotal = metrics.counter(
    'gtalign_reward_failures_total',
    'Failed samples by stage (input, score, judge).',
    ['stage'],
  );
  const verdictsTotal = metrics.counter(
    'gtalign_reward_verdicts_total',
    'Verdicts by source: input (label or record), judge, cache, math-check; unscorable outputs need none.',
    ['source'],
  );
  const batchSize = metrics.histogram(
    'gtalign_reward_batch_samples',
    'Samples per request.',
    [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536],
    ['endpoint'],
  );
  const judgeCalls = metrics.counter('gtalign_judge_http_calls_total', 'HTTP requests sent to the judge.');
  const judgeRetries = metrics.counter('gtalign_judge_retries_total', 'Judge attempts beyond the first.');
  const judgeCacheHits = metrics.counter('gtalign_judge_cache_hits_total', 'Verdicts read from the cache.');
  const judgeFailures = metrics.counter(
    'gtalign_judge_failures_total',
    'Verdicts that failed after retries.',
  );
  const lookahead = options.lookahead;
  const lookaheadMetrics = lookahead === undefined ? undefined : lookaheadCounters(metrics, lookahead);
  let seen: JudgeStats | undefined;
  metrics.onCollect(() => {
    if (options.judge === undefined) return;
    const now = options.judge.stats();
    judgeCalls.inc({}, now.httpCalls - (seen?.httpCalls ?? 0));
    judgeRetries.inc({}, now.retries - (seen?.retries ?? 0));
    judgeCacheHits.inc({}, now.cacheHits - (seen?.cacheHits ?? 0));
    judgeFailures.inc({}, now.failures - (seen?.failures ?? 0));
    seen = now;
  });

  const coalesce =
    options.coalesce === false
      ? undefined
      : {
          maxBatch: options.coalesce?.maxBatch ?? DEFAULT_COALESCE.maxBatch,
          maxWaitMs: options.coalesce?.maxWaitMs ?? DEFAULT_COALESCE.maxWaitMs,
        };
  const givenDeadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
  // A timer past its range fires at once: such a deadline would fail every sample instead of none.
  const serverDeadlineMs = givenDeadlineMs > MAX_TIMER_MS ? Number.POSITIVE_INFINITY : givenDeadlineMs;
  const schedule = options.scheduler ?? timerScheduler;
  const coalescedSize = metrics.histogram(
    'gtalign_reward_coalesced_batch_samples',
    'Samples per scored batch, after coalescing concurrent requests.',
    [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536],
  );
  const deadlineTotal = metrics.counter(
    'gtalign_reward_deadline_failures_total',
    'Samples answered as failed because the request reached its deadline.',
  );

  /**
   * Runs one batch (possibly samples of several requests): at most `concurrency` samples in flight, each
   * result released as soon as it is known (a slow sample of one request holds back no other). Never
   * rejects: an unexpected error fails the sample. The judge calls are cancelled once every request with
   * samples in the batch has left (its client went away, or it failed under `fail`); samples of a request
   * that left are not started.
   */
  function runBatch(entries: readonly Entry[]): Array<Promise<BatchResult>> {
    const owners = new Set(entries.map((e) => e.owner));
    const controller = new AbortController();
    // Every judge attempt in flight listens on it: hundreds at a time is normal, not a leak.
    setMaxListeners(0, controller.signal);
    const check = () => {
      for (const o of owners) if (!o.gone) return;
      controller.abort();
    };
    for (const o of owners) o.listeners.add(check);
    check();
    const judge = options.judge === undefined ? undefined : judgeWithSignal(options.judge, controller.signal);
    const settle: Array<(r: BatchResult) => void> = [];
    const results = entries.map(
      () =>
        new Promise<BatchResult>((resolve) => {
          settle.push(resolve);
        }),
    );
    const abandoned = (e: Entry): BatchResult => ({
      id: e.item.id,
      line: e.item.line,
      error: { stage: 'judge', message: 'the request was abandoned', reason: 'aborted' },
    });
    const internal = (e: Entry, err: unknown): BatchResult => ({
      id: e.item.id,
      line: e.item.line,
      error: { stage: 'score', message: `internal error: ${(err as Error)?.message ?? String(err)}` },
    });
    const done = () => {
      for (const o of owners) o.listeners.delete(check);
      controller.abort();
    };
    if (judge === undefined && lookahead === undefined) {
      // No judge: every sample is a few microseconds of CPU, so nothing can hold another back. One pass over
      // the batch costs a fraction of a pass per sample (a generator and an options object each).
      void (async () => {
        let i = 0;
        try {
          for await (const r of scoreBatch(
            entries.map((e) => e.item),
            { ...batchOptions, onJudgeError: 'skip' },
          ))
            settle[i++]!(r);
        } catch (err) {
          for (; i < entries.length; i++) settle[i]!(internal(entries[i]!, err));
        } finally {
          done();
        }
      })();
      return results;
    }
    async function one(e: Entry): Promise<BatchResult> {
      if (e.owner.gone || controller.signal.aborted) return abandoned(e);
      try {
        // A rollout is not bound to the request: it goes on when its client leaves, for the retry.
        if (lookahead !== undefined) return await lookahead.score(e.item, newBatchStats(), e.prompt);
        for await (const r of scoreBatch([e.item], { ...batchOptions, onJudgeError: 'skip', judge }))
          return r;
      } catch (err) {
        return internal(e, err);
      }
      return abandoned(e);
    }
    let next = 0;
    async function worker(): Promise<void> {
      while (next < entries.length) {
        const i = next++;
        settle[i]!(await one(entries[i]!));
      }
    }
    const workers = Array.from({ length: Math.min(batchOptions.concurrency, entries.length) }, worker);
    void Promise.all(workers).finally(done);
    return results;
  }

  const coalescer =
    coalesce === undefined
      ? undefined
      : createCoalescer<Entry, BatchResult>({
          ...coalesce,
          run: runBatch,
          scheduler: schedule,
          onBatch: (n) => coalescedSize.observe(n),
        });

  /**
   * A failure for a sample the request's deadline overtook. `deadline: true` tells a client that the
   * sample's work goes on, so sending it again joins that work instead of paying for it twice.
   */
  function overDeadline(item: BatchItem, deadlineMs: number, whose: 'server' | 'client'): FailedResult {
    const error: FailedResult['error'] & { deadline: true } = {
      stage: 'judge',
      reason: 'timeout',
      deadline: true,
      message:
        lookahead === undefined
          ? `not scored within the ${whose}'s deadline of ${deadlineMs / 1000} s (the judge is behind: raise --judge-concurrency or send smaller batches); its judge call goes on, so a retry finds the verdict`
          : `not scored within the ${whose}'s deadline of ${deadlineMs / 1000} s (the look-ahead rollouts are behind: raise --lookahead-concurrency or send smaller batches); its rollout goes on, so a retry finds it`,
    };
    return {
      id: item.id,
      line: item.line,
      ...('sample' in item ? { data_source: item.sample.data_source } : {}),
      error,
    };
  }

  /**
   * Scores the items and returns their results in order, or undefined when the client left. Under
   * `fail` the first failure in input order becomes the request's error, but for a judge's (or
   * look-ahead's) failure when `answerUpstreamFailures` (see getReward); the deadline answers the
   * samples not scored by then as failed (504 under `fail`).
   */
  async function score(
    items: BatchItem[],
    endpoint: string,
    ctx: RequestContext,
    prompts: ReadonlyArray<ChatMessage[] | undefined> = [],
    answerUpstreamFailures = false,
  ): Promise<BatchResult[] | undefined> {
    const client = ctx.signal;
    // The sooner of the server's deadline and the client's own (see readDeadlineHeader).
    const own = readDeadlineHeader(ctx.req.headers[DEADLINE_HEADER]);
    const serverBound = serverDeadlineMs > 0 && Number.isFinite(serverDeadlineMs);
    const clients = own !== undefined && (!serverBound || own < serverDeadlineMs);
    const deadlineMs = clients ? own : serverDeadlineMs;
    batchSize.observe(items.length, { endpoint });
    const owner: Owner = { gone: false, listeners: new Set() };
    const leave = () => {
      if (owner.gone) return;
      owner.gone = true;
      for (const l of [...owner.listeners]) l();
    };
    const entries: Entry[] = items.map((item, i) => {
      const prompt = prompts[i];
      return prompt === undefined ? { item, owner } : { item, owner, prompt };
    });
    const pending: Array<Promise<BatchResult>> =
      coalescer === undefined ? runBatch(entries) : coalescer.submit(entries);
    const settled: Array<BatchResult | undefined> = new Array(items.length);
    for (const [i, p] of pending.entries()) {
      p.then(
        (r) => {
          settled[i] = r;
        },
        () => {},
      );
    }
    let cancelDeadline: (() => void) | undefined;
    let onAbort: (() => void) | undefined;
    const stop = new Promise<'deadline' | 'aborted'>((resolve) => {
      if (deadlineMs > 0 && Number.isFinite(deadlineMs))
        cancelDeadline = schedule(() => resolve('deadline'), deadlineMs);
      onAbort = () => resolve('aborted');
      if (client.aborted) resolve('aborted');
      else client.addEventListener('abort', onAbort, { once: true });
    });
    const results: BatchResult[] = [];
    let late = false;
    try {
      for (const [i, p] of pending.entries()) {
        let r: BatchResult | 'deadline' | 'aborted' | undefined;
        if (late) r = settled[i];
        else r = await Promise.race([p, stop]);
        if (r === 'aborted') {
          leave();
          return undefined;
        }
        if (r === 'deadline' || r === undefined) {
          late = true;
          r = overDeadline(items[i]!, deadlineMs, clients ? 'client' : 'server');
          deadlineTotal.inc();
          if (batchOptions.onJudgeError === 'fail') {
            failuresTotal.inc({ stage: 'judge' });
            throw new HttpError(
              504,
              `sample ${i}: ${r.error.message}`,
              'upstream_error',
              'deadline_exceeded',
            );
          }
        }
        if (
          'error' in r &&
          batchOptions.onJudgeError === 'fail' &&
          !(answerUpstreamFailures && upstream(r))
        ) {
          leave();
          failuresTotal.inc({ stage: r.error.stage });
          throw abortedError(r);
        }
        results.push(r);
      }
    } finally {
      cancelDeadline?.();
      if (onAbort !== undefined) client.removeEventListener('abort', onAbort);
    }
    for (const r of results) {
      if ('error' in r) {
        samplesTotal.inc({ endpoint, result: 'failed' });
        failuresTotal.inc({ stage: r.error.stage });
      } else {
        samplesTotal.inc({ endpoint, result: 'scored' });
        verdictsTotal.inc({ source: r.record.verdict_source });
        const la = lookaheadOf(r);
        if (la !== undefined) lookaheadMetrics?.observe(la);
      }
    }
    return results;
  }

  /** The access log's note of a reward request: samples, and how many failed. */
  function noteSamples(ctx: RequestContext, results: readonly BatchResult[]): void {
    let failed = 0;
    for (const r of results) if ('error' in r) failed++;
    ctx.annotate({ samples: results.length, failed });
  }

  async function getReward(ctx: RequestContext): Promise<void> {
    const body = readGetRewardBody(await readJsonBody(ctx, maxBody), maxSamples);
    const items = body.query.map((q, i) => openRlhfItem(i, q, body.prompts[i]!, body.labels[i]!, endTokens));
    // The templated prompt string is no message list: the policy gets the label's extra_info.prompt.
    const prompts =
      lookahead === undefined
        ? []
        : items.map((it) => ('sample' in it ? samplePrompt(it.sample) : undefined));
    // OpenRLHF sends a request again on any error status, 5 times, each paying for the judge's attempts
    // again; a 200 with the failed sample's reward null it does not retry, and cannot make a tensor of,
    // so the step still stops (a deadline stays a 504: its retry joins the judge call in flight).
    const results = await score(items, '/get_reward', ctx, prompts, true);
    if (results === undefined || ctx.signal.aborted) return;
    noteSamples(ctx, results);
    const rewards: Array<number | null> = [];
    const logs: Record<string, Array<number | null>> = { 'gtalign/failed': [] };
    for (const c of COMPONENTS) logs[`gtalign/${c}`] = [];
    if (lookahead !== undefined) for (const k of LOOKAHEAD_LOGS) logs[`gtalign/lookahead_${k}`] = [];
    const errors: Array<Record<string, unknown>> = [];
    for (const [i, r] of results.entries()) {
      const la = lookaheadOf(r);
      if (lookahead !== undefined) {
        for (const k of LOOKAHEAD_LOGS) {
          const v = la === undefined ? null : k === 'cached' ? Number(la.cached) : la[k];
          logs[`gtalign/lookahead_${k}`]!.push(v);
        }
      }
      if ('error' in r) {
        rewards.push(null);
        for (const c of COMPONENTS) logs[`gtalign/${c}`]!.push(null);
        logs['gtalign/failed']!.push(1);
        errors.push({ index: i, id: r.id, ...r.error });
        continue;
      }
      const rec = r.record;
      rewards.push(rec.score);
      const values: Record<(typeof COMPONENTS)[number], number> = {
        user_reward: rec.user_reward,
        llm_reward: rec.llm_reward,
        answer_reward: rec.answer_reward,
        format: rec.components.format,
        payoff_quality: rec.components.payoff_quality,
        a_user: rec.components.a_user,
        a_llm: rec.components.a_llm,
        response_length: rec.components.response_length,
        whole_length: rec.components.whole_length,
        brevity: rec.components.brevity,
        judge: rec.components.judge,
      };
      for (const c of COMPONENTS) logs[`gtalign/${c}`]!.push(values[c]);
      logs['gtalign/failed']!.push(0);
    }
    sendJson(ctx.res, 200, { rewards, scores: rewards, extra_logs: logs, errors });
  }

  async function scoreRecords(ctx: RequestContext): Promise<void> {
    const samples = readScoreBody(await readJsonBody(ctx, maxBody), maxSamples);
    // The CLI's own line reader, so that a record means exactly what it means in a JSONL file.
    const items = samples.map((s, i) => parseScoreValue(s, i + 1));
    const prompts = lookahead === undefined ? [] : samples.map(samplePrompt);
    const results = await score(items, '/v1/reward/score', ctx, prompts);
    if (results === undefined || ctx.signal.aborted) return;
    noteSamples(ctx, results);
    let scored = 0;
    let scoreSum = 0;
    const la = { rollouts: 0, cached: 0, future_turns: 0, policy_calls: 0, user_calls: 0 };
    for (const r of results) {
      if ('error' in r) continue;
      scored++;
      scoreSum += r.record.score;
      const info = lookaheadOf(r);
      if (info === undefined) continue;
      la.future_turns += info.turns;
      la.policy_calls += info.policy_calls;
      la.user_calls += info.user_calls;
      if (info.cached) la.cached++;
      else if (info.policy_calls + info.user_calls > 0) la.rollouts++;
    }
    const perSample = (n: number) => (results.length > 0 ? n / results.length : null);
    const summary = {
      samples: results.length,
      scored,
      failures: results.length - scored,
      mean_score: scored > 0 ? scoreSum / scored : null,
      // The calls this request's samples made (failed rollouts' calls are in /metrics).
      ...(lookahead === undefined
        ? {}
        : {
            lookahead: {
              ...la,
              policy_calls_per_sample: perSample(la.policy_calls),
              user_calls_per_sample: perSample(la.user_calls),
            },
          }),
    };
    sendJson(
      ctx.res,
      200,
      `{"results":[${results.map(outputLine).join(',')}],"summary":${JSON.stringify(summary)}}`,
    );
  }

  const handler = createHandler({
    keys: createKeyChecker(options.apiKeys),
    metrics,
    log: options.log,
    accessLog: options.accessLog,
    routes: [
      { method: 'POST', path: '/get_reward', handle: getReward },
      { method: 'POST', path: '/v1/reward/score', handle: scoreRecords },
      {
        method: 'GET',
        path: '/healthz',
        auth: false,
        handle: (ctx) =>
          sendJson(ctx.res, 200, {
            status: 'ok',
            judge: options.judge === undefined ? 'offline' : 'live',
            ...(lookahead === undefined ? {} : { lookahead: true }),
          }),
      },
      metricsRoute(metrics),
    ],
  });
  return { handler, metrics };
}

/** Creates the reward server and listens (127.0.0.1 and a free port unless told otherwise). */
export async function startRewardServer(
  options: RewardServerOptions & ListenOptions,
): Promise<RunningServer & { app: RewardApp }> {
  const app = createRewardApp(options);
  const running = await listen(app.handler, options);
  return Object.assign(running, { app });
}
