/**
 * A loopback judge for benchmarks: a real HTTP server (node:http, keep-alive) in its own process, so that
 * it does not share the client's thread. Every `POST /v1/chat/completions` is parsed as JSON and answered
 * after a fixed latency with a real OpenAI chat completion carrying a valid verdict (`<abg>1</abg>` for the
 * ambiguity rubric, `\boxed{1}` for the others). Prints its base URL on stdout, then serves until killed.
 *
 * It is a measuring instrument, kept lean on purpose: the scripted test server
 * (test/support/openai-stub-server.ts) records every request and counts tokens, which at 10,000 calls a
 * second costs more CPU than the client being measured, on a machine of two cores shared by both.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const latencyMs = Number(process.argv[2] ?? 50);
let served = 0;

function completion(model: unknown, content: string): string {
  return JSON.stringify({
    id: `chatcmpl-bench-${served++}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: typeof model === 'string' ? model : 'bench',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 0, completion_tokens: 1, total_tokens: 1 },
  });
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function answer(req: IncomingMessage, res: ServerResponse, raw: string): void {
  if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
    send(res, 404, JSON.stringify({ error: { message: `no route ${req.method} ${req.url}` } }));
    return;
  }
  let body: { model?: unknown; messages?: Array<{ content?: unknown }> };
  try {
    body = JSON.parse(raw) as typeof body;
  } catch {
    send(res, 400, JSON.stringify({ error: { message: 'the request body is not JSON' } }));
    return;
  }
  const system = body.messages?.[0]?.content;
  const verdict = typeof system === 'string' && system.includes('<abg>') ? '<abg>1</abg>' : '\\boxed{1}';
  const reply = completion(body.model, verdict);
  setTimeout(() => {
    if (!res.destroyed) send(res, 200, reply);
  }, latencyMs);
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () =>
    answer(req, res, chunks.length === 1 ? chunks[0]!.toString() : Buffer.concat(chunks).toString()),
  );
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1\n`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
