/**
 * The chat transport: JSON POSTs to one endpoint, with a per-attempt timeout, bounded body reads, SSE,
 * retries under the one policy of retry.ts, and every failure as a `ChatModelError` that names the URL and
 * says what went wrong (`details.reason`). It knows HTTP, not chat completions: a caller hands it a body
 * and a reader of the answer (whole JSON or SSE events) and gets back what the reader makes of it.
 *
 * - Timeouts: a whole-body call's timeout covers the whole attempt, body included; a streamed call's
 *   covers the wait for the headers, then the longest silence between two SSE events (comments, i.e.
 *   keep-alives, do not count). A timeout or the caller's abort cancels the request and its body. A
 *   timeout's message says what the attempt was waiting for: a free connection, the connection, the
 *   response headers, the body, the next stream event.
 * - Bounds: a JSON body over `maxResponseBytes`, or an SSE line or event over `maxEventChars`, fails the
 *   attempt (reason `too_large`, final) and cancels the body; of an error answer only 64 KiB are read.
 * - SSE: an `event: error` fails the stream (reason `upstream`, final), its data in the message.
 * - Retries: an attempt that failed with a `retryOn` failure is tried again after a backoff, up to
 *   `retry.attempts` in all; a stream never once its reader has delivered something.
 * - Connections: by default the keep-alive HTTP/1.1 client of http-client.ts, its request head prepared
 *   once (node:http under a fetch `Response` cost a judge at hundreds of calls in flight most of its CPU),
 *   and the body written straight to UTF-8 bytes (json-bytes.ts: the bytes of JSON.stringify, without its
 *   copies); `fetch` replaces it, and gets the JSON text.
 */

import { AttemptControl } from './attempt-control.js';
import {
  abortableSleep,
  type BodySource,
  describeNetworkError,
  excerpt,
  type LimitedText,
  ResponseTooLargeError,
  readLimited,
  responseBody,
  retryAfterMs,
} from './http.js';
import { createHttpClient, HttpExchange, type RequestTemplate, requestTemplate } from './http-client.js';
import { JsonByteWriter } from './json-bytes.js';
import { backoffMs, type RetryEnvironment, type RetryPolicy, retrying } from './retry.js';
import { sseEvents } from './sse.js';
import { ChatModelError, type ChatModelErrorDetails } from './types.js';

export interface TransportOptions extends RetryEnvironment {
  /** The endpoint every request goes to. */
  url: string;
  /** Names the backend in messages and `details.backend`, e.g. `vllm:qwen`. */
  backend: string;
  /** Request headers beyond `content-type` and `accept`, e.g. `authorization`. */
  headers?: Readonly<Record<string, string>> | undefined;
  /** Per-attempt timeout in ms (see above). */
  timeoutMs: number;
  /** Largest JSON body read, in bytes. */
  maxResponseBytes: number;
  /** Longest SSE line, and longest event (its `data:` lines together), in characters. */
  maxEventChars: number;
  retry: RetryPolicy;
  /** Which failures are tried again (default {@link isTransientFailure}). */
  retryOn?: ((error: ChatModelError) => boolean) | undefined;
  /** Replaces the keep-alive HTTP client. */
  fetch?: typeof fetch | undefined;
  /** Connections per host of the default client (default no limit, as the built-in fetch). */
  maxSockets?: number | undefined;
  /** Longest wait for a new connection of the default client, in ms (default 10 000). */
  connectTimeoutMs?: number | undefined;
}

/** One answer of the server, 2xx, headers in: its body is read by one of the two methods, once. */
export interface Exchange {
  readonly status: number;
  /** A response header, or null. */
  header(name: string): string | null;
  /** The answer is an event stream (else, e.g., a server that ignored `stream: true` sent one JSON body). */
  readonly isEventStream: boolean;
  /** The body as JSON, read up to `maxResponseBytes`. */
  json(): Promise<unknown>;
  /** The `data` of each SSE event; each one re-arms the timeout. An `event: error` throws (reason `upstream`). */
  events(): AsyncGenerator<string>;
}

export interface Transport {
  readonly url: string;
  /** POSTs `body` as JSON and returns what `read` makes of the answer, retrying per the policy. */
  call<T>(
    body: unknown,
    signal: AbortSignal | undefined,
    read: (exchange: Exchange) => Promise<T>,
  ): Promise<T>;
  /**
   * POSTs `body` as JSON and yields what `read` yields from the answer. An attempt is retried only while
   * `read` has yielded nothing: what a caller has seen is never sent twice.
   */
  stream<T>(
    body: unknown,
    signal: AbortSignal | undefined,
    read: (exchange: Exchange) => AsyncIterable<T>,
  ): AsyncGenerator<T>;
}

/** A request body as sent (undefined: JSON.stringify gave nothing, e.g. for an undefined body). */
type Payload = string | Buffer | undefined;

/** How much of an error body goes into a message, and into `details.body`. */
const EXCERPT_CHARS = 300;
const BODY_DETAIL_CHARS = 4_000;
/** How much of an error response is read: more than `details.body` keeps. */
const ERROR_BODY_BYTES = 64 << 10;

/** An answer whose headers are in, from either client. */
interface Reply extends BodySource {
  readonly status: number;
  readonly statusText: string;
  /** False when the answer has no body at all (a 204, say). */
  readonly hasBody: boolean;
  header(name: string): string | null;
}

/** A fetch `Response` as a {@link Reply}. */
function fetchReply(res: Response): Reply {
  const body = responseBody(res);
  return {
    status: res.status,
    statusText: res.statusText,
    hasBody: res.body !== null,
    header: (name) => res.headers.get(name),
    read: () => body.read(),
    cancel: () => body.cancel(),
  };
}

/** A `ChatModelError` whose message starts with the backend's name. */
export function backendError(
  backend: string,
  message: string,
  details: Omit<ChatModelErrorDetails, 'backend'> = {},
): ChatModelError {
  return new ChatModelError(`${backend}: ${message}`, { backend, ...details });
}

/**
 * The failures a chat backend retries on its own: those that cost the server nothing (no connection, a
 * 408, 429 or 5xx refusal, a stream that broke before its first token). A timeout, a garbled answer or an
 * error in mid-stream cost a whole generation: trying again is the caller's call (the judge does).
 */
export function isTransientFailure(error: ChatModelError): boolean {
  const { reason } = error.details;
  return reason === 'network' || reason === 'incomplete' || (reason === 'http_status' && error.retryable);
}

export function createTransport(options: TransportOptions): Transport {
  const { url, backend, timeoutMs, maxResponseBytes, maxEventChars, retry } = options;
  const retryOn = options.retryOn ?? isTransientFailure;
  const fetchImpl = options.fetch;
  const client =
    fetchImpl === undefined
      ? createHttpClient({
          maxSockets: options.maxSockets ?? Number.POSITIVE_INFINITY,
          ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
        })
      : undefined;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    ...options.headers,
  };
  // Prepared at the first request: a header the client cannot send fails that call, as before.
  let template: RequestTemplate | undefined;
  // The own client takes bodies as bytes, written without JSON.stringify's copies (see json-bytes.ts).
  const writer = client !== undefined ? new JsonByteWriter() : undefined;
  /** A request body as sent: JSON text for an injected fetch, its UTF-8 bytes for the own client. */
  const encode = (body: unknown): Payload =>
    writer !== undefined ? writer.encode(body) : JSON.stringify(body);
  const fail = (message: string, details: Omit<ChatModelErrorDetails, 'backend'> = {}): ChatModelError =>
    backendError(backend, message, details);

  /** What an exception thrown while talking to the server means. */
  function attemptError(err: unknown, control: AttemptControl): ChatModelError {
    if (control.callerAborted) {
      return fail(`request to ${url} was aborted by the caller`, { reason: 'aborted', cause: err });
    }
    if (control.timedOut) {
      // An injected fetch says nothing of its progress: before the headers, all it can be is waiting.
      const stage = control.expiredWhile ?? 'waiting for the response headers';
      return fail(`request to ${url} timed out after ${timeoutMs} ms ${stage}`, {
        reason: 'timeout',
        cause: err,
      });
    }
    if (err instanceof ChatModelError) return err;
    // From an injected fetch that bounds what it buffers: the same answer would come again.
    if (err instanceof ResponseTooLargeError) return fail(err.message, { reason: 'too_large', cause: err });
    return fail(`cannot reach ${url}: ${describeNetworkError(err)}`, { reason: 'network', cause: err });
  }

  function tooLarge(limit: ResponseTooLargeError, what: string, option: string): ChatModelError {
    return fail(`${url} sent ${what} (${option})`, { reason: 'too_large', cause: limit });
  }

  async function readBody(res: Reply, control: AttemptControl): Promise<string> {
    const declared = Number(res.header('content-length') ?? Number.NaN);
    let read: LimitedText;
    if (declared > maxResponseBytes) {
      // No need to read what is announced too large.
      await res.cancel();
      read = { text: '', complete: false };
    } else {
      try {
        read = await readLimited(res, maxResponseBytes);
      } catch (err) {
        throw attemptError(err, control);
      }
    }
    // Read whole or cancelled at the limit: either way the connection is settled.
    control.bodyDone();
    if (!read.complete) {
      const what = `a response body larger than ${maxResponseBytes} bytes`;
      throw tooLarge(new ResponseTooLargeError(`the ${what}`, maxResponseBytes), what, 'maxResponseBytes');
    }
    return read.text;
  }

  async function* eventsOf(res: Reply, control: AttemptControl): AsyncGenerator<string> {
    if (!res.hasBody) return;
    control.stage = 'waiting for the next stream event (the silence allowed between events)';
    control.rearm();
    const events = sseEvents(res, { maxEventChars });
    try {
      for (;;) {
        let next: IteratorResult<{ event: string; data: string }>;
        try {
          next = await events.next();
        } catch (err) {
          if (err instanceof ResponseTooLargeError) throw tooLarge(err, err.message, 'maxStreamEventChars');
          throw attemptError(err, control);
        }
        if (next.done) {
          control.bodyDone();
          return;
        }
        control.rearm();
        const { event, data } = next.value;
        // `event: error` is how some servers and proxies end a stream that failed (its data need not be
        // a chat completion chunk, nor carry an `error` key): read as data, it would be dropped unseen.
        if (event === 'error') {
          throw fail(`${url} sent an error event in the stream: ${excerpt(data, EXCERPT_CHARS)}`, {
            reason: 'upstream',
            body: data.slice(0, BODY_DETAIL_CHARS),
          });
        }
        yield data;
      }
    } finally {
      await events.return(undefined);
    }
  }

  /**
   * Sends one POST and returns its answer: a 2xx, or a ChatModelError. Not async: the payload (KiBs) is
   * handed over now and not held while the answer takes its time.
   */
  function send(payload: Payload, control: AttemptControl): Promise<Exchange> {
    if (fetchImpl !== undefined) {
      let pending: Promise<Response>;
      try {
        pending = fetchImpl(url, {
          method: 'POST',
          headers,
          body: payload as string | undefined,
          signal: control.signal,
        });
      } catch (err) {
        pending = Promise.reject(err);
      }
      return answerOf(pending, control);
    }
    let exchange: HttpExchange;
    try {
      template ??= requestTemplate(url, 'POST', headers);
      exchange = client!.send(template, payload);
    } catch (err) {
      return Promise.reject(attemptError(err, control));
    }
    control.attach(exchange);
    return answerOf(exchange, control);
  }

  /** The answer once its headers are in: a 2xx, or a ChatModelError. */
  async function answerOf(
    pending: HttpExchange | Promise<Response>,
    control: AttemptControl,
  ): Promise<Exchange> {
    let res: Reply;
    try {
      if (pending instanceof HttpExchange) {
        await pending.head;
        res = pending;
      } else res = fetchReply(await pending);
    } catch (err) {
      throw attemptError(err, control);
    }
    control.stage = 'reading the response body';
    if (res.status < 200 || res.status > 299) {
      let text: string;
      try {
        const read = await readLimited(res, ERROR_BODY_BYTES);
        control.bodyDone();
        text = read.complete ? read.text : `${read.text}…`;
      } catch {
        text = '(the error body could not be read)';
      }
      const status = res.status;
      const details: Omit<ChatModelErrorDetails, 'backend'> = {
        reason: 'http_status',
        status,
        body: text.slice(0, BODY_DETAIL_CHARS),
      };
      const wait = retryAfterMs(res.header('retry-after'));
      if (wait !== undefined) details.retryAfterMs = wait;
      // A POST is not sent on to another address unasked (its body, its key): the message says where to.
      const location = status >= 300 && status < 400 ? res.header('location') : null;
      const moved =
        location === null
          ? ''
          : ` to ${excerpt(location, EXCERPT_CHARS)} (redirects are not followed: use that address as the base URL)`;
      throw fail(
        `${url} answered HTTP ${status}${res.statusText ? ` ${res.statusText}` : ''}${moved}: ${excerpt(text, EXCERPT_CHARS)}`,
        details,
      );
    }
    return new Answer(res, control);
  }

  /** A 2xx answer (a class: one per call, and a judge makes thousands a second). */
  class Answer implements Exchange {
    readonly isEventStream: boolean;

    constructor(
      private readonly reply: Reply,
      private readonly control: AttemptControl,
    ) {
      const contentType = reply.header('content-type') ?? '';
      this.isEventStream = reply.hasBody && contentType.includes('text/event-stream');
    }

    get status(): number {
      return this.reply.status;
    }

    header(name: string): string | null {
      return this.reply.header(name);
    }

    async json(): Promise<unknown> {
      const text = await readBody(this.reply, this.control);
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw fail(`${url} returned a body that is not JSON: ${excerpt(text, EXCERPT_CHARS)}`, {
          reason: 'malformed',
        });
      }
    }

    events(): AsyncGenerator<string> {
      return eventsOf(this.reply, this.control);
    }
  }

  const giveUp = (failure: unknown, attempts: number): unknown =>
    attempts > 1 && failure instanceof ChatModelError
      ? new ChatModelError(`${failure.message} (gave up after ${attempts} attempts)`, failure.details)
      : failure;

  const abortedWhileWaiting = (failure: ChatModelError, reason: unknown): ChatModelError =>
    fail(`request to ${url} was aborted by the caller while waiting to retry (${failure.message})`, {
      reason: 'aborted',
      cause: reason,
    });

  const shouldRetry = (failure: unknown): failure is ChatModelError =>
    failure instanceof ChatModelError && retryOn(failure);

  /** One attempt of a whole-body call (the payload is not held past the send, see `send`). */
  function callOnce<T>(
    payload: Payload,
    signal: AbortSignal | undefined,
    read: (exchange: Exchange) => Promise<T>,
  ): Promise<T> {
    const control = new AttemptControl(signal, timeoutMs);
    return readAnswer(send(payload, control), control, read);
  }

  async function readAnswer<T>(
    answer: Promise<Exchange>,
    control: AttemptControl,
    read: (exchange: Exchange) => Promise<T>,
  ): Promise<T> {
    try {
      return await read(await answer);
    } finally {
      control.dispose();
    }
  }

  return {
    url,
    call(body, signal, read) {
      // A client that retries above (the judge) makes thousands of calls a second: no loop for one attempt.
      if (retry.attempts === 1) return callOnce(encode(body), signal, read);
      const payload = encode(body);
      const attempt = () => callOnce(payload, signal, read);
      return retrying(attempt, {
        policy: retry,
        signal,
        random: options.random,
        sleep: options.sleep,
        retryable: shouldRetry,
        retryAfterMs: (failure) => failure.details.retryAfterMs,
        giveUp,
        abortedWhileWaiting: (failure, _n, reason) => abortedWhileWaiting(failure, reason),
      });
    },
    // The loop of `retrying`, for a generator: it may retry only until the first item is out.
    async *stream(body, signal, read) {
      const payload = encode(body);
      const sleep = options.sleep;
      for (let n = 1; ; n++) {
        const control = new AttemptControl(signal, timeoutMs);
        let delivered = false;
        let failure: ChatModelError;
        try {
          for await (const item of read(await send(payload, control))) {
            delivered = true;
            yield item;
          }
          return;
        } catch (err) {
          if (delivered || n >= retry.attempts || !shouldRetry(err)) throw giveUp(err, n);
          failure = err;
        } finally {
          control.dispose();
        }
        const delay = backoffMs(retry, n, failure.details.retryAfterMs, options.random);
        try {
          await (sleep ?? abortableSleep)(delay, signal);
        } catch (reason) {
          throw abortedWhileWaiting(failure, reason);
        }
      }
    },
  };
}
