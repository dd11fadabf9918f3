/**
 * Hostile inputs against the servers (`npx tsx bench/server-hostile.ts`), each server in its own process so
 * that its memory (VmHWM/VmRSS from /proc/PID/status) is its own, not the client's:
 *
 * 1. The reward server and a ~57 MiB `/get_reward` body whose `query` and `labels` arrays hold millions
 *    of numbers: a 400 within 2 s, resident memory under 512 MB. Once with the default sample limit, once
 *    with the limit raised above the arrays' length (so the element checks run).
 * 2. The proxy and a 1 MiB body with half a million numbers as a message's content: a 400 within 200 ms.
 * 3. The proxy in front of an upstream that streams a 300 MB completion: the proxy's memory rises by less
 *    than 64 MB (it gives up at its 16 MiB limit and answers 502).
 *
 * Prints each figure next to its goal; exits non-zero when a goal is missed. Run with `--reward
 * MAX_SAMPLES`, `--proxy UPSTREAM_URL` or `--upstream BYTES`, this file is that server process: it prints
 * its base URL and serves until killed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createOpenAIModel } from '../src/llm/openai.js';
import { startProxyServer } from '../src/server/proxy.js';
import { startRewardServer } from '../src/server/reward.js';
import { fmt } from './util.js';

const HERE = fileURLToPath(import.meta.url);
const MB = 1e6;

interface Child {
  readonly url: string;
  readonly proc: ChildProcess;
  stop(): void;
}

/** Starts this file as a server process; resolves with the URL it prints first. */
async function child(args: string[]): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', HERE, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim());
    });
    proc.once('exit', (code) => reject(new Error(`${HERE} ${args.join(' ')} exited with code ${code}`)));
  });
  return { url, proc, stop: () => proc.kill('SIGTERM') };
}

/** Resident memory of a process in bytes: now (VmRSS) and its peak (VmHWM). */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Seconds the server spent on a route's requests so far, from its own latency histogram. */
async function serverSeconds(url: string, route: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`gtalign_http_request_duration_seconds_sum{route="${route}"}`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

/** CPU time a process has used so far (all threads, user + system), in ms; independent of other load. */
function cpuMsOf(pid: number): number {
  // Fields after the command name (which is in parentheses): state is field 3, utime 14, stime 15.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks * 10; // USER_HZ is 100 on Linux
}

/** Resets the peak (VmHWM) to the current RSS, so that the next peak is the next operation's. */
function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

let missed = 0;
function report(label: string, measured: number, goal: number, unit: string, detail = ''): void {
  const ok = measured <= goal;
  if (!ok) missed++;
  console.log(
    `  ${label.padEnd(58)} ${fmt(measured).padStart(8)} ${unit.padEnd(3)} goal < ${fmt(goal)} ${unit}  ${ok ? 'ok' : 'MISSED'}${detail === '' ? '' : `  (${detail})`}`,
  );
}

/** POSTs a JSON body (encoded before the clock starts) and reads the whole answer. */
function post(url: string, body: string | Buffer): Promise<{ status: number; text: string; ms: number }> {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(bytes.length) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, ms: performance.now() - start }));
      },
    );
    req.on('error', reject);
    req.end(bytes);
  });
}

const message = (text: string): string => {
  try {
    return (JSON.parse(text) as { error: { message: string } }).error.message.slice(0, 90);
  } catch {
    return text.slice(0, 90);
  }
};

/** `[1234567,1234568,…]`: `n` seven-digit numbers. */
function numberArray(n: number): string {
  const parts = new Array<string>(n);
  for (let i = 0; i < n; i++) parts[i] = String(1_000_000 + (i % 9_000_000));
  return `[${parts.join(',')}]`;
}

async function rewardHostile(): Promise<void> {
  // 3.15 M numbers in query and in labels, and as many empty prompts: about 57 MiB, under the 64 MiB limit.
  const n = 3_150_000;
  const numbers = numberArray(n);
  const body = Buffer.from(
    `{"query":${numbers},"prompts":[${new Array<string>(n).fill('""').join(',')}],"labels":${numbers}}`,
  );
  console.log(
    `server-hostile/ reward server: /get_reward with ${(body.length / 1024 / 1024).toFixed(1)} MiB, query and labels ${fmt(n)} numbers each (server in its own process)`,
  );
  for (const maxSamples of [65_536, 10_000_000]) {
    const server = await child(['--reward', String(maxSamples)]);
    try {
      // Warm-up: one small bad request.
      await post(`${server.url}/get_reward`, '{"query":[1],"prompts":["a"],"labels":["{}"]}');
      const pid = server.proc.pid!;
      const before = memoryOf(pid);
      const spentBefore = await serverSeconds(server.url, '/get_reward');
      resetPeak(pid);
      const cpuBefore = cpuMsOf(pid);
      const r = await post(`${server.url}/get_reward`, body);
      const cpuMs = cpuMsOf(pid) - cpuBefore;
      const after = memoryOf(pid);
      const serverMs = ((await serverSeconds(server.url, '/get_reward')) - spentBefore) * 1000;
      const health = await fetch(`${server.url}/healthz`);
      const label = maxSamples === 65_536 ? 'default sample limit' : 'sample limit 10M (element checks run)';
      if (r.status !== 400 || health.status !== 200) {
        missed++;
        console.log(
          `  ${label}: expected 400 and a healthy server, got ${r.status}, /healthz ${health.status}`,
        );
        continue;
      }
      console.log(`  ${label}: 400 "${message(r.text)}"`);
      report(
        '    time to the 400 (sending the body included)',
        r.ms,
        2000,
        'ms',
        `${fmt(serverMs)} ms in the server from the headers, ${fmt(cpuMs)} ms of its CPU time`,
      );
      report(
        '    server resident memory, peak during the request',
        after.peak / MB,
        512,
        'MB',
        `${fmt(before.rss / MB)} MB before`,
      );
    } finally {
      server.stop();
    }
  }
}

async function proxyHostile(): Promise<void> {
  const body = Buffer.from(
    `{"messages":[{"role":"user","content":[${Array.from({ length: 500_000 }, (_, i) => i % 10).join(',')}]}]}`,
  );
  console.log(
    `server-hostile/ proxy: ${(body.length / 1024 / 1024).toFixed(2)} MiB body, 500,000 numbers as a message's content (proxy in its own process)`,
  );
  const proxy = await child(['--proxy', 'http://127.0.0.1:9']);
  try {
    const url = `${proxy.url}/v1/chat/completions`;
    await post(url, body);
    const runs: number[] = [];
    let last = { status: 0, text: '' };
    for (let i = 0; i < 7; i++) {
      const r = await post(url, body);
      runs.push(r.ms);
      last = r;
    }
    runs.sort((a, b) => a - b);
    if (last.status !== 400) {
      missed++;
      console.log(`  expected 400, got ${last.status}: ${last.text.slice(0, 200)}`);
      return;
    }
    console.log(`  400 "${message(last.text)}"`);
    report(
      '  time to the 400, median of 7 (sending the body included)',
      runs[3]!,
      200,
      'ms',
      `max ${fmt(runs[6]!)} ms`,
    );
  } finally {
    proxy.stop();
  }
}

async function proxyBigUpstream(): Promise<void> {
  const bytes = 300 * MB;
  console.log(
    `server-hostile/ proxy in front of an upstream streaming a ${fmt(bytes / MB)} MB completion (each in its own process)`,
  );
  const upstream = await child(['--upstream', String(bytes)]);
  const proxy = await child(['--proxy', upstream.url]);
  try {
    const url = `${proxy.url}/v1/chat/completions`;
    const ask = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] });
    // Warm-up (a turn the upstream refuses at once), then measure from the settled RSS.
    for (let i = 0; i < 3; i++)
      await post(url, JSON.stringify({ messages: [{ role: 'user', content: 'warm up' }] }));
    const pid = proxy.proc.pid!;
    const before = memoryOf(pid);
    resetPeak(pid);
    const r = await post(url, ask);
    const after = memoryOf(pid);
    console.log(`  ${r.status} "${message(r.text)}"`);
    if (r.status !== 502) missed++;
    report(
      '  proxy resident memory, peak rise during the request',
      (after.peak - before.rss) / MB,
      64,
      'MB',
      `${fmt(before.rss / MB)} MB before, peak ${fmt(after.peak / MB)} MB`,
    );
  } finally {
    proxy.stop();
    upstream.stop();
  }
}

export async function runServerHostileBench(): Promise<void> {
  missed = 0;
  await rewardHostile();
  await proxyHostile();
  await proxyBigUpstream();
  if (missed > 0) {
    console.log(`server-hostile/ ${missed} goal(s) missed`);
    process.exitCode = 1;
  }
}

/**
 * Streams `{"choices":[{"message":{"content":"xxx…"}}]}` of `total` bytes, as fast as the client reads;
 * a request that says "warm up" gets a small 400 instead.
 */
async function serveBigCompletion(total: number): Promise<string> {
  const server = createServer((req, res) => {
    let asked = '';
    req.setEncoding('utf8').on('data', (d: string) => {
      asked += d;
    });
    req.on('end', () => {
      if (asked.includes('warm up')) {
        // A small error, so that the proxy's HTTP client is loaded and warm before the measurement.
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"warm-up"}}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(total) });
      const head = '{"choices":[{"message":{"content":"';
      const tail = '"},"finish_reason":"stop"}]}';
      res.write(head);
      let left = total - head.length - tail.length;
      const piece = Buffer.alloc(64 * 1024, 'x');
      const pump = (): void => {
        while (left > 0 && !res.destroyed) {
          const n = Math.min(left, piece.length);
          left -= n;
          if (left === 0) {
            res.end(Buffer.concat([piece.subarray(0, n), Buffer.from(tail)]));
            return;
          }
          if (!res.write(piece.subarray(0, n))) return;
        }
      };
      res.on('drain', pump);
      pump();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
}

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

if (arg('--reward') !== undefined) {
  const server = await startRewardServer({ limits: { maxSamples: Number(arg('--reward')) }, log: () => {} });
  process.stdout.write(`${server.url}\n`);
  process.on('SIGTERM', () => void server.close(0).then(() => process.exit(0)));
} else if (arg('--proxy') !== undefined) {
  const proxy = await startProxyServer({
    model: createOpenAIModel({ baseUrl: arg('--proxy')!, model: 'stub', vendor: 'vllm', maxRetries: 0 }),
    log: () => {},
  });
  process.stdout.write(`${proxy.url}\n`);
  process.on('SIGTERM', () => void proxy.close(0).then(() => process.exit(0)));
} else if (arg('--upstream') !== undefined) {
  process.stdout.write(`${await serveBigCompletion(Number(arg('--upstream')))}\n`);
  process.on('SIGTERM', () => process.exit(0));
} else if (import.meta.url === `file://${process.argv[1]}`) {
  await runServerHostileBench();
}
