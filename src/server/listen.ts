/**
 * Starting and stopping an HTTP server: loopback by default, timeouts against slow clients, and a close
 * that ends idle keep-alive connections at once and open requests after a grace period.
 */
import { createServer, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, isIPv4, type Socket } from 'node:net';

export const DEFAULT_HOST = '127.0.0.1';
/**
 * Longest wait, once the grace has ended and the open requests were told to stop, for them to write their
 * answer (microseconds of work; the bound is for a handler that does not listen).
 */
export const LAST_WORDS_MS = 2_000;

export interface ListenOptions {
  /** Interface to bind (default 127.0.0.1: reachable from this machine only). */
  host?: string;
  /** Port (0 = any free port). */
  port?: number;
  /** Longest time to receive a whole request, headers and body (default 60 s; slow-loris guard). */
  requestTimeoutMs?: number;
}

export interface RunningServer {
  readonly server: Server;
  readonly host: string;
  readonly port: number;
  /** `http://host:port` (IPv6 hosts in brackets). */
  readonly url: string;
  /**
   * Stops accepting, closes idle connections, waits up to `graceMs` (default 5 s) for open requests. Then
   * `lastWords`, when given, is called so the open requests can end with an answer of their own (they get up
   * to {@link LAST_WORDS_MS} to finish), and the connections still open are cut.
   */
  close(graceMs?: number, lastWords?: () => void): Promise<void>;
}

/** Responses to requests Node refuses before routing, by error code. */
const CLIENT_ERRORS: Readonly<Record<string, { status: string; code: string; message: string }>> = {
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: '408 Request Timeout',
    code: 'request_timeout',
    message: 'the request (headers and body) was not received in time',
  },
  HPE_HEADER_OVERFLOW: {
    status: '431 Request Header Fields Too Large',
    code: 'headers_too_large',
    message: "the request headers exceed the server's size limit",
  },
  default: { status: '400 Bad Request', code: 'bad_http', message: 'malformed HTTP request' },
};

/** Whether binding `host` keeps the server on this machine (a name like `127.x.example.com` does not). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIPv4(host) && host.startsWith('127.'));
}

export async function listen(handler: RequestListener, options: ListenOptions = {}): Promise<RunningServer> {
  const host = options.host ?? DEFAULT_HOST;
  const requestTimeout = options.requestTimeoutMs ?? 60_000;
  // Node checks the request timeouts only every `connectionsCheckingInterval` (30 s by default), which
  // would let a slow-loris body run half a minute past a short limit.
  const server = createServer(
    { connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(requestTimeout / 4))) },
    handler,
  );
  server.requestTimeout = requestTimeout;
  server.headersTimeout = Math.min(requestTimeout, 30_000);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // A socket error (a client resetting mid-request) must never become an uncaught exception. Errors Node
  // finds before a handler sees the request get a status of their own and an OpenAI-style body, unless a
  // response is already under way on that socket (then writing would corrupt it).
  server.on(
    'clientError',
    (err: NodeJS.ErrnoException, socket: Socket & { _httpMessage?: ServerResponse }) => {
      const reply = CLIENT_ERRORS[err.code ?? ''] ?? CLIENT_ERRORS.default!;
      if (socket.writable && socket._httpMessage?.headersSent !== true) {
        const body = JSON.stringify({
          error: { message: reply.message, type: 'invalid_request_error', param: null, code: reply.code },
        });
        socket.end(
          `HTTP/1.1 ${reply.status}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
        );
      } else socket.destroy();
    },
  );
  // Sockets with a request in progress; any other open socket (keep-alive, or opened and never used, as
  // some clients do after an abort) can be closed at once when the server stops.
  const sockets = new Set<Socket>();
  const busy = new WeakMap<Socket, number>();
  /** While closing: called whenever a request ends, to see whether any is still open. */
  let requestEnded: (() => void) | undefined;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('request', (req, res) => {
    const socket = req.socket;
    busy.set(socket, (busy.get(socket) ?? 0) + 1);
    res.once('close', () => {
      busy.set(socket, (busy.get(socket) ?? 1) - 1);
      requestEnded?.();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    host: address.address,
    port: address.port,
    url: `http://${shown}:${address.port}`,
    close(graceMs = 5_000, lastWords) {
      return new Promise<void>((resolve) => {
        const cut = (): void => {
          requestEnded = undefined;
          server.closeAllConnections();
        };
        const anyOpen = (): boolean => [...sockets].some((socket) => (busy.get(socket) ?? 0) > 0);
        const timer = setTimeout(() => {
          if (lastWords === undefined || !anyOpen()) return cut();
          const bound = setTimeout(cut, LAST_WORDS_MS);
          bound.unref();
          requestEnded = () => {
            if (anyOpen()) return;
            clearTimeout(bound);
            cut();
          };
          lastWords();
        }, graceMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        for (const socket of sockets) if ((busy.get(socket) ?? 0) === 0) socket.destroy();
      });
    },
  };
}
