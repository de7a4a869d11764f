"""What each asked pair's choice probability is, given noisy answers: an empirical-Bayes posterior.

Statistics of the observed shares (``n_a / n``) mistake answer noise for the agent's
preferences. Thresholded statistics suffer most: a perfectly transitive agent answering 20
times per pair shows strong-stochastic-transitivity violations in a fifth to a third of its
triads, and a perfectly indifferent agent looks decided about most pairs. The remedy is to
ask what the agent's probabilities are, not what its answers were.

The model: on the probit scale each pair's probability is a Thurstone case V prediction plus
a pair-specific deviation,

``Phi^-1(P_ab) = mu_a - mu_b + delta_ab``, ``delta_ab ~ N(0, tau^2)``,

with ``mu`` from a case V fit of the same answers and ``tau`` estimated by maximising the
marginal likelihood of the counts (the deviations integrated out by Gauss–Hermite
quadrature). ``tau = 0`` is an agent whose probabilities are exactly case V (transitive in
every sense); a large ``tau`` lets every pair have its own probability. Given ``tau``, the
posterior of each pair's probability is a discrete distribution on the quadrature nodes;
draws from it give the posterior of any statistic of the probabilities. Uncertainty in
``tau`` is carried by its profile-likelihood confidence set: an interval for a statistic is
the union of its posterior intervals over the values of ``tau`` in that set, and the
estimate is its posterior mean at the maximum-likelihood ``tau``.

References
----------
.. [1] Morris, C. N. (1983). Parametric empirical Bayes inference: theory and applications.
   *JASA* 78(381), 47–55.
.. [2] Regenwetter, M., Dana, J. and Davis-Stober, C. P. (2011). Transitivity of
   preferences. *Psychological Review* 118(1), 42–56 (why observed shares cannot be read
   as the agent's probabilities).
.. [3] Berger, R. L. and Boos, D. D. (1994). P values maximized over a confidence set for
   the nuisance parameter. *JASA* 89(427), 1012–1016 (the union over a confidence set).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from scipy.special import log_ndtr, logsumexp, ndtr
from scipy.stats import chi2

from ..schema import combine_validated, validate_comparisons

__all__ = ["PairPosterior", "pair_posterior"]

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(41)
_LOG_WEIGHTS = np.log(_WEIGHTS / _WEIGHTS.sum())


@dataclass
class PairPosterior:
    """Empirical-Bayes posterior of the choice probability of every asked pair.

    Attributes
    ----------
    pairs : DataFrame
        One row per asked pair (orders and orientations pooled): ``option_a``, ``option_b``,
        ``n_a``, ``n_b``, ``share`` (observed), ``base`` (case V probit difference).
    tau : float
        Maximum-likelihood sd of the pairs' deviations from case V (probit units).
    tau_set : ndarray
        The values of ``tau`` on the grid inside the profile-likelihood confidence set.
    tau_grid, profile : ndarray
        The grid and the marginal log-likelihood on it.
    alpha : float
    """

    pairs: pd.DataFrame
    tau: float
    tau_set: np.ndarray
    tau_grid: np.ndarray
    profile: np.ndarray
    alpha: float
    _log_post: dict
    _mu_draw: Callable | None

    def draws(self, tau: float, n_draws: int, rng: np.random.Generator) -> np.ndarray:
        """``n_draws`` x pairs posterior draws of ``P(option_a preferred)`` at ``tau``.

        Each draw takes case V means from their approximate posterior (normal, from the
        case V fit's information) and, for ``tau > 0``, each pair's deviation from its
        posterior on the quadrature nodes.
        """
        base = self.pairs["base"].to_numpy()
        z = np.broadcast_to(base, (n_draws, len(base)))
        if self._mu_draw is not None:
            z = z + self._mu_draw(n_draws, rng)
        if tau == 0:
            return ndtr(z)
        cum = np.exp(self._log_post[tau]).cumsum(axis=1)
        u = rng.random((n_draws, len(base)))
        node = (cum[None, :, :] < u[:, :, None]).sum(axis=2)
        return ndtr(z + tau * _NODES[np.minimum(node, len(_NODES) - 1)])

    def statistic(self, fn: Callable[[np.ndarray], np.ndarray], *, n_draws: int = 200, seed=0):
        """Estimate and interval of ``fn(P)`` (``P``: draws x pairs -> one value per draw, or
        draws x k values).

        Returns
        -------
        estimate, ci_low, ci_high : ndarray
            The posterior mean at the maximum-likelihood ``tau``, and the union over the
            ``tau`` confidence set of the central ``1 - alpha`` posterior intervals.
        """
        rng = np.random.default_rng(seed)
        lows, highs, estimate = [], [], None
        for tau in self.tau_set:
            values = np.asarray(fn(self.draws(tau, n_draws, rng)), float)
            lows.append(np.quantile(values, self.alpha / 2, axis=0))
            highs.append(np.quantile(values, 1 - self.alpha / 2, axis=0))
            if tau == self.tau:
                estimate = values.mean(axis=0)
        return estimate, np.min(lows, axis=0), np.max(highs, axis=0)


def _binomial_kernel(n_a, n_b, z):
    """``n_a log Phi(z) + n_b log Phi(-z)`` (counts may be fractional)."""
    with np.errstate(invalid="ignore"):
        return np.where(n_a > 0, n_a * log_ndtr(z), 0.0) + np.where(n_b > 0, n_b * log_ndtr(-z), 0.0)


def pair_posterior(comparisons: pd.DataFrame, *, alpha: float = 0.05, tau_max: float = 3.0,
                   n_grid: int = 61) -> PairPosterior:
    """Fit the empirical-Bayes model of the pairs' choice probabilities (see module docs).

    Parameters
    ----------
    comparisons : DataFrame
        Counts of sampled answers; orders and orientations of a pair are pooled.
    alpha : float
        1 - level of the confidence set for ``tau`` (and of intervals built on it).
    tau_max, n_grid : float, int
        The grid of ``tau`` values, ``linspace(0, tau_max, n_grid)``.

    Returns
    -------
    PairPosterior
    """
    pooled = combine_validated(validate_comparisons(comparisons), keep_order=False)
    pooled = pooled[(pooled["n_a"] + pooled["n_b"]) > 0].reset_index(drop=True)
    fit = _case_v_empirical_bayes(pooled[["option_a", "option_b", "n_a", "n_b"]])
    mu = pd.Series(fit._lik.unpack(fit._theta)[0], index=fit.options)
    base = mu.reindex(pooled["option_a"]).to_numpy() - mu.reindex(pooled["option_b"]).to_numpy()
    n_a, n_b = pooled["n_a"].to_numpy(float), pooled["n_b"].to_numpy(float)
    grid = np.linspace(0.0, tau_max, n_grid)
    profile = np.empty(n_grid)
    log_post = {}
    for i, tau in enumerate(grid):
        lk = _binomial_kernel(n_a[:, None], n_b[:, None], base[:, None] + tau * _NODES[None, :]) + _LOG_WEIGHTS
        m = logsumexp(lk, axis=1)
        profile[i] = m.sum()
        log_post[tau] = lk - m[:, None]
    mu_draw = _mean_noise(fit, pooled) if len(mu) <= MAX_OPTIONS_FOR_MEAN_NOISE else None
    best = int(np.argmax(profile))
    inside = 2 * (profile.max() - profile) <= chi2.ppf(1 - alpha, 1)
    pairs = pooled[["option_a", "option_b", "n_a", "n_b"]].assign(share=n_a / (n_a + n_b), base=base)
    return PairPosterior(pairs, float(grid[best]), grid[inside], grid, profile, alpha,
                         {t: log_post[t] for t in grid[inside]}, mu_draw)


def _case_v_empirical_bayes(pooled: pd.DataFrame):
    """Case V fit with ``mu_i ~ N(0, s^2)``, ``s`` chosen by the Laplace approximation of the
    marginal likelihood on a log grid.

    A flat (or weak) prior lets the means absorb answer noise: a perfectly indifferent agent
    gets means that differ by a tenth of a probit unit, and looks decided. Estimating their
    spread shrinks them as far as the data allow (to 0 for that agent, hardly at all for an
    agent whose options differ).
    """
    from .likelihood import Prior
    from .thurstonian import fit_case_v

    best = None
    for s in np.exp(np.linspace(np.log(0.02), np.log(5.0), 25)):
        fit = fit_case_v(pooled, prior=Prior(mean_sd=float(s)), uncertainty=None, order_effect=False)
        lik, theta = fit._lik, fit._theta
        n = lik.n_options
        mu = theta[:n]
        sign, logdet = np.linalg.slogdet(lik.hessian(theta)[:n, :n])
        if sign <= 0:
            continue
        evidence = lik.loglike(theta) - 0.5 * mu @ mu / s**2 - n * np.log(s) - 0.5 * logdet
        if best is None or evidence > best[0]:
            best = (evidence, fit)
    return best[1]


#: Above this many options the case V means are taken as known (their joint normal draw needs a
#: dense factorisation); with many options and pairs their error is small beside the answers'.
MAX_OPTIONS_FOR_MEAN_NOISE = 3000


def _mean_noise(fit, pooled: pd.DataFrame):
    """A sampler of ``(mu_a - mu_b) - (mu_hat_a - mu_hat_b)`` per pair from the case V fit's
    normal approximation (inverse Hessian of its negative log-posterior)."""
    lik, n = fit._lik, fit._lik.n_options
    h = lik.hessian(fit._theta)[:n, :n]
    try:
        chol = np.linalg.cholesky(np.linalg.inv(h + 1e-10 * np.eye(n)))
    except np.linalg.LinAlgError:
        return None
    a = fit.options.get_indexer(pooled["option_a"])
    b = fit.options.get_indexer(pooled["option_b"])

    def draw(n_draws, rng):
        mu = rng.standard_normal((n_draws, n)) @ chol.T
        return mu[:, a] - mu[:, b]

    return draw
