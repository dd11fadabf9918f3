/**
 * LLM-as-judge over any `ChatModel`: rubric messages → `model.generate` → verdict. So any backend can
 * judge: an OpenAI-compatible server (`createJudge({ baseUrl, model: 'name', … })` builds that model over
 * the shared transport, see judge-http.ts) or any ChatModel, the embedded engine included
 * (`createJudge({ model: await createLocalModel(…) })`).
 *
 * - Bounded concurrency: at most `concurrency` model calls in flight (slots are not held while backing off).
 * - Per-attempt timeout (AbortSignal); retries under the shared policy (llm/retry.ts: exponential backoff,
 *   full jitter, `Retry-After` as a floor) on network errors, timeouts, HTTP 408/429/5xx, unreadable
 *   answers and malformed verdicts. Other 4xx are final (a bad key or a too-long prompt will not fix
 *   itself). The judge is the only retry layer: the model it builds has no retries of its own.
 * - A content-addressed on-disk cache of replies (see judge-cache.ts): identical requests are never
 *   sent twice; identical requests in flight at the same time share one model call.
 * - A failure stays a failure: after the last attempt the result is `{ ok: false, error }`, never a
 *   0 verdict (the reference turns failures into 0, which corrupts the training signal).
 */

import { type AbortWatcher, unwatchAbort, watchAbort } from '../llm/abort-watch.js';
import { excerpt } from '../llm/http.js';
import { checkRetryPolicy, type RetryPolicy, type RetryRun, retrying } from '../llm/retry.js';
import type { ChatModel, Constraint, GenerateRequest, GenerateResult } from '../llm/types.js';
import { ChatModelError } from '../llm/types.js';
import { createJudgeCache, type JudgeCache, judgeCacheKeyer } from './judge-cache.js';
import { type JudgeEndpointOptions, type JudgeSampling, judgeEndpoint } from './judge-http.js';
import { InFlightTable, pathOf, plainMessages } from './judge-inflight.js';
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

export { DEFAULT_API_KEY_ENV, type JudgeEndpointOptions, resolveApiKey } from './judge-http.js';

export type RetryOptions = RetryPolicy;

/** What every judge is given, whatever model it talks to. */
export interface JudgeSettings {
  /** Sampling temperature (default 0). */
  temperature?: number | undefined;
  /** Most tokens of each judge reply (default 1024). */
  maxTokens?: number | undefined;
  /**
   * Model calls in flight at once (default 4). A local model runs one call at a time: give it 1, or the
   * calls queued behind it spend their timeout waiting.
   */
  concurrency?: number | undefined;
  /** Timeout of one attempt (one model call, the whole reply), in ms (default 120 000). */
  timeoutMs?: number | undefined;
  /** Attempts per verdict (default 4), first backoff cap (500 ms, doubling) and largest wait (20 s). */
  retry?: Partial<RetryOptions> | undefined;
  /** Directory of the reply cache; no cache when absent. */
  cacheDir?: string | undefined;
  /**
   * A decoding constraint per verdict kind, part of the cache key, e.g. `verdictConstraints()` to force a
   * bare verdict from a small local model. The model must support each kind given (its capabilities).
   */
  constraints?: Readonly<Partial<Record<VerdictKind, Constraint>>> | undefined;
  /** Injected for tests. */
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
  /** Uniform in [0, 1); drives the backoff jitter. */
  random?: (() => number) | undefined;
}

/** A judge behind an OpenAI-compatible endpoint (the judge builds and owns the chat model). */
export interface JudgeOptions extends JudgeSettings, JudgeEndpointOptions {}

/** A judge on a chat model of the caller's (who also closes it). */
export interface ModelJudgeOptions extends JudgeSettings {
  model: ChatModel;
  /**
   * Names the model in cache keys (default `model.id`, e.g. `local:/models/judge.gguf`). Give one that
   * changes when the weights do (a file hash, a revision) if the same id may serve other weights later.
   */
  cacheId?: string | undefined;
}

/** Why a verdict could not be obtained. */
export type JudgeFailureReason =
  | 'bad_input'
  | 'network'
  | 'timeout'
  | 'http_status'
  | 'bad_response'
  | 'bad_verdict'
  | 'aborted'
  /** The model failed otherwise (a local engine error, a request it refused). */
  | 'backend';

export type JudgeVerdict =
  | { ok: true; value: number; cached: boolean; attempts: number; reply: string }
  | { ok: false; error: string; reason: JudgeFailureReason; attempts: number };

export interface JudgeStats {
  /** Model calls made (every attempt counts): HTTP requests for a judge over HTTP. */
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
  /** Cancels waiting, backoff and the model call; the result is then a failure with reason `aborted`. */
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
  /** Cache key of the request these messages produce (for `kind`, whose constraint, if any, is part of it). */
  requestKey(messages: readonly ChatMessage[], kind?: VerdictKind): string;
  /** A snapshot of the counters. */
  stats(): JudgeStats;
  readonly cache: JudgeCache | undefined;
}

const DEFAULT_RETRY: RetryOptions = { attempts: 4, baseDelayMs: 500, maxDelayMs: 20_000 };

/** A failed attempt: why, whether another may succeed, and how many attempts the verdict took. */
class AttemptFailure {
  constructor(
    readonly reason: JudgeFailureReason,
    readonly message: string,
    readonly retryable: boolean,
    readonly attempts: number,
    readonly retryAfterMs?: number,
  ) {}
}

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

function isEndpoint(options: JudgeOptions | ModelJudgeOptions): options is JudgeOptions {
  if (typeof options.model === 'string') return true;
  if ('baseUrl' in options && options.baseUrl !== undefined) {
    throw new RangeError('judge: give either baseUrl with a model name, or a ChatModel as model, not both');
  }
  return false;
}

/** The judge's reading of a model failure: its reason, and whether trying again can help. */
function judgeFailureOf(error: ChatModelError): { reason: JudgeFailureReason; retryable: boolean } {
  switch (error.details.reason) {
    case 'network':
    case 'timeout':
      return { reason: error.details.reason, retryable: true };
    case 'http_status':
      return { reason: 'http_status', retryable: error.retryable };
    case 'aborted':
      return { reason: 'aborted', retryable: false };
    // An answer the judge cannot read may come out right next time; one over the size limit will not.
    case 'malformed':
    case 'incomplete':
    case 'upstream':
      return { reason: 'bad_response', retryable: true };
    case 'too_large':
      return { reason: 'bad_response', retryable: false };
    // The server ignored the constraint: as for a reply without a verdict, try again.
    case 'constraint':
      return { reason: 'bad_verdict', retryable: true };
    case undefined:
      // A model of one's own that gave no reason: a status is an HTTP answer, else there was none.
      return {
        reason: error.details.status === undefined ? 'network' : 'http_status',
        retryable: error.retryable,
      };
    default:
      return { reason: 'backend', retryable: error.retryable };
  }
}

/** A constraint as the cache key holds it (its `check` only reads the reply, it does not change it). */
function constraintKey(constraint: Constraint): Record<string, string> {
  return constraint.kind === 'gbnf'
    ? { kind: 'gbnf', grammar: constraint.grammar }
    : { kind: 'regex', pattern: constraint.pattern };
}

export function createJudge(options: JudgeOptions | ModelJudgeOptions): Judge {
  const retry = checkRetryPolicy({ ...DEFAULT_RETRY, ...options.retry }, 'judge: retry');
  const timeoutMs = positiveInt('timeoutMs', options.timeoutMs ?? 120_000);
  const concurrencyLimit = positiveInt('concurrency', options.concurrency ?? 4);
  const temperature = nonNegative('temperature', options.temperature ?? 0);
  const maxTokens = positiveInt('maxTokens', options.maxTokens ?? 1024);
  const limiter = createLimiter(concurrencyLimit);
  const cache = options.cacheDir !== undefined ? createJudgeCache(options.cacheDir) : undefined;

  let model: ChatModel;
  /** The model applies `timeoutMs` to each call itself (the one built from an endpoint does). */
  let modelTimesOut: boolean;
  /** The cache key's endpoint and model fields: who answers. */
  let identity: { endpoint?: string; model: string };
  let sampling: JudgeSampling;
  if (isEndpoint(options)) {
    const endpoint = judgeEndpoint(options, {
      temperature,
      maxTokens,
      timeoutMs,
      concurrency: concurrencyLimit,
    });
    model = endpoint.model;
    modelTimesOut = true;
    // The endpoint is part of the key: two servers may serve different models under one name ("default").
    identity = { endpoint: endpoint.cacheEndpoint, model: options.model };
    sampling = endpoint.sampling;
  } else {
    model = options.model;
    modelTimesOut = false;
    identity = { model: options.cacheId ?? model.id };
    sampling = { temperature, maxTokens, params: { temperature, max_tokens: maxTokens } };
  }
  const constraints = { ...options.constraints };
  for (const [kind, constraint] of Object.entries(constraints)) {
    if (constraint !== undefined && !model.capabilities[constraint.kind]) {
      throw new RangeError(
        `judge: the ${kind} constraint is ${constraint.kind}, which ${model.id} cannot apply`,
      );
    }
  }

  const counters = newJudgeStats();
  const bump = (map: Partial<Record<JudgeFailureReason, number>>, reason: JudgeFailureReason): void => {
    map[reason] = (map[reason] ?? 0) + 1;
  };
  const fail = (reason: JudgeFailureReason, error: string, attempts: number): JudgeVerdict => {
    counters.failures++;
    bump(counters.failuresByReason, reason);
    return { ok: false, reason, error, attempts };
  };

  // One keyer per constraint in use (a kind without one shares the plain keyer).
  const plainKeyer = judgeCacheKeyer({ ...identity, params: sampling.params });
  const keyers = new Map<VerdictKind, (messages: readonly ChatMessage[]) => string>();
  for (const [kind, constraint] of Object.entries(constraints) as [VerdictKind, Constraint | undefined][]) {
    if (constraint === undefined) continue;
    const params = { ...sampling.params, constraint: constraintKey(constraint) };
    keyers.set(kind, judgeCacheKeyer({ ...identity, params }));
  }
  const keyerOf = (kind: VerdictKind | undefined) =>
    (kind === undefined ? undefined : keyers.get(kind)) ?? plainKeyer;
  const requestKey = (messages: readonly ChatMessage[], kind?: VerdictKind): string =>
    keyerOf(kind)(messages);

  /**
   * One model call under the attempt's timeout: the verdict and the attempt's number, or why there is none
   * (an AttemptFailure, counted in `attemptErrorsByReason`).
   */
  async function attemptOnce(
    kind: VerdictKind,
    request: GenerateRequest,
    attempt: number,
    signal: AbortSignal | undefined,
  ): Promise<{ reply: string; value: number; attempts: number }> {
    const failure = (reason: JudgeFailureReason, message: string, retryable: boolean, after?: number) => {
      bump(counters.attemptErrorsByReason, reason);
      return new AttemptFailure(reason, message, retryable, attempt, after);
    };
    // Cancelled while waiting for a slot: an already aborted signal fires no 'abort' event.
    if (signal?.aborted) throw failure('aborted', 'aborted by caller', false);
    counters.httpCalls++;
    // The attempt's timeout: the model's own when the judge built it (one timer per call, not two).
    let timedOut = false;
    let callSignal = signal;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: AbortWatcher | undefined;
    if (!modelTimesOut) {
      const controller = new AbortController();
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort(new Error(`timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      onAbort = { aborted: (reason) => controller.abort(reason) };
      if (signal !== undefined) watchAbort(signal, onAbort);
      callSignal = controller.signal;
    }
    let result: GenerateResult;
    try {
      result = await model.generate({ ...request, signal: callSignal });
    } catch (err) {
      if (signal?.aborted) throw failure('aborted', 'aborted by caller', false);
      if (timedOut || (err instanceof ChatModelError && err.details.reason === 'timeout')) {
        throw failure('timeout', `no complete response within ${timeoutMs} ms`, true);
      }
      if (!(err instanceof ChatModelError)) throw err;
      const { reason, retryable } = judgeFailureOf(err);
      throw failure(reason, err.message, retryable, err.details.retryAfterMs);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      if (onAbort !== undefined && signal !== undefined) unwatchAbort(signal, onAbort);
    }
    const reply = result.text;
    const verdict = extractVerdict(kind, reply);
    if (!verdict.ok) {
      const truncated = result.finishReason === 'length' ? ' (reply cut at max_tokens)' : '';
      throw failure(
        'bad_verdict',
        `${verdict.reason}${truncated}; reply: ${JSON.stringify(excerpt(reply, 120))}`,
        true,
      );
    }
    return { reply, value: verdict.value, attempts: attempt };
  }

  async function run(
    kind: VerdictKind,
    messages: readonly ChatMessage[],
    /** The cache key (given when there is a cache). */
    key: string | undefined,
    shared: SharedRun,
    /** Removes the run from the requests in flight (when it ends, however it ends). */
    forget: () => void,
  ): Promise<JudgeVerdict> {
    try {
      if (cache && key !== undefined) {
        const found = await cache.get(key);
        if (found.status === 'hit') {
          // Re-read the stored reply: a verdict parser fix then applies to old entries too.
          const verdict = extractVerdict(kind, found.entry.reply);
          if (verdict.ok) {
            counters.cacheHits++;
            counters.successes++;
            return { ok: true, value: verdict.value, cached: true, attempts: 0, reply: found.entry.reply };
          }
          counters.cacheCorrupt++;
        } else if (found.status === 'corrupt') {
          counters.cacheCorrupt++;
        } else {
          counters.cacheMisses++;
        }
      } else {
        // Identical requests asked in the same tick (a batch's) join the run before its call goes out (the
        // cache's read gives them that time), so that the call goes with a signal of the run's own when
        // theirs differ: one caller leaving then ends no call.
        await undefined;
      }

      // The model copies what it sends and never changes the messages.
      const request: GenerateRequest = { messages: messages as ChatMessage[] };
      if (sampling.temperature !== undefined) request.temperature = sampling.temperature;
      if (sampling.maxTokens !== undefined) request.maxTokens = sampling.maxTokens;
      const constraint = constraints[kind];
      if (constraint !== undefined) request.constraint = constraint;

      let answer: { reply: string; value: number; attempts: number };
      try {
        answer = await retrying((n) => {
          if (shared.signal?.aborted) throw new AttemptFailure('aborted', 'aborted by caller', false, n - 1);
          if (n > 1) counters.retries++;
          return limiter.run(() => attemptOnce(kind, request, n, shared.signal));
        }, shared);
      } catch (err) {
        if (!(err instanceof AttemptFailure)) throw err;
        // The count is the result's `attempts`: whoever reports the failure says it once.
        return fail(err.reason, err.message, err.attempts);
      }
      if (cache && key !== undefined) {
        await cache.set(key, { reply: answer.reply, model: identity.model }).catch(() => {
          counters.cacheWriteErrors++;
        });
      }
      counters.successes++;
      return { ok: true, value: answer.value, cached: false, attempts: answer.attempts, reply: answer.reply };
    } finally {
      forget();
    }
  }

  /**
   * Identical requests in flight share one run. The run is cancelled only when every caller waiting on
   * it has aborted: one caller leaving never fails another's verdict. While its callers all came with one
   * signal (a batch's), the run's model calls go with that signal itself; callers with different signals
   * give it one of its own (making a signal costs microseconds, which a judge at thousands of calls a
   * second feels).
   */
  class SharedRun implements RetryRun<AttemptFailure> {
    promise!: Promise<JudgeVerdict>;
    /** Callers with a signal that have not left. */
    private waiting = 0;
    /** A caller came without a signal: nothing cancels the run. */
    private anchored = false;
    /** The callers came with different signals, or some with none. */
    private mixed = false;
    private cancelled = false;
    private controller: AbortController | undefined;
    // The run is its own retry loop's settings (one object per verdict, not two): its backoff is aborted
    // by the run's signal of the moment.
    readonly policy = retry;
    readonly random = options.random;
    readonly sleep = options.sleep;

    constructor(private readonly first: AbortSignal | undefined) {}

    /** The first caller's signal ended a call that the others still wait for: try again, with the run's own. */
    retryable(f: unknown): f is AttemptFailure {
      return f instanceof AttemptFailure && (f.retryable || (f.reason === 'aborted' && !this.over));
    }

    retryAfterMs(f: AttemptFailure): number | undefined {
      return f.retryAfterMs;
    }

    abortedWhileWaiting(_f: AttemptFailure, n: number): AttemptFailure {
      return new AttemptFailure('aborted', 'aborted by caller while backing off', false, n);
    }

    /** The signal the run's next model call goes with. */
    get signal(): AbortSignal | undefined {
      if (!this.mixed) return this.first;
      if (this.controller === undefined) {
        this.controller = new AbortController();
        if (this.cancelled) this.controller.abort();
      }
      return this.controller.signal;
    }

    /** Every caller left (or the only signal aborted). */
    get over(): boolean {
      return this.cancelled || (!this.mixed && this.first?.aborted === true);
    }

    join(signal: AbortSignal | undefined): void {
      if (signal === undefined) this.anchored = true;
      else this.waiting++;
      if (signal !== this.first) this.mixed = true;
    }

    /** A caller with a signal left; true when it was the last one (the run is then cancelled). */
    leave(): boolean {
      this.waiting--;
      if (this.waiting > 0 || this.anchored) return false;
      this.cancelled = true;
      this.controller?.abort();
      return true;
    }
  }
  // Runs in flight by cache key; without a cache, runs of plain messages by the messages themselves.
  const inFlight = new Map<string, SharedRun>();
  const inFlightPlain = new InFlightTable<SharedRun>();

  /** A caller's wait for a run: with a signal, it may leave before the run ends. */
  function waitFor(shared: SharedRun, signal: AbortSignal | undefined): Promise<JudgeVerdict> {
    shared.join(signal);
    if (signal === undefined) return shared.promise;
    return new Promise<JudgeVerdict>((resolve) => {
      let left = false;
      const watcher: AbortWatcher = {
        aborted() {
          // The last caller to leave cancels the run and gets its (aborted) result; earlier ones leave now.
          if (shared.leave()) return;
          left = true;
          resolve(fail('aborted', 'aborted by caller', 0));
        },
      };
      watchAbort(signal, watcher);
      void shared.promise.then((r) => {
        unwatchAbort(signal, watcher);
        if (!left) resolve(r);
      });
    });
  }

  const ask = (
    kind: VerdictKind,
    messages: readonly ChatMessage[],
    askOptions?: AskOptions,
  ): Promise<JudgeVerdict> => {
    const signal = askOptions?.signal;
    if (signal?.aborted) return Promise.resolve(fail('aborted', 'aborted by caller', 0));
    const keyer = keyerOf(kind);
    const key = cache !== undefined || !plainMessages(messages) ? keyer(messages) : undefined;
    const path = key === undefined ? pathOf(messages) : undefined;
    let shared = path === undefined ? inFlight.get(key!) : inFlightPlain.get(keyer, path);
    if (shared) counters.deduped++;
    else {
      const created = new SharedRun(signal);
      shared = created;
      if (path === undefined) inFlight.set(key!, created);
      else inFlightPlain.set(keyer, path, created);
      created.promise = run(kind, messages, key, created, () => {
        if (path === undefined) inFlight.delete(key!);
        else inFlightPlain.delete(keyer, path);
      });
    }
    return waitFor(shared, signal);
  };

  return {
    ask,
    // Not async (one promise less per verdict), but it never throws: an error is a rejection.
    verdict(family, input, askOptions) {
      try {
        return ask(family, buildJudgeMessages(family, input), askOptions);
      } catch (err) {
        if (err instanceof JudgeInputError) return Promise.resolve(fail('bad_input', err.message, 0));
        return Promise.reject(err);
      }
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
