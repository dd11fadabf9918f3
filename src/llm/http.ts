/**
 * Small HTTP helpers shared by the clients of OpenAI-compatible servers (chat backends and judges):
 * API keys from the environment, Retry-After, abortable backoff sleeps, readable network errors, and
 * response bodies read up to a limit.
 */
import { GtalignError } from '../errors.js';

/**
 * The API key: an explicit key wins; else the named environment variable; else, only when the caller
 * left the variable at its default, `OPENAI_API_KEY`, so a key meant for OpenAI is never sent to a
 * server the user gave a key variable of its own. Undefined means: send no Authorization header.
 */
export function resolveApiKey(
  options: {
    apiKey?: string | undefined;
    apiKeyEnv?: string | undefined;
    env?: Readonly<Record<string, string | undefined>> | undefined;
  },
  defaultEnv: string,
): string | undefined {
  if (options.apiKey !== undefined && options.apiKey !== '') return options.apiKey;
  const env = options.env ?? process.env;
  const name = options.apiKeyEnv ?? defaultEnv;
  const named = env[name];
  if (named !== undefined && named !== '') return named;
  if (name === defaultEnv) {
    const fallback = env.OPENAI_API_KEY;
    if (fallback !== undefined && fallback !== '') return fallback;
  }
  return undefined;
}

/** `Retry-After` in seconds or as an HTTP date, in milliseconds from `now`. */
export function retryAfterMs(header: string | null, now: number = Date.now()): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  if (header.trim() !== '' && Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A body or reply shortened to one line for error messages. */
export function excerpt(text: string, n = 200): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > n ? `${oneLine.slice(0, n)}…` : oneLine;
}

/** `fetch failed` alone says nothing; undici puts the real error (ECONNREFUSED, …) in `cause`. */
export function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const parts = [err.message];
  const cause: unknown = err.cause;
  if (cause !== null && typeof cause === 'object') {
    const { code, message } = cause as { code?: unknown; message?: unknown };
    if (typeof code === 'string') parts.push(code);
    if (typeof message === 'string' && message !== '' && message !== err.message) parts.push(message);
  }
  return parts.join(': ');
}

/** An upstream response (a body, an SSE line or event) over a size limit; reading stopped there. */
export class ResponseTooLargeError extends GtalignError {
  readonly code = 'limit';
  constructor(
    message: string,
    readonly limit: number,
  ) {
    super(message);
    this.name = 'ResponseTooLargeError';
  }
}

/** A body read to its end, or up to a limit. */
export interface LimitedText {
  /** The whole body; or, when it went on past the limit, only its beginning (at most 4 KiB, for messages). */
  text: string;
  /** False when the body went on past the limit: the rest was not read. */
  complete: boolean;
}

/** How much of a body cut at its limit is decoded: enough for an error message. */
const CUT_BODY_TEXT_BYTES = 4096;

/** A body read piece by piece: a fetch body's reader, or an exchange of the HTTP client (http-client.ts). */
export interface BodySource {
  /** The next piece, or undefined at the end. */
  read(): Promise<Uint8Array | undefined>;
  /** The rest is not wanted: stop reading (which closes the connection). */
  cancel(): void | Promise<void>;
}

/** A fetch `Response` body as a {@link BodySource} (an empty one for a body-less response). */
export function responseBody(res: Response): BodySource {
  const body = res.body;
  if (body === null) return { read: () => Promise.resolve(undefined), cancel: () => undefined };
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return {
    async read() {
      reader ??= body.getReader();
      const { done, value } = await reader.read();
      return done ? undefined : value;
    },
    cancel: () => (reader ?? body).cancel().catch(() => undefined),
  };
}

/**
 * Reads a response body as UTF-8 text, at most `maxBytes` of it. Past the limit, or when reading fails,
 * the body is cancelled (which closes the upstream connection), so an upstream that sends without end
 * costs no more than the limit in memory. Bytes are decoded only once the body is known to fit.
 */
export function readLimitedText(res: Response, maxBytes: number): Promise<LimitedText> {
  if (res.body === null) return Promise.resolve({ text: '', complete: true });
  return readLimited(responseBody(res), maxBytes);
}

/** {@link readLimitedText} of any body source. */
export async function readLimited(body: BodySource, maxBytes: number): Promise<LimitedText> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let ended = false;
  try {
    for (;;) {
      const value = await body.read();
      if (value === undefined) {
        ended = true;
        break;
      }
      chunks.push(value);
      size += value.length;
      if (size > maxBytes) break;
    }
  } finally {
    if (!ended) await body.cancel();
  }
  if (ended && chunks.length === 1) {
    const only = chunks[0]!;
    return { text: Buffer.from(only.buffer, only.byteOffset, only.length).toString('utf8'), complete: true };
  }
  const bytes = Buffer.concat(chunks, ended ? size : Math.min(size, CUT_BODY_TEXT_BYTES));
  return { text: bytes.toString('utf8'), complete: ended };
}
