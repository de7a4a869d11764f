"""What the API backends share: bounded concurrency, rate limits, retries and token usage.

:class:`~valuelab.elicit.OpenAIModel` (the official ``openai`` client) and
:class:`~valuelab.elicit.AnthropicModel` (the official ``anthropic`` client) send their
requests through :class:`RemoteModel`, which

* runs at most ``max_concurrency`` requests at once (a thread pool);
* keeps to ``requests_per_minute`` and ``tokens_per_minute`` with a :class:`RateLimiter`
  (two token buckets);
* retries 408/409/425/429/5xx/529 answers, timeouts and connection errors with exponential
  backoff (or the server's ``Retry-After``), counting the retries; the clients' own retries
  are switched off so that the two never multiply;
* records the tokens each response reports (``usage``), per prompt (stored in the response
  cache with the answer) and summed per backend object; :func:`usage_summary` sums the
  responses tables of a study, cached answers included, so a user sees what it cost.

References
----------
.. [1] Turner, J. (1986). New directions in communications (or which way to the
   information age?). IEEE Communications Magazine 24(10), 8-15 (the token bucket).
.. [2] OpenAI. Rate limits: requests and tokens per minute.
   https://platform.openai.com/docs/guides/rate-limits
.. [3] Anthropic. Rate limits: requests, input and output tokens per minute.
   https://docs.anthropic.com/en/api/rate-limits
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

import numpy as np
import pandas as pd

__all__ = ["RateLimiter", "RemoteModel", "ServerError", "usage_summary"]

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
CHARS_PER_TOKEN = 4  # a prompt's tokens before the server counts them (rate limits only)
_log = logging.getLogger("valuelab.elicit")


class ServerError(RuntimeError):
    """The server refused or failed a request after all retries, or lacks a capability insisted on."""


class HTTPStatusError(ServerError):
    """A non-retryable HTTP status (``status``) with the start of the server's answer (``detail``)."""

    def __init__(self, message, status, detail=""):
        super().__init__(message)
        self.status = status
        self.detail = detail


class RateLimiter:
    """Requests and tokens per minute, kept with two token buckets.

    Each bucket holds at most one minute's allowance, starts full and refills continuously
    (``limit / 60`` per second). A request takes one unit from the requests bucket and its
    estimated tokens from the tokens bucket; the buckets may go into debt, and the request
    then waits until the debt is paid back. So after a burst of one minute's allowance,
    requests are spaced evenly, and a request larger than the whole allowance waits for it
    instead of blocking forever. Back-to-back requests ``i = 0, 1, ...`` of ``c`` tokens each
    start at

    ``t_i = max(0, (i + 1 - R) * 60 / R, ((i + 1) * c - T) * 60 / T)`` seconds

    with ``R`` requests and ``T`` tokens per minute (the closed form the tests check). When
    the server reports the tokens actually used, :meth:`settle` corrects the estimate.

    Parameters
    ----------
    requests_per_minute, tokens_per_minute : float or None
        None: no limit of that kind.
    clock : callable
        Seconds, monotonic (a fake clock in tests).
    sleep : callable
        Waits that many seconds.

    References
    ----------
    .. [1] Turner, J. (1986). New directions in communications (or which way to the
       information age?). IEEE Communications Magazine 24(10), 8-15.
    """

    def __init__(self, *, requests_per_minute: float | None = None, tokens_per_minute: float | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._buckets: dict[str, list[float]] = {}
        for name, limit in (("requests", requests_per_minute), ("tokens", tokens_per_minute)):
            if limit is None:
                continue
            if not (isinstance(limit, (int, float)) and math.isfinite(limit) and limit > 0):
                raise ValueError(f"{name}_per_minute: expected a positive number or None, got {limit!r}")
            self._buckets[name] = [float(limit), float(limit) / 60.0, float(limit)]  # capacity, rate/s, level
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds spent waiting in acquire, summed

    def _refill(self) -> None:
        now = self._clock()
        elapsed, self._last = max(0.0, now - self._last), now
        for bucket in self._buckets.values():
            bucket[2] = min(bucket[0], bucket[2] + bucket[1] * elapsed)

    def reserve(self, tokens: float = 0) -> float:
        """Take one request and ``tokens`` from the buckets now; the seconds to wait before sending."""
        with self._lock:
            self._refill()
            wait = 0.0
            for name, bucket in self._buckets.items():
                bucket[2] -= 1.0 if name == "requests" else float(tokens)
                if bucket[2] < 0:
                    wait = max(wait, -bucket[2] / bucket[1])
            return wait

    def acquire(self, tokens: float = 0) -> float:
        """Wait until a request of ``tokens`` tokens may go; returns the seconds waited."""
        wait = self.reserve(tokens)
        if wait > 0:
            with self._lock:
                self.waited += wait
            self._sleep(wait)
        return wait

    def settle(self, estimated: float, actual: float) -> None:
        """Correct the tokens bucket once the server has said what a request used."""
        if "tokens" not in self._buckets or not math.isfinite(actual):
            return
        with self._lock:
            self._refill()
            bucket = self._buckets["tokens"]
            bucket[2] = min(bucket[0], bucket[2] - (float(actual) - float(estimated)))

    def __repr__(self) -> str:
        return (f"RateLimiter(requests_per_minute={self.requests_per_minute}, "
                f"tokens_per_minute={self.tokens_per_minute})")


def _nan_usage() -> dict:
    return {"prompt_tokens": math.nan, "completion_tokens": math.nan}


class RemoteModel:
    """Base of the API backends: the request loop (rate limits, retries, usage) and the thread pool.

    Subclasses implement ``_send(payload, endpoint) -> str`` (the response body, through their
    SDK), ``_sdk()`` (the SDK module, for its exception classes), ``_usage_of(data)`` and
    ``_estimate_tokens(payload)``; they call ``_post`` and ``_map``.

    Parameters
    ----------
    max_concurrency : int
        Requests in flight at once.
    max_retries : int
        Retries on 408/409/425/429/5xx/529 answers, timeouts and connection errors, with
        exponential backoff (``backoff * 2**attempt`` seconds plus up to 25% jitter, or the
        server's ``Retry-After``).
    timeout : float
        Seconds per request.
    backoff : float
    requests_per_minute, tokens_per_minute : float or None
        Rate limits kept on the client side (a :class:`RateLimiter`); a retry counts as a request.
    rate_limiter : RateLimiter or None
        Share one limiter between backend objects (overrides the two limits above).
    """

    def __init__(self, *, max_concurrency: int = 8, max_retries: int = 5, timeout: float = 60.0,
                 backoff: float = 0.5, requests_per_minute: float | None = None,
                 tokens_per_minute: float | None = None, rate_limiter: RateLimiter | None = None):
        if int(max_concurrency) < 1:
            raise ValueError(f"max_concurrency: expected at least 1, got {max_concurrency!r}")
        if int(max_retries) < 0:
            raise ValueError(f"max_retries: expected 0 or more, got {max_retries!r}")
        self.batch_size = int(max_concurrency)
        self.max_retries = int(max_retries)
        self.timeout = float(timeout)
        self.backoff = float(backoff)
        self.rate_limiter = rate_limiter if rate_limiter is not None else (
            RateLimiter(requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute)
            if requests_per_minute is not None or tokens_per_minute is not None else None)
        self.n_retries = 0
        self.route_counts: Counter = Counter()
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "requests": 0,
                      "requests_without_usage": 0}
        self.last_usage: list[dict] = []
        self._lock = threading.Lock()
        self._client_obj = None

    # ------------------------------------------------------------------ to implement
    def _send(self, payload: dict, endpoint: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _sdk(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _usage_of(self, data: dict) -> tuple[float, float] | None:
        """(prompt tokens, completion tokens) a response reports, or None."""
        usage = data.get("usage")
        if not isinstance(usage, dict):
            return None
        p, c = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if not isinstance(p, (int, float)) or not isinstance(c, (int, float)):
            return None
        return float(p), float(c)

    def _estimate_tokens(self, payload: dict) -> float:
        """Tokens a request will use, before the server says (for the tokens-per-minute bucket)."""
        return 0.0

    def _url(self, endpoint: str) -> str:
        return f"{self.base_url}/{endpoint}"

    # ------------------------------------------------------------------ the request loop
    def _post(self, payload: dict, *, endpoint: str, retries: int | None = None, count: bool = True) -> dict:
        """One request through the rate limiter, retried; the response as a JSON object.

        Raises
        ------
        HTTPStatusError
            A status that is not retried (400, 401, 404, 422, ...), with the server's detail.
        ServerError
            Malformed JSON, or still failing after ``retries`` retries.
        """
        sdk = self._sdk()
        url = self._url(endpoint)
        retries = self.max_retries if retries is None else retries
        estimate = self._estimate_tokens(payload) if self.rate_limiter is not None else 0.0
        last = ""
        for attempt in range(retries + 1):
            wait = None
            if self.rate_limiter is not None:
                self.rate_limiter.acquire(estimate)
            try:
                raw = self._send(payload, endpoint)
            except sdk.APIStatusError as err:
                status = int(err.status_code)
                last = f"HTTP {status} from {url}"
                if status not in RETRY_STATUS:
                    detail = _body_text(err.response)[:300]
                    raise HTTPStatusError(f"{last}: {detail}", status, detail) from None
                retry_after = err.response.headers.get("retry-after") if err.response is not None else None
                if retry_after and retry_after.replace(".", "", 1).isdigit():
                    wait = float(retry_after)
            except sdk.APITimeoutError:
                last = f"timeout after {self.timeout:g} s contacting {url}"
            except sdk.APIConnectionError as err:
                cause = err.__cause__ if err.__cause__ is not None else err
                last = f"{type(cause).__name__} contacting {url}: {cause}"
            else:
                data = _parse_json(raw, url)
                usage = self._usage_of(data)
                if self.rate_limiter is not None and usage is not None:
                    self.rate_limiter.settle(estimate, sum(usage))
                if count:
                    with self._lock:
                        self.usage["requests"] += 1
                        if usage is None:
                            self.usage["requests_without_usage"] += 1
                        else:
                            self.usage["prompt_tokens"] += int(usage[0])
                            self.usage["completion_tokens"] += int(usage[1])
                            self.usage["total_tokens"] += int(usage[0] + usage[1])
                return data
            if attempt == retries:
                break
            with self._lock:
                self.n_retries += 1
            time.sleep(wait if wait is not None else self.backoff * 2**attempt * (1 + 0.25 * random.random()))
        raise ServerError(f"{last} (gave up after {retries} retries)")

    def _map(self, fn, items):
        items = list(items)
        if len(items) <= 1 or self.batch_size == 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(max_workers=min(self.batch_size, len(items))) as pool:
            return list(pool.map(fn, items))

    def _run_jobs(self, n_prompts: int, jobs: Sequence[tuple[int, dict, str]]) -> list[list[dict]]:
        """Send ``(prompt index, payload, endpoint)`` jobs concurrently; responses grouped by prompt.

        Sets ``last_usage``: the tokens per prompt, summed over its requests (NaN when
        any of them came back without ``usage``).
        """
        datas = self._map(lambda job: self._post(job[1], endpoint=job[2]), jobs)
        grouped: list[list[dict]] = [[] for _ in range(n_prompts)]
        usage = [{"prompt_tokens": 0.0, "completion_tokens": 0.0} for _ in range(n_prompts)]
        for (i, _, _), data in zip(jobs, datas):
            grouped[i].append(data)
            used = self._usage_of(data)
            if used is None:
                usage[i] = _nan_usage()
            else:
                usage[i]["prompt_tokens"] += used[0]
                usage[i]["completion_tokens"] += used[1]
        self.last_usage = usage
        return grouped

    def _count_route(self, route: str, n: int) -> None:
        with self._lock:
            self.route_counts[route] += n

    def __getstate__(self):  # the SDK client holds a connection pool: rebuild it after unpickling
        state = self.__dict__.copy()
        state["_client_obj"] = None
        state["_lock"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _body_text(response) -> str:
    try:
        return response.text
    except Exception:  # a streamed or closed body
        return ""


def _parse_json(raw: str, url: str) -> dict:
    try:
        data = json.loads(raw)
    except ValueError:
        raise ServerError(f"{url} answered with malformed JSON (expected a JSON object): {raw[:200]!r}") from None
    if not isinstance(data, dict):
        raise ServerError(f"{url} answered with JSON that is not an object: {raw[:200]!r}")
    return data


def usage_to_columns(results: Sequence[dict]) -> dict:
    """``prompt_tokens`` and ``completion_tokens`` arrays from cached results (NaN where absent)."""
    out = {}
    for name in ("prompt_tokens", "completion_tokens"):
        out[name] = np.array([_float(r.get(name)) for r in results], dtype=float)
    return out


def _float(x) -> float:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else math.nan


def usage_summary(*responses: pd.DataFrame, by: str | Sequence[str] = "model") -> pd.DataFrame:
    """What a study cost in tokens: the responses tables summed per model.

    Every answer's tokens are stored with it in the response cache, so answers read back
    from the cache count too (``cached``: how many; they cost nothing again).

    Parameters
    ----------
    *responses : DataFrame
        Responses tables (of :func:`~valuelab.elicit.elicit_comparisons`,
        :func:`~valuelab.elicit_dilemma_choices`, ...) with ``prompt_tokens`` and
        ``completion_tokens`` columns (NaN where the server did not report usage).
    by : str or list of str
        Grouping columns.

    Returns
    -------
    DataFrame
        One row per group: ``prompts``, ``cached`` (prompts answered from the cache),
        ``with_usage`` (prompts whose tokens the server reported), ``prompt_tokens``,
        ``completion_tokens``, ``total_tokens`` (sums over the prompts with usage; 0 when
        none reported it).

    Raises
    ------
    ValueError
        When a table lacks the token columns or a grouping column.
    """
    if not responses:
        raise ValueError("usage_summary: give at least one responses table")
    keys = [by] if isinstance(by, str) else list(by)
    frames = []
    for j, df in enumerate(responses):
        missing = [c for c in ["prompt_tokens", "completion_tokens", *keys] if c not in df.columns]
        if missing:
            raise ValueError(f"responses table {j}: missing columns {missing} (token usage is recorded by the "
                             "API backends; tables from a local model have none)")
        cols = keys + ["prompt_tokens", "completion_tokens"] + (["cached"] if "cached" in df.columns else [])
        frames.append(df[cols])
    df = pd.concat(frames, ignore_index=True)
    if "cached" not in df.columns:
        df["cached"] = False
    df = df.assign(with_usage=df["prompt_tokens"].notna() & df["completion_tokens"].notna(),
                   cached=df["cached"].fillna(False).astype(bool))
    out = df.groupby(keys, sort=False, dropna=False).agg(
        prompts=("with_usage", "size"), cached=("cached", "sum"), with_usage=("with_usage", "sum"),
        prompt_tokens=("prompt_tokens", "sum"), completion_tokens=("completion_tokens", "sum"))
    out["total_tokens"] = out["prompt_tokens"] + out["completion_tokens"]
    for c in ("prompts", "cached", "with_usage", "prompt_tokens", "completion_tokens", "total_tokens"):
        out[c] = out[c].astype("int64")
    return out.reset_index()
