"""Expected utility: is the utility of a lottery the probability-weighted utility of its outcomes?

For lottery ``L`` with outcomes ``o_i`` at probabilities ``p_i`` the difference
``U(L) - sum_i p_i U(o_i)`` is a linear contrast ``c'mu`` of the fitted utilities, so its
variance is ``c' Sigma c`` with ``Sigma`` the covariance of the fitted means [3]_. The fit's
utilities are standardised (mean 0, sd 1 over the options), which correlates their errors
(negatively, and through the shared scale), and a lottery shares its outcomes with others;
treating the means as independent is wrong on both counts, so the fit's covariance is used
whenever it is available. Every interval here is for the quantity computed from the
agent's exact utilities on the fit's scale, over the lotteries asked (not over a
population of lotteries), and its only noise is the estimation of the utilities.

References
----------
.. [1] von Neumann, J. and Morgenstern, O. (1944). *Theory of Games and Economic Behavior*.
   Princeton University Press.
.. [2] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640 (explicit and implicit lotteries).
.. [3] Casella, G. and Berger, R. L. (2002). *Statistical Inference*, 2nd ed., §4.5 (variance
   of a linear combination) and §10.3.2 (Wald tests). Duxbury.
.. [4] Efron, B. and Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*, §6.5
   (parametric bootstrap) and §13.4 (the basic interval, there "hybrid"). Chapman & Hall.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.linalg import eigh
from scipy.stats import chi2, norm

from ..schema import plain_value, require_columns
from ..summary import Summary, SummaryDisplay
from .results import ThurstonianResult, means_covariance, utility_table

__all__ = ["expected_utility", "ExpectedUtilityResult"]


@dataclass(repr=False)
class ExpectedUtilityResult(SummaryDisplay):
    """Lottery utilities against the expected utility of their outcomes.

    Attributes
    ----------
    lotteries : DataFrame
        Indexed by lottery: ``kind``, ``utility`` (the lottery's fitted utility),
        ``expected_utility`` (sum of probability x outcome utility), ``difference``
        (utility - expected utility), ``se_difference`` (its standard error, ``sqrt(c'
        Sigma c)``; see ``se_method``), ``n_outcomes``.
    by_kind : DataFrame
        Indexed by kind, one row per kind and one for ``all``: ``n_lotteries``,
        ``correlation`` (Pearson, lottery utility against expected utility),
        ``corr_ci_low``/``corr_ci_high`` (basic parametric-bootstrap interval for the
        correlation of the exact utilities), ``mae`` (mean absolute difference, utility
        units; descriptive: estimation noise inflates it, so it has no interval),
        ``mean_difference`` with ``diff_ci_low``/``diff_ci_high`` (normal interval from the
        covariance), ``chi2``, ``df``, ``p_value`` (Wald test that every difference is 0).
    se_method : str
        ``"covariance"``: standard errors, intervals and tests use the full covariance of
        the fitted means (the fit's ``covariance_mean`` or the ``covariance`` given);
        ``"independent"``: no covariance was available, and the means were treated as
        independent with their ``se_mean``.
    """

    lotteries: pd.DataFrame
    by_kind: pd.DataFrame
    se_method: str = "independent"

    def summary(self) -> Summary:
        """The comparison per kind of lottery, as text, HTML or LaTeX."""
        overall = self.by_kind.loc["all"] if "all" in self.by_kind.index else self.by_kind.iloc[-1]
        facts = {"lotteries": int(overall["n_lotteries"]), "correlation": float(overall["correlation"]),
                 "Wald p-value (all differences 0)": float(overall["p_value"]), "standard errors": self.se_method}
        return Summary("Expected utility", facts, {"by kind": self.by_kind})

    def plot(self, **kwargs):
        """Lottery utility against expected utility, with the identity line (plotly Figure)."""
        from .plots import plot_expected_utility

        return plot_expected_utility(self, **kwargs)


def _covariance(utilities, covariance, table: pd.DataFrame, ids: list):
    """The covariance of the means of ``ids`` and how it was obtained."""
    if covariance is None and isinstance(utilities, ThurstonianResult):
        covariance = means_covariance(utilities, ids)
    if covariance is None:
        se = table["se_mean"].reindex(ids).to_numpy(dtype=float)
        return np.diag(se**2), "independent"
    if not isinstance(covariance, pd.DataFrame):
        raise TypeError(f"covariance: expected a DataFrame labelled by option id, got {type(covariance).__name__}")
    for axis, labels in (("row", covariance.index), ("column", covariance.columns)):
        missing = [i for i in ids if i not in labels]
        if missing:
            raise ValueError(f"covariance: no {axis} for option {plain_value(missing[0])!r}; expected a square table "
                             f"labelled by option id on both axes")
    sigma = covariance.loc[ids, ids].to_numpy(dtype=float)
    if not np.all(np.isfinite(sigma)):
        raise ValueError("covariance: expected finite entries for the lotteries and their outcomes")
    return (sigma + sigma.T) / 2, "covariance"


def _draws(mean: np.ndarray, sigma: np.ndarray, n: int, rng) -> np.ndarray:
    """``n`` draws from N(mean, sigma) (sigma positive semi-definite, possibly singular)."""
    w, v = eigh(sigma)
    root = v * np.sqrt(np.clip(w, 0, None))
    return mean + rng.standard_normal((n, len(mean))) @ root.T


def _rows_correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``x`` with the same row of ``y``."""
    xc, yc = x - x.mean(1, keepdims=True), y - y.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (xc * yc).sum(1) / np.sqrt((xc**2).sum(1) * (yc**2).sum(1))


def expected_utility(lotteries: pd.DataFrame, *, fit, covariance: pd.DataFrame | None = None,
                     alpha: float = 0.05, n_resamples: int = 9999, seed: int | None = 0) -> ExpectedUtilityResult:
    """Compare each lottery's utility with the probability-weighted utility of its outcomes.

    An expected-utility maximiser has ``U(lottery) = sum_i p_i U(outcome_i)`` exactly (up to
    estimation noise), on any affine utility scale.

    Parameters
    ----------
    lotteries : DataFrame
        Long format, one row per outcome of a lottery: ``lottery_id`` (the option id of the
        lottery), ``outcome_id``, ``probability``; optional ``kind`` (for example
        "explicit": stated probabilities, "implicit": uncertainty described in words).
        Probabilities of a lottery must sum to 1.
    fit : ThurstonianResult or DataFrame
        The fitted utilities: a fit (which brings the covariance of its means,
        ``covariance_mean``) or a table indexed by option id with ``mean`` and ``se_mean``;
        either must include the lotteries and their outcomes as options.
    covariance : DataFrame, optional
        Covariance of the means, labelled by option id on both axes. Default: the fit's
        ``covariance_mean``; without either the means are treated as independent (see
        ``se_method`` in the result).
    alpha : float
        1 - confidence level.
    n_resamples : int
        Parametric-bootstrap draws of the utilities for the interval of the correlation.
    seed : int or None

    Returns
    -------
    ExpectedUtilityResult
        ``.lotteries`` (per lottery: ``kind``, ``utility``, ``expected_utility``,
        ``difference``, ``se_difference``, ``n_outcomes``), ``.by_kind`` (per kind and
        ``all``: ``n_lotteries``, ``correlation``, ``corr_ci_low``, ``corr_ci_high``,
        ``mae``, ``mean_difference``, ``diff_ci_low``, ``diff_ci_high``, ``chi2``, ``df``,
        ``p_value``), ``.se_method``, ``.plot()``.

        The targets, all computed from the agent's exact utilities on the fit's scale over
        the lotteries given: each lottery's difference (``difference +- z se_difference``);
        the mean difference (``diff_ci``, variance ``c̄' Sigma c̄`` for the average contrast
        ``c̄``); the correlation (``corr_ci``: the basic interval ``2 r - q`` of the
        correlations ``r*`` of utilities drawn from ``N(mean, Sigma)``, clipped to [-1, 1],
        which corrects the downward bias estimation noise gives a correlation; for an
        exact expected-utility agent, whose correlation is 1, it is conservative). The
        test: ``chi2 = D' V^+ D`` for the differences ``D`` and their covariance ``V = C
        Sigma C'``, on ``df`` = rank of ``V`` degrees of freedom, answers "does the agent
        follow expected utility on every lottery?"

    References
    ----------
    .. [1] von Neumann, J. and Morgenstern, O. (1944). *Theory of Games and Economic
       Behavior*. Princeton University Press.
    .. [2] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling
       Emergent Value Systems in AIs. arXiv:2502.08640.
    .. [3] Casella, G. and Berger, R. L. (2002). *Statistical Inference*, 2nd ed., §4.5,
       §10.3.2. Duxbury.
    .. [4] Efron, B. and Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*,
       §6.5, §13.4. Chapman & Hall.
    """
    if not (isinstance(alpha, (int, float, np.floating)) and 0 < alpha < 1):
        raise ValueError(f"alpha: expected a level in (0, 1), got {alpha!r}")
    if not (isinstance(n_resamples, (int, np.integer)) and n_resamples >= 2):
        raise ValueError(f"n_resamples: expected an integer >= 2, got {n_resamples!r}")
    table = utility_table(fit, ("mean", "se_mean"))
    require_columns(lotteries, "lotteries", ("lottery_id", "outcome_id", "probability"),
                     "lottery_id, outcome_id, probability[, kind]")
    lot = lotteries.copy()
    if "kind" not in lot.columns:
        lot["kind"] = "lottery"
    p = pd.to_numeric(lot["probability"], errors="coerce")
    bad = ~((p >= 0) & (p <= 1))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"lotteries row {row}: probability must be in [0, 1], got {lot['probability'].iloc[row]!r}")
    lot["probability"] = p
    lottery_ids = lot["lottery_id"].to_numpy(dtype=object)
    outcome_ids = lot["outcome_id"].to_numpy(dtype=object)
    for col, values in (("lottery_id", lottery_ids), ("outcome_id", outcome_ids)):
        missing = ~pd.Index(values).isin(table.index)
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            raise ValueError(f"lotteries row {row}: {col} {plain_value(values[row])!r} has no fitted utility")
    codes, names = pd.factorize(lottery_ids)
    names = list(names)
    prob = p.to_numpy(dtype=float)
    sums = np.bincount(codes, prob, len(names))
    off = np.flatnonzero(np.abs(sums - 1) > 1e-6)
    if off.size:
        raise ValueError(f"lotteries: the probabilities of lottery {plain_value(names[off[0]])!r} sum to "
                         f"{sums[off[0]]:.6g}, not 1")

    ids = list(dict.fromkeys(names + list(outcome_ids)))
    col = {o: j for j, o in enumerate(ids)}
    contrast = np.zeros((len(names), len(ids)))  # difference = contrast @ mean
    contrast[np.arange(len(names)), [col[n] for n in names]] += 1.0
    np.add.at(contrast, (codes, [col[o] for o in outcome_ids]), -prob)
    mean = table["mean"].reindex(ids).to_numpy(dtype=float)
    sigma, se_method = _covariance(fit, covariance, table, ids)
    v = contrast @ sigma @ contrast.T
    first = np.unique(codes, return_index=True)[1]
    kinds = lot["kind"].to_numpy(dtype=object)[first]
    difference = contrast @ mean
    utility = mean[[col[n] for n in names]]
    per = pd.DataFrame({"kind": kinds, "utility": utility, "expected_utility": utility - difference,
                        "difference": difference, "se_difference": np.sqrt(np.clip(np.diag(v), 0, None)),
                        "n_outcomes": np.bincount(codes, minlength=len(names))},
                       index=pd.Index(names, name="lottery_id"))

    z = norm.ppf(1 - alpha / 2)
    usable = bool(np.all(np.isfinite(sigma)))
    draws = _draws(mean, sigma, n_resamples, np.random.default_rng(seed)) if usable else None
    rows = []
    labels = pd.unique(kinds)
    groups = [(k, np.flatnonzero(kinds == k)) for k in sorted(labels, key=str)] if len(labels) > 1 else []
    for kind, idx in groups + [("all", np.arange(len(names)))]:
        n = len(idx)
        d = difference[idx]
        out = {"kind": kind, "n_lotteries": n, "correlation": np.nan, "corr_ci_low": np.nan, "corr_ci_high": np.nan,
               "mae": float(np.abs(d).mean()), "mean_difference": float(d.mean()), "diff_ci_low": np.nan,
               "diff_ci_high": np.nan, "chi2": np.nan, "df": np.nan, "p_value": np.nan}
        if n > 2:
            out["correlation"] = float(_rows_correlation(utility[None, idx], (utility - difference)[None, idx])[0])
        if usable:
            c_bar = contrast[idx].mean(0)
            half = z * np.sqrt(max(float(c_bar @ sigma @ c_bar), 0.0))
            out.update(diff_ci_low=out["mean_difference"] - half, diff_ci_high=out["mean_difference"] + half)
            vg = v[np.ix_(idx, idx)]
            w, vec = eigh(vg)
            keep = w > max(w.max(), 0.0) * 1e-10
            if keep.any():
                proj = vec[:, keep].T @ d
                stat = float(np.sum(proj**2 / w[keep]))
                out.update(chi2=stat, df=int(keep.sum()), p_value=float(chi2.sf(stat, keep.sum())))
            if n > 2 and np.isfinite(out["correlation"]):
                sims = draws[:, [col[names[i]] for i in idx]]
                eu = sims - draws @ contrast[idx].T
                r_star = _rows_correlation(sims, eu)
                lo, hi = np.nanquantile(r_star, [alpha / 2, 1 - alpha / 2])
                r = out["correlation"]
                out.update(corr_ci_low=float(np.clip(2 * r - hi, -1, 1)),
                           corr_ci_high=float(np.clip(2 * r - lo, -1, 1)))
        rows.append(out)
    return ExpectedUtilityResult(lotteries=per, by_kind=pd.DataFrame(rows).set_index("kind"), se_method=se_method)
