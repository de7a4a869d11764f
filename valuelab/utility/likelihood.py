"""Likelihood of pairwise choice counts under Thurstonian and Bradley–Terry models.

Parameters are packed into one vector ``theta = [mu (N), log_var (N, free variances only),
gamma (1, order effect only)]``. For row ``r`` comparing options ``a`` and ``b``::

    z_r = (mu_a - mu_b + gamma * s_r) / sqrt(var_a + var_b)       (probit, free variances)
    z_r = mu_a - mu_b + gamma * s_r                                 (fixed scale)
    P(A preferred) = F(z_r),  F = standard normal cdf (probit) or logistic (logit)

with ``s_r`` = +1 when A was shown first, -1 when B was, 0 when unknown. In the fixed-scale
probit model (Thurstone case V) every option has variance 1/2, so the pair has unit scale.
The log-likelihood is binomial in the counts, ``n_a log F(z) + n_b log F(-z)``.

Everything is vectorised over rows: per-row quantities are scattered onto parameters with
``np.bincount`` or a sparse Jacobian, never with a Python loop over pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, log_expit, log_ndtr

from ..schema import ComparisonData

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


@dataclass(frozen=True)
class Prior:
    """Independent Gaussian priors that turn the MLE into a MAP estimate.

    Parameters
    ----------
    mean_sd : float, default 3.0
        Prior ``mu_i ~ N(0, mean_sd**2)``.
    log_variance_mean, log_variance_sd : float, default 0.0, 1.5
        Prior ``log sigma_i**2 ~ N(log_variance_mean, log_variance_sd**2)``.
    order_effect_sd : float or None, default 3.0
        Prior on the order effect ``gamma ~ N(0, order_effect_sd**2)``; None leaves it flat.

    Notes
    -----
    With per-option utilities of unit variance a pair's choice probability is
    ``Phi((mu_a - mu_b) / sqrt(2))``, so ``mean_sd = 3`` allows probabilities as extreme as
    ``Phi(8.5)`` for options three prior sd apart: it is weak where data exist and only
    stops options that win (or lose) every comparison from running off to infinity, which
    is what makes the unregularised MLE overfit (their held-out log loss grows without
    bound).
    """

    mean_sd: float = 3.0
    log_variance_mean: float = 0.0
    log_variance_sd: float = 1.5
    order_effect_sd: float | None = 3.0

    def __post_init__(self):
        for name in ("mean_sd", "log_variance_sd"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"Prior.{name}: expected a positive finite number, got {value!r}")
        if self.order_effect_sd is not None and not (np.isfinite(self.order_effect_sd) and self.order_effect_sd > 0):
            raise ValueError(f"Prior.order_effect_sd: expected a positive number or None, got {self.order_effect_sd!r}")


class PairwiseLikelihood:
    """Negative log-posterior of comparison counts, with analytic derivatives.

    Parameters
    ----------
    data : ComparisonData
    link : {"probit", "logit"}
    free_variance : bool
        One variance per option (Thurstonian) or a fixed scale (case V, Bradley–Terry).
    order_effect : bool
        Estimate the position-bias parameter ``gamma``.
    prior : Prior or None
        None gives the likelihood alone (MLE).
    """

    def __init__(self, data: ComparisonData, *, link: str = "probit", free_variance: bool = True,
                 order_effect: bool = False, prior: Prior | None = None):
        if link not in ("probit", "logit"):
            raise ValueError(f"link: expected 'probit' or 'logit', got {link!r}")
        if free_variance and link != "probit":
            raise ValueError("free variances are defined for the probit (Thurstonian) link only")
        self.data = data
        self.link = link
        self.free_variance = free_variance
        self.order_effect = order_effect
        self.prior = prior
        n = data.n_options
        self.n_options = n
        self.n_params = n + (n if free_variance else 0) + (1 if order_effect else 0)
        self.i_gamma = self.n_params - 1 if order_effect else None
        self._s = data.first.astype(float)
        self._w = data.n_a + data.n_b
        self._prior_prec, self._prior_mean = self._prior_arrays()

    # ------------------------------------------------------------------ parameters
    def _prior_arrays(self):
        n, p = self.n_options, self.n_params
        prec = np.zeros(p)
        mean = np.zeros(p)
        if self.prior is None:
            return prec, mean
        prec[:n] = 1.0 / self.prior.mean_sd**2
        if self.free_variance:
            prec[n : 2 * n] = 1.0 / self.prior.log_variance_sd**2
            mean[n : 2 * n] = self.prior.log_variance_mean
        if self.order_effect and self.prior.order_effect_sd is not None:
            prec[-1] = 1.0 / self.prior.order_effect_sd**2
        return prec, mean

    def unpack(self, theta: np.ndarray):
        """Return ``(mu, variance, gamma)`` from a parameter vector (raw scale)."""
        n = self.n_options
        mu = theta[:n]
        if self.free_variance:
            var = np.exp(theta[n : 2 * n])
        else:
            var = np.full(n, 0.5 if self.link == "probit" else np.nan)
        gamma = float(theta[-1]) if self.order_effect else 0.0
        return mu, var, gamma

    def initial(self) -> np.ndarray:
        theta = np.zeros(self.n_params)
        if self.free_variance and self.prior is not None:
            theta[self.n_options : 2 * self.n_options] = self.prior.log_variance_mean
        return theta

    # ------------------------------------------------------------------ row quantities
    def _rows(self, theta: np.ndarray):
        """Linear predictor z per row, plus what the derivatives need."""
        d = self.data
        n = self.n_options
        num = theta[d.a] - theta[d.b]
        if self.order_effect:
            num = num + theta[-1] * self._s
        if self.free_variance:
            va = np.exp(theta[n + d.a])
            vb = np.exp(theta[n + d.b])
            vs = va + vb
            inv_sigma = 1.0 / np.sqrt(vs)
            qa = va / vs
        else:
            inv_sigma = np.ones_like(num)
            qa = None
        return num * inv_sigma, inv_sigma, qa

    def _link_terms(self, z: np.ndarray):
        """Log-likelihood per row, d/dz and -d2/dz2 (the latter from the observed counts)."""
        na, nb = self.data.n_a, self.data.n_b
        if self.link == "probit":
            lp, lq = log_ndtr(z), log_ndtr(-z)
            log_phi = -0.5 * z * z - _LOG_SQRT_2PI
            m1 = np.exp(log_phi - lp)  # phi/Phi(z)
            m2 = np.exp(log_phi - lq)  # phi/Phi(-z)
            ll = na * lp + nb * lq
            dz = na * m1 - nb * m2
            neg_d2z = na * m1 * (z + m1) + nb * m2 * (m2 - z)
        else:
            lp, lq = log_expit(z), log_expit(-z)
            p = expit(z)
            ll = na * lp + nb * lq
            dz = na * (1.0 - p) - nb * p
            neg_d2z = (na + nb) * p * (1.0 - p)
        return ll, dz, neg_d2z

    def fisher_weights(self, z: np.ndarray) -> np.ndarray:
        """Expected information per row on the z scale: n * f(z)^2 / (F(z) F(-z))."""
        if self.link == "probit":
            lp, lq = log_ndtr(z), log_ndtr(-z)
            log_phi = -0.5 * z * z - _LOG_SQRT_2PI
            return self._w * np.exp(2.0 * log_phi - lp - lq)
        p = expit(z)
        return self._w * p * (1.0 - p)

    # ------------------------------------------------------------------ objective
    def loglike(self, theta: np.ndarray) -> float:
        """Log-likelihood (no prior)."""
        z, _, _ = self._rows(theta)
        return float(self._link_terms(z)[0].sum())

    def value_and_grad(self, theta: np.ndarray):
        """Negative log-posterior and its gradient."""
        z, inv_sigma, qa = self._rows(theta)
        ll, dz, _ = self._link_terms(z)
        grad = self.jacobian(theta, z=z, inv_sigma=inv_sigma, qa=qa).T @ (-dz)
        diff = theta - self._prior_mean
        value = -ll.sum() + 0.5 * float(np.sum(self._prior_prec * diff * diff))
        grad += self._prior_prec * diff
        return float(value), grad

    def jacobian(self, theta: np.ndarray, *, z=None, inv_sigma=None, qa=None) -> sp.csr_matrix:
        """Sparse Jacobian dz/dtheta (rows x parameters), at most 5 non-zeros per row."""
        if z is None:
            z, inv_sigma, qa = self._rows(theta)
        d = self.data
        n, r = self.n_options, d.n_rows
        cols = [d.a, d.b]
        vals = [inv_sigma, -inv_sigma]
        if self.free_variance:
            cols += [n + d.a, n + d.b]
            vals += [-0.5 * z * qa, -0.5 * z * (1.0 - qa)]
        if self.order_effect:
            cols.append(np.full(r, self.n_params - 1))
            vals.append(self._s * inv_sigma)
        k = len(cols)
        indices = np.stack(cols, axis=1).ravel()
        data = np.stack(vals, axis=1).ravel()
        indptr = np.arange(0, k * r + 1, k)
        return sp.csr_matrix((data, indices, indptr), shape=(r, self.n_params))

    def gauss_newton(self, theta: np.ndarray):
        """Return ``(J, w, prior_precision)``: the Fisher information is ``J.T diag(w) J + diag(prior)``."""
        z, inv_sigma, qa = self._rows(theta)
        jac = self.jacobian(theta, z=z, inv_sigma=inv_sigma, qa=qa)
        return jac, self.fisher_weights(z), self._prior_prec

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """Exact Hessian of the negative log-posterior (dense; for standard errors)."""
        z, inv_sigma, qa = self._rows(theta)
        _, dz, neg_d2z = self._link_terms(z)
        jac = self.jacobian(theta, z=z, inv_sigma=inv_sigma, qa=qa)
        h = (jac.T @ sp.diags(neg_d2z) @ jac).toarray()
        if self.free_variance:
            # Second derivatives of z, weighted by -dl/dz.
            d, n = self.data, self.n_options
            qb = 1.0 - qa
            g = -dz
            la, lb = n + d.a, n + d.b
            rows, cols, vals = [], [], []

            def add(i, j, v, symmetric=True):
                rows.append(i), cols.append(j), vals.append(v)
                if symmetric:
                    rows.append(j), cols.append(i), vals.append(v)

            add(d.a, la, g * (-0.5 * qa * inv_sigma))
            add(d.a, lb, g * (-0.5 * qb * inv_sigma))
            add(d.b, la, g * (0.5 * qa * inv_sigma))
            add(d.b, lb, g * (0.5 * qb * inv_sigma))
            add(la, la, g * z * (0.25 * qa * qa - 0.5 * qa * qb), symmetric=False)
            add(lb, lb, g * z * (0.25 * qb * qb - 0.5 * qa * qb), symmetric=False)
            add(la, lb, g * z * 0.75 * qa * qb)
            if self.order_effect:
                gi = np.full(d.n_rows, self.n_params - 1)
                add(gi, la, g * (-0.5 * qa * inv_sigma * self._s))
                add(gi, lb, g * (-0.5 * qb * inv_sigma * self._s))
            second = sp.coo_matrix(
                (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                shape=(self.n_params, self.n_params),
            )
            h += second.toarray()
        h[np.diag_indices_from(h)] += self._prior_prec
        return h

    def predict(self, theta: np.ndarray, data: ComparisonData) -> np.ndarray:
        """P(A preferred) for each row of ``data`` (codes must match this likelihood's options)."""
        other = PairwiseLikelihood(data, link=self.link, free_variance=self.free_variance,
                                   order_effect=self.order_effect, prior=None)
        z, _, _ = other._rows(theta)
        return _cdf(z, self.link)


def _cdf(z: np.ndarray, link: str) -> np.ndarray:
    return np.exp(log_ndtr(z)) if link == "probit" else expit(z)
