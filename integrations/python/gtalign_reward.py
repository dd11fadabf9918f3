"""GTAlign mutual-welfare reward for RL trainers, computed by a running ``gtalign reward serve``.

One standard-library-only module for every trainer (install it with ``pip install integrations/python``, or
copy this single file next to the training script). It holds one HTTP client (keep-alive connections,
bounded concurrency, retries with backoff, explicit failures) and an entry point per trainer, each
following the trainer's current interface:

=================  ==========================================================================================
verl               ``compute_score`` (``async def``, the reward loop awaits it) and ``compute_score_sync``
                   (for the ``remote`` manager and the legacy managers), ``compute_score_batch`` (the
                   legacy ``batch`` manager of verl <= 0.7.0)
OpenRLHF           ``reward_func(queries, prompts, labels)`` for ``--reward.remote_url /path/gtalign_reward.py``
                   (the server itself speaks OpenRLHF's HTTP protocol at ``/get_reward``)
TRL                ``gtalign_welfare`` (``async def`` reward function), ``trl_reward_func(...)`` (a picklable
                   ``functools.partial`` of it) and ``GtalignEnvironment`` (an environment owning the reward
                   through ``get_reward``)
slime              ``slime_rm`` for ``--custom-rm-path gtalign_reward.slime_rm``
Verifiers          ``verifiers_reward`` (a rubric function) and ``score_completion`` (for a v1 ``@vf.reward``)
SkyRL              ``skyrl_env`` (a skyrl-gym environment's entry point; ``register_skyrl_env()`` registers it)
AReaL              ``areal_reward`` (``reward_fn="gtalign_reward.areal_reward"`` of ``RLVRWorkflow``, or awaited by
                   keyword through ``AsyncRewardWrapper`` in an agent workflow's ``run``)
NeMo-RL            ``register_nemo_rl()`` registers the ``gtalign`` environment (a Ray actor scoring each batch
                   of rollouts) and the ``gtalign`` data processor
=================  ==========================================================================================

Settings come from keyword arguments (verl's ``reward_kwargs``, a ``functools.partial``) or else from the
environment: ``url`` / ``GTALIGN_REWARD_URL`` (default ``http://127.0.0.1:5000``), ``api_key`` /
``GTALIGN_REWARD_API_KEY``, ``timeout`` / ``GTALIGN_REWARD_TIMEOUT`` (seconds per HTTP request, default 300:
above the server's 170 s deadline, so the server always answers first), ``retries`` /
``GTALIGN_REWARD_RETRIES`` (attempts on timeouts, 429 and 5xx other than a judge's failure; default 5),
``retry_seconds`` / ``GTALIGN_REWARD_RETRY_SECONDS`` (how long a call goes on retrying while the server is
down: refused or reset connections, 503, a proxy's 502; default 180, AReaL 14 s less its timeout),
``backoff`` / ``GTALIGN_REWARD_BACKOFF`` (seconds, default 1: the first retry waits up to this long, each
next one up to twice as long, at most 10 s, with full jitter), ``concurrency`` /
``GTALIGN_REWARD_CONCURRENCY`` (requests in flight per process and event loop; default 64) and ``batch`` /
``GTALIGN_REWARD_BATCH`` (most samples per request; default 512). A server found down is logged once
(logger ``gtalign_reward``); ``retry_seconds=0`` gives up after ``retries`` attempts.

A sample the server's deadline overtook (``error.deadline``: its judge call goes on there) is sent again,
within ``retries`` attempts, and joins that call. A sample that cannot be scored (the judge failed after
its retries, an unknown data source, no verdict under ``--judge offline``, the server unreachable) raises
:class:`GtalignRewardError` naming it. It is never turned into a 0: a made-up 0 tells the policy that an
answer was bad when nobody knows. Where a trainer has a failure marker of its own (TRL's ``None``),
``on_error="none"`` returns that instead. The client's ``X-Gtalign-Deadline-Ms`` header (90% of
``timeout``) has the server answer before the client gives up, so that leaving cancels no judge call.

With ``gtalign reward serve --judge offline`` a sample's verdict is read from ``extra_info["verdict"]``.
"""

from __future__ import annotations

import asyncio
import functools
import http.client
import json
import logging
import math
import os
import random
import socket
import ssl
import threading
import time
import urllib.parse
import weakref
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

__all__ = [
    "GtalignRewardError",
    "RewardClient",
    "client",
    "make_record",
    "compute_score",
    "compute_score_sync",
    "compute_score_batch",
    "reward_func",
    "gtalign_welfare",
    "trl_reward_func",
    "GtalignEnvironment",
    "slime_rm",
    "verifiers_reward",
    "score_completion",
    "skyrl_env",
    "register_skyrl_env",
    "areal_reward",
    "nemo_rl_processor",
    "register_nemo_rl",
]

__version__ = "0.4.1"

#: The components returned with every verl score (verl logs them as ``reward_extra_info``).
COMPONENTS: Tuple[str, ...] = ("user_reward", "llm_reward", "answer_reward")
COMPONENT_PARTS: Tuple[str, ...] = ("format", "payoff_quality", "a_user", "a_llm", "judge")

DEFAULT_URL = "http://127.0.0.1:5000"
SCORE_PATH = "/v1/reward/score"
GET_REWARD_PATH = "/get_reward"

JsonDict = Dict[str, Any]

_log = logging.getLogger("gtalign_reward")

#: Error codes of 5xx answers that are final (``--on-judge-error fail``): a judge or look-ahead failure
#: after the server's retries. Any other 5xx (a restart, a proxy, 504 past the deadline) is retried.
FINAL_FAILURES = ("judge_failed", "lookahead_failed")


class GtalignRewardError(RuntimeError):
    """A sample could not be scored, or the reward server could not be reached or refused the request."""


# --------------------------------------------------------------------------------------------------------
# Settings and records


def _setting(kwargs: Mapping[str, Any], name: str, env: str, default: Any) -> Any:
    value = kwargs.get(name)
    if value is None:
        value = os.environ.get(env)
    return default if value is None or value == "" else value


#: How long a call goes on retrying while the server is down (a restart): a supervisor's restart, a pod
#: rescheduled or a server reloading its judge cache takes from seconds to a minute or two. Past it the
#: server is taken for gone (a wrong URL, a crash for good) and the step fails, within 3 minutes.
DEFAULT_RETRY_SECONDS = 180.0
#: The longest wait between two attempts: a server back up is found within this long.
BACKOFF_CAP = 10.0


def _number(kwargs: Mapping[str, Any], name: str, env: str, default: Any, integer: bool, positive: bool) -> Any:
    """A numeric setting; one that is not a finite number of at least 0 (above 0 when ``positive``) is
    refused naming the keyword or the environment variable it came from (not a bare ValueError)."""
    raw = _setting(kwargs, name, env, default)
    source = name if kwargs.get(name) is not None else env
    try:
        value = int(raw) if integer else float(raw)
    except (TypeError, ValueError, OverflowError):
        value = None
    if value is None or not math.isfinite(value) or value < 0 or (positive and value == 0):
        want = ("an integer" if integer else "a number of seconds") + (" above 0" if positive else " of at least 0")
        raise GtalignRewardError(f"gtalign reward: {source} must be {want}, got {raw!r}")
    return value


def _settings(kwargs: Mapping[str, Any]) -> Tuple[str, Optional[str], float, int, int, int, float, float]:
    return (
        str(_setting(kwargs, "url", "GTALIGN_REWARD_URL", DEFAULT_URL)).rstrip("/"),
        _setting(kwargs, "api_key", "GTALIGN_REWARD_API_KEY", None),
        _number(kwargs, "timeout", "GTALIGN_REWARD_TIMEOUT", 300.0, integer=False, positive=True),
        max(1, _number(kwargs, "retries", "GTALIGN_REWARD_RETRIES", 5, integer=True, positive=False)),
        max(1, _number(kwargs, "concurrency", "GTALIGN_REWARD_CONCURRENCY", 64, integer=True, positive=False)),
        max(1, _number(kwargs, "batch", "GTALIGN_REWARD_BATCH", 512, integer=True, positive=False)),
        _number(kwargs, "retry_seconds", "GTALIGN_REWARD_RETRY_SECONDS", DEFAULT_RETRY_SECONDS, integer=False, positive=False),
        _number(kwargs, "backoff", "GTALIGN_REWARD_BACKOFF", 1.0, integer=False, positive=False),
    )


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays (verl's extra_info comes from parquet) become plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot send a {type(value).__name__} to the reward server")


def make_record(
    data_source: Any,
    response: str,
    ground_truth: Any,
    extra_info: Any = None,
    id: Any = 0,
) -> JsonDict:
    """One input record of ``gtalign reward score`` (the body of ``POST /v1/reward/score``).

    ``extra_info["verdict"]``, when present, becomes the record's verdict (what ``--judge offline`` uses).
    """
    if not isinstance(response, str):
        raise GtalignRewardError(f"gtalign reward: the response must be a string, got {type(response).__name__}")
    record: JsonDict = {
        "id": id,
        "data_source": str(data_source),
        "response": response,
        "ground_truth": ground_truth if isinstance(ground_truth, str) else json.dumps(ground_truth, default=_jsonable),
    }
    if isinstance(extra_info, Mapping):
        extra = dict(extra_info)
        verdict = extra.pop("verdict", None)
        if verdict is not None:
            record["verdict"] = float(verdict)
        record["extra_info"] = extra
    return record


#: End-of-turn and padding tokens of common chat templates: the server's default ``--end-token`` list
#: (src/server/end-tokens.ts), cut from an OpenRLHF rollout's end there, and from a slime response and an AReaL
#: completion here (both trainers keep the stop token in the text they hand over).
END_TOKENS: Tuple[str, ...] = (
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "</s>",
    "<end_of_turn>",
    "<eos>",
    "<pad>",
    "<|end|>",
)


def _strip_end_tokens(text: str) -> str:
    """The text without the end-of-turn and padding tokens at its very end (and only there); anything
    but a string is left for :func:`make_record` to refuse."""
    changed = isinstance(text, str)
    while changed:
        changed = False
        for token in END_TOKENS:
            if text.endswith(token):
                text = text[: -len(token)]
                changed = True
    return text


def _failure(line: Mapping[str, Any], what: str) -> str:
    error = line.get("error") or {}
    return f"gtalign reward: {what} failed at {error.get('stage')}: {error.get('message')}"


def verl_score(line: Mapping[str, Any]) -> Dict[str, float]:
    """A result line of the server as verl's score dict: ``score`` plus the components."""
    out = {"score": float(line["score"])}
    for name in COMPONENTS:
        out[name] = float(line[name])
    parts = line.get("components") or {}
    for name in COMPONENT_PARTS:
        out[name] = float(parts.get(name, 0.0))
    return out


# --------------------------------------------------------------------------------------------------------
# HTTP


class _EarlyAnswerMixin:
    """A connection on which an answer sent before the whole body was read can still be read.

    A server or proxy may answer (413: too large, 401: no key) and close before it has the body; sending
    the rest then fails with a broken pipe, and http.client would report that instead of the answer.
    """

    _send_error: Optional[OSError] = None

    def send(self, data: Any) -> None:
        if self._send_error is not None:
            return
        try:
            super().send(data)  # type: ignore[misc]
        except (BrokenPipeError, ConnectionResetError) as err:
            # Reset while connecting: no connection, so no answer to read; a failed attempt like a refusal.
            if self.sock is None:  # type: ignore[attr-defined]
                raise
            self._send_error = err

    def getresponse(self) -> http.client.HTTPResponse:
        try:
            return super().getresponse()  # type: ignore[misc]
        except (OSError, http.client.HTTPException):
            if self._send_error is not None:
                raise self._send_error from None
            raise


class _HTTPConnection(_EarlyAnswerMixin, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_EarlyAnswerMixin, http.client.HTTPSConnection):
    pass


class _Retry(Exception):
    """An attempt that may succeed when repeated (429, 5xx); ``down``: the server is not there (503, or a
    proxy's 502 without the server's own error body), retried for ``retry_seconds``."""

    def __init__(self, detail: str, down: bool) -> None:
        super().__init__(detail)
        self.down = down


class _Attempts:
    """When a call tries again: ``retries`` attempts in all, and while the server is down (a connection
    refused or reset, a 503) for ``retry_seconds`` from the first attempt, so that a restart of the
    server does not fail the trainer's step. Waits grow exponentially with full jitter, up to
    ``BACKOFF_CAP``; none ends past the time budget, so a call ends within ``retry_seconds`` plus one
    attempt's ``timeout``."""

    def __init__(self, retries: int, retry_seconds: float, backoff: float) -> None:
        self.retries = retries
        self.retry_seconds = retry_seconds
        self.backoff = backoff
        self.start = time.monotonic()
        self.made = 0

    def wait(self, down: bool) -> Optional[float]:
        """Seconds to wait before the next attempt, or None to give up (call after each failed attempt)."""
        self.made += 1
        wait = random.uniform(0, min(BACKOFF_CAP, self.backoff * 2 ** (self.made - 1)))
        if self.made < self.retries:
            return wait
        left = self.retry_seconds - (time.monotonic() - self.start)
        return min(wait, left) if down and left > 0 else None

    def given_up(self) -> str:
        return f" (gave up after {self.made} attempts in {time.monotonic() - self.start:.1f} s)"


class _LoopState:
    """Per event loop: its semaphore and idle connections (asyncio objects belong to one loop)."""

    def __init__(self, concurrency: int) -> None:
        self.semaphore = asyncio.Semaphore(concurrency)
        self.idle: List[Tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []


class RewardClient:
    """A client of ``gtalign reward serve``, safe to share between threads and event loops.

    Sync calls reuse keep-alive ``http.client`` connections from a pool, at most ``concurrency`` requests
    in flight per client; async calls use asyncio streams, at most ``concurrency`` in flight per event
    loop. Timeouts, HTTP 429 and 5xx are retried (``retries`` attempts), but for a judge's failure
    (``FINAL_FAILURES``); a server that is down (connection refused or reset, 503) is retried for
    ``retry_seconds`` (see :class:`_Attempts`); any other 4xx is raised at once with the server's message.
    Pickling a client keeps its settings only (``AsyncGRPOTrainer`` and Ray pickle reward functions).
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        api_key: Optional[str] = None,
        timeout: float = 300.0,
        retries: int = 5,
        concurrency: int = 64,
        batch: int = 512,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        backoff: float = 1.0,
    ) -> None:
        self.url = url.rstrip("/")
        parsed = urllib.parse.urlsplit(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise GtalignRewardError(f"gtalign reward: not an http(s) URL: {url!r}")
        self._https = parsed.scheme == "https"
        self._host = parsed.hostname
        self._port = parsed.port or (443 if self._https else 80)
        self._prefix = parsed.path.rstrip("/")
        self.api_key = api_key
        self.timeout = float(timeout)
        self.retries = max(1, int(retries))
        self.concurrency = max(1, int(concurrency))
        self.batch = max(1, int(batch))
        self.retry_seconds = max(0.0, float(retry_seconds))
        # Not 0: a server that refuses at once would be asked in a busy loop for ``retry_seconds``.
        self.backoff = max(0.001, float(backoff))
        # Set while the server is found down, so that an outage is logged once, not once per request.
        self._down_logged = False
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._idle: List[http.client.HTTPConnection] = []
        self._loops: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState]" = weakref.WeakKeyDictionary()

    def __reduce__(self) -> Any:
        settings = (self.url, self.api_key, self.timeout, self.retries, self.concurrency, self.batch)
        return (RewardClient, settings + (self.retry_seconds, self.backoff))

    # -- shared -------------------------------------------------------------------------------------------

    def _headers(self, length: int) -> Dict[str, str]:
        headers = {"Content-Type": "application/json", "Content-Length": str(length), "Connection": "keep-alive"}
        # The server answers by then, before this client gives up: leaving would cancel the judge calls
        # that a retry could join (AReaL's 10 s; the default 300 s is past the server's own 170 s).
        if math.isfinite(self.timeout):
            headers["X-Gtalign-Deadline-Ms"] = str(max(1, int(self.timeout * 900)))
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _check(self, path: str, status: int, body: bytes) -> Any:
        """The parsed JSON of a 200; raises _Retry for 429/5xx, GtalignRewardError for other statuses."""
        if status != 503:
            self._down_logged = False  # an answer: a later outage is a new one, logged again
        if status == 200:
            try:
                return json.loads(body.decode("utf-8"))
            except ValueError as err:
                raise GtalignRewardError(f"gtalign reward: unreadable reply from {self.url}{path}: {err}") from None
        text = body.decode("utf-8", "replace")
        code = None
        try:
            error = json.loads(text)["error"]
            message = error["message"]
            code = error.get("code")
        except (ValueError, KeyError, TypeError, AttributeError):
            message = text[:300]
        detail = f"HTTP {status} from {self.url}{path}: {message}"
        # The judge (or look-ahead) already failed after the server's own retries: sending the request
        # again would pay for all of them again, for the answer the same failure gets under 'skip'.
        if (status == 429 or status >= 500) and code not in FINAL_FAILURES:
            # A proxy answers 502 (nginx) or 503 (Kubernetes, no ready server) while the server restarts.
            raise _Retry(detail, down=status == 503 or (status == 502 and code is None))
        raise GtalignRewardError(f"gtalign reward: {detail}")

    def _unreachable(self, err: BaseException) -> str:
        """What a failed exchange says, naming the OS error (asyncio's refusal says "Connect call failed")."""
        text = str(err) or type(err).__name__
        errno = getattr(err, "errno", None)
        if isinstance(errno, int) and errno > 0 and os.strerror(errno) not in text:
            text = f"{os.strerror(errno)}: {text}"
        return f"cannot reach {self.url}: {text}"

    def _attempts(self) -> _Attempts:
        return _Attempts(self.retries, self.retry_seconds, self.backoff)

    def _note_down(self, down: bool, last: str, attempts: _Attempts) -> None:
        """Logs the first failed attempt of an outage (a wrong URL looks the same, for ``retry_seconds``)."""
        if not down or attempts.retry_seconds <= 0:
            return
        with self._lock:
            if self._down_logged:
                return
            self._down_logged = True
        _log.warning(
            "gtalign reward: %s; retrying for up to %g s from the first attempt (GTALIGN_REWARD_RETRY_SECONDS)",
            last,
            attempts.retry_seconds,
        )


    # -- sync ---------------------------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._new_connection()

    def _new_connection(self) -> http.client.HTTPConnection:
        if self._https:
            return _HTTPSConnection(self._host, self._port, timeout=self.timeout, context=ssl.create_default_context())
        return _HTTPConnection(self._host, self._port, timeout=self.timeout)

    def _exchange_sync(self, path: str, body: bytes) -> Tuple[int, bytes]:
        conn = self._connection()
        reused = conn.sock is not None
        try:
            conn.request("POST", self._prefix + path, body=body, headers=self._headers(len(body)))
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            conn.close()
            # A timeout is the server being slow, not a connection it closed while idle: sending again
            # would double the wait past what the trainer allows (AReaL's 15 s) before the error shows.
            if not reused or isinstance(error, socket.timeout):
                raise
            # A keep-alive connection the server closed while idle: once more on a fresh one.
            conn = self._new_connection()
            try:
                conn.request("POST", self._prefix + path, body=body, headers=self._headers(len(body)))
                response = conn.getresponse()
                data = response.read()
            except BaseException:
                conn.close()
                raise
        if response.will_close or getattr(conn, "_send_error", None) is not None:
            conn.close()
        else:
            with self._lock:
                self._idle.append(conn)
        return response.status, data

    def post(self, path: str, payload: Any) -> Any:
        """POSTs JSON and returns the parsed reply (blocking; thread-safe)."""
        body = json.dumps(payload, default=_jsonable).encode("utf-8")
        attempts = self._attempts()
        while True:
            with self._slots:
                try:
                    status, data = self._exchange_sync(path, body)
                except (OSError, http.client.HTTPException) as err:
                    last, down = self._unreachable(err), isinstance(err, ConnectionError)
                    status = None
            if status is not None:
                try:
                    return self._check(path, status, data)
                except _Retry as err:
                    last, down = str(err), err.down
            wait = attempts.wait(down)
            if wait is None:
                raise GtalignRewardError(f"gtalign reward: {last}{attempts.given_up()}")
            self._note_down(down, last, attempts)
            time.sleep(wait)

    def score(self, records: Sequence[JsonDict]) -> List[JsonDict]:
        """The server's result line for every record, in order (lines with ``error`` included). A sample
        the server's deadline overtook is sent again, within ``retries`` attempts (see :func:`_late`)."""
        lines: List[JsonDict] = []
        for start in range(0, len(records), self.batch):
            chunk = list(records[start : start + self.batch])
            got = self._results(self.post(SCORE_PATH, {"samples": chunk}), len(chunk))
            for _ in range(1, self.retries):
                late = _late(got)
                if not late:
                    break
                again = self._results(self.post(SCORE_PATH, {"samples": [chunk[i] for i in late]}), len(late))
                _put_back(got, late, again)
            lines.extend(got)
        return lines

    def _results(self, reply: Any, n: int) -> List[JsonDict]:
        results = reply.get("results") if isinstance(reply, dict) else None
        if not isinstance(results, list) or len(results) != n:
            raise GtalignRewardError(f"gtalign reward: unexpected reply from {self.url}: {str(reply)[:300]}")
        return results

    # -- async --------------------------------------------------------------------------------------------

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        with self._lock:
            state = self._loops.get(loop)
            if state is None:
                state = _LoopState(self.concurrency)
                self._loops[loop] = state
            return state

    async def _open(self) -> Tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        ctx = ssl.create_default_context() if self._https else None
        return await asyncio.open_connection(self._host, self._port, ssl=ctx)

    async def _read_reply(self, reader: asyncio.StreamReader) -> Tuple[int, bytes, bool]:
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionResetError("the server closed the connection")
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise http.client.BadStatusLine(status_line.decode("latin-1", "replace"))
        status = int(parts[1])
        headers: Dict[str, str] = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        close = headers.get("connection", "").lower() == "close" or parts[0] == "HTTP/1.0"
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            return status, b"".join(chunks), close
        if "content-length" in headers:
            return status, await reader.readexactly(int(headers["content-length"])), close
        return status, await reader.read(), True

    async def _exchange_async(self, state: _LoopState, path: str, body: bytes) -> Tuple[int, bytes]:
        head = f"POST {self._prefix + path} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in self._headers(len(body)).items()) + "\r\n"
        request = head.encode("latin-1") + body
        for fresh in (False, True):
            reused = not fresh and bool(state.idle)
            reader, writer = state.idle.pop() if reused else await self._open()
            send_error: Optional[BaseException] = None
            try:
                writer.write(request)
                try:
                    await writer.drain()
                except (ConnectionResetError, BrokenPipeError) as err:
                    send_error = err  # the server may have answered early (413, 401): read it
                status, data, close = await self._read_reply(reader)
            except (OSError, asyncio.IncompleteReadError, http.client.HTTPException, ValueError) as err:
                writer.close()
                if reused:
                    continue  # an idle keep-alive connection the server had closed
                if send_error is not None:
                    raise send_error from None
                # A refused or reset connection is the server being down; a broken answer is not.
                broken = ConnectionError if isinstance(err, ConnectionError) else OSError
                raise broken(str(err) or type(err).__name__) from None
            except BaseException:
                writer.close()  # cancelled or timed out mid-exchange: the connection is in an unknown state
                raise
            if close or send_error is not None:
                writer.close()
            else:
                state.idle.append((reader, writer))
            return status, data
        raise ConnectionError("no connection")  # not reached

    async def apost(self, path: str, payload: Any) -> Any:
        """POSTs JSON and returns the parsed reply, without blocking the event loop."""
        body = json.dumps(payload, default=_jsonable).encode("utf-8")
        state = self._state()
        attempts = self._attempts()
        while True:
            status: Optional[int] = None
            async with state.semaphore:
                try:
                    status, data = await asyncio.wait_for(self._exchange_async(state, path, body), self.timeout)
                except asyncio.TimeoutError:
                    last, down = f"no answer from {self.url} within {self.timeout:g} s", False
                except (OSError, http.client.HTTPException) as err:
                    last, down = self._unreachable(err), isinstance(err, ConnectionError)
            if status is not None:
                try:
                    return self._check(path, status, data)
                except _Retry as err:
                    last, down = str(err), err.down
            wait = attempts.wait(down)
            if wait is None:
                raise GtalignRewardError(f"gtalign reward: {last}{attempts.given_up()}")
            self._note_down(down, last, attempts)
            await asyncio.sleep(wait)

    async def _ascore_chunk(self, chunk: List[JsonDict]) -> List[JsonDict]:
        got = self._results(await self.apost(SCORE_PATH, {"samples": chunk}), len(chunk))
        for _ in range(1, self.retries):
            late = _late(got)
            if not late:
                break
            again = self._results(await self.apost(SCORE_PATH, {"samples": [chunk[i] for i in late]}), len(late))
            _put_back(got, late, again)
        return got

    async def ascore(self, records: Sequence[JsonDict]) -> List[JsonDict]:
        """Like :meth:`score`, on the running event loop; chunks go concurrently."""
        chunks = [list(records[i : i + self.batch]) for i in range(0, len(records), self.batch)]
        replies = await asyncio.gather(*(self._ascore_chunk(c) for c in chunks))
        return [line for reply in replies for line in reply]


def _late(lines: Sequence[JsonDict]) -> List[int]:
    """The indices of the samples the server's deadline overtook (``error.deadline``): their judge call
    goes on there, so sending them again joins it or finds its verdict, and pays for no second call. Any
    other failure (the judge failed after its retries) is final."""
    out = []
    for i, line in enumerate(lines):
        error = line.get("error") if isinstance(line, Mapping) else None
        if isinstance(error, Mapping) and error.get("deadline") is True:
            out.append(i)
    return out


def _put_back(lines: List[JsonDict], where: Sequence[int], again: Sequence[JsonDict]) -> None:
    """Puts the lines of samples sent again in their places, numbered as in the first request."""
    for i, line in zip(where, again):
        if isinstance(line, dict) and "line" in line:
            line["line"] = i + 1
        lines[i] = line


class _Clients:
    """One client per settings, per process. Pickles as an empty registry (cloudpickle copies globals)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: Dict[Tuple[Any, ...], RewardClient] = {}

    def __reduce__(self) -> Any:
        return (_Clients, ())

    def get(self, kwargs: Mapping[str, Any]) -> RewardClient:
        key = _settings(kwargs)
        with self._lock:
            found = self._clients.get(key)
            if found is None:
                found = RewardClient(*key)
                self._clients[key] = found
            return found


_CLIENTS = _Clients()


def client(**kwargs: Any) -> RewardClient:
    """The process's shared client for these settings (see the module docstring for the names)."""
    return _CLIENTS.get(kwargs)


def _one(lines: List[JsonDict], what: str) -> JsonDict:
    line = lines[0]
    if "error" in line:
        raise GtalignRewardError(_failure(line, what))
    return line


# --------------------------------------------------------------------------------------------------------
# verl


async def compute_score(
    data_source: Any, solution_str: str, ground_truth: Any, extra_info: Any = None, **kwargs: Any
) -> Dict[str, float]:
    """verl's custom reward function, ``async``: the reward loop's managers (``naive``, ``dapo``) await it.

    verl >= 0.7.1: ``reward.custom_reward_function.path=pkg://gtalign_reward`` (or the file's path) and
    ``reward.custom_reward_function.name=compute_score``; settings through
    ``+reward.custom_reward_function.reward_kwargs.url=...``. Returns ``score`` and the components (verl
    logs every key as ``reward_extra_info``); a failed sample raises :class:`GtalignRewardError`, which the
    reward loop propagates (``asyncio.gather``) so that the step fails instead of training on a made-up 0.
    """
    record = make_record(data_source, solution_str, ground_truth, extra_info)
    lines = await client(**kwargs).ascore([record])
    return verl_score(_one(lines, f"sample ({record['data_source']})"))


def compute_score_sync(
    data_source: Any, solution_str: str, ground_truth: Any, extra_info: Any = None, **kwargs: Any
) -> Dict[str, float]:
    """verl's custom reward function, synchronous: for the ``remote`` manager (which refuses ``async``
    functions and runs them in Ray workers) and for verl <= 0.7.0's legacy ``naive`` manager."""
    record = make_record(data_source, solution_str, ground_truth, extra_info)
    return verl_score(_one(client(**kwargs).score([record]), f"sample ({record['data_source']})"))


def compute_score_batch(
    data_sources: Sequence[Any],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Optional[Sequence[Any]] = None,
    **kwargs: Any,
) -> List[Dict[str, float]]:
    """The legacy ``BatchRewardManager`` signature (verl <= 0.7.0, ``reward_model.reward_manager=batch``)."""
    n = len(solution_strs)
    if len(data_sources) != n or len(ground_truths) != n or (extra_infos is not None and len(extra_infos) != n):
        raise GtalignRewardError("gtalign reward: data_sources, solution_strs, ground_truths, extra_infos differ in length")
    records = [
        make_record(data_sources[i], solution_strs[i], ground_truths[i], None if extra_infos is None else extra_infos[i], i)
        for i in range(n)
    ]
    out: List[Dict[str, float]] = []
    for i, line in enumerate(client(**kwargs).score(records)):
        if "error" in line:
            raise GtalignRewardError(_failure(line, f"sample {i} ({records[i]['data_source']})"))
        out.append(verl_score(line))
    return out


# --------------------------------------------------------------------------------------------------------
# OpenRLHF


def _late_get_reward(reply: Any, n: int) -> List[int]:
    """The indices of a /get_reward reply's samples the server's deadline overtook."""
    errors = reply.get("errors") if isinstance(reply, dict) else None
    if not isinstance(errors, list):
        return []
    late = [e.get("index") for e in errors if isinstance(e, Mapping) and e.get("deadline") is True]
    return late if all(isinstance(i, int) and 0 <= i < n for i in late) else []


def _merge_get_reward(reply: JsonDict, where: Sequence[int], again: Any, url: str) -> None:
    """Puts the answers of samples sent again to /get_reward in their places in the first reply."""
    try:
        for j, i in enumerate(where):
            reply["rewards"][i] = again["rewards"][j]
            reply["scores"][i] = again["scores"][j]
            for name, values in reply["extra_logs"].items():
                values[i] = again["extra_logs"][name][j]
        kept = [e for e in reply["errors"] if e.get("index") not in where]
        reply["errors"] = kept + [dict(e, index=where[e["index"]]) for e in again["errors"]]
    except (KeyError, IndexError, TypeError, AttributeError):
        raise GtalignRewardError(f"gtalign reward: unexpected /get_reward reply from {url}: {str(again)[:300]}") from None


def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any], **kwargs: Any) -> JsonDict:
    """OpenRLHF's reward function file (``--reward.remote_url /path/to/gtalign_reward.py``): posts the
    samples to the server's ``/get_reward`` and returns its ``{rewards, scores, extra_logs}``.

    Pointing ``--reward.remote_url`` at ``http://HOST:PORT/get_reward`` does the same without Python.
    A sample the server's deadline overtook is sent again (within ``retries``); a failed sample raises
    (OpenRLHF then has no reward for the rollout and stops, instead of a 0).
    """
    c = client(**kwargs)

    def ask(which: Sequence[int]) -> Any:
        body = {"query": [queries[i] for i in which], "prompts": [prompts[i] for i in which], "labels": [labels[i] for i in which]}
        return c.post(GET_REWARD_PATH, body)

    reply = ask(range(len(queries)))
    # Samples the server's deadline overtook are sent again (see _late): their judge calls go on there.
    for _ in range(1, c.retries):
        late = _late_get_reward(reply, len(queries))
        if not late:
            break
        _merge_get_reward(reply, late, ask(late), c.url)
    errors = reply.get("errors") if isinstance(reply, dict) else None
    if errors:
        first = errors[0]
        raise GtalignRewardError(
            f"gtalign reward: sample {first.get('index')} failed at {first.get('stage')}: {first.get('message')}"
        )
    # One finite reward per query, or the reply is not one OpenRLHF can use: a short, long or null list
    # would otherwise reach the trainer as misplaced or missing rewards.
    rewards = reply.get("rewards") if isinstance(reply, dict) else None
    if (
        not isinstance(rewards, list)
        or len(rewards) != len(queries)
        or not all(isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r) for r in rewards)
    ):
        raise GtalignRewardError(
            f"gtalign reward: the server's /get_reward reply does not hold one finite reward for each of the {len(queries)} queries"
        )
    return {"rewards": rewards, "scores": reply["scores"], "extra_logs": reply["extra_logs"]}


# --------------------------------------------------------------------------------------------------------
# TRL


def _field(item: Any, name: str, default: Any = None) -> Any:
    """A message's or content part's field: a dict's key (TRL, NeMo-RL) or a model's attribute (Verifiers
    v1's ``trace.messages`` are pydantic models)."""
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


def _is_message(item: Any) -> bool:
    return isinstance(item, Mapping) or hasattr(item, "content")


def _completion_text(completion: Any) -> str:
    """A completion as text: a string, or (conversational) the last assistant message of a message list,
    whose content is a string, text parts, or none (a reply of tool calls only: an empty output)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence):
        for message in reversed(completion):
            if not _is_message(message) or _field(message, "role", "assistant") != "assistant":
                continue
            content = _field(message, "content")
            if content is None or isinstance(content, str):
                return content or ""
            if isinstance(content, Sequence):
                return "".join(str(_field(p, "text", "") or "") for p in content if isinstance(p, Mapping) or hasattr(p, "text"))
    raise GtalignRewardError(f"gtalign reward: cannot read a completion of type {type(completion).__name__}")


def _ground_truth(i: int, columns: Mapping[str, Any]) -> Any:
    if columns.get("ground_truth") is not None:
        return columns["ground_truth"][i]
    rm = columns.get("reward_model")
    if rm is not None and isinstance(rm[i], Mapping):
        return rm[i].get("ground_truth")
    raise GtalignRewardError(
        "gtalign reward: the dataset needs a data_source column and a ground_truth (or verl's reward_model) column"
    )


def _values(lines: List[JsonDict], on_error: str) -> List[Optional[float]]:
    out: List[Optional[float]] = []
    for i, line in enumerate(lines):
        if "error" in line:
            if on_error == "raise":
                raise GtalignRewardError(_failure(line, f"sample {i}"))
            out.append(None)
        else:
            out.append(float(line["score"]))
    return out


_SETTING_NAMES = ("url", "api_key", "timeout", "retries", "concurrency", "batch", "retry_seconds", "backoff")


async def gtalign_welfare(
    prompts: Sequence[Any],
    completions: Sequence[Any],
    completion_ids: Optional[Sequence[Any]] = None,
    trainer_state: Any = None,
    log_extra: Any = None,
    log_metric: Any = None,
    *,
    on_error: str = "raise",
    **columns: Any,
) -> List[Optional[float]]:
    """TRL reward function (``async def``: ``GRPOTrainer`` and ``RLOOTrainer`` await it on their event loop,
    ``AsyncGRPOTrainer`` in its rollout process).

    TRL passes ``prompts``, ``completions``, ``completion_ids``, ``trainer_state``, ``log_extra``,
    ``log_metric`` (the last three not in ``AsyncGRPOTrainer``) and every dataset column, as keyword lists:
    ``data_source``, the ground truth (``ground_truth``, or verl's ``reward_model`` holding
    ``{"ground_truth": ...}``) and optionally ``extra_info``. Settings (``url``, ``api_key``, ...) are bound
    with :func:`trl_reward_func`. With ``log_metric``/``log_extra`` the mean user and LLM rewards and the
    per-sample components are logged.

    A failed sample raises (``on_error="raise"``, default): when GTAlign is the only reward, TRL would sum
    a ``None`` into 0. With several reward functions, ``on_error="none"`` returns ``None`` for it, which TRL
    turns into NaN and leaves out of this function's column only.
    """
    if on_error not in ("raise", "none"):
        raise ValueError("on_error must be 'raise' or 'none'")
    settings = {k: columns.pop(k) for k in _SETTING_NAMES if k in columns}
    sources = columns.get("data_source")
    if sources is None:
        raise GtalignRewardError("gtalign reward: the dataset needs a data_source column")
    extras = columns.get("extra_info") or [None] * len(completions)
    records = [
        make_record(sources[i], _completion_text(completions[i]), _ground_truth(i, columns), extras[i], i)
        for i in range(len(completions))
    ]
    lines = await client(**settings).ascore(records)
    values = _values(lines, on_error)
    scored = [line for line in lines if "error" not in line]
    if log_metric is not None and scored:
        for name in ("user_reward", "llm_reward"):
            log_metric(f"gtalign/{name}", sum(float(line[name]) for line in scored) / len(scored))
        log_metric("gtalign/failed", float(len(lines) - len(scored)))
    if log_extra is not None:
        for name in ("user_reward", "llm_reward"):
            log_extra(f"gtalign_{name}", [None if "error" in line else line[name] for line in lines])
    return values


def trl_reward_func(
    url: Optional[str] = None,
    api_key: Optional[str] = None,
    timeout: Optional[float] = None,
    retries: Optional[int] = None,
    concurrency: Optional[int] = None,
    on_error: str = "raise",
) -> "functools.partial[Any]":
    """:func:`gtalign_welfare` with settings bound: a ``functools.partial`` of a module-level ``async def``,
    which TRL recognises as async (``inspect.iscoroutinefunction``), names ``gtalign_welfare`` in its logs,
    and ``AsyncGRPOTrainer`` can pickle into its rollout process."""
    bound: Dict[str, Any] = {"on_error": on_error}
    for name, value in (("url", url), ("api_key", api_key), ("timeout", timeout), ("retries", retries), ("concurrency", concurrency)):
        if value is not None:
            bound[name] = value
    return functools.partial(gtalign_welfare, **bound)


class GtalignEnvironment:
    """A TRL environment (``environment_factory``) that owns the GTAlign reward through ``get_reward``.

    ``reset(**row)`` keeps the row's ``data_source``, ground truth and ``extra_info``; the model hands in its
    four-block output with the ``submit_response`` tool; ``get_reward()`` (no arguments, ``async``) scores
    it. An episode that ended without a submission is scored as an empty output: the reference's reward
    for an output without the blocks, 0. Give the factory as
    ``functools.partial(GtalignEnvironment, url=...)`` to keep it picklable for ``AsyncGRPOTrainer``.
    """

    def __init__(
        self,
        url: Optional[str] = None,
        api_key: Optional[str] = None,
        timeout: Optional[float] = None,
        retries: Optional[int] = None,
        concurrency: Optional[int] = None,
        on_error: str = "raise",
    ) -> None:
        if on_error not in ("raise", "none"):
            raise ValueError("on_error must be 'raise' or 'none'")
        self._settings = {
            k: v
            for k, v in (("url", url), ("api_key", api_key), ("timeout", timeout), ("retries", retries), ("concurrency", concurrency))
            if v is not None
        }
        self._on_error = on_error
        self._row: Dict[str, Any] = {}
        self._response: Optional[str] = None

    def reset(self, **row: Any) -> None:
        """Starts an episode on a dataset row (TRL passes the row's columns)."""
        if row.get("data_source") is None:
            raise GtalignRewardError("gtalign reward: the dataset needs a data_source column")
        self._row = {
            "data_source": row["data_source"],
            "ground_truth": _ground_truth(0, {k: [v] for k, v in row.items()}),
            "extra_info": row.get("extra_info"),
        }
        self._response = None
        return None

    def submit_response(self, response: str) -> str:
        """Submit the final answer: the complete output with its thinking, payoff, analyze and response blocks.

        Args:
            response: The full four-block output.
        """
        self._response = response
        return "received"

    async def get_reward(self) -> Optional[float]:
        """The GTAlign reward of the submitted output (TRL calls it once per finished rollout)."""
        if not self._row:
            raise GtalignRewardError("gtalign reward: get_reward before reset")
        record = make_record(self._row["data_source"], self._response or "", self._row["ground_truth"], self._row["extra_info"])
        lines = await client(**self._settings).ascore([record])
        return _values(lines, self._on_error)[0]


# --------------------------------------------------------------------------------------------------------
# slime


def _label_fields(label: Any, metadata: Any) -> Tuple[Any, Any, Any]:
    """data_source, ground_truth, extra_info from a slime sample's label (the JSON label ``gtalign data
    export --format openrlhf`` writes, or that object) or, failing that, its metadata."""
    parsed: Any = label
    if isinstance(label, str):
        try:
            parsed = json.loads(label)
        except ValueError:
            parsed = None
    if isinstance(parsed, Mapping) and "data_source" in parsed:
        extra = dict(parsed.get("extra_info") or {})
        if parsed.get("verdict") is not None:
            extra["verdict"] = parsed["verdict"]
        return parsed["data_source"], parsed.get("ground_truth"), extra
    if isinstance(metadata, Mapping) and "data_source" in metadata:
        return metadata["data_source"], label if isinstance(label, str) else metadata.get("ground_truth"), metadata.get("extra_info")
    raise GtalignRewardError(
        "gtalign reward: a slime sample needs a label written by 'gtalign data export --format openrlhf' "
        "(--label-key label), or data_source in its metadata"
    )


async def slime_rm(args: Any, sample: Any, **kwargs: Any) -> Union[float, List[float]]:
    """slime's custom reward (``--custom-rm-path gtalign_reward.slime_rm``): awaited with one ``Sample``
    (per rollout), or with a list of them (``--group-rm``, and slime's batched path), returning a float or
    a list of floats. The server is ``--rm-url`` when given, else ``GTALIGN_REWARD_URL``. End-of-turn and
    padding tokens at a response's end (``END_TOKENS``; slime keeps the stop token) are cut before
    scoring. A failed sample raises: slime's rollout then fails instead of training on a made-up 0."""
    samples = list(sample) if isinstance(sample, (list, tuple)) else [sample]
    settings: Dict[str, Any] = {}
    rm_url = getattr(args, "rm_url", None)
    if rm_url:
        settings["url"] = rm_url
    records = []
    for i, s in enumerate(samples):
        data_source, ground_truth, extra = _label_fields(getattr(s, "label", None), getattr(s, "metadata", None))
        # slime asks SGLang for the text with no_stop_trim and special tokens: a stopped response ends with
        # its stop token, which the reference's decoding leaves out.
        records.append(make_record(data_source, _strip_end_tokens(getattr(s, "response", "")), ground_truth, extra, i))
    values = _values(await client(**settings).ascore(records), "raise")
    floats = [float(v) for v in values if v is not None]
    return floats if isinstance(sample, (list, tuple)) else floats[0]


# --------------------------------------------------------------------------------------------------------
# Verifiers


async def score_completion(
    completion: Any, data_source: Any, ground_truth: Any, extra_info: Any = None, **settings: Any
) -> float:
    """The reward of one completion (a string, or a message list: dicts, or the pydantic models of a
    Verifiers v1 ``trace.messages``): for a Verifiers v1 ``@vf.reward`` method, whose exception Verifiers
    records as a task error on the trace (not a 0)."""
    record = make_record(data_source, _completion_text(completion), ground_truth, extra_info)
    return float(_one(await client(**settings).ascore([record]), f"sample ({record['data_source']})")["score"])


async def verifiers_reward(completion: Any, answer: Any, info: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> float:
    """A Verifiers rubric function (``vf.Rubric(funcs=[verifiers_reward])``): ``answer`` is the ground truth,
    ``info`` holds ``data_source`` and optionally ``extra_info`` (as the dataset's ``info`` column).

    It raises on a failed sample. Note that the legacy ``vf.Rubric`` logs a reward function's exception and
    scores 0.0; use a v1 task (``score_completion`` in an ``@vf.reward`` method) where a failure must stay one.
    """
    info = info or {}
    if info.get("data_source") is None:
        raise GtalignRewardError("gtalign reward: the rubric needs info['data_source']")
    settings = {k: kwargs[k] for k in _SETTING_NAMES if k in kwargs}
    return await score_completion(completion, info["data_source"], answer, info.get("extra_info"), **settings)



# --------------------------------------------------------------------------------------------------------
# SkyRL


def _record_from_extras(extras: Mapping[str, Any]) -> JsonDict:
    """The reward record of a SkyRL row: skyrl-gym hands an environment every dataset column but ``prompt``
    and ``env_class`` as ``extras`` (``gtalign data export --format skyrl`` writes ``data_source``,
    ``reward_spec.ground_truth`` and ``extra_info``)."""
    spec = extras.get("reward_spec")
    if not isinstance(spec, Mapping) or "ground_truth" not in spec or extras.get("data_source") is None:
        raise GtalignRewardError(
            "gtalign reward: a SkyRL row needs data_source and reward_spec.ground_truth "
            "(write the data with 'gtalign data export --format skyrl')"
        )
    return make_record(extras["data_source"], "", spec["ground_truth"], extras.get("extra_info"))


def _env_settings(env_config: Any) -> Dict[str, Any]:
    """Client settings from a SkyRL env_config (a mapping or an object with the setting names as fields)."""
    out: Dict[str, Any] = {}
    for name in _SETTING_NAMES:
        value = env_config.get(name) if isinstance(env_config, Mapping) else getattr(env_config, name, None)
        if value is not None:
            out[name] = value
    return out


_SKYRL_ENV_CLASS: Any = None


def _skyrl_env_class() -> Any:
    """The environment class, made on first use: skyrl-gym is imported only in a SkyRL process."""
    global _SKYRL_ENV_CLASS
    if _SKYRL_ENV_CLASS is not None:
        return _SKYRL_ENV_CLASS
    from skyrl_gym.envs.base_text_env import BaseTextEnv, BaseTextEnvStepOutput

    class GtalignSkyRLEnv(BaseTextEnv):  # type: ignore[misc, valid-type]
        """One GTAlign turn: the policy's output is scored once, and the episode ends."""

        def __init__(self, env_config: Any = None, extras: Optional[Mapping[str, Any]] = None) -> None:
            super().__init__()
            self._record = _record_from_extras(extras or {})
            self._settings = _env_settings(env_config)

        def step(self, action: str) -> Any:
            self.turns += 1
            record = dict(self._record, response=action)
            line = _one(client(**self._settings).score([record]), f"sample ({record['data_source']})")
            return BaseTextEnvStepOutput(
                observations=[], reward=float(line["score"]), done=True, metadata={"gtalign": verl_score(line)}
            )

    _SKYRL_ENV_CLASS = GtalignSkyRLEnv
    return GtalignSkyRLEnv


def skyrl_env(env_config: Any = None, extras: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> Any:
    """skyrl-gym's entry point for the GTAlign environment: ``skyrl_gym.make(env_class, env_config=...,
    extras=...)`` calls it with the row's columns as ``extras``. ``step(output)`` scores the output through
    ``gtalign reward serve`` and ends the episode; the reward's components are in ``metadata["gtalign"]``.
    Settings come from ``env_config`` (``url``, ``api_key``, …) or the environment. A failed sample raises
    :class:`GtalignRewardError`: SkyRL's generator then fails the step instead of training on a made-up 0."""
    return _skyrl_env_class()(env_config, extras)


def register_skyrl_env(id: str = "gtalign") -> None:
    """Registers the environment with skyrl-gym under ``id`` (the rows' ``env_class``); call it where the
    Ray workers run it, e.g. at the top of the training entry point. Calling it again changes nothing
    (skyrl-gym's ``register`` refuses a name twice); a name another environment holds is still refused."""
    from skyrl_gym.envs.registration import register, registry

    if getattr(registry.get(id), "entry_point", None) is skyrl_env:
        return
    register(id=id, entry_point=skyrl_env)


# --------------------------------------------------------------------------------------------------------
# AReaL

#: AReaL's reward wrapper gives each call 15 s and scores a call that runs out as 0: an AReaL call ends
#: sooner, with an error (a rejected rollout, never a made-up 0), unless the environment sets otherwise.
AREAL_TIMEOUT = 10.0
#: An AReaL call ends within this many seconds: its retries while the server is down stop this long
#: minus the timeout after the first attempt (4 s by default), as the last attempt may take the timeout.
AREAL_CALL_SECONDS = 14.0


def areal_reward(
    prompt: Optional[str] = None,
    completions: Optional[str] = None,
    prompt_ids: Any = None,
    completion_ids: Any = None,
    **data: Any,
) -> float:
    """AReaL's ``reward_fn`` (``RLVRWorkflow(reward_fn="gtalign_reward.areal_reward", ...)``): called in a
    worker process with the decoded prompt and completion, their token ids, and the dataset row's fields
    (``data_source``, ``ground_truth``, ``extra_info``, as ``gtalign data export --format areal`` writes
    them). Synchronous and module-level, as AReaL's process pool needs. An agent workflow's ``run`` (AReaL
    2.0's examples) may call it by keyword only: ``AsyncRewardWrapper(areal_reward)(completions=text,
    **data)``; only ``completions`` and the row's fields are read. End-of-turn and padding tokens at the
    completion's end (``END_TOKENS``), which ``RLVRWorkflow``'s decoding keeps, are cut before scoring.

    One HTTP attempt of at most ``AREAL_TIMEOUT`` seconds (``GTALIGN_REWARD_TIMEOUT`` and
    ``GTALIGN_REWARD_RETRIES`` override), retried while the server is down until ``AREAL_CALL_SECONDS``
    less the timeout (``GTALIGN_REWARD_RETRY_SECONDS`` overrides), so it ends before AReaL's 15 s limit: a
    failure raises :class:`GtalignRewardError`, AReaL retries the call (the server's cache answers a
    verdict that arrived meanwhile) and then rejects the rollout."""
    if not isinstance(completions, str):
        raise GtalignRewardError(
            "gtalign reward: AReaL's reward call needs the completion text (completions=...), got "
            f"{type(completions).__name__}"
        )
    data_source = data.get("data_source")
    ground_truth = data.get("ground_truth", data.get("answer"))
    if data_source is None or ground_truth is None:
        raise GtalignRewardError(
            "gtalign reward: an AReaL row needs data_source and ground_truth "
            "(write the data with 'gtalign data export --format areal')"
        )
    settings: Dict[str, Any] = {}
    if not os.environ.get("GTALIGN_REWARD_TIMEOUT"):
        settings["timeout"] = AREAL_TIMEOUT
    if not os.environ.get("GTALIGN_REWARD_RETRIES"):
        settings["retries"] = 1
    if not os.environ.get("GTALIGN_REWARD_RETRY_SECONDS"):
        settings["retry_seconds"] = max(0.0, AREAL_CALL_SECONDS - _settings(settings)[2])
    # RLVRWorkflow decodes the output tokens with the stop token that ended them (and any padding after
    # it); the reference's decoding (verl: skip_special_tokens) has none, and the reward scores the text.
    record = make_record(data_source, _strip_end_tokens(completions), ground_truth, data.get("extra_info"))
    return float(_one(client(**settings).score([record]), f"sample ({record['data_source']})")["score"])


# --------------------------------------------------------------------------------------------------------
# NeMo-RL

#: Where NeMo-RL finds the environment actor class (``ENV_REGISTRY`` holds class paths, resolved by name).
NEMO_RL_ENV_FQN = "gtalign_reward.NemoRLEnvironment"


def _nemo_rl_info(info: Any, i: int) -> JsonDict:
    """A sample's ``extra_env_info``: the JSON string ``gtalign data export --format nemo-rl`` writes, decoded
    (by the data processor), with ``data_source`` and ``ground_truth``."""
    if isinstance(info, str):
        try:
            info = json.loads(info)
        except ValueError as err:
            raise GtalignRewardError(f"gtalign reward: sample {i}: extra_env_info is not JSON ({err})") from None
    if not isinstance(info, Mapping) or info.get("data_source") is None or "ground_truth" not in info:
        raise GtalignRewardError(
            f"gtalign reward: sample {i} needs extra_env_info with data_source and ground_truth "
            "(write the data with 'gtalign data export --format nemo-rl' and use the 'gtalign' processor)"
        )
    return dict(info)


def nemo_rl_processor(
    datum_dict: Mapping[str, Any], task_data_spec: Any, tokenizer: Any, max_seq_length: int, idx: int
) -> JsonDict:
    """NeMo-RL's data processor for GTAlign rows (``processor: gtalign`` once :func:`register_nemo_rl` ran):
    the row's own chat messages (the data set's prompt, system message included) through the tokenizer's
    chat template as one prompt, and its reward inputs as ``extra_env_info``. A prompt of ``max_seq_length``
    tokens or more is cut and masked out (``loss_multiplier`` 0), as NeMo-RL's own processors do."""
    messages = datum_dict.get("messages")
    if not isinstance(messages, list) or not messages:
        raise GtalignRewardError(f"gtalign reward: row {idx} has no messages (the prompt's chat messages)")
    text = tokenizer.apply_chat_template(
        [{"role": m["role"], "content": m["content"]} for m in messages],
        tokenize=False,
        add_generation_prompt=True,
        add_special_tokens=False,
    )
    token_ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"][0]
    length = len(token_ids)
    loss_multiplier = 1.0
    if length >= max_seq_length:
        token_ids = token_ids[: min(4, max_seq_length)]
        loss_multiplier = 0.0
    out: JsonDict = {
        "message_log": [{"role": "user", "content": text, "token_ids": token_ids}],
        "length": length,
        "extra_env_info": _nemo_rl_info(datum_dict.get("extra_env_info"), idx),
        "loss_multiplier": loss_multiplier,
        "idx": idx,
    }
    if "task_name" in datum_dict:
        out["task_name"] = datum_dict["task_name"]
    return out


def _assistant_text(message_log: Sequence[Mapping[str, Any]]) -> str:
    """What the policy wrote in one rollout: its assistant messages, joined (a GTAlign turn is one)."""
    return "".join(str(m.get("content", "")) for m in message_log if m.get("role") == "assistant")


class _NemoRLEnvironmentBody:
    """The environment's logic, apart from NeMo-RL's base class and Ray (see :func:`_nemo_rl_env_class`)."""

    def __init__(self, cfg: Any = None) -> None:
        self._settings = _env_settings(cfg or {})

    def step(self, message_log_batch: Sequence[Any], metadata: Sequence[Any]) -> Any:
        import torch
        from nemo_rl.environments.interfaces import EnvironmentReturn

        infos = [_nemo_rl_info(m, i) for i, m in enumerate(metadata)]
        records = [
            make_record(info["data_source"], _assistant_text(log), info["ground_truth"], info.get("extra_info"), info.get("id", i))
            for i, (log, info) in enumerate(zip(message_log_batch, infos))
        ]
        lines = client(**self._settings).score(records) if records else []
        values = [float(v) for v in _values(lines, "raise") if v is not None]
        rewards = torch.tensor(values, dtype=torch.float32)
        return EnvironmentReturn(
            observations=[{"role": "environment", "content": f"gtalign: welfare {v:.4f}"} for v in values],
            metadata=[dict(info, gtalign=verl_score(line)) for info, line in zip(infos, lines)],
            next_stop_strings=[None] * len(records),
            rewards=rewards,
            terminateds=torch.ones_like(rewards),
            answers=None,
        )

    def global_post_process_and_metrics(self, batch: Any) -> Tuple[Any, Dict[str, float]]:
        rewards = batch["rewards"]
        metrics: Dict[str, float] = {"gtalign/welfare": float(rewards.float().mean().item()) if len(rewards) else 0.0}
        if "is_end" in batch:
            metrics["fraction_of_samples_properly_ended"] = float(batch["is_end"].float().mean().item())
        return batch, metrics

    def shutdown(self) -> None:
        """Nothing to release: connections close with the actor's process."""


_NEMO_RL_ENV_CLASS: Any = None


def _nemo_rl_env_class() -> Any:
    """The Ray actor class, made on first use in each process (the driver resolving the class path, and the
    actor's process unpickling it), so that this module needs neither Ray nor NeMo-RL elsewhere."""
    global _NEMO_RL_ENV_CLASS
    if _NEMO_RL_ENV_CLASS is not None:
        return _NEMO_RL_ENV_CLASS
    import ray
    from nemo_rl.environments.interfaces import EnvironmentInterface

    class NemoRLEnvironment(_NemoRLEnvironmentBody, EnvironmentInterface):  # type: ignore[misc, valid-type]
        """NeMo-RL's GTAlign environment: one step scores a batch of rollouts, and every episode ends."""

    NemoRLEnvironment.__module__ = __name__
    # Like NeMo-RL's own environments: restarted if its process dies, and steps of several task groups at once.
    _NEMO_RL_ENV_CLASS = ray.remote(max_restarts=-1, max_task_retries=-1, max_concurrency=64)(NemoRLEnvironment)
    return _NEMO_RL_ENV_CLASS


def __getattr__(name: str) -> Any:
    if name == "NemoRLEnvironment":
        return _nemo_rl_env_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register_nemo_rl(env_name: str = "gtalign", processor_name: str = "gtalign") -> None:
    """Registers the environment (``env_name: gtalign`` in a data set's config, its settings under
    ``env.gtalign``: ``url``, ``api_key``, …) and the data processor (``processor: gtalign``) with NeMo-RL.
    Call it in the training script before the data is set up (e.g. at the top of a copy of
    ``examples/run_grpo.py``); calling it again changes nothing. The actor runs in the driver's Python
    (``PY_EXECUTABLES.SYSTEM``), where this module is installed.

    A sample that cannot be scored raises :class:`GtalignRewardError` in the actor: ``ray.get`` in NeMo-RL's
    rollout re-raises it, so the step fails instead of training on a made-up 0."""
    from nemo_rl.data.processors import PROCESSOR_REGISTRY, register_processor
    from nemo_rl.distributed.ray_actor_environment_registry import ACTOR_ENVIRONMENT_REGISTRY
    from nemo_rl.distributed.virtual_cluster import PY_EXECUTABLES
    from nemo_rl.environments.utils import ENV_REGISTRY, register_env

    ACTOR_ENVIRONMENT_REGISTRY.setdefault(NEMO_RL_ENV_FQN, PY_EXECUTABLES.SYSTEM)
    if env_name not in ENV_REGISTRY:
        register_env(env_name, NEMO_RL_ENV_FQN)
    if processor_name not in PROCESSOR_REGISTRY:
        register_processor(processor_name, nemo_rl_processor)
