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
 * sample that cannot be scored, 502 for a judge that failed after its retries (OpenRLHF retries the
 * request on any error status).
 */

import { setMaxListeners } from 'node:events';
import { z } from 'zod';
import { formatIssues, zodIssues } from '../issues.js';
import {
  BatchAbortedError,
  type BatchItem,
  type BatchOptions,
  type BatchResult,
  type BatchStats,
  type FailedResult,
  newBatchStats,
  scoreBatch,
} from '../reward/batch.js';
import { outputLine, parseScoreValue } from '../reward/jsonl.js';
import type { AskOptions, Judge, JudgeStats } from '../reward/judge.js';
import type { RewardSample } from '../reward/score.js';
import { createKeyChecker } from './auth.js';
import { HttpError } from './errors.js';
import { createHandler, metricsRoute, type RequestContext, readJsonBody, sendJson } from './http.js';
import { type ListenOptions, listen, type RunningServer } from './listen.js';
import { createMetricsRegistry, type MetricsRegistry } from './metrics.js';
import { type OpenRlhfLabel, readGetRewardBody, readScoreBody } from './reward-request.js';

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
  metrics?: MetricsRegistry;
  log?: (line: string) => void;
}

export interface RewardApp {
  readonly handler: ReturnType<typeof createHandler>;
  readonly metrics: MetricsRegistry;
}

/** End-of-turn and padding tokens of common chat templates (Qwen, Llama 2/3, Mistral, Gemma, Phi). */
export const DEFAULT_END_TOKENS: readonly string[] = [
  '<|im_end|>',
  '<|endoftext|>',
  '<|eot_id|>',
  '<|end_of_text|>',
  '</s>',
  '<end_of_turn>',
  '<eos>',
  '<pad>',
  '<|end|>',
];

const DEFAULT_MAX_BODY = 64 << 20;
const DEFAULT_MAX_SAMPLES = 65_536;

const labelSchema = z.object({
  id: z.union([z.string(), z.number()]).optional(),
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

/** The HTTP status of a batch stopped by its first failure under `onJudgeError: 'fail'`. */
function abortedError(result: FailedResult): HttpError {
  const where = `sample ${result.line - 1}${result.id !== undefined ? ` (id ${JSON.stringify(result.id)})` : ''}`;
  const message = `${where}: ${result.error.message}`;
  switch (result.error.stage) {
    case 'input':
      return new HttpError(400, message, 'invalid_request_error', 'invalid_sample');
    case 'score':
      return new HttpError(422, message, 'invalid_request_error', 'unscorable_sample');
    case 'judge':
      return new HttpError(502, message, 'upstream_error', 'judge_failed');
  }
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

  /**
   * Scores the items in order; under `fail` the first failure becomes the request's error. The judge calls
   * are cancelled when the client goes away and when the batch stops early (`fail`), so that no judge
   * request outlives its HTTP request.
   */
  async function score(
    items: BatchItem[],
    endpoint: string,
    client: AbortSignal,
  ): Promise<{ results: BatchResult[]; stats: BatchStats }> {
    batchSize.observe(items.length, { endpoint });
    const stats = newBatchStats();
    const results: BatchResult[] = [];
    const finished = new AbortController();
    const signal = AbortSignal.any([client, finished.signal]);
    // Every judge attempt in flight listens on it: hundreds at a time is normal, not a leak.
    setMaxListeners(0, signal);
    const judge = options.judge === undefined ? undefined : judgeWithSignal(options.judge, signal);
    try {
      for await (const r of scoreBatch(items, { ...batchOptions, judge }, stats)) {
        // A client that left needs no more samples started.
        if (client.aborted) break;
        results.push(r);
      }
    } catch (err) {
      if (client.aborted) return { results, stats };
      if (err instanceof BatchAbortedError) {
        failuresTotal.inc({ stage: err.result.error.stage });
        throw abortedError(err.result);
      }
      throw err;
    } finally {
      finished.abort();
    }
    if (client.aborted) return { results, stats };
    for (const r of results) {
      if ('error' in r) {
        samplesTotal.inc({ endpoint, result: 'failed' });
        failuresTotal.inc({ stage: r.error.stage });
      } else {
        samplesTotal.inc({ endpoint, result: 'scored' });
        verdictsTotal.inc({ source: r.record.verdict_source });
      }
    }
    return { results, stats };
  }

  async function getReward(ctx: RequestContext): Promise<void> {
    const body = readGetRewardBody(await readJsonBody(ctx, maxBody), maxSamples);
    const items = body.query.map((q, i) => openRlhfItem(i, q, body.prompts[i]!, body.labels[i]!, endTokens));
    const { results } = await score(items, '/get_reward', ctx.signal);
    if (ctx.signal.aborted) return;
    const rewards: Array<number | null> = [];
    const logs: Record<string, Array<number | null>> = { 'gtalign/failed': [] };
    for (const c of COMPONENTS) logs[`gtalign/${c}`] = [];
    const errors: Array<Record<string, unknown>> = [];
    for (const [i, r] of results.entries()) {
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
    const { results, stats } = await score(items, '/v1/reward/score', ctx.signal);
    if (ctx.signal.aborted) return;
    const summary = {
      samples: stats.samples,
      scored: stats.scored,
      failures: stats.failures,
      mean_score: stats.scored > 0 ? stats.scoreSum / stats.scored : null,
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
    routes: [
      { method: 'POST', path: '/get_reward', handle: getReward },
      { method: 'POST', path: '/v1/reward/score', handle: scoreRecords },
      {
        method: 'GET',
        path: '/healthz',
        auth: false,
        handle: (ctx) =>
          sendJson(ctx.res, 200, { status: 'ok', judge: options.judge === undefined ? 'offline' : 'live' }),
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
