/**
 * SCRIPTED stand-ins for vLLM, SGLang, llama.cpp and Ollama servers, for the tests of server detection:
 * REAL loopback HTTP servers (node:http, port 0) that are not models. Each answers the native endpoints
 * gtalign probes the way that server kind does (the bodies are trimmed copies of the real answers' shapes:
 * vLLM's `/version` and `vllm:` Prometheus metrics, SGLang's `/get_server_info` server arguments,
 * llama-server's `/props`, Ollama's `/api/version`), answers 404 elsewhere, and forwards `/v1/...` to an
 * `OpenAIStubServer` (openai-stub-server.ts) that replays the outputs the test chooses and records every
 * chat completion request. A `generic` server answers no probe (a plain OpenAI-compatible API).
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type OpenAIStubServer, type StubHandler, startOpenAIStubServer } from './openai-stub-server.js';

export type ScriptedKind = 'vllm' | 'sglang' | 'llamacpp' | 'ollama' | 'generic';

export interface ProbeHit {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export interface VendorServer {
  readonly kind: ScriptedKind;
  /** `http://127.0.0.1:<port>/v1`. */
  readonly baseUrl: string;
  /** The chat completions backend (its `requests` are the recorded chat completion requests). */
  readonly upstream: OpenAIStubServer;
  /** Every request that did not go to `/v1/...`: the probes. */
  readonly probes: ProbeHit[];
  close(): Promise<void>;
}

type Answer = { status: number; type: string; body: string };

const json = (value: unknown): Answer => ({
  status: 200,
  type: 'application/json',
  body: JSON.stringify(value),
});
const NOT_FOUND: Answer = { status: 404, type: 'text/plain', body: '404 page not found' };

const VLLM_METRICS = [
  '# HELP python_gc_objects_collected_total Objects collected during gc',
  '# TYPE python_gc_objects_collected_total counter',
  'python_gc_objects_collected_total{generation="0"} 1234.0',
  '# HELP vllm:num_requests_running Number of requests in model execution batches.',
  '# TYPE vllm:num_requests_running gauge',
  'vllm:num_requests_running{engine="0",model_name="stub-model"} 0.0',
  '',
].join('\n');

/** How each kind answers a GET on a native path (undefined: 404). */
const ROUTES: Record<ScriptedKind, Record<string, Answer>> = {
  vllm: {
    '/version': json({ version: '0.11.0' }),
    '/metrics': { status: 200, type: 'text/plain; version=0.0.4', body: VLLM_METRICS },
    '/health': { status: 200, type: 'text/plain', body: '' },
  },
  sglang: {
    '/get_server_info': json({
      model_path: 'Qwen/Qwen2.5-3B-Instruct',
      tokenizer_path: 'Qwen/Qwen2.5-3B-Instruct',
      tp_size: 1,
      internal_states: [{ last_gen_throughput: 0 }],
      version: '0.5.3',
    }),
    '/get_model_info': json({ model_path: 'Qwen/Qwen2.5-3B-Instruct', is_generation: true }),
    '/metrics': { status: 200, type: 'text/plain', body: 'sglang:num_running_reqs{model_name="m"} 0.0\n' },
  },
  llamacpp: {
    '/props': json({
      default_generation_settings: { n_ctx: 4096, params: { temperature: 0.8 } },
      total_slots: 1,
      model_path: '/models/tiny.gguf',
      chat_template: '{% for message in messages %}…{% endfor %}',
      build_info: 'b6500-abcdef0',
    }),
    '/health': json({ status: 'ok' }),
    '/metrics': {
      status: 501,
      type: 'application/json',
      body: JSON.stringify({
        error: { code: 501, message: 'This server does not support metrics endpoint.' },
      }),
    },
  },
  ollama: {
    '/api/version': json({ version: '0.12.3' }),
    '/': { status: 200, type: 'text/plain', body: 'Ollama is running' },
  },
  generic: {},
};

export interface VendorServerOptions {
  /**
   * Refuse the native endpoints without `Authorization: Bearer <apiKey>`, as llama-server started with
   * `--api-key` does (HTTP 401 with its error body; `/health` stays open).
   */
  apiKey?: string;
}

const UNAUTHORIZED: Answer = {
  status: 401,
  type: 'application/json; charset=utf-8',
  body: JSON.stringify({ error: { message: 'Invalid API Key', type: 'authentication_error', code: 401 } }),
};

export async function startVendorServer(
  kind: ScriptedKind,
  handler: StubHandler,
  options: VendorServerOptions = {},
): Promise<VendorServer> {
  const upstream = await startOpenAIStubServer(handler);
  const probes: ProbeHit[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    if (path.startsWith('/v1/')) {
      const forward = httpRequest(
        { host: '127.0.0.1', port: upstream.port, path: req.url, method: req.method, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      forward.on('error', () => res.destroy());
      req.pipe(forward);
      return;
    }
    probes.push({ method: req.method ?? 'GET', path, headers: req.headers });
    req.resume();
    const locked =
      options.apiKey !== undefined &&
      path !== '/health' &&
      req.headers.authorization !== `Bearer ${options.apiKey}`;
    const answer = locked
      ? UNAUTHORIZED
      : ((req.method === 'GET' ? ROUTES[kind][path] : undefined) ?? NOT_FOUND);
    res.writeHead(answer.status, { 'content-type': answer.type });
    res.end(answer.body);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    kind,
    baseUrl: `http://127.0.0.1:${port}/v1`,
    upstream,
    probes,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await upstream.close();
    },
  };
}
