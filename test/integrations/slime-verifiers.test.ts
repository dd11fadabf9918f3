/**
 * slime and Verifiers: `gtalign_reward` through their extension points.
 * - slime (THUDM/slime 624b824, after v0.3.1): slime/rollout/rm_hub/__init__.py `async_rm` loads
 *   `--custom-rm-path` with slime/utils/misc.py `load_function` (`importlib.import_module` of the dotted
 *   path) and awaits `rm_function(args, sample)`; `batched_async_rm` (and `--group-rm`) awaits
 *   `rm_function(args, samples)` with a list and expects a list. `args.rm_url` is `--rm-url`.
 *   slime/rollout/sglang_rollout.py stores the result in `sample.reward`; it asks SGLang for the text with
 *   `no_stop_trim=True` and `skip_special_tokens=False` (`--rollout-skip-special-tokens` unset), so a
 *   response that stopped ends with its stop token (`<|im_end|>` for Qwen).
 * - Verifiers (PrimeIntellect-ai/verifiers a60a606, after v0.3.0): verifiers/legacy/rubrics/rubric.py
 *   `_call_individual_reward_func` passes the score objects (`prompt`, `completion`, `answer`, `state`,
 *   `info`, `task`, …) to a function with `**kwargs`, awaits it (`maybe_await`) and takes `float(…)`; it logs
 *   an exception and scores 0.0 (so a v1 task is the place where a failure must stay one); its messages
 *   are verifiers/legacy/types.py's pydantic models (`AssistantMessage`, …), not dicts.
 *   verifiers/v1/task.py `Task.score` invokes `@vf.reward` methods inside `boundary(TaskError, …)`, with
 *   `trace` (verifiers/v1/trace.py `Trace`), whose `messages` are verifiers/v1/types.py's pydantic models
 *   (`UserMessage`, `AssistantMessage` with `content: str | None`, `tool_calls`, …; content parts are
 *   `TextContentPart` objects with `text`), not dicts. The STAND-IN message classes below have those
 *   attributes (pydantic is not installed everywhere the tests run).
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

describe.skipIf(PYTHON === undefined)('slime custom RM and Verifiers rubric functions', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startOfflineServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('slime: per sample and per group, the reference numbers on 280 cases; a failure raises', async () => {
    const down = await deadUrl();
    const r = await runPython(
      `${PRELUDE}
import types
from dataclasses import dataclass, field
@dataclass
class Sample:
    prompt: str = ""
    response: str = ""
    label: str = None
    reward: object = None
    metadata: dict = field(default_factory=dict)

def load_function(path):
    module_path, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module_path), attr)

args = types.SimpleNamespace(custom_rm_path="gtalign_reward.slime_rm", rm_url=URL, group_rm=False)
rm_function = load_function(args.custom_rm_path)
def sglang_text(i, c):
    # Stopped at the stop token (kept: no_stop_trim), or (every third) cut at the response length limit.
    return c["response"] + ("<|im_end|>", "<|im_end|>", "")[i % 3]
samples = [Sample(prompt="Question " + c["id"], response=sglang_text(i, c), label=label(c)) for i, c in enumerate(cases)]
async def generate_and_rm(sample):
    if sample.reward is None:
        sample.reward = await rm_function(args, sample)
    return sample
async def main():
    await asyncio.gather(*(generate_and_rm(s) for s in samples))
    group = [Sample(response=sglang_text(i, c), label=label(c)) for i, c in enumerate(cases)]
    rewards = await rm_function(args, group)
    return [s.reward for s in samples], rewards
single, grouped = asyncio.run(main())
bad = Sample(response=cases[0]["response"], label=label(cases[0], verdict=False))
no_verdict = failed_with(lambda: asyncio.run(rm_function(args, bad)))
down_args = types.SimpleNamespace(custom_rm_path=args.custom_rm_path, rm_url=${JSON.stringify(down)}, group_rm=False)
os.environ["GTALIGN_REWARD_RETRIES"] = "1"
down = failed_with(lambda: asyncio.run(rm_function(down_args, samples[0])))
print(json.dumps({"single": single, "grouped": grouped, "no_verdict": no_verdict, "down": down}))
`,
      server.url,
    );
    expect(r.err).toBe('');
    const out = lastJson<{ single: number[]; grouped: number[]; no_verdict: string; down: string }>(r);
    expectParity(out.single, 'score', (ok, m) => expect(ok, m).toBe(true));
    expectParity(out.grouped, 'score', (ok, m) => expect(ok, m).toBe(true));
    expect(out.no_verdict).toMatch(/^GtalignRewardError: .*failed at input: no "verdict"/);
    expect(out.down).toMatch(/^GtalignRewardError: gtalign reward: cannot reach/);
  });

  it('Verifiers: the rubric function as the legacy Rubric calls it, and score_completion in a v1 reward', async () => {
    const r = await runPython(
      `${PRELUDE}
import gtalign_reward as gr
from dataclasses import dataclass
@dataclass
class TextContentPart:
    text: str
    type: str = "text"
@dataclass
class UserMessage:
    content: object
    role: str = "user"
@dataclass
class AssistantMessage:
    content: object = None
    reasoning_content: object = None
    tool_calls: object = None
    role: str = "assistant"
func = functools.partial(gr.verifiers_reward, url=URL)
async def maybe_await(f, **kw):
    out = f(**kw)
    return await out if inspect.isawaitable(out) else out
async def call_individual(c):
    # state["completion"]: verifiers/legacy/types.py message models too (dict-like get, but no Mapping)
    merged = {"prompt": [UserMessage(content="q")], "completion": [AssistantMessage(content=c["response"])],
              "answer": c["ground_truth"], "state": {}, "info": {"data_source": c["data_source"], "extra_info": extra(c)}, "task": None}
    sig = inspect.signature(func)
    assert any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    try:
        return float(await maybe_await(func, **merged))
    except Exception:   # the legacy Rubric logs the error and scores 0.0
        return 0.0
class Trace:
    # Trace.messages: the final branch's messages, as verifiers.v1.types models
    def __init__(self, messages):
        self.messages = messages
class TaskError(Exception):
    pass
async def v1_reward(c, verdict=True, parts=False):
    # The README's @vf.reward method: score_completion(trace.messages, self.data...), the reply's text as
    # one string, or (parts) as content parts split in two, after a tool-call turn without content.
    text = c["response"]
    reply = AssistantMessage(content=[TextContentPart(text[:10]), TextContentPart(text[10:])] if parts else text)
    trace = Trace([UserMessage(content="Question " + c["id"]), AssistantMessage(content=None, tool_calls=[]), reply])
    try:   # boundary(TaskError, "task ... scoring")
        return await gr.score_completion(trace.messages, c["data_source"], c["ground_truth"], extra(c, verdict), url=URL)
    except Exception as e:
        raise TaskError(f"task scoring: {type(e).__name__}: {e}") from e
async def main():
    legacy = await asyncio.gather(*(call_individual(c) for c in cases))
    v1 = await asyncio.gather(*(v1_reward(c) for c in cases))
    v1_parts = await asyncio.gather(*(v1_reward(c, parts=True) for c in cases))
    return legacy, v1, v1_parts
legacy, v1, v1_parts = asyncio.run(main())
failure = failed_with(lambda: asyncio.run(v1_reward(cases[0], verdict=False)))
# A reply with no text (content None): an empty output, not an unreadable completion.
no_reply = asyncio.run(gr.score_completion([UserMessage(content="q"), AssistantMessage(content=None)], cases[0]["data_source"],
                                           cases[0]["ground_truth"], extra(cases[0]), url=URL))
print(json.dumps({"legacy": legacy, "v1": v1, "v1_parts": v1_parts, "failure": failure, "no_reply": no_reply}))
`,
      server.url,
    );
    expect(r.err).toBe('');
    const out = lastJson<{
      legacy: number[];
      v1: number[];
      v1_parts: number[];
      failure: string;
      no_reply: number;
    }>(r);
    expectParity(out.legacy, 'score', (ok, m) => expect(ok, m).toBe(true));
    expectParity(out.v1, 'score', (ok, m) => expect(ok, m).toBe(true));
    expectParity(out.v1_parts, 'score', (ok, m) => expect(ok, m).toBe(true));
    expect(out.failure).toMatch(/^TaskError: task scoring: GtalignRewardError: .*no "verdict"/);
    // An assistant message without text is an empty output: the reference's 0 for an output without the blocks.
    expect(out.no_reply).toBe(0);
  });
});
