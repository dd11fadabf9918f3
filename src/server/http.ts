/**
 * The plumbing both servers share, on plain `node:http`: a route table with 404/405, bearer-key checks,
 * JSON bodies read under a byte limit, OpenAI-style error responses, request metrics, and a watch of the
 * client (client-watch.ts: a flag and watchers, an abort signal only on demand) that fires when it goes
 * away. A handler that throws never takes the server down: an `HttpError`
 * becomes its response, anything else a logged 500; when the request's body was not read, the answer is
 * sent so that the client can read it before the connection closes (refused-body.ts).
 */

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { utf8Problem } from '../io/utf8.js';
import { zodIssues } from '../issues.js';
import { excerpt } from '../llm/http.js';
import { type AccessLog, keyFingerprint, timing } from './access-log.js';
import type { KeyChecker } from './auth.js';
import { invalidRequest, MAX_PROBLEMS } from './body-check.js';
import { ClientWatch } from './client-watch.js';
import {
  badRequest,
  HttpError,
  internalError,
  methodNotAllowed,
  notFound,
  payloadTooLarge,
  unauthorized,
  unsupportedEncoding,
  unsupportedMediaType,
} from './errors.js';
import { NOT_PIECEWISE, parseJsonPieces } from './json-pieces.js';
import { LATENCY_BUCKETS, type MetricsRegistry } from './metrics.js';
import { declaresBody, sendRefusal } from './refused-body.js';

export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The path without the query string. */
  readonly path: string;
  readonly requestId: string;
  /** Aborts when the client disconnects before the response is complete (made when first asked for). */
  readonly signal: AbortSignal;
  /** Whether the client is still there, and who to tell when it leaves: cheaper than `signal`. */
  readonly client: ClientWatch;
  /** Adds fields to the request's access-log line (access-log.ts); nothing without an access log. */
  annotate(fields: Readonly<Record<string, unknown>>): void;
}

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** The path; with `prefix`, every path that starts with it (the route reads the rest from `ctx.path`). */
  path: string;
  prefix?: boolean;
  /** Needs a bearer key when the server has keys (default true). */
  auth?: boolean;
  handle(ctx: RequestContext): Promise<void> | void;
}

export interface AppOptions {
  routes: readonly Route[];
  keys: KeyChecker;
  metrics: MetricsRegistry;
  /** Where failures worth an operator's attention go (default stderr). */
  log?: ((line: string) => void) | undefined;
  /** One line per request (access-log.ts). */
  accessLog?: AccessLog | undefined;
}

/** Thrown into a request's signal when its client disconnects. */
export class ClientGoneError extends Error {
  constructor() {
    super('the client disconnected');
    this.name = 'ClientGoneError';
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  payload: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const head: Record<string, string> = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
  };
  for (const name of Object.keys(headers)) head[name] = headers[name]!;
  // A head with Content-Length, then the whole body in `end`: node:http sends both in one write.
  res.writeHead(status, head);
  res.end(body);
}

export function sendError(res: ServerResponse, err: HttpError): void {
  sendJson(res, err.status, err.body(), err.headers);
}

/** Bodies from this size are parsed piece by piece (json-pieces.ts): one large string costs page faults. */
const PIECEWISE_BYTES = 128 * 1024;
/** Largest body joined in the reused buffer below. */
const JOIN_BUFFER_LIMIT = 16 * 1024 * 1024;
let joinBuffer = Buffer.alloc(0);

/**
 * A body's pieces joined in one buffer kept between requests (fresh memory costs a page fault per 4 KiB):
 * valid until the next call, which is fine since the body is parsed before anything else runs.
 */
function joinChunks(chunks: readonly Buffer[], size: number): Buffer {
  if (size > JOIN_BUFFER_LIMIT) return Buffer.concat(chunks, size);
  if (joinBuffer.length < size) joinBuffer = Buffer.allocUnsafeSlow(Math.max(size, 2 * joinBuffer.length));
  let at = 0;
  for (const chunk of chunks) at += chunk.copy(joinBuffer, at);
  return joinBuffer.subarray(0, size);
}

/**
 * Reads the body as JSON: `application/json` only (a browser page cannot send that cross-origin without a
 * preflight this server never approves), uncompressed (a `content-encoding` is a 415), at most `maxBytes`
 * (413 before or while reading), parse errors as 400 naming the position.
 */
export async function readJsonBody(ctx: RequestContext, maxBytes: number): Promise<unknown> {
  const { req } = ctx;
  const type = req.headers['content-type'];
  if (type === undefined || !/^application\/json\s*(;|$)/i.test(type)) {
    throw unsupportedMediaType(type);
  }
  // A compressed body is not read as JSON text (its first byte would be reported as bad UTF-8).
  const encoding = req.headers['content-encoding']?.trim().toLowerCase();
  if (encoding !== undefined && encoding !== '' && encoding !== 'identity')
    throw unsupportedEncoding(encoding);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw payloadTooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        reject(payloadTooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
      // The parser has the whole message and nothing waits unread: the body is all here, without
      // waiting a tick for 'end' (a body that arrives in pieces is not complete at its last 'data').
      if (req.complete && req.readableLength === 0) {
        cleanup();
        resolve();
      }
    };
    const onEnd = (): void => {
      cleanup();
      resolve();
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const gone = {
      aborted: (): void => {
        cleanup();
        reject(new ClientGoneError());
      },
    };
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      ctx.client.unwatch(gone);
    };
    if (ctx.client.gone) {
      reject(new ClientGoneError());
      return;
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    ctx.client.watch(gone);
  });
  const bytes = chunks.length === 1 ? chunks[0]! : joinChunks(chunks, size);
  // The bytes are not needed past this point: let a large body's chunks go before parsing.
  chunks.length = 0;
  const notUtf8 = utf8Problem(bytes, 'the body');
  if (notUtf8 !== undefined) throw badRequest(`the request body is ${notUtf8}`, null, 'invalid_json');
  if (size >= PIECEWISE_BYTES) {
    const value = parseJsonPieces(bytes);
    if (value !== NOT_PIECEWISE) return value;
  }
  const text = bytes.toString('utf8');
  if (text.trim() === '') throw badRequest('the request body is empty; send a JSON object');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badRequest(`the request body is not valid JSON: ${(err as Error).message}`, null, 'invalid_json');
  }
}

/**
 * Validates a parsed body against a schema; the 400 names the first bad field (`messages.0.role`) and up
 * to five problems. A schema reports every bad element of an array, so the arrays a client controls must
 * be bounded (length and element kinds, see body-check.ts) before a body gets here.
 */
export function validate<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  // An issue's message may list every unknown key of an object: keep the response short.
  const problems = zodIssues(parsed.error, MAX_PROBLEMS).map((i) => ({
    ...i,
    message: excerpt(i.message, 200),
  }));
  throw invalidRequest(problems);
}

/** `GET /metrics`: the registry in the Prometheus text format (needs a key when the server has keys). */
export function metricsRoute(metrics: MetricsRegistry): Route {
  return {
    method: 'GET',
    path: '/metrics',
    handle: ({ res }) => {
      const text = metrics.render();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(text);
    },
  };
}

/** The status logged and counted for a request whose client left before it was answered. */
export const CLIENT_CLOSED = 499;

/** The access-log note of a server without an access log. */
const ignore = (): void => {};

/** The request listener: routing, auth, errors, metrics, the access log. */
export function createHandler(options: AppOptions): RequestListener {
  const { metrics, keys } = options;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const requests = metrics.counter(
    'gtalign_http_requests_total',
    'HTTP requests by route, method and status.',
    ['route', 'method', 'status'],
  );
  const latency = metrics.histogram(
    'gtalign_http_request_duration_seconds',
    'Time from request to the end of the response, by route.',
    LATENCY_BUCKETS,
    ['route'],
  );
  const inFlight = metrics.gauge('gtalign_http_requests_in_flight', 'Requests being handled now.');
  const disconnects = metrics.counter(
    'gtalign_client_disconnects_total',
    'Requests whose client went away before the response was complete.',
    ['route'],
  );
  const { accessLog } = options;
  if (accessLog !== undefined) {
    const dropped = metrics.counter(
      'gtalign_access_log_dropped_total',
      'Access-log lines dropped: the file was too slow, or could not be written.',
    );
    let counted = 0;
    metrics.onCollect(() => {
      dropped.inc({}, accessLog.dropped - counted);
      counted = accessLog.dropped;
    });
  }
  const byPath = new Map<string, Route[]>();
  const byPrefix = new Map<string, Route[]>();
  for (const r of options.routes) {
    const table = r.prefix === true ? byPrefix : byPath;
    table.set(r.path, [...(table.get(r.path) ?? []), r]);
  }
  /** The routes of a path and their metric label (a prefix route's is its prefix and `*`). */
  const routesOf = (path: string): { candidates: Route[] | undefined; label: string } => {
    const exact = byPath.get(path);
    if (exact !== undefined) return { candidates: exact, label: path };
    for (const [prefix, routes] of byPrefix)
      if (path.length > prefix.length && path.startsWith(prefix))
        return { candidates: routes, label: `${prefix}*` };
    return { candidates: undefined, label: 'unmatched' };
  };

  return (req, res) => {
    const started = performance.now();
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    // Unknown paths share one label so that scanners cannot blow up the metric's cardinality.
    const { candidates, label: routeLabel } = routesOf(path);
    const client = new ClientWatch();
    // Answered, with the rest of the body being drained: a client that leaves now has its answer.
    let refused = false;
    let notes: Record<string, unknown> | undefined;
    // Read now: once a client has reset its connection the socket no longer knows its address.
    const remote = accessLog === undefined ? null : (req.socket.remoteAddress ?? null);
    inFlight.inc();
    res.on('close', () => {
      inFlight.dec();
      if (!res.writableFinished) {
        if (!refused) disconnects.inc({ route: routeLabel });
        client.leave(new ClientGoneError());
        // The client half-closed: without this the socket would wait for a response nobody reads.
        res.destroy();
      }
      // A client that left before any answer got none: counted as 499 (nginx's "client closed request"),
      // not as the 200 that `statusCode` holds until a head is written.
      const status = res.headersSent ? res.statusCode : CLIENT_CLOSED;
      requests.inc({ route: routeLabel, method, status: String(status) });
      const seconds = (performance.now() - started) / 1000;
      latency.observe(seconds, { route: routeLabel });
      if (accessLog !== undefined) {
        const { time, ms } = timing(seconds);
        accessLog.write({
          time,
          id: ctx.requestId,
          method,
          path,
          route: routeLabel,
          status,
          ms,
          remote,
          key: keyFingerprint(req.headers.authorization) ?? null,
          completed: res.writableFinished,
          ...notes,
        });
      }
    });
    let requestId: string | undefined;
    const ctx: RequestContext = {
      req,
      res,
      path,
      // Made when asked for: only a failure's log line names the request.
      get requestId() {
        requestId ??= randomUUID();
        return requestId;
      },
      get signal() {
        return client.signal;
      },
      client,
      annotate:
        accessLog === undefined
          ? ignore
          : (fields) => {
              notes = { ...notes, ...fields };
            },
    };

    const fail = (err: unknown): void => {
      if (err instanceof ClientGoneError || client.gone) return;
      const httpError = err instanceof HttpError ? err : internalError();
      ctx.annotate({ error: httpError.code ?? httpError.type });
      if (!(err instanceof HttpError)) {
        log(
          `gtalign server: ${method} ${path} (${ctx.requestId}) failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
        );
      }
      if (res.headersSent) {
        res.end();
        return;
      }
      // The id of the access-log and error-log lines, which the official clients show as the error's
      // request ID: what a user quotes to an operator. Only failures pay for making one.
      res.setHeader('x-request-id', ctx.requestId);
      if (!req.complete && declaresBody(req)) {
        refused = true;
        sendRefusal(req, res, httpError);
      } else sendError(res, httpError);
    };

    try {
      if (candidates === undefined) throw notFound(method, path);
      const route = candidates.find((r) => r.method === method);
      if (route === undefined) {
        throw methodNotAllowed(
          method,
          path,
          candidates.map((r) => r.method),
        );
      }
      if (route.auth !== false && !keys.check(req.headers.authorization)) {
        throw unauthorized(
          req.headers.authorization === undefined
            ? 'missing API key: send it as "Authorization: Bearer KEY"'
            : 'invalid API key',
        );
      }
      const done = route.handle(ctx);
      if (done instanceof Promise) done.catch(fail);
    } catch (err) {
      fail(err);
    }
  };
}
