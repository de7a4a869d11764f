"""Expected utility: is the utility of a lottery the probability-weighted utility of its outcomes?

References
----------
.. [1] von Neumann, J. and Morgenstern, O. (1944). *Theory of Games and Economic Behavior*.
   Princeton University Press.
.. [2] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640 (explicit and implicit lotteries).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm, pearsonr

from ..schema import _plain, _require_columns
from ..stats import bootstrap_interval, correlation_interval
from .results import utility_table

__all__ = ["expected_utility", "ExpectedUtilityResult"]


@dataclass
class ExpectedUtilityResult:
    """Lottery utilities against the expected utility of their outcomes.

    Attributes
    ----------
    lotteries : DataFrame
        Indexed by lottery: ``kind``, ``utility`` (the lottery's fitted utility),
        ``expected_utility`` (sum of probability x outcome utility), ``difference``
        (utility - expected utility), ``se_difference`` (treating the fitted utilities as
        independent), ``n_outcomes``.
    summary : DataFrame
        One row per kind and for ``all``: ``n_lotteries``, ``correlation`` (Pearson, with
        Fisher-z ``corr_ci_low``/``corr_ci_high``), ``mae`` (mean absolute difference in
        utility units, with bootstrap ``mae_ci_low``/``mae_ci_high``), ``mean_difference``
        (with a normal ``diff_ci_low``/``diff_ci_high``).
    """

    lotteries: pd.DataFrame
    summary: pd.DataFrame

    def plot(self, **kwargs):
        """Lottery utility against expected utility, with the identity line (plotly Figure)."""
        from ..viz import plot_expected_utility

        return plot_expected_utility(self, **kwargs)


def expected_utility(utilities, lotteries: pd.DataFrame, *, alpha: float = 0.05, n_boot: int = 1000,
                     seed: int | None = 0) -> ExpectedUtilityResult:
    """Compare each lottery's utility with the probability-weighted utility of its outcomes.

    An expected-utility maximiser has ``U(lottery) = sum_i p_i U(outcome_i)`` exactly (up to
    estimation noise), on any affine utility scale.

    Parameters
    ----------
    utilities : ThurstonianResult or DataFrame
        Indexed by option id with ``mean`` and ``se_mean``; must include the lotteries and
        their outcomes as options.
    lotteries : DataFrame
        Long format, one row per outcome of a lottery: ``lottery_id`` (the option id of the
        lottery), ``outcome_id``, ``probability``; optional ``kind`` (for example
        "explicit": stated probabilities, "implicit": uncertainty described in words).
        Probabilities of a lottery must sum to 1.
    alpha : float
    n_boot : int
        Bootstrap resamples of lotteries for the interval of the mean absolute difference.
    seed : int or None

    Returns
    -------
    ExpectedUtilityResult
        ``.lotteries``, ``.summary``, ``.plot()``.

    References
    ----------
    .. [1] von Neumann, J. and Morgenstern, O. (1944). *Theory of Games and Economic
       Behavior*. Princeton University Press.
    .. [2] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling
       Emergent Value Systems in AIs. arXiv:2502.08640.
    """
    table = utility_table(utilities, ("mean", "se_mean"))
    _require_columns(lotteries, "lotteries", ("lottery_id", "outcome_id", "probability"),
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
    for col in ("lottery_id", "outcome_id"):
        missing = ~lot[col].isin(table.index)
        if missing.any():
            row = int(np.flatnonzero(missing.to_numpy())[0])
            raise ValueError(f"lotteries row {row}: {col} {_plain(lot[col].iloc[row])!r} has no fitted utility")
    sums = lot.groupby("lottery_id")["probability"].sum()
    off = sums[(sums - 1).abs() > 1e-6]
    if len(off):
        raise ValueError(f"lotteries: the probabilities of lottery {_plain(off.index[0])!r} sum to {off.iloc[0]:.6g}, not 1")
    mean, se = table["mean"], table["se_mean"]
    lot["weighted"] = lot["probability"] * mean.reindex(lot["outcome_id"]).to_numpy()
    lot["weighted_var"] = (lot["probability"] * se.reindex(lot["outcome_id"]).to_numpy()) ** 2
    per = lot.groupby("lottery_id", sort=False).agg(kind=("kind", "first"), expected_utility=("weighted", "sum"),
                                                    outcome_var=("weighted_var", "sum"),
                                                    n_outcomes=("outcome_id", "size"))
    per.insert(1, "utility", mean.reindex(per.index).to_numpy())
    per["difference"] = per["utility"] - per["expected_utility"]
    per["se_difference"] = np.sqrt(se.reindex(per.index).to_numpy() ** 2 + per.pop("outcome_var"))
    z = norm.ppf(1 - alpha / 2)
    rows = []
    groups = [(k, g) for k, g in per.groupby("kind", sort=True)] if per["kind"].nunique() > 1 else []
    for kind, grp in groups + [("all", per)]:
        n = len(grp)
        r = pearsonr(grp["utility"], grp["expected_utility"]).statistic if n > 2 else np.nan
        lo, hi = correlation_interval(r, n, alpha=alpha)
        absdiff = grp["difference"].abs().to_numpy()
        mlo, mhi = bootstrap_interval(lambda idx: absdiff[idx].mean(), n, n_boot=n_boot, alpha=alpha, seed=seed)
        d = grp["difference"].to_numpy()
        sd = d.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
        rows.append({"kind": kind, "n_lotteries": n, "correlation": r, "corr_ci_low": lo, "corr_ci_high": hi,
                     "mae": absdiff.mean(), "mae_ci_low": float(mlo), "mae_ci_high": float(mhi),
                     "mean_difference": d.mean(), "diff_ci_low": d.mean() - z * sd, "diff_ci_high": d.mean() + z * sd})
    per.index.name = "lottery_id"
    return ExpectedUtilityResult(lotteries=per, summary=pd.DataFrame(rows).set_index("kind"))
