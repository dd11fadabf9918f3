/**
 * A load test on loopback: many concurrent clients, a fixed number of requests each, against
 * `gtalign serve` in front of a streaming upstream, some sending garbage (broken JSON, wrong types,
 * oversized bodies, bad keys, raw non-HTTP bytes) or disconnecting mid-stream. The server must not crash,
 * must leak no upstream request, and must answer every well-formed request with 200 and the right text.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpenAIModel } from '../../src/llm/openai.js';
import type { RunningServer } from '../../src/server/listen.js';
import { type ProxyApp, startProxyServer } from '../../src/server/proxy.js';
import { type OpenAIStubServer, startOpenAIStubServer } from '../support/openai-stub-server.js';
import { dinosaurScript, QUESTION, RESPONSES } from './scripted-upstream.js';

const KEY = 'load-key';
/** Requests per client: a count, not a time window, so that how many of each kind run is not up to speed. */
const REQUESTS_PER_CLIENT = 10;
const CLIENTS = 32;

let upstream: OpenAIStubServer;
let proxy: RunningServer & { app: ProxyApp };

beforeAll(async () => {
  upstream = await startOpenAIStubServer(dinosaurScript({ chunkSize: 8, chunkDelayMs: 3 }));
  proxy = await startProxyServer({
    model: createOpenAIModel({ baseUrl: upstream.baseUrl, model: 'stub', vendor: 'vllm', maxRetries: 0 }),
    apiKeys: [KEY],
    limits: { maxBodyBytes: 64 * 1024 },
    log: () => {},
  });
});
afterAll(async () => {
  await proxy.close();
  await upstream.close();
});

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const headers = { 'content-type': 'application/json', authorization: `Bearer ${KEY}` };
const goodBody = (stream: boolean, policy: string) =>
  JSON.stringify({
    model: 'm',
    messages: [{ role: 'user', content: QUESTION }],
    stream,
    gtalign: { policy },
  });
const expected = (policy: string) => (policy === 'paper-api' ? RESPONSES.DA : RESPONSES.CQ);

type Outcome = { kind: string; ok: boolean; detail?: string };

async function goodJson(url: string, policy: string): Promise<Outcome> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers,
    body: goodBody(false, policy),
  });
  const body = (await res.json()) as { choices?: Array<{ message: { content: string } }> };
  const ok = res.status === 200 && body.choices?.[0]?.message.content === expected(policy);
  return { kind: 'good-json', ok, detail: `${res.status} ${JSON.stringify(body).slice(0, 200)}` };
}

async function goodStream(url: string, policy: string): Promise<Outcome> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers,
    body: goodBody(true, policy),
  });
  const text = await res.text();
  let content = '';
  let done = false;
  let gtalign = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: ')) continue;
    const data = line.slice(6);
    if (data === '[DONE]') {
      done = true;
      continue;
    }
    const chunk = JSON.parse(data) as { choices: Array<{ delta: { content?: string } }>; gtalign?: unknown };
    content += chunk.choices[0]?.delta.content ?? '';
    if (chunk.gtalign !== undefined) gtalign = true;
  }
  const ok = res.status === 200 && done && gtalign && content === expected(policy);
  return { kind: 'good-stream', ok, detail: `${res.status} ${text.slice(0, 200)}` };
}

async function garbage(url: string, r: () => number): Promise<Outcome> {
  const pick = Math.floor(r() * 7);
  const post = (body: string, h: Record<string, string> = headers) =>
    fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: h, body });
  let status: number;
  switch (pick) {
    case 0:
      status = (await post('{"messages": [{"role": "us')).status;
      break;
    case 1:
      status = (await post(JSON.stringify({ messages: [{ role: 'user', content: 42 }] }))).status;
      break;
    case 2:
      status = (await post(goodBody(false, 'none'), { ...headers, authorization: 'Bearer wrong' })).status;
      break;
    case 3:
      status = (await post(JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(100_000) }] })))
        .status;
      break;
    case 4:
      status = (await post(goodBody(false, 'none'), { ...headers, 'content-type': 'text/plain' })).status;
      break;
    case 5:
      status = (await fetch(`${url}/v1/${'x'.repeat(Math.floor(r() * 50))}`, { headers })).status;
      break;
    default: {
      // Raw bytes that are not HTTP at all.
      await new Promise<void>((resolve) => {
        const socket = connect(proxy.port, '127.0.0.1', () =>
          socket.end('\x00\x01GARBAGE / NOT-HTTP\r\n\r\n'),
        );
        socket.on('error', () => resolve());
        socket.on('close', () => resolve());
        socket.resume();
      });
      return { kind: 'garbage', ok: true };
    }
  }
  const ok = status >= 400 && status < 500;
  return { kind: 'garbage', ok, detail: `case ${pick}: status ${status}` };
}

async function disconnect(url: string, r: () => number): Promise<Outcome> {
  const controller = new AbortController();
  const stream = r() < 0.7;
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers,
      body: goodBody(stream, 'none'),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    setTimeout(() => controller.abort(), Math.floor(r() * 30));
    while (!(await reader.read()).done) {
      // read until aborted (or done)
    }
  } catch {
    // the abort
  }
  controller.abort();
  return { kind: 'disconnect', ok: true };
}

async function earlyDisconnect(url: string, r: () => number): Promise<Outcome> {
  const controller = new AbortController();
  setTimeout(() => controller.abort(), Math.floor(r() * 20));
  try {
    await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers,
      body: goodBody(false, 'paper-api'),
      signal: controller.signal,
    }).then((res) => res.text());
  } catch {
    // the abort
  }
  return { kind: 'early-disconnect', ok: true };
}

describe('load', () => {
  it(`${CLIENTS} concurrent clients, ${REQUESTS_PER_CLIENT} requests each: no crash, no leaked upstream request, every well-formed request answered`, async () => {
    const outcomes: Outcome[] = [];
    const client = async (seed: number) => {
      const r = rng(seed);
      for (let i = 0; i < REQUESTS_PER_CLIENT; i++) {
        const x = r();
        const policy = r() < 0.5 ? 'paper-api' : 'none';
        let outcome: Outcome;
        try {
          if (x < 0.3) outcome = await goodJson(proxy.url, policy);
          else if (x < 0.6) outcome = await goodStream(proxy.url, policy);
          else if (x < 0.8) outcome = await garbage(proxy.url, r);
          else if (x < 0.92) outcome = await disconnect(proxy.url, r);
          else outcome = await earlyDisconnect(proxy.url, r);
        } catch (err) {
          outcome = { kind: 'exception', ok: false, detail: String(err) };
        }
        outcomes.push(outcome);
        if (r() < 0.1) await sleep(1);
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i + 1)));

    const failed = outcomes.filter((o) => !o.ok);
    expect(failed.slice(0, 5)).toEqual([]);
    const count = (kind: string) => outcomes.filter((o) => o.kind === kind).length;
    expect(count('good-json')).toBeGreaterThan(20);
    expect(count('good-stream')).toBeGreaterThan(20);
    expect(count('garbage')).toBeGreaterThan(10);
    expect(count('disconnect') + count('early-disconnect')).toBeGreaterThan(10);

    // Every upstream request ended: aborted ones included. The deadline only bounds a hang (the loop ends
    // as soon as they have); it is wide so that a busy machine, running other test files beside this one, passes.
    const settleUntil = Date.now() + 20_000;
    while ((upstream.inFlight > 0 || proxy.app.activeTurns > 0) && Date.now() < settleUntil) await sleep(10);
    expect(upstream.inFlight).toBe(0);
    expect(proxy.app.activeTurns).toBe(0);
    // Still healthy.
    expect((await goodJson(proxy.url, 'paper-api')).ok).toBe(true);
    const health = (await (await fetch(`${proxy.url}/healthz`)).json()) as { active_turns: number };
    expect(health.active_turns).toBe(0);
  }, 30_000);
});
