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

from ..schema import require_columns
from ..stats import benjamini_hochberg
from .distributions import (CONTEXT, _answered, _by_columns, _context_columns, _describe, _missing, _plain, _split,
                            _to_distributions)
from .metrics import consistency_score, distribution_distance, paired_cliffs_delta

__all__ = ["condition_shifts", "shift_matrix", "compare_conditions"]

_CONDITIONS = ("language", "framing", "reasoning")


def _key(value):
    """A grouping key: missing values (None, NaN) as one None."""
    return None if _missing(value) else value


def _pairs(pooled: pd.DataFrame, between: str, context: list[str]):
    """Rows of the same item and context that differ only in ``between``: (context, a, b, a_row, b_row)."""
    records = pooled.to_dict("records")
    first = {"framing": ["neutral", "persona", "observer"], "reasoning": [False, True]}
    rank = {v: i for i, v in enumerate(dict.fromkeys(first.get(between, [r[between] for r in records])))}
    if between == "framing" and "country" in context:
        # the neutral framing has no country: compare it with each country's persona and observer
        countries = list(dict.fromkeys(r["country"] for r in records if _key(r["country"]) is not None))
        if countries:
            records = [dict(r, country=c) for r in records if r["framing"] == "neutral" and _key(r["country"]) is None
                       for c in countries] + \
                      [r for r in records if r["framing"] != "neutral" or _key(r["country"]) is not None]
    keys = [c for c in context if c != between] + ["item_id"]
    groups: dict = {}
    for r in records:
        by_value = groups.setdefault(tuple(_key(r[c]) for c in keys), {})
        if _key(r[between]) in by_value:  # one distribution per item and context: never keep one and drop another
            raise ValueError(f"condition_shifts: {_describe(r, keys)}: two distributions for {between}="
                             f"{_plain(r[between])!r}; name the column that tells them apart in by=")
        by_value[_key(r[between])] = r
    for by_value in groups.values():
        values = sorted(by_value, key=lambda v: rank.get(v, len(rank)))
        ctx = {c: next(iter(by_value.values()))[c] for c in keys}
        for a, b in itertools.combinations(values, 2):
            yield ctx, a, b, by_value[a], by_value[b]


_SHIFT_COLUMNS = ["scale", "n_options", "n_substantive", "a", "b", "distance", "answer_a", "answer_b", "consistency",
                  "n_responses_a", "n_responses_b", "non_substantive_share_a", "non_substantive_share_b",
                  "refusal_rate_a", "refusal_rate_b"]


def condition_shifts(responses: pd.DataFrame, *, between: str = "language", by=None, items: pd.DataFrame | None = None,
                     source: str = "auto") -> pd.DataFrame:
    """Per item, how far the answer moves between every two languages (or framings, or reasoning modes).

    The responses of one item and context (sampled answers, repeated runs, personas,
    paraphrases) are first pooled into one distribution by
    :func:`~valuelab.survey.answer_distributions`: the mean of their ``probs`` (logits), or
    the shares of the options their texts name; ``n_responses_a`` / ``n_responses_b`` say
    how many responses each side rests on. Contexts with no substantive answer (every
    response refused, say) are left out with a warning that names their items and
    contexts; responses whose distribution is unusable are dropped with a warning.
    Non-substantive options (``non_substantive`` in ``survey_items``) are kept out of the
    distance and the expected answers; their shares are reported.

    Parameters
    ----------
    responses : DataFrame
        One row per response: from :func:`valuelab.survey.elicit_survey`, from
        ``responses_from_completions``, or any table with ``item_id``, ``scale`` and
        ``probs`` or ``text_answer`` (with ``n_options``); or the table
        :func:`~valuelab.survey.answer_distributions` returns. Context columns
        ``model``, ``language``, ``framing`` (default ``"neutral"``), ``country`` (default
        None), ``reasoning`` (default False); see ``docs/survey_tables.md``.
    between : {"language", "framing", "reasoning"}
        The condition that varies; everything else (model, the other conditions, country,
        the ``by`` columns) is held fixed. The neutral framing, which has no country, is
        compared with each country's persona and observer framings. ``reasoning`` compares
        the zero-shot answer (``a`` = False) with the answer after a reasoning step (``b`` =
        True).
    by : str or sequence of str, optional
        Extra grouping columns (``persona_id``, ``template`` ...) kept apart and carried to
        the output; responses that differ only in columns not named here are pooled.
    items : DataFrame, optional
        ``survey_items``: fills ``scale``, ``n_options`` and ``non_substantive``.
    source : {"auto", "probs", "text"}
        As for :func:`~valuelab.survey.answer_distributions`.

    Returns
    -------
    DataFrame
        One row per item and pair of conditions: the context columns and ``by`` columns,
        ``item_id``, ``scale``, ``n_options``, ``n_substantive`` (options on the scale),
        ``a``, ``b`` (the two conditions), ``distance`` (JSD for categorical, EMD/(k-1)
        for ordinal items, in [0, 1], over the substantive options), ``answer_a``,
        ``answer_b`` (expected positions 1..n_substantive, ordinal items),
        ``consistency`` (CLCS or FCS, 0–100, ordinal items), ``n_responses_a`` and
        ``n_responses_b`` (responses each side's distribution rests on),
        ``non_substantive_share_a`` / ``_b``, ``refusal_rate_a`` / ``_b`` (NaN without
        refusal flags).

    Raises
    ------
    ValueError
        Naming the item and context: two distributions for one condition (a grouping
        column not named in ``by`` would otherwise be dropped), responses of one context
        with different numbers of options.

    References
    ----------
    .. [1] MENAValues (2025). Cross-lingual consistency (CLCS) and framing consistency (FCS).
    """
    if between not in _CONDITIONS:
        raise ValueError(f"between: expected 'language', 'framing' or 'reasoning', got {between!r}")
    dists, extra = _to_distributions(responses, items=items, by=by, source=source, caller="condition_shifts")
    if between not in dists.columns:
        raise ValueError(f"condition_shifts: responses has no {between!r} column, so there is nothing to compare "
                         f"between={between!r}")
    context = _context_columns(dists, extra)
    pooled = _answered(dists, context + ["item_id"], "condition_shifts")
    rows = []
    for ctx, a, b, ra, rb in _pairs(pooled, between, context):
        ns = ra["non_substantive"]
        pa, sa = _split(ra["probs"], ns)
        pb, sb = _split(rb["probs"], ns)
        scale = ra["scale"]
        try:
            dist = distribution_distance(pa, pb, scale)
        except ValueError as err:
            raise ValueError(f"condition_shifts: {_describe(ctx, list(ctx))}, {between} {_plain(a)!r} vs "
                             f"{_plain(b)!r}: {err}") from None
        ea = eb = cons = np.nan
        if scale == "ordinal":
            pos = np.arange(1, pa.size + 1)
            ea, eb = float(pa @ pos), float(pb @ pos)
            cons = float(consistency_score(ea, eb, 1, pa.size))
        rows.append({**ctx, "scale": scale, "n_options": int(ra["n_options"]), "n_substantive": int(pa.size),
                     "a": a, "b": b, "distance": dist, "answer_a": ea, "answer_b": eb, "consistency": cons,
                     "n_responses_a": int(ra["n_responses"]), "n_responses_b": int(rb["n_responses"]),
                     "non_substantive_share_a": sa, "non_substantive_share_b": sb,
                     "refusal_rate_a": ra["refusal_rate"], "refusal_rate_b": rb["refusal_rate"]})
    if not rows:
        return pd.DataFrame(columns=[c for c in context if c != between] + ["item_id"] + _SHIFT_COLUMNS)
    return pd.DataFrame(rows)


def shift_matrix(shifts: pd.DataFrame, *, value: str = "distance") -> pd.DataFrame:
    """Mean ``value`` over items for every pair of conditions, as a symmetric square table."""
    both = pd.concat([shifts[["a", "b", value]], shifts.rename(columns={"a": "b", "b": "a"})[["a", "b", value]]])
    order = list(dict.fromkeys(list(shifts["a"]) + list(shifts["b"])))
    mat = both.pivot_table(index="a", columns="b", values=value, aggfunc="mean").reindex(index=order, columns=order)
    for c in order:
        mat.loc[c, c] = 0.0 if value == "distance" else (100.0 if value == "consistency" else np.nan)
    return mat


def compare_conditions(shifts: pd.DataFrame, *, by=None, n_resamples: int = 9999,
                       seed: int | None = 0) -> pd.DataFrame:
    """Across items: does the expected answer move between two conditions?

    For each pair of conditions (and context), over the ordinal items: the mean of
    ``(answer_a - answer_b) / (k - 1)`` (``k`` the substantive options, ``n_substantive``) with a paired permutation test [2] (the two
    conditions' labels swapped per item, i.e. the sign of each item's difference flipped;
    exact when there are few items), the paired Cliff's delta (``mean(sign(x - y))`` over
    items: 1 when every item moves the same way) and Benjamini–Hochberg [3] over all pairs
    tested. Items are the independent units: rows of one item within a test (from grouping
    columns not named in ``by``) are averaged into one.

    Parameters
    ----------
    shifts : DataFrame
        From :func:`condition_shifts`.
    by : str or sequence of str, optional
        Extra grouping columns, each value tested separately (as passed to
        :func:`condition_shifts`).
    n_resamples : int
        Random sign patterns for the permutation test (all of them when there are fewer).
    seed : int, optional

    Returns
    -------
    DataFrame
        One row per pair and context: the context and ``by`` columns, ``a``, ``b``,
        ``n_items`` (ordinal items), ``mean_difference`` (normalised, in [-1, 1]),
        ``p_value``, ``cliffs_delta`` (paired), ``mean_distance`` (all items, ordinal and
        categorical), ``mean_consistency``, ``q_value`` (Benjamini–Hochberg over all rows).
    """
    require_columns(shifts, "shifts", ["item_id", "a", "b", "distance", "answer_a", "answer_b", "scale", "n_options"],
                     "the table returned by condition_shifts")
    context = [c for c in CONTEXT if c in shifts.columns] + _by_columns(shifts, by, "shifts")
    rng = np.random.default_rng(seed)
    rows = []
    for key, grp in shifts.groupby(context + ["a", "b"], sort=False, dropna=False):
        k = grp["n_substantive"] if "n_substantive" in grp.columns else grp["n_options"]
        span = k.to_numpy(float) - 1  # positions 1..k (substantive options) -> [0, 1]
        per_item = grp.assign(x=(grp["answer_a"].to_numpy(float) - 1) / span,
                              y=(grp["answer_b"].to_numpy(float) - 1) / span,
                              ordinal=(grp["scale"] == "ordinal") & grp["answer_a"].notna() & grp["answer_b"].notna())
        items = per_item.groupby("item_id", sort=False).agg(distance=("distance", "mean"))
        ordinal = per_item[per_item["ordinal"]].groupby("item_id", sort=False)[["x", "y", "consistency"]].mean()
        x, y = ordinal["x"].to_numpy(float), ordinal["y"].to_numpy(float)
        p = np.nan
        if len(x) >= 2 and np.any(x != y):
            res = permutation_test((x, y), lambda u, v, axis: np.mean(u - v, axis=axis), vectorized=True,
                                   permutation_type="samples", n_resamples=n_resamples, alternative="two-sided",
                                   random_state=int(rng.integers(1 << 31)))
            p = float(res.pvalue)
        elif len(x) >= 2:
            p = 1.0
        rows.append({**dict(zip(context + ["a", "b"], key)), "n_items": int(len(x)),
                     "mean_difference": float(np.mean(x - y)) if len(x) else np.nan, "p_value": p,
                     "cliffs_delta": paired_cliffs_delta(x, y) if len(x) else np.nan,
                     "mean_distance": float(items["distance"].mean()),
                     "mean_consistency": float(ordinal["consistency"].mean()) if len(x) else np.nan})
    out = pd.DataFrame(rows)
    out["q_value"] = benjamini_hochberg(out["p_value"]) if len(out) else []
    return out
