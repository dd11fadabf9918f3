/**
 * OpenRLHF 0.11.0 (OpenRLHF/OpenRLHF 3c3be62): the reward server called the way OpenRLHF's single-turn
 * executor calls a remote reward, reproduced from openrlhf/utils/agent.py `SingleTurnAgentExecutor`:
 * one request per rollout (`[query]`, `[prompt]`, `[label]`), `ClientTimeout(total=180)`, up to 5 tries
 * 1 s apart on any error, `raise_for_status`, then `rewards_info = reply`, `scores` (else `rewards`),
 * `extra_logs`; any exception leaves the reward `None`. openrlhf/trainer/ppo_utils/samples_generator.py
 * then makes `torch.tensor([reward])` (a `null` reward cannot become one) and experience_maker.py refuses
 * samples without rewards. `--reward.remote_url` ending in `.py` loads the file's `reward_func(queries,
 * prompts, labels)` instead and calls it through `asyncio.to_thread` with one sample. Several URLs
 * (`--reward.remote_url A,B`) shard the one-sample request: A gets the sample, B an empty request, and the
 * rollout's reward is the first reply (`_fetch_rewards_via_http`).
 * aiohttp is not in the standard library: the POST is urllib in a thread, with the same timeout and tries.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/listen.js';
import { startRewardServer } from '../../src/server/reward.js';
import { failingJudge } from '../support/failing-judge.js';
import {
  CASES,
  deadUrl,
  expectParity,
  lastJson,
  PRELUDE,
  PYTHON,
  runPython,
  startOfflineServer,
} from './python-support.js';

const EXECUTOR = `${PRELUDE}
import time, urllib.request, urllib.error
def prompt_of(c):
    return "<|im_start|>user\\nQuestion " + c["id"] + "<|im_end|>\\n<|im_start|>assistant\\n"
def query_of(c):
    # hf_tokenizer.decode(observation_tokens, skip_special_tokens=False)
    return prompt_of(c) + c["response"] + "<|im_end|>"

async def _post_request(url, data, try_max_times=5, pause=1.0):
    def post():
        req = urllib.request.Request(url, data=json.dumps(data).encode(), headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=180) as r:   # raise_for_status: urllib raises on >= 400
            return json.loads(r.read())
    for _ in range(try_max_times):
        try:
            return await asyncio.to_thread(post)
        except Exception:
            pass
        await asyncio.sleep(pause)
    raise RuntimeError(f"Request error for {try_max_times} times, returning None. Please check the API server.")

async def execute(endpoint, c, reward_func=None, pause=1.0, verdict=True):
    output = {"reward": None, "scores": None, "extra_logs": {}}
    try:
        if reward_func is not None:
            infos = await asyncio.gather(asyncio.to_thread(reward_func, [query_of(c)], [prompt_of(c)], [label(c, verdict)]))
        else:
            endpoints = endpoint if isinstance(endpoint, list) else [endpoint]
            queries, prompts, labels = [query_of(c)], [prompt_of(c)], [label(c, verdict)]
            size = (len(queries) + len(endpoints) - 1) // len(endpoints)
            infos = await asyncio.gather(*(
                _post_request(rm, {"query": queries[i * size:(i + 1) * size], "prompts": prompts[i * size:(i + 1) * size],
                                   "labels": labels[i * size:(i + 1) * size]}, pause=pause)
                for i, rm in enumerate(endpoints)))
        info = infos[0] if infos else None
        if info:
            score = info.get("scores")
            if score is None:
                score = info.get("rewards")
            output.update(reward=info.get("rewards"), scores=score, extra_logs=info.get("extra_logs") or {})
    except Exception as e:
        output["logged"] = str(e)
    return output

def to_tensor(value):
    # torch.tensor([reward_val]) of a list of one number: None inside fails with TypeError
    return [[float(v) for v in value]]
`;

describe.skipIf(PYTHON === undefined)('OpenRLHF 0.11 remote reward against the server', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startOfflineServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('280 concurrent one-sample requests (HTTP) and reward_func (.py) give the reference numbers', async () => {
    const r = await runPython(
      `${EXECUTOR}
async def main():
    http = await asyncio.gather(*(execute(URL + "/get_reward", c) for c in cases))
    spec = importlib.util.spec_from_file_location("reward_func", "integrations/python/gtalign_reward.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = functools.partial(module.reward_func, url=URL)
    py = await asyncio.gather(*(execute(None, c, reward_func=fn) for c in cases))
    return http, py
http, py = asyncio.run(main())
print(json.dumps({
  "reward": [to_tensor(o["reward"])[0][0] for o in http],
  "scores": [to_tensor(o["scores"])[0][0] for o in http],
  "user": [o["extra_logs"]["gtalign/user_reward"][0] for o in http],
  "llm": [o["extra_logs"]["gtalign/llm_reward"][0] for o in http],
  "py": [to_tensor(o["reward"])[0][0] for o in py],
}))
`,
      server.url,
    );
    expect(r.err).toBe('');
    const out = lastJson<Record<string, number[]>>(r);
    const check = (ok: boolean, m: string) => expect(ok, m).toBe(true);
    expectParity(out.reward!, 'score', check);
    expectParity(out.scores!, 'score', check);
    expectParity(out.user!, 'user_reward', check);
    expectParity(out.llm!, 'llm_reward', check);
    expectParity(out.py!, 'score', check);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    // The 280 one-sample requests were scored in fewer, larger batches.
    const batches = /gtalign_reward_coalesced_batch_samples_count (\d+)/.exec(metrics);
    expect(Number(batches?.[1])).toBeGreaterThan(0);
  });

  it('two reward URLs: the rollout goes to the first, the second gets an empty request that is answered', async () => {
    const r = await runPython(
      `${EXECUTOR}
async def main():
    return await asyncio.gather(*(execute([URL + "/get_reward", URL + "/get_reward"], c, pause=0.01) for c in cases[:8]))
outs = asyncio.run(main())
print(json.dumps([{"reward": o["reward"], "logged": o.get("logged")} for o in outs]))
`,
      server.url,
    );
    expect(r.err).toBe('');
    const out = lastJson<Array<{ reward: number[] | null; logged?: string }>>(r);
    expect(out.map((o) => o.logged ?? null)).toEqual(Array(8).fill(null));
    for (const [i, o] of out.entries()) expect(o.reward?.[0]).toBeCloseTo(CASES[i]!.expected.score, 9);
  });

  it('a failed sample never reaches training as a number; a server that is down leaves no reward', async () => {
    const down = await deadUrl();
    const r = await runPython(
      `${EXECUTOR}
good = next(c for c in cases if c["expected"]["score"] > 0)
async def main():
    skipped = await execute(URL + "/get_reward", good, verdict=False)
    gone = await execute(${JSON.stringify(`${down}/get_reward`)}, good, pause=0.01)
    return skipped, gone
skipped, gone = asyncio.run(main())
print(json.dumps({"skipped": skipped["reward"], "tensor": failed_with(lambda: to_tensor(skipped["reward"])),
                  "failed_log": skipped["extra_logs"]["gtalign/failed"], "gone": gone["reward"], "logged": gone.get("logged")}))
`,
      server.url,
    );
    expect(r.err).toBe('');
    const out = lastJson<{
      skipped: unknown[];
      tensor: string;
      failed_log: number[];
      gone: unknown;
      logged: string;
    }>(r);
    expect(out.skipped).toEqual([null]);
    expect(out.tensor).toMatch(/^TypeError/);
    expect(out.failed_log).toEqual([1]);
    expect(out.gone).toBeNull();
    expect(out.logged).toMatch(/Request error for 5 times/);
  });

  it('--on-judge-error fail: a judge failure is asked of the judge once, not once per OpenRLHF try; never a number', async () => {
    // OpenRLHF sends a request again on any error status: a 502 would pay for the judge 5 times.
    const { judge, counted } = failingJudge();
    const failing = await startRewardServer({ judge, mathCheck: false, onJudgeError: 'fail', log: () => {} });
    try {
      const r = await runPython(
        `${EXECUTOR}
good = next(c for c in cases if c["expected"]["score"] > 0)
spec = importlib.util.spec_from_file_location("reward_func", "integrations/python/gtalign_reward.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
async def main():
    http = await execute(URL + "/get_reward", good, pause=0.01, verdict=False)
    py = await execute(None, good, reward_func=functools.partial(module.reward_func, url=URL), verdict=False)
    return http, py
http, py = asyncio.run(main())
print(json.dumps({"reward": http["reward"], "tensor": failed_with(lambda: to_tensor(http["reward"])),
                  "failed_log": http["extra_logs"]["gtalign/failed"], "py": py["reward"], "py_logged": py.get("logged")}))
`,
        failing.url,
      );
      expect(r.err).toBe('');
      const out = lastJson<{
        reward: unknown[];
        tensor: string;
        failed_log: number[];
        py: unknown;
        py_logged: string;
      }>(r);
      expect(out.reward).toEqual([null]);
      expect(out.tensor).toMatch(/^TypeError/);
      expect(out.failed_log).toEqual([1]);
      expect(out.py).toBeNull();
      expect(out.py_logged).toMatch(/^gtalign reward: sample 0 failed at judge: .*content refused/);
      // One request of each path, each asking the judge once.
      expect(counted.calls).toBe(2);
    } finally {
      await failing.close();
    }
  });

  it('reward_func refuses a reply without one finite reward per query (short, long or null)', async () => {
    // A scripted /get_reward (a Python http.server in the test's process) that answers with the wrong
    // number of rewards, or a null one, for two queries.
    const r = await runPython(
      `
import json, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import gtalign_reward
REPLIES = [[0.5], [0.5, 0.25, 0.0], [0.5, None]]
class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"]))
        rewards = REPLIES[self.server.n]
        self.server.n += 1
        body = json.dumps({"rewards": rewards, "scores": rewards, "extra_logs": {}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.n = 0
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}"
out = []
for _ in REPLIES:
    try:
        gtalign_reward.reward_func(["q1", "q2"], ["p1", "p2"], ["{}", "{}"], url=url, retries=0)
        out.append("accepted")
    except gtalign_reward.GtalignRewardError as e:
        out.append(str(e))
server.shutdown()
print(json.dumps(out))
`,
      server.url,
    );
    expect(r.err).toBe('');
    const out = lastJson<string[]>(r);
    expect(out).toHaveLength(3);
    for (const message of out)
      expect(message).toMatch(/does not hold one finite reward for each of the 2 queries/);
  });
});
