/**
 * The OpenAI-compatible HTTP chat backend (plain `fetch`, no SDK) for vLLM, SGLang, the llama.cpp server,
 * Ollama and hosted OpenAI-style APIs.
 *
 * Endpoint: `POST <base>/chat/completions`. The base URL rule: trailing slashes are dropped, a trailing
 * `/chat/completions` is dropped, and a URL with no path at all gets `/v1` (so `http://host:8000`,
 * `http://host:8000/`, `http://host:8000/v1/` all mean `http://host:8000/v1`). Any other path is kept as
 * given (`https://host/api/openai/v1beta` stays), and so is a query string (e.g. `?api-version=`).
 *
 * Continuing a partial assistant message (`assistantPrefix`), per vendor:
 * - vllm, sglang: the prefix is sent as a trailing assistant message with
 *   `continue_final_message: true, add_generation_prompt: false`.
 * - llamacpp: the prefix is sent as a trailing assistant message; llama-server prefills it by default
 *   (since mid-2025, unless started with `--no-prefill-assistant`). Old servers read
 *   `add_generation_prompt` and would drop the assistant header if it were false, so no flag is sent unless
 *   `llamacppContinueFlag` is set (newer servers then force the prefill path even with
 *   `--no-prefill-assistant`). Thinking models need thinking off for a prefill (llama-server refuses).
 * - ollama: the prefix is sent as a trailing assistant message, which Ollama continues when the model's
 *   template supports it (the official templates do).
 * - openai: no continuation; a request with a prefix throws before sending (callers fall back to re-asking).
 * An empty prefix is no prefix. Some servers echo the prefix at the start of the content; when the content
 * starts with the prefix exactly, it is cut (`stripEchoedPrefix`, default on), so `text` is only what is new.
 *
 * Constraints: vllm `regex` via `structured_outputs: {regex}` (vLLM >= 0.10.2; the legacy `guided_regex`,
 * removed in 0.12 and silently ignored since, with `vllmConstraintApi: 'guided'`); sglang `regex` via
 * its `regex` field; llamacpp `gbnf` via `grammar`. Ollama and generic OpenAI take neither. A constraint the
 * vendor cannot apply throws before sending; a constraint the server ignored is caught afterwards by the
 * constraint's `check` (see `Constraint` in types.ts).
 *
 * Stop strings go out as `stop`; servers leave the stop string out of the content. `stoppedBy` comes from
 * vLLM's `stop_reason` or SGLang's `matched_stop` when present; servers that do not report it get the one
 * stop string presumed when there was exactly one and the finish reason is `stop`, else none.
 *
 * Usage: `prompt_tokens`, `completion_tokens`; cached prompt tokens from
 * `usage.prompt_tokens_details.cached_tokens` (vLLM with `--enable-prompt-tokens-details`, SGLang with
 * `--enable-cache-report`, OpenAI, newer llama.cpp) or llama.cpp's `timings.cache_n`; 0 when unreported.
 *
 * Errors are `ChatModelError`s naming the URL (and status and a body excerpt for HTTP errors). Connection
 * errors, HTTP 429 and 5xx are retried with exponential backoff (honouring `Retry-After`); a stream is
 * never retried once it has delivered content. Timeouts and caller aborts are final.
 *
 * Response sizes are bounded, so that a broken or hostile server cannot make the client buffer without
 * end: a JSON body over `maxResponseBytes` (default 16 MiB), or an SSE line or event over
 * `maxStreamEventChars` (default 1 Mi characters), fails the attempt (final, not retried) with an error
 * naming the URL and the limit, and the body is cancelled. Of an error response only the first 64 KiB are
 * read.
 */

import { z } from 'zod';
import {
  abortableSleep,
  describeNetworkError,
  excerpt,
  ResponseTooLargeError,
  readLimitedText,
  resolveApiKey as resolveKey,
  retryAfterMs,
} from './http.js';
import { DEFAULT_MAX_EVENT_CHARS, readSse } from './sse.js';
import {
  type ChatMessage,
  type ChatModel,
  type ChatModelCapabilities,
  ChatModelError,
  type Constraint,
  type GenerateRequest,
  type GenerateResult,
  type StreamEvent,
  type TokenUsage,
} from './types.js';

export type OpenAIVendor = 'vllm' | 'sglang' | 'llamacpp' | 'ollama' | 'openai';

export interface OpenAIModelOptions {
  /** Server base URL, with or without `/v1` (see the rule at the top of this file). */
  baseUrl: string;
  model: string;
  /** Explicit API key; wins over the environment. */
  apiKey?: string;
  /**
   * Environment variable holding the key (default `GTALIGN_API_KEY`). Only when left at the default does
   * the client fall back to `OPENAI_API_KEY`. No key: no `Authorization` header.
   */
  apiKeyEnv?: string;
  /** Environment to read the key from (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Server kind; decides continuation, constraint fields and capabilities (default `openai`). */
  vendor?: OpenAIVendor;
  /**
   * Per-attempt timeout in ms (default 300 000). Non-streaming: the whole attempt, body included.
   * Streaming: until the response headers, then the longest silence allowed between two SSE events
   * (keep-alive comments do not count).
   */
  timeoutMs?: number;
  /** Retries after the first attempt for connection errors, HTTP 429 and 5xx (default 2). */
  maxRetries?: number;
  /** Backoff before the first retry in ms, doubled each retry, with jitter (default 250). */
  retryDelayMs?: number;
  /** Upper bound of one backoff, `Retry-After` included, in ms (default 10 000). */
  maxRetryDelayMs?: number;
  /** Injected `fetch` (default the global one). */
  fetch?: typeof fetch;
  /**
   * Extra request-body fields, e.g. `{ chat_template_kwargs: { enable_thinking: false } }`. The fields this
   * backend sets itself (model, messages, sampling, stop, stream, continuation, constraint) win.
   */
  extraBody?: Record<string, unknown>;
  /** Extra HTTP headers. */
  headers?: Record<string, string>;
  /** vLLM only: `structured_outputs` (default, vLLM >= 0.10.2) or the legacy `guided_regex` field. */
  vllmConstraintApi?: 'structured_outputs' | 'guided';
  /** llama.cpp only: also send `continue_final_message: true, add_generation_prompt: false` (newer servers). */
  llamacppContinueFlag?: boolean;
  /** Cut an echoed `assistantPrefix` from the start of the content (default true). */
  stripEchoedPrefix?: boolean;
  /** Largest non-streamed response body read, in bytes (default 16 MiB); a larger one fails the call. */
  maxResponseBytes?: number;
  /**
   * Longest line, and longest event (its `data:` lines together), of a streamed response, in characters
   * (default 1 Mi); a longer one fails the call.
   */
  maxStreamEventChars?: number;
}

const DEFAULT_API_KEY_ENV = 'GTALIGN_API_KEY';
const DEFAULT_TIMEOUT_MS = 300_000;
const DEFAULT_MAX_RETRIES = 2;
const DEFAULT_RETRY_DELAY_MS = 250;
const DEFAULT_MAX_RETRY_DELAY_MS = 10_000;
const DEFAULT_MAX_RESPONSE_BYTES = 16 << 20;
/** How much of an error body goes into a message, and into `details.body`. */
const EXCERPT_CHARS = 300;
const BODY_DETAIL_CHARS = 4_000;
/** How much of an error response is read: more than `details.body` keeps. */
const ERROR_BODY_BYTES = 64 << 10;

const CAPABILITIES: Record<OpenAIVendor, ChatModelCapabilities> = {
  vllm: { continuation: true, gbnf: false, regex: true, seed: true, cacheReport: true },
  sglang: { continuation: true, gbnf: false, regex: true, seed: true, cacheReport: true },
  llamacpp: { continuation: true, gbnf: true, regex: false, seed: true, cacheReport: true },
  ollama: { continuation: true, gbnf: false, regex: false, seed: true, cacheReport: false },
  // Hosted OpenAI treats `seed` as best effort and cannot prefill.
  openai: { continuation: false, gbnf: false, regex: false, seed: false, cacheReport: false },
};

const VENDORS = Object.keys(CAPABILITIES) as OpenAIVendor[];

// ---------- URL and key ----------

/** The chat completions URL for a base URL, by the rule documented at the top of this file. */
export function chatCompletionsUrl(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl.trim());
  } catch {
    throw new ChatModelError(`invalid baseUrl "${baseUrl}": not an absolute URL`, { backend: 'openai' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ChatModelError(`invalid baseUrl "${baseUrl}": the protocol must be http or https`, {
      backend: 'openai',
    });
  }
  let path = url.pathname.replace(/\/+$/, '');
  if (path.endsWith('/chat/completions')) path = path.slice(0, -'/chat/completions'.length);
  if (path === '') path = '/v1';
  return `${url.origin}${path}/chat/completions${url.search}`;
}

export function resolveApiKey(
  options: Pick<OpenAIModelOptions, 'apiKey' | 'apiKeyEnv' | 'env'>,
): string | undefined {
  return resolveKey(options, DEFAULT_API_KEY_ENV);
}

// ---------- response schemas (validated at the edge) ----------

const usageSchema = z
  .object({
    prompt_tokens: z.number().nullish(),
    completion_tokens: z.number().nullish(),
    prompt_tokens_details: z.object({ cached_tokens: z.number().nullish() }).nullish(),
  })
  .nullish();

const timingsSchema = z
  .object({
    cache_n: z.number().nullish(),
    prompt_n: z.number().nullish(),
    predicted_n: z.number().nullish(),
  })
  .nullish();

/** vLLM `stop_reason` / SGLang `matched_stop`: the stop string, a stop token id, or null for EOS. */
const stopMarkSchema = z.union([z.string(), z.number()]).nullish();

const completionSchema = z.object({
  choices: z
    .array(
      z.object({
        message: z.object({ content: z.string().nullish() }),
        finish_reason: z.string().nullish(),
        stop_reason: stopMarkSchema,
        matched_stop: stopMarkSchema,
      }),
    )
    .min(1),
  usage: usageSchema,
  timings: timingsSchema,
});

const chunkSchema = z.object({
  choices: z
    .array(
      z.object({
        delta: z.object({ content: z.string().nullish() }).nullish(),
        finish_reason: z.string().nullish(),
        stop_reason: stopMarkSchema,
        matched_stop: stopMarkSchema,
      }),
    )
    .nullish(),
  usage: usageSchema,
  timings: timingsSchema,
});

type Usage = z.infer<typeof usageSchema>;
type Timings = z.infer<typeof timingsSchema>;
type StopMark = z.infer<typeof stopMarkSchema>;

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

// ---------- small helpers ----------

function checkNumber(name: string, value: number, min: number, integer: boolean): number {
  if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new RangeError(`openai backend: ${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}`);
  }
  return value;
}

/** A failed attempt: the error to report and whether another attempt may succeed. */
class AttemptFailure extends Error {
  constructor(
    readonly error: ChatModelError,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(error.message);
  }
}

/** Per-attempt abort: the caller's signal, plus a timeout that a stream re-arms on every chunk. */
interface AttemptControl {
  readonly signal: AbortSignal;
  readonly timedOut: boolean;
  readonly callerAborted: boolean;
  rearm(): void;
  dispose(): void;
}

function attemptControl(caller: AbortSignal | undefined, timeoutMs: number): AttemptControl {
  const controller = new AbortController();
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
  };
  const onCallerAbort = (): void => controller.abort(caller?.reason);
  if (caller?.aborted) controller.abort(caller.reason);
  else caller?.addEventListener('abort', onCallerAbort, { once: true });
  arm();
  return {
    signal: controller.signal,
    get timedOut() {
      return timedOut;
    },
    get callerAborted() {
      return caller?.aborted === true;
    },
    rearm: arm,
    dispose() {
      if (timer !== undefined) clearTimeout(timer);
      caller?.removeEventListener('abort', onCallerAbort);
      // Closes a body that was not read to the end (an abandoned stream); a no-op after a full read.
      controller.abort();
    },
  };
}

// ---------- stop strings, usage, echo, constraint check ----------

function finishReasonOf(raw: string | null | undefined): GenerateResult['finishReason'] {
  return raw === 'stop' ? 'stop' : raw === 'length' ? 'length' : 'other';
}

/**
 * The stop string that ended generation. `mark` is what the server reported (undefined: not reported;
 * null or a number: EOS or a stop token, so no stop string).
 */
function stoppedByOf(
  finishReason: GenerateResult['finishReason'],
  mark: StopMark,
  stops: readonly string[],
): string | undefined {
  if (finishReason !== 'stop' || stops.length === 0) return undefined;
  if (mark === undefined) return stops.length === 1 ? stops[0] : undefined;
  return typeof mark === 'string' && stops.includes(mark) ? mark : undefined;
}

function tokenUsage(usage: Usage, timings: Timings): TokenUsage {
  const cacheN = timings?.cache_n ?? undefined;
  const promptFromTimings =
    timings?.prompt_n !== undefined && timings?.prompt_n !== null ? timings.prompt_n + (cacheN ?? 0) : 0;
  return {
    promptTokens: usage?.prompt_tokens ?? promptFromTimings,
    cachedPromptTokens: usage?.prompt_tokens_details?.cached_tokens ?? cacheN ?? 0,
    completionTokens: usage?.completion_tokens ?? timings?.predicted_n ?? 0,
  };
}

/**
 * Cuts an echoed prefix from the start of a streamed content: text is held back while it is still a
 * prefix of `prefix`, then released (minus the echo when it matched all of it).
 */
function echoStripper(prefix: string | undefined): { push(piece: string): string; end(): string } {
  let pending = '';
  let passing = prefix === undefined || prefix === '';
  const full = prefix ?? '';
  return {
    push(piece) {
      if (passing) return piece;
      pending += piece;
      if (pending.length >= full.length) {
        passing = true;
        const out = pending.startsWith(full) ? pending.slice(full.length) : pending;
        pending = '';
        return out;
      }
      if (full.startsWith(pending)) return '';
      passing = true;
      const out = pending;
      pending = '';
      return out;
    },
    end() {
      const out = pending;
      pending = '';
      passing = true;
      return out;
    },
  };
}

function constraintCheck(constraint: Constraint | undefined, backend: string): RegExp | undefined {
  if (constraint === undefined) return undefined;
  if (constraint.check !== undefined) return constraint.check;
  if (constraint.kind === 'gbnf') return undefined;
  const source = `^(?:${constraint.pattern})$`;
  try {
    return new RegExp(source, 'u');
  } catch {
    try {
      return new RegExp(source);
    } catch (err) {
      throw new ChatModelError(
        `${backend}: the regex constraint is not a JavaScript regular expression, so the output could not be checked (${(err as Error).message}); pass constraint.check with an equivalent RegExp`,
        { backend, cause: err },
      );
    }
  }
}

/** A message naming the violation, or undefined when the output satisfies the check. */
function checkViolation(
  check: RegExp | undefined,
  constraint: Constraint | undefined,
  text: string,
  finishReason: GenerateResult['finishReason'],
  stops: readonly string[],
): string | undefined {
  if (check === undefined || constraint === undefined || finishReason !== 'stop') return undefined;
  // The stop string is cut from the content, but the constrained language includes it.
  for (const candidate of [text, ...stops.map((s) => text + s)]) {
    check.lastIndex = 0;
    if (check.test(candidate)) return undefined;
  }
  const head = JSON.stringify(text.slice(0, 80));
  const tail = text.length > 160 ? ` … ${JSON.stringify(text.slice(-80))}` : '';
  return `the output violates the ${constraint.kind} constraint (the server may have ignored it): ${text.length} chars, ${head}${tail} does not match ${excerpt(String(check), 120)}`;
}

// ---------- the model ----------

interface Prepared {
  body: Record<string, unknown>;
  prefix: string | undefined;
  stops: string[];
  check: RegExp | undefined;
  constraint: Constraint | undefined;
}

export function createOpenAIModel(options: OpenAIModelOptions): ChatModel {
  const vendor = options.vendor ?? 'openai';
  if (!VENDORS.includes(vendor)) {
    throw new RangeError(
      `openai backend: unknown vendor "${vendor}" (expected one of ${VENDORS.join(', ')})`,
    );
  }
  if (options.model.trim() === '') throw new RangeError('openai backend: model is empty');
  const url = chatCompletionsUrl(options.baseUrl);
  const capabilities: ChatModelCapabilities = { ...CAPABILITIES[vendor] };
  const id = `${vendor}:${options.model}`;
  const timeoutMs = checkNumber('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 1, false);
  const maxRetries = checkNumber('maxRetries', options.maxRetries ?? DEFAULT_MAX_RETRIES, 0, true);
  const retryDelayMs = checkNumber('retryDelayMs', options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS, 0, false);
  const maxRetryDelayMs = checkNumber(
    'maxRetryDelayMs',
    options.maxRetryDelayMs ?? DEFAULT_MAX_RETRY_DELAY_MS,
    0,
    false,
  );
  const maxResponseBytes = checkNumber(
    'maxResponseBytes',
    options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    1,
    true,
  );
  const maxEventChars = checkNumber(
    'maxStreamEventChars',
    options.maxStreamEventChars ?? DEFAULT_MAX_EVENT_CHARS,
    1,
    true,
  );
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const stripEcho = options.stripEchoedPrefix ?? true;
  const apiKey = resolveApiKey(options);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    ...options.headers,
  };
  if (apiKey !== undefined) headers.authorization = `Bearer ${apiKey}`;
  let closed = false;

  const fail = (message: string, extra: Omit<ChatModelError['details'], 'backend'> = {}): ChatModelError =>
    new ChatModelError(`${id}: ${message}`, { backend: id, ...extra });

  function prepare(request: GenerateRequest, stream: boolean): Prepared {
    if (closed) throw fail('the model was closed');
    const prefix =
      request.assistantPrefix !== undefined && request.assistantPrefix !== ''
        ? request.assistantPrefix
        : undefined;
    if (prefix !== undefined && !capabilities.continuation) {
      throw fail(
        `the ${vendor} backend cannot continue a partial assistant message (assistantPrefix); use vendor vllm, sglang, llamacpp or ollama, or re-ask`,
      );
    }
    const constraint = request.constraint;
    if (constraint !== undefined && !capabilities[constraint.kind]) {
      const supported = (['regex', 'gbnf'] as const).filter((k) => capabilities[k]);
      throw fail(
        `the ${vendor} backend cannot apply a ${constraint.kind} constraint (it supports ${supported.length > 0 ? supported.join(', ') : 'none'})`,
      );
    }
    const check = constraintCheck(constraint, id);
    const stops = (request.stop ?? []).filter((s) => s !== '');

    const messages: ChatMessage[] = request.messages.map((m) => ({ role: m.role, content: m.content }));
    if (prefix !== undefined) {
      if (messages.at(-1)?.role === 'assistant') {
        throw fail(
          'the messages already end with an assistant message; pass the partial assistant text as assistantPrefix only',
        );
      }
      messages.push({ role: 'assistant', content: prefix });
    }

    const body: Record<string, unknown> = { ...options.extraBody, model: options.model, messages };
    if (request.maxTokens !== undefined) body.max_tokens = request.maxTokens;
    if (request.temperature !== undefined) body.temperature = request.temperature;
    if (request.seed !== undefined) body.seed = request.seed;
    if (stops.length > 0) body.stop = stops;
    body.stream = stream;
    if (stream) body.stream_options = { include_usage: true };
    if (prefix !== undefined && (vendor === 'vllm' || vendor === 'sglang' || options.llamacppContinueFlag)) {
      body.continue_final_message = true;
      body.add_generation_prompt = false;
    }
    if (constraint !== undefined) {
      if (constraint.kind === 'regex' && vendor === 'vllm') {
        if (options.vllmConstraintApi === 'guided') body.guided_regex = constraint.pattern;
        else body.structured_outputs = { regex: constraint.pattern };
      } else if (constraint.kind === 'regex' && vendor === 'sglang') {
        body.regex = constraint.pattern;
      } else if (constraint.kind === 'gbnf' && vendor === 'llamacpp') {
        body.grammar = constraint.grammar;
      }
    }
    return { body, prefix, stops, check, constraint };
  }

  function backoff(attempt: number, failure: AttemptFailure): number {
    const base = Math.min(maxRetryDelayMs, retryDelayMs * 2 ** attempt);
    const jittered = base / 2 + (Math.random() * base) / 2;
    return Math.min(maxRetryDelayMs, Math.max(jittered, failure.retryAfterMs ?? 0));
  }

  function finalError(failure: AttemptFailure, attempts: number): ChatModelError {
    if (attempts <= 1) return failure.error;
    const e = failure.error;
    return new ChatModelError(`${e.message} (gave up after ${attempts} attempts)`, e.details);
  }

  function attemptError(err: unknown, control: AttemptControl): AttemptFailure {
    if (err instanceof AttemptFailure) return err;
    if (control.callerAborted) {
      return new AttemptFailure(fail(`request to ${url} was aborted by the caller`, { cause: err }), false);
    }
    if (control.timedOut) {
      return new AttemptFailure(
        fail(`request to ${url} timed out after ${timeoutMs} ms`, { cause: err }),
        false,
      );
    }
    if (err instanceof ChatModelError) return new AttemptFailure(err, false);
    // From an injected fetch that bounds what it buffers: the same answer would come again.
    if (err instanceof ResponseTooLargeError)
      return new AttemptFailure(fail(err.message, { cause: err }), false);
    return new AttemptFailure(
      fail(`cannot reach ${url}: ${describeNetworkError(err)}`, { cause: err }),
      true,
    );
  }

  /** Sends the request; resolves with a 2xx response, or throws an AttemptFailure. */
  async function send(body: Record<string, unknown>, control: AttemptControl): Promise<Response> {
    let res: Response;
    try {
      res = await fetchImpl(url, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: control.signal,
      });
    } catch (err) {
      throw attemptError(err, control);
    }
    if (res.ok) return res;
    let text = '';
    try {
      const read = await readLimitedText(res, ERROR_BODY_BYTES);
      text = read.complete ? read.text : `${read.text}…`;
    } catch {
      text = '(the error body could not be read)';
    }
    const status = res.status;
    throw new AttemptFailure(
      fail(
        `${url} answered HTTP ${status}${res.statusText ? ` ${res.statusText}` : ''}: ${excerpt(text, EXCERPT_CHARS)}`,
        {
          status,
          body: text.slice(0, BODY_DETAIL_CHARS),
        },
      ),
      status === 429 || status >= 500,
      retryAfterMs(res.headers.get('retry-after')),
    );
  }

  /** A non-streamed body, read up to `maxResponseBytes`. */
  async function readBody(res: Response, control: AttemptControl): Promise<string> {
    let read: Awaited<ReturnType<typeof readLimitedText>>;
    try {
      read = await readLimitedText(res, maxResponseBytes);
    } catch (err) {
      throw attemptError(err, control);
    }
    if (!read.complete) {
      const limit = new ResponseTooLargeError(
        `the response body is larger than ${maxResponseBytes} bytes`,
        maxResponseBytes,
      );
      throw new AttemptFailure(
        fail(`${url} sent a response body larger than ${maxResponseBytes} bytes (maxResponseBytes)`, {
          cause: limit,
        }),
        false,
      );
    }
    return read.text;
  }

  function parseJson(text: string): unknown {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new AttemptFailure(
        fail(`${url} returned a body that is not JSON: ${excerpt(text, EXCERPT_CHARS)}`),
        false,
      );
    }
  }

  /** A non-streamed completion body → its parts. */
  function readCompletion(payload: unknown): {
    content: string;
    finish: string | null | undefined;
    mark: StopMark;
    usage: Usage;
    timings: Timings;
  } {
    const parsed = completionSchema.safeParse(payload);
    if (!parsed.success) {
      throw new AttemptFailure(
        fail(
          `${url} returned something that is not a chat completion (${describeIssues(parsed.error)}): ${excerpt(JSON.stringify(payload), EXCERPT_CHARS)}`,
        ),
        false,
      );
    }
    const choice = parsed.data.choices[0]!;
    return {
      content: choice.message.content ?? '',
      finish: choice.finish_reason,
      mark: choice.stop_reason !== undefined ? choice.stop_reason : choice.matched_stop,
      usage: parsed.data.usage,
      timings: parsed.data.timings,
    };
  }

  function finish(
    prepared: Prepared,
    text: string,
    finishRaw: string | null | undefined,
    mark: StopMark,
    usage: Usage,
    timings: Timings,
    startedAt: number,
  ): GenerateResult {
    const finishReason = finishReasonOf(finishRaw);
    const violation = checkViolation(prepared.check, prepared.constraint, text, finishReason, prepared.stops);
    if (violation !== undefined) throw fail(violation, { body: text.slice(0, BODY_DETAIL_CHARS) });
    const result: GenerateResult = {
      text,
      finishReason,
      usage: tokenUsage(usage, timings),
      durationMs: performance.now() - startedAt,
    };
    const stoppedBy = stoppedByOf(finishReason, mark, prepared.stops);
    if (stoppedBy !== undefined) result.stoppedBy = stoppedBy;
    return result;
  }

  function stripPrefix(prefix: string | undefined, content: string): string {
    return stripEcho && prefix !== undefined && content.startsWith(prefix)
      ? content.slice(prefix.length)
      : content;
  }

  async function generate(request: GenerateRequest): Promise<GenerateResult> {
    const prepared = prepare(request, false);
    const startedAt = performance.now();
    for (let attempt = 0; ; attempt++) {
      const control = attemptControl(request.signal, timeoutMs);
      try {
        const res = await send(prepared.body, control);
        const c = readCompletion(parseJson(await readBody(res, control)));
        return finish(
          prepared,
          stripPrefix(prepared.prefix, c.content),
          c.finish,
          c.mark,
          c.usage,
          c.timings,
          startedAt,
        );
      } catch (err) {
        if (!(err instanceof AttemptFailure)) throw err;
        if (!err.retryable || attempt >= maxRetries) throw finalError(err, attempt + 1);
        control.dispose();
        await waitBeforeRetry(attempt, err, request.signal);
      } finally {
        control.dispose();
      }
    }
  }

  async function waitBeforeRetry(attempt: number, failure: AttemptFailure, signal?: AbortSignal) {
    try {
      await abortableSleep(backoff(attempt, failure), signal);
    } catch (err) {
      throw fail(`request to ${url} was aborted by the caller while waiting to retry (${failure.message})`, {
        cause: err,
      });
    }
  }

  async function* stream(request: GenerateRequest): AsyncGenerator<StreamEvent> {
    const prepared = prepare(request, true);
    const startedAt = performance.now();
    for (let attempt = 0; ; attempt++) {
      const control = attemptControl(request.signal, timeoutMs);
      // Once content has arrived, a failure is final: the caller may already have shown it.
      let received = false;
      try {
        const res = await send(prepared.body, control);
        const contentType = res.headers.get('content-type') ?? '';
        if (res.body === null || !contentType.includes('text/event-stream')) {
          // The server ignored `stream: true` and answered with one JSON completion.
          const c = readCompletion(parseJson(await readBody(res, control)));
          const content = stripPrefix(prepared.prefix, c.content);
          const result = finish(prepared, content, c.finish, c.mark, c.usage, c.timings, startedAt);
          received = true;
          if (content !== '') yield { type: 'text', text: content };
          yield { type: 'done', result };
          return;
        }

        control.rearm();
        const echo = stripEcho ? echoStripper(prepared.prefix) : echoStripper(undefined);
        const pieces: string[] = [];
        let finishRaw: string | null | undefined;
        let mark: StopMark;
        let usage: Usage;
        let timings: Timings;
        let sawDone = false;
        let sawFinish = false;
        const events = readSse(res.body, { maxEventChars });
        try {
          for (;;) {
            let next: IteratorResult<{ data: string }>;
            try {
              next = await events.next();
            } catch (err) {
              if (err instanceof ResponseTooLargeError) {
                throw new AttemptFailure(
                  fail(`${url} sent ${err.message} (maxStreamEventChars)`, { cause: err }),
                  false,
                );
              }
              throw attemptError(err, control);
            }
            if (next.done) break;
            control.rearm();
            const data = next.value.data;
            if (data.trim() === '[DONE]') {
              sawDone = true;
              break;
            }
            const payload = parseJson(data);
            if (payload !== null && typeof payload === 'object' && 'error' in payload) {
              const detail = JSON.stringify((payload as { error: unknown }).error);
              throw new AttemptFailure(
                fail(`${url} reported an error in the stream: ${excerpt(detail, EXCERPT_CHARS)}`, {
                  body: data,
                }),
                false,
              );
            }
            const parsed = chunkSchema.safeParse(payload);
            if (!parsed.success) {
              throw new AttemptFailure(
                fail(
                  `${url} sent a stream chunk that is not a chat completion chunk (${describeIssues(parsed.error)}): ${excerpt(data, EXCERPT_CHARS)}`,
                ),
                false,
              );
            }
            const chunk = parsed.data;
            if (chunk.usage) usage = chunk.usage;
            if (chunk.timings) timings = chunk.timings;
            const choice = chunk.choices?.[0];
            if (choice === undefined) continue;
            const piece = choice.delta?.content;
            if (piece !== undefined && piece !== null && piece !== '') {
              received = true;
              const out = echo.push(piece);
              if (out !== '') {
                pieces.push(out);
                yield { type: 'text', text: out };
              }
            }
            if (choice.finish_reason !== undefined && choice.finish_reason !== null) {
              sawFinish = true;
              finishRaw = choice.finish_reason;
            }
            if (choice.stop_reason !== undefined) mark = choice.stop_reason;
            else if (choice.matched_stop !== undefined) mark = choice.matched_stop;
          }
        } finally {
          await events.return(undefined);
        }
        if (!sawDone && !sawFinish) {
          throw new AttemptFailure(
            fail(`the stream from ${url} ended before the completion finished`),
            true, // retried only when nothing had arrived yet
          );
        }
        const rest = echo.end();
        if (rest !== '') {
          pieces.push(rest);
          yield { type: 'text', text: rest };
        }
        yield {
          type: 'done',
          result: finish(prepared, pieces.join(''), finishRaw, mark, usage, timings, startedAt),
        };
        return;
      } catch (err) {
        if (!(err instanceof AttemptFailure)) throw err;
        if (received || !err.retryable || attempt >= maxRetries) throw finalError(err, attempt + 1);
        control.dispose();
        await waitBeforeRetry(attempt, err, request.signal);
      } finally {
        control.dispose();
      }
    }
  }

  return {
    id,
    capabilities,
    generate,
    stream,
    async close() {
      closed = true;
    },
  };
}
