/**
 * A scripted OpenAI-compatible chat server for tests: a REAL loopback HTTP server (node:http, port 0)
 * that replays the outputs a test chooses. It is not a model: each request to
 * `POST /v1/chat/completions` is answered by the test's handler, called with the parsed request body
 * and the request's 0-based index, which returns what to send back: content, an HTTP status, a delay,
 * a raw body, or a hang (never answer). The index counts from the server's start: emptying `requests`
 * does not reset it, so a test on a server shared by its file tells requests apart by their body.
 * Streaming requests (`stream: true`) get Server-Sent Events of `chat.completion.chunk` objects ending
 * with `data: [DONE]`.
 *
 * Every request is recorded (body, headers, path), and the server tracks how many requests are in
 * flight at once, so tests can check retries, caching and concurrency limits from the other side of
 * the protocol. `GET /v1/models` lists the one model name.
 *
 *   const server = await startOpenAIStubServer((body, i) => (i === 0 ? { status: 500 } : { content: '\\boxed{1}' }));
 *   // … point a client at server.baseUrl (…/v1) …
 *   await server.close();
 */

import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createOpenAIModel } from '../../src/llm/openai.js';
import type { ChatModel } from '../../src/llm/types.js';

export interface StubReply {
  /** HTTP status (default 200). A status >= 400 sends an OpenAI-style error body unless `raw` is set. */
  status?: number;
  /** Wait this long before answering. */
  delayMs?: number;
  /** The assistant message content (default ''). */
  content?: string;
  /** Send exactly this body instead of a chat completion (for malformed responses). */
  raw?: string;
  /** Never answer; the request stays open until the client gives up or the server closes. */
  hang?: boolean;
  /** Extra response headers, e.g. `{ 'retry-after': '0' }`. */
  headers?: Record<string, string>;
  /** `finish_reason` of the choice (default 'stop'). */
  finishReason?: string;
  /** Streaming only: the content pieces, one per chunk (default: content cut into `chunkSize` code points). */
  chunks?: string[];
  /** Streaming only: code points per chunk when `chunks` is not given (default 4). */
  chunkSize?: number;
  /** Streaming only: pause between chunks. */
  chunkDelayMs?: number;
  /** Streaming only: per chunk (by index), a promise to wait for before it is sent (what the test awaits). */
  chunkGate?: Array<Promise<void> | undefined>;
  /** Error message for status >= 400. */
  errorMessage?: string;
}

export interface StubRequestBody {
  model?: unknown;
  messages?: unknown;
  stream?: unknown;
  [key: string]: unknown;
}

export type StubHandler = (body: StubRequestBody, index: number) => StubReply | Promise<StubReply>;

export interface RecordedRequest {
  /** 0-based index among chat completion requests. */
  index: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body (undefined when it did not parse). */
  body: StubRequestBody | undefined;
  rawBody: string;
}

export interface OpenAIStubServer {
  /** `http://127.0.0.1:<port>/v1`, the base URL an OpenAI client expects. */
  readonly baseUrl: string;
  readonly port: number;
  /** Every chat completion request received, in arrival order. */
  readonly requests: RecordedRequest[];
  /** Chat completion requests being handled now. */
  readonly inFlight: number;
  /** The most chat completion requests ever in flight at once. */
  readonly maxInFlight: number;
  /** Chat completion requests whose client went away before the reply was complete. */
  readonly cutOff: number;
  /** Replaces the handler for later requests. */
  setHandler(handler: StubHandler): void;
  /** Stops listening and drops every open connection (hung requests included). */
  close(): Promise<void>;
}

export interface StubOptions {
  /** Model name reported in responses and by /v1/models (default 'stub-model'). */
  model?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function countTokens(text: string): number {
  const t = text.trim();
  return t === '' ? 0 : t.split(/\s+/).length;
}

function promptText(body: StubRequestBody | undefined): string {
  if (!Array.isArray(body?.messages)) return '';
  return body.messages
    .map((m) => (m && typeof m === 'object' && typeof m.content === 'string' ? m.content : ''))
    .join(' ');
}

function sendJson(
  res: ServerResponse,
  status: number,
  payload: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(payload));
}

export async function startOpenAIStubServer(
  handler: StubHandler = () => ({ content: '' }),
  options: StubOptions = {},
): Promise<OpenAIStubServer> {
  const model = options.model ?? 'stub-model';
  let current = handler;
  const requests: RecordedRequest[] = [];
  let inFlight = 0;
  let cutOff = 0;
  let maxInFlight = 0;
  let counter = 0;
  const sockets = new Set<Socket>();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void handle(
        req.method ?? 'GET',
        req.url ?? '/',
        req.headers,
        Buffer.concat(chunks).toString('utf8'),
        res,
      );
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function handle(
    method: string,
    url: string,
    headers: IncomingHttpHeaders,
    rawBody: string,
    res: ServerResponse,
  ): Promise<void> {
    const path = url.split('?', 1)[0] ?? '/';
    if (method === 'GET' && path === '/v1/models') {
      sendJson(res, 200, {
        object: 'list',
        data: [{ id: model, object: 'model', created: 0, owned_by: 'stub' }],
      });
      return;
    }
    if (method !== 'POST' || path !== '/v1/chat/completions') {
      sendJson(res, 404, { error: { message: `no route ${method} ${path}`, type: 'invalid_request_error' } });
      return;
    }
    let body: StubRequestBody | undefined;
    try {
      const parsed: unknown = JSON.parse(rawBody);
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
        body = parsed as StubRequestBody;
    } catch {
      body = undefined;
    }
    const index = counter++;
    requests.push({ index, method, path, headers, body, rawBody });
    if (body === undefined) {
      sendJson(res, 400, {
        error: { message: 'request body is not a JSON object', type: 'invalid_request_error' },
      });
      return;
    }

    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let done = false;
    const finish = (): void => {
      if (!done) {
        done = true;
        inFlight--;
        if (!res.writableFinished) cutOff++;
      }
    };
    res.on('close', finish);

    let reply: StubReply;
    try {
      reply = await current(body, index);
    } catch (err) {
      sendJson(res, 500, {
        error: { message: `stub handler threw: ${(err as Error).message}`, type: 'server_error' },
      });
      return;
    }
    if (reply.delayMs !== undefined && reply.delayMs > 0) await sleep(reply.delayMs);
    if (reply.hang) return; // leave the request open; `close` is counted when the client aborts
    if (res.destroyed) return;

    const status = reply.status ?? 200;
    const extraHeaders = reply.headers ?? {};
    if (reply.raw !== undefined) {
      res.writeHead(status, { 'content-type': 'application/json', ...extraHeaders });
      res.end(reply.raw);
      return;
    }
    if (status >= 400) {
      sendJson(
        res,
        status,
        {
          error: {
            message: reply.errorMessage ?? `stub error ${status}`,
            type: 'server_error',
            code: status,
          },
        },
        extraHeaders,
      );
      return;
    }

    const content = reply.content ?? '';
    const id = `chatcmpl-stub-${index}`;
    const created = Math.floor(Date.now() / 1000);
    const finishReason = reply.finishReason ?? 'stop';
    const usage = {
      prompt_tokens: countTokens(promptText(body)),
      completion_tokens: countTokens(content),
      total_tokens: countTokens(promptText(body)) + countTokens(content),
    };
    const requestedModel = typeof body.model === 'string' ? body.model : model;

    if (body.stream === true) {
      res.writeHead(status, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        ...extraHeaders,
      });
      const base = { id, object: 'chat.completion.chunk', created, model: requestedModel };
      const write = (payload: unknown): void => {
        res.write(`data: ${JSON.stringify(payload)}\n\n`);
      };
      const size = Math.max(1, reply.chunkSize ?? 4);
      let pieces = reply.chunks;
      if (pieces === undefined) {
        const points = Array.from(content);
        pieces = [];
        for (let i = 0; i < points.length; i += size) pieces.push(points.slice(i, i + size).join(''));
      }
      write({
        ...base,
        choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
      });
      for (const [k, piece] of pieces.entries()) {
        if (reply.chunkDelayMs !== undefined && reply.chunkDelayMs > 0) await sleep(reply.chunkDelayMs);
        const gate = reply.chunkGate?.[k];
        if (gate !== undefined) await gate;
        if (res.destroyed) return;
        write({ ...base, choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] });
      }
      write({ ...base, choices: [{ index: 0, delta: {}, finish_reason: finishReason }] });
      const streamOptions = body.stream_options as { include_usage?: unknown } | undefined;
      if (streamOptions?.include_usage === true) write({ ...base, choices: [], usage });
      res.end('data: [DONE]\n\n');
      return;
    }

    sendJson(
      res,
      status,
      {
        id,
        object: 'chat.completion',
        created,
        model: requestedModel,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: finishReason }],
        usage,
      },
      extraHeaders,
    );
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    get cutOff() {
      return cutOff;
    },
    setHandler(next) {
      current = next;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}

/** The model gtalign talks to a stub server as: vLLM's dialect, its default model name, no retries. */
export function stubModel(stub: Pick<OpenAIStubServer, 'baseUrl'>): ChatModel {
  return createOpenAIModel({ baseUrl: stub.baseUrl, model: 'stub-model', vendor: 'vllm', maxRetries: 0 });
}
