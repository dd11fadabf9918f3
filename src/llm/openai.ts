/**
 * The OpenAI-compatible chat model (no SDK) for vLLM, SGLang, the llama.cpp server, Ollama and hosted
 * OpenAI-style APIs: a `ChatModel` made of three parts, each in its own file:
 *
 * - the transport (transport.ts): POSTs, timeouts, bounded reads, SSE, retries, keep-alive connections;
 * - the vendor dialect (dialect.ts): how each server kind continues a prefix and applies a constraint;
 * - the chat completions wire format (chat-completions.ts): the endpoint URL, response shapes, usage.
 *
 * What this file adds: requests are checked against the vendor before sending (a prefix or a constraint
 * the vendor cannot honour throws; callers fall back to re-asking); an empty prefix is no prefix; an echoed
 * prefix is cut (`stripEchoedPrefix`, default on, prefix-echo.ts); a constraint the server ignored is
 * caught afterwards by its `check` (constraint-check.ts) and fails the call, or, when the request says
 * `onConstraintViolation: 'report'`, is reported on the result. The vendor is given (see detect.ts for
 * finding it out: `detection` then names the verdict in `about`).
 *
 * Errors are `ChatModelError`s naming the URL (and status and a body excerpt for HTTP errors), with
 * `details.reason`. Connection errors, HTTP 408, 429 and 5xx are retried with exponential backoff and full
 * jitter (honouring `Retry-After`); a stream is never retried once it has delivered content. Timeouts,
 * caller aborts, malformed answers and bodies over the limits (`maxResponseBytes`, default 16 MiB, and as
 * many characters of a stream's text;
 * `maxStreamEventChars`, default 1 Mi characters) are final.
 */
import {
  type CompletionParts,
  chatCompletionsUrl,
  finishReasonOf,
  readChunk,
  readCompletion,
  stoppedByOf,
  tokenUsage,
} from './chat-completions.js';
import { checkViolation, constraintCheck } from './constraint-check.js';
import { type Detection, describeDetection } from './detect.js';
import {
  dialectFields,
  isVendor,
  type OpenAIVendor,
  unsupported,
  VENDOR_CAPABILITIES,
  VENDORS,
} from './dialect.js';
import { excerpt, resolveApiKey as resolveKey } from './http.js';
import { echoStripper, stripEcho } from './prefix-echo.js';
import { DEFAULT_MAX_EVENT_CHARS } from './sse.js';
import { backendError, createTransport, type Exchange } from './transport.js';
import type {
  ChatMessage,
  ChatModel,
  ChatModelCapabilities,
  ChatModelError,
  ChatModelErrorDetails,
  Constraint,
  GenerateRequest,
  GenerateResult,
  StreamEvent,
} from './types.js';

export { chatCompletionsUrl } from './chat-completions.js';
export type { OpenAIVendor } from './dialect.js';

export interface OpenAIModelOptions {
  /** Server base URL, with or without `/v1` (see `chatCompletionsUrl` in chat-completions.ts). */
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
  /**
   * Retries after the first attempt for connection errors, HTTP 408, 429 and 5xx, and a stream that broke
   * before its first token (default 2). Timeouts, garbled answers and errors in mid-stream are not retried.
   */
  maxRetries?: number;
  /** Backoff cap before the first retry in ms, doubled each retry, full jitter (default 250). */
  retryDelayMs?: number;
  /** Upper bound of one backoff, `Retry-After` included, in ms (default 10 000). */
  maxRetryDelayMs?: number;
  /** Injected `fetch` (default: the transport's keep-alive node:http client). */
  fetch?: typeof fetch;
  /** Connections per host of the default client (default no limit, as the built-in fetch). */
  maxSockets?: number;
  /**
   * Longest wait for a new connection (TLS handshake included) of the default client, in ms (default
   * 10 000): an unreachable host fails (and is retried) then, not after the system's TCP timeout.
   */
  connectTimeoutMs?: number;
  /** Uniform in [0, 1); drives the backoff jitter (default `Math.random`). */
  random?: () => number;
  /** Waits before a retry (default a timer the caller's signal aborts). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
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
  /**
   * vllm, sglang, llamacpp: do not send `chat_template_kwargs: {enable_thinking: false}` with a continued
   * prefix (default false: thinking is switched off when continuing, see dialect.ts).
   */
  keepThinking?: boolean;
  /** How the vendor was found out (detect.ts); shown as the model's `about`. */
  detection?: Detection;
  /** Cut an echoed `assistantPrefix` from the start of the content (default true). */
  stripEchoedPrefix?: boolean;
  /**
   * Largest non-streamed response body read, in bytes, and longest text of a streamed one, in characters
   * (default 16 Mi); a larger one fails the call.
   */
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
/** How much of an error reported inside a stream goes into a message. */
const EXCERPT_CHARS = 300;
const BODY_DETAIL_CHARS = 4_000;

export function resolveApiKey(
  options: Pick<OpenAIModelOptions, 'apiKey' | 'apiKeyEnv' | 'env'>,
): string | undefined {
  return resolveKey(options, DEFAULT_API_KEY_ENV);
}

function checkNumber(name: string, value: number, min: number, integer: boolean): number {
  if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new RangeError(`openai backend: ${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}`);
  }
  return value;
}

/** A request checked and turned into its body, with what reading the answer needs. */
interface Prepared {
  body: Record<string, unknown>;
  prefix: string | undefined;
  stops: string[];
  check: RegExp | undefined;
  constraint: Constraint | undefined;
  report: boolean;
}

export function createOpenAIModel(options: OpenAIModelOptions): ChatModel {
  const vendor = options.vendor ?? 'openai';
  if (!isVendor(vendor)) {
    throw new RangeError(
      `openai backend: unknown vendor "${vendor}" (expected one of ${VENDORS.join(', ')})`,
    );
  }
  if (options.model.trim() === '') throw new RangeError('openai backend: model is empty');
  const url = chatCompletionsUrl(options.baseUrl);
  const capabilities: ChatModelCapabilities = { ...VENDOR_CAPABILITIES[vendor] };
  const id = `${vendor}:${options.model}`;
  const maxRetries = checkNumber('maxRetries', options.maxRetries ?? DEFAULT_MAX_RETRIES, 0, true);
  const apiKey = resolveApiKey(options);
  const headers: Record<string, string> = { ...options.headers };
  if (apiKey !== undefined) headers.authorization = `Bearer ${apiKey}`;
  const maxResponseBytes = checkNumber(
    'maxResponseBytes',
    options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    1,
    true,
  );
  const transport = createTransport({
    url,
    backend: id,
    headers,
    timeoutMs: checkNumber('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 1, false),
    maxResponseBytes,
    maxEventChars: checkNumber(
      'maxStreamEventChars',
      options.maxStreamEventChars ?? DEFAULT_MAX_EVENT_CHARS,
      1,
      true,
    ),
    retry: {
      attempts: maxRetries + 1,
      baseDelayMs: checkNumber('retryDelayMs', options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS, 0, false),
      maxDelayMs: checkNumber(
        'maxRetryDelayMs',
        options.maxRetryDelayMs ?? DEFAULT_MAX_RETRY_DELAY_MS,
        0,
        false,
      ),
    },
    fetch: options.fetch,
    maxSockets: options.maxSockets,
    connectTimeoutMs:
      options.connectTimeoutMs === undefined
        ? undefined
        : checkNumber('connectTimeoutMs', options.connectTimeoutMs, 1, false),
    random: options.random,
    sleep: options.sleep,
  });
  const stripEchoed = options.stripEchoedPrefix ?? true;
  let closed = false;

  const fail = (message: string, details: Omit<ChatModelErrorDetails, 'backend'> = {}) =>
    backendError(id, message, details);

  function prepare(request: GenerateRequest, stream: boolean): Prepared {
    if (closed) throw fail('the model was closed', { reason: 'refused' });
    const prefix =
      request.assistantPrefix !== undefined && request.assistantPrefix !== ''
        ? request.assistantPrefix
        : undefined;
    const constraint = request.constraint;
    const wanted = { continues: prefix !== undefined, constraint };
    const refusal = unsupported(vendor, wanted);
    if (refusal !== undefined) throw fail(refusal, { reason: 'refused' });
    const check = constraintCheck(constraint, id);
    const stops = (request.stop ?? []).filter((s) => s !== '');

    const messages: ChatMessage[] = request.messages.map((m) => ({ role: m.role, content: m.content }));
    if (prefix !== undefined) {
      if (messages.at(-1)?.role === 'assistant') {
        throw fail(
          'the messages already end with an assistant message; pass the partial assistant text as assistantPrefix only',
          { reason: 'refused' },
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
    const fields = dialectFields(vendor, wanted, options);
    const kwargs = options.extraBody?.chat_template_kwargs;
    if (fields.chat_template_kwargs !== undefined && kwargs !== null && typeof kwargs === 'object') {
      fields.chat_template_kwargs = { ...kwargs, ...(fields.chat_template_kwargs as object) };
    }
    Object.assign(body, fields);
    const report = request.onConstraintViolation === 'report';
    return { body, prefix, stops, check, constraint, report };
  }

  /** The result of a finished completion, once its output passed the constraint's check. */
  function finish(
    prepared: Prepared,
    text: string,
    parts: CompletionParts,
    startedAt: number,
  ): GenerateResult {
    const finishReason = finishReasonOf(parts.finish);
    const violation = checkViolation(prepared.check, prepared.constraint, text, finishReason, prepared.stops);
    if (violation !== undefined && !prepared.report) {
      throw fail(violation, { reason: 'constraint', body: text.slice(0, BODY_DETAIL_CHARS) });
    }
    const result: GenerateResult = {
      text,
      finishReason,
      usage: tokenUsage(parts.usage, parts.timings),
      durationMs: performance.now() - startedAt,
    };
    if (violation !== undefined) result.constraintViolation = violation;
    const stoppedBy = stoppedByOf(finishReason, parts.mark, prepared.stops);
    if (stoppedBy !== undefined) result.stoppedBy = stoppedBy;
    return result;
  }

  /**
   * The error a 200 body or a stream chunk carries instead of a completion: `{"error": …}` (OpenAI, vLLM,
   * SGLang, llama.cpp, Ollama) or vLLM's older bare `{"object": "error", "message": …}`.
   */
  function reportedError(payload: unknown, where: string, raw: () => string): ChatModelError | undefined {
    if (payload === null || typeof payload !== 'object') return undefined;
    const record = payload as Record<string, unknown>;
    const detail = 'error' in record ? record.error : record.object === 'error' ? record : undefined;
    if (detail === undefined) return undefined;
    return fail(`${url} reported an error ${where}: ${excerpt(JSON.stringify(detail), EXCERPT_CHARS)}`, {
      reason: 'upstream',
      body: raw().slice(0, BODY_DETAIL_CHARS),
    });
  }

  /** A whole (non-streamed) completion body → its parts. */
  async function completionOf(exchange: Exchange) {
    const payload = await exchange.json();
    const read = readCompletion(payload);
    if (!read.ok) {
      const reported = reportedError(payload, 'instead of a completion', () => JSON.stringify(payload));
      if (reported !== undefined) throw reported;
      throw fail(
        `${url} returned something that is not a chat completion (${read.issues}): ${excerpt(JSON.stringify(payload), EXCERPT_CHARS)}`,
        { reason: 'malformed' },
      );
    }
    return read.value;
  }

  const echoCut = (prefix: string | undefined, content: string): string =>
    stripEchoed ? stripEcho(prefix, content) : content;

  // Not async (one promise less per call, which a judge makes thousands of a second); it never throws:
  // a refused request is a rejection.
  function generate(request: GenerateRequest): Promise<GenerateResult> {
    try {
      const prepared = prepare(request, false);
      const startedAt = performance.now();
      return transport.call(prepared.body, request.signal, async (exchange) => {
        const c = await completionOf(exchange);
        return finish(prepared, echoCut(prepared.prefix, c.content), c, startedAt);
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The events of one streamed answer (or of the one JSON completion a server sent instead). */
  async function* readStream(
    prepared: Prepared,
    exchange: Exchange,
    startedAt: number,
  ): AsyncGenerator<StreamEvent> {
    if (!exchange.isEventStream) {
      // The server ignored `stream: true` and answered with one JSON completion.
      const c = await completionOf(exchange);
      const content = echoCut(prepared.prefix, c.content);
      const result = finish(prepared, content, c, startedAt);
      if (content !== '') yield { type: 'text', text: content };
      yield { type: 'done', result };
      return;
    }
    const echo = echoStripper(stripEchoed ? prepared.prefix : undefined);
    const pieces: string[] = [];
    // The text is kept for the result: a stream that never finishes must not grow it without end.
    let chars = 0;
    const parts: CompletionParts = {
      finish: undefined,
      mark: undefined,
      usage: undefined,
      timings: undefined,
    };
    let sawDone = false;
    let sawFinish = false;
    for await (const data of exchange.events()) {
      if (data.trim() === '[DONE]') {
        sawDone = true;
        break;
      }
      let payload: unknown;
      try {
        payload = JSON.parse(data);
      } catch {
        throw fail(`${url} returned a body that is not JSON: ${excerpt(data, EXCERPT_CHARS)}`, {
          reason: 'malformed',
        });
      }
      const reported = reportedError(payload, 'in the stream', () => data);
      if (reported !== undefined) throw reported;
      const read = readChunk(payload);
      if (!read.ok) {
        throw fail(
          `${url} sent a stream chunk that is not a chat completion chunk (${read.issues}): ${excerpt(data, EXCERPT_CHARS)}`,
          { reason: 'malformed' },
        );
      }
      const chunk = read.value;
      if (chunk.usage) parts.usage = chunk.usage;
      if (chunk.timings) parts.timings = chunk.timings;
      const choice = chunk.choices?.[0];
      if (choice === undefined) continue;
      const piece = choice.delta?.content;
      if (piece !== undefined && piece !== null && piece !== '') {
        const out = echo.push(piece);
        if (out !== '') {
          chars += out.length;
          if (chars > maxResponseBytes) {
            throw fail(
              `${url} sent a stream whose text is longer than ${maxResponseBytes} characters (maxResponseBytes)`,
              { reason: 'too_large' },
            );
          }
          pieces.push(out);
          yield { type: 'text', text: out };
        }
      }
      if (choice.finish_reason !== undefined && choice.finish_reason !== null) {
        sawFinish = true;
        parts.finish = choice.finish_reason;
      }
      if (choice.stop_reason !== undefined) parts.mark = choice.stop_reason;
      else if (choice.matched_stop !== undefined) parts.mark = choice.matched_stop;
    }
    if (!sawDone && !sawFinish) {
      // Retried by the transport only when nothing was delivered yet.
      throw fail(`the stream from ${url} ended before the completion finished`, { reason: 'incomplete' });
    }
    const rest = echo.end();
    if (rest !== '') {
      pieces.push(rest);
      yield { type: 'text', text: rest };
    }
    yield { type: 'done', result: finish(prepared, pieces.join(''), parts, startedAt) };
  }

  async function* stream(request: GenerateRequest): AsyncGenerator<StreamEvent> {
    const prepared = prepare(request, true);
    const startedAt = performance.now();
    yield* transport.stream(prepared.body, request.signal, (exchange) =>
      readStream(prepared, exchange, startedAt),
    );
  }

  return {
    id,
    capabilities,
    ...(options.detection === undefined ? {} : { about: describeDetection(options.detection) }),
    generate,
    stream,
    async close() {
      closed = true;
    },
  };
}
