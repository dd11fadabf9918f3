/**
 * Server detection (src/llm/detect.ts) against SCRIPTED loopback stand-ins for vLLM, SGLang, llama.cpp and
 * Ollama (test/support/vendor-server.ts: real HTTP servers that replay chosen answers to the native
 * endpoints each kind exposes; they are not those servers), a plain OpenAI-compatible one, and injected
 * fetches for what a server cannot be made to do on cue (never answer).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectVendor, detectVendorOnce, serverOrigin } from '../../src/llm/detect.js';
import { type ScriptedKind, startVendorServer, type VendorServer } from '../support/vendor-server.js';

const servers = new Map<ScriptedKind, VendorServer>();
beforeAll(async () => {
  for (const kind of ['vllm', 'sglang', 'llamacpp', 'ollama', 'generic'] as const) {
    servers.set(kind, await startVendorServer(kind, () => ({ content: 'x' })));
  }
});
afterAll(async () => {
  for (const s of servers.values()) await s.close();
});
const at = (kind: ScriptedKind) => servers.get(kind)!;

describe('serverOrigin', () => {
  it('drops the trailing /v1 (and /chat/completions), keeps any other path', () => {
    expect(serverOrigin('http://127.0.0.1:8000/v1')).toBe('http://127.0.0.1:8000');
    expect(serverOrigin('http://127.0.0.1:8000/v1/')).toBe('http://127.0.0.1:8000');
    expect(serverOrigin('http://127.0.0.1:8000')).toBe('http://127.0.0.1:8000');
    expect(serverOrigin('http://host/llm/v1/chat/completions')).toBe('http://host/llm');
  });
});

describe('detectVendor against scripted servers', () => {
  const expected: Array<[ScriptedKind, string, RegExp]> = [
    ['vllm', 'vllm', /^GET \/metrics has vllm: metrics; GET \/version answered \{"version": "0\.11\.0"\}$/],
    ['sglang', 'sglang', /^GET \/get_server_info answered with internal_states and model_path$/],
    ['llamacpp', 'llamacpp', /^GET \/props answered with default_generation_settings and build_info$/],
    ['ollama', 'ollama', /^GET \/api\/version answered \{"version": "0\.12\.3"\}$/],
  ];
  for (const [kind, vendor, reason] of expected) {
    it(`picks ${vendor} from what a ${kind}-style server exposes`, async () => {
      const detection = await detectVendor({ baseUrl: at(kind).baseUrl });
      expect(detection.vendor).toBe(vendor);
      expect(detection.reason).toMatch(reason);
      expect(detection.baseUrl).toBe(at(kind).baseUrl);
      // Every probe is listed with what it saw.
      expect(detection.probes.map((p) => p.probe)).toEqual([
        'GET /props',
        'GET /get_server_info',
        'GET /server_info',
        'GET /api/version',
        'GET /version',
        'GET /metrics',
      ]);
      expect(detection.probes.filter((p) => p.matched).length).toBeGreaterThan(0);
    });
  }

  it('takes a server that answers none of the probes as generic openai, and says why', async () => {
    const detection = await detectVendor({ baseUrl: at('generic').baseUrl });
    expect(detection.vendor).toBe('openai');
    expect(detection.reason).toMatch(
      /no probe answered as vLLM, SGLang, llama\.cpp or Ollama do: taken as a generic OpenAI-compatible server \(no continuation\)/,
    );
    expect(detection.probes.every((p) => p.status === 404 && !p.matched)).toBe(true);
  });

  it('sends the API key with every probe', async () => {
    const server = at('llamacpp');
    const before = server.probes.length;
    await detectVendor({ baseUrl: server.baseUrl, apiKey: 'sk-probe' });
    const sent = server.probes.slice(before);
    expect(sent).toHaveLength(6);
    expect(sent.every((p) => p.headers.authorization === 'Bearer sk-probe')).toBe(true);
  });

  it('says when the probes were refused for want of an API key', async () => {
    const locked = await startVendorServer('llamacpp', () => ({ content: 'x' }), { apiKey: 'sk-right' });
    try {
      const without = await detectVendor({ baseUrl: locked.baseUrl });
      expect(without.vendor).toBe('openai');
      expect(without.reason).toMatch(
        /GET \/props answered HTTP 401: the server wants an API key, and none was sent\).*pass --vendor/,
      );
      const wrong = await detectVendor({ baseUrl: locked.baseUrl, apiKey: 'sk-wrong' });
      expect(wrong.reason).toMatch(/the server wants an API key, and refused the one sent/);
      const right = await detectVendor({ baseUrl: locked.baseUrl, apiKey: 'sk-right' });
      expect(right.vendor).toBe('llamacpp');
    } finally {
      await locked.close();
    }
  });

  it('does not probe the hosted OpenAI API', async () => {
    const calls: string[] = [];
    const fetch = (async (url: string) => {
      calls.push(url);
      return new Response('{}');
    }) as typeof globalThis.fetch;
    const detection = await detectVendor({ baseUrl: 'https://api.openai.com/v1', fetch });
    expect(detection).toMatchObject({ vendor: 'openai', probes: [] });
    expect(detection.reason).toMatch(/api\.openai\.com is the hosted OpenAI API/);
    expect(calls).toEqual([]);
  });

  it('never throws: a refused connection is generic openai with the reason', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const detection = await detectVendor({ baseUrl: `http://127.0.0.1:${port}/v1` });
    expect(detection.vendor).toBe('openai');
    expect(detection.reason).toMatch(/no probe was answered \(ECONNREFUSED\)/);
    const bad = await detectVendor({ baseUrl: 'not a url' });
    expect(bad).toMatchObject({ vendor: 'openai', probes: [] });
  });

  it('gives up on a server that never answers when the overall timeout ends', async () => {
    // A fetch that answers only by failing when its signal aborts: the outcome cannot depend on speed.
    const fetch = ((_url: string, init: RequestInit) =>
      new Promise<Response>((_resolve, reject) => {
        init.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true });
      })) as typeof globalThis.fetch;
    const detection = await detectVendor({ baseUrl: 'http://10.255.255.1:8000/v1', fetch, timeoutMs: 20 });
    expect(detection.vendor).toBe('openai');
    expect(detection.probes.every((p) => p.note === 'timed out')).toBe(true);
    expect(detection.reason).toMatch(/no probe was answered \(timed out\)/);
  });

  it('reads a bounded part of a body: an endless /metrics without vllm: lines is cut, not read to the end', async () => {
    let served = 0;
    const endless = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      const line = `process_cpu_seconds_total ${'0'.repeat(1000)}\n`;
      const pump = (): void => {
        while (!res.destroyed && served < 64 << 20) {
          served += line.length;
          if (!res.write(line)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    await new Promise<void>((r) => endless.listen(0, '127.0.0.1', r));
    const port = (endless.address() as AddressInfo).port;
    try {
      const detection = await detectVendor({ baseUrl: `http://127.0.0.1:${port}/v1`, maxBodyBytes: 4096 });
      expect(detection.vendor).toBe('openai');
      expect(detection.probes.find((p) => p.probe === 'GET /metrics')?.note).toBe(
        'answered, but with no vllm: metrics',
      );
      expect(served).toBeLessThan(64 << 20);
    } finally {
      endless.closeAllConnections();
      await new Promise<void>((r) => endless.close(() => r()));
    }
  });

  it('a /version alone is not enough for vLLM', async () => {
    const fetch = (async (url: string) =>
      String(url).endsWith('/version') && !String(url).endsWith('/api/version')
        ? new Response(JSON.stringify({ version: '1.2.3' }))
        : new Response('no', { status: 404 })) as typeof globalThis.fetch;
    const detection = await detectVendor({ baseUrl: 'http://127.0.0.1:1/v1', fetch });
    expect(detection.vendor).toBe('openai');
    expect(detection.reason).toMatch(
      /GET \/version answered \{"version": "1\.2\.3"\}, but GET \/metrics has no vllm: lines \(as vLLM started with --disable-log-stats: then pass --vendor vllm\)/,
    );
  });
});

describe('detectVendorOnce', () => {
  it('probes each base URL once per process and shares the verdict', async () => {
    const server = await startVendorServer('ollama', () => ({ content: 'x' }));
    try {
      const [a, b] = await Promise.all([
        detectVendorOnce({ baseUrl: server.baseUrl }),
        detectVendorOnce({ baseUrl: `${server.baseUrl}/` }),
      ]);
      const c = await detectVendorOnce({ baseUrl: server.baseUrl });
      expect(a.vendor).toBe('ollama');
      expect(b).toBe(a);
      expect(c).toBe(a);
      expect(server.probes).toHaveLength(6);
    } finally {
      await server.close();
    }
  });
});
