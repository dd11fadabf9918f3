/**
 * Reward throughput: offline scoring of the parity corpus (no judge), and batch scoring against a loopback
 * OpenAI-compatible judge with a fixed latency at 64 and 512 concurrent calls (`npx tsx bench/reward.ts
 * judge` runs only that part). Each judge figure follows a warm-up batch at the same concurrency (JIT,
 * connections).
 */

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type BatchItem, newBatchStats, scoreBatch } from '../src/reward/batch.js';
import { createJudge } from '../src/reward/judge.js';
import { type InputLine, scoreChunk, scoreLinesOffline } from '../src/reward/offline-pool.js';
import { analyzeSample, finishSample, type RewardSample } from '../src/reward/score.js';
import { fmt } from './util.js';

interface Case extends RewardSample {
  id: string;
  verdict: number;
}

const cases: Case[] = readFileSync(new URL('../test/fixtures/reward-parity.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as Case);
const lines = cases.map((c) => JSON.stringify(c));

function timeFor(seconds: number, body: () => number): number {
  // Warm up, then count samples for about `seconds`.
  const warm = performance.now() + 300;
  while (performance.now() < warm) body();
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) n += body();
  return n / ((performance.now() - start) / 1000);
}

async function offline(): Promise<void> {
  console.log(
    `reward/ offline scoring of the parity corpus (${cases.length} samples, 7 data sources, given verdicts)`,
  );
  const scorer = timeFor(2, () => {
    for (const c of cases) {
      const a = analyzeSample(c);
      if (a.kind === 'pending') finishSample(a, c.verdict);
    }
    return cases.length;
  });
  console.log(
    `  score only (analyzeSample + finishSample)                 ${fmt(scorer).padStart(10)} samples/s`,
  );
  const inputLines: InputLine[] = lines.map((text, i) => ({ line: i + 1, text }));
  const perLine = timeFor(2, () => scoreChunk(inputLines, {}).count);
  console.log(
    `  JSONL line in → JSON line out, this thread (scoreChunk)  ${fmt(perLine).padStart(10)} samples/s`,
  );
  // The offline pipeline of `gtalign reward score --judge offline`: chunks scored in worker threads.
  // The JSONL bytes of 100 copies of the corpus, fed in 64 KiB pieces as a file stream would be.
  const bytes = Buffer.from(`${Array.from({ length: 100 }, () => lines.join('\n')).join('\n')}\n`);
  const pieces = Array.from({ length: Math.ceil(bytes.length / 65536) }, (_, i) =>
    bytes.subarray(i * 65536, (i + 1) * 65536),
  );
  const total = 100 * lines.length;
  for (const workers of [0, 1, availableParallelism()]) {
    const start = performance.now();
    let count = 0;
    for await (const chunk of scoreLinesOffline(pieces, { workers })) count += chunk.count;
    const rate = count / ((performance.now() - start) / 1000);
    console.log(
      `  scoreLinesOffline, ${workers} worker thread(s), ${total} lines      ${fmt(rate).padStart(10)} samples/s`,
    );
  }
  console.log(
    '  (reference implementation: ~4,400 samples/s in one Python process on this machine; goal ≥ 44,000)',
  );
}

/** Starts bench/judge-server.ts in a child process and resolves with its base URL. */
/**
 * A process's user + system CPU time in µs from Linux's /proc (undefined elsewhere); with `thread`, only
 * that thread's (this process's main thread has the process's id).
 */
function processCpuMicros(pid: number | undefined, thread?: number): number | undefined {
  try {
    // Fields 14 and 15 of /proc/PID/stat, after the parenthesised command name, in clock ticks (100 a second).
    const path = thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`;
    const fields = readFileSync(path, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return undefined;
  }
}

interface JudgeProcess {
  baseUrl: string;
  stop: () => void;
  /** The judge process's CPU time so far, in µs (undefined where /proc is not there). */
  cpuMicros: () => number | undefined;
}

async function startJudgeProcess(latencyMs: number): Promise<JudgeProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./judge-server.ts', import.meta.url)), String(latencyMs)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const baseUrl = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`judge server exited with code ${code}`)));
  });
  return { baseUrl, stop: () => child.kill('SIGTERM'), cpuMicros: () => processCpuMicros(child.pid) };
}

/** The judge-bound samples of the corpus, in order (unscorable outputs and label-less rows need no call). */
const judged = cases.filter(
  (c) => analyzeSample(c).kind === 'pending' && !(c.data_source === 'advbench' && c.ground_truth === ''),
);

/** `count` samples numbered from `first`, each with a unique prompt so that in-flight sharing hides no call. */
function judgeItems(first: number, count: number): BatchItem[] {
  return Array.from({ length: count }, (_, k) => {
    const i = first + k;
    const c = judged[i % judged.length]!;
    const extra = {
      ...(c.extra_info ?? {}),
      single_turn_prompt: `${String(c.extra_info?.single_turn_prompt ?? '')} #${i}`,
    };
    return { line: k + 1, id: i, sample: { ...c, extra_info: extra } };
  });
}

/**
 * Batch scoring at `concurrency` judge calls in flight: a warm-up batch (JIT, connections), then the timed
 * batch with the same judge. The figure is the share of the judge's capacity used: calls per second over
 * what `concurrency` calls of `latencyMs` each allow.
 */
async function loopbackJudge(
  server: JudgeProcess,
  concurrency: number,
  latencyMs: number,
  samples: number,
  goalPercent: number,
): Promise<void> {
  const judge = createJudge({ baseUrl: server.baseUrl, model: 'stub', concurrency, timeoutMs: 30_000 });
  const options = { judge, concurrency: concurrency * 2, mathCheck: false };
  const warm = Math.max(2000, concurrency * 8);
  for await (const _ of scoreBatch(judgeItems(0, warm), options)) {
    // warm-up: results not counted
  }
  const items = judgeItems(warm, samples);
  const callsBefore = judge.stats().httpCalls;
  const start = performance.now();
  const cpuBefore = process.cpuUsage();
  const mainThreadBefore = processCpuMicros(process.pid, process.pid);
  const serverCpuBefore = server.cpuMicros();
  let failures = 0;
  for await (const r of scoreBatch(items, options, newBatchStats())) {
    if ('error' in r) failures++;
  }
  // The client's CPU per call (this process's thread does all of it): less sensitive to a busy machine.
  const cpu = process.cpuUsage(cpuBefore);
  const mainThreadAfter = processCpuMicros(process.pid, process.pid);
  const serverCpuAfter = server.cpuMicros();
  const seconds = (performance.now() - start) / 1000;
  const calls = judge.stats().httpCalls - callsBefore;
  const clientMicros = (cpu.user + cpu.system) / calls;
  const judgeMicros =
    serverCpuBefore === undefined || serverCpuAfter === undefined
      ? undefined
      : (serverCpuAfter - serverCpuBefore) / calls;
  const capacity = concurrency / (latencyMs / 1000);
  const share = (100 * (calls / seconds)) / capacity;
  console.log(
    `  concurrency ${String(concurrency).padStart(3)}: ${samples} samples in ${seconds.toFixed(2)} s after ${warm} warm-up samples, ` +
      `${calls} judge calls, ${failures} failures: ${fmt(calls / seconds)} calls/s of a capacity of ${fmt(capacity)} ` +
      `→ ${share.toFixed(1)}% (goal ≥ ${goalPercent}%: ${share >= goalPercent ? 'met' : 'not met'}); ` +
      `client CPU ${fmt(clientMicros)} µs a call` +
      (judgeMicros === undefined ? '' : `, judge process CPU ${fmt(judgeMicros)} µs a call`),
  );
  if (judgeMicros !== undefined && share < goalPercent) {
    // Both processes share this machine's cores: what the goal's rate would take at these costs a call.
    const goalRate = (goalPercent / 100) * capacity;
    const cores = (goalRate * (clientMicros + judgeMicros)) / 1e6;
    console.log(
      `    at the goal's ${fmt(goalRate)} calls/s these costs would take ${cores.toFixed(2)} cores ` +
        `(client ${((goalRate * clientMicros) / 1e6).toFixed(2)}, judge ${((goalRate * judgeMicros) / 1e6).toFixed(2)}) ` +
        `of the ${availableParallelism()} here`,
    );
  }
  if (mainThreadBefore !== undefined && mainThreadAfter !== undefined && share < goalPercent) {
    // The client's calls all go through one event loop (its other threads collect garbage and compile):
    // with the judge on another machine it could still send no more calls a second than one core allows
    // at that thread's CPU a call.
    const threadMicros = (mainThreadAfter - mainThreadBefore) / calls;
    const ceiling = 1e6 / threadMicros;
    const goalRate = (goalPercent / 100) * capacity;
    if (ceiling < goalRate)
      console.log(
        `    the client's main thread took ${fmt(threadMicros)} µs a call: at most ${fmt(ceiling)} calls/s ` +
          `(${((100 * ceiling) / capacity).toFixed(1)}% of capacity) with the judge anywhere; ` +
          `the goal needs ≤ ${fmt(1e6 / goalRate)} µs a call on that thread`,
      );
  }
}

/**
 * CPU µs a judged sample costs with no judge at all (its reply taken as given): the part of the client's
 * cost a call that is the reward itself, not the HTTP exchange.
 */
function scoringMicrosPerJudgedSample(): number {
  const rate = timeFor(1, () => {
    for (const c of judged) {
      const a = analyzeSample(c);
      if (a.kind === 'pending') finishSample(a, 1);
    }
    return judged.length;
  });
  return 1e6 / rate;
}

/** Batch scoring against the loopback judge at 64 and 512 calls in flight. */
export async function runJudgeBench(): Promise<void> {
  console.log(
    'reward/ batch scoring against a loopback judge (own process, node:http) with a fixed 50 ms latency (no cache, no math check)',
  );
  console.log(
    `  scoring a judged sample without the judge (its verdict given): ${fmt(scoringMicrosPerJudgedSample())} µs of CPU`,
  );
  const server = await startJudgeProcess(50);
  try {
    await loopbackJudge(server, 64, 50, 6000, 95);
    await loopbackJudge(server, 512, 50, 20000, 90);
  } finally {
    server.stop();
  }
}

export async function runRewardBench(): Promise<void> {
  await offline();
  await runJudgeBench();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv[2] === 'judge') await runJudgeBench();
  else await runRewardBench();
}
