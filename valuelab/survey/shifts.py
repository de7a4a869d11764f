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
import warnings

import numpy as np
import pandas as pd
from scipy.stats import permutation_test

from ..schema import _require_columns
from ..stats import benjamini_hochberg
from .metrics import consistency_score, distribution_distance, paired_cliffs_delta

__all__ = ["condition_shifts", "shift_matrix", "compare_conditions"]

_CONDITIONS = ("language", "framing", "reasoning")
_CONTEXT = ["model", "language", "framing", "country", "reasoning"]


def _by_columns(table: pd.DataFrame, by, name: str) -> list[str]:
    """The caller's extra grouping columns (``by``: None, a column name or a sequence), checked present."""
    cols = [] if by is None else ([by] if isinstance(by, str) else list(by))
    for c in cols:
        if c not in table.columns:
            raise ValueError(f"by: {name} has no column {c!r} (its columns: {list(table.columns)})")
        if c in _CONTEXT or c in ("item_id", "population"):
            raise ValueError(f"by: {c!r} is already a grouping column; name only extra columns")
    return cols


def _plain(value):
    return value.item() if isinstance(value, np.generic) else (None if value is pd.NA else value)


def _describe(row: dict, keys: list[str]) -> str:
    """``item 'i1' (model='m', language='en')``: where a response sits, for messages."""
    ctx = ", ".join(f"{k}={_plain(row[k])!r}" for k in keys if k != "item_id")
    return f"item {_plain(row['item_id'])!r}" + (f" ({ctx})" if ctx else "")


def _invalid_reason(p: np.ndarray, n_options) -> str | None:
    if p.ndim != 1 or p.size < 2:
        return "fewer than two option probabilities"
    if not np.isfinite(p).all():
        return "probabilities not finite (NaN or inf; e.g. no option was read)"
    if (p < 0).any():
        return "negative probabilities"
    if p.sum() <= 0:
        return "probabilities summing to 0"
    if n_options is not None and not pd.isna(n_options) and p.size != int(n_options):
        return f"{p.size} probabilities for {int(n_options)} options"
    return None


def _aggregate_distributions(responses: pd.DataFrame, keys: list[str], *, caller: str) -> pd.DataFrame:
    """One option distribution per combination of ``keys``: the mean of its responses' distributions.

    Each response's ``probs`` is renormalised, so every response weighs the same; a sampled
    answer given as a one-hot distribution makes the mean the empirical distribution of the
    answers. Responses whose distribution is unusable (not finite, negative, summing to 0,
    fewer than two options, or a length other than ``n_options``) are dropped with one
    warning that counts them and names their items and contexts.

    Returns ``keys``, ``scale``, ``n_options``, ``probs`` (list) and ``n_responses``.
    """
    has_k = "n_options" in responses.columns
    arrays, reasons = [], []
    for p, k in zip(responses["probs"], responses["n_options"] if has_k else itertools.repeat(None)):
        try:
            a = np.asarray(p, dtype=float)
        except (TypeError, ValueError):
            a = np.array([np.nan])
        if a.ndim == 0:
            a = a.reshape(1)
        arrays.append(a)
        reasons.append(_invalid_reason(a, k))
    bad = [i for i, r in enumerate(reasons) if r is not None]
    if bad:
        records = responses.iloc[bad[:5]][keys].to_dict("records")
        shown = "; ".join(f"row {_plain(responses.index[i])!r}, {_describe(rec, keys)}: {reasons[i]}"
                          for i, rec in zip(bad, records))
        more = f"; and {len(bad) - 5} more" if len(bad) > 5 else ""
        warnings.warn(f"{caller}: dropped {len(bad)} of {len(responses)} responses whose option distribution "
                      f"cannot be used: {shown}{more}", UserWarning, stacklevel=3)
    keep = np.flatnonzero([r is None for r in reasons])
    if keep.size == 0:
        return pd.DataFrame(columns=keys + ["scale", "n_options", "probs", "n_responses"])
    good = responses.iloc[keep][keys + ["scale"]].reset_index(drop=True)
    codes = good.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    n_groups = int(codes.max()) + 1
    sizes = np.array([arrays[i].size for i in keep])
    low, high = np.full(n_groups, sizes.max()), np.zeros(n_groups, int)
    np.minimum.at(low, codes, sizes)
    np.maximum.at(high, codes, sizes)
    if (low != high).any():
        g = int(np.flatnonzero(low != high)[0])
        first = good.iloc[int(np.flatnonzero(codes == g)[0])].to_dict()
        raise ValueError(f"{caller}: {_describe(first, keys)}: its responses have different numbers of options "
                         f"{sorted(set(sizes[codes == g].tolist()))}; they cannot be averaged")
    counts = np.bincount(codes, minlength=n_groups)
    means = [None] * n_groups
    for k in np.unique(sizes):
        rows = np.flatnonzero(sizes == k)
        mat = np.vstack([arrays[keep[i]] for i in rows])
        acc = np.zeros((n_groups, k))
        np.add.at(acc, codes[rows], mat / mat.sum(1, keepdims=True))
        for g in np.unique(codes[rows]):
            means[g] = (acc[g] / counts[g]).tolist()
    _, first = np.unique(codes, return_index=True)
    out = good.iloc[first].reset_index(drop=True)
    out["n_options"] = [len(m) for m in means]
    out["probs"] = means
    out["n_responses"] = counts.astype(int)
    return out


def _check(responses: pd.DataFrame, between: str) -> pd.DataFrame:
    if between not in _CONDITIONS:
        raise ValueError(f"between: expected 'language', 'framing' or 'reasoning', got {between!r}")
    _require_columns(responses, "responses", ["item_id", "scale", "probs", *_CONTEXT],
                     "the table returned by elicit_survey")
    return responses


def _key(value):
    """A grouping key: missing values (None, NaN) as one None."""
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


def _pairs(pooled: pd.DataFrame, between: str, extra: list[str]):
    """Rows of the same item and context that differ only in ``between``: (context, a, b, a_row, b_row)."""
    records = pooled.to_dict("records")
    first = {"framing": ["neutral", "persona", "observer"], "reasoning": [False, True]}
    rank = {v: i for i, v in enumerate(dict.fromkeys(first.get(between, [r[between] for r in records])))}
    if between == "framing":
        # the neutral framing has no country: compare it with each country's persona and observer
        countries = list(dict.fromkeys(r["country"] for r in records if _key(r["country"]) is not None))
        if countries:
            records = [dict(r, country=c) for r in records if r["framing"] == "neutral" for c in countries] + \
                      [r for r in records if r["framing"] != "neutral"]
    context = [c for c in _CONTEXT if c != between] + extra + ["item_id"]
    groups: dict = {}
    for r in records:
        groups.setdefault(tuple(_key(r[c]) for c in context), {}).setdefault(r[between], r)
    for by in groups.values():
        values = sorted(by, key=lambda v: rank.get(v, len(rank)))
        ctx = {c: next(iter(by.values()))[c] for c in context}
        for a, b in itertools.combinations(values, 2):
            yield ctx, a, b, by[a], by[b]


_SHIFT_COLUMNS = ["scale", "n_options", "a", "b", "distance", "answer_a", "answer_b", "consistency", "n_responses_a",
                  "n_responses_b"]


def condition_shifts(responses: pd.DataFrame, *, between: str = "language", by=None) -> pd.DataFrame:
    """Per item, how far the answer moves between every two languages (or framings).

    Several responses for one item and context (sampled answers, repeated runs) are pooled
    first: their option distributions (each renormalised) are averaged, so sampled answers
    given as one-hot distributions become the empirical distribution of the answers, and
    ``n_responses_a`` / ``n_responses_b`` say how many responses each side rests on.
    Responses whose distribution is unusable (NaN or inf, negative, summing to 0, the wrong
    length) are dropped with a warning that counts them and names their items and contexts.

    Parameters
    ----------
    responses : DataFrame
        From :func:`valuelab.survey.elicit_survey`, or any table with ``item_id``, ``scale``,
        ``probs`` and the context columns ``model``, ``language``, ``framing``, ``country``,
        ``reasoning`` (one row per response; a row's ``probs`` may be a one-hot answer).
    between : {"language", "framing", "reasoning"}
        The condition that varies; everything else (model, the other conditions, country)
        is held fixed. The neutral framing, which has no country, is compared with each
        country's persona and observer framings. ``reasoning`` compares the zero-shot answer
        (``a`` = False) with the answer after a reasoning step (``b`` = True).
    by : str or sequence of str, optional
        Extra grouping columns (``persona_id``, ``template`` ...) kept apart and carried to
        the output; responses that differ only in columns not named here are pooled.

    Returns
    -------
    DataFrame
        One row per item and pair of conditions: the context columns and ``by`` columns,
        ``item_id``, ``scale``, ``n_options``, ``a``, ``b`` (the two conditions),
        ``distance`` (JSD for categorical, EMD/(k-1) for ordinal items, in [0, 1]),
        ``answer_a``, ``answer_b`` (expected option positions, ordinal items),
        ``consistency`` (CLCS or FCS, 0–100, ordinal items), ``n_responses_a`` and
        ``n_responses_b`` (responses pooled into each side's distribution).
    """
    _check(responses, between)
    extra = _by_columns(responses, by, "responses")
    pooled = _aggregate_distributions(responses, _CONTEXT + extra + ["item_id"], caller="condition_shifts")
    rows = []
    for ctx, a, b, ra, rb in _pairs(pooled, between, extra):
        pa, pb = np.asarray(ra["probs"], float), np.asarray(rb["probs"], float)
        scale = ra["scale"]
        dist = distribution_distance(pa, pb, scale)
        ea = eb = cons = np.nan
        if scale == "ordinal":
            pos = np.arange(1, pa.size + 1)
            ea, eb = float(pa @ pos), float(pb @ pos)
            cons = float(consistency_score(ea, eb, 1, pa.size))
        rows.append({**ctx, "scale": scale, "n_options": int(pa.size), "a": a, "b": b, "distance": dist,
                     "answer_a": ea, "answer_b": eb, "consistency": cons,
                     "n_responses_a": int(ra["n_responses"]), "n_responses_b": int(rb["n_responses"])})
    if not rows:
        context = [c for c in _CONTEXT if c != between] + extra
        return pd.DataFrame(columns=context + ["item_id"] + _SHIFT_COLUMNS)
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
    ``(answer_a - answer_b) / (k - 1)`` with a paired permutation test [2]_ (the two
    conditions' labels swapped per item, i.e. the sign of each item's difference flipped;
    exact when there are few items), the paired Cliff's delta (``mean(sign(x - y))`` over
    items: 1 when every item moves the same way) and Benjamini–Hochberg [3]_ over all pairs
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
    _require_columns(shifts, "shifts", ["item_id", "a", "b", "distance", "answer_a", "answer_b", "scale", "n_options"],
                     "the table returned by condition_shifts")
    context = [c for c in _CONTEXT if c in shifts.columns] + _by_columns(shifts, by, "shifts")
    rng = np.random.default_rng(seed)
    rows = []
    for key, grp in shifts.groupby(context + ["a", "b"], sort=False, dropna=False):
        span = grp["n_options"].to_numpy(float) - 1  # positions 1..k -> [0, 1]
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
