/**
 * NeMo-RL: `gtalign_reward.register_nemo_rl()` and the environment and data processor it registers, on
 * rows written by `gtalign data export --format nemo-rl` from the 280 parity cases, against a live offline
 * reward server. NeMo-RL, Ray and torch are not installed here, so they are stood in for by the lines of
 * their interfaces the adapter meets, as NVIDIA-NeMo/RL 7ea279a (0.6.0) has them:
 *
 * - STAND-IN `nemo_rl`: `environments.interfaces` (`EnvironmentInterface`, an ABC with `step` and
 *   `global_post_process_and_metrics`; `EnvironmentReturn`, the NamedTuple of observations, metadata,
 *   next_stop_strings, rewards, terminateds, answers); `environments.utils` (`ENV_REGISTRY`, `register_env`
 *   refusing a name twice, and `create_env` resolving the class path by import as hydra's `get_object`
 *   does, refusing a class without a Python environment in `distributed.ray_actor_environment_registry`,
 *   then `actor_class.options(runtime_env=…).remote(env_config)`); `distributed.virtual_cluster`
 *   (`PY_EXECUTABLES.SYSTEM`); `data.processors` (`PROCESSOR_REGISTRY`, `register_processor` refusing a
 *   name twice).
 * - STAND-IN `ray`: `remote(**options)` on a class, `.options(…).remote(*args)` starting the actor in a
 *   process of its own (multiprocessing, spawn), where the class is found again by its path (real Ray
 *   sends the class by cloudpickle instead, which this does not test); `handle.method.remote(*args)` and
 *   `ray.get` (of one call or a list of them) carry calls, results and exceptions between the processes
 *   by pickle.
 * - STAND-IN `torch`: `tensor`, `ones_like`, `stack`, `float32` and a list-backed tensor of one dimension
 *   or none (`ndim`; indexing gives a 0-d tensor).
 * - The tokenizer is a STAND-IN too: a ChatML template and one id per character.
 *
 * The rollout is driven as nemo_rl/experience/rollouts.py does it: each sample's message log (the processed
 * prompt, then the assistant's message) and its `extra_env_info` go to `env.step.remote`, and `ray.get`
 * re-raises what the actor raised.
 *
 * NeMo-RL v0.7.0 (81aa43d, on the r0.7.0 branch that left main on 2026-06-27) registers, creates and
 * steps environments and calls processors as 7ea279a does; what differs is how the rollout reads the
 * step's rewards. The second test drives the environment through a STAND-IN of v0.7.0's
 * `nemo_rl/experience/rollouts.py` (`calculate_rewards`, and the reward reading of `run_multi_turn_rollout`
 * and of the per-sample async rollout).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportRows } from '../../src/data/export.js';
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

const STAND_INS = `${STAND_IN_FOLDER}
for package in ("nemo_rl", "nemo_rl/environments", "nemo_rl/distributed", "nemo_rl/data"):
    write(package + "/__init__.py", "")
write("nemo_rl/environments/interfaces.py", """
    import abc
    from typing import Any, Generic, NamedTuple, TypeVar
    MetadataT = TypeVar("MetadataT")
    class EnvironmentReturn(NamedTuple):
        observations: list
        metadata: list
        next_stop_strings: list
        rewards: Any
        terminateds: Any
        answers: Any
    class EnvironmentInterface(abc.ABC, Generic[MetadataT]):
        @abc.abstractmethod
        def step(self, message_log_batch, metadata): ...
        @abc.abstractmethod
        def global_post_process_and_metrics(self, batch): ...
""")
write("nemo_rl/distributed/virtual_cluster.py", """
    class PY_EXECUTABLES:
        SYSTEM = "python"
""")
write("nemo_rl/distributed/ray_actor_environment_registry.py", """
    ACTOR_ENVIRONMENT_REGISTRY = {"nemo_rl.environments.math_environment.MathEnvironment": "python"}
    def get_actor_python_env(fqn):
        if fqn in ACTOR_ENVIRONMENT_REGISTRY:
            return ACTOR_ENVIRONMENT_REGISTRY[fqn]
        raise ValueError("No actor environment registered for " + fqn)
""")
write("nemo_rl/environments/utils.py", """
    import importlib
    from nemo_rl.distributed.ray_actor_environment_registry import get_actor_python_env
    ENV_REGISTRY = {"math": {"actor_class_fqn": "nemo_rl.environments.math_environment.MathEnvironment"}}
    def get_object(path):
        module, _, name = path.rpartition(".")
        return getattr(importlib.import_module(module), name)
    def create_env(env_name, env_config):
        assert env_name in ENV_REGISTRY, "Env name %s is not registered in ENV_REGISTRY" % env_name
        fqn = ENV_REGISTRY[env_name]["actor_class_fqn"]
        actor_class = get_object(fqn)
        py = get_actor_python_env(fqn)
        return actor_class.options(runtime_env={"py_executable": py}).remote(env_config)
    def register_env(env_name, actor_class_fqn):
        if env_name in ENV_REGISTRY:
            raise ValueError("Env name %s already registered" % env_name)
        ENV_REGISTRY[env_name] = {"actor_class_fqn": actor_class_fqn}
""")
write("nemo_rl/data/processors.py", """
    PROCESSOR_REGISTRY = {"default": None}
    def register_processor(name, fn):
        if name in PROCESSOR_REGISTRY:
            raise ValueError("Processor name %s already registered" % name)
        PROCESSOR_REGISTRY[name] = fn
""")
write("torch/__init__.py", """
    float32 = "float32"
    class Tensor:
        # One dimension, or none: an element of one (what indexing gives, as in torch).
        def __init__(self, values, ndim=1):
            self.values = [float(v) for v in values]
            self.ndim = ndim
        def __len__(self):
            if self.ndim == 0:
                raise TypeError("len() of a 0-d tensor")
            return len(self.values)
        def __getitem__(self, i):
            return Tensor([self.values[i]], 0)
        def __float__(self):
            return self.item()
        def float(self):
            return self
        def mean(self):
            return Tensor([sum(self.values) / len(self.values)], 0)
        def item(self):
            if len(self.values) != 1:
                raise RuntimeError("a Tensor with %d elements cannot be converted to Scalar" % len(self.values))
            return self.values[0]
    def tensor(values, dtype=None):
        return Tensor(values)
    def ones_like(t):
        return Tensor([1.0] * len(t))
    def stack(tensors):
        if any(t.ndim != 0 for t in tensors):
            raise NotImplementedError("the stand-in stacks 0-d tensors only")
        return Tensor([t.item() for t in tensors])
""")
write("ray/__init__.py", """
    import importlib, multiprocessing, threading
    _ctx = multiprocessing.get_context("spawn")
    def _serve(module, qualname, args, conn):
        # The actor's process: the class found again by its path (the module imported there).
        cls = getattr(importlib.import_module(module), qualname)._cls
        actor = cls(*args)
        while True:
            msg = conn.recv()
            if msg is None:
                return
            name, call_args = msg
            try:
                conn.send((True, getattr(actor, name)(*call_args)))
            except BaseException as e:
                conn.send((False, e))
    class ObjectRef:
        def __init__(self, conn, lock):
            self.conn, self.lock = conn, lock
    class _Method:
        def __init__(self, handle, name):
            self.handle, self.name = handle, name
        def remote(self, *args):
            with self.handle.lock:
                self.handle.conn.send((self.name, args))
                return self.handle.conn.recv()
    class ActorHandle:
        def __init__(self, conn, process):
            self.conn, self.process, self.lock = conn, process, threading.Lock()
        def __getattr__(self, name):
            return _Method(self, name)
    class ActorClass:
        def __init__(self, cls, options):
            self._cls, self._options = cls, options
        def options(self, **kwargs):
            return self
        def remote(self, *args):
            here, there = _ctx.Pipe()
            p = _ctx.Process(target=_serve, args=(self._cls.__module__, self._cls.__name__, args, there), daemon=True)
            p.start()
            return ActorHandle(here, p)
    def remote(**options):
        return lambda cls: ActorClass(cls, options)
    def get(result):
        if isinstance(result, list):
            return [get(r) for r in result]
        ok, value = result
        if ok:
            return value
        raise value
    def kill(handle):
        handle.conn.send(None)
""")

class Tokenizer:
    """A STAND-IN tokenizer: a ChatML template, one id per character."""
    def apply_chat_template(self, messages, tokenize, add_generation_prompt, add_special_tokens):
        text = "".join("<|im_start|>%s\\n%s<|im_end|>\\n" % (m["role"], m["content"]) for m in messages)
        return text + ("<|im_start|>assistant\\n" if add_generation_prompt else "")
    def __call__(self, text, return_tensors, add_special_tokens):
        return {"input_ids": [[ord(c) for c in text]]}
`;

// v0.7.0's rollouts.py, the lines that meet the environment: calculate_rewards whole; of
// run_multi_turn_rollout and run_async_multi_turn_rollout (run_sample_multi_turn_rollout), one turn's reading
// of the rewards (a tensor: [B] for one reward, [B, K] for K components) and terminateds; and the async
// rollout's wrapping of a sample's exception.
const ROLLOUTS_V070 = `
write("nemo_rl/experience/__init__.py", "")
write("nemo_rl/experience/rollouts.py", """
    import asyncio
    import ray, torch
    from nemo_rl.environments.interfaces import EnvironmentReturn
    def calculate_rewards(batch, task_to_env):
        to_env = [[{k: m[k] for k in ("role", "content")} for m in log] for log in batch["message_log"]]
        task_groups = {}
        for i, task_name in enumerate(batch["task_name"]):
            task_groups.setdefault(task_name, []).append((i, to_env[i]))
        futures, future_indices = [], []
        for task_name, group in task_groups.items():
            if task_name not in task_to_env:
                raise ValueError("No environment found for task type: " + task_name)
            indices = [idx for idx, _ in group]
            env_info = [batch["extra_env_info"][i] for i in indices]
            futures.append(task_to_env[task_name].step.remote([msg for _, msg in group], env_info))
            future_indices.append(indices)
        results = ray.get(futures)
        rewards, observations, terminateds, stops, metadata, order, answers = [], [], [], [], [], [], []
        for indices, result in zip(future_indices, results):
            env_observations, meta, next_stop_strings, task_rewards, task_terminateds, task_answers = result
            if next_stop_strings is None:
                next_stop_strings = [None] * len(task_rewards)
            if task_answers is None:
                task_answers = [None] * len(task_rewards)
            for i, idx in enumerate(indices):
                order.append(idx)
                rewards.append(task_rewards[i])
                observations.append(env_observations[i])
                terminateds.append(task_terminateds[i])
                stops.append(next_stop_strings[i])
                metadata.append(meta[i])
                answers.append(task_answers[i])
        s = sorted(range(len(order)), key=lambda k: order[k])
        if len(rewards) > 0 and isinstance(rewards[0], torch.Tensor):
            stacked = torch.stack([rewards[i] for i in s])
        else:
            stacked = torch.tensor([rewards[i] for i in s])
        return EnvironmentReturn(
            observations=[observations[i] for i in s],
            metadata=[metadata[i] for i in s],
            next_stop_strings=[stops[i] for i in s],
            rewards=stacked,
            terminateds=torch.tensor([terminateds[i] for i in s]),
            answers=[answers[i] for i in s],
        )
    def multi_turn_rewards(batch, task_to_env):
        # One turn of run_multi_turn_rollout: the rewards' shape tells one reward from K components.
        out = calculate_rewards(batch, task_to_env)
        components = int(out.rewards.shape[1]) if out.rewards.ndim >= 2 else 1
        return out, components
    def async_rewards(samples, task_to_env):
        # run_async_multi_turn_rollout: each sample alone through calculate_rewards (in a thread, as
        # asyncio.to_thread runs it), its reward read as rewards[0]; a sample's exception wrapped and raised.
        async def one(i, sample):
            try:
                batch = {k: [sample[k]] for k in ("message_log", "extra_env_info", "task_name")}
                out = await asyncio.get_running_loop().run_in_executor(None, calculate_rewards, batch, task_to_env)
                if out.rewards.ndim == 2 and out.rewards.shape[1] >= 1:
                    raise AssertionError("read as K reward components")
                return float(out.rewards[0].item()), bool(out.terminateds[0].item())
            except Exception as e:
                raise RuntimeError("Error in sample %d rollout: %s" % (i, e)) from e
        async def every():
            return await asyncio.gather(*[one(i, s) for i, s in enumerate(samples)], return_exceptions=False)
        return asyncio.run(every())
""")
`;

describe.skipIf(PYTHON === undefined)('NeMo-RL environment and data processor', () => {
  let server: RunningServer;
  let dir: string;
  beforeAll(async () => {
    server = await startOfflineServer();
    dir = await mkdtemp(join(tmpdir(), 'gtalign-nemo-rl-'));
    await exportRows(
      parityRows((c) => [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: `Question ${c.id}` },
      ]),
      { format: 'nemo-rl', out: join(dir, 'nemo-rl.jsonl') },
    );
  });
  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('scores each exported row in the registered environment as the reference does; a failure raises from ray.get', async () => {
    const down = await deadUrl();
    const r = await runPython(
      `${PRELUDE}${STAND_INS}
import gtalign_reward as gr
# The module alone imports none of them: it stays standard-library-only outside NeMo-RL.
clean = not any(m in sys.modules for m in ("ray", "torch", "nemo_rl"))
import ray
from nemo_rl.data.processors import PROCESSOR_REGISTRY
from nemo_rl.environments.utils import create_env

if __name__ == "__main__":
    gr.register_nemo_rl()
    gr.register_nemo_rl()  # again: nothing changes
    tokenizer = Tokenizer()
    rows = [json.loads(l) for l in open(${JSON.stringify(join(dir, 'nemo-rl.jsonl'))})]
    by_id = {c["id"]: c for c in cases}
    process = PROCESSOR_REGISTRY["gtalign"]
    specs = [process(dict(row, task_name="gtalign-data"), None, tokenizer, 4096, i) for i, row in enumerate(rows)]
    env = create_env("gtalign", {"url": URL})
    def rollout(batch):
        logs = [spec["message_log"] + [{"role": "assistant", "content": by_id.get(spec["extra_env_info"].get("id"), cases[0])["response"]}] for spec in batch]
        return ray.get(env.step.remote(logs, [spec["extra_env_info"] for spec in batch]))
    outs = [rollout(specs[i:i + 64]) for i in range(0, len(specs), 64)]
    rewards = [v for out in outs for v in out.rewards.values]
    batch, metrics = ray.get(env.global_post_process_and_metrics.remote({"rewards": outs[0].rewards}))
    no_verdict = dict(specs[0], extra_env_info=dict(specs[0]["extra_env_info"], extra_info={}))
    no_source = dict(specs[0], extra_env_info={"ground_truth": "1"})
    long = process(dict(rows[0], task_name="t"), None, tokenizer, 10, 0)
    down_env = create_env("gtalign", {"url": ${JSON.stringify(down)}, "retries": 1})
    down = failed_with(lambda: ray.get(down_env.step.remote([specs[0]["message_log"]], [specs[0]["extra_env_info"]])))
    print(json.dumps({
        "ids": [spec["extra_env_info"]["id"] for spec in specs],
        "rewards": rewards,
        "users": [m["gtalign"]["user_reward"] for out in outs for m in out.metadata],
        "ended": all(v == 1.0 for out in outs for v in out.terminateds.values),
        "prompt": specs[0]["message_log"][0]["content"],
        "length": specs[0]["length"],
        "task": specs[0]["task_name"],
        "welfare": metrics["gtalign/welfare"],
        "first": sum(outs[0].rewards.values) / len(outs[0].rewards.values),
        "long": [long["loss_multiplier"], len(long["message_log"][0]["token_ids"])],
        "no_verdict": failed_with(lambda: rollout([no_verdict])),
        "no_source": failed_with(lambda: rollout([no_source])),
        "no_messages": failed_with(lambda: process({"extra_env_info": "{}"}, None, tokenizer, 10, 7)),
        "unregistered": failed_with(lambda: gr.__getattr__("Nope")),
        "down": down,
        "clean": clean,
    }))
    ray.kill(env)
    ray.kill(down_env)
`,
      server.url,
    );
    expect(r.err).toBe('');
    const out = lastJson<{
      ids: string[];
      rewards: number[];
      users: number[];
      ended: boolean;
      prompt: string;
      length: number;
      task: string;
      welfare: number;
      first: number;
      long: [number, number];
      no_verdict: string;
      no_source: string;
      no_messages: string;
      unregistered: string;
      down: string;
      clean: boolean;
    }>(r);
    expect(out.clean).toBe(true);
    expect(out.ids).toEqual(CASES.map((c) => c.id));
    expectParity(out.rewards, 'score', (ok, m) => expect(ok, m).toBe(true));
    expectParity(out.users, 'user_reward', (ok, m) => expect(ok, m).toBe(true));
    expect(out.ended).toBe(true);
    // The row's own messages through the chat template, system message included, ending in the assistant's turn.
    const prompt = `<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nQuestion ${CASES[0]!.id}<|im_end|>\n<|im_start|>assistant\n`;
    expect(out.prompt).toBe(prompt);
    expect(out.length).toBe(prompt.length);
    expect(out.task).toBe('gtalign-data');
    expect(out.welfare).toBeCloseTo(out.first, 12);
    // Longer than max_seq_length: cut and masked out, as NeMo-RL's own processors do.
    expect(out.long).toEqual([0, 4]);
    expect(out.no_verdict).toMatch(/^GtalignRewardError: .*failed at input: no "verdict"/);
    expect(out.no_source).toMatch(
      /^GtalignRewardError: .*needs extra_env_info with data_source and ground_truth/,
    );
    expect(out.no_messages).toMatch(/^GtalignRewardError: .*row 7 has no messages/);
    expect(out.unregistered).toMatch(/^AttributeError: .*has no attribute 'Nope'/);
    expect(out.down).toMatch(/^GtalignRewardError: gtalign reward: cannot reach/);
  });

  it('scores rollouts as v0.7.0 reads them: by task group, one reward per sample, and per sample in the async rollout; a failure raises', async () => {
    const r = await runPython(
      `${PRELUDE}${STAND_INS}${ROLLOUTS_V070}
import gtalign_reward as gr
import ray
from nemo_rl.data.processors import PROCESSOR_REGISTRY
from nemo_rl.environments.utils import create_env
from nemo_rl.experience.rollouts import async_rewards, multi_turn_rewards

if __name__ == "__main__":
    gr.register_nemo_rl()
    tokenizer = Tokenizer()
    rows = [json.loads(l) for l in open(${JSON.stringify(join(dir, 'nemo-rl.jsonl'))})]
    by_id = {c["id"]: c for c in cases}
    process = PROCESSOR_REGISTRY["gtalign"]
    # Two data sets, each on an environment of its own, their samples interleaved: calculate_rewards sends
    # each task's samples in one step and puts the results back in the batch's order.
    tasks = ["gtalign-a", "gtalign-b"]
    specs = [process(dict(row, task_name=tasks[i % 2]), None, tokenizer, 4096, i) for i, row in enumerate(rows)]
    task_to_env = {task: create_env("gtalign", {"url": URL}) for task in tasks}
    def sample(spec):
        reply = by_id.get(spec["extra_env_info"].get("id"), cases[0])["response"]
        return {
            "message_log": spec["message_log"] + [{"role": "assistant", "content": reply, "token_ids": [0]}],
            "extra_env_info": spec["extra_env_info"],
            "task_name": spec["task_name"],
        }
    def batch(samples):
        return {k: [s[k] for s in samples] for k in ("message_log", "extra_env_info", "task_name")}
    samples = [sample(spec) for spec in specs]
    out, components = multi_turn_rewards(batch(samples), task_to_env)
    each = async_rewards(samples, task_to_env)
    bad = dict(samples[1], extra_env_info=dict(samples[1]["extra_env_info"], extra_info={}))
    def async_failure():
        try:
            async_rewards([samples[0], bad], task_to_env)
            return "no error"
        except RuntimeError as e:
            return type(e).__name__ + ": " + str(e) + " <- " + type(e.__cause__).__name__
    print(json.dumps({
        "rewards": out.rewards.values,
        "ndim": out.rewards.ndim,
        "components": components,
        "users": [m["gtalign"]["user_reward"] for m in out.metadata],
        "ids": [m["id"] for m in out.metadata],
        "ended": all(v == 1.0 for v in out.terminateds.values),
        "async": [v for v, _ in each],
        "async_ended": all(t for _, t in each),
        "sync_failure": failed_with(lambda: multi_turn_rewards(batch([samples[0], bad]), task_to_env)),
        "async_failure": async_failure(),
    }))
    for env in task_to_env.values():
        ray.kill(env)
`,
      server.url,
    );
    expect(r.err).toBe('');
    const out = lastJson<{
      rewards: number[];
      ndim: number;
      components: number;
      users: number[];
      ids: string[];
      ended: boolean;
      async: number[];
      async_ended: boolean;
      sync_failure: string;
      async_failure: string;
    }>(r);
    // One reward per sample, one-dimensional: v0.7.0 reads it as a single reward, not K components.
    expect(out.ndim).toBe(1);
    expect(out.components).toBe(1);
    expect(out.ids).toEqual(CASES.map((c) => c.id));
    expectParity(out.rewards, 'score', (ok, m) => expect(ok, m).toBe(true));
    expectParity(out.users, 'user_reward', (ok, m) => expect(ok, m).toBe(true));
    expect(out.ended).toBe(true);
    expectParity(out.async, 'score', (ok, m) => expect(ok, m).toBe(true));
    expect(out.async_ended).toBe(true);
    expect(out.sync_failure).toMatch(/^GtalignRewardError: .*failed at input: no "verdict"/);
    expect(out.async_failure).toMatch(
      /^RuntimeError: Error in sample 1 rollout: .*failed at input: no "verdict".* <- GtalignRewardError$/,
    );
  });
});
