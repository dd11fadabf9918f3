/**
 * Samples per second through each Python trainer adapter (integrations/python/gtalign_reward.py), called
 * the way its trainer calls it, against `gtalign reward serve` on loopback: with offline verdicts (the
 * adapter and server overhead), and with a loopback judge answering after 50 ms in its own process (judge
 * concurrency 64: at most 1,280 verdicts/s). Request coalescing on (the default) and off.
 * Run: `npx tsx bench/trainer-adapters.ts` (or `npm run bench -- trainer-adapters`).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createJudge } from '../src/reward/judge.js';
import { startRewardServer } from '../src/server/reward.js';
import { fmt } from './util.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The trainers' call shapes (see test/integrations/*.test.ts for the sources they follow). */
const SCRIPT = String.raw`
import asyncio, functools, json, os, sys, time, types
import gtalign_reward as gr
URL, N, VERDICT = os.environ["BENCH_URL"], int(os.environ["BENCH_N"]), os.environ["BENCH_VERDICT"] == "1"
cases = [json.loads(l) for l in open("test/fixtures/reward-parity.jsonl") if l.strip()]
rows = []
for i in range(N):
    c = cases[i % len(cases)]
    e = dict(c.get("extra_info") or {})
    e["single_turn_prompt"] = str(e.get("single_turn_prompt", "")) + " #" + str(i)   # unique: no judge dedup
    if VERDICT:
        e["verdict"] = c["verdict"]
    rows.append((c, e))
def label(c, e):
    out = {"data_source": c["data_source"], "ground_truth": c["ground_truth"], "extra_info": {k: v for k, v in e.items() if k != "verdict"}}
    if "verdict" in e:
        out["verdict"] = e["verdict"]
    return json.dumps(out)

async def verl_async():
    fn = functools.partial(gr.compute_score, url=URL)
    await asyncio.gather(*(fn(data_source=c["data_source"], solution_str=c["response"], ground_truth=c["ground_truth"], extra_info=dict(e)) for c, e in rows))
async def verl_sync():
    loop = asyncio.get_running_loop()
    fn = functools.partial(gr.compute_score_sync, url=URL)
    await asyncio.gather(*(loop.run_in_executor(None, lambda c=c, e=e: fn(data_source=c["data_source"], solution_str=c["response"], ground_truth=c["ground_truth"], extra_info=dict(e))) for c, e in rows))
async def openrlhf_http():
    cl = gr.client(url=URL)
    async def one(c, e):
        p = "Q\n"
        reply = await cl.apost("/get_reward", {"query": [p + c["response"]], "prompts": [p], "labels": [label(c, e)]})
        if reply["errors"]:
            raise RuntimeError(reply["errors"])
    await asyncio.gather(*(one(c, e) for c, e in rows))
async def trl_grpo():
    fn = gr.trl_reward_func(url=URL)
    for start in range(0, N, 64):   # one generation batch: 8 prompts x 8 generations
        chunk = rows[start:start + 64]
        await fn(prompts=[[{"role": "user", "content": "q"}]] * len(chunk), completions=[[{"role": "assistant", "content": c["response"]}] for c, _ in chunk],
                 completion_ids=[[1]] * len(chunk), data_source=[c["data_source"] for c, _ in chunk],
                 reward_model=[{"ground_truth": c["ground_truth"]} for c, _ in chunk], extra_info=[e for _, e in chunk],
                 trainer_state=None, log_extra=None, log_metric=None)
async def trl_env():
    envs = []
    for c, e in rows:
        env = gr.GtalignEnvironment(url=URL)
        env.reset(prompt=[], data_source=c["data_source"], reward_model={"ground_truth": c["ground_truth"]}, extra_info=e)
        env.submit_response(c["response"])
        envs.append(env)
    for env in envs:   # GRPOTrainer awaits get_reward() one environment after the other
        await env.get_reward()
async def slime():
    args = types.SimpleNamespace(rm_url=URL)
    samples = [types.SimpleNamespace(response=c["response"], label=label(c, e), metadata={}) for c, e in rows]
    await asyncio.gather(*(gr.slime_rm(args, s) for s in samples))
async def verifiers():
    fn = functools.partial(gr.verifiers_reward, url=URL)
    await asyncio.gather(*(fn(completion=[{"role": "assistant", "content": c["response"]}], answer=c["ground_truth"], info={"data_source": c["data_source"], "extra_info": e}, prompt=[], state={}) for c, e in rows))

out = {}
for name, fn in [("verl compute_score (async)", verl_async), ("verl compute_score_sync (executor)", verl_sync),
                 ("OpenRLHF /get_reward, one sample a request", openrlhf_http), ("TRL gtalign_welfare, batches of 64", trl_grpo),
                 ("TRL GtalignEnvironment.get_reward (sequential)", trl_env), ("slime slime_rm", slime), ("Verifiers rubric function", verifiers)]:
    t = time.perf_counter()
    asyncio.run(fn())
    out[name] = N / (time.perf_counter() - t)
print(json.dumps(out))
`;

function python(): string {
  return process.env.PYTHON ?? 'python3';
}

async function runAdapters(url: string, n: number, withVerdict: boolean): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'gtalign-bench-'));
  const file = join(dir, 'bench.py');
  writeFileSync(file, SCRIPT);
  try {
    return await new Promise((resolve, reject) => {
      const proc = spawn(python(), [file], {
        cwd: ROOT,
        env: {
          ...process.env,
          PYTHONPATH: join(ROOT, 'integrations/python'),
          BENCH_URL: url,
          BENCH_N: String(n),
          BENCH_VERDICT: withVerdict ? '1' : '0',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      proc.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
      });
      proc.on('error', reject);
      proc.on('close', (code) => {
        if (code !== 0) reject(new Error(`python exited with ${code}`));
        else resolve(JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>);
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function judgeProcess(latencyMs: number): Promise<{ baseUrl: string; stop: () => void }> {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./judge-server.ts', import.meta.url)), String(latencyMs)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const baseUrl = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim());
    });
    proc.once('exit', (code) => reject(new Error(`judge-server exited with code ${code}`)));
  });
  return { baseUrl, stop: () => proc.kill('SIGTERM') };
}

function print(title: string, rates: Record<string, number>): void {
  console.log(`  ${title}`);
  for (const [name, rate] of Object.entries(rates)) {
    console.log(`    ${name.padEnd(50)} ${fmt(rate).padStart(8)} samples/s`);
  }
}

export async function runTrainerAdaptersBench(): Promise<void> {
  console.log('trainer-adapters/ samples/s through each Python adapter, called as its trainer calls it');
  const n = Number(process.env.BENCH_N ?? 2000);
  for (const coalesce of [true, false]) {
    const server = await startRewardServer({
      log: () => {},
      clipVerdicts: true, // the parity fixture replays the reference, which clips its one off-scale verdict
      ...(coalesce ? {} : { coalesce: false as const }),
    });
    try {
      print(
        `offline verdicts, ${n} samples, coalescing ${coalesce ? 'on' : 'off'}`,
        await runAdapters(server.url, n, true),
      );
    } finally {
      await server.close();
    }
  }
  const latencyMs = 50;
  const judgeConcurrency = 64;
  const judgeProc = await judgeProcess(latencyMs);
  try {
    for (const coalesce of [true, false]) {
      const server = await startRewardServer({
        judge: createJudge({
          baseUrl: judgeProc.baseUrl,
          model: 'stub',
          concurrency: judgeConcurrency,
          timeoutMs: 30_000,
          env: {},
        }),
        concurrency: judgeConcurrency * 2,
        mathCheck: false,
        log: () => {},
        ...(coalesce ? {} : { coalesce: false as const }),
      });
      try {
        print(
          `loopback judge ${latencyMs} ms, judge concurrency ${judgeConcurrency} (≤ ${fmt(judgeConcurrency / (latencyMs / 1000))} verdicts/s), ${n / 2} samples, coalescing ${coalesce ? 'on' : 'off'}`,
          await runAdapters(server.url, n / 2, false),
        );
      } finally {
        await server.close();
      }
    }
  } finally {
    judgeProc.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runTrainerAdaptersBench();
}
