/**
 * The access log (access-log.ts) of `gtalign serve` and `gtalign reward serve`, in process, in front of a
 * SCRIPTED loopback upstream (the paper's dinosaur example): one JSON line per request, written when its
 * response has ended.
 *
 * Shown: each request's line has its status, route, duration and key fingerprint, and a turn's line its
 * action, cell, policy and tokens, equal to what the response reported; a refusal's line its error code;
 * a reward request's line its samples and failures; the key itself never appears. A full disk (/dev/full)
 * is reported once and the server goes on answering, its lines counted as dropped on /metrics; lines are
 * dropped, not queued without bound, when the file does not keep up.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessLog, MAX_PENDING_BYTES, openAccessLog } from '../../src/server/access-log.js';
import { startProxyServer } from '../../src/server/proxy.js';
import { startRewardServer } from '../../src/server/reward.js';
import { PRESETS } from '../../src/steering/presets.js';
import {
  type OpenAIStubServer,
  type StubRequestBody,
  startOpenAIStubServer,
  stubModel,
} from '../support/openai-stub-server.js';
import { waitFor } from '../support/wait-for.js';
import { dinosaurScript, QUESTION } from './scripted-upstream.js';

const KEY = 'sk-access-log-secret-key-0123456789';
const FINGERPRINT = `sha256:${createHash('sha256').update(KEY).digest('hex').slice(0, 12)}`;

let upstream: OpenAIStubServer;
let dir: string;
beforeAll(async () => {
  upstream = await startOpenAIStubServer(dinosaurScript());
  dir = await mkdtemp(join(tmpdir(), 'gtalign-access-log-'));
});
afterAll(async () => {
  await upstream?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const model = () => stubModel(upstream);
const lines = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

function post(url: string, body: unknown, key = KEY, signal?: AbortSignal): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
    ...(signal === undefined ? {} : { signal }),
  });
}

/** Stage 2 continues the assistant message stage 1 wrote; stage 1's request ends with the user's. */
const isStage2 = (body: StubRequestBody): boolean =>
  (body.messages as Array<{ role: string }>).at(-1)?.role === 'assistant';

describe('gtalign serve', () => {
  it('writes one line per request: status, route, key fingerprint, and a turn’s action, policy and tokens', async () => {
    const path = join(dir, 'serve.log');
    const problems: string[] = [];
    const accessLog = await openAccessLog(path, process.stdout, (l) => problems.push(l));
    const proxy = await startProxyServer({
      model: model(),
      modelName: 'gtalign-dino',
      policy: PRESETS.api,
      apiKeys: [KEY],
      accessLog,
      log: () => {},
    });
    const chat = (await (
      await post(`${proxy.url}/v1/chat/completions`, { messages: [{ role: 'user', content: QUESTION }] })
    ).json()) as {
      gtalign: { action: string; cell: string };
      usage: {
        prompt_tokens: number;
        completion_tokens: number;
        prompt_tokens_details: { cached_tokens: number };
      };
    };
    const streamed = await (
      await post(`${proxy.url}/v1/chat/completions`, {
        messages: [{ role: 'user', content: QUESTION }],
        stream: true,
        gtalign: { policy: 'none' },
      })
    ).text();
    expect(streamed).toContain('data: [DONE]');
    const responses = (await (await post(`${proxy.url}/v1/responses`, { input: QUESTION })).json()) as {
      gtalign: { cell: string };
    };
    const refused = await post(`${proxy.url}/v1/chat/completions`, { messages: [] }, KEY);
    expect(refused.status).toBe(400);
    expect((await post(`${proxy.url}/v1/chat/completions`, {}, 'sk-wrong')).status).toBe(401);
    expect((await fetch(`${proxy.url}/nowhere`)).status).toBe(404);
    await proxy.close();
    await accessLog.close();

    const log = lines(path);
    expect(log.map((l) => [l.method, l.route, l.status])).toEqual([
      ['POST', '/v1/chat/completions', 200],
      ['POST', '/v1/chat/completions', 200],
      ['POST', '/v1/responses', 200],
      ['POST', '/v1/chat/completions', 400],
      ['POST', '/v1/chat/completions', 401],
      ['GET', 'unmatched', 404],
    ]);
    for (const l of log) {
      expect(l.time).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(typeof l.ms).toBe('number');
      expect(l.remote).toBe('127.0.0.1');
      expect(l.id).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(new Set(log.map((l) => l.id)).size).toBe(log.length);
    expect(log[0]).toMatchObject({
      key: FINGERPRINT,
      completed: true,
      turn: {
        action: chat.gtalign.action,
        cell: chat.gtalign.cell,
        policy: 'api',
        stages: 2,
        tokens: {
          prompt: chat.usage.prompt_tokens,
          cached_prompt: chat.usage.prompt_tokens_details.cached_tokens,
          completion: chat.usage.completion_tokens,
        },
      },
    });
    expect(log[1]).toMatchObject({ turn: { policy: 'none' } });
    expect(log[2]).toMatchObject({ turn: { cell: responses.gtalign.cell } });
    expect(log[3]).toMatchObject({ error: 'invalid_request' });
    // A refusal carries its line's id, which the official clients show as the error's request ID.
    expect(refused.headers.get('x-request-id')).toBe(log[3]!.id);
    expect(log[3]).not.toHaveProperty('turn');
    expect(log[4]).toMatchObject({ error: 'invalid_api_key', key: expect.stringMatching(/^sha256:/) });
    expect(log[4]!.key).not.toBe(FINGERPRINT);
    expect(log[5]).toMatchObject({ key: null });
    expect(readFileSync(path, 'utf8')).not.toContain(KEY);
    expect(problems).toEqual([]);
  });

  it('a client that leaves before its answer is a 499; a stream that fails part-way names its error; both note the stage they paid for', async () => {
    const path = join(dir, 'left.log');
    const accessLog = await openAccessLog(path, process.stdout, () => {});
    const proxy = await startProxyServer({ model: model(), apiKeys: [KEY], accessLog, log: () => {} });
    const url = `${proxy.url}/v1/chat/completions`;
    const messages = [{ role: 'user', content: QUESTION }];
    const dino = dinosaurScript();
    let metrics = '';
    try {
      // Stage 1 answers, stage 2 never does, and the client gives up: no status line was ever sent to it.
      upstream.setHandler((body) => (isStage2(body) ? { hang: true } : dino(body)));
      upstream.requests.length = 0; // earlier tests' stage-2 requests must not pass for this one's
      const leaving = new AbortController();
      const left = post(url, { messages }, KEY, leaving.signal).catch(() => 'left');
      await waitFor(() => upstream.inFlight === 1 && upstream.requests.some((r) => isStage2(r.body!)));
      leaving.abort();
      expect(await left).toBe('left');
      await waitFor(() => upstream.inFlight === 0);
      // The stream opens once stage 1 has a matrix; then stage 2 fails, in the stream.
      upstream.setHandler((body) => (isStage2(body) ? { status: 500, errorMessage: 'down' } : dino(body)));
      const streamed = await (await post(url, { messages, stream: true })).text();
      expect(streamed).toContain('"code":"upstream_error"');
      metrics = await (
        await fetch(`${proxy.url}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })
      ).text();
    } finally {
      upstream.setHandler(dinosaurScript());
      await proxy.close();
      await accessLog.close();
    }
    expect(metrics).toContain(
      'gtalign_http_requests_total{route="/v1/chat/completions",method="POST",status="499"} 1',
    );
    const log = lines(path).filter((l) => l.route === '/v1/chat/completions');
    expect(log).toHaveLength(2);
    expect(log[0]).toMatchObject({ status: 499, completed: false, remote: '127.0.0.1', key: FINGERPRINT });
    expect(log[1]).toMatchObject({ status: 200, completed: true, error: 'upstream_error' });
    // Each paid for the same stage 1 (the same prompt), and /metrics counts both.
    const paid = log[0]!.turn as { policy: string; stages: number; tokens: { completion: number } };
    expect(paid).toMatchObject({ policy: 'none', stages: 1 });
    expect(paid.tokens.completion).toBeGreaterThan(0);
    expect(log[1]!.turn).toEqual(paid);
    expect(metrics).toContain(
      `gtalign_tokens_total{stage="stage1",kind="completion"} ${2 * paid.tokens.completion}`,
    );
  });

  it('a background response: the request’s line names it, and its run has a line of its own when it ends', async () => {
    const path = join(dir, 'background.log');
    const accessLog = await openAccessLog(path, process.stdout, () => {});
    const proxy = await startProxyServer({ model: model(), apiKeys: [KEY], accessLog, log: () => {} });
    const created = (await (
      await post(`${proxy.url}/v1/responses`, { input: QUESTION, background: true })
    ).json()) as {
      id: string;
    };
    let done: { status: string; gtalign?: { cell: string } } = { status: 'queued' };
    while (done.status === 'queued' || done.status === 'in_progress') {
      const res = await fetch(`${proxy.url}/v1/responses/${created.id}`, {
        headers: { authorization: `Bearer ${KEY}` },
      });
      done = (await res.json()) as typeof done;
    }
    await proxy.close();
    await accessLog.close();
    const log = lines(path);
    expect(log[0]).toMatchObject({
      route: '/v1/responses',
      status: 200,
      response: created.id,
      background: true,
    });
    expect(log[0]).not.toHaveProperty('turn');
    const run = log.find((l) => l.kind === 'background');
    expect(run).toMatchObject({
      id: log[0]!.id,
      response: created.id,
      outcome: 'completed',
      key: FINGERPRINT,
      turn: { cell: done.gtalign!.cell, stages: 2 },
    });
  });

  it('a full disk is reported once; the server goes on answering, its lines counted as dropped', async () => {
    if (!existsSync('/dev/full')) return;
    const problems: string[] = [];
    const accessLog = await openAccessLog('/dev/full', process.stdout, (l) => problems.push(l));
    const proxy = await startProxyServer({ model: model(), accessLog, log: () => {} });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await post(`${proxy.url}/v1/chat/completions`, {
          messages: [{ role: 'user', content: QUESTION }],
        });
        expect(res.status).toBe(200);
        await res.text();
      }
      await expect.poll(() => problems.length).toBe(1);
      expect(problems[0]).toMatch(
        /the access log \/dev\/full cannot be written \(.*ENOSPC.*\); requests are served without it/,
      );
      expect((await fetch(`${proxy.url}/healthz`)).status).toBe(200);
      const metrics = await (await fetch(`${proxy.url}/metrics`)).text();
      const dropped = Number(/^gtalign_access_log_dropped_total (\d+)/m.exec(metrics)?.[1]);
      expect(dropped).toBeGreaterThanOrEqual(1);
      expect(problems).toHaveLength(1);
    } finally {
      await proxy.close();
      await accessLog.close();
    }
  });
});

describe('gtalign reward serve', () => {
  it('notes each request’s samples and failures', async () => {
    const path = join(dir, 'reward.log');
    const accessLog = await openAccessLog(path, process.stdout, () => {});
    const server = await startRewardServer({ clipVerdicts: true, accessLog, log: () => {} });
    const sample = {
      id: 'a',
      data_source: 'math-hard',
      response: '<response>4</response>',
      ground_truth: '4',
    };
    // The third sample's response is not text: it fails.
    const res = await fetch(`${server.url}/v1/reward/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        samples: [
          { ...sample, verdict: 1 },
          { ...sample, id: 'b', verdict: 0 },
          { ...sample, id: 'c', response: 5 },
        ],
      }),
    });
    expect(res.status).toBe(200);
    await res.text();
    await server.close();
    await accessLog.close();
    expect(lines(path)).toEqual([
      expect.objectContaining({ route: '/v1/reward/score', status: 200, samples: 3, failed: 1, key: null }),
    ]);
  });
});

describe('a file that does not keep up', () => {
  it('drops lines past the bound instead of queueing them', () => {
    // A file that never finishes a write.
    const stuck = new Writable({ write: () => {} });
    const log = new AccessLog(stuck, 'stuck', () => {}, false);
    const entry = { pad: 'x'.repeat(1000) };
    const fits = Math.ceil(MAX_PENDING_BYTES / 1012) + 1;
    for (let i = 0; i < fits + 1000; i++) log.write(entry);
    expect(stuck.writableLength).toBeLessThan(MAX_PENDING_BYTES + 2000);
    expect(log.dropped).toBeGreaterThanOrEqual(900);
  });

  it('refuses at start a file that cannot be opened, naming it', async () => {
    const path = join(dir, 'no-such-folder', 'x.log');
    await expect(openAccessLog(path, process.stdout, () => {})).rejects.toThrow(`cannot open ${path}`);
  });
});
