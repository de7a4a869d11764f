"""How close a model's answer distributions are to human populations', and to chance.

* ``similarity``: 1 - Jensen–Shannon distance (base 2) between the model's and the
  population's distributions, for every item (GlobalOpinionQA [1]_);
* ``similarity_emd``: 1 - EMD/(k - 1), ordinal items only (distance respects the order);
* ``nvas``: ``100 (1 - |a - mu| / (k - 1))`` between the model's expected answer and the
  population mean, ordinal items only (MENAValues [2]_; not for categorical items).

All three are computed over the item's **substantive** options (``non_substantive`` in
``survey_items``: "Don't know", "Refuse" are set apart and renormalised away), for the
model and for the population alike; each side's non-substantive share is reported.

The model's distribution for an item and context pools its responses
(:func:`~valuelab.survey.answer_distributions`: the mean of their logit distributions, or
the shares of the options their texts name). Similarities are on that measured scale: the
empirical distribution of n sampled answers is further from every population than the
distribution it samples (for 1 - JSD, by about ``sqrt((k - 1) / (8 n ln 2))`` from the
population it matches), so compare conditions that rest on the same number of responses
(``n_responses``).

**Baselines.** A model that spreads its answers evenly is close to every population whose
answers are spread out too, whatever its values: on real data a uniform answerer beat four
models against two populations, and "every model is closest to the US" mostly reflected
how spread out each model's answers were. So every alignment row carries

* the **uniform answerer** scored the same way (``uniform_similarity``,
  ``uniform_similarity_emd``, ``uniform_nvas``): every substantive option equally likely,
  answering as often as the model did: the exact uniform distribution when the model's
  distribution comes from logits, and the expected score of the empirical distribution
  of as many uniform answers when it comes from sampled answers (exact over all outcomes,
  or Monte Carlo when they are too many), so the baseline pays the same sampling noise;
* the **other populations** as answerers (``others_similarity`` ...: the mean score of the
  item's other populations' distributions against this one [1]_);
* the model's **normalised entropy** (0: always the same answer; 1: uniform).

Intervals are studentized (bootstrap-t) intervals over items (or personas) [3]_, which hold
their coverage with a few dozen units where the percentile interval falls short; p-values
are sign-flip tests over items [4]_.

**Persona-matched alignment** (:func:`persona_agreement`, :func:`persona_alignment`): when
the model answers as each respondent of a survey (``persona_id`` = the respondent's id), its
answers are compared with that respondent's own: exact-match rate and normalised ordinal
distance ``|a - b| / (k - 1)``, beside the same scores of a random other respondent of the
same population and of the uniform answerer [5]_ [6]_.

References
----------
.. [1] Durmus, E. et al. (2024). Towards Measuring the Representation of Subjective Global
   Opinions in Language Models. COLM.
.. [2] MENAValues (2025). Normalised value alignment score (NVAS).
.. [3] Efron, B. and Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*, ch. 12
   (the bootstrap-t interval). Chapman & Hall.
.. [4] Fisher, R. A. (1935). *The Design of Experiments*, §21. Oliver & Boyd.
.. [5] Argyle, L. P. et al. (2023). Out of One, Many: Using Language Models to Simulate
   Human Samples. *Political Analysis* 31(3), 337–351.
.. [6] Santurkar, S. et al. (2023). Whose Opinions Do Language Models Reflect? ICML.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from scipy.spatial.distance import jensenshannon

from ..schema import require_columns
from ..stats import sign_flip_pvalue
from .distributions import (CONTEXT, _answered, _by_columns, _compositions, _context_columns, _describe, _distributions,
                            _missing, _plain, _split, _to_distributions)
from .items import validate_human_distributions
from .metrics import consistency_score

__all__ = ["human_alignment", "closest_population", "reasoning_effect", "persona_agreement", "persona_alignment"]

_CONTEXT = list(CONTEXT)
_METRICS = ("similarity", "similarity_emd", "nvas")


def _studentized_interval(d: np.ndarray, *, n_resamples: int, alpha: float, seed) -> tuple[float, float]:
    """Bootstrap-t interval for the mean of independent units ``d`` (Efron and Tibshirani, ch. 12).

    Each resample's mean is studentized by its own standard error; the interval is
    ``mean - t_(1-alpha/2) se, mean - t_(alpha/2) se``. NaNs for fewer than three units; a
    single point when every unit is equal.
    """
    d = np.asarray(d, dtype=float)
    n = d.size
    if n < 3:
        return (np.nan, np.nan)
    mean, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(n))
    if se == 0:
        return (mean, mean)
    rng = np.random.default_rng(seed)
    t = np.empty(0)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, n_resamples, chunk):
        s = d[rng.integers(0, n, (min(chunk, n_resamples - start), n))]
        with np.errstate(divide="ignore", invalid="ignore"):
            tb = (s.mean(1) - mean) / (s.std(1, ddof=1) / np.sqrt(n))
        t = np.concatenate([t, tb[np.isfinite(tb)]])  # a resample of one repeated unit has no spread
    if t.size == 0:
        return (np.nan, np.nan)
    hi_t, lo_t = np.quantile(t, [1 - alpha / 2, alpha / 2])
    return (mean - hi_t * se, mean - lo_t * se)


def _check_resampling(n_resamples, alpha) -> None:
    if not (isinstance(n_resamples, (int, np.integer)) and n_resamples >= 1):
        raise ValueError(f"n_resamples: expected a positive integer, got {n_resamples!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: expected a level in (0, 1), got {alpha!r}")


def _normalised(p: np.ndarray) -> np.ndarray:
    """Rows scaled to sum to 1, with subnormal shares set to 0 (they underflow in the JSD's mean)."""
    p = p / p.sum(1, keepdims=True)
    p[p < 1e-300] = 0.0
    return p / p.sum(1, keepdims=True)


def _scores(P: np.ndarray, Q: np.ndarray, ordinal: bool):
    """``(similarity, similarity_emd, nvas, answer, mean)`` of answerer rows ``P`` against population rows ``Q``."""
    P, Q = _normalised(np.asarray(P, float)), _normalised(np.asarray(Q, float))
    n, k = P.shape
    sim = 1 - jensenshannon(P, Q, base=2, axis=1)
    if not ordinal:
        nan = np.full(n, np.nan)
        return sim, nan, nan, nan, nan
    pos = np.arange(1, k + 1)
    # earth mover's distance on positions 1..k: the summed gaps between the two CDFs
    emd = np.abs(np.cumsum(P - Q, axis=1))[:, :-1].sum(1) / (k - 1)
    a, mu = P @ pos, Q @ pos
    return sim, 1 - emd, consistency_score(a, mu, 1, k), a, mu


def _entropy(P: np.ndarray) -> np.ndarray:
    """Normalised Shannon entropy of each row (0: one answer; 1: uniform)."""
    P = _normalised(np.asarray(P, float))
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(P > 0, P * np.log(P), 0.0).sum(1)
    return h / np.log(P.shape[1])


_COMPOSITIONS: dict = {}


def _uniform_scores(Q: np.ndarray, ordinal: bool, n: int | None, *, n_resamples: int, seed) -> np.ndarray:
    """Scores ``(similarity, similarity_emd, nvas)`` of the uniform answerer against each row of ``Q``.

    ``n`` None: the exact uniform distribution. An integer: the expected scores of the
    empirical distribution of ``n`` uniform answers, over every outcome with its
    multinomial probability (or ``n_resamples`` Monte Carlo draws when the outcomes number
    more than 20,000).
    """
    r, k = Q.shape
    if n is None:
        sim, emd, nvas, _, _ = _scores(np.full((r, k), 1 / k), Q, ordinal)
        return np.column_stack([sim, emd, nvas])
    key = (n, k, n_resamples, seed)
    if key not in _COMPOSITIONS:
        counts, w = _compositions(n, k, n_resamples=n_resamples, seed=seed)
        _COMPOSITIONS[key] = (counts / n, w / w.sum())
    P, w = _COMPOSITIONS[key]
    c = P.shape[0]
    out = np.full((r, 3), np.nan)
    step = max(1, 1_000_000 // (c * k))
    for start in range(0, r, step):
        q = _normalised(Q[start:start + step])
        shape = (q.shape[0], c, k)
        pp, qq = np.broadcast_to(P[None], shape), np.broadcast_to(q[:, None, :], shape)
        out[start:start + step, 0] = (1 - jensenshannon(pp, qq, base=2, axis=2)) @ w
        if ordinal:
            pos = np.arange(1, k + 1)
            gaps = np.abs(np.cumsum(pp - qq, axis=2))[:, :, :-1].sum(2) / (k - 1)
            out[start:start + step, 1] = (1 - gaps) @ w
            a, mu = P @ pos, q @ pos
            out[start:start + step, 2] = consistency_score(a[None, :], mu[:, None], 1, k) @ w
    return out


def _population_distributions(hum: pd.DataFrame, k_of: dict, ns_of: dict) -> tuple[dict, list[str]]:
    """Per item: ``[{population, q (substantive), ns_share, n_respondents}]``, and notes on populations left out."""
    options, shares = hum["option"].to_numpy(int), hum["share"].to_numpy(float)
    outside_all = hum["non_substantive_share"].to_numpy(float) if "non_substantive_share" in hum.columns else None
    n_all = hum["n_respondents"].to_numpy(float) if "n_respondents" in hum.columns else None
    out, notes = {}, []
    for (item, pop), idx in hum.groupby(["item_id", "population"], sort=False).indices.items():
        if item not in k_of:
            continue
        k = k_of[item]
        opts = options[idx]
        if opts.max() > k:
            raise ValueError(f"human distributions, item {_plain(item)!r}, population {_plain(pop)!r}: option "
                             f"{int(opts.max())} exceeds the item's {k} options")
        q = np.zeros(k)
        q[opts - 1] = shares[idx]
        q_sub, inside = _split(q, ns_of.get(item, ()))
        if q_sub is None:
            notes.append(f"item {_plain(item)!r}, population {_plain(pop)!r}")
            continue
        outside = float(outside_all[idx[0]]) if outside_all is not None else 0.0
        out.setdefault(item, []).append({"population": pop, "q": q_sub, "ns_share": outside + (1 - outside) * inside,
                                         "n_respondents": n_all[idx[0]] if n_all is not None else np.nan})
    return out, notes


def _others(pops: list[dict], ordinal: bool) -> list[tuple[float, float, float]]:
    """Per population: the mean score of the item's other populations' distributions against it."""
    m = len(pops)
    if m < 2:
        return [(np.nan, np.nan, np.nan)] * m
    Q = np.vstack([p["q"] for p in pops])
    answerer, target = np.repeat(np.arange(m), m), np.tile(np.arange(m), m)
    keep = answerer != target
    sim, emd, nvas, _, _ = _scores(Q[answerer[keep]], Q[target[keep]], ordinal)
    t = target[keep]
    return [(float(sim[t == j].mean()), float(emd[t == j].mean()), float(nvas[t == j].mean())) for j in range(m)]


_ALIGNMENT_COLUMNS = ["scale", "population", "similarity", "similarity_emd", "nvas", "model_answer", "population_mean",
                      "n_responses", "n_substantive", "sampled", "entropy", "population_entropy",
                      "non_substantive_share", "population_non_substantive_share", "uniform_similarity",
                      "uniform_similarity_emd", "uniform_nvas", "beats_uniform", "others_similarity",
                      "others_similarity_emd", "others_nvas", "n_respondents"]


def human_alignment(responses: pd.DataFrame, human: pd.DataFrame, *, items: pd.DataFrame | None = None, by=None,
                    source: str = "auto", n_resamples: int = 2000, seed: int | None = 0) -> pd.DataFrame:
    """Similarity of the model's answers to each population's, per item and context, beside chance baselines.

    The responses of one item and context (sampled answers, repeated runs, personas) are
    pooled into one distribution first (:func:`~valuelab.survey.answer_distributions`:
    the mean of their ``probs``, or the shares of the options their texts name), and
    ``n_responses`` says how many responses it rests on. Contexts with no substantive
    answer (every response refused) are left out with a warning naming their items and
    contexts; responses whose distribution is unusable are dropped with a warning.

    Every row carries the baselines of the module docstring: the uniform answerer
    (``uniform_*``; matched to the number of answers when the model's distribution is
    sampled), the item's other populations as answerers (``others_*``) and the model's
    normalised ``entropy``. ``beats_uniform`` is ``similarity > uniform_similarity``.

    Parameters
    ----------
    responses : DataFrame
        One row per response (from :func:`valuelab.survey.elicit_survey`, from
        ``responses_from_completions``, or any table with ``item_id``, ``scale`` and
        ``probs`` or ``text_answer``), or the table
        :func:`~valuelab.survey.answer_distributions` returns. Context columns ``model``,
        ``language``, ``framing`` (default ``"neutral"``), ``country`` (default None),
        ``reasoning`` (default False); see ``docs/survey_tables.md``.
    human : DataFrame
        ``human_distributions`` (``item_id``, ``population``, ``option``, ``share``;
        optionally ``non_substantive_share``, ``n_respondents``), e.g. from
        :func:`~valuelab.survey.read_human_distributions`.
    items : DataFrame, optional
        ``survey_items``: fills ``scale``, ``n_options`` and ``non_substantive``.
    by : str or sequence of str, optional
        Extra grouping columns (``persona_id``, ``template`` ...) kept apart and carried to
        the output; responses that differ only in columns not named here are pooled.
    source : {"auto", "probs", "text"}
        As for :func:`~valuelab.survey.answer_distributions`.
    n_resamples : int
        Monte Carlo draws for the sampled uniform answerer, used only when its outcomes
        (compositions of ``n`` answers over the options) number more than 20,000.
    seed : int, optional
        For those draws.

    Returns
    -------
    DataFrame
        One row per item, context (and ``by`` value) and population with data for the item:
        the context and ``by`` columns, ``item_id``, ``scale``, ``population``,
        ``similarity`` (1 - JSD), ``similarity_emd`` and ``nvas`` (ordinal items; NaN
        otherwise), ``model_answer`` and ``population_mean`` (expected positions
        1..n_substantive, ordinal items), ``n_responses`` (responses pooled into the
        model's distribution), ``n_substantive`` (options compared), ``sampled`` (the
        model's distribution is the empirical distribution of whole answers),
        ``entropy`` and ``population_entropy`` (normalised, over the substantive options),
        ``non_substantive_share`` and ``population_non_substantive_share``,
        ``uniform_similarity``, ``uniform_similarity_emd``, ``uniform_nvas`` (the uniform
        answerer), ``beats_uniform`` (bool), ``others_similarity``,
        ``others_similarity_emd``, ``others_nvas`` (mean over the item's other populations
        as answerers; NaN with one population), ``n_respondents`` (from ``human``; NaN when
        it has none).

    Raises
    ------
    ValueError
        No response shares an item with ``human``; a population's option beyond the
        item's options (naming the item and population).

    References
    ----------
    .. [1] Durmus, E. et al. (2024). Towards Measuring the Representation of Subjective
       Global Opinions in Language Models. COLM.
    .. [2] MENAValues (2025). Normalised value alignment score (NVAS).
    """
    _check_resampling(n_resamples, 0.05)
    dists, extra = _to_distributions(responses, items=items, by=by, source=source, caller="human_alignment")
    context = _context_columns(dists, extra)
    keys = context + ["item_id"]
    hum = validate_human_distributions(human)
    shared = dists["item_id"].isin(set(hum["item_id"]))
    if not shared.any():
        raise ValueError("no response shares an item with the human distributions (compare their item_id columns)")
    pooled = _answered(dists[shared].reset_index(drop=True), keys, "human_alignment")
    if pooled.empty:
        raise ValueError("human_alignment: no response with a substantive answer shares an item with the human "
                         "distributions (the warning names the items and contexts left out)")
    firsts = pooled.drop_duplicates("item_id").set_index("item_id")
    k_of = {i: int(k) for i, k in firsts["n_options"].items()}
    ns_of = dict(firsts["non_substantive"].items())
    pops_of, notes = _population_distributions(hum, k_of, ns_of)
    if notes:
        warnings.warn(f"human_alignment: left out {len(notes)} population(s) with no substantive answer: "
                      f"{'; '.join(notes[:5])}", UserWarning, stacklevel=2)
    scale_of = dict(firsts["scale"].items())
    others_of = {item: _others(pops, scale_of[item] == "ordinal") for item, pops in pops_of.items()}
    left, pops, others, model_p, n_sub = [], [], [], [], []
    shares = np.full(len(pooled), np.nan)
    for i, (item, probs, ns, sampled, counts) in enumerate(zip(pooled["item_id"], pooled["probs"],
                                                              pooled["non_substantive"], pooled["sampled"],
                                                              pooled["counts"])):
        p, shares[i] = _split(probs, ns)
        n = -1  # the exact uniform distribution
        if sampled and counts is not None:
            mask = np.ones(len(counts), bool)
            mask[np.asarray(ns, int) - 1] = False
            n = int(np.asarray(counts)[mask].sum())
        for pop, other in zip(pops_of.get(item, []), others_of.get(item, [])):
            left.append(i)
            pops.append(pop)
            others.append(other)
            model_p.append(p)
            n_sub.append(n)
    if not left:
        raise ValueError("no response with a usable option distribution shares an item with the human distributions")
    out = pooled.iloc[left][keys + ["scale"]].reset_index(drop=True)
    out["population"] = [pop["population"] for pop in pops]
    out["n_responses"] = pooled["n_responses"].to_numpy(int)[left]
    out["n_substantive"] = [p.size for p in model_p]
    out["sampled"] = pooled["sampled"].to_numpy(bool)[left]
    out["non_substantive_share"] = shares[left]
    out["population_non_substantive_share"] = [pop["ns_share"] for pop in pops]
    out[["others_similarity", "others_similarity_emd", "others_nvas"]] = np.array(others, float)
    out["n_respondents"] = np.array([pop["n_respondents"] for pop in pops], float)
    scored = ["similarity", "similarity_emd", "nvas", "model_answer", "population_mean", "entropy",
              "population_entropy", "uniform_similarity", "uniform_similarity_emd", "uniform_nvas"]
    values = np.full((len(out), len(scored)), np.nan)
    sizes, n_sub = np.array([p.size for p in model_p]), np.array(n_sub)
    ordinal = (out["scale"] == "ordinal").to_numpy()
    for k in np.unique(sizes):
        for is_ordinal in (False, True):
            idx = np.flatnonzero((sizes == k) & (ordinal == is_ordinal))
            if not idx.size:
                continue
            P, Q = np.vstack([model_p[i] for i in idx]), np.vstack([pops[i]["q"] for i in idx])
            sim, emd, nvas, a, mu = _scores(P, Q, is_ordinal)
            values[idx, :7] = np.column_stack([sim, emd, nvas, a, mu, _entropy(P), _entropy(Q)])
            for n in np.unique(n_sub[idx]):
                sel = n_sub[idx] == n
                distinct, back = np.unique(Q[sel], axis=0, return_inverse=True)  # populations recur across contexts
                values[idx[sel], 7:] = _uniform_scores(distinct, is_ordinal, None if n < 0 else int(n),
                                                       n_resamples=n_resamples, seed=seed)[back.ravel()]
    out[scored] = values
    out["beats_uniform"] = (out["similarity"] > out["uniform_similarity"]).to_numpy()
    return out[keys + _ALIGNMENT_COLUMNS]


def _context_name(ctx: dict) -> str:
    return ", ".join(f"{k}={v.item() if isinstance(v, np.generic) else v!r}" for k, v in ctx.items()) or "all rows"


def closest_population(alignment: pd.DataFrame, *, value: str = "similarity", by=None, n_resamples: int = 9999,
                       alpha: float = 0.05, seed: int | None = 0) -> pd.DataFrame:
    """Which population each model condition is closest to, on the items every population has.

    Per context, the populations are compared on the **shared items**: those for which
    every population in the context has a ``value`` (rows of one item and population,
    e.g. from grouping columns not named in ``by``, are averaged first). Averaging each
    population over its own items would let a population win on items the others lack.
    Items some population lacks are left out, counted in ``n_items_excluded``, and the
    populations lacking them are named in ``incomplete_populations`` and in a warning.

    The gap between the closest population and the runner-up is the mean over shared items
    of their paired difference in ``value``, with a studentized bootstrap interval over
    items [3] and a two-sided sign-flip p-value over items [4] (H0: the two populations
    are equally close on such items). The pair is chosen by the same data; with three or
    more populations that are all equally close the p-value is conservative.

    Parameters
    ----------
    alignment : DataFrame
        From :func:`human_alignment` (``item_id``, ``population``, ``value`` and the context
        columns present).
    value : str
        The column compared: ``"similarity"``, ``"similarity_emd"`` or ``"nvas"`` (the last
        two exist for ordinal items only; items without a value do not count as missing).
    by : str or sequence of str, optional
        Extra grouping columns, each value compared separately.
    n_resamples : int
        Bootstrap resamples and random sign patterns (sign flips are exact, over all
        patterns, with 16 or fewer non-zero differences).
    alpha : float
        The interval has level ``1 - alpha``.
    seed : int, optional

    Returns
    -------
    DataFrame
        One row per context (the context and ``by`` columns present): ``closest``
        (population), ``value`` (its mean over the shared items), ``runner_up``,
        ``runner_up_value``, ``difference`` (``value - runner_up_value``), ``ci_low``,
        ``ci_high`` (bootstrap-t interval for the difference; NaN with fewer than 3 shared
        items), ``p_value`` (sign-flip), ``n_items`` (shared items compared),
        ``n_items_excluded`` (items some population lacks), ``n_populations``,
        ``incomplete_populations`` (comma-separated populations lacking some of the
        context's items; empty when none), and the baselines, from the ``uniform_<value>``,
        ``others_<value>`` and ``entropy`` columns of :func:`human_alignment` (NaN or None
        when the table lacks them): ``uniform_value`` (the uniform answerer's mean against
        the closest population on the same items), ``beats_uniform`` (``value >
        uniform_value``: is the model closer to its closest population than chance is?),
        ``uniform_closest`` (the population the uniform answerer itself is closest to:
        when it is the model's ``closest`` too, spread rather than values may explain the
        result), ``others_value`` (the other populations' mean against the closest one),
        ``entropy`` (the model's mean normalised entropy over the shared items).
    """
    require_columns(alignment, "alignment", ["item_id", "population", value], "the table returned by human_alignment")
    _check_resampling(n_resamples, alpha)
    context = [c for c in _CONTEXT if c in alignment.columns] + _by_columns(alignment, by, "alignment")
    rows, notes = [], []
    groups = alignment.groupby(context, sort=False, dropna=False) if context else [((), alignment)]
    for key, grp in groups:
        ctx = dict(zip(context, key if isinstance(key, tuple) else (key,)))
        cells = grp.groupby(["item_id", "population"], sort=False)[value].mean()
        wide = cells.unstack("population").dropna(how="all")
        wide = wide.loc[:, wide.notna().any()]
        complete = wide.notna().all(axis=1).to_numpy()
        shared = wide[complete]
        lacking = {pop: int(wide[pop].isna().sum()) for pop in wide.columns if wide[pop].isna().any()}
        for pop, n_missing in lacking.items():
            notes.append(f"{_context_name(ctx)}: {pop!r} lacks {n_missing} of the {len(wide)} items")
        means = shared.mean().sort_values(ascending=False, kind="stable") if len(shared) else pd.Series(dtype=float)
        row = {**ctx, "closest": None, "value": np.nan, "runner_up": None, "runner_up_value": np.nan,
               "difference": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan,
               "n_items": int(len(shared)), "n_items_excluded": int((~complete).sum()),
               "n_populations": int(wide.shape[1]), "incomplete_populations": ", ".join(map(str, lacking)),
               "uniform_value": np.nan, "beats_uniform": None, "uniform_closest": None, "others_value": np.nan,
               "entropy": np.nan}
        if len(means):
            row.update(closest=means.index[0], value=float(means.iat[0]))
            base = {}
            for col in (f"uniform_{value}", f"others_{value}", "entropy"):
                if col in grp.columns:
                    cell = grp.groupby(["item_id", "population"], sort=False)[col].mean().unstack("population")
                    base[col] = cell.reindex(index=shared.index, columns=shared.columns)
            if f"uniform_{value}" in base:
                u = base[f"uniform_{value}"].mean()
                row.update(uniform_value=float(u[means.index[0]]),
                           beats_uniform=bool(means.iat[0] > u[means.index[0]]) if np.isfinite(u[means.index[0]])
                           else None,
                           uniform_closest=u.sort_values(ascending=False, kind="stable").index[0]
                           if u.notna().any() else None)
            if f"others_{value}" in base:
                row.update(others_value=float(base[f"others_{value}"][means.index[0]].mean()))
            if "entropy" in base:
                row.update(entropy=float(base["entropy"].mean(axis=1).mean()))
        if len(means) > 1:
            d = (shared[means.index[0]] - shared[means.index[1]]).to_numpy(float)
            lo, hi = _studentized_interval(d, n_resamples=n_resamples, alpha=alpha, seed=seed)
            row.update(runner_up=means.index[1], runner_up_value=float(means.iat[1]),
                       difference=float(means.iat[0]) - float(means.iat[1]), ci_low=lo, ci_high=hi,
                       p_value=sign_flip_pvalue(d, n_resamples=n_resamples, seed=seed) if np.any(d != 0) else 1.0)
        rows.append(row)
    if notes:
        shown = "; ".join(notes[:5]) + (f"; and {len(notes) - 5} more" if len(notes) > 5 else "")
        warnings.warn(f"closest_population: populations are compared on the items they all have, so items some "
                      f"population lacks are left out: {shown}", UserWarning, stacklevel=2)
    return pd.DataFrame(rows)


def reasoning_effect(alignment: pd.DataFrame, *, value: str = "similarity", by=None, n_resamples: int = 9999,
                     alpha: float = 0.05, seed: int | None = 0) -> pd.DataFrame:
    """Paired change in alignment when the model reasons before answering.

    Pairs each (item, population, context) answered zero-shot and with reasoning; only
    these pairs count. Per item, the zero-shot and the reasoning ``value`` are averaged over
    the item's paired populations, so every item weighs the same; ``zero_shot`` and
    ``with_reasoning`` are the means of those over items and ``difference`` is exactly
    ``with_reasoning - zero_shot``. Items are the units of a studentized bootstrap interval
    [3] and of a two-sided sign-flip p-value [4] for the difference.

    Parameters
    ----------
    alignment : DataFrame
        From :func:`human_alignment`, with responses with and without reasoning.
    value : str
        ``"similarity"``, ``"similarity_emd"`` or ``"nvas"``.
    by : str or sequence of str, optional
        Extra grouping columns, each value summarised separately.
    n_resamples : int
        Bootstrap resamples and random sign patterns (sign flips are exact, over all
        patterns, with 16 or fewer non-zero differences).
    alpha : float
        The interval has level ``1 - alpha``.
    seed : int, optional

    Returns
    -------
    DataFrame
        One row per model, language, framing and country (and ``by`` value):
        ``n_items`` (items with at least one pair), ``n_pairs`` (item and population pairs),
        ``zero_shot``, ``with_reasoning`` (means over items of the per-item means),
        ``difference`` (``with_reasoning - zero_shot``), ``ci_low``, ``ci_high``
        (bootstrap-t interval; NaN with fewer than 3 items), ``p_value`` (sign-flip), and
        on the same items and populations ``uniform_zero_shot``,
        ``uniform_with_reasoning`` (the uniform answerer's ``value``, matched to each
        mode's number of answers) and ``entropy_zero_shot``, ``entropy_with_reasoning``
        (the model's normalised entropy): a reasoning step that only spreads the answers
        out moves ``value`` toward the uniform answerer's (NaN when the table lacks the
        columns).
    """
    require_columns(alignment, "alignment", ["reasoning", "item_id", "population", value],
                     "the table returned by human_alignment")
    _check_resampling(n_resamples, alpha)
    if alignment["reasoning"].nunique() < 2:
        raise ValueError("alignment: needs responses with and without reasoning (elicit_survey(reasoning=(False, True)))")
    unknown = set(alignment["reasoning"].dropna().unique()) - {True, False}
    if unknown:
        raise ValueError(f"alignment, column 'reasoning': expected True or False, got {sorted(map(repr, unknown))}")
    context = [c for c in _CONTEXT if c in alignment.columns and c != "reasoning"] + _by_columns(alignment, by,
                                                                                                 "alignment")
    extra = {f"uniform_{value}": "uniform", "entropy": "entropy"}
    extra = {c: name for c, name in extra.items() if c in alignment.columns}
    cols = [value, *extra]
    cells = alignment.groupby(context + ["item_id", "population", "reasoning"], sort=False, dropna=False)[cols].mean()
    wide = cells.unstack("reasoning")
    wide = wide[wide[value].notna().all(axis=1)] if False in wide[value] and True in wide[value] else wide.iloc[:0]
    flat = pd.DataFrame(index=wide.index)
    for col in cols:
        name = "" if col == value else f"{extra[col]}_"
        for mode, label in ((False, "zero_shot"), (True, "with_reasoning")):
            flat[name + label] = wide[(col, mode)] if (col, mode) in wide.columns else np.nan
    flat = flat.reset_index()
    rows = []
    for key, grp in flat.groupby(context, sort=False, dropna=False):
        per_item = grp.groupby("item_id", sort=False)[[c for c in flat.columns if c.endswith(("zero_shot",
                                                                                             "with_reasoning"))]].mean()
        zero, think = per_item["zero_shot"].to_numpy(float), per_item["with_reasoning"].to_numpy(float)
        d = think - zero
        zero_shot, with_reasoning = float(zero.mean()), float(think.mean())
        lo, hi = _studentized_interval(d, n_resamples=n_resamples, alpha=alpha, seed=seed)
        row = {**dict(zip(context, key if isinstance(key, tuple) else (key,))), "n_items": int(len(d)),
               "n_pairs": int(len(grp)), "zero_shot": zero_shot, "with_reasoning": with_reasoning,
               "difference": with_reasoning - zero_shot, "ci_low": lo, "ci_high": hi,
               "p_value": sign_flip_pvalue(d, n_resamples=n_resamples, seed=seed) if np.any(d != 0) else 1.0}
        for name in ("uniform", "entropy"):
            for label in ("zero_shot", "with_reasoning"):
                col = f"{name}_{label}"
                row[col] = float(per_item[col].mean()) if col in per_item.columns else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- persona-matched alignment
_ANSWERS = "the table returned by microdata_answers (respondent_id, population, item_id, option[, weight])"
_AGREEMENT_COLUMNS = ["population", "item_id", "scale", "option", "n_responses", "exact_match",
                      "exact_match_respondent", "exact_match_uniform", "ordinal_distance", "ordinal_distance_respondent",
                      "ordinal_distance_uniform"]


def _id(value) -> str:
    """A respondent or persona id as text, so ``7``, ``7.0`` and ``"7"`` match."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(_plain(value)).strip()


def _ordinal_distance(p: np.ndarray, b: int) -> float:
    """``sum_j p_j |j - b| / (k - 1)`` for positions 1..k."""
    k = p.size
    return float(p @ np.abs(np.arange(1, k + 1) - b) / (k - 1))


def persona_agreement(responses: pd.DataFrame, answers: pd.DataFrame, *, items: pd.DataFrame | None = None,
                      by=None, persona: str = "persona_id", source: str = "auto") -> pd.DataFrame:
    """Per persona and item: does the model, answering as a respondent, give that respondent's answer?

    The model's responses as one persona (several samples pooled by
    :func:`~valuelab.survey.answer_distributions`) are compared with the answer of the
    respondent whose id is the ``persona`` value [1]_ [2]_. With the model's distribution
    ``p`` over the options and the respondent's answer ``b``:

    * ``exact_match = p[b]`` (the expected exact-match rate of one answer drawn from ``p``;
      the match itself for a single answer), over all options, non-substantive included;
    * ``ordinal_distance = sum_j p_j |j - b| / (k - 1)`` (ordinal items, over the ``k``
      substantive options with ``p`` renormalised; NaN when ``b`` is non-substantive).

    Two baselines score the same way: a **random other respondent of the same
    population** (the population's weighted answer distribution without this respondent)
    and the **uniform answerer** (``1 / n_options``; the mean distance to ``b`` of a
    uniformly drawn substantive option).

    Parameters
    ----------
    responses : DataFrame
        One row per response with a ``persona`` column (see
        :func:`~valuelab.survey.answer_distributions` for the rest).
    answers : DataFrame
        Each respondent's answers: :func:`~valuelab.survey.microdata_answers`
        (``respondent_id``, ``population``, ``item_id``, ``option``; ``weight`` optional).
    items : DataFrame, optional
        ``survey_items``: fills ``scale``, ``n_options`` and ``non_substantive``.
    by : str or sequence of str, optional
        Extra grouping columns besides ``persona``.
    persona : str
        The column of ``responses`` holding the respondent id each response plays.
    source : {"auto", "probs", "text"}
        As for :func:`~valuelab.survey.answer_distributions`.

    Returns
    -------
    DataFrame
        One row per persona, item and context answered: the context and ``by`` columns,
        ``persona``, ``population``, ``item_id``, ``scale``, ``option`` (the respondent's
        answer), ``n_responses`` (model responses pooled), ``exact_match``,
        ``exact_match_respondent``, ``exact_match_uniform``, ``ordinal_distance``,
        ``ordinal_distance_respondent``, ``ordinal_distance_uniform`` (NaN for categorical
        items and non-substantive answers; the respondent baselines NaN when the
        respondent is the population's only one).

    Raises
    ------
    ValueError
        A missing column; a respondent id with two answers to one item (naming both);
        no persona matching any respondent.

    Warns
    -----
    UserWarning
        Persona and item pairs without a respondent answer (or with an answer on no
        option), counted and named.

    References
    ----------
    .. [1] Argyle, L. P. et al. (2023). Out of One, Many: Using Language Models to Simulate
       Human Samples. *Political Analysis* 31(3), 337–351.
    .. [2] Santurkar, S. et al. (2023). Whose Opinions Do Language Models Reflect? ICML.
    """
    if persona not in responses.columns:
        raise ValueError(f"responses: missing column {persona!r} (the respondent id each response plays); pass "
                         "persona= to name it")
    require_columns(answers, "answers", ["respondent_id", "population", "item_id", "option"], _ANSWERS)
    user_by = _by_columns(responses, by, "responses")
    if persona in user_by:
        raise ValueError(f"by: {persona!r} is the persona column already")
    dists = _distributions(responses, items=items, by=[persona] + user_by, source=source, caller="persona_agreement")
    context = _context_columns(dists, user_by)
    keys = context + [persona, "item_id"]
    pooled = _answered(dists, keys, "persona_agreement")
    ans = answers.reset_index(drop=True).copy()
    ans["_id"] = [_id(v) for v in ans["respondent_id"]]
    ans["weight"] = pd.to_numeric(ans["weight"], errors="coerce").astype(float) if "weight" in ans.columns else 1.0
    bad = ans["weight"].isna() | (ans["weight"] < 0)
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"answers row {pos}, column 'weight': expected a weight >= 0, got "
                         f"{_plain(answers['weight'].iat[pos])!r}")
    ans["option"] = pd.to_numeric(ans["option"], errors="coerce").astype(float)
    dup = ans.duplicated(["_id", "item_id"])
    if dup.any():
        pos = int(np.flatnonzero(dup.to_numpy())[0])
        raise ValueError(f"answers row {pos}: respondent {ans['respondent_id'].iat[pos]!r} answers item "
                         f"{_plain(ans['item_id'].iat[pos])!r} twice; respondent ids must be unique (within a file "
                         "that joins populations, prefix them with the population)")
    lookup = {(i, it): (pop, o, w) for i, it, pop, o, w in zip(ans["_id"], ans["item_id"], ans["population"],
                                                               ans["option"], ans["weight"])}
    k_of = dict(zip(pooled["item_id"], pooled["n_options"]))
    totals: dict = {}
    for (item, pop), grp in ans[ans["option"].notna()].groupby(["item_id", "population"], sort=False):
        if item in k_of:
            k = int(k_of[item])
            o = grp["option"].to_numpy(int)
            if o.max() > k or o.min() < 1:
                raise ValueError(f"answers, item {_plain(item)!r}, population {_plain(pop)!r}: option {int(o.max())} "
                                 f"is outside the item's options 1..{k}")
            totals[(item, pop)] = np.bincount(o - 1, weights=grp["weight"].to_numpy(float), minlength=k)
    rows, missing, no_option = [], [], []
    for rec in pooled.to_dict("records"):
        item, pid = rec["item_id"], _id(rec[persona])
        hit = lookup.get((pid, item))
        if hit is None:
            missing.append(rec)
            continue
        pop, b, w = hit
        if not np.isfinite(b):
            no_option.append(rec)
            continue
        b, ns, k = int(b), rec["non_substantive"], int(rec["n_options"])
        p = np.asarray(rec["probs"], float)
        total = totals[(item, pop)]
        rest = total.copy()
        rest[b - 1] -= w
        rest = rest / rest.sum() if rest.sum() > 1e-12 else None
        row = {**{c: rec[c] for c in context}, persona: rec[persona], "population": pop, "item_id": item,
               "scale": rec["scale"], "option": b, "n_responses": int(rec["n_responses"]),
               "exact_match": float(p[b - 1]), "exact_match_respondent": float(rest[b - 1]) if rest is not None
               else np.nan, "exact_match_uniform": 1 / k, "ordinal_distance": np.nan,
               "ordinal_distance_respondent": np.nan, "ordinal_distance_uniform": np.nan}
        if rec["scale"] == "ordinal" and b not in ns:
            b_sub = b - sum(1 for j in ns if j < b)
            p_sub = _split(p, ns)[0]
            q_sub = _split(rest, ns)[0] if rest is not None else None
            k_sub = k - len(ns)
            row.update(ordinal_distance=_ordinal_distance(p_sub, b_sub),
                       ordinal_distance_respondent=_ordinal_distance(q_sub, b_sub) if q_sub is not None else np.nan,
                       ordinal_distance_uniform=_ordinal_distance(np.full(k_sub, 1 / k_sub), b_sub))
        rows.append(row)
    for recs, why in ((missing, "no answer from the matching respondent"),
                      (no_option, "the respondent's answer is on no option")):
        if recs:
            shown = "; ".join(f"{persona}={_plain(r[persona])!r}, {_describe(r, context + ['item_id'])}"
                              for r in recs[:5])
            warnings.warn(f"persona_agreement: left out {len(recs)} persona and item pair(s) with {why}: {shown}"
                          f"{'; and more' if len(recs) > 5 else ''}", UserWarning, stacklevel=2)
    if not rows:
        raise ValueError(f"persona_agreement: no {persona!r} of responses matches a respondent_id of answers that "
                         "answered the same item (compare the two id columns)")
    return pd.DataFrame(rows, columns=context + [persona] + _AGREEMENT_COLUMNS)


def persona_alignment(responses: pd.DataFrame, answers: pd.DataFrame, *, items: pd.DataFrame | None = None, by=None,
                      persona: str = "persona_id", source: str = "auto", n_resamples: int = 9999, alpha: float = 0.05,
                      seed: int | None = 0) -> pd.DataFrame:
    """Persona-matched agreement per context and population, beside baselines and population-level similarity.

    Summarises :func:`persona_agreement`: each persona's scores are averaged over its
    items, then over personas, so every persona weighs the same and personas are the
    independent units of the studentized bootstrap intervals [3]_. Beside them, the same
    means for a random other respondent of the population and for the uniform answerer,
    and the **population-level** similarity: the personas' answers pooled per item
    against the population's (weighted) distribution, 1 - JSD as in
    :func:`human_alignment`, with its uniform baseline, averaged over items. A model can
    match the population's distribution while matching no individual (population-level
    high, exact match at the random-respondent level): the two answer different questions
    [1]_ [2]_.

    Parameters
    ----------
    responses, answers, items, by, persona, source
        As for :func:`persona_agreement`.
    n_resamples : int
        Bootstrap resamples for the intervals.
    alpha : float
        The intervals have level ``1 - alpha``.
    seed : int, optional

    Returns
    -------
    DataFrame
        One row per context (and ``by`` value) and population: ``n_personas``, ``n_pairs``
        (persona and item pairs), ``exact_match`` with ``exact_match_ci_low``,
        ``exact_match_ci_high``, ``exact_match_respondent``, ``exact_match_uniform``,
        ``n_ordinal_personas`` (personas with an ordinal item), ``ordinal_distance`` with
        ``ordinal_distance_ci_low``, ``ordinal_distance_ci_high``,
        ``ordinal_distance_respondent``, ``ordinal_distance_uniform``, ``similarity``
        (population level, mean over items), ``uniform_similarity``, ``n_items``.
        Intervals are NaN with fewer than 3 personas.

    References
    ----------
    .. [1] Argyle, L. P. et al. (2023). Out of One, Many: Using Language Models to Simulate
       Human Samples. *Political Analysis* 31(3), 337–351.
    .. [2] Durmus, E. et al. (2024). Towards Measuring the Representation of Subjective
       Global Opinions in Language Models. COLM.
    .. [3] Efron, B. and Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*,
       ch. 12. Chapman & Hall.
    """
    _check_resampling(n_resamples, alpha)
    agree = persona_agreement(responses, answers, items=items, by=by, persona=persona, source=source)
    user_by = _by_columns(responses, by, "responses")
    context = [c for c in agree.columns if c in _CONTEXT] + user_by
    scores = ["exact_match", "exact_match_respondent", "exact_match_uniform", "ordinal_distance",
              "ordinal_distance_respondent", "ordinal_distance_uniform"]
    # the population level: personas' answers pooled per item against the population's distribution
    matched = responses.copy()
    pop_of = {(_id(i), it): pop for i, it, pop in zip(agree[persona], agree["item_id"], agree["population"])}
    matched["_population"] = [pop_of.get((_id(i), it)) for i, it in zip(matched[persona], matched["item_id"])]
    matched = matched[matched["_population"].notna()]
    human = _weighted_shares(answers, agree)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # left-out responses were reported by persona_agreement
        level = human_alignment(matched, human, items=items, by=user_by + ["_population"], source=source,
                                n_resamples=n_resamples, seed=seed)
    level = level[level["population"] == level["_population"]]
    norm = lambda values: tuple(None if _missing(v) else _plain(v) for v in values)  # noqa: E731
    by_level = {}
    for rec in level.to_dict("records"):
        by_level.setdefault(norm([rec[c] for c in context] + [rec["_population"]]), []).append(rec)
    rows = []
    for key, grp in agree.groupby(context + ["population"], sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        ctx = dict(zip(context + ["population"], key))
        per = grp.groupby(persona, sort=False)[scores].mean()
        row = {**ctx, "n_personas": int(len(per)), "n_pairs": int(len(grp))}
        for metric in ("exact_match", "ordinal_distance"):
            x = per[metric].dropna().to_numpy(float)
            lo, hi = _studentized_interval(x, n_resamples=n_resamples, alpha=alpha, seed=seed) if x.size else \
                (np.nan, np.nan)
            row.update({metric: float(x.mean()) if x.size else np.nan, f"{metric}_ci_low": lo,
                        f"{metric}_ci_high": hi,
                        f"{metric}_respondent": float(per[f"{metric}_respondent"].mean()),
                        f"{metric}_uniform": float(per[f"{metric}_uniform"].mean())})
            if metric == "ordinal_distance":
                row["n_ordinal_personas"] = int(x.size)
        part = pd.DataFrame(by_level.get(norm(key), []), columns=["item_id", "similarity", "uniform_similarity"])
        row.update(similarity=float(part["similarity"].mean()) if len(part) else np.nan,
                   uniform_similarity=float(part["uniform_similarity"].mean()) if len(part) else np.nan,
                   n_items=int(part["item_id"].nunique()))
        rows.append(row)
    cols = context + ["population", "n_personas", "n_pairs", "exact_match", "exact_match_ci_low", "exact_match_ci_high",
                      "exact_match_respondent", "exact_match_uniform", "n_ordinal_personas", "ordinal_distance",
                      "ordinal_distance_ci_low", "ordinal_distance_ci_high", "ordinal_distance_respondent",
                      "ordinal_distance_uniform", "similarity", "uniform_similarity", "n_items"]
    return pd.DataFrame(rows, columns=cols)


def _weighted_shares(answers: pd.DataFrame, agree: pd.DataFrame) -> pd.DataFrame:
    """The populations' weighted answer distributions (over options) for the items in ``agree``."""
    ans = answers[answers["item_id"].isin(set(agree["item_id"]))].copy()
    ans["option"] = pd.to_numeric(ans["option"], errors="coerce")
    ans = ans[ans["option"].notna()]
    ans["w"] = pd.to_numeric(ans["weight"], errors="coerce") if "weight" in ans.columns else 1.0
    out = ans.groupby(["item_id", "population", "option"], sort=False)["w"].sum().reset_index()
    out["share"] = out["w"] / out.groupby(["item_id", "population"])["w"].transform("sum")
    out["option"] = out["option"].astype(int)
    return out[["item_id", "population", "option", "share"]]
