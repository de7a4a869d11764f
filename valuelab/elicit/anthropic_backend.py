"""Anthropic's Messages API through the official ``anthropic`` client: the sampling route.

The Messages API returns no log-probabilities and no ``n``: ``k`` answers are ``k`` requests,
and option probabilities are estimated from ``probability_samples`` sampled one-token
answers per prompt. Requests go through the same loop as the OpenAI-compatible backend
(:class:`~valuelab.elicit.remote.RemoteModel`: bounded concurrency, rate limits in requests
and tokens per minute, retries with backoff on 429/5xx/529 and timeouts, token usage per
response and per run). Install the client with ``pip install valuelab[anthropic]``; it is
imported on first use.

Tested here only against a loopback stand-in of the Messages endpoint
(``tests/test_anthropic_backend.py``): no hosted API is reachable from this project's
machines.

References
----------
.. [1] Anthropic. Messages API reference (``system``, ``messages``, ``max_tokens``,
   ``temperature``, ``usage``). https://docs.anthropic.com/en/api/messages
.. [2] Anthropic. The official Python library (``anthropic``).
   https://github.com/anthropics/anthropic-sdk-python
"""

from __future__ import annotations

import json
import math
import os
from typing import Sequence

import numpy as np

from .parse import label_frequencies, renormalise
from .remote import CHARS_PER_TOKEN, RateLimiter, RemoteModel, ServerError

__all__ = ["AnthropicModel"]

# fields the client's typed ``messages.create`` takes; others (``temperature``, which recent
# client versions no longer type) go in ``extra_body``
_TYPED = {"model", "messages", "max_tokens", "system", "stop_sequences", "metadata"}


class AnthropicModel(RemoteModel):
    """A model behind Anthropic's Messages API (``/v1/messages``), sampling route only.

    Takes the same elicitation calls as :class:`~valuelab.elicit.OpenAIModel`
    (:meth:`generate`, :meth:`option_probabilities`, :meth:`render`), so it can be passed to
    :func:`~valuelab.elicit.elicit_comparisons`, :func:`~valuelab.elicit_dilemma_choices` and
    :func:`~valuelab.survey.elicit_survey`. Leading ``system`` messages go into the request's
    ``system`` field.

    Parameters
    ----------
    model : str
        The model name, e.g. ``"claude-sonnet-4-5"``.
    base_url : str or None
        The API's root (the client appends ``/v1/messages``); None: the client's default
        (``ANTHROPIC_BASE_URL`` or Anthropic's API).
    api_key_env : str or None
        Environment variable holding the API key, read at each request and sent as its
        ``x-api-key`` header; never stored, logged, cached or put in errors.
    max_concurrency, max_retries, timeout, backoff, requests_per_minute, tokens_per_minute, rate_limiter
        As for :class:`~valuelab.elicit.OpenAIModel` (529 "overloaded" is retried too).
    probability_samples : int
        One-token answers sampled per prompt by :meth:`option_probabilities`.
    max_temperature : float
        The API's largest ``temperature`` (1.0); a larger one is refused before any request.
    send_temperature : bool
        Send ``temperature`` (in the request body; recent client versions no longer type
        it). Models that refuse it need False: they then sample at their own setting, so
        "greedy" (temperature 0) answers are samples too, and the identity records it.

    Attributes
    ----------
    identity : dict
        ``name``, ``base_url`` and ``provider`` (``"anthropic"``): the cache identity.
    usage, last_usage, route_counts, n_retries
        As for :class:`~valuelab.elicit.OpenAIModel`; ``prompt_tokens`` are the response's
        ``input_tokens`` plus its cache-creation and cache-read input tokens,
        ``completion_tokens`` its ``output_tokens``.

    Notes
    -----
    The Messages API has no ``seed``: sampled answers are not reproducible, although the
    cache key still records the seed asked for. Answers to the same prompt are cached, so a
    re-run reads them back instead of asking again.

    References
    ----------
    .. [1] Anthropic. Messages API reference. https://docs.anthropic.com/en/api/messages
    """

    def __init__(self, model: str, *, base_url: str | None = None, api_key_env: str | None = "ANTHROPIC_API_KEY",
                 max_concurrency: int = 4, max_retries: int = 5, timeout: float = 60.0, backoff: float = 0.5,
                 requests_per_minute: float | None = None, tokens_per_minute: float | None = None,
                 rate_limiter: RateLimiter | None = None, probability_samples: int = 50,
                 max_temperature: float = 1.0, send_temperature: bool = True):
        if int(probability_samples) < 1:
            raise ValueError(f"probability_samples: expected at least 1, got {probability_samples!r}")
        super().__init__(max_concurrency=max_concurrency, max_retries=max_retries, timeout=timeout, backoff=backoff,
                         requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute,
                         rate_limiter=rate_limiter)
        self.model = model
        self.base_url = (base_url or os.environ.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com").rstrip("/")
        self.api_key_env = api_key_env
        self.probability_samples = int(probability_samples)
        self.max_temperature = float(max_temperature)
        self.send_temperature = bool(send_temperature)
        self.identity = {"name": model, "base_url": self.base_url, "provider": "anthropic"}
        if not self.send_temperature:
            self.identity["temperature"] = "model default"
        self.supports_prefill = False  # the answer after a reasoning text cannot be read from logits
        self.top_logprobs = None

    def __repr__(self) -> str:
        return f"AnthropicModel({self.model!r}, base_url={self.base_url!r}, api_key_env={self.api_key_env!r})"

    # ------------------------------------------------------------------ plumbing
    @staticmethod
    def _messages(prompt) -> list[dict]:
        return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)

    def render(self, prompt) -> str:
        """The request's ``system`` and ``messages``, as canonical JSON (the cache key's prompt)."""
        system, messages = _split_system(self._messages(prompt))
        body = {"messages": messages} if system is None else {"system": system, "messages": messages}
        return json.dumps(body, ensure_ascii=False, sort_keys=True)

    def _sdk(self):
        try:
            import anthropic
        except ModuleNotFoundError:
            raise ModuleNotFoundError("AnthropicModel needs the anthropic client: pip install 'valuelab[anthropic]'"
                                      ) from None
        return anthropic

    def _client(self):
        if self._client_obj is None:
            anthropic = self._sdk()
            with self._lock:
                if self._client_obj is None:
                    # the placeholder is never sent: every request sets (or omits) x-api-key itself
                    self._client_obj = anthropic.Anthropic(base_url=self.base_url, api_key="unused",
                                                           timeout=self.timeout, max_retries=0)
        return self._client_obj

    def _auth(self) -> dict:
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return {"x-api-key": key} if key else {"x-api-key": self._sdk().Omit()}

    def _send(self, payload: dict, endpoint: str) -> str:
        typed = {k: v for k, v in payload.items() if k in _TYPED}
        extra = {k: v for k, v in payload.items() if k not in _TYPED}
        if extra:
            typed["extra_body"] = extra
        raw = self._client().messages.with_raw_response.create(**typed, extra_headers=self._auth())
        return raw.http_response.text

    def _url(self, endpoint: str) -> str:
        return f"{self.base_url}/v1/{endpoint}"

    def _usage_of(self, data: dict):
        usage = data.get("usage")
        if not isinstance(usage, dict):
            return None
        out = usage.get("output_tokens")
        ins = [usage.get(k) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
        if not isinstance(out, (int, float)) or not isinstance(ins[0], (int, float)):
            return None
        return float(sum(x for x in ins if isinstance(x, (int, float)))), float(out)

    def _estimate_tokens(self, payload: dict) -> float:
        text = json.dumps(payload.get("messages", "")) + str(payload.get("system", ""))
        return math.ceil(len(text) / CHARS_PER_TOKEN) + int(payload.get("max_tokens") or 16)

    def cache_params(self, method: str) -> dict:
        """The route in the cache key: option probabilities are estimates from sampled answers."""
        return {"route": "sample", "probability_samples": self.probability_samples} if method == "logits" else {}

    def describe_route(self) -> str:
        """One sentence on how this backend gets answers."""
        return (f"{self.base_url} ({self.model}, Anthropic Messages API): option probabilities estimated from "
                f"{self.probability_samples} sampled one-token answers per prompt; sampled answers with k separate "
                "requests (the API has no logprobs and no n).")

    # ------------------------------------------------------------------ routes
    def _payload(self, prompt, temperature: float, max_tokens: int) -> dict:
        if not 0 <= float(temperature) <= self.max_temperature:
            raise ValueError(f"temperature: the Messages API takes 0 to {self.max_temperature:g}, got {temperature!r}")
        system, messages = _split_system(self._messages(prompt))
        payload = {"model": self.model, "messages": messages, "max_tokens": int(max_tokens)}
        if self.send_temperature:
            payload["temperature"] = float(temperature)
        if system is not None:
            payload["system"] = system
        return payload

    def _sample_many(self, prompts, k, temperature, max_new_tokens) -> list[list[str]]:
        payloads = [self._payload(p, temperature, max_new_tokens) for p in prompts]
        jobs = [(i, payload, "messages") for i, payload in enumerate(payloads) for _ in range(int(k))]
        return [[self._text(data) for data in group] for group in self._run_jobs(len(prompts), jobs)]

    def _text(self, data: dict) -> str:
        content = data.get("content")
        if not isinstance(content, list):
            raise ServerError(f"{self._url('messages')}: the response has no 'content' list (expected "
                              f"content[].type/text): {json.dumps(data)[:200]}")
        return "".join(block.get("text") or "" for block in content
                       if isinstance(block, dict) and block.get("type") == "text")

    def generate(self, prompts, *, k: int = 1, temperature: float = 1.0, max_new_tokens: int = 16,
                 seed: int | None = 0) -> list[list[str]]:
        """``k`` sampled answers per prompt, ``k`` requests each (run concurrently; ``seed`` is not sent).

        Raises
        ------
        ValueError
            When ``temperature`` is outside the API's range.
        """
        prompts = list(prompts)
        out = self._sample_many(prompts, k, temperature, max_new_tokens)
        self._count_route("separate" if k > 1 else "n", len(prompts))
        return out

    def option_probabilities(self, prompts, labels: Sequence[str] = ("A", "B"), *, progress: bool = False):
        """Label frequencies among ``probability_samples`` one-token answers at temperature 1 (estimates).

        Returns
        -------
        probs : ndarray (n_prompts x n_labels)
            Renormalised over the labels (NaN rows when no answer was a label).
        mass : ndarray (n_prompts,)
            Share of answers that were one of the labels.
        """
        prompts = list(prompts)
        rows = label_frequencies(self._sample_many(prompts, self.probability_samples, 1.0, 1), labels)
        self._count_route("sample", len(prompts))
        return renormalise(np.array(rows, dtype=float).reshape(len(prompts), len(labels)))


def _split_system(messages: list[dict]) -> tuple[str | None, list[dict]]:
    """Leading ``system`` messages joined into the ``system`` field; the rest as messages."""
    system = []
    rest = list(messages)
    while rest and rest[0].get("role") == "system":
        system.append(str(rest.pop(0).get("content", "")))
    for j, message in enumerate(rest):
        if message.get("role") not in ("user", "assistant"):
            raise ValueError(f"messages[{j + len(system)}]: role {message.get('role')!r}; the Messages API takes "
                             "'user' and 'assistant' turns after any leading 'system' messages")
    return ("\n\n".join(system) if system else None), rest
