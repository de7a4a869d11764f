"""How close a model's answer distributions are to human populations'.

* ``similarity``: 1 - Jensen–Shannon distance (base 2) between the model's and the
  population's distributions, for every item (GlobalOpinionQA [1]_);
* ``similarity_emd``: 1 - EMD/(k - 1), ordinal items only (distance respects the order);
* ``nvas``: 100 (1 - |a - mu| / (k - 1)) between the model's expected answer and the
  population mean, ordinal items only (MENAValues [2]_; not for categorical items).

References
----------
.. [1] Durmus, E. et al. (2024). Towards Measuring the Representation of Subjective Global
   Opinions in Language Models. COLM.
.. [2] MENAValues (2025). Normalised value alignment score (NVAS).
.. [3] Efron, B. and Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*, ch. 13.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..schema import _require_columns
from ..stats import bootstrap_interval, sign_flip_pvalue
from .items import validate_human_distributions
from .metrics import consistency_score, js_distance, ordinal_emd

__all__ = ["human_alignment", "closest_population", "reasoning_effect"]

_CONTEXT = ["model", "language", "framing", "country", "reasoning"]


def human_alignment(responses: pd.DataFrame, human: pd.DataFrame) -> pd.DataFrame:
    """Similarity of each response's option distribution to each population's.

    Parameters
    ----------
    responses : DataFrame
        From :func:`valuelab.survey.elicit_survey` (``item_id``, ``scale``, ``probs`` and the
        context columns).
    human : DataFrame
        ``human_distributions`` (``item_id``, ``population``, ``option``, ``share``).

    Returns
    -------
    DataFrame
        One row per response and population with data for its item: the context columns,
        ``item_id``, ``scale``, ``population``, ``similarity`` (1 - JSD), ``similarity_emd``
        and ``nvas`` (ordinal items; NaN otherwise), ``model_answer`` and
        ``population_mean`` (expected option positions, ordinal items).
    """
    _require_columns(responses, "responses", ["item_id", "scale", "probs"], "the table returned by elicit_survey")
    hum = validate_human_distributions(human)
    dists = {}
    for (item, pop), grp in hum.groupby(["item_id", "population"], sort=False):
        dists.setdefault(item, []).append((pop, grp.set_index("option")["share"]))
    context = [c for c in _CONTEXT if c in responses.columns]
    rows = []
    for r in responses.to_dict("records"):
        p = np.asarray(r["probs"], float)
        if r["item_id"] not in dists or not np.isfinite(p).all():
            continue
        k = p.size
        pos = np.arange(1, k + 1)
        for pop, shares in dists[r["item_id"]]:
            if shares.index.max() > k:
                raise ValueError(f"human distributions, item {r['item_id']!r}, population {pop!r}: option "
                                 f"{int(shares.index.max())} exceeds the item's {k} options")
            q = shares.reindex(pos, fill_value=0.0).to_numpy(float)
            row = {**{c: r[c] for c in context}, "item_id": r["item_id"], "scale": r["scale"], "population": pop,
                   "similarity": 1 - js_distance(p, q), "similarity_emd": np.nan, "nvas": np.nan,
                   "model_answer": np.nan, "population_mean": np.nan}
            if r["scale"] == "ordinal":
                a, mu = float(p @ pos), float(q @ pos)
                row.update(similarity_emd=1 - ordinal_emd(p, q), nvas=float(consistency_score(a, mu, 1, k)),
                           model_answer=a, population_mean=mu)
            rows.append(row)
    if not rows:
        raise ValueError("no response shares an item with the human distributions (compare their item_id columns)")
    return pd.DataFrame(rows)


def closest_population(alignment: pd.DataFrame, *, value: str = "similarity") -> pd.DataFrame:
    """Which population each model condition is closest to, by mean ``value`` over shared items.

    Returns
    -------
    DataFrame
        One row per context (model, language, framing, country, reasoning):
        ``closest`` (population), ``value`` (its mean), ``runner_up``, ``runner_up_value``,
        ``n_items``.
    """
    context = [c for c in _CONTEXT if c in alignment.columns]
    rows = []
    for key, grp in alignment.groupby(context, sort=False, dropna=False):
        means = grp.groupby("population")[value].mean().sort_values(ascending=False)
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(context, key)), "closest": means.index[0], "value": float(means.iat[0]),
                     "runner_up": means.index[1] if len(means) > 1 else None,
                     "runner_up_value": float(means.iat[1]) if len(means) > 1 else np.nan,
                     "n_items": int(grp["item_id"].nunique())})
    return pd.DataFrame(rows)


def reasoning_effect(alignment: pd.DataFrame, *, value: str = "similarity", n_boot: int = 2000,
                     alpha: float = 0.05, seed: int | None = 0) -> pd.DataFrame:
    """Paired change in alignment when the model reasons before answering.

    Pairs each (item, population, context) answered zero-shot and with reasoning, takes
    the difference in ``value`` (reasoning minus zero-shot) and averages it, with a
    bootstrap interval over items (pairs of one item resampled together) and a sign-flip
    p-value over items.

    Returns
    -------
    DataFrame
        One row per model, language, framing and country: ``n_items``, ``n_pairs``,
        ``zero_shot``, ``with_reasoning`` (means), ``difference``, ``ci_low``, ``ci_high``,
        ``p_value``.
    """
    _require_columns(alignment, "alignment", ["reasoning", "item_id", "population", value],
                     "the table returned by human_alignment")
    if alignment["reasoning"].nunique() < 2:
        raise ValueError("alignment: needs responses with and without reasoning (elicit_survey(reasoning=(False, True)))")
    context = [c for c in _CONTEXT if c in alignment.columns and c != "reasoning"]
    wide = alignment.pivot_table(index=context + ["item_id", "population"], columns="reasoning", values=value,
                                 dropna=False).dropna().reset_index()
    rows = []
    for key, grp in wide.groupby(context, sort=False, dropna=False):
        per_item = grp.assign(d=grp[True] - grp[False]).groupby("item_id")["d"].mean()
        d = per_item.to_numpy(float)
        lo, hi = bootstrap_interval(lambda idx: d[idx].mean(), len(d), n_boot=n_boot, alpha=alpha, seed=seed)
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(context, key)), "n_items": int(len(d)), "n_pairs": int(len(grp)),
                     "zero_shot": float(grp[False].mean()), "with_reasoning": float(grp[True].mean()),
                     "difference": float(d.mean()), "ci_low": float(lo), "ci_high": float(hi),
                     "p_value": sign_flip_pvalue(d, seed=seed) if np.any(d != 0) else 1.0})
    return pd.DataFrame(rows)
