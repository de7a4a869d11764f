"""Time discounting: exponential and hyperbolic curves fitted to the utilities of delayed rewards.

References
----------
.. [1] Samuelson, P. A. (1937). A note on measurement of utility. *Review of Economic
   Studies* 4(2), 155–161 (exponential discounting).
.. [2] Mazur, J. E. (1987). An adjustment procedure for studying delayed reinforcement. In
   *Quantitative Analyses of Behavior* 5, 55–73 (hyperbolic discounting).
.. [3] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640 (time discounting of LLM utilities).
.. [4] Seber, G. A. F. and Wild, C. J. (1989). *Nonlinear Regression*, §2.1.4 (generalised
   least squares) and §5.3 (profile-likelihood intervals). Wiley.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg as sl
from scipy.optimize import brentq, least_squares
from scipy.stats import chi2 as chi2_dist

from .discount_forms import DISCOUNT_FORMS
from .exchange import option_covariance
from .results import utility_table

__all__ = ["fit_discounting", "DISCOUNT_FORMS"]



def _whitener(cov: np.ndarray):
    """``W`` with ``W' W = cov^+``, and ``log pdet(2 pi cov)`` (on the range of ``cov``)."""
    lam, vec = sl.eigh(cov)
    keep = lam > lam.max() * 1e-10
    return (vec[:, keep] / np.sqrt(lam[keep])).T, float(np.sum(np.log(2 * np.pi * lam[keep])))


def _fit_form(form: str, t: np.ndarray, u: np.ndarray, whiten: np.ndarray, alpha: float):
    """Generalised least squares for ``u = c + s D(t; k)``, residuals ``whiten @ (fitted - u)``.

    Returns ``(c, s, log k)``, the chi-square at the optimum, whether ``log k`` stopped at its
    search bound, and the profile-likelihood interval of ``log k`` (NaN on a side where the
    profile does not rise by the chi-square quantile within the search range).
    """
    disc = DISCOUNT_FORMS[form]
    uw = whiten @ u

    def profile(log_k):  # c and s are linear given k: solve them exactly
        x = whiten @ np.column_stack([np.ones_like(t), disc(t, np.exp(log_k))])
        coef, *_ = np.linalg.lstsq(x, uw, rcond=None)
        return coef, float(np.sum((x @ coef - uw) ** 2))

    positive = t[t > 0]
    # k is identified only between "everything delayed is worth nothing" and "no discounting"
    # over the delays observed: search, and bound the fit, within 1e-3 / t_max .. 1e3 / t_min
    lo, hi = np.log(1e-3 / positive.max()), np.log(1e3 / positive.min())
    grid = np.linspace(lo, hi, 200)
    chi_grid = np.array([profile(g)[1] for g in grid])
    g0 = grid[int(np.argmin(chi_grid))]
    (c0, s0), _ = profile(g0)

    def resid(theta):
        c, s, log_k = theta
        return whiten @ (c + s * disc(t, np.exp(log_k)) - u)

    fit = least_squares(resid, [c0, s0, np.clip(g0, lo + 1e-9, hi - 1e-9)],
                        bounds=([-np.inf, -np.inf, lo], [np.inf, np.inf, hi]), method="trf",
                        xtol=1e-14, ftol=1e-14, gtol=1e-14)
    log_k = float(fit.x[2])
    at_bound = bool(min(log_k - lo, hi - log_k) < 1e-3)
    chi2 = float(np.sum(fit.fun**2))
    crit = chi2_dist.ppf(1 - alpha, 1)

    def excess(g):
        return profile(g)[1] - chi2 - crit

    ends = []
    for order in (np.flatnonzero(grid < log_k)[::-1], np.flatnonzero(grid > log_k)):
        end, inner = np.nan, log_k
        for i in order:  # walk away from the estimate to the first grid point above the threshold
            if chi_grid[i] - chi2 - crit > 0:
                end = brentq(excess, min(grid[i], inner), max(grid[i], inner), xtol=1e-10)
                break
            inner = grid[i]
        ends.append(end)
    return fit.x, chi2, at_bound, (ends[0], ends[1])


def fit_discounting(fit, *, reward: str = "reward", delay: str = "delay_years", alpha: float = 0.05,
                    forms=("exponential", "hyperbolic"), covariance: pd.DataFrame | None = None) -> pd.DataFrame:
    """Fit exponential and hyperbolic discount curves to the utilities of delayed rewards.

    For each reward (the same outcome at several delays ``t``, including ``t = 0``), fits

    ``U(t) = c + s D(t; k)`` with ``D = exp(-k t)`` (exponential) or ``1 / (1 + k t)`` (hyperbolic)

    by generalised least squares in the covariance of the reward's fitted utilities. ``c``
    is the utility the reward tends to as the delay grows and ``s`` its immediate surplus
    over that; both are needed because utilities have no natural zero. The forms have the
    same number of parameters, so their AIC difference is their log-likelihood difference.

    Parameters
    ----------
    fit : ThurstonianResult or DataFrame
        A fit, or utilities indexed by option, with ``mean``, ``se_mean``, and the
        ``reward`` and ``delay`` columns (options with either missing are ignored). A fit's ``covariance_mean`` is
        used as the utilities' covariance.
    reward, delay : str
        Columns naming the reward and its delay (in any unit; ``k`` is per that unit).
    alpha : float
        1 - confidence level of the intervals for ``k``.
    forms : sequence of {"exponential", "hyperbolic"}
    covariance : DataFrame, optional
        Covariance of the means labelled by option id (e.g. ``fit.covariance_mean`` when
        ``fit`` is a table). Without it a table's options count as independent with
        variances ``se_mean^2``.

    Returns
    -------
    DataFrame
        One row per reward and form: ``reward``, ``form``, ``k`` (discount rate), ``k_ci_low``,
        ``k_ci_high`` (profile-likelihood interval: the ``k`` whose best curve is within the
        chi-square(1) quantile of the best fit; NaN on a side that the delays observed cannot
        bound), ``c``, ``s``, ``half_life`` (delay at which ``D = 1/2``), ``identified``
        (both ends of the interval found), ``chi2`` (generalised residual sum of squares),
        ``n_points``, ``loglike`` (Gaussian, covariance known), ``aic``, ``delta_aic`` (to the
        better form for that reward), ``preferred`` (bool).

    Notes
    -----
    The delayed versions of a reward are compared with similar options, so their fitted
    utilities share noise; the fit's covariance tells how much. Weighting by the standard
    errors alone ignores that positive correlation, which inflates the uncertainty of ``k``
    (a contrast between delays) and gave intervals that were too wide. ``k`` enters
    nonlinearly and its likelihood is skewed, so its interval comes from the profile
    likelihood rather than a symmetric Wald interval [4]_. Rows for different rewards come
    from one fit and are correlated; each interval is for its own reward.

    References
    ----------
    .. [1] Samuelson, P. A. (1937). A note on measurement of utility. *Review of Economic
       Studies* 4(2), 155–161.
    .. [2] Mazur, J. E. (1987). An adjustment procedure for studying delayed reinforcement.
       In *Quantitative Analyses of Behavior* 5, 55–73.
    .. [3] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling
       Emergent Value Systems in AIs. arXiv:2502.08640.
    .. [4] Seber, G. A. F. and Wild, C. J. (1989). *Nonlinear Regression*, §2.1.4 and §5.3.
       Wiley.
    """
    table = utility_table(fit, ("mean", reward, delay))
    unknown = set(forms) - set(DISCOUNT_FORMS)
    if unknown:
        raise ValueError(f"forms: unknown {sorted(unknown)}; expected some of {sorted(DISCOUNT_FORMS)}")
    pts = table.dropna(subset=[reward, delay])
    pts = pts[pts[reward].astype(str) != ""]
    rows = []
    for name, grp in pts.groupby(reward, sort=True):
        t = pd.to_numeric(grp[delay], errors="coerce").to_numpy(float)
        if np.isnan(t).any() or (t < 0).any():
            raise ValueError(f"reward {name!r}: {delay!r} must be non-negative numbers")
        if len(np.unique(t)) < 4 or not (t == 0).any():
            raise ValueError(f"reward {name!r}: needs the immediate reward (delay 0) and at least 3 other delays, "
                             f"got delays {sorted(np.unique(t).tolist())}")
        u = grp["mean"].to_numpy(float)
        whiten, log_det = _whitener(option_covariance(fit, grp.index, covariance))
        for form in forms:
            (c, s, log_k), chi2, at_bound, (lo, hi) = _fit_form(form, t, u, whiten, alpha)
            k = float(np.exp(log_k))
            half = np.log(2) / k if form == "exponential" else 1.0 / k
            loglike = -0.5 * chi2 - 0.5 * log_det
            rows.append({"reward": name, "form": form, "k": k, "k_ci_low": float(np.exp(lo)),
                         "k_ci_high": float(np.exp(hi)), "c": float(c), "s": float(s), "half_life": float(half),
                         "identified": bool(not at_bound and np.isfinite(lo) and np.isfinite(hi)), "chi2": chi2,
                         "n_points": len(grp), "loglike": loglike, "aic": 2 * 3 - 2 * loglike})
    out = pd.DataFrame(rows)
    out["delta_aic"] = out["aic"] - out.groupby("reward")["aic"].transform("min")
    out["preferred"] = out["delta_aic"] == 0
    return out
