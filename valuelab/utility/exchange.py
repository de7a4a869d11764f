"""Exchange rates between goods: log-utility curves per good and the quantities of equal utility.

References
----------
.. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640 (exchange rates from U = a + b ln N per entity).
.. [2] Bernoulli, D. (1738/1954). Exposition of a new theory on the measurement of risk.
   *Econometrica* 22(1), 23–36.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..schema import _plain
from .results import utility_table

__all__ = ["fit_exchange_rates", "ExchangeRates"]


class ExchangeRates:
    """Fitted curves ``U = a + b ln N`` per good, and exchange rates between goods.

    Attributes
    ----------
    curves : DataFrame
        Indexed by good: ``a``, ``b``, ``se_a``, ``se_b``, ``cov_ab``, ``n_points``,
        ``residual_sd`` (root mean squared standardised residual; about 1 when the log curve
        and the standard errors fit).
    points : DataFrame
        The utilities used: ``good``, ``quantity``, ``mean``, ``se``.
    """

    def __init__(self, curves: pd.DataFrame, points: pd.DataFrame, alpha: float):
        self.curves = curves
        self.points = points
        self.alpha = alpha

    def rate(self, good: str, other: str, quantity: float = 1.0) -> pd.Series:
        """How many units of ``other`` have the utility of ``quantity`` units of ``good``.

        ``ln N_other = (a_good + b_good ln quantity - a_other) / b_other``, with a delta-method
        interval computed on the log scale (the two curves are fitted independently).

        Returns
        -------
        Series
            ``good``, ``other``, ``quantity``, ``equivalent`` (units of ``other``),
            ``ci_low``, ``ci_high``, ``log_se`` (standard error of ``ln equivalent``).
        """
        for g in (good, other):
            if g not in self.curves.index:
                raise KeyError(f"no fitted curve for {g!r}; goods: {list(self.curves.index)}")
        x, y = self.curves.loc[good], self.curves.loc[other]
        if y["b"] <= 0:
            raise ValueError(f"the utility of {other!r} does not grow with quantity (b = {y['b']:.3g}); "
                             "no exchange rate")
        ln_q = np.log(quantity)
        u = x["a"] + x["b"] * ln_q
        log_eq = (u - y["a"]) / y["b"]
        # gradient with respect to (a_x, b_x, a_y, b_y)
        g = np.array([1 / y["b"], ln_q / y["b"], -1 / y["b"], -log_eq / y["b"]])
        cov = np.zeros((4, 4))
        cov[:2, :2] = [[x["se_a"] ** 2, x["cov_ab"]], [x["cov_ab"], x["se_b"] ** 2]]
        cov[2:, 2:] = [[y["se_a"] ** 2, y["cov_ab"]], [y["cov_ab"], y["se_b"] ** 2]]
        se = float(np.sqrt(g @ cov @ g))
        z = norm.ppf(1 - self.alpha / 2)
        return pd.Series({"good": good, "other": other, "quantity": quantity, "equivalent": float(np.exp(log_eq)),
                          "ci_low": float(np.exp(log_eq - z * se)), "ci_high": float(np.exp(log_eq + z * se)),
                          "log_se": se})

    def rates(self, reference: str, quantity: float = 1.0) -> pd.DataFrame:
        """:meth:`rate` from ``reference`` to every other good, one row each."""
        return pd.DataFrame([self.rate(reference, g, quantity) for g in self.curves.index if g != reference])

    def plot(self, **kwargs):
        """The fitted curves over the observed utilities (a plotly Figure)."""
        from ..viz import plot_exchange_curves

        return plot_exchange_curves(self, **kwargs)


def fit_exchange_rates(utilities, *, good: str = "good", quantity: str = "quantity", alpha: float = 0.05,
                       min_points: int = 3) -> ExchangeRates:
    """Fit ``U(N units of X) = a_X + b_X ln N`` for each good X by weighted least squares.

    Parameters
    ----------
    utilities : ThurstonianResult or DataFrame
        Utilities indexed by option with ``mean`` and ``se_mean`` (as ``fit.utilities``, with
        the options' attributes joined), plus the ``good`` and ``quantity`` columns.
        Options with a missing good or quantity are ignored.
    good : str
        Column naming what the quantity counts ("money for you", "lives saved", ...).
    quantity : str
        Column with the number of units (positive).
    alpha : float
    min_points : int
        Goods with fewer distinct quantities are skipped (2 would fit exactly, with no check).

    Returns
    -------
    ExchangeRates
        ``.curves``, ``.rate(x, y, quantity)``, ``.rates(reference)``, ``.plot()``.

    Notes
    -----
    Weights are ``1 / se_mean^2``; standard errors of ``a`` and ``b`` come from that
    weighted fit treating the utilities' standard errors as known (their covariance across
    options is ignored). Exchange rates do not depend on the utility scale: an affine change
    of utilities changes ``a`` and ``b`` but not the quantities of equal utility.

    References
    ----------
    .. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling
       Emergent Value Systems in AIs. arXiv:2502.08640.
    """
    table = utility_table(utilities, ("mean", "se_mean", good, quantity))
    pts = table[["mean", "se_mean", good, quantity]].dropna(subset=[good, quantity])
    q = pd.to_numeric(pts[quantity], errors="coerce")
    bad = ~(q > 0)
    if bad.any():
        raise ValueError(f"utilities: {quantity!r} must be a positive number; option {_plain(pts.index[bad.to_numpy()][0])!r} "
                         f"has {pts[quantity][bad].iloc[0]!r}")
    if not (pts["se_mean"] > 0).all():
        raise ValueError("utilities: se_mean must be positive for the weights (fit with uncertainty='wald')")
    points = pd.DataFrame({"good": pts[good].astype(str), "quantity": q.astype(float), "mean": pts["mean"],
                           "se": pts["se_mean"]}, index=pts.index)
    rows = {}
    for g, grp in points.groupby("good", sort=True):
        if grp["quantity"].nunique() < min_points:
            continue
        x = np.column_stack([np.ones(len(grp)), np.log(grp["quantity"].to_numpy())])
        w = 1.0 / grp["se"].to_numpy() ** 2
        xtwx = x.T @ (w[:, None] * x)
        cov = np.linalg.inv(xtwx)
        coef = cov @ (x.T @ (w * grp["mean"].to_numpy()))
        resid = (grp["mean"].to_numpy() - x @ coef) * np.sqrt(w)
        rows[g] = {"a": coef[0], "b": coef[1], "se_a": np.sqrt(cov[0, 0]), "se_b": np.sqrt(cov[1, 1]),
                   "cov_ab": cov[0, 1], "n_points": len(grp),
                   "residual_sd": float(np.sqrt(np.sum(resid**2) / max(len(grp) - 2, 1)))}
    if not rows:
        raise ValueError(f"utilities: no good has {min_points} or more distinct quantities in {quantity!r}")
    curves = pd.DataFrame.from_dict(rows, orient="index")
    curves.index.name = "good"
    return ExchangeRates(curves, points[points["good"].isin(curves.index)], alpha)
