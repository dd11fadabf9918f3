/**
 * A reward server restart does not fail the trainer's step: the Python client goes on retrying a server
 * that is down (connection refused or reset before any answer, 503) for GTALIGN_REWARD_RETRY_SECONDS,
 * past its GTALIGN_REWARD_RETRIES, and then raises naming what it saw. AReaL's calls stay within its 15 s.
 *
 * No timing race: the server comes up when the test has seen the client's Nth attempt (a reset or a 503
 * the test counts), or its warning that the server is down (refused connections cannot be counted); the
 * client's budget (60 s) only has to outlast the test's reaction. Backoff is short through its setting.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { type AddressInfo, createServer, type Server as NetServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/listen.js';
import { createRewardApp } from '../../src/server/reward.js';
import {
  CASES,
  deadUrl,
  lastJson,
  PRELUDE,
  PYTHON,
  runPython,
  startOfflineServer,
} from './python-support.js';

const sample = CASES.find((c) => c.expected.score > 0)!;

/** Budget far above the test's reaction time; short waits between attempts. */
const RETRYING = { GTALIGN_REWARD_RETRY_SECONDS: '60', GTALIGN_REWARD_BACKOFF: '0.01' };

function scoreScript(mode: string): string {
  const args = 'c["data_source"], c["response"], c["ground_truth"], extra(c), url=URL';
  const call = mode === 'sync' ? `gr.compute_score_sync(${args})` : `asyncio.run(gr.compute_score(${args}))`;
  return `${PRELUDE}
import gtalign_reward as gr
c = [x for x in cases if x["id"] == ${JSON.stringify(sample.id)}][0]
print(json.dumps(${call}["score"]))
`;
}

function listening(server: Server | NetServer): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

function closed(server: Server | NetServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

describe.skipIf(PYTHON === undefined)('the reward client while the server restarts', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });

  for (const mode of ['sync', 'async']) {
    it(`${mode}: connections refused until the server comes up, with retries 1: scored, one warning`, async () => {
      const url = await deadUrl();
      const port = Number(new URL(url).port);
      let up: Promise<RunningServer> | undefined;
      const r = await runPython(
        scoreScript(mode),
        url,
        { ...RETRYING, GTALIGN_REWARD_RETRIES: '1' },
        (err) => {
          if (up === undefined && err.includes('retrying for up to')) {
            up = startOfflineServer({ port });
            cleanup.push(async () => (await up!).close());
          }
        },
      );
      expect(up).toBeDefined();
      expect(lastJson<number>(r)).toBeCloseTo(sample.expected.score, 9);
      const warnings = r.err.trim().split('\n');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(
        new RegExp(`gtalign reward: cannot reach ${url}: .*refused.*; retrying for up to 60 s`, 'i'),
      );
    });

    it(`${mode}: 6 connections reset before any answer (more than the 5 retries), then up: scored`, async () => {
      const server = await startOfflineServer();
      cleanup.push(() => server.close());
      let connections = 0;
      const gate = createServer((socket) => {
        connections++;
        if (connections <= 6) socket.resetAndDestroy();
        else server.server.emit('connection', socket);
      });
      const url = await listening(gate);
      cleanup.push(() => closed(gate));
      const r = await runPython(scoreScript(mode), url, RETRYING);
      expect(lastJson<number>(r)).toBeCloseTo(sample.expected.score, 9);
      expect(connections).toBe(7);
    });

    it(`${mode}: 6 answers of 503 (more than the 5 retries), then up: scored`, async () => {
      const app = createRewardApp({ clipVerdicts: true, log: () => {} });
      let requests = 0;
      const gate = createHttpServer((req, res) => {
        requests++;
        if (requests > 6) return app.handler(req, res);
        req.resume();
        res.writeHead(503, { 'content-type': 'text/plain' }).end('no healthy upstream');
      });
      const url = await listening(gate);
      cleanup.push(() => {
        gate.closeAllConnections();
        return closed(gate);
      });
      const r = await runPython(scoreScript(mode), url, RETRYING);
      expect(lastJson<number>(r)).toBeCloseTo(sample.expected.score, 9);
      expect(requests).toBe(7);
    });
  }

  it('a server down for good: raises after the budget, naming the refusal and the attempts', async () => {
    const url = await deadUrl();
    const r = await runPython(
      `${PRELUDE}
import gtalign_reward as gr
print(json.dumps(failed_with(lambda: gr.client(url=URL).post("/v1/reward/score", {"samples": []}))))
`,
      url,
      { GTALIGN_REWARD_RETRY_SECONDS: '0.2', GTALIGN_REWARD_BACKOFF: '0.01' },
    );
    expect(lastJson<string>(r)).toMatch(
      new RegExp(
        `^GtalignRewardError: gtalign reward: cannot reach ${url}: .*refused.* \\(gave up after \\d+ attempts in [\\d.]+ s\\)$`,
        'i',
      ),
    );
  });

  it('AReaL: 3 connections reset, then up: scored by its one-attempt default', async () => {
    const server = await startOfflineServer();
    cleanup.push(() => server.close());
    let connections = 0;
    const gate = createServer((socket) => {
      connections++;
      if (connections <= 3) socket.resetAndDestroy();
      else server.server.emit('connection', socket);
    });
    const url = await listening(gate);
    cleanup.push(() => closed(gate));
    const r = await runPython(
      `${PRELUDE}
import gtalign_reward as gr
del os.environ["GTALIGN_REWARD_RETRY_SECONDS"]
os.environ["GTALIGN_REWARD_URL"] = URL
c = [x for x in cases if x["id"] == ${JSON.stringify(sample.id)}][0]
print(json.dumps(gr.areal_reward("p", c["response"], [1], [2], data_source=c["data_source"], ground_truth=c["ground_truth"], extra_info=extra(c))))
`,
      url,
      { GTALIGN_REWARD_BACKOFF: '0.01' },
    );
    expect(lastJson<number>(r)).toBeCloseTo(sample.expected.score, 9);
    expect(connections).toBe(4);
  });

  it("AReaL: a server down for good fails the call well within AReaL's 15 s (default settings)", async () => {
    const url = await deadUrl();
    const r = await runPython(
      `${PRELUDE}
import time
import gtalign_reward as gr
del os.environ["GTALIGN_REWARD_RETRY_SECONDS"]
os.environ["GTALIGN_REWARD_URL"] = URL
c = cases[0]
start = time.monotonic()
error = failed_with(lambda: gr.areal_reward("p", c["response"], [1], [2], data_source=c["data_source"], ground_truth=c["ground_truth"], extra_info=extra(c)))
print(json.dumps({"error": error, "seconds": time.monotonic() - start}))
`,
      url,
    );
    const out = lastJson<{ error: string; seconds: number }>(r);
    expect(out.error).toMatch(/^GtalignRewardError: gtalign reward: cannot reach .*refused.*gave up after/i);
    // The budget is 14 s less the 10 s timeout; a refused connection takes no time of its own.
    expect(out.seconds).toBeLessThan(15);
  });
});
