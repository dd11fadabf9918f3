/**
 * A client that goes away cancels the upstream work in every path: the proxy's non-streaming and streaming
 * turns, in stage 1 and in stage 2, and the reward server's judge calls. And a client that sends its body
 * too slowly is cut off with 408.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createOpenAIModel } from '../../src/llm/openai.js';
import { createJudge } from '../../src/reward/judge.js';
import type { RunningServer } from '../../src/server/listen.js';
import { type ProxyApp, startProxyServer } from '../../src/server/proxy.js';
import { startRewardServer } from '../../src/server/reward.js';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';
import { waitFor } from '../support/wait-for.js';
import { dinosaurScript, QUESTION } from './scripted-upstream.js';

const cases = readFileSync(new URL('../fixtures/reward-parity.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as Record<string, unknown>);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let upstream: OpenAIStubServer;
let proxy: RunningServer & { app: ProxyApp };

beforeAll(async () => {
  upstream = await startOpenAIStubServer(dinosaurScript());
  proxy = await startProxyServer({
    model: createOpenAIModel({ baseUrl: upstream.baseUrl, model: 'stub', vendor: 'vllm', maxRetries: 0 }),
    log: () => {},
  });
});
afterAll(async () => {
  await proxy.close();
  await upstream.close();
});
beforeEach(() => {
  upstream.requests.length = 0;
});

/** Stage 1 hangs (or stage 2 hangs, after a normal stage 1). */
function hangIn(stage: 1 | 2) {
  const script = dinosaurScript();
  return (body: Parameters<ReturnType<typeof dinosaurScript>>[0]) => {
    const messages = body.messages as Array<{ role: string }>;
    const isStage2 = messages.at(-1)?.role === 'assistant';
    if ((stage === 1 && !isStage2) || (stage === 2 && isStage2)) return { hang: true };
    return script(body);
  };
}

async function abandon(stream: boolean, stage: 1 | 2): Promise<void> {
  upstream.setHandler(hangIn(stage));
  const controller = new AbortController();
  const pending = fetch(`${proxy.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: QUESTION }], stream }),
    signal: controller.signal,
  })
    .then((res) => res.text())
    .catch(() => 'aborted');
  await waitFor(() => upstream.requests.length === stage && upstream.inFlight === 1);
  expect(proxy.app.activeTurns).toBe(1);
  controller.abort();
  expect(await pending).toBe('aborted');
  // The hung upstream request ends at once (the upstream timeout is 300 s).
  await waitFor(() => upstream.inFlight === 0);
  await waitFor(() => proxy.app.activeTurns === 0);
  expect(upstream.requests).toHaveLength(stage);
}

describe('proxy: a client that disconnects cancels the upstream request', () => {
  it('non-streaming, during stage 1', () => abandon(false, 1));
  it('non-streaming, during stage 2', () => abandon(false, 2));
  it('streaming, during stage 1 (before the status line)', () => abandon(true, 1));
  it('streaming, during stage 2', () => abandon(true, 2));
});

describe('reward server: a client that disconnects cancels the judge calls', () => {
  it('no judge request outlives the client, and no new one starts', async () => {
    const judgeServer = await startOpenAIStubServer(() => ({ hang: true }));
    const server = await startRewardServer({
      judge: createJudge({
        baseUrl: judgeServer.baseUrl,
        model: 'judge',
        // Every sample of the window goes out at once (a call still queued in the judge's own limiter is
        // the judge's business).
        concurrency: 8,
        retry: { attempts: 1 },
        env: {},
      }),
      mathCheck: false,
      concurrency: 4,
      log: () => {},
    });
    try {
      // Scorable parity cases sent without their verdict: each needs the judge.
      const samples = cases
        .filter((c) => (c.expected as { score: number }).score > 0)
        .slice(0, 8)
        .map(({ verdict: _v, expected: _e, ...rest }) => rest);
      const controller = new AbortController();
      const pending = fetch(`${server.url}/v1/reward/score`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ samples }),
        signal: controller.signal,
      }).catch(() => 'aborted');
      await waitFor(() => judgeServer.inFlight === 4);
      controller.abort();
      expect(await pending).toBe('aborted');
      await waitFor(() => judgeServer.inFlight === 0);
      await sleep(100);
      // The samples after the window never reached the judge.
      expect(judgeServer.requests).toHaveLength(4);
      expect(judgeServer.inFlight).toBe(0);
    } finally {
      await server.close();
      await judgeServer.close();
    }
  });
});

describe('reward server: many judge calls on one request', () => {
  it('print no listener-leak warning (each call listens on the request signal)', async () => {
    const judgeServer = await startOpenAIStubServer(() => ({ content: '\\boxed{1}', delayMs: 20 }));
    const server = await startRewardServer({
      judge: createJudge({ baseUrl: judgeServer.baseUrl, model: 'judge', concurrency: 32, env: {} }),
      mathCheck: false,
      concurrency: 64,
      log: () => {},
    });
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const samples = cases
        .filter((c) => (c.expected as { score: number }).score > 0)
        .slice(0, 64)
        .map(({ verdict: _v, expected: _e, ...rest }, i) => ({ ...rest, extra_info: { question: `q${i}` } }));
      const res = await fetch(`${server.url}/v1/reward/score`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ samples }),
      });
      expect(res.status).toBe(200);
      expect(judgeServer.maxInFlight).toBeGreaterThan(10);
      await sleep(10);
      expect(warnings.filter((w) => /MaxListeners/.test(w))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      await server.close();
      await judgeServer.close();
    }
  });
});

describe('slow clients', () => {
  it('a body that trickles in is cut off with 408 once the request timeout passes', async () => {
    const server = await startRewardServer({ log: () => {}, requestTimeoutMs: 300 });
    try {
      const reply = await new Promise<string>((resolve) => {
        let got = '';
        const socket = connect(server.port, '127.0.0.1', () => {
          socket.write(
            'POST /get_reward HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n',
          );
        });
        const trickle = setInterval(() => {
          if (!socket.destroyed) socket.write(' ');
        }, 50);
        socket.on('data', (d: Buffer) => {
          got += d.toString();
        });
        socket.on('error', () => {});
        socket.on('close', () => {
          clearInterval(trickle);
          resolve(got);
        });
      });
      // The trickle never ends the body: only the request timeout can have closed it.
      expect(reply).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      await server.close();
    }
  });

  it('the request timeout does not cut a response that streams for longer', async () => {
    // Stage 2 streams ~75 chunks 30 ms apart (over 2 s); the request, received at once, has 1 s to arrive.
    upstream.setHandler(dinosaurScript({ chunkSize: 2, chunkDelayMs: 30 }));
    const short = await startProxyServer({
      model: createOpenAIModel({ baseUrl: upstream.baseUrl, model: 'stub', vendor: 'vllm', maxRetries: 0 }),
      requestTimeoutMs: 1000,
      log: () => {},
    });
    try {
      const started = Date.now();
      const res = await fetch(`${short.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: QUESTION }], stream: true }),
      });
      const text = await res.text();
      expect(Date.now() - started).toBeGreaterThan(1500);
      expect(res.status).toBe(200);
      expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    } finally {
      await short.close();
    }
  });

  it('headers over the size limit are 431', async () => {
    const res = await fetch(`${proxy.url}/healthz`, { headers: { 'x-big': 'x'.repeat(20_000) } });
    expect(res.status).toBe(431);
  });
});

describe('refused bodies', () => {
  /**
   * Sends the head of a 1 GB request (keep-alive, or `Connection: close`), then an endless body as fast as
   * the connection takes it, reading what comes back; gives up after `giveUpMs`. The body starts only once
   * the head is out: a body written first would reach the server as a malformed request.
   */
  function endlessBody(port: number, close: boolean, giveUpMs: number) {
    return new Promise<{ head: string; closedByServer: boolean }>((resolve) => {
      let head = '';
      let gaveUp = false;
      const chunk = Buffer.alloc(64 * 1024, 32);
      const pump = (): void => {
        while (!socket.destroyed && socket.write(chunk)) {
          // fill the socket's buffer, then wait for 'drain'
        }
      };
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(
          `POST /get_reward HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000000000\r\n${close ? 'connection: close\r\n' : ''}\r\n`,
          pump,
        );
      });
      socket.on('drain', pump);
      socket.on('data', (d: Buffer) => {
        head += d.toString();
      });
      socket.on('error', () => {});
      const timer = setTimeout(() => {
        gaveUp = true;
        socket.destroy();
      }, giveUpMs);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve({ head, closedByServer: !gaveUp });
      });
    });
  }

  it('a request refused before its body is read (no key) is answered, and the rest is not read for long', async () => {
    const server = await startRewardServer({ apiKeys: ['k'], log: () => {} });
    try {
      // Before the fix the server read (and threw away) the whole endless body until the request timeout
      // (60 s); now it stops after REFUSED_BODY_MAX_BYTES or REFUSED_BODY_MAX_MS (10 s).
      const results = await Promise.all(
        [false, true, false].map((close) => endlessBody(server.port, close, 30_000)),
      );
      for (const { head, closedByServer } of results) {
        // The answer arrives even though the client is still sending (no reset before it is read).
        expect(head).toMatch(/^HTTP\/1\.1 401 /);
        expect(head).toMatch(/\r\nconnection: close\r\n/i);
        expect(closedByServer).toBe(true);
      }
    } finally {
      await server.close();
    }
  }, 40_000);

  it('a GET without a body keeps its keep-alive connection after a 404', async () => {
    const res = await fetch(`${proxy.url}/nope`);
    expect(res.status).toBe(404);
    expect(res.headers.get('connection')).not.toBe('close');
  });
});
