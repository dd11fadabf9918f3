/**
 * TRL 1.9.0 (huggingface/trl 35def3e): `gtalign_reward` called the way TRL calls reward functions:
 * - trl/trainer/grpo_trainer.py `_calculate_rewards`: every dataset column but prompt/completion/
 *   completion_ids as keyword lists, plus `trainer_state`, `log_extra`, `log_metric`; a function with
 *   `inspect.iscoroutinefunction` true is awaited (`prompts=…, completions=…, completion_ids=…,
 *   **reward_kwargs`) on the trainer's daemon event loop via `asyncio.run_coroutine_threadsafe(…).result()`;
 *   `None` becomes NaN; names come from trl/trainer/utils.py `get_callable_name` (partials unwrapped);
 * - `environment_factory`: `factory()` per rollout, `reset(**row)`, public methods other than reset and
 *   get_reward become tools (called as `tool_dict[name](**arguments)`), and an async `get_reward` is
 *   wrapped as `[await e.get_reward() if type(e) is _env_type else None for e in environments]`;
 * - trl/experimental/async_grpo/async_rollout_worker.py: reward functions and the environment factory are
 *   pickled (`pickle.dumps(self._loop_kwargs)`) into a spawned process (`mp.get_context("spawn")`);
 *   `_score_group` awaits `reward_func(completions=…, prompts=…, completion_ids=…, **group.reward_kwargs)`
 *   (conversational completions, no trainer_state/log_* there).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/listen.js';
import { expectParity, lastJson, PRELUDE, PYTHON, runPython, startOfflineServer } from './python-support.js';

const TRL = `${PRELUDE}
import threading, multiprocessing as mp
import gtalign_reward as gr

def get_callable_name(func):
    while isinstance(func, functools.partial):
        func = func.func
    return getattr(func, "__name__", type(func).__name__)

def start_event_loop_in_daemon():
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    def run():
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()
    threading.Thread(target=run, daemon=True).start()
    ready.wait()
    return loop

def dataset_rows(chunk, verdict=True):
    return [{"prompt": [{"role": "user", "content": "Question " + c["id"]}], "data_source": c["data_source"],
             "reward_model": {"ground_truth": c["ground_truth"], "style": "rule"}, "extra_info": extra(c, verdict)} for c in chunk]

metrics, extras = {}, {}
def calculate_rewards(reward_funcs, inputs, completions, loop):
    prompts = [x["prompt"] for x in inputs]
    keys = [key for key in inputs[0] if key not in ["prompt", "completion", "completion_ids"]]
    reward_kwargs = {key: [example[key] for example in inputs] for key in keys}
    reward_kwargs["trainer_state"] = object()
    reward_kwargs["log_extra"] = lambda column, values: extras.setdefault(column, []).extend(values)
    reward_kwargs["log_metric"] = lambda name, value: metrics.setdefault(name, []).append(value)
    completion_ids = [[1, 2, 3] for _ in completions]
    columns = []
    for func in reward_funcs:
        assert inspect.iscoroutinefunction(func), "TRL would call it synchronously"
        async def invoke(func=func):
            output = await func(prompts=prompts, completions=completions, completion_ids=completion_ids, **reward_kwargs)
            return [r if r is not None else float("nan") for r in output]
        columns.append(asyncio.run_coroutine_threadsafe(invoke(), loop).result())
    return columns
`;

describe.skipIf(PYTHON === undefined)('TRL 1.9 reward functions and environments', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startOfflineServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('GRPOTrainer: the async reward function (a partial) gives the reference numbers on 280 cases; None where told', async () => {
    const r = await runPython(
      `${TRL}
loop = start_event_loop_in_daemon()
fn = gr.trl_reward_func(url=URL)
conversational = [[{"role": "assistant", "content": c["response"]}] for c in cases]
[scores] = calculate_rewards([fn], dataset_rows(cases), conversational, loop)
lenient = gr.trl_reward_func(url=URL, on_error="none")
mixed_rows = dataset_rows(cases[:2])
mixed_rows[1]["data_source"] = "no-such-source"
[mixed] = calculate_rewards([lenient], mixed_rows, [c["response"] for c in cases[:2]], loop)
strict = failed_with(lambda: calculate_rewards([fn], mixed_rows, [c["response"] for c in cases[:2]], loop))
print(json.dumps({"name": get_callable_name(fn), "scores": scores, "mixed": [None if math.isnan(x) else x for x in mixed],
                  "strict": strict, "metrics": sorted(metrics), "extras": sorted(extras), "logged": len(extras["gtalign_user_reward"])}))
`,
      server.url,
    );
    expect(r.err).toBe('');
    const out = lastJson<{
      name: string;
      scores: number[];
      mixed: Array<number | null>;
      strict: string;
      metrics: string[];
      extras: string[];
      logged: number;
    }>(r);
    expect(out.name).toBe('gtalign_welfare');
    expectParity(out.scores, 'score', (ok, m) => expect(ok, m).toBe(true));
    expect(typeof out.mixed[0]).toBe('number');
    expect(out.mixed[1]).toBeNull();
    expect(out.strict).toMatch(
      /^GtalignRewardError: gtalign reward: sample 1 failed at score: .*no-such-source/,
    );
    expect(out.metrics).toEqual(['gtalign/failed', 'gtalign/llm_reward', 'gtalign/user_reward']);
    expect(out.extras).toEqual(['gtalign_llm_reward', 'gtalign_user_reward']);
    expect(out.logged).toBe(280 + 2); // the strict call raised before logging
  });

  it('AsyncGRPOTrainer: the pickled function and environment factory score 280 cases in a spawned process', async () => {
    const r = await runPython(
      `${TRL}
def child(payload, url, q):
    import asyncio, pickle
    loaded = pickle.loads(payload)
    reward_funcs, factory, groups = loaded["reward_funcs"], loaded["environment_factory"], loaded["groups"]
    async def score_group(group):
        kwargs = dict(completions=group["completions"], prompts=group["prompts"], completion_ids=group["completion_ids"], **group["reward_kwargs"])
        return await asyncio.gather(*[f(**kwargs) if inspect.iscoroutinefunction(f) else asyncio.to_thread(f, **kwargs) for f in reward_funcs])
    async def env_rewards(rows, responses):
        out = []
        for row, response in zip(rows, responses):
            env = factory()
            env.reset(**row)
            tool_dict = {m.__name__: m for name, m in inspect.getmembers(env, predicate=inspect.ismethod)
                         if name not in ("reset", "get_reward") and not name.startswith("_")}
            tool_dict["submit_response"](**{"response": response})
            get_reward = env.get_reward
            out.append(await get_reward() if inspect.iscoroutinefunction(get_reward) else get_reward())
        return out
    async def main():
        scores = [await score_group(g) for g in groups]
        envs = await env_rewards(loaded["rows"], loaded["responses"])
        return scores, envs
    q.put(asyncio.run(main()))

if __name__ == "__main__":
    rows = dataset_rows(cases)
    groups = []
    for start in range(0, len(cases), 8):   # num_generations = 8: one group per prompt in the worker
        chunk = cases[start:start + 8]
        groups.append({"completions": [[{"role": "assistant", "content": c["response"]}] for c in chunk],
                       "prompts": [r["prompt"] for r in rows[start:start + 8]],
                       "completion_ids": [[1] for _ in chunk],
                       "reward_kwargs": {k: [r[k] for r in rows[start:start + 8]] for k in ("data_source", "reward_model", "extra_info")}})
    payload = pickle.dumps({"reward_funcs": [gr.trl_reward_func(url=URL)],
                            "environment_factory": functools.partial(gr.GtalignEnvironment, url=URL),
                            "groups": groups, "rows": rows, "responses": [c["response"] for c in cases]})
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=child, args=(payload, URL, q))
    p.start()
    scores, envs = q.get(timeout=120)
    p.join()
    env = gr.GtalignEnvironment(url=URL)
    tools = [name for name, m in inspect.getmembers(env, predicate=inspect.ismethod) if name not in ("reset", "get_reward") and not name.startswith("_")]
    print(json.dumps({"scores": [s for g in scores for s in g[0]], "envs": envs, "tools": tools,
                      "async_get_reward": inspect.iscoroutinefunction(env.get_reward)}))
`,
      server.url,
    );
    expect(r.err).toBe('');
    const out = lastJson<{ scores: number[]; envs: number[]; tools: string[]; async_get_reward: boolean }>(r);
    expectParity(out.scores, 'score', (ok, m) => expect(ok, m).toBe(true));
    expectParity(out.envs, 'score', (ok, m) => expect(ok, m).toBe(true));
    expect(out.tools).toEqual(['submit_response']);
    expect(out.async_get_reward).toBe(true);
  });
});
