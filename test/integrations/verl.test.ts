/**
 * verl: `gtalign_reward.compute_score` called the way verl's reward loop calls a custom reward function,
 * reproduced from verl v0.9.0 (verl-project/verl 483b8a0):
 * - verl/trainer/ppo/reward.py `get_custom_reward_fn`: the function is loaded from a file path with
 *   `importlib.util.spec_from_file_location("custom_module_<hash>", path)` (verl/utils/import_utils.py
 *   `load_module`), and wrapped as `partial(_call_with_kwargs_async, raw_fn, reward_kwargs)` when
 *   `inspect.iscoroutinefunction(raw_fn)`, else `partial(_call_with_kwargs, …)`; reward_kwargs win over
 *   call-time kwargs;
 * - verl/experimental/reward_loop/reward_manager/naive.py `run_single`: `extra_info` gains `num_turns`
 *   and `rollout_reward_scores`; an async function is awaited with the keywords `data_source`,
 *   `solution_str`, `ground_truth`, `extra_info`, a sync one runs in `loop.run_in_executor(None, …)`;
 *   a dict result gives `score` and every key goes to `reward_extra_info`;
 * - verl/experimental/reward_loop/reward_loop.py `RewardLoopWorker.compute_score_batch`: one task per
 *   sample, `asyncio.gather` (an exception fails the whole batch).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/listen.js';
import {
  deadUrl,
  expectParity,
  lastJson,
  PRELUDE,
  PYTHON,
  runPython,
  startOfflineServer,
} from './python-support.js';

if (PYTHON === undefined) console.warn('test/integrations: no python3; the verl adapter tests are skipped');

const VERL_LOOP = `${PRELUDE}
def load_extern_object(module_path, object_name):
    spec = importlib.util.spec_from_file_location(f"custom_module_{hash(os.path.abspath(module_path))}", module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, object_name)

def _call_with_kwargs(raw_fn, extra_kwargs, *args, **kwargs):
    return raw_fn(*args, **{**kwargs, **extra_kwargs})

async def _call_with_kwargs_async(raw_fn, extra_kwargs, *args, **kwargs):
    return await raw_fn(*args, **{**kwargs, **extra_kwargs})

def get_custom_reward_fn(path, name, reward_kwargs):
    raw_fn = load_extern_object(path, name)
    if not inspect.iscoroutinefunction(raw_fn):
        return functools.partial(_call_with_kwargs, raw_fn, reward_kwargs)
    return functools.partial(_call_with_kwargs_async, raw_fn, reward_kwargs)

class NaiveRewardManager:
    def __init__(self, compute_score):
        self.compute_score = compute_score
        self.is_async_reward_score = inspect.iscoroutinefunction(self.compute_score)
    async def run_single(self, c, with_verdict=True):
        loop = asyncio.get_running_loop()
        extra_info = extra(c, with_verdict)
        extra_info["num_turns"] = None
        extra_info["rollout_reward_scores"] = {}
        kw = dict(data_source=c["data_source"], solution_str=c["response"], ground_truth=c["ground_truth"], extra_info=extra_info)
        if self.is_async_reward_score:
            result = await self.compute_score(**kw)
        else:
            result = await loop.run_in_executor(None, lambda: self.compute_score(**kw))
        reward_extra_info = {}
        if isinstance(result, dict):
            score = result["score"]
            for key, value in result.items():
                reward_extra_info[key] = value
        else:
            score = result
            reward_extra_info["acc"] = score
        return {"reward_score": score, "reward_extra_info": reward_extra_info}

async def compute_score_batch(manager, batch, with_verdict=True):
    tasks = [asyncio.create_task(manager.run_single(c, with_verdict)) for c in batch]
    return await asyncio.gather(*tasks)

PATH = "integrations/python/gtalign_reward.py"
`;

describe.skipIf(PYTHON === undefined)('verl reward loop (v0.9.0) with gtalign_reward.compute_score', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startOfflineServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('async compute_score and sync compute_score_sync give the reference numbers on all 280 parity cases', async () => {
    const r = await runPython(
      `${VERL_LOOP}
async_fn = get_custom_reward_fn(PATH, "compute_score", {"url": URL})
sync_fn = get_custom_reward_fn(PATH, "compute_score_sync", {"url": URL})
a = NaiveRewardManager(async_fn)
s = NaiveRewardManager(sync_fn)
out_a = asyncio.run(compute_score_batch(a, cases))
out_s = asyncio.run(compute_score_batch(s, cases))
print(json.dumps({"async_detected": a.is_async_reward_score, "sync_detected": s.is_async_reward_score,
                  "a": out_a, "s": [o["reward_score"] for o in out_s]}))
`,
      server.url, // reward_kwargs carry the URL, as verl's config would
    );
    expect(r.err).toBe('');
    const out = lastJson<{
      async_detected: boolean;
      sync_detected: boolean;
      a: Array<{ reward_score: number; reward_extra_info: Record<string, number> }>;
      s: number[];
    }>(r);
    expect(out.async_detected).toBe(true);
    expect(out.sync_detected).toBe(false);
    const fail = (ok: boolean, m: string) => expect(ok, m).toBe(true);
    expectParity(
      out.a.map((o) => o.reward_score),
      'score',
      fail,
    );
    for (const field of ['user_reward', 'llm_reward', 'answer_reward'] as const) {
      expectParity(
        out.a.map((o) => o.reward_extra_info[field] ?? null),
        field,
        fail,
      );
    }
    expectParity(out.s, 'score', fail);
    expect(Object.keys(out.a[0]!.reward_extra_info).sort()).toEqual([
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
  });

  it('a failed sample raises through asyncio.gather (the step fails); so does a server that is down', async () => {
    const down = await deadUrl();
    const r = await runPython(
      `${VERL_LOOP}
good = next(c for c in cases if c["expected"]["score"] > 0)
m = NaiveRewardManager(get_custom_reward_fn(PATH, "compute_score", {"url": URL}))
no_verdict = failed_with(lambda: asyncio.run(compute_score_batch(m, [good, good], with_verdict=False)))
m_down = NaiveRewardManager(get_custom_reward_fn(PATH, "compute_score", {"url": ${JSON.stringify(down)}, "retries": 2}))
down = failed_with(lambda: asyncio.run(compute_score_batch(m_down, [good])))
s_down = NaiveRewardManager(get_custom_reward_fn(PATH, "compute_score_sync", {"url": ${JSON.stringify(down)}, "retries": 1}))
sync_down = failed_with(lambda: asyncio.run(compute_score_batch(s_down, [good])))
print(json.dumps({"no_verdict": no_verdict, "down": down, "sync_down": sync_down}))
`,
      server.url,
    );
    expect(r.err).toBe('');
    const out = lastJson<Record<string, string>>(r);
    expect(out.no_verdict).toMatch(/^GtalignRewardError: .*failed at input: no "verdict"/);
    expect(out.down).toMatch(/^GtalignRewardError: gtalign reward: cannot reach http:\/\/127\.0\.0\.1:\d+/);
    expect(out.sync_down).toMatch(/^GtalignRewardError: gtalign reward: cannot reach/);
  });

  it('the legacy batch manager (verl <= 0.7.0) gets the same numbers from compute_score_batch', async () => {
    const r = await runPython(
      `${VERL_LOOP}
fn = get_custom_reward_fn(PATH, "compute_score_batch", {"url": URL, "batch": 100})
out = fn(data_sources=[c["data_source"] for c in cases], solution_strs=[c["response"] for c in cases],
         ground_truths=[c["ground_truth"] for c in cases], extra_infos=[extra(c) for c in cases])
print(json.dumps([o["score"] for o in out]))
`,
      server.url,
    );
    expect(r.err).toBe('');
    expectParity(lastJson<number[]>(r), 'score', (ok, m) => expect(ok, m).toBe(true));
  });
});
