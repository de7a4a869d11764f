"""Completeness and indecision: how many pairs a model is close to indifferent about, and why.

References
----------
.. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640 (completeness: decisiveness of preferences).
.. [2] Aumann, R. J. (1962). Utility theory without the completeness axiom. *Econometrica*
   30(3), 445–462.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ..schema import combine_validated, validate_comparisons
from .pair_posterior import pair_posterior
from ..summary import Summary, SummaryDisplay
from .uncertainty import counts_are_whole

__all__ = ["indecision", "IndecisionResult"]


@dataclass(repr=False)
class IndecisionResult(SummaryDisplay):
    """How many pairs an agent is near indifference about, and which options make them.

    Attributes
    ----------
    overall : DataFrame
        Indexed by source: ``observed`` (the asked pairs) and ``model`` (every pair of
        options, with the fitted model's probabilities: a description of the fit, without an
        interval). Columns ``share_near_indifference``, ``ci_low``, ``ci_high``, ``n_pairs``,
        ``method`` ("empirical Bayes", "exact probabilities", "fitted model") and
        ``variance_correlation`` (Spearman correlation between an option's fitted variance
        and its share of near-indifferent pairs, descriptive; NaN when either is the same
        for every option).
    options : DataFrame
        Indexed by option: ``variance``, ``mean``, ``model_share`` (share of its pairs with
        all other options that the model puts near indifference), ``observed_share`` (the
        posterior mean share among its asked pairs) and ``observed_pairs`` (when comparisons
        are given).
    margin : float
        Half-width of the indifference band around 1/2.
    """

    overall: pd.DataFrame
    options: pd.DataFrame
    margin: float

    def summary(self) -> Summary:
        """The shares near indifference, as text, HTML or LaTeX."""
        first = self.overall.iloc[0]
        facts = {"margin": self.margin, "share near indifference": float(first["share_near_indifference"]),
                 "source": str(self.overall.index[0]), "pairs": int(first["n_pairs"])}
        return Summary("Indecision", facts, {"shares": self.overall})

    def plot(self, **kwargs):
        """Each option's share of near-indifferent pairs against its fitted variance (plotly Figure)."""
        from .plots import plot_indecision

        return plot_indecision(self, **kwargs)


def _near(p: np.ndarray, margin: float) -> np.ndarray:
    """``|p - 1/2| < margin``, the same for ``p`` and ``1 - p`` (``|2p - 1|`` is exact under the swap)."""
    return np.abs(2.0 * p - 1.0) < 2.0 * margin - 1e-12


def indecision(comparisons: pd.DataFrame | None = None, *, fit, margin: float = 0.1, alpha: float = 0.05,
               n_draws: int = 200, seed: int | None = 0) -> IndecisionResult:
    """Share of pairs near indifference, and its relation to the options' fitted variances.

    A pair is *near indifference* when the agent's probability of preferring either option
    is within ``margin`` of 1/2 (a symmetric test: a pair and its reverse always agree). A
    Thurstonian model explains indecision two ways: close means, or large variances (an
    option the model is unsure about). The per-option table lets you see which.

    The share among the asked pairs is a statement about the agent's probabilities. The
    shares of a few sampled answers scatter around them, so a fully indifferent agent looks
    decided about most pairs (0.60 / 0.72 / 0.82 of pairs off the band at 10 / 20 / 40
    answers). For counts of sampled answers the ``observed`` row therefore estimates the
    agent's share from the empirical-Bayes posterior of its probabilities
    (:func:`valuelab.utility.pair_posterior.pair_posterior`), with an interval that carries
    the answer noise and the uncertainty in how far the agent departs from case V. When the
    counts are not whole numbers (probabilities read from logits) they are the agent's own
    probabilities, and the share is counted on them directly, without an interval.

    Parameters
    ----------
    comparisons : DataFrame, optional
        Observed answers (orders and orientations pooled per pair).
    fit : ThurstonianResult
    margin : float
        Half-width of the indifference band around 1/2.
    alpha : float
    n_draws : int
        Posterior draws per value of the deviation sd ``tau``.
    seed : int or None

    Returns
    -------
    IndecisionResult
        ``overall`` (the shares, observed and model) and ``options`` (per option).

    References
    ----------
    .. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling
       Emergent Value Systems in AIs. arXiv:2502.08640.
    .. [2] Morris, C. N. (1983). Parametric empirical Bayes inference: theory and
       applications. *JASA* 78(381), 47–55.
    """
    if not 0 < margin < 0.5:
        raise ValueError(f"margin: expected a number in (0, 0.5), got {margin!r}")
    u = fit.utilities
    ids = np.asarray(fit.options, dtype=object)
    n = len(ids)
    a, b = np.triu_indices(n, 1)
    p = fit.predict_proba(pd.DataFrame({"option_a": ids[a], "option_b": ids[b]})).to_numpy()
    near = _near(p, margin)
    per_option = np.bincount(a, near, n) + np.bincount(b, near, n)
    options = pd.DataFrame({"variance": u["variance"].to_numpy(), "mean": u["mean"].to_numpy(),
                            "model_share": per_option / (n - 1)}, index=pd.Index(ids, name="option_id"))
    rows = {}

    def row(name, share, lo, hi, total, method, per_share):
        ok = np.isfinite(per_share) & np.isfinite(options["variance"].to_numpy())
        x, y = options["variance"].to_numpy()[ok], per_share[ok]
        # undefined (NaN) when either side is constant, e.g. every pair near indifference
        varies = ok.sum() > 3 and np.ptp(x) > 0 and np.ptp(y) > 0
        r = spearmanr(x, y).statistic if varies else np.nan
        rows[name] = {"share_near_indifference": share, "ci_low": lo, "ci_high": hi, "n_pairs": int(total),
                      "method": method, "variance_correlation": r}

    if comparisons is not None:
        checked = validate_comparisons(comparisons)
        pooled = combine_validated(checked, keep_order=False)
        pooled = pooled[(pooled["n_a"] + pooled["n_b"]) > 0]
        counts = pooled[["n_a", "n_b"]].to_numpy(float)
        if counts_are_whole(counts):
            post = pair_posterior(pooled.drop(columns="first"), alpha=alpha)
            pa, pb = post.pairs["option_a"].to_numpy(object), post.pairs["option_b"].to_numpy(object)
            est, lo, hi = post.statistic(lambda d: _near(d, margin).mean(axis=1), n_draws=n_draws, seed=seed)
            pair_near = post.statistic(lambda d: _near(d, margin), n_draws=n_draws, seed=seed)[0]
            method = "empirical Bayes"
        else:
            pa, pb = pooled["option_a"].to_numpy(object), pooled["option_b"].to_numpy(object)
            d = np.abs(counts[:, 0] - counts[:, 1]) / counts.sum(axis=1)  # |2 share - 1|, symmetric
            pair_near = (d < 2.0 * margin - 1e-12).astype(float)
            est, lo, hi = pair_near.mean(), np.nan, np.nan
            method = "exact probabilities"
        per = pd.concat([pd.Series(pair_near, index=pa), pd.Series(pair_near, index=pb)])
        options["observed_share"] = per.groupby(level=0).mean().reindex(ids).to_numpy()
        options["observed_pairs"] = per.groupby(level=0).size().reindex(ids).fillna(0).astype(int).to_numpy()
        row("observed", float(est), float(lo), float(hi), len(pair_near), method, options["observed_share"].to_numpy())
    row("model", float(near.mean()), np.nan, np.nan, len(p), "fitted model", options["model_share"].to_numpy())
    overall = pd.DataFrame.from_dict(rows, orient="index")
    overall.index.name = "source"
    return IndecisionResult(overall, options, margin)
