"""How close a model's answer distributions are to human populations'.

* ``similarity``: 1 - Jensen–Shannon distance (base 2) between the model's and the
  population's distributions, for every item (GlobalOpinionQA [1]_);
* ``similarity_emd``: 1 - EMD/(k - 1), ordinal items only (distance respects the order);
* ``nvas``: 100 (1 - |a - mu| / (k - 1)) between the model's expected answer and the
  population mean, ordinal items only (MENAValues [2]_; not for categorical items).

The model's distribution for an item and context is the mean of its responses'
distributions (one response: its logit distribution; sampled answers: their empirical
distribution). Similarities are on that measured scale: the empirical distribution of n
sampled answers is further from every population than the distribution it samples (for
1 - JSD, by about ``sqrt((k - 1) / (8 n ln 2))`` from the population it matches), so
compare conditions that rest on the same number of responses (``n_responses``).

Intervals are studentized (bootstrap-t) intervals over items [3]_, which hold their
coverage with a few dozen items where the percentile interval falls short; p-values are
sign-flip tests over items [4]_.

References
----------
.. [1] Durmus, E. et al. (2024). Towards Measuring the Representation of Subjective Global
   Opinions in Language Models. COLM.
.. [2] MENAValues (2025). Normalised value alignment score (NVAS).
.. [3] Efron, B. and Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*, ch. 12
   (the bootstrap-t interval). Chapman & Hall.
.. [4] Fisher, R. A. (1935). *The Design of Experiments*, §21. Oliver & Boyd.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from scipy.spatial.distance import jensenshannon

from ..schema import _require_columns
from ..stats import sign_flip_pvalue
from .items import validate_human_distributions
from .metrics import consistency_score
from .shifts import _aggregate_distributions, _by_columns

__all__ = ["human_alignment", "closest_population", "reasoning_effect"]

_CONTEXT = ["model", "language", "framing", "country", "reasoning"]


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


def human_alignment(responses: pd.DataFrame, human: pd.DataFrame, *, by=None) -> pd.DataFrame:
    """Similarity of the model's option distribution to each population's, per item and context.

    Several responses for one item and context (sampled answers, repeated runs) are pooled
    first: their distributions (each renormalised) are averaged, so sampled answers given as
    one-hot distributions become the empirical distribution of the answers, and
    ``n_responses`` says how many responses it rests on. Responses whose distribution is
    unusable (NaN or inf, negative, summing to 0, the wrong length) are dropped with a
    warning that counts them and names their items and contexts.

    Parameters
    ----------
    responses : DataFrame
        From :func:`valuelab.survey.elicit_survey` (``item_id``, ``scale``, ``probs`` and the
        context columns ``model``, ``language``, ``framing``, ``country``, ``reasoning``,
        those present), one row per response.
    human : DataFrame
        ``human_distributions`` (``item_id``, ``population``, ``option``, ``share``).
    by : str or sequence of str, optional
        Extra grouping columns (``persona_id``, ``template`` ...) kept apart and carried to
        the output; responses that differ only in columns not named here are pooled.

    Returns
    -------
    DataFrame
        One row per item, context (and ``by`` value) and population with data for the item:
        the context and ``by`` columns, ``item_id``, ``scale``, ``population``,
        ``similarity`` (1 - JSD), ``similarity_emd`` and ``nvas`` (ordinal items; NaN
        otherwise), ``model_answer`` and ``population_mean`` (expected option positions,
        ordinal items), ``n_responses`` (responses pooled into the model's distribution).
    """
    _require_columns(responses, "responses", ["item_id", "scale", "probs"], "the table returned by elicit_survey")
    extra = _by_columns(responses, by, "responses")
    hum = validate_human_distributions(human)
    dists: dict = {}
    options, shares = hum["option"].to_numpy(int), hum["share"].to_numpy(float)
    for (item, pop), idx in hum.groupby(["item_id", "population"], sort=False).indices.items():
        dists.setdefault(item, []).append((pop, options[idx], shares[idx]))
    shared = responses["item_id"].isin(list(dists))
    if not shared.any():
        raise ValueError("no response shares an item with the human distributions (compare their item_id columns)")
    context = [c for c in _CONTEXT if c in responses.columns] + extra
    pooled = _aggregate_distributions(responses[shared], context + ["item_id"], caller="human_alignment")
    left, pops, model, people = [], [], [], []
    for i, (item, p) in enumerate(zip(pooled["item_id"], pooled["probs"])):
        k = len(p)
        for pop, opts, share in dists[item]:
            if opts.max() > k:
                raise ValueError(f"human distributions, item {item!r}, population {pop!r}: option "
                                 f"{int(opts.max())} exceeds the item's {k} options")
            q = np.zeros(k)
            q[opts - 1] = share
            left.append(i)
            pops.append(pop)
            model.append(p)
            people.append(q)
    if not left:
        raise ValueError("no response with a usable option distribution shares an item with the human distributions")
    out = pooled.iloc[left][context + ["item_id", "scale"]].reset_index(drop=True)
    out["population"] = pops
    for col in ("similarity", "similarity_emd", "nvas", "model_answer", "population_mean"):
        out[col] = np.nan
    sizes = np.array([len(p) for p in model])
    ordinal = (out["scale"] == "ordinal").to_numpy()
    for k in np.unique(sizes):
        rows = np.flatnonzero(sizes == k)
        p, q = _normalised(np.array([model[i] for i in rows])), _normalised(np.array([people[i] for i in rows]))
        out.loc[rows, "similarity"] = 1 - jensenshannon(p, q, base=2, axis=1)
        rows, p, q = rows[ordinal[rows]], p[ordinal[rows]], q[ordinal[rows]]
        if rows.size:
            # earth mover's distance on positions 1..k: the summed gaps between the two CDFs
            emd = np.abs(np.cumsum(p - q, axis=1))[:, :-1].sum(1) / (k - 1)
            a, mu = p @ np.arange(1, k + 1), q @ np.arange(1, k + 1)
            out.loc[rows, "similarity_emd"] = 1 - emd
            out.loc[rows, "nvas"] = consistency_score(a, mu, 1, k)
            out.loc[rows, "model_answer"] = a
            out.loc[rows, "population_mean"] = mu
    out["n_responses"] = pooled["n_responses"].to_numpy()[left]
    return out


def _normalised(p: np.ndarray) -> np.ndarray:
    """Rows scaled to sum to 1, with subnormal shares set to 0 (they underflow in the JSD's mean)."""
    p = p / p.sum(1, keepdims=True)
    p[p < 1e-300] = 0.0
    return p / p.sum(1, keepdims=True)


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
    items [3]_ and a two-sided sign-flip p-value over items [4]_ (H0: the two populations
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
        context's items; empty when none).
    """
    _require_columns(alignment, "alignment", ["item_id", "population", value], "the table returned by human_alignment")
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
               "n_populations": int(wide.shape[1]), "incomplete_populations": ", ".join(map(str, lacking))}
        if len(means):
            row.update(closest=means.index[0], value=float(means.iat[0]))
        if len(means) > 1:
            d = (shared[means.index[0]] - shared[means.index[1]]).to_numpy(float)
            lo, hi = _studentized_interval(d, n_resamples=n_resamples, alpha=alpha, seed=seed)
            row.update(runner_up=means.index[1], runner_up_value=float(means.iat[1]),
                       difference=float(means.iat[0]) - float(means.iat[1]), ci_low=lo, ci_high=hi,
                       p_value=sign_flip_pvalue(d, n_perm=n_resamples, seed=seed) if np.any(d != 0) else 1.0)
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
    [3]_ and of a two-sided sign-flip p-value [4]_ for the difference.

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
        (bootstrap-t interval; NaN with fewer than 3 items), ``p_value`` (sign-flip).
    """
    _require_columns(alignment, "alignment", ["reasoning", "item_id", "population", value],
                     "the table returned by human_alignment")
    _check_resampling(n_resamples, alpha)
    if alignment["reasoning"].nunique() < 2:
        raise ValueError("alignment: needs responses with and without reasoning (elicit_survey(reasoning=(False, True)))")
    unknown = set(alignment["reasoning"].dropna().unique()) - {True, False}
    if unknown:
        raise ValueError(f"alignment, column 'reasoning': expected True or False, got {sorted(map(repr, unknown))}")
    context = [c for c in _CONTEXT if c in alignment.columns and c != "reasoning"] + _by_columns(alignment, by,
                                                                                                 "alignment")
    cells = alignment.groupby(context + ["item_id", "population", "reasoning"], sort=False, dropna=False)[value].mean()
    wide = cells.unstack("reasoning").dropna()
    wide = wide.rename(columns={False: "zero_shot", True: "with_reasoning"}).reset_index()
    rows = []
    for key, grp in wide.groupby(context, sort=False, dropna=False):
        per_item = grp.groupby("item_id", sort=False)[["zero_shot", "with_reasoning"]].mean()
        zero, think = per_item["zero_shot"].to_numpy(float), per_item["with_reasoning"].to_numpy(float)
        d = think - zero
        zero_shot, with_reasoning = float(zero.mean()), float(think.mean())
        lo, hi = _studentized_interval(d, n_resamples=n_resamples, alpha=alpha, seed=seed)
        rows.append({**dict(zip(context, key if isinstance(key, tuple) else (key,))), "n_items": int(len(d)),
                     "n_pairs": int(len(grp)), "zero_shot": zero_shot, "with_reasoning": with_reasoning,
                     "difference": with_reasoning - zero_shot, "ci_low": lo, "ci_high": hi,
                     "p_value": sign_flip_pvalue(d, n_perm=n_resamples, seed=seed) if np.any(d != 0) else 1.0})
    return pd.DataFrame(rows)
