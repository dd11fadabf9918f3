/**
 * The MCP server over streamable HTTP: `POST /mcp` on 127.0.0.1 only, with a bearer token (sent as
 * `Authorization: Bearer TOKEN`, or as `?token=TOKEN` in the URL for clients that take only a URL, as
 * notebook servers do). A wrong or missing token is 401 before the body is read; bodies are bounded
 * (4 MiB).
 *
 * Sessions: an `initialize` request starts one (its id in `Mcp-Session-Id`, as the official clients
 * expect), and the session's requests go to one server. That is what lets a client's cancellation (a
 * `notifications/cancelled` in a request of its own, which the SDK client also sends when its timeout
 * fires) reach the call it names and stop its model request: with a fresh server per POST it reached
 * nothing, and the call ran on until its upstream timeout. A client that closes the connection of a call
 * cancels it too. At most {@link MAX_SESSIONS} live at once (the least recently used ends first), and one
 * idle for {@link SESSION_IDLE_MS} ends; `DELETE` ends one. A POST without a session (and not an
 * `initialize`) is served by a fresh server, as before. GET is 405: this server sends no stream of its own.
 * A session the server ends (to make room, or because the server stops) first answers its calls in flight
 * with an error saying why, and a stopping server refuses new requests with 503.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { utf8Problem } from '../io/utf8.js';
import { bearerToken } from '../server/auth.js';
import { DEFAULT_HOST, listen, type RunningServer } from '../server/listen.js';
import { OwedAnswers } from './owed-answers.js';

export const MCP_PATH = '/mcp';
const MAX_BODY = 4 << 20;
/** Most sessions kept at once; a new one ends the least recently used. */
export const MAX_SESSIONS = 256;
/** A session unused this long ends (checked when a session starts). */
export const SESSION_IDLE_MS = 30 * 60_000;

interface Session {
  server: McpServer;
  transport: StreamableHTTPServerTransport;
  lastUsed: number;
}

/** The ids of the JSON-RPC requests (not notifications) in a POST body. */
function requestIds(body: unknown): (string | number)[] {
  const messages = Array.isArray(body) ? body : [body];
  const ids: (string | number)[] = [];
  for (const m of messages) {
    const id = (m as { id?: unknown; method?: unknown } | null)?.id;
    if (
      typeof (m as { method?: unknown } | null)?.method === 'string' &&
      (typeof id === 'string' || typeof id === 'number')
    )
      ids.push(id);
  }
  return ids;
}

export interface McpHttpOptions {
  /** A new server for each request (stateless). */
  createServer(): McpServer;
  /** The bearer token clients must send. */
  token: string;
  /** Port on 127.0.0.1 (0 = any free port). */
  port?: number;
  log?: (line: string) => void;
}

export interface RunningMcpServer extends RunningServer {
  /** `http://127.0.0.1:PORT/mcp` */
  readonly endpoint: string;
}

/** A random token: 24 bytes as 48 hex characters. */
export function randomToken(): string {
  return randomBytes(24).toString('hex');
}

function rpcError(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
) {
  if (res.headersSent) return;
  const body = JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null });
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    ...headers,
  });
  res.end(body);
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** The bearer token of the Authorization header, else `?token=` (a proxy may add a header of its own). */
function tokenOf(req: IncomingMessage, url: URL): string | undefined {
  return bearerToken(req.headers.authorization) ?? url.searchParams.get('token') ?? undefined;
}

/** The body's bytes; undefined past {@link MAX_BODY}; `gone` when the client left before sending it all. */
async function readBody(req: IncomingMessage): Promise<Buffer | undefined | 'gone'> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY) return undefined;
      chunks.push(chunk);
    }
  } catch (err) {
    // A connection closed mid-body is the client's doing, not a failure of this server to log.
    if (!req.complete) return 'gone';
    throw err;
  }
  return Buffer.concat(chunks, size);
}

/** Starts the HTTP transport on 127.0.0.1. */
export async function startMcpHttpServer(options: McpHttpOptions): Promise<RunningMcpServer> {
  if (options.token === '') throw new Error('the MCP token is empty');
  const expected = digest(options.token);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));

  const sessions = new Map<string, Session>();
  // Calls still waiting for their answer: a session ended under them answers them first (owed-answers.ts).
  const owed = new OwedAnswers();
  let closing = false;
  /** Ends a session; its calls in flight are stopped and answered with `reason`. */
  const endSession = async (id: string, reason: string): Promise<void> => {
    const session = sessions.get(id);
    if (session === undefined) return;
    sessions.delete(id);
    try {
      await owed.answer(session.transport, reason);
      await session.transport.close();
      await session.server.close();
    } catch (err) {
      // Callers do not wait for this (a new session, a DELETE): a failure here must not go unhandled.
      log(
        `gtalign mcp: ending a session failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
      );
    }
  };
  /** Ends idle sessions, then the least recently used ones until one more fits (the map keeps use order). */
  const makeRoom = (now: number): void => {
    for (const [id, session] of sessions)
      if (now - session.lastUsed > SESSION_IDLE_MS) void endSession(id, 'the session ended: it was idle');
    while (sessions.size >= MAX_SESSIONS) {
      void endSession(
        sessions.keys().next().value as string,
        `the session ended: more than ${MAX_SESSIONS} sessions were open and it was the least recently used; ` +
          'start a new session and call again',
      );
    }
  };
  const startSession = async (req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> => {
    makeRoom(Date.now());
    const server = options.createServer();
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: randomToken,
      onsessioninitialized: (id) => {
        sessions.set(id, { server, transport, lastUsed: Date.now() });
      },
    });
    transport.onclose = () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    owed.track(transport, requestIds(body), res);
    await transport.handleRequest(req, res, body);
  };
  const inSession = async (
    session: Session,
    id: string,
    req: IncomingMessage,
    res: ServerResponse,
    body: unknown,
  ): Promise<void> => {
    // Most recently used last, so the first entry is the one to end when the sessions are full.
    sessions.delete(id);
    session.lastUsed = Date.now();
    sessions.set(id, session);
    const ids = requestIds(body);
    owed.track(session.transport, ids, res);
    res.on('close', () => {
      if (res.writableFinished) return;
      // The client left before its answers: each of its calls is cancelled as if it had said so.
      for (const requestId of ids) {
        session.transport.onmessage?.({
          jsonrpc: '2.0',
          method: 'notifications/cancelled',
          params: { requestId, reason: 'the client closed the connection' },
        });
      }
    });
    await session.transport.handleRequest(req, res, body);
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== MCP_PATH) {
      rpcError(res, 404, `no route ${req.method} ${url.pathname}; the MCP endpoint is POST ${MCP_PATH}`);
      return;
    }
    const given = tokenOf(req, url);
    if (given === undefined || !timingSafeEqual(digest(given), expected)) {
      rpcError(
        res,
        401,
        given === undefined ? 'missing token: send "Authorization: Bearer TOKEN"' : 'invalid token',
        {
          'www-authenticate': 'Bearer',
          connection: 'close',
        },
      );
      return;
    }
    const header = req.headers['mcp-session-id'];
    const sessionId = typeof header === 'string' ? header : undefined;
    if (req.method === 'DELETE' && sessionId !== undefined) {
      if (!sessions.has(sessionId)) {
        rpcError(res, 404, 'no such session (it ended, or the server restarted)');
        return;
      }
      void endSession(sessionId, 'the client ended the session');
      res.writeHead(200).end();
      return;
    }
    if (closing) {
      rpcError(res, 503, 'gtalign mcp is shutting down', { connection: 'close' });
      return;
    }
    if (req.method !== 'POST') {
      rpcError(res, 405, `${req.method} is not allowed: this server sends no stream of its own; use POST`, {
        allow: 'POST, DELETE',
      });
      return;
    }
    void (async () => {
      const bytes = await readBody(req);
      if (bytes === 'gone') return;
      if (bytes === undefined) {
        rpcError(res, 413, `the request body exceeds ${MAX_BODY} bytes`, { connection: 'close' });
        return;
      }
      const notUtf8 = utf8Problem(bytes, 'the body');
      if (notUtf8 !== undefined) {
        rpcError(res, 400, `the request body is ${notUtf8}`);
        return;
      }
      let body: unknown;
      try {
        body = JSON.parse(bytes.toString('utf8'));
      } catch (err) {
        rpcError(res, 400, `the request body is not valid JSON: ${(err as Error).message}`);
        return;
      }
      // A request whose body arrived while the server began to stop.
      if (closing) {
        rpcError(res, 503, 'gtalign mcp is shutting down', { connection: 'close' });
        return;
      }
      if (sessionId !== undefined) {
        const session = sessions.get(sessionId);
        // 404 tells the official clients to start a new session (the MCP specification's rule).
        if (session === undefined) {
          rpcError(res, 404, 'no such session (it ended, or the server restarted): initialize a new one');
          return;
        }
        await inSession(session, sessionId, req, res, body);
        return;
      }
      if (isInitializeRequest(body)) {
        await startSession(req, res, body);
        return;
      }
      // No session: a fresh server for this POST alone, ended with its connection (which cancels its calls).
      const server = options.createServer();
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      owed.track(transport, requestIds(body), res);
      await transport.handleRequest(req, res, body);
    })().catch((err: unknown) => {
      log(
        `gtalign mcp: ${req.method} ${url.pathname} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
      );
      rpcError(res, 500, 'internal server error (see the server log)');
    });
  };

  const running = await listen(handler, { host: DEFAULT_HOST, port: options.port ?? 0 });
  const close = running.close.bind(running);
  return Object.assign(running, {
    endpoint: `${running.url}${MCP_PATH}`,
    close: async (graceMs?: number) => {
      closing = true;
      const stopped =
        'gtalign mcp is shutting down: the call was stopped before it finished; call it again once the server is back';
      // Answered before the sessions end: a call cut off unanswered leaves its client waiting until its timeout.
      await owed.answerAll(stopped);
      await Promise.all([...sessions.keys()].map((id) => endSession(id, stopped)));
      await close(graceMs);
    },
  });
}
