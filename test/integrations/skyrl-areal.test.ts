/**
 * SkyRL and AReaL: `gtalign_reward` through their extension points, on rows written by `gtalign data export
 * --format skyrl|areal` from the 280 parity cases, against a live offline reward server. Neither trainer
 * is installed here, so each is stood in for by the few lines of its interface the adapter meets:
 *
 * - SkyRL (NovaSky-AI/SkyRL a956457: skyrl 0.3.0, skyrl-gym 0.4.0): a STAND-IN `skyrl_gym` package with
 *   `envs.base_text_env.BaseTextEnv` (`turns`, `max_turns`, `init`) and `BaseTextEnvStepOutput` (a TypedDict:
 *   observations, reward, done, metadata), `envs.registration.register(id, entry_point, kwargs)` and
 *   `make(id, **kwargs)` (a callable entry point called with the kwargs; `register` refuses an id already
 *   registered with `RegistrationError`, as skyrl_gym's `_check_spec_register` does). As skyrl/train/dataset/dataset.py
 *   does, every column but `prompt` and `env_class` goes to the environment as `extras`; as
 *   skyrl/train/generators/skyrl_gym_generator.py does, `make(env_class, env_config=..., extras=...)`,
 *   `init(prompt)`, then `step(output)` in a thread pool (`run_in_executor`); an exception in `step`
 *   propagates (the generator does not catch it).
 * - AReaL (areal-project/AReaL cbff54d, 2.0.0; formerly inclusionAI/AReaL, also 4aef98d, 1.0.4):
 *   areal/api/reward_api.py `AsyncRewardWrapper.__call__(*args, **kwargs)` runs
 *   `partial(reward_fn, *args, **kwargs)` in a `ProcessPoolExecutor` under `asyncio.wait_for(…, 15)`, 4
 *   attempts in all: a call that times out every time scores 0, any other exception is raised after the
 *   last. areal/workflow/rlvr.py `RLVRWorkflow` calls it as `(prompt, completions, prompt_ids,
 *   completion_ids, **row)`; an agent workflow (areal/workflow/openai/math_agent.py `MathAgent`, which
 *   2.0's examples/math/gsm8k_rl.py trains with) as `(completions=…, <row's fields>=…)` from its `run`.
 *   The stand-in does the same with a real process pool (the adapter is pickled by reference and
 *   imported in the worker).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportRows } from '../../src/data/export.js';
import { DEFAULT_END_TOKENS } from '../../src/server/end-tokens.js';
import type { RunningServer } from '../../src/server/listen.js';
import {
  CASES,
  deadUrl,
  expectParity,
  lastJson,
  PRELUDE,
  PYTHON,
  parityRows,
  runPython,
  STAND_IN_FOLDER,
  startOfflineServer,
} from './python-support.js';

const SKYRL_STAND_IN = `${STAND_IN_FOLDER}
write("skyrl_gym/__init__.py", "from skyrl_gym.envs.registration import make, register\\n")
write("skyrl_gym/envs/__init__.py", "from skyrl_gym.envs.registration import make, register\\n")
write("skyrl_gym/envs/base_text_env.py", """
    from typing import Any, Dict, List, TypedDict
    class BaseTextEnvStepOutput(TypedDict):
        observations: List[Dict[str, str]]
        reward: float
        done: bool
        metadata: Dict[str, Any]
    class BaseTextEnv:
        def __init__(self):
            self.turns = 0
            self.max_turns = 1
        def init(self, prompt):
            return prompt, {}
        def step(self, action):
            raise NotImplementedError
""")
write("skyrl_gym/envs/registration.py", """
    import importlib
    from types import SimpleNamespace
    registry = {}   # id -> EnvSpec (id, entry_point, kwargs)
    class RegistrationError(Exception):
        pass
    def register(id, entry_point, kwargs=None):
        if id in registry:
            raise RegistrationError(f"An environment with name \`{id}\` is already registered (id=\`{id}\`).")
        registry[id] = SimpleNamespace(id=id, entry_point=entry_point, kwargs=dict(kwargs or {}))
    def make(id, **kwargs):
        entry_point, defaults = registry[id].entry_point, registry[id].kwargs
        if isinstance(entry_point, str):
            module, _, name = entry_point.partition(":")
            entry_point = getattr(importlib.import_module(module), name)
        return entry_point(**{**defaults, **kwargs})
""")
`;

/** AReaL 2.0's `AsyncRewardWrapper` (areal/api/reward_api.py), over a real process pool of 2 workers. */
const AREAL_WRAPPER = `
from concurrent.futures import ProcessPoolExecutor
pool = None
class AsyncRewardWrapper:
    def __init__(self, reward_fn, timeout_seconds=15, max_retries=3):
        self.reward_fn, self.timeout_seconds, self.max_retries = reward_fn, timeout_seconds, max_retries
    async def __call__(self, *args, **kwargs):
        for attempt in range(self.max_retries + 1):
            is_last = attempt == self.max_retries
            try:
                future = asyncio.get_running_loop().run_in_executor(pool, functools.partial(self.reward_fn, *args, **kwargs))
                return await asyncio.wait_for(future, timeout=self.timeout_seconds)
            except asyncio.TimeoutError:
                if is_last:
                    return 0
            except Exception:
                if is_last:
                    raise
        return 0
`;

describe.skipIf(PYTHON === undefined)('SkyRL environment and AReaL reward function', () => {
  let server: RunningServer;
  let dir: string;
  beforeAll(async () => {
    server = await startOfflineServer();
    dir = await mkdtemp(join(tmpdir(), 'gtalign-skyrl-areal-'));
    await exportRows(parityRows(), { format: 'skyrl', out: join(dir, 'skyrl.jsonl') });
    await exportRows(parityRows(), { format: 'areal', out: join(dir, 'areal.jsonl') });
  });
  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('SkyRL: the registered environment scores each exported row as the reference does; a failure raises in step', async () => {
    const down = await deadUrl();
    const r = await runPython(
      `${PRELUDE}${SKYRL_STAND_IN}
from concurrent.futures import ThreadPoolExecutor
import gtalign_reward as gr
import skyrl_gym
gr.register_skyrl_env()
gr.register_skyrl_env()   # again (an entry point run twice in one Ray worker process): changes nothing
skyrl_gym.register(id="taken", entry_point="some.module:OtherEnv")
taken = failed_with(lambda: gr.register_skyrl_env(id="taken"))   # another environment's name: skyrl_gym refuses it
rows = [json.loads(l) for l in open(${JSON.stringify(join(dir, 'skyrl.jsonl'))})]
by_id = {c["id"]: c for c in cases}
pool = ThreadPoolExecutor(32)
def episode_env(row, env_config):
    extras = {k: v for k, v in row.items() if k not in ("prompt", "env_class")}
    extras["max_turns"] = 1
    env = skyrl_gym.make(row["env_class"], env_config=env_config, extras=extras)
    env.init(row["prompt"])
    return env
async def episode(row, env_config):
    env = episode_env(row, env_config)
    out = await asyncio.get_running_loop().run_in_executor(pool, env.step, by_id[row["id"]]["response"])
    return out
async def main():
    return await asyncio.gather(*(episode(row, {"url": URL}) for row in rows))
outs = asyncio.run(main())
no_verdict_row = dict(rows[0], extra_info={k: v for k, v in rows[0]["extra_info"].items() if k != "verdict"})
no_verdict = failed_with(lambda: asyncio.run(episode(no_verdict_row, {"url": URL})))
no_spec = failed_with(lambda: episode_env({k: v for k, v in rows[0].items() if k != "reward_spec"}, {"url": URL}))
os.environ["GTALIGN_REWARD_RETRIES"] = "1"
down = failed_with(lambda: asyncio.run(episode(rows[0], {"url": ${JSON.stringify(down)}})))
print(json.dumps({
    "ids": [row["id"] for row in rows],
    "rewards": [o["reward"] for o in outs],
    "users": [o["metadata"]["gtalign"]["user_reward"] for o in outs],
    "done": all(o["done"] and o["observations"] == [] for o in outs),
    "no_verdict": no_verdict, "no_spec": no_spec, "down": down, "taken": taken,
}))
`,
      server.url,
    );
    expect(r.err).toBe('');
    const out = lastJson<{
      ids: string[];
      rewards: number[];
      users: number[];
      done: boolean;
      no_verdict: string;
      no_spec: string;
      down: string;
      taken: string;
    }>(r);
    expect(out.ids).toEqual(CASES.map((c) => c.id));
    expectParity(out.rewards, 'score', (ok, m) => expect(ok, m).toBe(true));
    expectParity(out.users, 'user_reward', (ok, m) => expect(ok, m).toBe(true));
    expect(out.done).toBe(true);
    expect(out.no_verdict).toMatch(/^GtalignRewardError: .*failed at input: no "verdict"/);
    expect(out.no_spec).toMatch(/^GtalignRewardError: .*needs data_source and reward_spec\.ground_truth/);
    expect(out.taken).toMatch(/^RegistrationError: .*`taken` is already registered/);
    expect(out.down).toMatch(/^GtalignRewardError: gtalign reward: cannot reach/);
  });

  it('AReaL: the reward function in a process pool under the 15 s wrapper scores each exported row; a failure raises, never 0', async () => {
    const r = await runPython(
      `${PRELUDE}${AREAL_WRAPPER}
import socket, threading
import gtalign_reward as gr
rows = [json.loads(l) for l in open(${JSON.stringify(join(dir, 'areal.jsonl'))})]
by_id = {c["id"]: c for c in cases}
async def wrapped(prompt, completion, row):
    # RLVRWorkflow._compute_rewards: the decoded prompt and completion, their token ids, the row's fields.
    return await AsyncRewardWrapper(gr.areal_reward)(prompt, completion, [1, 2], [3], **row)
def decoded(i, response):
    # tokenizer.decode(resp.output_tokens): a stopped generation ends with its stop token (and maybe pad
    # tokens: ModelResponse.output_tokens_without_stop strips both), one cut at max tokens with none.
    return response + ("<|im_end|>", "<|im_end|><|endoftext|>", "")[i % 3]
async def main():
    return await asyncio.gather(*(wrapped("templated " + row["id"], decoded(i, by_id[row["id"]]["response"]), row)
                                  for i, row in enumerate(rows)))
if __name__ == "__main__":
    os.environ["GTALIGN_REWARD_URL"] = URL
    pool = ProcessPoolExecutor(2)
    rewards = asyncio.run(main())
    bad = dict(rows[0], extra_info={k: v for k, v in rows[0]["extra_info"].items() if k != "verdict"})
    no_verdict = failed_with(lambda: asyncio.run(wrapped("p", by_id[rows[0]["id"]]["response"], bad)))
    no_truth = failed_with(lambda: gr.areal_reward("p", "c", [], [], data_source="math-hard"))
    # A server that takes the request and never answers: one attempt, ended by the adapter's own timeout.
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(8)
    accepted = []
    def accept_all():
        while True:
            try:
                accepted.append(hang.accept()[0])
            except OSError:
                return
    threading.Thread(target=accept_all, daemon=True).start()
    gr.AREAL_TIMEOUT = 0.5
    os.environ["GTALIGN_REWARD_URL"] = "http://127.0.0.1:%d" % hang.getsockname()[1]
    slow = failed_with(lambda: gr.areal_reward("p", "c", [], [], **rows[0]))
    print(json.dumps({"ids": [row["id"] for row in rows], "rewards": rewards, "no_verdict": no_verdict,
                      "no_truth": no_truth, "slow": slow, "connections": len(accepted), "end_tokens": list(gr.END_TOKENS)}))
`,
      server.url,
    );
    expect(r.err).toBe('');
    const out = lastJson<{
      ids: string[];
      rewards: number[];
      no_verdict: string;
      no_truth: string;
      slow: string;
      connections: number;
      end_tokens: string[];
    }>(r);
    expect(out.ids).toEqual(CASES.map((c) => c.id));
    // The stop tokens AReaL leaves in the text are cut, as verl's decoding (skip_special_tokens) leaves them out.
    expectParity(out.rewards, 'score', (ok, m) => expect(ok, m).toBe(true));
    // The adapter cuts the tokens the server cuts from an OpenRLHF rollout by default.
    expect(out.end_tokens).toEqual(DEFAULT_END_TOKENS);
    expect(out.no_verdict).toMatch(/^GtalignRewardError: .*failed at input: no "verdict"/);
    expect(out.no_truth).toMatch(/^GtalignRewardError: .*needs data_source and ground_truth/);
    // One attempt, ended by the adapter's own timeout (10 s by default, below AReaL's 15 s; 0.5 s here),
    // so a judge too slow for AReaL is a rejected rollout, not AReaL's 0.
    expect(out.slow).toMatch(/^GtalignRewardError: gtalign reward: cannot reach .*timed out/);
    expect(out.connections).toBe(1);
  });

  it('AReaL 2.0: an agent workflow awaits the wrapped reward function with keywords only, as MathAgent does', async () => {
    const r = await runPython(
      `${PRELUDE}${AREAL_WRAPPER}
import gtalign_reward as gr
rows = [json.loads(l) for l in open(${JSON.stringify(join(dir, 'areal.jsonl'))})]
by_id = {c["id"]: c for c in cases}
class GtalignAgent:
    # areal/workflow/openai/math_agent.py MathAgent: AsyncRewardWrapper(reward_fn) made in __init__, and in
    # run the chat completion's content passed as completions=, with the row's fields, by keyword.
    def __init__(self, **kwargs):
        self._reward_fn = AsyncRewardWrapper(gr.areal_reward)
    async def run(self, data, **extra_kwargs):
        content = by_id[data["id"]]["response"]  # stands in for the policy's answer through AReaL's proxy
        return await self._reward_fn(completions=content, **data)
async def main():
    agent = GtalignAgent()
    return await asyncio.gather(*(agent.run(row, base_url="http://proxy", api_key="k") for row in rows))
if __name__ == "__main__":
    os.environ["GTALIGN_REWARD_URL"] = URL
    pool = ProcessPoolExecutor(2)
    rewards = asyncio.run(main())
    no_completion = failed_with(lambda: gr.areal_reward(**rows[0]))
    print(json.dumps({"ids": [row["id"] for row in rows], "rewards": rewards, "no_completion": no_completion}))
`,
      server.url,
    );
    expect(r.err).toBe('');
    const out = lastJson<{ ids: string[]; rewards: number[]; no_completion: string }>(r);
    expect(out.ids).toEqual(CASES.map((c) => c.id));
    expectParity(out.rewards, 'score', (ok, m) => expect(ok, m).toBe(true));
    expect(out.no_completion).toMatch(
      /^GtalignRewardError: .*needs the completion text \(completions=\.\.\.\)/,
    );
  });
});
