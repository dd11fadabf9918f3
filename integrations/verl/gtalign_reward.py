"""GTAlign mutual-welfare reward for verl, computed by a running `gtalign reward serve`.

Standard library only (urllib), so it loads in any verl worker without installing anything. Point verl at
this file (see README.md):

    custom_reward_function.path=integrations/verl/gtalign_reward.py
    custom_reward_function.name=compute_score            # NaiveRewardManager, one sample per call
    custom_reward_function.name=compute_score_batch      # with reward_model.reward_manager=batch

Settings, from `custom_reward_function.reward_kwargs` or the environment:
    url       GTALIGN_REWARD_URL      the server (default http://127.0.0.1:5000)
    api_key   GTALIGN_REWARD_API_KEY  a key from the server's --api-key-env (default: none)
    timeout   GTALIGN_REWARD_TIMEOUT  seconds per HTTP request (default 600: a batch may wait on a judge)
    retries   GTALIGN_REWARD_RETRIES  attempts per request on connection errors, 429 and 5xx (default 5);
                                      any other 4xx (400, 401, 413, ...) is raised at once with the
                                      server's message: sending the same request again cannot help
    batch     GTALIGN_REWARD_BATCH    most samples per request (default 512)

Every score is a dict: "score" (the reward verl uses) plus the components (user_reward, llm_reward,
answer_reward, format, payoff_quality, a_user, a_llm, judge), which verl logs as reward_extra_info.

A sample that cannot be scored (the judge failed after its retries, a bad data_source, no verdict under
--judge offline) raises GtalignRewardError naming it. It is never turned into a 0: a silent 0 would be
training signal that says the model did badly when nobody knows.

With `--judge offline` on the server, a sample's verdict is taken from extra_info["verdict"].
"""

from __future__ import annotations

import http.client
import json
import os
import random
import time
import urllib.error
import urllib.request
from typing import Any, Dict, List, Mapping, Optional, Sequence

__all__ = ["GtalignRewardError", "compute_score", "compute_score_batch", "score_samples"]

COMPONENTS = ("user_reward", "llm_reward", "answer_reward")
COMPONENT_PARTS = ("format", "payoff_quality", "a_user", "a_llm", "judge")


class GtalignRewardError(RuntimeError):
    """A sample could not be scored, or the reward server could not be reached."""


def _setting(kwargs: Mapping[str, Any], name: str, env: str, default: Any) -> Any:
    value = kwargs.get(name)
    if value is None:
        value = os.environ.get(env)
    return default if value is None or value == "" else value


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays (verl's extra_info comes from parquet) become plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"cannot send a {type(value).__name__} to the reward server")


class _EarlyAnswer:
    """A connection on which a server's early answer can be read.

    A server may answer before it has the whole body (413: too large, 401: no key) and close the
    connection; sending the rest then fails with "Broken pipe" or "Connection reset", and urllib would
    report that instead of the answer. Here the failed send is remembered and the answer read; the send
    error is raised only when there is no answer to read.
    """

    _send_error: Optional[OSError] = None

    def send(self, data: Any) -> None:
        if self._send_error is not None:
            return
        try:
            super().send(data)  # type: ignore[misc]
        except (BrokenPipeError, ConnectionResetError) as err:
            self._send_error = err

    def getresponse(self) -> http.client.HTTPResponse:
        try:
            return super().getresponse()  # type: ignore[misc]
        except (OSError, http.client.HTTPException):
            if self._send_error is not None:
                raise self._send_error from None
            raise


class _HTTPConnection(_EarlyAnswer, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_EarlyAnswer, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_HTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_HTTPSConnection, req, context=getattr(self, "_context", None))


# urllib's opener (environment proxies included) with connections that read early answers.
_OPENER = urllib.request.build_opener(_HTTPHandler, _HTTPSHandler)


def _post(url: str, payload: Dict[str, Any], api_key: Optional[str], timeout: float, retries: int) -> Any:
    body = json.dumps(payload, default=_jsonable).encode("utf-8")
    headers = {"content-type": "application/json"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    last = ""
    for attempt in range(max(1, retries)):
        if attempt > 0:
            # Exponential backoff with full jitter, capped at 30 s.
            time.sleep(random.uniform(0, min(30.0, 0.5 * 2**attempt)))
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as err:
            text = err.read().decode("utf-8", "replace")
            try:
                message = json.loads(text)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = text[:300]
            last = f"HTTP {err.code} from {url}: {message}"
            if err.code != 429 and err.code < 500:
                break  # a bad request, a body too large or a wrong key: the same request fails again
        except (urllib.error.URLError, OSError, ValueError) as err:
            last = f"cannot reach {url}: {getattr(err, 'reason', err)}"
    raise GtalignRewardError(f"gtalign reward: {last}")


def _record(i: int, data_source: Any, solution_str: Any, ground_truth: Any, extra_info: Any) -> Dict[str, Any]:
    extra = dict(extra_info) if isinstance(extra_info, Mapping) else None
    record: Dict[str, Any] = {
        "id": i,
        "data_source": str(data_source),
        "response": solution_str,
        "ground_truth": ground_truth if isinstance(ground_truth, str) else json.dumps(ground_truth, default=_jsonable),
    }
    if extra is not None:
        verdict = extra.pop("verdict", None)
        if verdict is not None:
            record["verdict"] = float(verdict)
        record["extra_info"] = extra
    return record


def _score_of(line: Mapping[str, Any]) -> Dict[str, float]:
    out = {"score": float(line["score"])}
    for name in COMPONENTS:
        out[name] = float(line[name])
    components = line.get("components") or {}
    for name in COMPONENT_PARTS:
        out[name] = float(components.get(name, 0.0))
    return out


def score_samples(records: Sequence[Dict[str, Any]], **kwargs: Any) -> List[Dict[str, float]]:
    """Scores records of `gtalign reward score`'s input format through the server, in order."""
    base = str(_setting(kwargs, "url", "GTALIGN_REWARD_URL", "http://127.0.0.1:5000")).rstrip("/")
    api_key = _setting(kwargs, "api_key", "GTALIGN_REWARD_API_KEY", None)
    timeout = float(_setting(kwargs, "timeout", "GTALIGN_REWARD_TIMEOUT", 600))
    retries = int(_setting(kwargs, "retries", "GTALIGN_REWARD_RETRIES", 5))
    batch = max(1, int(_setting(kwargs, "batch", "GTALIGN_REWARD_BATCH", 512)))
    scores: List[Dict[str, float]] = []
    for start in range(0, len(records), batch):
        chunk = list(records[start : start + batch])
        reply = _post(f"{base}/v1/reward/score", {"samples": chunk}, api_key, timeout, retries)
        results = reply.get("results") if isinstance(reply, dict) else None
        if not isinstance(results, list) or len(results) != len(chunk):
            raise GtalignRewardError(f"gtalign reward: unexpected reply from {base}: {str(reply)[:300]}")
        for offset, line in enumerate(results):
            if "error" in line:
                error = line["error"]
                raise GtalignRewardError(
                    f"gtalign reward: sample {start + offset} ({chunk[offset].get('data_source')}) "
                    f"failed at {error.get('stage')}: {error.get('message')}"
                )
            scores.append(_score_of(line))
    return scores


def compute_score(
    data_source: Any, solution_str: str, ground_truth: Any, extra_info: Any = None, **kwargs: Any
) -> Dict[str, float]:
    """verl's reward function signature: one sample."""
    return score_samples([_record(0, data_source, solution_str, ground_truth, extra_info)], **kwargs)[0]


def compute_score_batch(
    data_sources: Sequence[Any],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Optional[Sequence[Any]] = None,
    **kwargs: Any,
) -> List[Dict[str, float]]:
    """verl's BatchRewardManager signature: the whole batch in one request (or a few, by `batch`)."""
    n = len(solution_strs)
    if len(data_sources) != n or len(ground_truths) != n or (extra_infos is not None and len(extra_infos) != n):
        raise GtalignRewardError("gtalign reward: data_sources, solution_strs, ground_truths, extra_infos differ in length")
    records = [
        _record(i, data_sources[i], solution_strs[i], ground_truths[i], None if extra_infos is None else extra_infos[i])
        for i in range(n)
    ]
    return score_samples(records, **kwargs)
