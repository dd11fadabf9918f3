/**
 * The Python trainer adapters, run for real with the `python3` on PATH against a live `gtalign reward
 * serve` started here: verl's `compute_score` / `compute_score_batch` and TRL's `GtalignReward` give the
 * reference's numbers on the parity fixture, and a sample that cannot be scored raises instead of
 * becoming a 0. Skipped, with a message, where no python3 is installed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/listen.js';
import { startRewardServer } from '../../src/server/reward.js';
import { REPO_ROOT } from '../support/cli.js';

const python = spawnSync('python3', ['--version'], { encoding: 'utf8' });
const hasPython = python.status === 0;
if (!hasPython) {
  console.warn('test/integrations: python3 is not on PATH; the Python adapter tests are skipped');
}

function runPython(
  script: string,
  env: Record<string, string>,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', script], {
      cwd: REPO_ROOT,
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', ...env },
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

/** Loads the fixture in Python; `verdict` goes in extra_info, where the adapters read it for --judge offline. */
const LOAD_CASES = `
import json, sys, importlib.util
def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
cases = [json.loads(l) for l in open("test/fixtures/reward-parity.jsonl") if l.strip()]
def extra(c, verdict=True):
    e = dict(c.get("extra_info") or {})
    if verdict:
        e["verdict"] = c["verdict"]
    return e
`;

describe.skipIf(!hasPython)('Python adapters against a live reward server', () => {
  let server: RunningServer;
  beforeAll(async () => {
    // The parity labels replay the reference, which clips its one off-scale verdict.
    server = await startRewardServer({ clipVerdicts: true, log: () => {} });
  });
  afterAll(async () => {
    await server.close();
  });

  it('verl: compute_score and compute_score_batch give the reference numbers for all 280 parity cases', async () => {
    const script = `${LOAD_CASES}
verl = load("integrations/verl/gtalign_reward.py", "gtalign_verl")
one = [verl.compute_score(c["data_source"], c["response"], c["ground_truth"], extra(c))["score"] for c in cases[:10]]
batch = verl.compute_score_batch(
    data_sources=[c["data_source"] for c in cases],
    solution_strs=[c["response"] for c in cases],
    ground_truths=[c["ground_truth"] for c in cases],
    extra_infos=[extra(c) for c in cases],
    batch=100,
)
print(json.dumps({"one": one, "batch": batch}))
`;
    const r = await runPython(script, { GTALIGN_REWARD_URL: server.url });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const { one, batch } = JSON.parse(r.out) as { one: number[]; batch: Array<Record<string, number>> };
    const { readFileSync } = await import('node:fs');
    const cases = readFileSync(`${REPO_ROOT}/test/fixtures/reward-parity.jsonl`, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { expected: Record<string, number> });
    expect(batch).toHaveLength(280);
    for (const [i, c] of cases.entries()) {
      for (const k of ['score', 'user_reward', 'llm_reward', 'answer_reward']) {
        expect(Math.abs(batch[i]![k]! - c.expected[k]!)).toBeLessThanOrEqual(1e-9);
      }
      expect(Object.keys(batch[i]!).sort()).toEqual([
        'a_llm',
        'a_user',
        'answer_reward',
        'format',
        'judge',
        'llm_reward',
        'payoff_quality',
        'score',
        'user_reward',
      ]);
    }
    expect(one).toEqual(batch.slice(0, 10).map((b) => b.score));
  });

  it('verl: a sample that cannot be scored raises GtalignRewardError naming it; an unreachable server too', async () => {
    const script = `${LOAD_CASES}
verl = load("integrations/verl/gtalign_reward.py", "gtalign_verl")
c = next(c for c in cases if c["expected"]["score"] > 0)
out = {}
try:
    verl.compute_score(c["data_source"], c["response"], c["ground_truth"], extra(c, verdict=False))
    out["no_verdict"] = "no error"
except verl.GtalignRewardError as e:
    out["no_verdict"] = str(e)
try:
    verl.compute_score(c["data_source"], c["response"], c["ground_truth"], extra(c), url="http://127.0.0.1:9", retries=1)
    out["down"] = "no error"
except verl.GtalignRewardError as e:
    out["down"] = str(e)
print(json.dumps(out))
`;
    const r = await runPython(script, { GTALIGN_REWARD_URL: server.url });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out) as { no_verdict: string; down: string };
    expect(out.no_verdict).toMatch(/sample 0 .* failed at input: .*no "verdict"/);
    expect(out.down).toMatch(/cannot reach http:\/\/127\.0\.0\.1:9/);
  });

  it("verl: a body over the server's limit raises the 413 with the server's message, without retrying", async () => {
    const small = await startRewardServer({ limits: { maxBodyBytes: 64 * 1024 }, log: () => {} });
    try {
      // urllib sends the whole body before it reads the answer; 8 MB is still being sent when the server answers.
      const script = `${LOAD_CASES}
verl = load("integrations/verl/gtalign_reward.py", "gtalign_verl")
c = cases[0]
n = 200
try:
    verl.compute_score_batch(
        data_sources=[c["data_source"]] * n,
        solution_strs=[c["response"] + " " * 40000] * n,
        ground_truths=[c["ground_truth"]] * n,
        extra_infos=[extra(c)] * n,
        retries=3,
    )
    print("no error")
except verl.GtalignRewardError as e:
    print(str(e))
`;
      const r = await runPython(script, { GTALIGN_REWARD_URL: small.url });
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.out.trim()).toBe(
        `gtalign reward: HTTP 413 from ${small.url}/v1/reward/score: the request body exceeds the server's limit of 65536 bytes`,
      );
      const metrics = await (await fetch(`${small.url}/metrics`)).text();
      expect(metrics).toMatch(
        /gtalign_http_requests_total\{route="\/v1\/reward\/score",method="POST",status="413"\} 1\n/,
      );
    } finally {
      await small.close();
    }
  });

  it('verl: an answer sent before the body was read (then a reset) is read, not reported as a broken pipe', async () => {
    // A server (or proxy) that answers 413 as soon as it has the headers and closes at once, unlike
    // gtalign's, which reads the rest of the body first: the adapter's send fails, yet the answer is there.
    let connections = 0;
    const abrupt = createServer((socket) => {
      connections++;
      socket.once('data', () => {
        const body = JSON.stringify({ error: { message: 'too large for this proxy' } });
        socket.write(
          `HTTP/1.1 413 Payload Too Large\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
        );
        socket.destroy();
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => abrupt.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(abrupt.address() as AddressInfo).port}`;
    try {
      const script = `${LOAD_CASES}
verl = load("integrations/verl/gtalign_reward.py", "gtalign_verl")
c = cases[0]
try:
    verl.compute_score(c["data_source"], c["response"] + " " * (8 << 20), c["ground_truth"], extra(c), retries=3)
    print("no error")
except verl.GtalignRewardError as e:
    print(str(e))
`;
      const r = await runPython(script, { GTALIGN_REWARD_URL: url });
      expect(r.err).toBe('');
      expect(r.out.trim()).toBe(
        `gtalign reward: HTTP 413 from ${url}/v1/reward/score: too large for this proxy`,
      );
      expect(connections).toBe(1);
    } finally {
      await new Promise((resolve) => abrupt.close(resolve));
    }
  });

  it('both adapters load with the standard library alone (python3 -I -S: no site-packages)', async () => {
    const r = await new Promise<{ code: number | null; err: string }>((resolve, reject) => {
      const child = spawn(
        'python3',
        [
          '-I',
          '-S',
          '-B', // -I ignores PYTHONDONTWRITEBYTECODE
          '-c',
          `import importlib.util
for path in ("integrations/verl/gtalign_reward.py", "integrations/trl/gtalign_reward.py"):
    spec = importlib.util.spec_from_file_location("m", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))`,
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

  it("verl: called the way verl's reward managers call it (keywords, reward_kwargs, the extra_info keys verl adds)", async () => {
    const script = `${LOAD_CASES}
import functools
verl = load("integrations/verl/gtalign_reward.py", "gtalign_verl")
c = next(c for c in cases if c["expected"]["score"] > 0)
# verl binds custom_reward_function.reward_kwargs with functools.partial.
fn = functools.partial(verl.compute_score, url="${server.url}", retries=2)
e = extra(c)
e.update({"num_turns": None, "rollout_reward_scores": {}})
single = fn(data_source=c["data_source"], solution_str=c["response"], ground_truth=c["ground_truth"], extra_info=e)
batch_fn = functools.partial(verl.compute_score_batch, url="${server.url}")
batch = batch_fn(data_sources=[c["data_source"]], solution_strs=[c["response"]], ground_truths=[c["ground_truth"]], extra_infos=[e])
print(json.dumps({"single": single["score"], "batch": batch[0]["score"], "expected": c["expected"]["score"]}))
`;
    const r = await runPython(script, { GTALIGN_REWARD_URL: 'http://127.0.0.1:9' });
    expect(r.err).toBe('');
    const out = JSON.parse(r.out) as { single: number; batch: number; expected: number };
    expect(Math.abs(out.single - out.expected)).toBeLessThanOrEqual(1e-9);
    expect(out.batch).toBe(out.single);
  });

  it('TRL: GtalignReward scores conversational completions with verl-style columns', async () => {
    const script = `${LOAD_CASES}
trl = load("integrations/trl/gtalign_reward.py", "gtalign_trl")
reward = trl.GtalignReward()  # the URL from GTALIGN_REWARD_URL
chunk = cases[:40]
scores = reward(
    prompts=[[{"role": "user", "content": "q"}] for _ in chunk],
    completions=[[{"role": "assistant", "content": c["response"]}] for c in chunk],
    data_source=[c["data_source"] for c in chunk],
    reward_model=[{"ground_truth": c["ground_truth"], "style": "rule"} for c in chunk],
    extra_info=[extra(c) for c in chunk],
)
lenient = trl.GtalignReward(on_error="none")
mixed = lenient(prompts=["q", "q"], completions=[cases[0]["response"], cases[1]["response"]],
                data_source=[cases[0]["data_source"], "no-such-source"],
                ground_truth=[cases[0]["ground_truth"], "x"], extra_info=[extra(cases[0]), extra(cases[1])])
print(json.dumps({"name": reward.__name__, "scores": scores, "expected": [c["expected"]["score"] for c in chunk], "mixed": mixed}))
`;
    const r = await runPython(script, { GTALIGN_REWARD_URL: server.url });
    expect(r.err).toBe('');
    const out = JSON.parse(r.out) as { name: string; scores: number[]; expected: number[]; mixed: unknown[] };
    expect(out.name).toBe('gtalign_welfare');
    for (const [i, s] of out.scores.entries())
      expect(Math.abs(s - out.expected[i]!)).toBeLessThanOrEqual(1e-9);
    expect(out.mixed[1]).toBeNull();
    expect(typeof out.mixed[0]).toBe('number');
  });
});
