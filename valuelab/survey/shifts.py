"""How answers shift between languages and between framings.

Per item, the distance between the model's option distributions under two conditions
(Jensen–Shannon distance for categorical items, EMD/(k - 1) for ordinal ones; see
:mod:`valuelab.survey.metrics`), and for ordinal items the published consistency score of
the two expected answers (CLCS between languages, FCS between framings). Across items, a
paired permutation test of the mean difference in (normalised) expected answers, Benjamini–
Hochberg over the condition pairs, and the paired Cliff's delta as the effect size.

References
----------
.. [1] MENAValues (2025). Cross-lingual consistency (CLCS) and framing consistency (FCS).
.. [2] Good, P. (2005). *Permutation, Parametric, and Bootstrap Tests of Hypotheses*, 3rd ed.,
   §3.1 (paired permutation tests). Springer.
.. [3] Benjamini, Y. and Hochberg, Y. (1995). Controlling the false discovery rate. *JRSS B*
   57(1), 289–300.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy.stats import permutation_test

from ..schema import _require_columns
from ..stats import benjamini_hochberg
from .metrics import consistency_score, distribution_distance, paired_cliffs_delta

__all__ = ["condition_shifts", "shift_matrix", "compare_conditions"]

_CONDITIONS = ("language", "framing", "reasoning")
_CONTEXT = ["model", "language", "framing", "country", "reasoning"]


def _check(responses: pd.DataFrame, between: str) -> pd.DataFrame:
    if between not in _CONDITIONS:
        raise ValueError(f"between: expected 'language', 'framing' or 'reasoning', got {between!r}")
    _require_columns(responses, "responses", ["item_id", "scale", "probs", *_CONTEXT],
                     "the table returned by elicit_survey")
    return responses


def _pairs(responses: pd.DataFrame, between: str):
    """Rows of the same item and context that differ only in ``between``: (context, a_row, b_row)."""
    df = responses.copy()
    first = {"framing": ["neutral", "persona", "observer"], "reasoning": [False, True]}
    rank = {v: i for i, v in enumerate(dict.fromkeys(first.get(between, list(df[between]))))}
    if between == "framing":
        # the neutral framing has no country: compare it with each country's persona and observer
        countries = [c for c in df["country"].dropna().unique()]
        neutral = df[df["framing"] == "neutral"]
        framed = df[df["framing"] != "neutral"]
        df = pd.concat([framed] + [neutral.assign(country=c) for c in countries]) if countries else df
    context = [c for c in _CONTEXT if c != between]
    for key, grp in df.groupby(context + ["item_id"], sort=False, dropna=False):
        values = sorted(dict.fromkeys(grp[between]), key=lambda v: rank.get(v, len(rank)))
        by = {v: grp[grp[between] == v].iloc[0] for v in values}
        for a, b in itertools.combinations(values, 2):
            yield dict(zip(context + ["item_id"], key)), a, b, by[a], by[b]


def condition_shifts(responses: pd.DataFrame, *, between: str = "language") -> pd.DataFrame:
    """Per item, how far the answer moves between every two languages (or framings).

    Parameters
    ----------
    responses : DataFrame
        From :func:`valuelab.survey.elicit_survey`.
    between : {"language", "framing", "reasoning"}
        The condition that varies; everything else (model, the other conditions, country)
        is held fixed. The neutral framing, which has no country, is compared with each
        country's persona and observer framings. ``reasoning`` compares the zero-shot answer
        (``a`` = False) with the answer after a reasoning step (``b`` = True).

    Returns
    -------
    DataFrame
        One row per item and pair of conditions: the context columns, ``item_id``,
        ``scale``, ``n_options``, ``a``, ``b`` (the two conditions), ``distance`` (JSD for categorical, EMD/
        (k-1) for ordinal items, in [0, 1]), ``answer_a``, ``answer_b`` (expected option
        positions, ordinal items) and ``consistency`` (CLCS or FCS, 0–100, ordinal items).
    """
    _check(responses, between)
    rows = []
    for ctx, a, b, ra, rb in _pairs(responses, between):
        pa, pb = np.asarray(ra["probs"], float), np.asarray(rb["probs"], float)
        if not (np.isfinite(pa).all() and np.isfinite(pb).all()):
            continue
        scale = ra["scale"]
        dist = distribution_distance(pa, pb, scale)
        ea = eb = cons = np.nan
        if scale == "ordinal":
            pos = np.arange(1, pa.size + 1)
            ea, eb = float(pa @ pos), float(pb @ pos)
            cons = float(consistency_score(ea, eb, 1, pa.size))
        rows.append({**ctx, "scale": scale, "n_options": int(pa.size), "a": a, "b": b, "distance": dist,
                     "answer_a": ea, "answer_b": eb, "consistency": cons})
    return pd.DataFrame(rows)


def shift_matrix(shifts: pd.DataFrame, *, value: str = "distance") -> pd.DataFrame:
    """Mean ``value`` over items for every pair of conditions, as a symmetric square table."""
    both = pd.concat([shifts[["a", "b", value]], shifts.rename(columns={"a": "b", "b": "a"})[["a", "b", value]]])
    order = list(dict.fromkeys(list(shifts["a"]) + list(shifts["b"])))
    mat = both.pivot_table(index="a", columns="b", values=value, aggfunc="mean").reindex(index=order, columns=order)
    for c in order:
        mat.loc[c, c] = 0.0 if value == "distance" else (100.0 if value == "consistency" else np.nan)
    return mat


def compare_conditions(shifts: pd.DataFrame, *, n_resamples: int = 9999, seed: int | None = 0) -> pd.DataFrame:
    """Across items: does the expected answer move between two conditions?

    For each pair of conditions (and context), over the ordinal items: the mean of
    ``(answer_a - answer_b) / (k - 1)`` with a paired permutation test (the two conditions'
    labels swapped per item; exact when there are few items), the paired Cliff's delta
    (``mean(sign(x - y))`` over items: 1 when every item moves the same way) and
    Benjamini–Hochberg over all pairs tested.

    Parameters
    ----------
    shifts : DataFrame
        From :func:`condition_shifts`.
    n_resamples : int
    seed : int, optional

    Returns
    -------
    DataFrame
        One row per pair and context: ``a``, ``b``, the context columns, ``n_items``
        (ordinal items), ``mean_difference`` (normalised, in [-1, 1]), ``p_value``,
        ``q_value``, ``cliffs_delta`` (paired), ``mean_distance`` (all items, ordinal and categorical),
        ``mean_consistency``.
    """
    _require_columns(shifts, "shifts", ["a", "b", "distance", "answer_a", "answer_b", "scale", "n_options"],
                     "the table returned by condition_shifts")
    context = [c for c in _CONTEXT if c in shifts.columns]
    rng = np.random.default_rng(seed)
    rows = []
    for key, grp in shifts.groupby(context + ["a", "b"], sort=False, dropna=False):
        ordinal = grp[(grp["scale"] == "ordinal") & grp["answer_a"].notna() & grp["answer_b"].notna()]
        span = ordinal["n_options"].to_numpy(float) - 1  # positions 1..k -> [0, 1]
        x = (ordinal["answer_a"].to_numpy(float) - 1) / span
        y = (ordinal["answer_b"].to_numpy(float) - 1) / span
        p = np.nan
        if len(x) >= 2 and np.any(x != y):
            res = permutation_test((x, y), lambda u, v: np.mean(u - v), permutation_type="samples",
                                   n_resamples=n_resamples, alternative="two-sided",
                                   random_state=int(rng.integers(1 << 31)))
            p = float(res.pvalue)
        elif len(x) >= 2:
            p = 1.0
        rows.append({**dict(zip(context + ["a", "b"], key)), "n_items": int(len(x)),
                     "mean_difference": float(np.mean(x - y)) if len(x) else np.nan, "p_value": p,
                     "cliffs_delta": paired_cliffs_delta(x, y) if len(x) else np.nan,
                     "mean_distance": float(grp["distance"].mean()),
                     "mean_consistency": float(ordinal["consistency"].mean()) if len(ordinal) else np.nan})
    out = pd.DataFrame(rows)
    out["q_value"] = benjamini_hochberg(out["p_value"])
    return out
