/**
 * Server benchmarks (`npx tsx bench/server.ts`; `… stored` for the third alone):
 *
 * 1. The proxy's added latency: a GTAlign turn through `gtalign serve` against the same two upstream calls
 *    (stage 1, then stage 2 continuing the turn) made directly by the client. The upstream (the scripted
 *    dinosaur model, answering at once) and the proxy each run in their own process, so neither shares a
 *    thread with the client that measures. The client makes both kinds of call with the same keep-alive
 *    fetch; the added latency is the percentile via the proxy less the same percentile direct, and at
 *    concurrency 1 it is printed next to its goal (p50 < 1 ms, p99 < 3 ms). The samples of the three kinds
 *    (direct, via the proxy, streaming via the proxy) are taken in alternating rounds, 2000 of each.
 * 2. The reward server's samples per second: `POST /v1/reward/score` batches, offline (verdicts in the
 *    records) and with a loopback judge in its own process at a fixed latency.
 * 3. What keeping state on disk costs a turn: `/v1/responses` turns, plain and in a conversation, through a
 *    proxy that keeps them in memory and one with `--stored-responses-dir` (a synced file per response, a
 *    synced line per conversation change), in alternating rounds at concurrency 1.
 * 4. How soon a streaming client has text to show (`… first-text` alone): against an upstream that writes
 *    at a steady pace (4 characters every 2 ms, streamed or not), the time from the request to the first
 *    reasoning chunk (`gtalign.reasoning: "separate"`) and to the first content chunk, with and without it.
 *
 * Run with `--upstream` this file is the upstream process, with `--proxy UPSTREAM_URL` the proxy process:
 * it prints its base URL and serves until killed.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildInstructionPrompt } from '../src/chain/prompt.js';
import { createOpenAIModel } from '../src/llm/openai.js';
import { createJudge } from '../src/reward/judge.js';
import { ConversationFolder } from '../src/server/conversation-folder.js';
import { startProxyServer } from '../src/server/proxy.js';
import { ResponseFolder } from '../src/server/response-folder.js';
import { startRewardServer } from '../src/server/reward.js';
import { dinosaurScript, QUESTION, STAGE1 } from '../test/server/scripted-upstream.js';
import { startOpenAIStubServer } from '../test/support/openai-stub-server.js';
import { fmt } from './util.js';

const HERE = fileURLToPath(import.meta.url);

/** Starts a TypeScript file as a child process that prints its base URL on the first line of stdout. */
async function child(file: string, args: string[]): Promise<{ baseUrl: string; stop: () => void }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const baseUrl = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim());
    });
    proc.once('exit', (code) => reject(new Error(`${file} exited with code ${code}`)));
  });
  return { baseUrl, stop: () => proc.kill('SIGTERM') };
}

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** Runs `task` `n` times with `concurrency` in flight; returns each run's latency in ms, sorted. */
async function latencies(n: number, concurrency: number, task: () => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const t = performance.now();
      await task();
      out.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out.sort((a, b) => a - b);
}

async function postJson(url: string, body: string, headers: Record<string, string> = {}): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

/** Rounds the proxy benchmark's samples are taken in (see `proxyLatency`). */
const ROUNDS = 8;

export async function proxyLatency(): Promise<void> {
  const upstream = await child(HERE, ['--upstream']);
  const proxy = await child(HERE, ['--proxy', upstream.baseUrl]);
  // The two calls a turn makes, as the client would send them itself.
  const user = { role: 'user', content: buildInstructionPrompt({ question: QUESTION }) };
  const stage1 = JSON.stringify({ model: 'stub', messages: [user], stop: ['</payoff>'], max_tokens: 1024 });
  const stage2 = JSON.stringify({
    model: 'stub',
    messages: [user, { role: 'assistant', content: STAGE1 }],
    stop: ['</response>'],
    max_tokens: 1024,
    continue_final_message: true,
    add_generation_prompt: false,
  });
  const direct = async () => {
    await postJson(`${upstream.baseUrl}/chat/completions`, stage1);
    await postJson(`${upstream.baseUrl}/chat/completions`, stage2);
  };
  const body = JSON.stringify({ model: 'x', messages: [{ role: 'user', content: QUESTION }] });
  const viaProxy = async () => {
    await postJson(`${proxy.baseUrl}/v1/chat/completions`, body);
  };
  const streamBody = JSON.stringify({
    model: 'x',
    messages: [{ role: 'user', content: QUESTION }],
    stream: true,
  });
  const viaProxyStream = async () => {
    const res = await fetch(`${proxy.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: streamBody,
    });
    const text = await res.text();
    if (!res.ok || !text.endsWith('data: [DONE]\n\n')) throw new Error(`streaming turn failed: ${text}`);
  };
  try {
    console.log(
      'server/ proxy added latency: one GTAlign turn via gtalign serve vs its two upstream calls made directly',
    );
    console.log('  (loopback upstream and proxy each in their own process; the upstream answers at once)');
    for (const concurrency of [1, 16]) {
      const n = 2000;
      // Warm-up: JIT, connection pools.
      await latencies(200, concurrency, direct);
      await latencies(200, concurrency, viaProxy);
      await latencies(200, concurrency, viaProxyStream);
      // The three kinds take turns in rounds (order rotated), so a change in the machine's load during
      // the run falls on all of them alike instead of on whichever ran last.
      const d: number[] = [];
      const p: number[] = [];
      const s: number[] = [];
      const kinds = [
        { xs: d, task: direct },
        { xs: p, task: viaProxy },
        { xs: s, task: viaProxyStream },
      ];
      for (let round = 0; round < ROUNDS; round++) {
        for (let k = 0; k < kinds.length; k++) {
          const { xs, task } = kinds[(k + round) % kinds.length]!;
          xs.push(...(await latencies(n / ROUNDS, concurrency, task)));
        }
      }
      for (const xs of [d, p, s]) xs.sort((a, b) => a - b);
      const row = (name: string, xs: number[]) =>
        `    ${name.padEnd(22)} p50 ${percentile(xs, 50).toFixed(2).padStart(7)} ms   p99 ${percentile(xs, 99).toFixed(2).padStart(7)} ms`;
      console.log(`  concurrency ${concurrency}, ${n} turns each`);
      console.log(row('direct (2 calls)', d));
      console.log(row('via proxy', p));
      console.log(row('via proxy, streaming', s));
      const added50 = percentile(p, 50) - percentile(d, 50);
      const added99 = percentile(p, 99) - percentile(d, 99);
      const goals =
        concurrency === 1
          ? `   (goal p50 < 1 ms: ${added50 < 1 ? 'met' : 'not met'}; p99 < 3 ms: ${added99 < 3 ? 'met' : 'not met'})`
          : '';
      console.log(
        `    added latency          p50 ${added50.toFixed(2).padStart(7)} ms   p99 ${added99.toFixed(2).padStart(7)} ms${goals}`,
      );
    }
  } finally {
    proxy.stop();
    upstream.stop();
  }
}

interface Case {
  id: string;
  data_source: string;
  response: string;
  ground_truth: string;
  extra_info: Record<string, unknown>;
  verdict: number;
}

async function rewardThroughput(): Promise<void> {
  const cases = readFileSync(new URL('../test/fixtures/reward-parity.jsonl', import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Case);
  const samples = (n: number, withVerdict: boolean) =>
    Array.from({ length: n }, (_, i) => {
      const c = cases[i % cases.length]!;
      // Unique questions, so the judge's in-flight deduplication cannot hide calls.
      const extra = {
        ...c.extra_info,
        single_turn_prompt: `${String(c.extra_info.single_turn_prompt ?? '')} #${i}`,
      };
      return { ...c, id: i, extra_info: extra, verdict: withVerdict ? c.verdict : undefined };
    });
  const run = async (url: string, batch: number, batches: number, withVerdict: boolean, parallel: number) => {
    const body = JSON.stringify({ samples: samples(batch, withVerdict) });
    const start = performance.now();
    let failures = 0;
    let next = 0;
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (next < batches) {
          next++;
          const reply = (await postJson(`${url}/v1/reward/score`, body)) as { summary: { failures: number } };
          failures += reply.summary.failures;
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    return { rate: (batch * batches) / seconds, failures };
  };

  console.log('server/ reward server samples/s (POST /v1/reward/score)');
  const offline = await startRewardServer({ log: () => {} });
  try {
    await run(offline.url, 280, 5, true, 1);
    for (const [batch, parallel] of [
      [280, 1],
      [1000, 4],
    ] as const) {
      const r = await run(offline.url, batch, 20, true, parallel);
      console.log(
        `  offline verdicts, batches of ${String(batch).padStart(4)}, ${parallel} in parallel   ${fmt(r.rate).padStart(8)} samples/s (${r.failures} failures)`,
      );
    }
  } finally {
    await offline.close();
  }
  const latencyMs = 50;
  const judgeProc = await child(fileURLToPath(new URL('./judge-server.ts', import.meta.url)), [
    String(latencyMs),
  ]);
  for (const concurrency of [64, 256]) {
    const server = await startRewardServer({
      judge: createJudge({
        baseUrl: judgeProc.baseUrl,
        model: 'stub',
        concurrency,
        timeoutMs: 30_000,
        env: {},
      }),
      concurrency: concurrency * 2,
      mathCheck: false,
      log: () => {},
    });
    try {
      const r = await run(server.url, 1000, 4, false, 2);
      const capacity = concurrency / (latencyMs / 1000);
      console.log(
        `  loopback judge (${latencyMs} ms, own process), judge concurrency ${String(concurrency).padStart(3)}: ${fmt(r.rate).padStart(7)} samples/s ` +
          `(${r.failures} failures; judge capacity ${fmt(capacity)} calls/s; unscorable outputs need no call)`,
      );
    } finally {
      await server.close();
    }
  }
  judgeProc.stop();
}

/** The latency a folder of stored state adds to a `/v1/responses` turn (see the module comment). */
export async function storedStateCost(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gtalign-bench-stored-'));
  const upstream = await child(HERE, ['--upstream']);
  const memory = await child(HERE, ['--proxy', upstream.baseUrl]);
  const folder = await child(HERE, ['--proxy', upstream.baseUrl, '--dir', dir]);
  try {
    console.log(
      `server/ a /v1/responses turn with state in memory vs in a folder (--stored-responses-dir, ${dir}), concurrency 1`,
    );
    const kinds = [memory, folder].flatMap((proxy, k) => {
      // A fresh conversation every 10 turns, so both proxies see conversations of the same lengths.
      let conversation = '';
      let turns = 0;
      const plain = async () => {
        await postJson(`${proxy.baseUrl}/v1/responses`, JSON.stringify({ model: 'x', input: QUESTION }));
      };
      const inConversation = async () => {
        if (turns++ % 10 === 0)
          conversation = ((await postJson(`${proxy.baseUrl}/v1/conversations`, '{}')) as { id: string }).id;
        await postJson(
          `${proxy.baseUrl}/v1/responses`,
          JSON.stringify({ model: 'x', input: QUESTION, conversation }),
        );
      };
      const where = k === 0 ? 'memory' : 'folder';
      return [
        { name: `response, ${where}`, task: plain, xs: [] as number[] },
        { name: `in a conversation, ${where}`, task: inConversation, xs: [] as number[] },
      ];
    });
    for (const { task } of kinds) await latencies(50, 1, task);
    for (let round = 0; round < ROUNDS; round++)
      for (let k = 0; k < kinds.length; k++) {
        const kind = kinds[(k + round) % kinds.length]!;
        kind.xs.push(...(await latencies(400 / ROUNDS, 1, kind.task)));
      }
    for (const { name, xs } of kinds) {
      xs.sort((a, b) => a - b);
      console.log(
        `    ${name.padEnd(30)} p50 ${percentile(xs, 50).toFixed(2).padStart(7)} ms   p99 ${percentile(xs, 99).toFixed(2).padStart(7)} ms`,
      );
    }
    const [plainMem, convMem, plainDisk, convDisk] = kinds.map((k) => percentile(k.xs, 50));
    console.log(
      `    added by the folder (p50)      response ${(plainDisk! - plainMem!).toFixed(2)} ms, in a conversation ${(convDisk! - convMem!).toFixed(2)} ms`,
    );
  } finally {
    memory.stop();
    folder.stop();
    upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Milliseconds from sending a streaming turn to its first reasoning chunk and its first content chunk. */
async function firstChunks(url: string, body: string): Promise<{ reasoning?: number; content: number }> {
  const start = performance.now();
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  if (!res.ok || res.body === null) throw new Error(`streaming turn failed: HTTP ${res.status}`);
  const out: { reasoning?: number; content?: number } = {};
  const decoder = new TextDecoder();
  let text = '';
  const reader = res.body.getReader();
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    text += decoder.decode(read.value, { stream: true });
    const at = performance.now() - start;
    if (out.reasoning === undefined && text.includes('"reasoning_content":"')) out.reasoning = at;
    if (out.content === undefined && /"content":"[^"]/.test(text)) out.content = at;
  }
  if (out.content === undefined) throw new Error(`no content in ${text.slice(0, 400)}`);
  return out.reasoning === undefined
    ? { content: out.content }
    : { reasoning: out.reasoning, content: out.content };
}

export async function firstText(): Promise<void> {
  const upstream = await child(HERE, ['--upstream', '--paced', '2']);
  const proxy = await child(HERE, ['--proxy', upstream.baseUrl]);
  const url = `${proxy.baseUrl}/v1/chat/completions`;
  const request = (reasoning: string) =>
    JSON.stringify({
      model: 'x',
      messages: [{ role: 'user', content: QUESTION }],
      stream: true,
      gtalign: { reasoning },
    });
  try {
    console.log(
      'server/ time to the first text a streaming client can show (upstream writes 4 characters every 2 ms, own process)',
    );
    await firstChunks(url, request('none'));
    await firstChunks(url, request('separate'));
    const plain: number[] = [];
    const firstReasoning: number[] = [];
    const contentAfter: number[] = [];
    for (let round = 0; round < 20; round++) {
      plain.push((await firstChunks(url, request('none'))).content);
      const separate = await firstChunks(url, request('separate'));
      firstReasoning.push(separate.reasoning ?? Number.NaN);
      contentAfter.push(separate.content);
    }
    const p50 = (xs: number[]) =>
      percentile(
        [...xs].sort((a, b) => a - b),
        50,
      ).toFixed(1);
    console.log(`    default, first content chunk            p50 ${p50(plain).padStart(7)} ms (20 turns)`);
    console.log(`    separate, first reasoning chunk         p50 ${p50(firstReasoning).padStart(7)} ms`);
    console.log(`    separate, first content chunk           p50 ${p50(contentAfter).padStart(7)} ms`);
  } finally {
    proxy.stop();
    upstream.stop();
  }
}

export async function runServerBench(): Promise<void> {
  await proxyLatency();
  await firstText();
  await storedStateCost();
  await rewardThroughput();
}

const proxyArg = process.argv.indexOf('--proxy');
if (process.argv.includes('--upstream')) {
  // `--paced MS`: a model that writes 4 characters every MS: streamed, one chunk each; not streamed, the
  // whole reply once all of it is written.
  const paced = process.argv.indexOf('--paced');
  const script = dinosaurScript();
  const ms = paced < 0 ? 0 : Number(process.argv[paced + 1]);
  const server = await startOpenAIStubServer((body) => {
    const reply = script(body);
    if (ms === 0) return reply;
    const pieces = Math.ceil(Array.from(reply.content ?? '').length / 4);
    return body.stream === true
      ? { ...reply, chunkSize: 4, chunkDelayMs: ms }
      : { ...reply, delayMs: pieces * ms };
  });
  process.stdout.write(`${server.baseUrl}\n`);
  process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
} else if (proxyArg >= 0) {
  const baseUrl = process.argv[proxyArg + 1]!;
  const dirArg = process.argv.indexOf('--dir');
  const dir = dirArg >= 0 ? process.argv[dirArg + 1]! : undefined;
  const proxy = await startProxyServer({
    model: createOpenAIModel({ baseUrl, model: 'stub', vendor: 'vllm', maxRetries: 0 }),
    log: () => {},
    ...(dir === undefined
      ? {}
      : {
          responseFolder: await ResponseFolder.open(dir, { maxResponses: 1000 }),
          conversationFolder: await ConversationFolder.open(dir),
        }),
  });
  process.stdout.write(`${proxy.url}\n`);
  process.on('SIGTERM', () => void proxy.close().then(() => process.exit(0)));
} else if (import.meta.url === `file://${process.argv[1]}`) {
  // `npx tsx bench/server.ts stored` runs only the stored-state figures.
  if (process.argv[2] === 'stored') await storedStateCost();
  else if (process.argv[2] === 'first-text') await firstText();
  else await runServerBench();
}
