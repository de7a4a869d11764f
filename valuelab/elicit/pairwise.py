"""Ask a model about pairs of options, in both presentation orders, and tabulate its choices.

References
----------
.. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640.
"""

from __future__ import annotations

import json
import warnings
from typing import Literal

import numpy as np
import pandas as pd

from ..schema import validate_options
from ..utility.position import position_bias, warn_position_bias
from .cache import ResponseCache
from .cached import run_cached
from .elicited import ElicitedComparisons, ElicitedUtilities
from .parse import is_refusal, parse_choice
from .prompts import PAIRWISE_TEMPLATES, PromptTemplate, pairwise_prompt

__all__ = ["elicit_comparisons", "elicit_utilities", "position_bias"]


def _template(template) -> PromptTemplate:
    if isinstance(template, PromptTemplate):
        return template
    try:
        return PAIRWISE_TEMPLATES[template]
    except KeyError:
        raise ValueError(f"template: unknown {template!r}; expected one of {sorted(PAIRWISE_TEMPLATES)}") from None


def _asks(pairs: pd.DataFrame, orders: str, seed) -> pd.DataFrame:
    """One row per prompt: the pair, and which option is shown first."""
    a, b = pairs["option_a"].to_numpy(object), pairs["option_b"].to_numpy(object)
    if orders == "both":
        return pd.DataFrame({"option_a": np.concatenate([a, a]), "option_b": np.concatenate([b, b]),
                             "shown_first": np.concatenate([a, b])})
    if orders == "single":
        rng = np.random.default_rng(seed)
        flip = rng.random(len(a)) < 0.5
        return pd.DataFrame({"option_a": a, "option_b": b, "shown_first": np.where(flip, b, a)})
    raise ValueError(f"orders: expected 'both' or 'single', got {orders!r}")


def elicit_comparisons(options: pd.DataFrame, model, *, pairs: pd.DataFrame | None = None,
                       design: Literal["random", "active", "regular"] = "random",
                       n_pairs: int | None = None, orders: Literal["both", "single"] = "both",
                       method: Literal["logits", "sample"] = "logits", k: int = 10, temperature: float = 1.0,
                       template: str | PromptTemplate = "prefer", cache: ResponseCache | str | None = None,
                       seed: int | None = 0, progress: bool = True,
                       design_kwargs: dict | None = None) -> ElicitedComparisons:
    """Ask ``model`` which of two options it prefers, for many pairs, and tabulate the answers.

    Parameters
    ----------
    options : DataFrame
        ``option_id`` and ``text`` (what the model reads).
    model : TransformersModel
        A backend with ``identity``, ``render``, ``option_probabilities`` and ``generate``.
    pairs : DataFrame or list of tuples, optional
        ``option_a``, ``option_b`` (or ``(a, b)`` tuples): exactly the pairs to ask. When not given, ``design``
        chooses ``n_pairs`` distinct pairs.
    design : {"random", "active", "regular"}
        "random" (default): uniform distinct pairs on a connected design; "active": a random
        cycle grown over 10 rounds by :func:`valuelab.elicit.active.active_design`
        (predictive rule: each round refits the utilities and asks the pairs expected to
        improve them most); "regular": a random near-regular graph (every option in about
        the same number of pairs). On simulated agents at the published budget
        (``benchmarks/bench_design.py``, 100 options, 20 agents) the active design recovers
        the ranking better than random pairs (Spearman .9968 vs .9953 with 10 sampled
        answers per order, .9998 vs .9994 with exact probabilities) but predicts unasked
        pairs no better (held-out log loss .3271 vs .3274) or worse (excess over the truth
        .0014 vs .0008 with exact probabilities, the logit route's regime), so random pairs
        stay the default.
    n_pairs : int, optional
        Distinct pairs to ask; default ``2 N log2 N``, the published budget (all pairs when
        that is fewer).
    orders : {"both", "single"}
        Ask each pair in both presentation orders, or in one random order.
    method : {"logits", "sample"}
        "logits": the probability of each answer label at the answer position (exact, one
        forward pass per prompt); "sample": ``k`` answers at ``temperature``, parsed, with
        refusals and unparseable answers recorded and left out of the counts.
    k, temperature : int, float
        Sampling settings (``method="sample"``).
    template : str or PromptTemplate
        The question's wording (see :data:`valuelab.elicit.prompts.PAIRWISE_TEMPLATES`).
    cache : ResponseCache, path or None
        Answers are read from and written to it one by one; a re-run skips cached prompts.
    seed : int or None
    progress : bool
    design_kwargs : dict, optional
        Passed to :func:`valuelab.elicit.active.active_design` (``rule``, ``n_rounds``,
        ``initial_degree``, ...).

    Returns
    -------
    ElicitedComparisons
        A named tuple (unpacks as ``comparisons, responses``):

    comparisons : DataFrame
        One row per prompt: ``option_a``, ``option_b``, ``shown_first``, ``n_a``, ``n_b``
        (for logits, the probabilities of A and B renormalised over the two labels: one
        observation's worth; for sampling, the counts of parsed answers), ``template``,
        ``model``, and ``round`` (the active design's round; 0 for other designs).
        Prompts with no usable answer are left out.
    responses : DataFrame
        One row per prompt: ``model``, ``prompt_hash``, ``prompt`` (rendered text),
        ``option_a``, ``option_b``, ``shown_first``, ``text`` (JSON list of the sampled
        answers; None for logits), ``choice`` (majority label or None), ``option_probs``
        (JSON: label -> probability), ``option_mass`` (raw probability on the label tokens),
        ``n_refused``, ``n_unparsed``, ``prompt_tokens`` and ``completion_tokens`` (as an
        API server reported them, stored in the cache with the answer; NaN for local models
        and servers that report none: :func:`~valuelab.elicit.usage_summary` sums them),
        ``latency_s``, ``created_at``, ``cached``.
    """
    from ..utility.simulate import random_pairs
    from .active import active_design
    from .pair_designs import default_budget, regular_design

    opts = validate_options(options)
    if "text" not in opts.columns:
        raise ValueError("options: missing column 'text' (what the model is shown for each option)")
    if method not in ("logits", "sample"):
        raise ValueError(f"method: expected 'logits' or 'sample', got {method!r}")
    if design not in ("active", "random", "regular"):
        raise ValueError(f"design: expected 'active', 'random' or 'regular', got {design!r}")
    if orders not in ("both", "single"):
        raise ValueError(f"orders: expected 'both' or 'single', got {orders!r}")
    tmpl = _template(template)

    def make_asker():
        # opened only once the inputs are valid, so a bad call creates no cache file
        store = cache if cache is None or isinstance(cache, ResponseCache) else ResponseCache(cache)
        return PairAsker(opts, model, method=method, k=k, temperature=temperature, template=tmpl, cache=store,
                      orders=orders, seed=seed, progress=progress)

    ids = opts.index.to_list()
    n = len(ids)
    if pairs is not None:
        if not isinstance(pairs, pd.DataFrame):  # a list of (a, b) tuples
            try:
                pairs = pd.DataFrame([tuple(p) for p in pairs], columns=["option_a", "option_b"])
            except (TypeError, ValueError):
                raise ValueError("pairs: expected a DataFrame with option_a, option_b or a list of "
                                 "(option_a, option_b) tuples") from None
        missing = {"option_a", "option_b"} - set(pairs.columns)
        if missing:
            raise ValueError(f"pairs: missing column(s) {sorted(missing)}")
        for col in ("option_a", "option_b"):
            unknown = ~pairs[col].isin(opts.index)
            if unknown.any():
                row = int(np.flatnonzero(unknown.to_numpy())[0])
                raise ValueError(f"pairs row {row}, column {col!r}: {pairs[col].iloc[row]!r} is not in the options table")
        asker = make_asker()
        comparisons = asker(pairs).assign(round=0)
    else:
        budget = default_budget(n) if n_pairs is None else int(n_pairs)
        total = n * (n - 1) // 2
        if not 1 <= budget <= total:
            raise ValueError(f"n_pairs: expected 1 to {total} pairs for {n} options, got {n_pairs!r}")
        if budget == total:
            design = "random"  # every pair is asked: there is nothing to choose
        elif design != "random" and budget < n:
            warnings.warn(f"design={design!r} needs at least {n} pairs (one cycle through the {n} options); "
                          f"asking {budget} random pairs instead", UserWarning, stacklevel=2)
            design = "random"
        asker = make_asker()
        if design == "active":
            per_pair = (2 if orders == "both" else 1) * (1 if method == "logits" else k)
            kwargs = {"obs_per_pair": per_pair, **(design_kwargs or {})}
            result = active_design(ids, asker, budget=budget, seed=seed, progress=progress, **kwargs)
            comparisons = result.comparisons
        else:
            chosen = (random_pairs(ids, budget, seed=seed) if design == "random"
                      else regular_design(ids, budget, seed=seed))
            comparisons = asker(chosen).assign(round=0)
    comparisons = comparisons.reset_index(drop=True)
    warn_position_bias(comparisons, where="elicit_comparisons")
    return ElicitedComparisons(comparisons, asker.responses())


class PairAsker:
    """Asks a model about pairs (both orders or one), through the cache; remembers every answer.

    The engine shared by :func:`elicit_comparisons` and
    :func:`valuelab.frameworks.elicit_dilemma_choices`: calling it with a pairs table
    (``option_a``, ``option_b``) returns their comparison rows; :meth:`responses` holds one
    row per model call made so far.

    Parameters
    ----------
    opts : DataFrame
        Options indexed by id, with ``text`` (unused when ``question`` is given).
    model : object
        A backend with ``option_probabilities`` (``method="logits"``) or ``generate``.
    method, k, temperature, template, cache, orders, seed, progress
        As in :func:`elicit_comparisons`.
    question : callable, optional
        ``question(first_id, second_id)`` gives the prompt (text or chat messages); default,
        the pairwise template filled with the two options' texts.
    """

    def __init__(self, opts, model, *, method, k, temperature, template, cache, orders, seed, progress,
                 question=None):
        self.opts, self.model, self.method, self.k = opts, model, method, k
        # question(first_id, second_id) -> prompt (str or chat messages); default: the pairwise template
        self.question = question
        self.temperature, self.tmpl, self.cache = temperature, template, cache
        self.orders, self.seed, self.progress = orders, seed, progress
        # "scoring" versions how label probabilities are computed, so answers scored another way
        # are never mixed with these in a cache
        self.params = ({"method": "logits", "labels": list(template.labels), "scoring": 2} if method == "logits" else
                       {"method": "sample", "k": k, "temperature": temperature, "labels": list(template.labels),
                        "seed": seed})
        self._responses: list[dict] = []
        self._calls = 0

    def responses(self) -> pd.DataFrame:
        """Every answer so far, one row per model call (the responses table)."""
        return pd.DataFrame(self._responses)

    def __call__(self, pairs: pd.DataFrame) -> pd.DataFrame:
        opts, model, tmpl, cache, method = self.opts, self.model, self.tmpl, self.cache, self.method
        seed = None if self.seed is None else self.seed + self._calls
        self._calls += 1
        asks = _asks(pairs, self.orders, seed)
        second = np.where(asks["shown_first"] == asks["option_a"], asks["option_b"], asks["option_a"])
        if self.question is not None:
            questions = [self.question(f, s) for f, s in zip(asks["shown_first"], second)]
        else:
            questions = [pairwise_prompt(opts.at[f, "text"], opts.at[s, "text"], template=tmpl)
                         for f, s in zip(asks["shown_first"], second)]
        def compute(batch):
            if method == "logits":
                probs, mass = model.option_probabilities(batch, tmpl.labels)
                return [{"probs": dict(zip(tmpl.labels, map(float, p))), "mass": float(m), "texts": []}
                        for p, m in zip(probs, mass)]
            texts = model.generate(batch, k=self.k, temperature=self.temperature, seed=self.seed)
            return [{"probs": None, "mass": None, "texts": t} for t in texts]

        per_call = getattr(model, "prompts_per_call", None) if method == "logits" else None
        results, rendered, keys, from_cache = run_cached(model, questions, self.params, compute, cache=cache,
                                                         progress=self.progress, desc=f"asking ({method})",
                                                         per_call=per_call, sort=method == "logits")

        rows = []
        lab_a, lab_b = tmpl.labels
        for i in range(len(questions)):
            res = results[i]
            first_is_a = asks["shown_first"].iat[i] == asks["option_a"].iat[i]
            n_refused = n_unparsed = 0
            if method == "logits":
                p_first = res["probs"][lab_a]
                n_first, n_second = (p_first, 1.0 - p_first) if np.isfinite(p_first) else (0.0, 0.0)
                choice = lab_a if p_first >= 0.5 else lab_b
            else:
                parsed = [parse_choice(t, labels=tmpl.labels) for t in res["texts"]]
                n_refused = sum(is_refusal(t) for t in res["texts"])
                n_unparsed = sum(p is None for p in parsed) - n_refused
                n_first, n_second = float(parsed.count(lab_a)), float(parsed.count(lab_b))
                choice = None if n_first == n_second else (lab_a if n_first > n_second else lab_b)
            n_a, n_b = (n_first, n_second) if first_is_a else (n_second, n_first)
            if n_a + n_b > 0:
                rows.append({"option_a": asks["option_a"].iat[i], "option_b": asks["option_b"].iat[i],
                             "shown_first": asks["shown_first"].iat[i], "n_a": n_a, "n_b": n_b,
                             "template": tmpl.name, "model": model.identity["name"]})
            self._responses.append({
                "model": model.identity["name"], "prompt_hash": keys[i], "prompt": rendered[i],
                "option_a": asks["option_a"].iat[i], "option_b": asks["option_b"].iat[i],
                "shown_first": asks["shown_first"].iat[i],
                "text": json.dumps(res["texts"], ensure_ascii=False) if method == "sample" else None,
                "choice": choice,
                "option_probs": json.dumps(res["probs"]) if res["probs"] is not None else None,
                "option_mass": res["mass"], "n_refused": n_refused, "n_unparsed": n_unparsed,
                "prompt_tokens": _tokens(res.get("prompt_tokens")),
                "completion_tokens": _tokens(res.get("completion_tokens")),
                "latency_s": res["latency_s"], "created_at": res["created_at"], "cached": bool(from_cache[i])})
        return pd.DataFrame(rows, columns=["option_a", "option_b", "shown_first", "n_a", "n_b", "template", "model"])


def _tokens(value) -> float:
    return float(value) if isinstance(value, (int, float)) else float("nan")


def elicit_utilities(options: pd.DataFrame, model, **kwargs) -> ElicitedUtilities:
    """Elicit comparisons and fit Thurstonian utilities to them.

    Takes the arguments of :func:`elicit_comparisons`; ``fit_kwargs`` (a dict) goes to
    :func:`valuelab.fit_thurstonian`.

    Returns
    -------
    ElicitedUtilities
        A named tuple (unpacks as ``fit, comparisons, responses``): ``fit``, a
        ThurstonianResult with the options' attributes joined to ``fit.utilities``, and the
        tables of :func:`elicit_comparisons`.
    """
    from ..utility.thurstonian import fit_thurstonian

    fit_kwargs = kwargs.pop("fit_kwargs", {})
    comparisons, responses = elicit_comparisons(options, model, **kwargs)
    fit = fit_thurstonian(comparisons.drop(columns=["template", "model", "round"]), options=options, **fit_kwargs)
    return ElicitedUtilities(fit, comparisons, responses)
