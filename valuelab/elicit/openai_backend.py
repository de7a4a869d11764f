"""Any OpenAI-compatible server (vLLM, TGI, llama.cpp server, ``transformers serve``, hosted APIs).

Uses only the standard library (``urllib`` and a thread pool). Servers differ in what they
honour, so on first contact the backend probes the server (a few one-token requests, cached
per base URL and model) and chooses a route:

* option probabilities from the chat endpoint's ``top_logprobs`` at the answer position;
* else from the legacy ``/completions`` endpoint's prompt log-probabilities (``echo`` with
  ``logprobs``), when the server offers them and a ``prompt_text`` renderer is given (the
  legacy endpoint takes raw text, so the chat template must be applied client-side);
* else estimated from sampled one-token answers (label frequencies);
* sampled answers with ``n=k`` in one request, or ``k`` separate requests when the server
  ignores ``n``.

The route used is counted per request (``OpenAIModel.route_counts``) and described in
words by :meth:`OpenAIModel.describe_route` (and in a warning when it is a fallback). Pass
``probabilities="top_logprobs"`` to insist on exact probabilities: a server without them
then raises :class:`ServerError` naming the missing capability.

The API key is read from an environment variable at request time; it is never stored on the
object, logged, put in error messages or probes, or part of the cache identity.

References
----------
.. [1] OpenAI. Chat Completions API reference: ``logprobs``, ``top_logprobs`` and ``n``.
   https://platform.openai.com/docs/api-reference/chat
.. [2] OpenAI. Completions (legacy) API reference: ``echo`` and ``logprobs``.
   https://platform.openai.com/docs/api-reference/completions
.. [3] Hugging Face. ``transformers serve``: an OpenAI-compatible server in transformers.
   https://huggingface.co/docs/transformers/serving
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .parse import label_spellings, renormalise

__all__ = ["OpenAIModel", "ServerError", "ServerCapabilities", "probe_server"]

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
_PROBE_PROMPT = "Answer with the single letter A."
_log = logging.getLogger("valuelab.elicit")

ROUTE_WORDS = {
    "top_logprobs": "option probabilities read from the chat endpoint's top_logprobs (exact)",
    "echo": "option probabilities read from /completions prompt log-probabilities (echo; exact)",
    "sample": "option probabilities estimated from {m} sampled one-token answers per prompt",
    "n": "sampled answers with n=k in one request",
    "separate": "sampled answers with k separate requests (the server ignores n)",
}


class ServerError(RuntimeError):
    """The server refused or failed a request after all retries, or lacks a capability insisted on."""


class _HTTPStatus(ServerError):
    def __init__(self, message, status, detail=""):
        super().__init__(message)
        self.status = status
        self.detail = detail


@dataclass
class ServerCapabilities:
    """What a server honours, learned by :func:`probe_server`.

    Attributes
    ----------
    top_logprobs : bool
        The chat endpoint returns ``logprobs.content[0].top_logprobs``.
    n : bool
        The chat endpoint returns ``n`` choices when asked.
    echo : bool
        ``/completions`` returns prompt log-probabilities with ``echo`` and ``logprobs``.
    generation_config : bool
        The server is ``transformers serve``: it rejects unknown request fields and takes a
        ``generation_config`` JSON field. Its sampling follows the model folder's generation
        config (greedy unless that sets ``do_sample``) whatever ``temperature`` says, so
        valuelab sends ``do_sample``, ``temperature``, ``top_k=0`` and ``top_p=1`` in it.
    notes : list of str
        What each probe saw, in words.
    """

    top_logprobs: bool = False
    n: bool = False
    echo: bool = False
    generation_config: bool = False
    notes: list = field(default_factory=list)


_CAPABILITIES: dict[tuple[str, str], ServerCapabilities] = {}
_CAP_LOCK = threading.Lock()


class OpenAIModel:
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    Parameters
    ----------
    model : str
        The model name the server expects.
    base_url : str
        Up to and including ``/v1``, e.g. ``"http://127.0.0.1:8000/v1"``.
    api_key_env : str or None
        Environment variable holding the API key (sent as a Bearer token); None sends none.
    max_concurrency : int
        Requests in flight at once.
    max_retries : int
        Retries on 408/409/425/429/5xx responses, timeouts and connection errors, with
        exponential backoff (``backoff * 2**attempt`` seconds plus jitter, or the server's
        ``Retry-After``).
    timeout : float
        Seconds per request.
    top_logprobs : int
        How many alternatives to ask for at the answer position.
    probabilities : {"auto", "top_logprobs", "echo", "sample"}
        Route of :meth:`option_probabilities`: ``"auto"`` takes the first the server offers
        (in that order) and warns once when it falls back; any other value insists on that
        route and raises :class:`ServerError` naming the missing capability.
    probability_samples : int
        One-token answers sampled per prompt on the ``"sample"`` route.
    prompt_text : callable or None
        Renders a prompt (a string or a list of messages) into the raw text the model reads
        (e.g. a local tokenizer's chat template); needed by the ``"echo"`` route.
    capabilities : ServerCapabilities or None
        Skip the probe and use these (tests, or servers you know).

    Attributes
    ----------
    identity : dict
        ``name`` and ``base_url``: what identifies answers in the cache (no key, no route).
    route_counts : collections.Counter
        Requests made per route (``"top_logprobs"``, ``"echo"``, ``"sample"``, ``"n"``,
        ``"separate"``).
    usage : dict
        ``prompt_tokens``, ``completion_tokens``, ``total_tokens`` summed over this object's
        requests (as the server reports them; probes excluded).
    n_retries : int
    """

    def __init__(self, model: str, *, base_url: str = "http://127.0.0.1:8000/v1", api_key_env: str | None = "OPENAI_API_KEY",
                 max_concurrency: int = 8, max_retries: int = 5, timeout: float = 60.0, backoff: float = 0.5,
                 top_logprobs: int = 20, probabilities: str = "auto", probability_samples: int = 50,
                 prompt_text: Callable | None = None, capabilities: ServerCapabilities | None = None):
        if probabilities not in ("auto", "top_logprobs", "echo", "sample"):
            raise ValueError(f"probabilities={probabilities!r}; expected 'auto', 'top_logprobs', 'echo' or 'sample'")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.batch_size = max(1, int(max_concurrency))
        self.max_retries = int(max_retries)
        self.timeout = float(timeout)
        self.backoff = float(backoff)
        self.top_logprobs = int(top_logprobs)
        self.probabilities = probabilities
        self.probability_samples = int(probability_samples)
        self.prompt_text = prompt_text
        self._capabilities = capabilities
        self.identity = {"name": model, "base_url": self.base_url}
        # chat completions start a new assistant turn: a final assistant message is not continued
        self.supports_prefill = False
        self.n_retries = 0
        self.route_counts: Counter = Counter()
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        self._lock = threading.Lock()
        self._warned = False

    # ------------------------------------------------------------------ plumbing
    def render(self, prompt) -> str:
        """The messages sent, as canonical JSON (the cache key's prompt)."""
        return json.dumps(self._messages(prompt), ensure_ascii=False, sort_keys=True)

    @staticmethod
    def _messages(prompt) -> list[dict]:
        return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)

    def _headers(self) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if key:
                headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post(self, payload: dict, *, endpoint: str = "chat/completions", retries: int | None = None,
              count: bool = True) -> dict:
        url = f"{self.base_url}/{endpoint}"
        body = json.dumps(payload).encode("utf-8")
        retries = self.max_retries if retries is None else retries
        last = ""
        for attempt in range(retries + 1):
            request = urllib.request.Request(url, data=body, headers=self._headers(), method="POST")
            wait = None
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    raw = response.read().decode("utf-8")
                try:
                    data = json.loads(raw)
                except ValueError:
                    raise ServerError(f"{url} answered with malformed JSON: {raw[:200]!r}") from None
                if not isinstance(data, dict):
                    raise ServerError(f"{url} answered with JSON that is not an object: {raw[:200]!r}")
                if count and isinstance(data.get("usage"), dict):
                    with self._lock:
                        for name in self.usage:
                            value = data["usage"].get(name)
                            if isinstance(value, (int, float)):
                                self.usage[name] += int(value)
                return data
            except urllib.error.HTTPError as err:
                last = f"HTTP {err.code} from {url}"
                if err.code not in _RETRY_STATUS:
                    detail = err.read()[:300].decode("utf-8", "replace")
                    raise _HTTPStatus(f"{last}: {detail}", err.code, detail) from None
                retry_after = err.headers.get("Retry-After") if err.headers else None
                if retry_after and retry_after.replace(".", "", 1).isdigit():
                    wait = float(retry_after)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                last = f"{type(err).__name__} contacting {url}: {getattr(err, 'reason', err)}"
            if attempt == retries:
                break
            with self._lock:
                self.n_retries += 1
            time.sleep(wait if wait is not None else self.backoff * 2**attempt * (1 + 0.25 * random.random()))
        raise ServerError(f"{last} (gave up after {retries} retries)")

    def _map(self, fn, items):
        with ThreadPoolExecutor(max_workers=self.batch_size) as pool:
            return list(pool.map(fn, items))

    # ------------------------------------------------------------------ capabilities
    @property
    def capabilities(self) -> ServerCapabilities:
        """What the server honours (probed on first use, cached per base URL and model)."""
        if self._capabilities is None:
            self._capabilities = probe_server(self)
        return self._capabilities

    def probability_route(self) -> str:
        """The route :meth:`option_probabilities` takes with this server.

        Raises
        ------
        ServerError
            When ``probabilities`` insists on a route the server does not offer.
        """
        caps = self.capabilities
        offered = {"top_logprobs": caps.top_logprobs, "echo": caps.echo and self.prompt_text is not None,
                   "sample": True}
        if self.probabilities != "auto":
            if not offered[self.probabilities]:
                missing = {"top_logprobs": "does not return logprobs/top_logprobs on /chat/completions",
                           "echo": ("does not return prompt log-probabilities (echo with logprobs) on /completions"
                                    if not caps.echo else "offers echo, but prompt_text= is needed to render prompts")}
                raise ServerError(f"{self.base_url} ({self.model}) {missing[self.probabilities]}; "
                                  f"probabilities={self.probabilities!r} cannot be honoured "
                                  "(use probabilities='auto' or 'sample', or method='sample')")
            return self.probabilities
        return next(r for r in ("top_logprobs", "echo", "sample") if offered[r])

    def sampling_route(self) -> str:
        """``"n"`` (one request per prompt) or ``"separate"`` (k requests per prompt)."""
        return "n" if self.capabilities.n else "separate"

    def describe_route(self) -> str:
        """One sentence on how this backend gets answers from this server."""
        prob = self.probability_route()
        words = ROUTE_WORDS[prob].format(m=self.probability_samples)
        text = (f"{self.base_url} ({self.model}): {words}; {ROUTE_WORDS[self.sampling_route()]}")
        if self.capabilities.generation_config:
            text += "; sampling settings sent in transformers serve's generation_config"
        return text + "."

    def _note_fallback(self, route: str):
        """Warn once per object, in words, when a fallback route is first taken."""
        if route in ("top_logprobs", "n") or self._warned:
            return
        with self._lock:
            if self._warned:
                return
            self._warned = True
        message = f"valuelab: {self.describe_route()}"
        _log.warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)

    def _sampling_fields(self, temperature: float, max_tokens: int) -> dict:
        return _sampling_fields(self.capabilities, temperature, max_tokens)

    # ------------------------------------------------------------------ routes
    def option_probabilities(self, prompts, labels: Sequence[str] = ("A", "B"), *, progress: bool = False):
        """Probabilities of the answer labels at the first answer token, by the route the server allows.

        Token spellings that strip to a label (``"A"``, ``" A"``) are summed; labels absent
        from the returned alternatives get probability 0. ``mass`` is the total on the
        labels. On the ``"sample"`` route both are frequencies among
        ``probability_samples`` sampled one-token answers (estimates, not exact).

        Returns
        -------
        probs : ndarray (n_prompts x n_labels)
        mass : ndarray (n_prompts,)

        Raises
        ------
        ServerError
            When ``probabilities`` insists on a route the server lacks, or a response has
            no logprobs where the probe found them.
        """
        prompts = list(prompts)
        route = self.probability_route()
        self._note_fallback(route)
        fn = {"top_logprobs": self._top_logprobs_one, "echo": self._echo_one, "sample": self._sample_one}[route]
        rows = self._map(lambda p: fn(p, labels), prompts)
        with self._lock:
            self.route_counts[route] += len(prompts)
        return renormalise(np.array(rows, dtype=float).reshape(len(prompts), len(labels)))

    def _top_logprobs_one(self, prompt, labels):
        payload = {"model": self.model, "messages": self._messages(prompt), "max_tokens": 1, "temperature": 0,
                   "logprobs": True, "top_logprobs": self.top_logprobs}
        data = self._post(payload)
        try:
            content = data["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
            alts = [(str(a.get("token", "")).strip(), float(a["logprob"])) for a in content]
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            raise ServerError(f"{self.base_url}: the response has no usable logprobs/top_logprobs "
                              "(use probabilities='sample' or method='sample')") from None
        raw = np.zeros(len(labels))
        for token, logprob in alts:
            for j, lab in enumerate(labels):
                if token in label_spellings(lab):
                    raw[j] += math.exp(logprob)
        return raw

    def _echo_one(self, prompt, labels):
        text = self.prompt_text(prompt)
        raw = np.zeros(len(labels))
        for j, lab in enumerate(labels):
            for spelling in label_spellings(lab):
                payload = {"model": self.model, "prompt": text + spelling, "max_tokens": 1, "temperature": 0,
                           "echo": True, "logprobs": 0}
                data = self._post(payload, endpoint="completions")
                try:
                    lp = data["choices"][0]["logprobs"]
                    offsets, values = list(lp["text_offset"]), list(lp["token_logprobs"])
                except (KeyError, IndexError, TypeError):
                    raise ServerError(f"{self.base_url}: the /completions response has no prompt log-probabilities "
                                      "(use probabilities='sample')") from None
                if len(text) not in offsets:
                    raise ServerError(f"{self.base_url}: the label {spelling!r} merges with the prompt's last token, "
                                      "so its probability cannot be read from the echoed prompt")
                end = len(text) + len(spelling)
                raw[j] += math.exp(sum(float(v) for o, v in zip(offsets, values) if len(text) <= o < end))
        return raw

    def _sample_one(self, prompt, labels):
        answers = self._sample(prompt, self.probability_samples, 1.0, 1, None)
        raw = np.zeros(len(labels))
        for answer in answers:
            token = answer.strip()
            for j, lab in enumerate(labels):
                if token and token in label_spellings(lab):
                    raw[j] += 1
        return raw / max(1, len(answers))

    def _sample(self, prompt, k, temperature, max_new_tokens, seed):
        base = {"model": self.model, "messages": self._messages(prompt), **self._sampling_fields(temperature, max_new_tokens)}
        if self.sampling_route() == "n" and k > 1:
            payload = dict(base, n=k)
            if seed is not None:
                payload["seed"] = seed
            texts = [c.get("message", {}).get("content") or "" for c in self._post(payload).get("choices", [])]
            if len(texts) != k:
                raise ServerError(f"{self.base_url}: asked for n={k} answers, got {len(texts)}")
            return texts
        texts = []
        for j in range(k):
            payload = dict(base) if seed is None else dict(base, seed=int(seed) + j)
            choices = self._post(payload).get("choices") or [{}]
            texts.append((choices[0].get("message") or {}).get("content") or "")
        return texts

    def generate(self, prompts, *, k: int = 1, temperature: float = 1.0, max_new_tokens: int = 16,
                 seed: int | None = 0) -> list[list[str]]:
        """``k`` sampled answers per prompt: ``n=k`` in one request, or ``k`` requests (seeds ``seed + j``)."""
        prompts = list(prompts)
        route = self.sampling_route() if k > 1 else "n"
        self._note_fallback(route)
        out = self._map(lambda p: self._sample(p, k, temperature, max_new_tokens, seed), prompts)
        with self._lock:
            self.route_counts[route] += len(prompts)
        return out


def _sampling_fields(caps: ServerCapabilities, temperature: float, max_tokens: int) -> dict:
    """Sampling fields of a request (plus transformers serve's ``generation_config``, which it obeys)."""
    fields = {"max_tokens": max_tokens, "temperature": temperature}
    if caps.generation_config:
        config = {"do_sample": temperature > 0, "max_new_tokens": max_tokens}
        if temperature > 0:
            config.update(temperature=temperature, top_k=0, top_p=1.0)
        fields["generation_config"] = json.dumps(config)
    return fields


def _probe(model: OpenAIModel, payload: dict, endpoint: str = "chat/completions"):
    """(data, None) or (None, reason) for one probe request (retried like any other; usage not counted)."""
    try:
        return model._post(payload, endpoint=endpoint, count=False), None
    except _HTTPStatus as err:
        return None, f"HTTP {err.status}: {err.detail[:120]}"


def probe_server(model: OpenAIModel, *, refresh: bool = False) -> ServerCapabilities:
    """Learn what a server honours with a few one-token requests; cached per base URL and model.

    Parameters
    ----------
    model : OpenAIModel
    refresh : bool
        Probe again even when the answer is cached.

    Returns
    -------
    ServerCapabilities

    Raises
    ------
    ServerError
        When the chat endpoint itself fails (unreachable, 401, 404, ...).
    """
    key = (model.base_url, model.model)
    with _CAP_LOCK:
        if key in _CAPABILITIES and not refresh:
            return _CAPABILITIES[key]
    caps = ServerCapabilities()
    msgs = [{"role": "user", "content": _PROBE_PROMPT}]
    base = {"model": model.model, "messages": msgs, "max_tokens": 1}
    # transformers serve rejects fields it does not know (422 "Unexpected fields"), before generating
    _, reason = _probe(model, dict(base, valuelab_probe=True))
    if reason and reason.startswith("HTTP 422") and "Unexpected fields" in reason:
        caps.generation_config = True
        caps.notes.append("rejects unknown fields with 'Unexpected fields' (transformers serve): "
                          "sampling settings go in generation_config")
    data, reason = _probe(model, dict(base, temperature=0, logprobs=True, top_logprobs=min(5, model.top_logprobs)))
    if data is None:
        caps.notes.append(f"chat logprobs refused ({reason})")
        data, reason = _probe(model, dict(base, temperature=0))
        if data is None:
            raise ServerError(f"{model.base_url}: the chat endpoint fails a one-token request ({reason})")
    else:
        try:
            caps.top_logprobs = len(data["choices"][0]["logprobs"]["content"][0]["top_logprobs"]) > 0
        except (KeyError, IndexError, TypeError):
            caps.top_logprobs = False
        caps.notes.append("chat top_logprobs " + ("returned" if caps.top_logprobs else "ignored"))
    n_payload = dict(base, n=2, **_sampling_fields(caps, 1.0, 1))
    data, reason = _probe(model, n_payload)
    caps.n = data is not None and len(data.get("choices") or []) == 2
    caps.notes.append("n " + ("honoured" if caps.n else f"ignored ({reason or 'one choice returned'})"))
    data, reason = _probe(model, {"model": model.model, "prompt": "A B", "max_tokens": 1, "temperature": 0,
                                  "echo": True, "logprobs": 0}, endpoint="completions")
    try:
        values = data["choices"][0]["logprobs"]["token_logprobs"]
        caps.echo = isinstance(values, list) and len(values) >= 2
    except (KeyError, IndexError, TypeError):
        caps.echo = False
    caps.notes.append("/completions echo logprobs " + ("returned" if caps.echo else f"absent ({reason or 'ignored'})"))
    with _CAP_LOCK:
        _CAPABILITIES[key] = caps
    return caps
