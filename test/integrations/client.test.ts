/**
 * The shared HTTP client of integrations/python/gtalign_reward.py: standard library only, keep-alive
 * connections reused, a refusal (4xx) raised at once with the server's message (also when the server
 * answers before it has read the body), never retried.
 */
import { spawn } from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/listen.js';
import { startRewardServer } from '../../src/server/reward.js';
import { REPO_ROOT } from '../support/cli.js';
import { CASES, lastJson, PRELUDE, PYTHON, runPython, startOfflineServer } from './python-support.js';

describe.skipIf(PYTHON === undefined)('gtalign_reward client', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startOfflineServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('loads with the standard library alone (python3 -I -S: no site-packages)', async () => {
    const r = await new Promise<{ code: number | null; err: string }>((resolve, reject) => {
      const child = spawn(
        PYTHON ?? 'python3',
        [
          '-I',
          '-S',
          '-B',
          '-c',
          'import sys; sys.path.insert(0, "integrations/python"); import gtalign_reward',
        ],
        { cwd: REPO_ROOT },
      );
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        err += d;
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, err }));
    });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
  });

  it('reuses keep-alive connections, sync and async', async () => {
    let connections = 0;
    server.server.on('connection', () => connections++);
    const r = await runPython(
      `${PRELUDE}
import gtalign_reward as gr
c = gr.client(url=URL)
rec = gr.make_record(cases[0]["data_source"], cases[0]["response"], cases[0]["ground_truth"], extra(cases[0]))
for _ in range(20):
    c.score([rec])
async def main():
    for _ in range(20):
        await c.ascore([rec])
asyncio.run(main())
print(json.dumps("ok"))
`,
      server.url,
    );
    expect(r.err).toBe('');
    expect(lastJson<string>(r)).toBe('ok');
    expect(connections).toBe(2);
  });

  it("a body over the server's limit is the 413 with the server's message, without retrying, sync and async", async () => {
    const small = await startRewardServer({ limits: { maxBodyBytes: 64 * 1024 }, log: () => {} });
    try {
      const r = await runPython(
        `${PRELUDE}
import gtalign_reward as gr
c = gr.client(url=URL, retries=3)
rec = gr.make_record("math-hard", "x" * (8 << 20), "1", {"verdict": 1})
print(json.dumps({"sync": failed_with(lambda: c.score([rec])), "async": failed_with(lambda: asyncio.run(c.ascore([rec])))}))
`,
        small.url,
      );
      expect(r.err).toBe('');
      const out = lastJson<Record<string, string>>(r);
      const want = `GtalignRewardError: gtalign reward: HTTP 413 from ${small.url}/v1/reward/score: the request body exceeds the server's limit of 65536 bytes`;
      expect(out.sync).toBe(want);
      expect(out.async).toBe(want);
      // A request is counted when its connection closes, which the server may see after the client has
      // exited: wait for both counts (the test's timeout bounds the wait) rather than race the close.
      const counted = /route="\/v1\/reward\/score",method="POST",status="413"\} (\d+)\n/;
      let metrics = '';
      for (;;) {
        metrics = await (await fetch(`${small.url}/metrics`)).text();
        if (Number(counted.exec(metrics)?.[1] ?? 0) >= 2) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(metrics).toMatch(/route="\/v1\/reward\/score",method="POST",status="413"\} 2\n/);
    } finally {
      await small.close();
    }
  });

  it('an answer sent before the body was read (then a reset) is read, not reported as a broken pipe', async () => {
    let connections = 0;
    const abrupt = createServer((socket) => {
      connections++;
      socket.once('data', () => {
        const text = JSON.stringify({ error: { message: 'too large for this proxy' } });
        socket.write(
          `HTTP/1.1 413 Payload Too Large\r\ncontent-type: application/json\r\ncontent-length: ${text.length}\r\nconnection: close\r\n\r\n${text}`,
        );
        socket.destroy();
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => abrupt.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(abrupt.address() as AddressInfo).port}`;
    try {
      const r = await runPython(
        `${PRELUDE}
import gtalign_reward as gr
rec = gr.make_record("math-hard", "x" * (8 << 20), "1", {"verdict": 1})
print(json.dumps(failed_with(lambda: gr.client(url=URL, retries=3).score([rec]))))
`,
        url,
      );
      expect(r.err).toBe('');
      expect(lastJson<string>(r)).toBe(
        `GtalignRewardError: gtalign reward: HTTP 413 from ${url}/v1/reward/score: too large for this proxy`,
      );
      expect(connections).toBe(1);
    } finally {
      await new Promise((resolve) => abrupt.close(resolve));
    }
  });

  it('a connection reset as it opens is retried, sync and async (sync raised AttributeError)', async () => {
    // The first connection of each run is reset at once, as by a server going down; the next is served.
    let connections = 0;
    const gate = createServer((socket) => {
      connections++;
      if (connections % 2 === 1) socket.resetAndDestroy();
      else server.server.emit('connection', socket);
    });
    await new Promise<void>((resolve) => gate.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(gate.address() as AddressInfo).port}`;
    try {
      for (const call of ['c.score([rec])', 'asyncio.run(c.ascore([rec]))']) {
        const r = await runPython(
          `${PRELUDE}
import gtalign_reward as gr
c = gr.client(url=URL, retries=2)
rec = gr.make_record(cases[0]["data_source"], cases[0]["response"], cases[0]["ground_truth"], extra(cases[0]))
print(json.dumps(${call}[0]["score"]))
`,
          url,
        );
        expect(r.err).toBe('');
        expect(lastJson<number>(r)).toBeCloseTo(CASES[0]!.expected.score, 9);
      }
      expect(connections).toBe(4);
    } finally {
      await new Promise((resolve) => gate.close(resolve));
    }
  });

  it('a setting that is not a number in range is refused naming it (a bare ValueError named nothing)', async () => {
    const r = await runPython(
      `${PRELUDE}
import gtalign_reward as gr
out = []
for name, value in [("GTALIGN_REWARD_RETRIES", "five"), ("GTALIGN_REWARD_TIMEOUT", "nan"), ("GTALIGN_REWARD_TIMEOUT", "-1"), ("GTALIGN_REWARD_RETRY_SECONDS", "soon")]:
    os.environ[name] = value
    out.append(failed_with(lambda: gr.client(url=URL)))
    del os.environ[name]
out.append(failed_with(lambda: gr.client(url=URL, backoff="inf")))
print(json.dumps(out))
`,
      server.url,
    );
    expect(r.err).toBe('');
    expect(lastJson<string[]>(r)).toEqual([
      "GtalignRewardError: gtalign reward: GTALIGN_REWARD_RETRIES must be an integer of at least 0, got 'five'",
      "GtalignRewardError: gtalign reward: GTALIGN_REWARD_TIMEOUT must be a number of seconds above 0, got 'nan'",
      "GtalignRewardError: gtalign reward: GTALIGN_REWARD_TIMEOUT must be a number of seconds above 0, got '-1'",
      "GtalignRewardError: gtalign reward: GTALIGN_REWARD_RETRY_SECONDS must be a number of seconds of at least 0, got 'soon'",
      "GtalignRewardError: gtalign reward: backoff must be a number of seconds of at least 0, got 'inf'",
    ]);
  });

  it('a timeout on a kept-alive connection is not sent again on a fresh one (the wait would double)', async () => {
    // A scripted server: it answers the first request at once (the connection is then kept alive) and
    // holds every later one. Counting requests tells a resend apart without timing the client.
    let requests = 0;
    const held: import('node:net').Socket[] = [];
    const slow = createServer((socket) => {
      socket.on('data', (chunk) => {
        for (const _ of chunk.toString('latin1').matchAll(/POST /g)) {
          requests++;
          if (requests === 1) {
            const text = '{"results": [], "summary": {}}';
            socket.write(
              `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${text.length}\r\n\r\n${text}`,
            );
          } else held.push(socket);
        }
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
    try {
      const r = await runPython(
        `${PRELUDE}
import gtalign_reward as gr
c = gr.client(url=URL, retries=1, timeout=0.5)
c.post("/v1/reward/score", {"samples": []})
print(json.dumps(failed_with(lambda: c.post("/v1/reward/score", {"samples": []}))))
`,
        url,
      );
      expect(r.err).toBe('');
      expect(lastJson<string>(r)).toMatch(/^GtalignRewardError: gtalign reward: cannot reach .*timed out/);
      expect(requests).toBe(2);
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => slow.close(resolve));
    }
  });
});
