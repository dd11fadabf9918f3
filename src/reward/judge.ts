/**
 * LLM-as-judge client for any OpenAI-compatible chat endpoint (vLLM, SGLang, Ollama, hosted APIs).
 *
 * - Bounded concurrency: at most `concurrency` HTTP requests in flight (slots are not held while
 *   backing off).
 * - Per-attempt timeout (AbortSignal); retries with exponential backoff and full jitter on network
 *   errors, timeouts, HTTP 408/429/5xx, unreadable response bodies and malformed verdicts. Other 4xx
 *   are final (a bad key or a too-long prompt will not fix itself).
 * - A content-addressed on-disk cache of replies (see judge-cache.ts): identical requests are never
 *   sent twice; identical requests in flight at the same time share one HTTP call.
 * - A failure stays a failure: after the last attempt the result is `{ ok: false, error }`, never a
 *   0 verdict (the reference turns failures into 0, which corrupts the training signal).
 */

import { z } from 'zod';
import {
  abortableSleep,
  describeNetworkError,
  excerpt,
  resolveApiKey as resolveKey,
  retryAfterMs,
} from '../llm/http.js';
import { createNodeFetch } from '../llm/node-fetch.js';
import { createJudgeCache, type JudgeCache, judgeCacheKey } from './judge-cache.js';
import { createLimiter } from './limiter.js';
import {
  buildJudgeMessages,
  type ChatMessage,
  type JudgeFamily,
  type JudgeInput,
  JudgeInputError,
  type VerdictKind,
} from './rubrics.js';
import { extractVerdict } from './verdict.js';

export interface RetryOptions {
  /** Total attempts per verdict, first one included (default 4). */
  attempts: number;
  /** Backoff cap of the first retry, in ms; doubles each retry (default 500). */
  baseDelayMs: number;
  /** Upper bound of any single backoff, in ms (default 20 000). */
  maxDelayMs: number;
}

export interface JudgeOptions {
  /** Base URL of the OpenAI-compatible API, e.g. `http://localhost:8000/v1`; requests go to `${baseUrl}/chat/completions`. */
  baseUrl: string;
  model: string;
  /** Explicit API key; wins over the environment. */
  apiKey?: string | undefined;
  /**
   * Environment variable holding the key (default `GTALIGN_JUDGE_API_KEY`). Only when this is left at
   * its default does the client fall back to `OPENAI_API_KEY`, so a key meant for OpenAI is never sent
   * to an endpoint the user configured with a key variable of its own. No key → no Authorization header.
   */
  apiKeyEnv?: string | undefined;
  /** Environment to read the key from (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Sampling temperature (default 0). */
  temperature?: number | undefined;
  /** `max_tokens` of each judge call (default 1024). */
  maxTokens?: number | undefined;
  /**
   * Extra request-body fields, part of the cache key, e.g. `{ chat_template_kwargs: { enable_thinking: false } }`
   * for Qwen3 on vLLM.
   */
  extraBody?: Readonly<Record<string, unknown>> | undefined;
  /** Extra HTTP headers (not part of the cache key). */
  headers?: Readonly<Record<string, string>> | undefined;
  /** Maximum HTTP requests in flight (default 4). */
  concurrency?: number | undefined;
  /** Timeout of one HTTP attempt, body included, in ms (default 120 000). */
  timeoutMs?: number | undefined;
  retry?: Partial<RetryOptions> | undefined;
  /** Directory of the reply cache; no cache when absent. */
  cacheDir?: string | undefined;
  /** Injected for tests. */
  fetch?: typeof fetch | undefined;
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
  /** Uniform in [0, 1); drives the backoff jitter. */
  random?: (() => number) | undefined;
}

/** Why a verdict could not be obtained. */
export type JudgeFailureReason =
  | 'bad_input'
  | 'network'
  | 'timeout'
  | 'http_status'
  | 'bad_response'
  | 'bad_verdict'
  | 'aborted';

export type JudgeVerdict =
  | { ok: true; value: number; cached: boolean; attempts: number; reply: string }
  | { ok: false; error: string; reason: JudgeFailureReason; attempts: number };

export interface JudgeStats {
  /** HTTP requests sent (every attempt counts). */
  httpCalls: number;
  /** Attempts beyond the first. */
  retries: number;
  cacheHits: number;
  cacheMisses: number;
  /** Cache files that could not be used (then overwritten by the fresh reply). */
  cacheCorrupt: number;
  cacheWriteErrors: number;
  /** Requests answered by an identical request already in flight. */
  deduped: number;
  successes: number;
  /** Verdicts finally reported as failed. */
  failures: number;
  failuresByReason: Partial<Record<JudgeFailureReason, number>>;
  /** Every failed attempt, retried or not. */
  attemptErrorsByReason: Partial<Record<JudgeFailureReason, number>>;
}

export interface AskOptions {
  /** Cancels waiting, backoff and the HTTP call; the result is then a failure with reason `aborted`. */
  signal?: AbortSignal | undefined;
}

export interface Judge {
  /** Judges one sample with the family's rubric. */
  verdict(family: JudgeFamily, input: JudgeInput, options?: AskOptions): Promise<JudgeVerdict>;
  /**
   * Sends prepared messages and reads a verdict of `kind` (e.g. the matrix-reasoning judge). A call
   * identical to one already in flight shares its result (and so its first caller's abort signal).
   */
  ask(kind: VerdictKind, messages: readonly ChatMessage[], options?: AskOptions): Promise<JudgeVerdict>;
  /** Cache key of the request these messages produce. */
  requestKey(messages: readonly ChatMessage[]): string;
  /** A snapshot of the counters. */
  stats(): JudgeStats;
  readonly cache: JudgeCache | undefined;
}

export const DEFAULT_API_KEY_ENV = 'GTALIGN_JUDGE_API_KEY';

const DEFAULT_RETRY: RetryOptions = { attempts: 4, baseDelayMs: 500, maxDelayMs: 20_000 };

const ChatCompletionSchema = z.object({
  choices: z
    .array(
      z.object({
        message: z.object({ content: z.string().nullable().optional() }),
        finish_reason: z.string().nullable().optional(),
      }),
    )
    .min(1),
});

type AttemptResult =
  | { ok: true; reply: string; value: number }
  | {
      ok: false;
      reason: JudgeFailureReason;
      message: string;
      retryable: boolean;
      retryAfterMs?: number | undefined;
    };

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`judge: ${name} must be an integer >= 1, got ${value}`);
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0)
    throw new RangeError(`judge: ${name} must be a number >= 0, got ${value}`);
  return value;
}

export function resolveApiKey(
  options: Pick<JudgeOptions, 'apiKey' | 'apiKeyEnv' | 'env'>,
): string | undefined {
  return resolveKey(options, DEFAULT_API_KEY_ENV);
}

/** All judge counters at zero (also for Judge implementations of one's own). */
export function newJudgeStats(): JudgeStats {
  return {
    httpCalls: 0,
    retries: 0,
    cacheHits: 0,
    cacheMisses: 0,
    cacheCorrupt: 0,
    cacheWriteErrors: 0,
    deduped: 0,
    successes: 0,
    failures: 0,
    failuresByReason: {},
    attemptErrorsByReason: {},
  };
}

export function createJudge(options: JudgeOptions): Judge {
  if (options.baseUrl.trim() === '') throw new RangeError('judge: baseUrl is empty');
  if (options.model.trim() === '') throw new RangeError('judge: model is empty');
  const url = `${options.baseUrl.replace(/\/+$/, '')}/chat/completions`;
  const retry: RetryOptions = { ...DEFAULT_RETRY, ...options.retry };
  positiveInt('retry.attempts', retry.attempts);
  nonNegative('retry.baseDelayMs', retry.baseDelayMs);
  nonNegative('retry.maxDelayMs', retry.maxDelayMs);
  const timeoutMs = positiveInt('timeoutMs', options.timeoutMs ?? 120_000);
  const concurrencyLimit = positiveInt('concurrency', options.concurrency ?? 4);
  const limiter = createLimiter(concurrencyLimit);
  const params: Record<string, unknown> = {
    temperature: nonNegative('temperature', options.temperature ?? 0),
    max_tokens: positiveInt('maxTokens', options.maxTokens ?? 1024),
    ...options.extraBody,
  };
  const apiKey = resolveApiKey(options);
  const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
  if (apiKey !== undefined) headers.authorization = `Bearer ${apiKey}`;
  // A keep-alive node:http client: at hundreds of calls in flight the built-in fetch is the bottleneck.
  const fetchImpl = options.fetch ?? createNodeFetch({ maxSockets: Math.max(16, concurrencyLimit) });
  const sleep = options.sleep ?? abortableSleep;
  const random = options.random ?? Math.random;
  const cache = options.cacheDir !== undefined ? createJudgeCache(options.cacheDir) : undefined;

  const counters = newJudgeStats();
  const bump = (map: Partial<Record<JudgeFailureReason, number>>, reason: JudgeFailureReason): void => {
    map[reason] = (map[reason] ?? 0) + 1;
  };
  const fail = (reason: JudgeFailureReason, error: string, attempts: number): JudgeVerdict => {
    counters.failures++;
    bump(counters.failuresByReason, reason);
    return { ok: false, reason, error, attempts };
  };

  // The endpoint is part of the key: two servers may serve different models under one name ("default").
  const requestKey = (messages: readonly ChatMessage[]): string =>
    judgeCacheKey({ endpoint: url, model: options.model, messages, params });

  async function attemptOnce(
    kind: VerdictKind,
    body: string,
    signal: AbortSignal | undefined,
  ): Promise<AttemptResult> {
    // Cancelled while waiting for a slot: an already aborted signal fires no 'abort' event.
    if (signal?.aborted)
      return { ok: false, reason: 'aborted', message: 'aborted by caller', retryable: false };
    counters.httpCalls++;
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const onAbort = (): void => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const res = await fetchImpl(url, { method: 'POST', headers, body, signal: controller.signal });
      const text = await res.text();
      if (!res.ok) {
        const status = res.status;
        return {
          ok: false,
          reason: 'http_status',
          message: `HTTP ${status} from ${url}: ${excerpt(text)}`,
          retryable: status === 408 || status === 429 || status >= 500,
          retryAfterMs: retryAfterMs(res.headers.get('retry-after'), Date.now()),
        };
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        return {
          ok: false,
          reason: 'bad_response',
          message: `response body is not JSON: ${excerpt(text)}`,
          retryable: true,
        };
      }
      const parsed = ChatCompletionSchema.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'unknown shape';
        return {
          ok: false,
          reason: 'bad_response',
          message: `not a chat completion (${where})`,
          retryable: true,
        };
      }
      const choice = parsed.data.choices[0];
      const reply = choice?.message.content ?? '';
      const verdict = extractVerdict(kind, reply);
      if (!verdict.ok) {
        const truncated = choice?.finish_reason === 'length' ? ' (reply cut at max_tokens)' : '';
        return {
          ok: false,
          reason: 'bad_verdict',
          message: `${verdict.reason}${truncated}; reply: ${JSON.stringify(excerpt(reply, 120))}`,
          retryable: true,
        };
      }
      return { ok: true, reply, value: verdict.value };
    } catch (err) {
      if (signal?.aborted)
        return { ok: false, reason: 'aborted', message: 'aborted by caller', retryable: false };
      if (timedOut) {
        return {
          ok: false,
          reason: 'timeout',
          message: `no complete response within ${timeoutMs} ms`,
          retryable: true,
        };
      }
      return { ok: false, reason: 'network', message: describeNetworkError(err), retryable: true };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async function run(kind: VerdictKind, messages: readonly ChatMessage[], key: string, signal?: AbortSignal) {
    if (cache) {
      const found = await cache.get(key);
      if (found.status === 'hit') {
        // Re-read the stored reply: a verdict parser fix then applies to old entries too.
        const verdict = extractVerdict(kind, found.entry.reply);
        if (verdict.ok) {
          counters.cacheHits++;
          counters.successes++;
          return {
            ok: true,
            value: verdict.value,
            cached: true,
            attempts: 0,
            reply: found.entry.reply,
          } as const;
        }
        counters.cacheCorrupt++;
      } else if (found.status === 'corrupt') {
        counters.cacheCorrupt++;
      } else {
        counters.cacheMisses++;
      }
    }

    const body = JSON.stringify({ model: options.model, messages, ...params });
    let last: Extract<AttemptResult, { ok: false }> | undefined;
    for (let attempt = 1; attempt <= retry.attempts; attempt++) {
      if (signal?.aborted) return fail('aborted', 'aborted by caller', attempt - 1);
      if (attempt > 1) counters.retries++;
      const result = await limiter.run(() => attemptOnce(kind, body, signal));
      if (result.ok) {
        if (cache) {
          await cache.set(key, { reply: result.reply, model: options.model }).catch(() => {
            counters.cacheWriteErrors++;
          });
        }
        counters.successes++;
        return {
          ok: true,
          value: result.value,
          cached: false,
          attempts: attempt,
          reply: result.reply,
        } as const;
      }
      last = result;
      bump(counters.attemptErrorsByReason, result.reason);
      if (!result.retryable) return fail(result.reason, result.message, attempt);
      if (attempt === retry.attempts) break;
      // Full jitter: uniform in [0, min(max, base·2^(n−1))]; a server's Retry-After is a floor.
      const cap = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
      let delay = random() * cap;
      if (result.retryAfterMs !== undefined)
        delay = Math.max(delay, Math.min(result.retryAfterMs, retry.maxDelayMs));
      try {
        await sleep(delay, signal);
      } catch {
        return fail('aborted', 'aborted by caller while backing off', attempt);
      }
    }
    const reason = last?.reason ?? 'network';
    // The count is the result's `attempts`: whoever reports the failure says it once.
    return fail(reason, last?.message ?? 'no attempt made', retry.attempts);
  }

  /**
   * Identical requests in flight share one run. The run is cancelled only when every caller waiting
   * on it has aborted: one caller leaving never fails another's verdict.
   */
  interface Shared {
    promise: Promise<JudgeVerdict>;
    controller: AbortController;
    waiting: number;
  }
  const inFlight = new Map<string, Shared>();

  const ask = (
    kind: VerdictKind,
    messages: readonly ChatMessage[],
    askOptions?: AskOptions,
  ): Promise<JudgeVerdict> => {
    const signal = askOptions?.signal;
    if (signal?.aborted) return Promise.resolve(fail('aborted', 'aborted by caller', 0));
    const key = requestKey(messages);
    let shared = inFlight.get(key);
    if (shared) counters.deduped++;
    else {
      const controller = new AbortController();
      const promise = run(kind, messages, key, controller.signal).finally(() => inFlight.delete(key));
      shared = { promise, controller, waiting: 0 };
      inFlight.set(key, shared);
    }
    const s = shared;
    s.waiting++;
    if (signal === undefined) return s.promise;
    return new Promise<JudgeVerdict>((resolve) => {
      let left = false;
      const onAbort = (): void => {
        s.waiting--;
        // The last caller to leave cancels the run and gets its (aborted) result; earlier ones leave now.
        if (s.waiting === 0) s.controller.abort();
        else {
          left = true;
          resolve(fail('aborted', 'aborted by caller', 0));
        }
      };
      signal.addEventListener('abort', onAbort, { once: true });
      void s.promise.then((r) => {
        signal.removeEventListener('abort', onAbort);
        if (!left) resolve(r);
      });
    });
  };

  return {
    ask,
    async verdict(family, input, askOptions) {
      let messages: ChatMessage[];
      try {
        messages = buildJudgeMessages(family, input);
      } catch (err) {
        if (err instanceof JudgeInputError) return fail('bad_input', err.message, 0);
        throw err;
      }
      return ask(family, messages, askOptions);
    },
    requestKey,
    stats: () => ({
      ...counters,
      failuresByReason: { ...counters.failuresByReason },
      attemptErrorsByReason: { ...counters.attemptErrorsByReason },
    }),
    cache,
  };
}
