"""Shared statistics: confidence intervals for proportions and correlations, percentile bootstrap.

References
----------
.. [1] Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
   inference. *JASA* 22(158), 209–212.
.. [2] Fisher, R. A. (1921). On the "probable error" of a coefficient of correlation deduced
   from a small sample. *Metron* 1, 3–32.
.. [3] Efron, B. and Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*, ch. 13.
   Chapman & Hall.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.stats import norm

__all__ = ["wilson_interval", "correlation_interval", "bootstrap_interval", "poisson_binomial_sf", "benjamini_hochberg",
           "sign_flip_pvalue"]


def wilson_interval(successes: float, n: float, *, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (NaNs when ``n`` is 0)."""
    if n <= 0:
        return (np.nan, np.nan)
    z = norm.ppf(1 - alpha / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def correlation_interval(r: float, n: int, *, alpha: float = 0.05) -> tuple[float, float]:
    """Fisher-z interval for a Pearson correlation from ``n`` pairs (NaNs when ``n`` <= 3)."""
    if n <= 3 or not np.isfinite(r):
        return (np.nan, np.nan)
    z = np.arctanh(np.clip(r, -1 + 1e-15, 1 - 1e-15))
    half = norm.ppf(1 - alpha / 2) / np.sqrt(n - 3)
    return (float(np.tanh(z - half)), float(np.tanh(z + half)))


def bootstrap_interval(statistic: Callable[[np.ndarray], float | np.ndarray], n: int, *, n_boot: int = 500,
                       alpha: float = 0.05, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of ``statistic(idx)`` over bootstrap resamples ``idx`` of ``range(n)``.

    Returns the lower and upper bounds (arrays when the statistic returns several values).
    Replicates that return NaN are dropped.
    """
    rng = np.random.default_rng(seed)
    draws = np.array([statistic(rng.integers(0, n, n)) for _ in range(n_boot)], dtype=float)
    lo = np.nanquantile(draws, alpha / 2, axis=0)
    hi = np.nanquantile(draws, 1 - alpha / 2, axis=0)
    return lo, hi


def poisson_binomial_sf(k: int, p: np.ndarray) -> float:
    """P(S >= k) for S a sum of independent Bernoulli(p_i) (exact, by convolution)."""
    dist = np.zeros(len(p) + 1)
    dist[0] = 1.0
    for q in np.asarray(p, float):
        dist[1:] = dist[1:] * (1 - q) + dist[:-1] * q
        dist[0] *= 1 - q
    return float(dist[int(np.ceil(k)):].sum())


def benjamini_hochberg(p_values) -> np.ndarray:
    """Benjamini–Hochberg q-values (scipy's ``false_discovery_control``), NaNs left out and kept NaN.

    References
    ----------
    .. [1] Benjamini, Y. and Hochberg, Y. (1995). Controlling the false discovery rate.
       *JRSS B* 57(1), 289–300.
    """
    from scipy.stats import false_discovery_control

    p = np.asarray(p_values, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q[ok] = false_discovery_control(p[ok], method="bh")
    return q


def sign_flip_pvalue(d: np.ndarray, *, n_perm: int = 10000, seed: int | None = 0,
                     exact_below: int = 16) -> np.ndarray | float:
    """Two-sided sign-flip test of ``sum(d) = 0`` for each column of ``d`` (rows: independent units).

    Under the null each unit's contribution is symmetric around 0, so flipping its sign
    leaves the distribution of the sum unchanged. Exact (all sign patterns) when at most
    ``exact_below`` rows are non-zero, else Monte Carlo with ``(1 + hits) / (1 + n_perm)``.
    Columns whose rows are all zero get NaN. A 1-d ``d`` gives a float.

    References
    ----------
    .. [1] Fisher, R. A. (1935). *The Design of Experiments*, §21. Oliver & Boyd.
    .. [2] Phipson, B. and Smyth, G. K. (2010). Permutation p-values should never be zero.
       *Statistical Applications in Genetics and Molecular Biology* 9(1).
    """
    d = np.asarray(d, dtype=float)
    if not np.all(np.isfinite(d)):
        raise ValueError("d: expected finite contributions; drop units with missing values first")
    if d.ndim == 1:
        return float(sign_flip_pvalue(d[:, None], n_perm=n_perm, seed=seed, exact_below=exact_below)[0])
    out = np.full(d.shape[1], np.nan)
    nonzero = (d != 0).sum(0)
    obs = np.abs(d.sum(0))
    tol = 1e-9 * np.maximum(1.0, np.abs(d).sum(0))
    for j in np.flatnonzero((nonzero > 0) & (nonzero <= exact_below)):
        x = d[d[:, j] != 0, j]
        signs = 1 - 2 * ((np.arange(2 ** x.size)[:, None] >> np.arange(x.size)) & 1)
        out[j] = float(np.mean(np.abs(signs @ x) >= obs[j] - tol[j]))
    mc = np.flatnonzero(nonzero > exact_below)
    if mc.size:
        # one set of sign patterns for all columns: rows are the units, so the same flips apply
        rng = np.random.default_rng(seed)
        hits = np.zeros(mc.size)
        for start in range(0, n_perm, 1000):
            signs = rng.choice(np.array([-1.0, 1.0]), size=(min(1000, n_perm - start), d.shape[0]))
            hits += (np.abs(signs @ d[:, mc]) >= obs[mc] - tol[mc]).sum(0)
        out[mc] = (1 + hits) / (1 + n_perm)
    return out
