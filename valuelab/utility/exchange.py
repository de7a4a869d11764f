"""Exchange rates between goods: log-utility curves per good and the quantities of equal utility.

References
----------
.. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640 (exchange rates from U = a + b ln N per entity).
.. [2] Bernoulli, D. (1738/1954). Exposition of a new theory on the measurement of risk.
   *Econometrica* 22(1), 23–36.
.. [3] Aitken, A. C. (1935). On least squares and linear combination of observations.
   *Proceedings of the Royal Society of Edinburgh* 55, 42–48 (generalised least squares).
.. [4] Rao, C. R. (1973). *Linear Statistical Inference and Its Applications*, 2nd ed.,
   §4i (unified least squares with a possibly singular covariance). Wiley.
.. [5] Fieller, E. C. (1954). Some problems in interval estimation. *JRSS B* 16(2), 175–185.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg as sl
from scipy.stats import norm

from ..schema import plain_value
from ..summary import Summary, SummaryDisplay
from .results import ThurstonianResult, means_covariance, utility_table

__all__ = ["fit_exchange_rates", "ExchangeRates"]


def option_covariance(utilities, ids, covariance=None) -> np.ndarray:
    """Covariance of the fitted means of options ``ids`` (the coherence analyses' noise model).

    Taken from ``covariance`` (a DataFrame labelled by option id) when given, else from a
    fit's ``covariance_mean``, else (a plain table) ``diag(se_mean^2)``: options' errors then
    count as independent.

    Raises
    ------
    ValueError
        When a fit has no covariance (fitted with ``uncertainty=None``), an option is missing
        from ``covariance``, or a standard error is not positive.
    """
    ids = pd.Index(ids)
    if covariance is None and isinstance(utilities, ThurstonianResult):
        covariance = means_covariance(utilities, ids)
        if covariance is None:
            raise ValueError("utilities: the fit has no covariance of its means; fit with uncertainty='auto' "
                             "(or 'wald', 'sandwich', 'bootstrap')")
    if covariance is not None:
        covariance = pd.DataFrame(covariance)
        missing = ids.difference(covariance.index).union(ids.difference(covariance.columns))
        if len(missing):
            raise ValueError(f"covariance: option {plain_value(missing[0])!r} has no row or column")
        c = covariance.loc[ids, ids].to_numpy(float)
        if not np.isfinite(c).all():
            raise ValueError("covariance: expected finite values for the options used")
        return 0.5 * (c + c.T)
    table = utility_table(utilities, ("se_mean",))
    se = table["se_mean"].reindex(ids).to_numpy(float)
    bad = ~(se > 0)
    if bad.any():
        raise ValueError(f"utilities: se_mean must be positive; option {plain_value(ids[np.flatnonzero(bad)[0]])!r} has "
                         f"{se[bad][0]!r} (fit with uncertainty='auto')")
    return np.diag(se**2)


def unified_gls(y: np.ndarray, x: np.ndarray, cov: np.ndarray):
    """Generalised least squares ``y = X beta + e``, ``Var(e) = cov`` possibly singular.

    Rao's unified least squares: with ``T = cov + s X X'`` (``s > 0``), ``beta = (X' T^- X)^-
    X' T^- y`` and ``Var(beta) = (X' T^- X)^- - s I``; equal to Aitken's GLS when ``cov`` is
    non-singular. Standardised utilities have a singular covariance (they sum to 0), which
    matters when the points are all the fit's options.

    Returns
    -------
    beta, cov_beta : ndarray
    """
    s = float(np.trace(cov)) / max(float(np.sum(x * x)), 1e-300)
    t = cov + s * x @ x.T
    t_inv = sl.pinvh(t)
    info = x.T @ t_inv @ x
    info_inv = sl.pinvh(info)
    beta = info_inv @ (x.T @ (t_inv @ y))
    cov_beta = info_inv - s * np.eye(x.shape[1])
    return beta, 0.5 * (cov_beta + cov_beta.T)


def fieller_interval(num: float, den: float, v_nn: float, v_dd: float, v_nd: float, z: float):
    """Fieller's interval for ``num / den`` from jointly normal estimates with the given covariance.

    The set of ``theta`` with ``(num - theta den)^2 <= z^2 Var(num - theta den)``; returns
    ``(low, high)``, or ``(-inf, inf)`` when ``den`` is not distinguishable from 0 at this level
    (the set is then unbounded).
    """
    a = den * den - z * z * v_dd
    if a <= 0:
        return -np.inf, np.inf
    b = num * den - z * z * v_nd
    c = num * num - z * z * v_nn
    root = np.sqrt(max(b * b - a * c, 0.0))
    return (b - root) / a, (b + root) / a


class ExchangeRates(SummaryDisplay):
    """Fitted curves ``U = a + b ln N`` per good, and exchange rates between goods.

    Attributes
    ----------
    curves : DataFrame
        Indexed by good: ``a``, ``b``, ``se_a``, ``se_b``, ``cov_ab``, ``n_points``,
        ``residual_sd`` (root of the good's generalised residual sum of squares, in its
        points' covariance, over ``n_points - 2``; about 1 when the log curve and the
        utilities' covariance fit).
    covariance : DataFrame
        Joint covariance of every good's ``a`` and ``b`` (rows and columns ``(good, "a")``,
        ``(good, "b")``): the goods' curves are fitted together, so their errors correlate
        through the options' shared noise.
    points : DataFrame
        The utilities used: ``good``, ``quantity``, ``mean``, ``se``.
    alpha : float
    """

    def __init__(self, curves: pd.DataFrame, points: pd.DataFrame, alpha: float, covariance: pd.DataFrame):
        self.curves = curves
        self.points = points
        self.alpha = alpha
        self.covariance = covariance

    def rate(self, good: str, other: str, quantity: float = 1.0) -> pd.Series:
        """How many units of ``other`` have the utility of ``quantity`` units of ``good``.

        ``ln N_other = (a_good + b_good ln quantity - a_other) / b_other``. The interval is
        Fieller's for that ratio, using the joint covariance of both curves; it is exact for
        normal estimates, and unbounded when ``b_other`` is not distinguishable from 0.

        Returns
        -------
        Series
            ``good``, ``other``, ``quantity``, ``equivalent`` (units of ``other``),
            ``ci_low``, ``ci_high`` (Fieller; 0 and inf when unbounded), ``log_se``
            (delta-method standard error of ``ln equivalent``), ``bounded`` (bool),
            ``extrapolated`` (True when ``quantity`` or ``equivalent`` lies outside the
            quantities observed for its good: the rate then rests on the log form beyond the
            data, and a bias in the utilities grows by the distance over ``b``).

        Raises
        ------
        KeyError
            When a good has no fitted curve.
        ValueError
            When ``quantity`` is not positive or ``b_other`` is not positive.
        """
        for g in (good, other):
            if g not in self.curves.index:
                raise KeyError(f"no fitted curve for {g!r}; goods: {list(self.curves.index)}")
        if not (np.isfinite(quantity) and quantity > 0):
            raise ValueError(f"quantity: expected a positive number, got {quantity!r}")
        b_other = self.curves.at[other, "b"]
        if b_other <= 0:
            raise ValueError(f"the utility of {other!r} does not grow with quantity (b = {b_other:.3g}); "
                             "no exchange rate")
        ln_q = float(np.log(quantity))
        names = list(self.covariance.index)
        beta = np.array([self.curves.at[g, p] for g, p in names])
        g_num, g_den = np.zeros(len(names)), np.zeros(len(names))
        g_num[names.index((good, "a"))] += 1.0
        g_num[names.index((good, "b"))] += ln_q
        g_num[names.index((other, "a"))] -= 1.0
        g_den[names.index((other, "b"))] = 1.0
        v = self.covariance.to_numpy()
        num, den = float(g_num @ beta), float(g_den @ beta)
        log_eq = num / den
        grad = (g_num - log_eq * g_den) / den
        se = float(np.sqrt(max(grad @ v @ grad, 0.0)))
        z = norm.ppf(1 - self.alpha / 2)
        if good == other:
            lo = hi = log_eq
        else:
            lo, hi = fieller_interval(num, den, g_num @ v @ g_num, g_den @ v @ g_den, g_num @ v @ g_den, z)
        q_good = self.points.loc[self.points["good"] == good, "quantity"]
        q_other = self.points.loc[self.points["good"] == other, "quantity"]
        outside = (not q_good.min() <= quantity <= q_good.max()
                   or not np.log(q_other.min()) <= log_eq <= np.log(q_other.max()))
        return pd.Series({"good": good, "other": other, "quantity": quantity, "equivalent": float(np.exp(log_eq)),
                          "ci_low": float(np.exp(lo)), "ci_high": float(np.exp(hi)), "log_se": se,
                          "bounded": bool(np.isfinite(lo) and np.isfinite(hi)), "extrapolated": bool(outside)})

    def rates(self, reference: str, quantity: float = 1.0) -> pd.DataFrame:
        """:meth:`rate` from ``reference`` to every other good, one row each (the same columns)."""
        return pd.DataFrame([self.rate(reference, g, quantity) for g in self.curves.index if g != reference])

    def summary(self) -> Summary:
        """The fitted curves, as text, HTML or LaTeX."""
        facts = {"goods": len(self.curves), "points": len(self.points), "alpha": self.alpha}
        return Summary("Exchange rates: U = a + b ln N per good", facts, {"curves": self.curves})

    def plot(self, **kwargs):
        """The fitted curves over the observed utilities (a plotly Figure)."""
        from .plots import plot_exchange_curves

        return plot_exchange_curves(self, **kwargs)


def fit_exchange_rates(fit, *, good: str = "good", quantity: str = "quantity", alpha: float = 0.05,
                       min_points: int = 3, covariance: pd.DataFrame | None = None) -> ExchangeRates:
    """Fit ``U(N units of X) = a_X + b_X ln N`` for every good X jointly, by generalised least squares.

    Parameters
    ----------
    fit : ThurstonianResult or DataFrame
        A fit, or utilities indexed by option with ``mean`` and ``se_mean`` (as
        ``fit.utilities``, with the options' attributes joined), plus the ``good`` and
        ``quantity`` columns.
        Options with a missing good or quantity are ignored. A fit's ``covariance_mean``
        is used as the utilities' covariance.
    good : str
        Column naming what the quantity counts ("money for you", "lives saved", ...).
    quantity : str
        Column with the number of units (positive).
    alpha : float
        1 - confidence level of the rates' intervals.
    min_points : int
        Goods with fewer distinct quantities are skipped (2 would fit exactly, with no check).
    covariance : DataFrame, optional
        Covariance of the means, labelled by option id (e.g. ``fit.covariance_mean`` when
        ``fit`` is a table). Without it a table's options count as independent with
        variances ``se_mean^2``.

    Returns
    -------
    ExchangeRates
        ``.curves`` (``a``, ``b``, ``se_a``, ``se_b``, ``cov_ab``, ``n_points``,
        ``residual_sd``), ``.covariance`` (joint, of all curves), ``.points`` (``good``,
        ``quantity``, ``mean``, ``se``), ``.rate(x, y, quantity)``, ``.rates(reference)``,
        ``.plot()``.

    Notes
    -----
    The fitted means of a Thurstonian fit are correlated: options compared with the same
    options share noise, and standardising to mean 0 and sd 1 ties all of them together.
    All curves are therefore one generalised least-squares fit [2]_ in the fit's
    ``covariance_mean`` (Rao's unified form [3]_, which allows the singular covariance of
    standardised means), and an exchange rate's interval is Fieller's [4]_ from the joint
    covariance of the two curves: the rate is a ratio whose denominator, the other good's
    slope, is estimated, so its sampling distribution is skewed and a symmetric interval on
    ``ln N`` misplaces it. Exchange rates do not depend on the utility scale: an affine change
    of utilities changes ``a`` and ``b`` but not the quantities of equal utility.

    Rates are only as good as the utilities: a bias of ``d`` (sd units) in the utilities
    moves ``ln N`` by about ``d / b``, several times ``d`` for typical slopes, and more
    when the rate is extrapolated (see ``extrapolated`` in :meth:`ExchangeRates.rate`).
    MAP fits shrink options that win or lose nearly every comparison towards the middle,
    which flattens the curves of goods with extreme quantities.

    References
    ----------
    .. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling
       Emergent Value Systems in AIs. arXiv:2502.08640.
    .. [2] Aitken, A. C. (1935). On least squares and linear combination of observations.
       *Proceedings of the Royal Society of Edinburgh* 55, 42–48.
    .. [3] Rao, C. R. (1973). *Linear Statistical Inference and Its Applications*, 2nd ed.,
       §4i. Wiley.
    .. [4] Fieller, E. C. (1954). Some problems in interval estimation. *JRSS B* 16(2),
       175–185.
    """
    table = utility_table(fit, ("mean", good, quantity))
    pts = table.dropna(subset=[good, quantity])
    pts = pts[pts[good].astype(str) != ""]
    q = pd.to_numeric(pts[quantity], errors="coerce")
    bad = ~(q > 0)
    if bad.any():
        raise ValueError(f"utilities: {quantity!r} must be a positive number; option {plain_value(pts.index[bad.to_numpy()][0])!r} "
                         f"has {pts[quantity][bad].iloc[0]!r}")
    points = pd.DataFrame({"good": pts[good].astype(str), "quantity": q.astype(float), "mean": pts["mean"]},
                          index=pts.index)
    enough = points.groupby("good")["quantity"].transform("nunique") >= min_points
    points = points[enough].sort_values(["good", "quantity"], kind="stable")
    if points.empty:
        raise ValueError(f"utilities: no good has {min_points} or more distinct quantities in {quantity!r}")
    cov = option_covariance(fit, points.index, covariance)
    points["se"] = np.sqrt(np.diag(cov))
    goods = sorted(points["good"].unique())
    col = {g: i for i, g in enumerate(goods)}
    x = np.zeros((len(points), 2 * len(goods)))
    j = points["good"].map(col).to_numpy()
    x[np.arange(len(points)), 2 * j] = 1.0
    x[np.arange(len(points)), 2 * j + 1] = np.log(points["quantity"].to_numpy())
    y = points["mean"].to_numpy(float)
    beta, cov_beta = unified_gls(y, x, cov)
    resid = y - x @ beta
    rows = {}
    for g in goods:
        m = (points["good"] == g).to_numpy()
        k = 2 * col[g]
        chi2 = float(resid[m] @ sl.pinvh(cov[np.ix_(m, m)]) @ resid[m])
        rows[g] = {"a": beta[k], "b": beta[k + 1], "se_a": np.sqrt(cov_beta[k, k]), "se_b": np.sqrt(cov_beta[k + 1, k + 1]),
                   "cov_ab": cov_beta[k, k + 1], "n_points": int(m.sum()),
                   "residual_sd": float(np.sqrt(chi2 / max(m.sum() - 2, 1)))}
    curves = pd.DataFrame.from_dict(rows, orient="index")
    curves.index.name = "good"
    names = pd.MultiIndex.from_tuples([(g, p) for g in goods for p in ("a", "b")], names=["good", "parameter"])
    return ExchangeRates(curves, points[["good", "quantity", "mean", "se"]], alpha,
                         pd.DataFrame(cov_beta, index=names, columns=names))
