"""Shared statistics: intervals for proportions and correlations, exact and permutation tests.

References
----------
.. [1] Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
   inference. *JASA* 22(158), 209–212.
.. [2] Fisher, R. A. (1921). On the "probable error" of a coefficient of correlation deduced
   from a small sample. *Metron* 1, 3–32.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

__all__ = ["wilson_interval", "correlation_interval", "poisson_binomial_sf", "benjamini_hochberg",
           "sign_flip_pvalue", "sign_flip_mid_pvalue", "conditional_permutation_pvalue"]


def wilson_interval(successes: float, n: float, *, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (statsmodels' ``proportion_confint``;
    NaNs when ``n`` is 0). Counts may be fractional (effective sample sizes)."""
    if n <= 0:
        return (np.nan, np.nan)
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return (float(max(0.0, lo)), float(min(1.0, hi)))


def correlation_interval(r: float, n: int, *, alpha: float = 0.05) -> tuple[float, float]:
    """Fisher-z interval for a Pearson correlation from ``n`` pairs (NaNs when ``n`` <= 3)."""
    if n <= 3 or not np.isfinite(r):
        return (np.nan, np.nan)
    z = np.arctanh(np.clip(r, -1 + 1e-15, 1 - 1e-15))
    half = norm.ppf(1 - alpha / 2) / np.sqrt(n - 3)
    return (float(np.tanh(z - half)), float(np.tanh(z + half)))


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


def sign_flip_pvalue(d: np.ndarray, *, n_resamples: int = 9999, seed: int | None = 0,
                     exact_below: int = 16) -> np.ndarray | float:
    """Two-sided sign-flip test of ``sum(d) = 0`` for each column of ``d`` (rows: independent units).

    Under the null each unit's contribution is symmetric around 0, so flipping its sign
    leaves the distribution of the sum unchanged. Exact (all sign patterns) when at most
    ``exact_below`` rows are non-zero, else Monte Carlo with ``(1 + hits) / (1 + n_resamples)``.
    Columns whose rows are all zero get NaN. A 1-d ``d`` gives a float. With few non-zero
    rows or a coarse lattice of sums the test is conservative; :func:`sign_flip_mid_pvalue`
    is the mid-p version.

    References
    ----------
    .. [1] Fisher, R. A. (1935). *The Design of Experiments*, §21. Oliver & Boyd.
    .. [2] Phipson, B. and Smyth, G. K. (2010). Permutation p-values should never be zero.
       *Statistical Applications in Genetics and Molecular Biology* 9(1).
    """
    return _sign_flip(d, n_resamples, seed, exact_below, mid=False)


def sign_flip_mid_pvalue(d: np.ndarray, *, n_resamples: int = 9999, seed: int | None = 0,
                         exact_below: int = 16) -> np.ndarray | float:
    """Mid-p version of :func:`sign_flip_pvalue`: sign patterns whose ``|sum|`` ties the observed one count half.

    The sum of a few contributions, or of small integer counts, lives on a coarse lattice,
    and the ordinary p-value (ties counted in full) then rejects at well below ``alpha``.
    The mid-p value ``P(|S| > |s|) + P(|S| = |s|) / 2`` has a size close to ``alpha`` instead
    of at most ``alpha`` [1]_ [2]_. Exact when at most ``exact_below`` rows are non-zero,
    else Monte Carlo, ``(1/2 + beyond + ties / 2) / (1 + n_resamples)`` (the observed
    pattern counted as one tie). Columns whose rows are all zero get NaN; a 1-d ``d`` gives
    a float.

    Parameters
    ----------
    d : array of shape (n,) or (n, m)
        Finite contributions; rows are independent units.
    n_resamples : int
        Random sign patterns (shared by all columns) for the Monte Carlo p-value.
    seed : int, optional
    exact_below : int

    Returns
    -------
    ndarray of shape (m,), or float for a 1-d ``d``

    References
    ----------
    .. [1] Lancaster, H. O. (1961). Significance tests in discrete distributions. *JASA*
       56(294), 223–234.
    .. [2] Agresti, A. (2013). *Categorical Data Analysis*, 3rd ed., §1.4.4–1.4.5. Wiley.
    """
    return _sign_flip(d, n_resamples, seed, exact_below, mid=True)


def _tail(stat: np.ndarray, obs: np.ndarray, tol: np.ndarray, mid: bool) -> np.ndarray:
    """Per column: rows of ``|stat|`` beyond ``obs``, plus the ties (in full, or half with ``mid``)."""
    beyond = (stat > obs + tol).sum(0)
    ties = (np.abs(stat - obs) <= tol).sum(0)
    return beyond + (0.5 if mid else 1.0) * ties


def _sign_flip(d, n_resamples, seed, exact_below, mid):
    d = np.asarray(d, dtype=float)
    if not np.all(np.isfinite(d)):
        raise ValueError("d: expected finite contributions; drop units with missing values first")
    if d.ndim == 1:
        return float(_sign_flip(d[:, None], n_resamples, seed, exact_below, mid)[0])
    out = np.full(d.shape[1], np.nan)
    nonzero = (d != 0).sum(0)
    obs = np.abs(d.sum(0))
    tol = 1e-9 * np.maximum(1.0, np.abs(d).sum(0))
    for j in np.flatnonzero((nonzero > 0) & (nonzero <= exact_below)):
        x = d[d[:, j] != 0, j]
        signs = 1 - 2 * ((np.arange(2 ** x.size)[:, None] >> np.arange(x.size)) & 1)
        out[j] = float(_tail(np.abs(signs @ x)[:, None], obs[j], tol[j], mid)[0] / 2 ** x.size)
    mc = np.flatnonzero(nonzero > exact_below)
    if mc.size:
        # one set of sign patterns for all columns: rows are the units, so the same flips apply
        rng = np.random.default_rng(seed)
        hits = np.zeros(mc.size)
        for start in range(0, n_resamples, 1000):
            signs = rng.choice(np.array([-1.0, 1.0]), size=(min(1000, n_resamples - start), d.shape[0]))
            hits += _tail(np.abs(signs @ d[:, mc]), obs[mc], tol[mc], mid)
        out[mc] = ((0.5 if mid else 1.0) + hits) / (1 + n_resamples)
    return out


def conditional_permutation_pvalue(y, a, *, n_resamples: int = 9999, seed: int | None = 0, mid_p: bool = True,
                                   exact_below: int = 10000) -> np.ndarray | float:
    """Two-sided permutation test of association between a binary outcome and scores, given the outcome's count.

    Rows are units. ``y`` (0/1 or bool) is each unit's outcome and column ``j`` of ``a`` a
    score per unit; the statistic is ``T_j = sum_i y_i a_ij``. Under the null the outcomes
    are exchangeable across units whatever their scores (each arrangement of the observed
    number ``K`` of ones is equally likely), so ``T_j`` has the permutation distribution
    obtained by shuffling ``y``, and the p-value is the probability of
    ``|T - E T| >= |t - E T|`` with ``E T = K/n sum_i a_ij``.

    This is the exact conditional test of ``beta = 0`` in the logistic model
    ``logit P(y_i = 1) = alpha + beta a_i``: conditioning on ``K``, the sufficient statistic
    of the nuisance intercept, removes ``alpha``, and the conditional null distribution is
    uniform over the arrangements [1]_ [2]_. For a score with two values it is the
    Fisher–Irwin test of a 2x2 table (hypergeometric; two-sided by distance from the mean) [3]_.

    Parameters
    ----------
    y : array of shape (n,)
        0/1 outcomes.
    a : array of shape (n,) or (n, m)
        Finite scores.
    n_resamples : int
        Random arrangements (shared by all columns) for the Monte Carlo p-value.
    seed : int, optional
    mid_p : bool
        Count arrangements that tie the observed ``|t - E T|`` half (the mid-p value [4]_),
        for a size close to ``alpha``; with ``False`` they count in full and the test is
        conservative, most of all for few units or scores on a coarse lattice.
    exact_below : int
        Largest number ``C(n, K)`` of arrangements enumerated.

    Returns
    -------
    ndarray of shape (m,), or float for a 1-d ``a``
        Exact for a column with two distinct values (hypergeometric) or when the ``C(n, K)``
        arrangements number at most ``min(exact_below, n_resamples)``; otherwise Monte
        Carlo: ``(1 + hits) / (1 + n_resamples)``, or ``(1/2 + beyond + ties / 2) /
        (1 + n_resamples)`` with ``mid_p`` [5]_. NaN for a column whose scores are all equal
        (no arrangement changes ``T``); 1 for every other column when ``K`` is 0 or ``n``.

    References
    ----------
    .. [1] Cox, D. R. (1970). *The Analysis of Binary Data*, §4.2. Methuen.
    .. [2] Mehta, C. R. and Patel, N. R. (1995). Exact logistic regression: theory and
       examples. *Statistics in Medicine* 14(19), 2143–2160.
    .. [3] Irwin, J. O. (1935). Tests of significance for differences between percentages
       based on small numbers. *Metron* 12(2), 83–94.
    .. [4] Lancaster, H. O. (1961). Significance tests in discrete distributions. *JASA*
       56(294), 223–234.
    .. [5] Phipson, B. and Smyth, G. K. (2010). Permutation p-values should never be zero.
       *Statistical Applications in Genetics and Molecular Biology* 9(1).
    """
    from itertools import combinations
    from math import comb

    from scipy.stats import hypergeom

    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y: expected a 1-d array of 0/1 outcomes, got shape {y.shape}")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("y: expected 0/1 (or boolean) outcomes")
    y = y.astype(float)
    a = np.asarray(a, dtype=float)
    one_d = a.ndim == 1
    a = a[:, None] if one_d else a
    if a.ndim != 2 or a.shape[0] != y.size:
        raise ValueError(f"a: expected {y.size} rows (one per outcome), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("a: expected finite scores; drop units with missing values first")
    if not (isinstance(n_resamples, (int, np.integer)) and n_resamples >= 1):
        raise ValueError(f"n_resamples: expected a positive integer, got {n_resamples!r}")
    n, m = a.shape
    out = np.full(m, np.nan)
    if n == 0:
        return float(out[0]) if one_d else out
    k = int(y.sum())
    varies = (a.max(0) - a.min(0)) > 0
    if k in (0, n):
        out[varies] = 1.0
        return float(out[0]) if one_d else out
    centre = k / n * a.sum(0)
    obs = np.abs(y @ a - centre)
    tol = 1e-9 * np.maximum(1.0, np.abs(a).sum(0))
    rest = []
    for j in np.flatnonzero(varies):
        values = np.unique(a[:, j])
        if values.size == 2:  # T = K u + (v - u) k_v with k_v hypergeometric
            top = a[:, j] == values[1]
            n_top = int(top.sum())
            support = np.arange(max(0, k - (n - n_top)), min(k, n_top) + 1)
            dist = (values[1] - values[0]) * np.abs(support - k * n_top / n)
            pmf = hypergeom(n, n_top, k).pmf(support)
            beyond, ties = dist > obs[j] + tol[j], np.abs(dist - obs[j]) <= tol[j]
            out[j] = float(min(1.0, pmf[beyond].sum() + (0.5 if mid_p else 1.0) * pmf[ties].sum()))
        else:
            rest.append(j)
    rest = np.array(rest, dtype=int)
    if rest.size == 0:
        return float(out[0]) if one_d else out
    if comb(n, k) <= min(exact_below, n_resamples):
        ones = np.array(list(combinations(range(n), k)))
        stats = np.abs(a[ones][:, :, rest].sum(axis=1) - centre[rest])
        out[rest] = _tail(stats, obs[rest], tol[rest], mid_p) / len(ones)
    else:
        rng = np.random.default_rng(seed)
        hits = np.zeros(rest.size)
        for start in range(0, n_resamples, 1000):
            block = rng.permuted(np.broadcast_to(y, (min(1000, n_resamples - start), n)), axis=1)
            hits += _tail(np.abs(block @ a[:, rest] - centre[rest]), obs[rest], tol[rest], mid_p)
        out[rest] = ((0.5 if mid_p else 1.0) + hits) / (1 + n_resamples)
    return float(out[0]) if one_d else out
