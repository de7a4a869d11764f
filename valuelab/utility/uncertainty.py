"""Uncertainty of a utility fit: standardisation, and the covariance of the standardised
parameters by one of three methods.

A fit reports ``mu`` standardised to mean 0 and sd 1 across options, variances on the same
scale and the order effect in those units. Every uncertainty column of a result (``se_mean``,
``ci_low``, ``ci_high``, ``se_variance``, the order effect's se and interval) and its
``covariance`` come from one method:

``wald``
    The inverse of the observed information (the Hessian of the negative log-posterior),
    carried through the standardisation by the delta method. Right when every observation
    is an independent answer drawn from the model (sampled answers).
``sandwich``
    ``H^-1 M H^-1`` with ``M`` the covariance of the score summed per unordered pair (both
    presentation orders and orientations of a pair form one cluster), with the small-sample
    factor ``G / (G - 1)`` for ``G`` pairs. It does not assume the answers are binomial
    draws, so it is the method for probabilities read from logits: there a prompt's
    probability is exact, the uncertainty is in *which pairs were asked*, and the sandwich
    measures it from how much the pairs disagree with the fit. It is invariant to the weight
    given to each probability (scaling every weight by ``c`` scales ``H`` by ``c`` and ``M`` by
    ``c^2``).
``bootstrap``
    A Bayesian bootstrap over pairs: each replicate refits with every pair's counts
    multiplied by an independent Exp(1) weight (normalised to mean 1), warm-started at the
    estimate. Unlike resampling pairs with replacement no pair, and so no option, ever drops
    out, and each replicate is standardised over all options exactly like the estimate.
    Replicates that do not converge are discarded and counted.

References
----------
.. [1] Huber, P. J. (1967). The behavior of maximum likelihood estimates under nonstandard
   conditions. *Proc. Fifth Berkeley Symposium* 1, 221–233.
.. [2] Cameron, A. C. and Miller, D. L. (2015). A practitioner's guide to cluster-robust
   inference. *Journal of Human Resources* 50(2), 317–372.
.. [3] Rubin, D. B. (1981). The Bayesian bootstrap. *Annals of Statistics* 9(1), 130–134.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sl
import scipy.sparse as sp

from ..schema import ComparisonData
from .likelihood import PairwiseLikelihood

__all__ = ["Standardised", "standardise", "standardised_jacobian", "information_covariance", "pair_clusters",
           "BootstrapDraws"]

METHODS = ("wald", "sandwich", "bootstrap")


@dataclass(frozen=True)
class Standardised:
    """Parameters on the reported scale: means of mean 0 and sd 1 across options.

    Attributes
    ----------
    mean, variance : ndarray
        Standardised means and variances (variances NaN-free also for fixed-scale models).
    order_effect : float
    shift, scale : float
        ``mean = (mu - shift) / scale``.
    """

    mean: np.ndarray
    variance: np.ndarray
    order_effect: float
    shift: float
    scale: float

    def vector(self, lik: PairwiseLikelihood) -> np.ndarray:
        """``[mean, variance (probit), order effect (when estimated)]``, the covariance's order."""
        parts = [self.mean]
        if lik.link == "probit":
            parts.append(self.variance)
        if lik.order_effect:
            parts.append([self.order_effect])
        return np.concatenate(parts)


def standardise(lik: PairwiseLikelihood, theta: np.ndarray) -> Standardised:
    """Standardise a parameter vector over all options (mean 0, sd 1)."""
    mu, var, gamma = lik.unpack(theta)
    m, sd = mu.mean(), mu.std()
    if not np.isfinite(sd) or sd <= 0:
        sd = 1.0
    return Standardised((mu - m) / sd, var / sd**2, gamma / sd, float(m), float(sd))


def standardised_jacobian(lik: PairwiseLikelihood, theta: np.ndarray) -> np.ndarray:
    """Jacobian of :meth:`Standardised.vector` with respect to ``theta`` (dense)."""
    n, p = lik.n_options, lik.n_params
    std = standardise(lik, theta)
    mu_s, var_s, gamma_s, sd = std.mean, std.variance, std.order_effect, std.scale
    blocks = []
    j_mu = np.zeros((n, p))
    j_mu[:, :n] = (np.eye(n) - 1.0 / n - np.outer(mu_s, mu_s) / n) / sd
    blocks.append(j_mu)
    if lik.link == "probit":
        j_var = np.zeros((n, p))
        j_var[:, :n] = -2.0 * np.outer(var_s, mu_s) / (n * sd)
        if lik.free_variance:
            j_var[:, n : 2 * n] += np.diag(var_s)
        blocks.append(j_var)
    if lik.order_effect:
        j_g = np.zeros((1, p))
        j_g[0, :n] = -gamma_s * mu_s / (n * sd)
        j_g[0, -1] = 1.0 / sd
        blocks.append(j_g)
    return np.vstack(blocks)


def pair_clusters(data: ComparisonData) -> np.ndarray:
    """Cluster id of each row: its unordered pair (orders and orientations together)."""
    lo = np.minimum(data.a, data.b).astype(np.int64)
    hi = np.maximum(data.a, data.b).astype(np.int64)
    return np.unique(lo * data.n_options + hi, return_inverse=True)[1].ravel()


def _score_meat(lik: PairwiseLikelihood, theta: np.ndarray) -> np.ndarray:
    """``G/(G-1) sum_c (s_c - s_bar)(s_c - s_bar)'`` for the per-pair scores ``s_c``."""
    dz = lik._state(theta)[4]
    scores = sp.diags(dz) @ lik.jacobian(theta)  # rows x params: d log L_r / d theta
    cluster = pair_clusters(lik.data)
    g = int(cluster.max()) + 1
    agg = sp.csr_matrix((np.ones(len(cluster)), (cluster, np.arange(len(cluster)))), shape=(g, len(cluster)))
    s = (agg @ scores).toarray()
    s -= s.mean(axis=0)
    return s.T @ s * (g / max(g - 1, 1))


def information_covariance(lik: PairwiseLikelihood, theta: np.ndarray, method: str) -> np.ndarray | None:
    """Covariance of the standardised parameters by the ``wald`` or ``sandwich`` method.

    For an unpenalised fit the information is singular along the gauge directions; adding
    ``N N'`` for the gauge basis ``N`` gives a generalised inverse, and quantities that do not
    depend on the gauge (the standardised parameters) get the correct covariance. Returns
    None when the information is not positive definite (a variance on its boundary).
    """
    h = lik.hessian(theta)
    scale_h = max(float(np.abs(np.diag(h)).max()), 1.0)
    if lik.prior is None:
        gauge = lik.gauge_directions(theta)
        h = h + scale_h * gauge @ gauge.T
    try:
        chol = sl.cho_factor(h, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return None
    jac = standardised_jacobian(lik, theta)
    x = sl.cho_solve(chol, jac.T, check_finite=False)  # H^-1 J'
    if method == "wald":
        return jac @ x
    if method == "sandwich":
        return x.T @ _score_meat(lik, theta) @ x
    raise ValueError(f"method: expected 'wald' or 'sandwich', got {method!r}")


@dataclass
class BootstrapDraws:
    """Standardised parameter vectors of the converged bootstrap replicates.

    Attributes
    ----------
    draws : ndarray
        One row per converged replicate, in the order of :meth:`Standardised.vector`.
    n_requested, n_failed : int
        Replicates asked for, and those discarded because their fit did not converge.
    """

    draws: np.ndarray
    n_requested: int
    n_failed: int

    def covariance(self) -> np.ndarray | None:
        if len(self.draws) < 2:
            return None
        return np.cov(self.draws, rowvar=False, ddof=1)

    def quantiles(self, alpha: float):
        return (np.quantile(self.draws, alpha / 2, axis=0), np.quantile(self.draws, 1 - alpha / 2, axis=0))
