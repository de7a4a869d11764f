"""Any OpenAI-compatible server (vLLM, TGI, llama.cpp server, ``transformers serve``, hosted APIs).

Requests go through the official ``openai`` Python client (imported on first use), with
valuelab's own request loop around it (:class:`~valuelab.elicit.remote.RemoteModel`):
bounded concurrency, client-side rate limits in requests and tokens per minute, retries with
exponential backoff on 429/5xx/timeouts, and the tokens each response reports (``usage``),
kept per prompt in the response cache and summed per backend object.

Servers differ in what they honour, so on first contact the backend probes the server (a few
one-token requests, cached per base URL and model) and chooses a route:

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
then raises :class:`ServerError` naming the missing capability. The route of option
probabilities is part of the cache key, so exact and estimated probabilities of the same
prompt are never mixed up in a cache.

The API key is read from an environment variable at request time and sent as that request's
``Authorization`` header; it is never stored on the object or the client, logged, put in
error messages or probes, or part of the cache identity.

References
----------
.. [1] OpenAI. Chat Completions API reference: ``logprobs``, ``top_logprobs``, ``n`` and
   ``usage``. https://platform.openai.com/docs/api-reference/chat
.. [2] OpenAI. Completions (legacy) API reference: ``echo`` and ``logprobs``.
   https://platform.openai.com/docs/api-reference/completions
.. [3] OpenAI. The official Python library (``openai``). https://github.com/openai/openai-python
.. [4] Hugging Face. ``transformers serve``: an OpenAI-compatible server in transformers.
   https://huggingface.co/docs/transformers/serving
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .parse import label_frequencies, label_spellings, renormalise
from .remote import CHARS_PER_TOKEN, HTTPStatusError, RateLimiter, RemoteModel, ServerError

__all__ = ["OpenAIModel", "ServerError", "ServerCapabilities", "probe_server"]

_HTTPStatus = HTTPStatusError  # the name the probe has always caught
_PROBE_PROMPT = "Answer with the single letter A."
_log = logging.getLogger("valuelab.elicit")
# request fields the typed client methods take; anything else goes in ``extra_body``
_TYPED = {
    "chat/completions": {"model", "messages", "max_tokens", "temperature", "logprobs", "top_logprobs", "n", "seed",
                         "top_p", "stop"},
    "completions": {"model", "prompt", "max_tokens", "temperature", "echo", "logprobs", "n", "seed", "top_p",
                    "stop"},
}

ROUTE_WORDS = {
    "top_logprobs": "option probabilities read from the chat endpoint's top_logprobs (exact)",
    "echo": "option probabilities read from /completions prompt log-probabilities (echo; exact)",
    "sample": "option probabilities estimated from {m} sampled one-token answers per prompt",
    "n": "sampled answers with n=k in one request",
    "separate": "sampled answers with k separate requests (the server ignores n)",
}


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

    def to_frame(self):
        """The capability report as a table.

        Returns
        -------
        DataFrame
            One row per capability (``top_logprobs``, ``n``, ``echo``, ``generation_config``):
            ``offered`` (bool) and ``what it gives`` (in words); the probes' notes are in
            ``notes``.
        """
        import pandas as pd

        words = {"top_logprobs": "exact option probabilities from the chat endpoint",
                 "n": "k sampled answers in one request",
                 "echo": "exact option probabilities from /completions prompt log-probabilities",
                 "generation_config": "sampling settings obeyed only through generation_config (transformers serve)"}
        return pd.DataFrame({"offered": [bool(getattr(self, k)) for k in words], "what it gives": list(words.values())},
                            index=pd.Index(list(words), name="capability"))


_CAPABILITIES: dict[tuple[str, str], ServerCapabilities] = {}
_CAP_LOCK = threading.Lock()


class OpenAIModel(RemoteModel):
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint, through the ``openai`` client.

    Parameters
    ----------
    model : str
        The model name the server expects.
    base_url : str
        Up to and including ``/v1``, e.g. ``"http://127.0.0.1:8000/v1"``.
    api_key_env : str or None
        Environment variable holding the API key (sent as a Bearer token); None sends none
        (not even ``OPENAI_API_KEY``).
    max_concurrency : int
        Requests in flight at once (a thread pool; the ``k`` requests of a prompt on the
        ``"separate"`` route, and the samples of the ``"sample"`` route, run concurrently too).
    max_retries : int
        Retries on 408/409/425/429/5xx responses, timeouts and connection errors, with
        exponential backoff (``backoff * 2**attempt`` seconds plus jitter, or the server's
        ``Retry-After``). The ``openai`` client's own retries are off.
    timeout : float
        Seconds per request.
    backoff : float
    requests_per_minute, tokens_per_minute : float or None
        Client-side rate limits (:class:`~valuelab.elicit.RateLimiter`; a request's tokens are
        estimated as its characters / 4 plus ``max_tokens`` per answer, then corrected by the
        reported usage).
    rate_limiter : RateLimiter or None
        One limiter shared between backend objects (e.g. the same API key).
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
        ``name`` and ``base_url``: what identifies answers in the cache (no key; the route
        goes in the decoding parameters, see :meth:`cache_params`).
    route_counts : collections.Counter
        Prompts answered per route (``"top_logprobs"``, ``"echo"``, ``"sample"``, ``"n"``,
        ``"separate"``).
    usage : dict
        ``prompt_tokens``, ``completion_tokens``, ``total_tokens`` summed over this object's
        requests as the server reports them (probes excluded), ``requests`` and
        ``requests_without_usage`` (responses with no ``usage`` field).
    last_usage : list of dict
        ``prompt_tokens`` and ``completion_tokens`` per prompt of the last call (NaN when the
        server did not report them); the response cache stores them with each answer.
    n_retries : int

    References
    ----------
    .. [1] OpenAI. Chat Completions API reference. https://platform.openai.com/docs/api-reference/chat
    """

    def __init__(self, model: str, *, base_url: str = "http://127.0.0.1:8000/v1", api_key_env: str | None = "OPENAI_API_KEY",
                 max_concurrency: int = 8, max_retries: int = 5, timeout: float = 60.0, backoff: float = 0.5,
                 requests_per_minute: float | None = None, tokens_per_minute: float | None = None,
                 rate_limiter: RateLimiter | None = None,
                 top_logprobs: int = 20, probabilities: str = "auto", probability_samples: int = 50,
                 prompt_text: Callable | None = None, capabilities: ServerCapabilities | None = None):
        if probabilities not in ("auto", "top_logprobs", "echo", "sample"):
            raise ValueError(f"probabilities={probabilities!r}; expected 'auto', 'top_logprobs', 'echo' or 'sample'")
        if int(probability_samples) < 1:
            raise ValueError(f"probability_samples: expected at least 1, got {probability_samples!r}")
        super().__init__(max_concurrency=max_concurrency, max_retries=max_retries, timeout=timeout, backoff=backoff,
                         requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute,
                         rate_limiter=rate_limiter)
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.top_logprobs = int(top_logprobs)
        self.probabilities = probabilities
        self.probability_samples = int(probability_samples)
        self.prompt_text = prompt_text
        self._capabilities = capabilities
        self.identity = {"name": model, "base_url": self.base_url}
        # chat completions start a new assistant turn: a final assistant message is not continued
        self.supports_prefill = False
        self._warned = False

    def __repr__(self) -> str:
        return f"OpenAIModel({self.model!r}, base_url={self.base_url!r}, api_key_env={self.api_key_env!r})"

    # ------------------------------------------------------------------ plumbing
    def render(self, prompt) -> str:
        """The messages sent, as canonical JSON (the cache key's prompt)."""
        return json.dumps(self._messages(prompt), ensure_ascii=False, sort_keys=True)

    @staticmethod
    def _messages(prompt) -> list[dict]:
        return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)

    def _sdk(self):
        import openai

        return openai

    def _client(self):
        """The ``openai.OpenAI`` client (one per object; it holds no key: see :meth:`_auth`)."""
        if self._client_obj is None:
            with self._lock:
                if self._client_obj is None:
                    import openai

                    # the placeholder is never sent: every request sets (or omits) Authorization itself
                    self._client_obj = openai.OpenAI(base_url=self.base_url, api_key="unused", timeout=self.timeout,
                                                     max_retries=0)
        return self._client_obj

    def _auth(self) -> dict:
        """This request's Authorization header, read from the environment now (or omitted)."""
        import openai

        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return {"Authorization": f"Bearer {key}"} if key else {"Authorization": openai.Omit()}

    def _send(self, payload: dict, endpoint: str) -> str:
        client = self._client()
        typed = _TYPED[endpoint]
        args = {k: v for k, v in payload.items() if k in typed}
        extra = {k: v for k, v in payload.items() if k not in typed}
        resource = client.chat.completions if endpoint == "chat/completions" else client.completions
        if extra:
            args["extra_body"] = extra
        raw = resource.with_raw_response.create(**args, extra_headers=self._auth())
        return raw.http_response.text

    def _estimate_tokens(self, payload: dict) -> float:
        text = payload.get("prompt") if "prompt" in payload else json.dumps(payload.get("messages", ""))
        return math.ceil(len(str(text)) / CHARS_PER_TOKEN) + int(payload.get("max_tokens") or 16) * int(
            payload.get("n") or 1)

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

    def cache_params(self, method: str) -> dict:
        """What the cache key adds for this backend: the route of option probabilities.

        Exact probabilities (``top_logprobs``, ``echo``) and estimates from
        ``probability_samples`` sampled answers are different numbers for the same prompt, so
        they are cached under different keys. Sampled answers are the same draw whatever the
        route (``n=k`` or ``k`` requests), so their keys do not name it.
        """
        if method != "logits":
            return {}
        route = self.probability_route()
        return {"route": route, **({"probability_samples": self.probability_samples} if route == "sample" else {})}

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
        if route == "top_logprobs":
            jobs = [(i, {"model": self.model, "messages": self._messages(p), "max_tokens": 1, "temperature": 0,
                         "logprobs": True, "top_logprobs": self.top_logprobs}, "chat/completions")
                    for i, p in enumerate(prompts)]
            rows = [self._read_top_logprobs(group[0], labels) for group in self._run_jobs(len(prompts), jobs)]
        elif route == "echo":
            texts = [self.prompt_text(p) for p in prompts]
            spellings = [(j, s) for j, lab in enumerate(labels) for s in label_spellings(lab)]
            jobs = [(i, {"model": self.model, "prompt": text + s, "max_tokens": 1, "temperature": 0, "echo": True,
                         "logprobs": 0}, "completions") for i, text in enumerate(texts) for _, s in spellings]
            groups = self._run_jobs(len(prompts), jobs)
            rows = []
            for text, group in zip(texts, groups):
                raw = np.zeros(len(labels))
                for (j, s), data in zip(spellings, group):
                    raw[j] += self._read_echo(data, text, s)
                rows.append(raw)
        else:
            rows = label_frequencies(self._sample_many(prompts, self.probability_samples, 1.0, 1, None), labels)
        self._count_route(route, len(prompts))
        return renormalise(np.array(rows, dtype=float).reshape(len(prompts), len(labels)))

    def _read_top_logprobs(self, data, labels):
        try:
            content = data["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
            alts = [(str(a.get("token", "")).strip(), float(a["logprob"])) for a in content]
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            raise ServerError(f"{self.base_url}: the response has no usable logprobs/top_logprobs (expected "
                              "choices[0].logprobs.content[0].top_logprobs[].token/logprob; "
                              "use probabilities='sample' or method='sample')") from None
        raw = np.zeros(len(labels))
        for token, logprob in alts:
            for j, lab in enumerate(labels):
                if token in label_spellings(lab):
                    raw[j] += math.exp(logprob)
        return raw

    def _read_echo(self, data, text, spelling) -> float:
        try:
            lp = data["choices"][0]["logprobs"]
            offsets, values = list(lp["text_offset"]), list(lp["token_logprobs"])
        except (KeyError, IndexError, TypeError):
            raise ServerError(f"{self.base_url}: the /completions response has no prompt log-probabilities "
                              "(expected choices[0].logprobs.text_offset and token_logprobs; "
                              "use probabilities='sample')") from None
        if len(text) not in offsets:
            raise ServerError(f"{self.base_url}: the label {spelling!r} merges with the prompt's last token, "
                              "so its probability cannot be read from the echoed prompt")
        end = len(text) + len(spelling)
        return math.exp(sum(float(v) for o, v in zip(offsets, values) if len(text) <= o < end))

    def _sample_many(self, prompts, k, temperature, max_new_tokens, seed) -> list[list[str]]:
        """``k`` answers per prompt: one ``n=k`` request each, or ``k`` requests (all concurrent)."""
        fields = self._sampling_fields(temperature, max_new_tokens)
        use_n = self.sampling_route() == "n" and k > 1
        jobs = []
        for i, prompt in enumerate(prompts):
            base = {"model": self.model, "messages": self._messages(prompt), **fields}
            if use_n:
                jobs.append((i, dict(base, n=k) if seed is None else dict(base, n=k, seed=int(seed)),
                             "chat/completions"))
            else:
                jobs += [(i, dict(base) if seed is None else dict(base, seed=int(seed) + j), "chat/completions")
                         for j in range(k)]
        out = []
        for group in self._run_jobs(len(prompts), jobs):
            texts = [_message_text(c) for data in group for c in (data.get("choices") or [{}])[: k if use_n else 1]]
            if use_n and len(texts) != k:
                raise ServerError(f"{self.base_url}: asked for n={k} answers, got {len(texts)}")
            out.append(texts)
        return out

    def _sample(self, prompt, k, temperature, max_new_tokens, seed):
        """``k`` answers to one prompt (see :meth:`generate`)."""
        return self._sample_many([prompt], k, temperature, max_new_tokens, seed)[0]

    def generate(self, prompts, *, k: int = 1, temperature: float = 1.0, max_new_tokens: int = 16,
                 seed: int | None = 0) -> list[list[str]]:
        """``k`` sampled answers per prompt: ``n=k`` in one request, or ``k`` requests (seeds ``seed + j``).

        Requests run concurrently, at most ``max_concurrency`` at once; ``last_usage``
        holds the tokens per prompt.
        """
        prompts = list(prompts)
        route = self.sampling_route() if k > 1 else "n"
        self._note_fallback(route)
        out = self._sample_many(prompts, k, temperature, max_new_tokens, seed)
        self._count_route(route, len(prompts))
        return out


def _message_text(choice) -> str:
    """``choices[i].message.content`` ("" when absent)."""
    message = choice.get("message") if isinstance(choice, dict) else None
    return (message.get("content") or "") if isinstance(message, dict) else ""


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
