"""Time discounting: exponential and hyperbolic curves fitted to the utilities of delayed rewards.

References
----------
.. [1] Samuelson, P. A. (1937). A note on measurement of utility. *Review of Economic
   Studies* 4(2), 155–161 (exponential discounting).
.. [2] Mazur, J. E. (1987). An adjustment procedure for studying delayed reinforcement. In
   *Quantitative Analyses of Behavior* 5, 55–73 (hyperbolic discounting).
.. [3] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640 (time discounting of LLM utilities).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from scipy.stats import norm

from .results import utility_table

__all__ = ["fit_discounting", "DISCOUNT_FORMS"]

#: Discount functions D(t; k), with D(0) = 1.
DISCOUNT_FORMS = {
    "exponential": lambda t, k: np.exp(-k * t),
    "hyperbolic": lambda t, k: 1.0 / (1.0 + k * t),
}


def _fit_form(form: str, t: np.ndarray, u: np.ndarray, se: np.ndarray):
    """Weighted least squares for ``u = c + s D(t; k)``; returns estimates, covariance, chi-square."""
    disc = DISCOUNT_FORMS[form]
    w = 1.0 / se

    def linear(k):  # c and s are linear given k: solve them exactly
        x = np.column_stack([np.ones_like(t), disc(t, k)]) * w[:, None]
        coef, *_ = np.linalg.lstsq(x, u * w, rcond=None)
        return coef, float(np.sum((x @ coef - u * w) ** 2))

    positive = t[t > 0]
    # k is identified only between "everything delayed is worth nothing" and "no discounting"
    # over the delays observed: search, and bound the fit, within 1e-3 / t_max .. 1e3 / t_min
    lo, hi = np.log(1e-3 / positive.max()), np.log(1e3 / positive.min())
    grid = np.exp(np.linspace(lo, hi, 200))
    k0 = grid[int(np.argmin([linear(k)[1] for k in grid]))]
    (c0, s0), _ = linear(k0)

    def resid(theta):
        c, s, log_k = theta
        return (c + s * disc(t, np.exp(log_k)) - u) * w

    start = np.clip(np.log(k0), lo + 1e-9, hi - 1e-9)
    fit = least_squares(resid, [c0, s0, start], bounds=([-np.inf, -np.inf, lo], [np.inf, np.inf, hi]),
                        method="trf", xtol=1e-14, ftol=1e-14, gtol=1e-14)
    at_bound = bool(min(fit.x[2] - lo, hi - fit.x[2]) < 1e-3)
    jac = fit.jac
    try:
        cov = np.linalg.inv(jac.T @ jac)
    except np.linalg.LinAlgError:
        cov = np.full((3, 3), np.nan)
    if at_bound:
        cov = np.full((3, 3), np.nan)
    return fit.x, cov, float(np.sum(fit.fun**2)), at_bound


def fit_discounting(utilities, *, reward: str = "reward", delay: str = "delay_years", alpha: float = 0.05,
                    forms=("exponential", "hyperbolic")) -> pd.DataFrame:
    """Fit exponential and hyperbolic discount curves to the utilities of delayed rewards.

    For each reward (the same outcome at several delays ``t``, including ``t = 0``), fits

    ``U(t) = c + s D(t; k)`` with ``D = exp(-k t)`` (exponential) or ``1 / (1 + k t)`` (hyperbolic)

    by weighted least squares with weights ``1 / se_mean^2``. ``c`` is the utility the
    reward tends to as the delay grows and ``s`` its immediate surplus over that; both are
    needed because utilities have no natural zero. The forms have the same number of
    parameters, so their AIC difference is their log-likelihood difference.

    Parameters
    ----------
    utilities : ThurstonianResult or DataFrame
        Indexed by option, with ``mean``, ``se_mean``, and the ``reward`` and ``delay``
        columns (options with either missing are ignored).
    reward, delay : str
        Columns naming the reward and its delay (in any unit; ``k`` is per that unit).
    alpha : float
    forms : sequence of {"exponential", "hyperbolic"}

    Returns
    -------
    DataFrame
        One row per reward and form: ``reward``, ``form``, ``k`` (discount rate), ``k_ci_low``,
        ``k_ci_high`` (from a Wald interval on ``log k``), ``c``, ``s``, ``half_life`` (delay at
        which ``D = 1/2``), ``chi2`` (weighted residual sum of squares), ``n_points``,
        ``loglike`` (Gaussian, standard errors known), ``aic``, ``delta_aic`` (to the better
        form for that reward), ``preferred`` (bool).

    References
    ----------
    .. [1] Samuelson, P. A. (1937). A note on measurement of utility. *Review of Economic
       Studies* 4(2), 155–161.
    .. [2] Mazur, J. E. (1987). An adjustment procedure for studying delayed reinforcement.
       In *Quantitative Analyses of Behavior* 5, 55–73.
    .. [3] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling
       Emergent Value Systems in AIs. arXiv:2502.08640.
    """
    table = utility_table(utilities, ("mean", "se_mean", reward, delay))
    unknown = set(forms) - set(DISCOUNT_FORMS)
    if unknown:
        raise ValueError(f"forms: unknown {sorted(unknown)}; expected some of {sorted(DISCOUNT_FORMS)}")
    pts = table.dropna(subset=[reward, delay])
    pts = pts[pts[reward].astype(str) != ""]
    z = norm.ppf(1 - alpha / 2)
    rows = []
    for name, grp in pts.groupby(reward, sort=True):
        t = pd.to_numeric(grp[delay], errors="coerce").to_numpy(float)
        if np.isnan(t).any() or (t < 0).any():
            raise ValueError(f"reward {name!r}: {delay!r} must be non-negative numbers")
        if len(np.unique(t)) < 4 or not (t == 0).any():
            raise ValueError(f"reward {name!r}: needs the immediate reward (delay 0) and at least 3 other delays, "
                             f"got delays {sorted(np.unique(t).tolist())}")
        u = grp["mean"].to_numpy(float)
        se = grp["se_mean"].to_numpy(float)
        if not (se > 0).all():
            raise ValueError(f"reward {name!r}: se_mean must be positive (fit with uncertainty='wald')")
        for form in forms:
            (c, s, log_k), cov, chi2, at_bound = _fit_form(form, t, u, se)
            se_log_k = float(np.sqrt(cov[2, 2])) if np.isfinite(cov[2, 2]) else np.nan
            k = float(np.exp(log_k))
            half = np.log(2) / k if form == "exponential" else 1.0 / k
            loglike = -0.5 * chi2 - float(np.sum(np.log(se * np.sqrt(2 * np.pi))))
            rows.append({"reward": name, "form": form, "k": k, "k_ci_low": float(np.exp(log_k - z * se_log_k)),
                         "k_ci_high": float(np.exp(log_k + z * se_log_k)), "c": float(c), "s": float(s),
                         "half_life": float(half), "identified": bool(not at_bound and np.isfinite(se_log_k)
                                                          and 2 * z * se_log_k < np.log(1e5)), "chi2": chi2,
                         "n_points": len(grp), "loglike": loglike,
                         "aic": 2 * 3 - 2 * loglike})
    out = pd.DataFrame(rows)
    out["delta_aic"] = out["aic"] - out.groupby("reward")["aic"].transform("min")
    out["preferred"] = out["delta_aic"] == 0
    return out
