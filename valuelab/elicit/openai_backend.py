"""Any OpenAI-compatible chat-completions server (vLLM, TGI, llama.cpp server, hosted APIs).

Uses only the standard library (``urllib`` and a thread pool). The API key is read from an
environment variable at request time; it is never stored on the object, logged, put in
error messages, or part of the cache identity.

References
----------
.. [1] OpenAI. Chat Completions API reference: ``logprobs`` and ``top_logprobs``.
   https://platform.openai.com/docs/api-reference/chat
"""

from __future__ import annotations

import json
import math
import os
import random
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np

from .parse import label_spellings, renormalise

__all__ = ["OpenAIModel", "ServerError"]

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class ServerError(RuntimeError):
    """The server refused or failed a request after all retries (the message names the status)."""


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
        How many alternatives to ask for at the answer position (``method="logits"``).

    Attributes
    ----------
    identity : dict
        ``name`` and ``base_url``: what identifies answers in the cache (no key).
    """

    def __init__(self, model: str, *, base_url: str = "http://127.0.0.1:8000/v1", api_key_env: str | None = "OPENAI_API_KEY",
                 max_concurrency: int = 8, max_retries: int = 5, timeout: float = 60.0, backoff: float = 0.5,
                 top_logprobs: int = 20):
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.batch_size = max(1, int(max_concurrency))
        self.max_retries = int(max_retries)
        self.timeout = float(timeout)
        self.backoff = float(backoff)
        self.top_logprobs = int(top_logprobs)
        self.identity = {"name": model, "base_url": self.base_url}
        # chat completions start a new assistant turn: a final assistant message is not continued
        self.supports_prefill = False
        self.n_retries = 0

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

    def _post(self, payload: dict) -> dict:
        url = f"{self.base_url}/chat/completions"
        body = json.dumps(payload).encode("utf-8")
        last = ""
        for attempt in range(self.max_retries + 1):
            request = urllib.request.Request(url, data=body, headers=self._headers(), method="POST")
            wait = None
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as err:
                last = f"HTTP {err.code} from {url}"
                if err.code not in _RETRY_STATUS:
                    detail = err.read()[:300].decode("utf-8", "replace")
                    raise ServerError(f"{last}: {detail}") from None
                retry_after = err.headers.get("Retry-After") if err.headers else None
                if retry_after and retry_after.replace(".", "", 1).isdigit():
                    wait = float(retry_after)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                last = f"{type(err).__name__} contacting {url}: {getattr(err, 'reason', err)}"
            if attempt == self.max_retries:
                break
            self.n_retries += 1
            time.sleep(wait if wait is not None else self.backoff * 2**attempt * (1 + 0.25 * random.random()))
        raise ServerError(f"{last} (gave up after {self.max_retries} retries)")

    def _map(self, fn, items):
        with ThreadPoolExecutor(max_workers=self.batch_size) as pool:
            return list(pool.map(fn, items))

    # ------------------------------------------------------------------ routes
    def option_probabilities(self, prompts, labels: Sequence[str] = ("A", "B"), *, progress: bool = False):
        """Probabilities of the answer labels from the server's ``top_logprobs`` at the first token.

        Token spellings that strip to a label (``"A"``, ``" A"``) are summed; labels absent
        from the returned alternatives get probability 0. ``mass`` is the total on the
        labels.

        Returns
        -------
        probs : ndarray (n_prompts x n_labels)
        mass : ndarray (n_prompts,)

        Raises
        ------
        ServerError
            When the server returns no logprobs (use ``method="sample"`` then).
        """
        def one(prompt):
            payload = {"model": self.model, "messages": self._messages(prompt), "max_tokens": 1, "temperature": 0,
                       "logprobs": True, "top_logprobs": self.top_logprobs}
            data = self._post(payload)
            try:
                content = data["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
            except (KeyError, IndexError, TypeError):
                raise ServerError(f"{self.base_url}: the response has no logprobs; use method='sample'") from None
            raw = np.zeros(len(labels))
            for alt in content:
                token = str(alt.get("token", "")).strip()
                for j, lab in enumerate(labels):
                    if token in label_spellings(lab):
                        raw[j] += math.exp(float(alt["logprob"]))
            return raw

        return renormalise(np.array(self._map(one, list(prompts))).reshape(len(prompts), len(labels)))

    def generate(self, prompts, *, k: int = 1, temperature: float = 1.0, max_new_tokens: int = 16,
                 seed: int | None = 0) -> list[list[str]]:
        """``k`` sampled answers per prompt (``n=k`` in one request)."""
        def one(prompt):
            payload = {"model": self.model, "messages": self._messages(prompt), "max_tokens": max_new_tokens,
                       "temperature": temperature, "n": k}
            if seed is not None:
                payload["seed"] = seed
            data = self._post(payload)
            texts = [c.get("message", {}).get("content") or "" for c in data.get("choices", [])]
            if len(texts) != k:
                raise ServerError(f"{self.base_url}: asked for n={k} answers, got {len(texts)}")
            return texts

        return self._map(one, list(prompts))
