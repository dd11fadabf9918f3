/**
 * The MCP server over streamable HTTP: `POST /mcp` on 127.0.0.1 only, with a bearer token (sent as
 * `Authorization: Bearer TOKEN`, or as `?token=TOKEN` in the URL for clients that take only a URL, as
 * notebook servers do). Stateless: each POST gets a fresh server and transport (no session id), so nothing
 * is kept between requests; GET and DELETE (server-sent streams and session ends) are 405. A wrong or
 * missing token is 401 before the body is read; bodies are bounded (4 MiB).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { utf8Problem } from '../io/utf8.js';
import { DEFAULT_HOST, listen, type RunningServer } from '../server/listen.js';

export const MCP_PATH = '/mcp';
const MAX_BODY = 4 << 20;

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

function tokenOf(req: IncomingMessage, url: URL): string | undefined {
  const auth = req.headers.authorization;
  if (auth !== undefined) return /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(auth)?.[1];
  return url.searchParams.get('token') ?? undefined;
}

/** The body's bytes; undefined past {@link MAX_BODY}. */
async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** Starts the HTTP transport on 127.0.0.1. */
export async function startMcpHttpServer(options: McpHttpOptions): Promise<RunningMcpServer> {
  if (options.token === '') throw new Error('the MCP token is empty');
  const expected = digest(options.token);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));

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
    if (req.method !== 'POST') {
      rpcError(res, 405, `${req.method} is not allowed: this server is stateless; use POST`, {
        allow: 'POST',
      });
      return;
    }
    void (async () => {
      const bytes = await readBody(req);
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
      const server = options.createServer();
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
    })().catch((err: unknown) => {
      log(
        `gtalign mcp: ${req.method} ${url.pathname} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
      );
      rpcError(res, 500, 'internal server error (see the server log)');
    });
  };

  const running = await listen(handler, { host: DEFAULT_HOST, port: options.port ?? 0 });
  return Object.assign(running, { endpoint: `${running.url}${MCP_PATH}` });
}
