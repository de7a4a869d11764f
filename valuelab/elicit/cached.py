"""Model calls through the response cache: option probabilities and generations, batch by batch.

Each call's answers are written to the cache as soon as they arrive, so an interrupted run
loses at most the call in flight and a re-run asks only what is missing. Option
probabilities are asked in sorted order, so that prompts beginning alike (a pairwise question
showing the same first option) reach the model together and their shared start is computed
once.
"""

from __future__ import annotations

import datetime as _dt
import math
import sys
import time
from typing import Sequence

import numpy as np

from .cache import ResponseCache, cache_key
from .parse import label_spellings
from .remote import usage_to_columns

__all__ = ["cached_option_probabilities", "cached_generate"]


def _open(cache):
    if cache is None or isinstance(cache, ResponseCache):
        return cache, False
    return ResponseCache(cache), True


def run_cached(model, prompts, params, compute, *, cache, progress, desc, per_call=None, sort=False):
    """Results of ``compute(list_of_prompts) -> list_of_dicts`` per prompt, through the cache.

    ``compute`` receives at most ``per_call`` prompts at a time (default: the model's
    ``batch_size``), in the order given, or sorted by rendered text when ``sort`` is true
    (prompts that start alike then arrive together; used for option probabilities, where
    the order cannot change a result).

    A backend with a ``cache_params(method)`` method adds what it returns to ``params``
    (the API backends: the route that gives option probabilities, so exact and estimated
    probabilities never share a key). A backend that records ``last_usage`` (tokens per
    prompt of its last call) has them stored with each answer (``prompt_tokens``,
    ``completion_tokens``).

    Returns the results (in prompt order, each with ``latency_s`` and ``created_at``), the
    rendered prompts, their cache keys, and a boolean array of which came from the cache.
    """
    store, own = _open(cache)
    try:
        extra = model.cache_params(params.get("method")) if hasattr(model, "cache_params") else {}
        params = {**params, **extra}
        rendered = [model.render(p) for p in prompts]
        keys = [cache_key(model.identity, r, params) for r in rendered]
        found = store.get_many(keys) if store is not None else {}
        results = {i: found[k] for i, k in enumerate(keys) if k in found}
        todo = [i for i, k in enumerate(keys) if k not in found]
        if sort:
            todo.sort(key=lambda i: rendered[i])
        batch = max(1, int(per_call or getattr(model, "batch_size", 16)))
        starts = range(0, len(todo), batch)
        bar = None
        if progress and todo:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(todo), desc=desc, unit="prompt")
            bar.write(f"{desc}: {len(todo)} prompt{'s' if len(todo) != 1 else ''} to ask"
                      + (f" ({len(found)} more read from the cache)" if found else "")
                      + (f"; timing the first {min(batch, len(todo))} for an estimate" if len(todo) > batch else ""),
                      file=sys.stderr)
        for n_done, start in enumerate(starts):
            idx = todo[start : start + batch]
            t0 = time.perf_counter()
            new = compute([prompts[i] for i in idx])
            took = time.perf_counter() - t0
            per = took / len(idx)
            if bar is not None:
                bar.update(len(idx))
                if n_done == 0 and len(todo) > len(idx):
                    bar.write(f"{desc}: the first {len(idx)} took {format_duration(took)}: about "
                              f"{format_duration(per * len(todo))} for all {len(todo)}", file=sys.stderr)
            used = getattr(model, "last_usage", None)
            if not isinstance(used, list) or len(used) != len(idx):
                used = [{}] * len(idx)
            for i, res, tokens in zip(idx, new, used):
                res = {**res, **_usage_fields(tokens), "latency_s": per, "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat()}
                results[i] = res
                if store is not None:
                    store.put(keys[i], model=model.identity["name"], prompt=rendered[i], params=params, result=res)
        if bar is not None:
            bar.close()
        cached = np.array([k in found for k in keys], dtype=bool)
        return [results[i] for i in range(len(prompts))], rendered, keys, cached
    finally:
        if own:
            store.close()


def format_duration(seconds: float) -> str:
    """``"42 s"``, ``"3.5 min"`` or ``"1.2 h"``: a duration in the unit a reader thinks in."""
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _usage_fields(tokens: dict) -> dict:
    """The token counts stored with an answer (None, i.e. JSON null, where unknown)."""
    out = {}
    for name in ("prompt_tokens", "completion_tokens"):
        value = tokens.get(name) if isinstance(tokens, dict) else None
        if isinstance(value, (int, float)) and math.isfinite(value):
            out[name] = int(value)
    return out


def cached_option_probabilities(model, prompts: Sequence, labels: Sequence, *, cache=None, progress: bool = False):
    """``model.option_probabilities`` through the response cache.

    Parameters
    ----------
    model : TransformersModel or OpenAIModel
    prompts : list of str or message lists
    labels : sequence of str or tuples of alternative spellings
    cache : ResponseCache, path or None
    progress : bool

    Returns
    -------
    probs : ndarray (n_prompts x n_labels)
        Renormalised over the labels (NaN rows when the mass is 0).
    mass : ndarray (n_prompts,)
        Raw probability on the labels.
    info : dict
        ``rendered`` (prompt texts), ``keys`` (cache keys), ``cached`` (bool array),
        ``latency_s``, ``prompt_tokens`` and ``completion_tokens`` (as the server reported
        them; NaN for local models and servers that report none).
    """
    params = {"method": "logits", "labels": [list(label_spellings(lab)) for lab in labels], "scoring": 2}
    if getattr(model, "top_logprobs", None) is not None:  # how many alternatives a server returns
        params["top_logprobs"] = int(model.top_logprobs)

    def compute(batch):
        probs, mass = model.option_probabilities(batch, labels)
        return [{"probs": [float(x) for x in p], "mass": float(m)} for p, m in zip(probs, mass)]

    res, rendered, keys, cached = run_cached(model, list(prompts), params, compute, cache=cache, progress=progress,
                                             desc="option probabilities",
                                             per_call=getattr(model, "prompts_per_call", None), sort=True)
    probs = np.array([r["probs"] for r in res], dtype=float).reshape(len(res), len(labels))
    mass = np.array([r["mass"] for r in res], dtype=float)
    return probs, mass, {"rendered": rendered, "keys": keys, "cached": cached,
                         "latency_s": np.array([r["latency_s"] for r in res]), **usage_to_columns(res)}


def cached_generate(model, prompts: Sequence, *, cache=None, k: int = 1, temperature: float = 0.0,
                    max_new_tokens: int = 48, seed: int | None = 0, progress: bool = False):
    """``model.generate`` through the response cache (greedy by default).

    Returns
    -------
    texts : list of list of str
        ``k`` answers per prompt.
    info : dict
        ``rendered``, ``keys``, ``cached``, ``latency_s``, ``prompt_tokens``,
        ``completion_tokens`` as in :func:`cached_option_probabilities`.
    """
    params = {"method": "generate", "k": int(k), "temperature": float(temperature),
              "max_new_tokens": int(max_new_tokens), "seed": seed}

    def compute(batch):
        out = model.generate(batch, k=k, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
        return [{"texts": list(t)} for t in out]

    res, rendered, keys, cached = run_cached(model, list(prompts), params, compute, cache=cache, progress=progress,
                                       desc="generating")
    return [r["texts"] for r in res], {"rendered": rendered, "keys": keys, "cached": cached,
                                       "latency_s": np.array([r["latency_s"] for r in res]),
                                       **usage_to_columns(res)}
