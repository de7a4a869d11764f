"""Completeness and indecision: how many pairs a model is close to indifferent about, and why.

References
----------
.. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640 (completeness: decisiveness of preferences).
.. [2] Aumann, R. J. (1962). Utility theory without the completeness axiom. *Econometrica*
   30(3), 445–462.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ..schema import _combine, validate_comparisons
from ..stats import correlation_interval, wilson_interval

__all__ = ["indecision"]


def indecision(fit, comparisons: pd.DataFrame | None = None, *, margin: float = 0.1, alpha: float = 0.05):
    """Share of pairs near indifference, and its relation to the options' fitted variances.

    A pair is *near indifference* when the probability of preferring either option is
    within ``margin`` of 1/2. A Thurstonian model explains indecision two ways: close means,
    or large variances (an option the model is unsure about). The per-option table lets
    you see which.

    Parameters
    ----------
    fit : ThurstonianResult
    comparisons : DataFrame, optional
        Observed answers (orders and orientations pooled per pair).
    margin : float
        Half-width of the indifference band around 1/2.
    alpha : float

    Returns
    -------
    summary : DataFrame
        Indexed by source (``observed``, ``model``): ``share_near_indifference``,
        ``ci_low``, ``ci_high`` (Wilson; for the model, over all pairs of options: exact up to
        estimation, the interval is that of a sample of pairs of the same size),
        ``n_pairs``, and ``variance_correlation`` (Spearman correlation between an option's
        fitted variance and its share of near-indifferent pairs; NaN when either is the same
        for every option), with ``var_ci_low``, ``var_ci_high``.
    options : DataFrame
        Indexed by option: ``variance``, ``mean``, ``model_share`` (share of its pairs with
        all other options that the model puts near indifference), ``observed_share`` and
        ``observed_pairs`` (when comparisons are given).

    References
    ----------
    .. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling
       Emergent Value Systems in AIs. arXiv:2502.08640.
    """
    if not 0 < margin < 0.5:
        raise ValueError(f"margin: expected a number in (0, 0.5), got {margin!r}")
    u = fit.utilities
    ids = np.asarray(fit.options, dtype=object)
    n = len(ids)
    a, b = np.triu_indices(n, 1)
    p = fit.predict_proba(pd.DataFrame({"option_a": ids[a], "option_b": ids[b]})).to_numpy()
    near = np.abs(p - 0.5) < margin
    per_option = np.bincount(a, near, n) + np.bincount(b, near, n)
    options = pd.DataFrame({"variance": u["variance"].to_numpy(), "mean": u["mean"].to_numpy(),
                            "model_share": per_option / (n - 1)}, index=pd.Index(ids, name="option_id"))
    rows = {}

    def row(name, share_count, total, per_share):
        lo, hi = wilson_interval(share_count, total, alpha=alpha)
        ok = np.isfinite(per_share) & np.isfinite(options["variance"].to_numpy())
        x, y = options["variance"].to_numpy()[ok], per_share[ok]
        # undefined (NaN) when either side is constant, e.g. every pair near indifference
        varies = ok.sum() > 3 and np.ptp(x) > 0 and np.ptp(y) > 0
        r = spearmanr(x, y).statistic if varies else np.nan
        rlo, rhi = correlation_interval(r, int(ok.sum()), alpha=alpha)
        rows[name] = {"share_near_indifference": share_count / total if total else np.nan, "ci_low": lo,
                      "ci_high": hi, "n_pairs": int(total), "variance_correlation": r, "var_ci_low": rlo,
                      "var_ci_high": rhi}

    if comparisons is not None:
        pooled = _combine(validate_comparisons(comparisons), keep_order=False)
        tot = pooled["n_a"] + pooled["n_b"]
        pooled = pooled[tot > 0]
        share = pooled["n_a"] / (pooled["n_a"] + pooled["n_b"])
        near_obs = (share - 0.5).abs() < margin
        counts = pd.concat([pd.Series(near_obs.to_numpy(float), index=pooled["option_a"]),
                            pd.Series(near_obs.to_numpy(float), index=pooled["option_b"])])
        options["observed_share"] = counts.groupby(level=0).mean().reindex(ids).to_numpy()
        options["observed_pairs"] = counts.groupby(level=0).size().reindex(ids).fillna(0).astype(int).to_numpy()
        row("observed", int(near_obs.sum()), len(pooled), options["observed_share"].to_numpy())
    row("model", int(near.sum()), len(p), options["model_share"].to_numpy())
    summary = pd.DataFrame.from_dict(rows, orient="index")
    summary.index.name = "source"
    return summary, options
