/**
 * HTTP errors in the OpenAI error format: `{"error": {"message", "type", "param", "code"}}`. The official
 * clients pick their exception class from the status (400 BadRequestError, 401 AuthenticationError, 404
 * NotFoundError, 413/415 APIError, 5xx InternalServerError) and show `message`, so every message says what
 * to change.
 */

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'upstream_error'
  | 'timeout_error'
  | 'rate_limit_error'
  | 'server_error';

export interface OpenAIErrorBody {
  error: { message: string; type: ErrorType; param: string | null; code: string | null };
}

/** An error that becomes one HTTP response; anything else thrown by a handler is a 500. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: ErrorType,
    readonly code: string | null = null,
    readonly param: string | null = null,
    /** Extra response headers (e.g. `allow` for 405, `www-authenticate` for 401). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }

  body(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const badRequest = (
  message: string,
  param: string | null = null,
  code = 'invalid_request',
): HttpError => new HttpError(400, message, 'invalid_request_error', code, param);

export const unauthorized = (message: string): HttpError =>
  new HttpError(401, message, 'authentication_error', 'invalid_api_key', null, {
    'www-authenticate': 'Bearer',
  });

export const notFound = (method: string, path: string): HttpError =>
  new HttpError(404, `no route ${method} ${path}`, 'not_found_error', 'unknown_url');

export const methodNotAllowed = (method: string, path: string, allowed: readonly string[]): HttpError =>
  new HttpError(
    405,
    `${method} is not allowed on ${path}; use ${allowed.join(' or ')}`,
    'invalid_request_error',
    'method_not_allowed',
    null,
    { allow: allowed.join(', ') },
  );

export const payloadTooLarge = (limit: number): HttpError =>
  new HttpError(
    413,
    `the request body exceeds the server's limit of ${limit} bytes`,
    'invalid_request_error',
    'request_too_large',
  );

export const unsupportedMediaType = (got: string | undefined): HttpError =>
  new HttpError(
    415,
    `the request body must be JSON with content-type application/json, got ${got === undefined ? 'none' : `'${got}'`}`,
    'invalid_request_error',
    'unsupported_media_type',
  );

export const unsupportedEncoding = (encoding: string): HttpError =>
  new HttpError(
    415,
    `the request body is sent with content-encoding '${encoding.length > 40 ? `${encoding.slice(0, 40)}…` : encoding}'; send it uncompressed (this server reads plain JSON only)`,
    'invalid_request_error',
    'unsupported_content_encoding',
  );

/**
 * The official clients retry every 5xx (twice by default) unless `x-should-retry` says no. A turn that ran
 * out of time or whose output was unusable has paid for the model's tokens, and the server has retried its
 * own calls already: a client's retry would pay for the whole turn again, each time.
 */
const NOT_RETRIED = { 'x-should-retry': 'false' } as const;

export const upstreamFailed = (message: string, code = 'upstream_error', retry = true): HttpError =>
  new HttpError(502, message, 'upstream_error', code, null, retry ? {} : NOT_RETRIED);

/**
 * The upstream answered 429 (after the server's own retries): the client's to slow down, so a 429 it
 * recognises (the official clients raise RateLimitError) with the upstream's wait as `Retry-After`, which
 * they honour, rather than a 502 they would retry at once.
 */
export const upstreamRateLimited = (
  message: string,
  retryAfterMs: number | undefined,
  retry: boolean,
): HttpError => {
  const headers: Record<string, string> = retry ? {} : { ...NOT_RETRIED };
  if (retryAfterMs !== undefined) headers['retry-after'] = String(Math.ceil(retryAfterMs / 1000));
  return new HttpError(
    429,
    `the upstream model is rate limiting: ${message}`,
    'rate_limit_error',
    'upstream_rate_limited',
    null,
    headers,
  );
};

export const upstreamTimeout = (message: string): HttpError =>
  new HttpError(504, message, 'timeout_error', 'upstream_timeout', null, NOT_RETRIED);

/**
 * The server stopped while the turn ran (its grace for open requests ended): a 503 the official clients
 * retry, and a response with `connection: close`, so the retry goes to a new connection (another instance
 * behind a balancer, or this one restarted).
 */
export const serverShuttingDown = (): HttpError =>
  new HttpError(
    503,
    'gtalign serve stopped before this turn finished; send the request again',
    'server_error',
    'server_shutdown',
    null,
    { connection: 'close' },
  );

/**
 * The turn's deadline passed while it waited for the model (behind other turns on a one-sequence engine):
 * nothing ran, so a 503 the official clients retry, after `Retry-After` seconds.
 */
export const waitedTooLong = (waitedMs: number, retryAfterSeconds: number): HttpError =>
  new HttpError(
    503,
    `the turn waited ${waitedMs} ms (--upstream-timeout) behind other turns for the model and never started; nothing was run: send it again later`,
    'server_error',
    'server_busy',
    null,
    { 'retry-after': String(retryAfterSeconds) },
  );

export const internalError = (): HttpError =>
  new HttpError(500, 'internal server error (see the server log)', 'server_error', 'internal_error');
