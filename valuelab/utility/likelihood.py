"""Likelihood of pairwise choice counts under Thurstonian and Bradley–Terry models.

Parameters are packed into one vector ``theta = [mu (N), log_var (N, free variances only),
gamma (1, order effect only)]``. For row ``r`` comparing options ``a`` and ``b``::

    z_r = (mu_a - mu_b + gamma * s_r) / sqrt(var_a + var_b)       (probit, free variances)
    z_r = mu_a - mu_b + gamma * s_r                                 (fixed scale)
    P(A preferred) = F(z_r),  F = standard normal cdf (probit) or logistic (logit)

with ``s_r`` = +1 when A was shown first, -1 when B was. In the fixed-scale probit model
(Thurstone case V) every option has variance 1/2, so the pair has unit scale. The
log-likelihood is binomial in the counts, ``n_a log F(z) + n_b log F(-z)``.

A row of unknown order (``s_r = 0``: it pools answers from both orders, or nobody recorded
the order) is, when the order effect is estimated, a binomial whose success probability is
the average over the two orders, ``p_r = (F(z_r^+) + F(z_r^-)) / 2`` with
``z^± = (mu_a - mu_b ± gamma) / sigma``. That is the exact likelihood when each answer's
order was an independent fair coin, and for a row that pools equally many answers of each
order its score equations are still unbiased (the mean of the pooled count is ``n p_r``
either way), so the order effect is estimated without bias; the binomial variance
``n p_r (1 - p_r)`` is then slightly larger than the pooled rows' true variance, which makes
model-based standard errors a little conservative [2]_. Splitting such a row into two
half-weight rows of known order, as valuelab 0.1 did, is *not* this likelihood: it treats the
pooled share as if it had been observed in each order and halves the order effect's
estimate when half of the rows are pooled.

Internally an unknown-order row becomes two *virtual* rows (one per order, half its counts
each, so counts per option and per pair stay right) whose derivatives are those of the
mixture: the gradient and Hessian of ``log p_r`` are written in the virtual rows' Jacobians
``J^±`` as ``grad log p_r = sum_± w^± J^±`` with ``w^± = f(z^±) / (2 p_r)``, plus a rank-one
term per pooled row for the curvature of the mixture.

References
----------
.. [1] Agresti, A. (2013). *Categorical Data Analysis*, 3rd ed., §11.6 (order effects in
   paired comparisons). Wiley.
.. [2] McCullagh, P. and Nelder, J. A. (1989). *Generalized Linear Models*, 2nd ed.,
   ch. 9 (quasi-likelihood: unbiased estimating equations with a misspecified variance).
   Chapman & Hall.

Everything is vectorised over rows: per-row quantities are scattered onto parameters with
``np.bincount`` or a sparse Jacobian, never with a Python loop over pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, log_expit, log_ndtr, ndtr, ndtri

from ..schema import ComparisonData, appearance_codes
from .optimize import _dot, _pcg

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)
_LOG_2 = np.log(2.0)
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


@dataclass(frozen=True)
class Prior:
    """Independent Gaussian priors that turn the MLE into a MAP estimate.

    Parameters
    ----------
    mean_sd : float, default 10.0
        Prior ``mu_i ~ N(0, mean_sd**2)``.
    log_variance_mean, log_variance_sd : float, default 0.0, 1.5
        Prior ``log sigma_i**2 ~ N(log_variance_mean, log_variance_sd**2)``.
    order_effect_sd : float or None, default 3.0
        Prior on the order effect ``gamma ~ N(0, order_effect_sd**2)``; None leaves it flat.

    Notes
    -----
    The prior on the means exists to keep options that win (or lose) every comparison
    from running off to infinity, which is what makes the unregularised MLE overfit (their
    held-out log loss grows without bound). It should do nothing else. With per-option
    utilities of unit variance a pair's choice probability is ``Phi((mu_a - mu_b) /
    sqrt(2))``; a probit likelihood's pull on a separated option decays like
    ``exp(-x**2 / 2)``, so even ``mean_sd = 10`` stops it about three units beyond the
    options it beat (a logit pull decays like ``exp(-x)``: about five units). A narrower
    prior also shrinks options that are merely far from the middle: with ``mean_sd = 3``
    the ends of a realistic scale (options 8 units from its centre) were pulled in far
    enough to bias exchange rates by -0.44 standard errors (-0.12 with ``mean_sd = 10``;
    ``tests/calib_coherence.py``). Choosing the width from the data (empirical Bayes) does
    not help for free variances: the evidence trades narrower means against wider
    variances and picks an sd near 1.5 on that design.

    References
    ----------
    .. [1] Gelman, A., Jakulin, A., Pittau, M. G. and Su, Y.-S. (2008). A weakly informative
       default prior distribution for logistic and other regression models. *Annals of
       Applied Statistics* 2(4), 1360–1383.
    """

    mean_sd: float = 10.0
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
        self.source = data
        self._mix = None
        if order_effect and np.any(data.first == 0):
            data, self._mix = _expand_unknown_order(data)
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
        self._cache = None
        self._operators: dict = {}

    @property
    def exact_is_convex(self) -> bool:
        """With a fixed scale the negative log-likelihood is convex (log-concave links), unless
        rows of unknown order make it a mixture over the two orders."""
        return not self.free_variance and self._mix is None

    @property
    def n_pooled_rows(self) -> int:
        """Rows of unknown order fitted as a mixture of the two orders."""
        return 0 if self._mix is None else len(self._mix[0])

    def gauge_directions(self, theta: np.ndarray) -> np.ndarray:
        """Unit columns along which the likelihood alone is flat: a common shift of the means
        and, with free variances, a joint rescaling (means and gamma times c, variances
        times c^2)."""
        n, p = self.n_options, self.n_params
        shift = np.zeros(p)
        shift[:n] = 1.0
        cols = [shift]
        if self.free_variance:
            scale = np.zeros(p)
            scale[:n] = theta[:n]
            scale[n : 2 * n] = 2.0
            if self.order_effect:
                scale[-1] = theta[-1]
            cols.append(scale)
        return np.column_stack([c / np.linalg.norm(c) for c in cols])

    def gauge_eigenvalues(self, theta: np.ndarray) -> np.ndarray:
        """Eigenvalues of the Hessian (exact or Fisher) along :meth:`gauge_directions`, NaN
        where the direction is not an eigenvector.

        The likelihood ignores a common shift of the means, so its Hessian annihilates the
        shift direction; a prior of the same precision on every mean adds that precision.
        The rescaling direction is no eigenvector (its curvature comes from the likelihood's
        gradient along the curved orbit), so it stays NaN.
        """
        k = 2 if self.free_variance else 1
        out = np.full(k, np.nan)
        if self.prior is not None:
            out[0] = self._prior_prec[0]
        return out

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

    def initial(self, *, max_cg: int = 50) -> np.ndarray:
        """Starting values: Mosteller's least-squares solution on the empirical z scores.

        Each row's observed share is mapped to the z scale (``Phi^-1`` or logit of
        ``(n_a + 1/2) / (n + 1)``) and the means (and order effect) are fitted to those
        scores by weighted least squares over the comparison graph, a Laplacian system
        solved by conjugate gradients. Variances start at the prior mean (or 1).

        References
        ----------
        .. [1] Mosteller, F. (1951). Remarks on the method of paired comparisons: I. The
           least squares solution assuming equal standard deviations and equal
           correlations. *Psychometrika* 16(1), 3–9.
        """
        theta = np.zeros(self.n_params)
        n = self.n_options
        log_var = 0.0
        if self.free_variance:
            log_var = self.prior.log_variance_mean if self.prior is not None else 0.0
            theta[n : 2 * n] = log_var
        share = (self.data.n_a + 0.5) / (self._w + 1.0)
        y = ndtri(share) if self.link == "probit" else np.log(share / (1.0 - share))
        if self.free_variance:
            y = y * np.sqrt(2.0 * np.exp(log_var))
        u = self._row_operator("u")
        ut = u.T
        idx = np.r_[np.arange(n), [self.n_params - 1]] if self.order_effect else np.arange(n)
        # Weighted least squares with a tiny ridge for the location (a Laplacian system).
        ridge = np.maximum(self._prior_prec[idx], 1e-6)
        w = self._w

        def apply(v):
            full = np.zeros(self.n_params)
            full[idx] = v
            return (ut @ (w * (u @ full)))[idx] + ridge * v

        d = self.data
        jdiag = np.bincount(d.a, w, self.n_params) + np.bincount(d.b, w, self.n_params)  # diag(U' W U)
        if self.order_effect:
            jdiag[-1] = float(np.sum(w * self._s**2))
        jdiag = jdiag[idx] + ridge
        rhs = (ut @ (w * y))[idx]
        x, _, _ = _pcg(apply, rhs, lambda r: r / jdiag, rtol=1e-3, maxiter=max_cg)
        theta[idx] = x
        theta[:n] -= theta[:n].mean()
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
            var = np.exp(theta[n : 2 * n])  # per option, then gathered: n exponentials, not 2 per row
            va = var[d.a]
            vb = var[d.b]
            vs = va + vb
            inv_sigma = 1.0 / np.sqrt(vs)
            qa = va / vs
        else:
            inv_sigma = np.ones_like(num)
            qa = None
        return num * inv_sigma, inv_sigma, qa

    def _link_terms(self, z: np.ndarray):
        """Per row: log-likelihood, d/dz, -d2/dz2 (observed) and the Fisher weight."""
        na, nb = self.data.n_a, self.data.n_b
        if self.link == "probit":
            lp, lq, m1, m2 = _probit_terms(z)  # log Phi(z), log Phi(-z), phi/Phi(z), phi/Phi(-z)
            ll = na * lp + nb * lq
            dz = na * m1 - nb * m2
            neg_d2z = na * m1 * (z + m1) + nb * m2 * (m2 - z)
            fisher = self._w * m1 * m2  # n phi^2 / (Phi(z) Phi(-z))
        else:
            lp, lq = log_expit(z), log_expit(-z)
            p = expit(z)
            ll = na * lp + nb * lq
            dz = na * (1.0 - p) - nb * p
            neg_d2z = (na + nb) * p * (1.0 - p)
            fisher = neg_d2z.copy()
        return ll, dz, neg_d2z, fisher

    def _mixture_terms(self, z: np.ndarray, ll, dz, neg_d2z, fisher):
        """Overwrite the virtual rows' terms with those of the two-order mixture (in place).

        For a pooled row with ``p = (F(z+) + F(z-)) / 2``: ``d log L / dz± = n_a w± - n_b v±``
        with ``w± = f(z±) / (2 p)`` and ``v± = f(z±) / (2 (1 - p))``; the virtual rows carry
        that slope and the curvature ``-(d log L / dz±) f'(z±) / f(z±)``, and the rank-one
        parts ``n_a a a' + n_b b b'`` (``a = sum w± J±``, ``b = sum v± J±``) of the exact
        Hessian and ``n g g'`` (``g = sum k± J±``, ``k± = f(z±) / (2 sqrt(p (1 - p)))``) of the
        Fisher information are returned for :meth:`_mixture_operators`. Everything is
        computed from logs, so tails far beyond 1e-300 stay finite.
        """
        ip, im, na, nb = self._mix
        zp, zm = z[ip], z[im]
        if self.link == "probit":
            lf_p, lq_p, lf_m, lq_m = log_ndtr(zp), log_ndtr(-zp), log_ndtr(zm), log_ndtr(-zm)
            ldens_p, ldens_m = -0.5 * zp * zp - _LOG_SQRT_2PI, -0.5 * zm * zm - _LOG_SQRT_2PI
            ratio_p, ratio_m = -zp, -zm  # f'/f
        else:
            lf_p, lq_p, lf_m, lq_m = log_expit(zp), log_expit(-zp), log_expit(zm), log_expit(-zm)
            ldens_p, ldens_m = lf_p + lq_p, lf_m + lq_m
            ratio_p, ratio_m = np.tanh(-0.5 * zp), np.tanh(-0.5 * zm)
        log_p = np.logaddexp(lf_p, lf_m) - _LOG_2
        log_q = np.logaddexp(lq_p, lq_m) - _LOG_2
        w_p, w_m = np.exp(ldens_p - _LOG_2 - log_p), np.exp(ldens_m - _LOG_2 - log_p)
        v_p, v_m = np.exp(ldens_p - _LOG_2 - log_q), np.exp(ldens_m - _LOG_2 - log_q)
        half_lpq = 0.5 * (log_p + log_q)
        k_p, k_m = np.exp(ldens_p - _LOG_2 - half_lpq), np.exp(ldens_m - _LOG_2 - half_lpq)
        ll[ip] = _xlogy(na, log_p) + _xlogy(nb, log_q)
        ll[im] = 0.0
        d_p, d_m = na * w_p - nb * v_p, na * w_m - nb * v_m
        dz[ip], dz[im] = d_p, d_m
        neg_d2z[ip], neg_d2z[im] = -d_p * ratio_p, -d_m * ratio_m
        n = na + nb
        # only a preconditioner reads these: the diagonal blocks of n g g', split over the rows
        fisher[ip], fisher[im] = n * k_p * (k_p + k_m), n * k_m * (k_p + k_m)
        return {"w": (w_p, w_m), "v": (v_p, v_m), "k": (k_p, k_m), "n_a": na, "n_b": nb, "n": n}

    def _state(self, theta: np.ndarray):
        """Row quantities at theta, cached for the last parameter vector seen."""
        cached = self._cache
        if cached is not None and cached[0].shape == theta.shape and np.array_equal(cached[0], theta):
            return cached[1]
        z, inv_sigma, qa = self._rows(theta)
        ll, dz, neg_d2z, fisher = self._link_terms(z)
        mix = self._mixture_terms(z, ll, dz, neg_d2z, fisher) if self._mix is not None else None
        state = (z, inv_sigma, qa, ll, dz, neg_d2z, fisher, mix)
        self._cache = (theta.copy(), state)
        return state

    def _mixture_operators(self, theta: np.ndarray):
        """Sparse rows (pooled rows x parameters) ``a``, ``b`` and ``g`` of :meth:`_mixture_terms`."""
        mix = self._state(theta)[7]
        ip, im = self._mix[0], self._mix[1]
        jac = self.jacobian(theta)
        jp, jm = jac[ip], jac[im]

        def combine(c):
            return (sp.diags(c[0]) @ jp + sp.diags(c[1]) @ jm).tocsr()

        return combine(mix["w"]), combine(mix["v"]), combine(mix["k"]), mix

    # ------------------------------------------------------------------ objective
    def loglike(self, theta: np.ndarray) -> float:
        """Log-likelihood (no prior)."""
        return float(self._state(theta)[3].sum())

    def value_and_grad(self, theta: np.ndarray):
        """Negative log-posterior and its gradient."""
        z, inv_sigma, qa, ll, dz = self._state(theta)[:5]
        grad = self._scatter(-dz, z, inv_sigma, qa)
        diff = theta - self._prior_mean
        value = -ll.sum() + 0.5 * float(np.sum(self._prior_prec * diff * diff))
        grad += self._prior_prec * diff
        return float(value), grad

    def _scatter(self, u, z, inv_sigma, qa) -> np.ndarray:
        """``J' u`` computed with bincount (no matrix is built)."""
        d, n = self.data, self.n_options
        out = np.empty(self.n_params)
        um = u * inv_sigma
        out[:n] = np.bincount(d.a, um, n) - np.bincount(d.b, um, n)
        if self.free_variance:
            uz = -0.5 * u * z
            out[n : 2 * n] = np.bincount(d.a, uz * qa, n) + np.bincount(d.b, uz * (1.0 - qa), n)
        if self.order_effect:
            out[-1] = _dot(um, self._s)
        return out

    def jacobian(self, theta: np.ndarray) -> sp.csr_matrix:
        """Sparse Jacobian dz/dtheta (rows x parameters), at most 5 non-zeros per row."""
        z, inv_sigma, qa = self._state(theta)[:3]
        u = self._row_operator("u")
        if not self.free_variance:
            return sp.diags(inv_sigma) @ u
        lam = self._row_operator("l", qa)
        return sp.diags(inv_sigma) @ u - sp.diags(0.5 * z) @ lam

    def _row_operator(self, kind: str, qa: np.ndarray | None = None) -> sp.csr_matrix:
        """Sparse row operators (rows x parameters) in which z and its derivatives are written.

        ``u``: mean difference (+1 at a, -1 at b, s at gamma); ``l``: ``qa`` at log_var_a and
        ``qb`` at log_var_b.
        """
        d, n, r = self.data, self.n_options, self.data.n_rows
        if kind not in self._operators:
            if kind == "u":
                cols = [d.a, d.b] + ([np.full(r, self.n_params - 1)] if self.order_effect else [])
                vals = [np.ones(r), -np.ones(r)] + ([self._s] if self.order_effect else [])
            else:
                cols = [n + d.a, n + d.b]
                vals = [np.ones(r), -np.ones(r)]
            k = len(cols)
            idx_type = np.int32 if self.n_params < 2**31 - 1 else np.int64
            indices = np.stack(cols, axis=1).ravel().astype(idx_type)
            indptr = np.arange(0, k * r + 1, k, dtype=idx_type)
            data = np.stack(vals, axis=1).ravel()
            op = sp.csr_matrix((r, self.n_params))
            op.data, op.indices, op.indptr = data, indices, indptr
            self._operators[kind] = op
        op = self._operators[kind]
        if kind == "l":
            op = op.copy()
            op.data = np.stack([qa, 1.0 - qa], axis=1).ravel()
        return op

    def _pairs(self):
        """Rows grouped by pair: rows of one pair differ only in presentation order.

        Returns ``(row_pair, pair_rep)``: the pair index of each row and one representative
        row per pair. Rows come oriented alike from :func:`prepare_comparisons`. When every
        row is its own pair (one row per pair, e.g. orders pooled and no order effect) the
        pairs are the rows, in their order, so per-pair sums need no scatter.
        """
        if "pairs" not in self._operators:
            d = self.data
            key = d.a.astype(np.int64) * self.n_options + d.b
            row_pair, rep = appearance_codes(key, size=self.n_options**2)
            if len(rep) == d.n_rows:
                rep = row_pair = np.arange(d.n_rows)
            self._operators["pairs"] = (row_pair.ravel(), rep)
        return self._operators["pairs"]

    def _pairs_are_rows(self) -> bool:
        row_pair, rep = self._pairs()
        return len(rep) == self.data.n_rows

    def newton_system(self, theta: np.ndarray):
        """Hessian-vector products at ``theta`` for Newton–CG.

        Per row, the Hessian of ``-log L`` lies in the span of three row operators: with
        ``u = e_a - e_b + s e_gamma``, ``l = qa e_la + qb e_lb``, ``m = e_la - e_lb`` and
        ``J = u / sigma - (z / 2) l``,
        ``H_r = c J J' + g [-(u l' + l u') / (2 sigma) + (z / 4) l l' - (z qa qb / 2) m m']``
        where ``c = -d2 log L / dz2`` and ``g = -d log L / dz``. Rows of the same pair (its
        presentation orders) share ``l`` and ``m`` and differ in ``u`` only through
        ``s``, so their 3x3 blocks are summed per pair (with ``s``-weighted sums for the
        order-effect parameter): each product gathers and scatters over pairs.

        Returns
        -------
        exact : callable
            ``v -> H v`` with ``H`` the exact Hessian of the negative log-posterior (may be
            indefinite far from the optimum).
        fisher : callable
            ``v -> F v`` with ``F`` the expected (Fisher) information plus the prior
            precision: always positive semi-definite.
        precond : callable
            ``v -> M^-1 v`` with ``M`` the per-option 2x2 blocks of ``F`` (mean and
            log-variance of the same option): a preconditioner for either system.
        """
        z, inv_sigma, qa, _, dz, neg_d2z, w_fisher = self._state(theta)[:7]
        prior = self._prior_prec
        precond = self._block_preconditioner(w_fisher, z, inv_sigma, qa)
        row_pair, rep = self._pairs()
        k, n_opt = len(rep), self.n_options
        identity = self._pairs_are_rows()
        pa, pb = (self.data.a, self.data.b) if identity else (self.data.a[rep], self.data.b[rep])
        qa_pair = (qa if identity else qa[rep]) if self.free_variance else None
        s = self._s if self.order_effect else None
        g = -dz

        def pair_sum(x):
            return x if identity else np.bincount(row_pair, x, k)

        def make(c, g, with_m):
            """Hessian-vector product for curvature c and slope g (blocks built on first use)."""
            blocks = {}

            def build():
                uu = c * inv_sigma**2
                blocks["uu"] = pair_sum(uu)
                if s is not None:
                    blocks["s_uu"], blocks["ss_uu"] = pair_sum(s * uu), float(np.sum(s * s * uu))
                if self.free_variance:
                    cz = c * z + g
                    ul = -0.5 * inv_sigma * cz
                    blocks["ul"], blocks["ll"] = pair_sum(ul), pair_sum(0.25 * z * cz)
                    if s is not None:
                        blocks["s_ul"] = pair_sum(s * ul)
                    if with_m:
                        blocks["mm"] = pair_sum(-0.5 * g * z * qa * (1.0 - qa))

            def hv(v):
                # the pair operators d (e_a - e_b on the means), l (qa e_la + qb e_lb) and
                # m (e_la - e_lb) applied by gathers, their transposes by bincounts
                if not blocks:
                    build()
                mu = v[:n_opt]
                y_d = mu[pa] - mu[pb]
                w_d = blocks["uu"] * y_d
                if s is not None:
                    vg = v[-1]
                    w_d += blocks["s_uu"] * vg
                    gamma_out = _dot(blocks["s_uu"], y_d) + blocks["ss_uu"] * vg
                out = prior * v
                if self.free_variance:
                    lv = v[n_opt : 2 * n_opt]
                    lb = lv[pb]
                    y_m = lv[pa] - lb
                    y_l = lb + qa_pair * y_m
                    w_d += blocks["ul"] * y_l
                    w_l = blocks["ul"] * y_d
                    w_l += blocks["ll"] * y_l
                    if s is not None:
                        w_l += blocks["s_ul"] * vg
                        gamma_out += _dot(blocks["s_ul"], y_l)
                    to_b = w_l - qa_pair * w_l  # qb w_l
                    to_a = w_l - to_b
                    if with_m:
                        w_m = blocks["mm"] * y_m
                        to_a += w_m
                        to_b -= w_m
                    out[n_opt : 2 * n_opt] += np.bincount(pa, to_a, n_opt) + np.bincount(pb, to_b, n_opt)
                out[:n_opt] += np.bincount(pa, w_d, n_opt) - np.bincount(pb, w_d, n_opt)
                if s is not None:
                    out[-1] += gamma_out
                return out

            return hv

        if self._mix is None:
            if not self.free_variance:
                # Fixed scale: z is linear in theta, so the exact Hessian is J' diag(-l'') J.
                return make(neg_d2z, None, False), make(w_fisher, None, False), precond
            return make(neg_d2z, g, True), make(w_fisher, 0.0, False), precond
        # Pooled rows: their virtual rows carry no Fisher weight of their own; the mixture's
        # curvature is the rank-one part added here.
        a_op, b_op, g_op, mix = self._mixture_operators(theta)
        virtual = np.zeros(len(w_fisher), bool)
        virtual[self._mix[0]] = virtual[self._mix[1]] = True
        w_rows = np.where(virtual, 0.0, w_fisher)
        base_exact = make(neg_d2z, g if self.free_variance else None, self.free_variance)
        base_fisher = make(w_rows, 0.0 if self.free_variance else None, False)
        at, bt, gt = a_op.T.tocsr(), b_op.T.tocsr(), g_op.T.tocsr()
        na, nb, n = mix["n_a"], mix["n_b"], mix["n"]

        def exact(v):
            return base_exact(v) + at @ (na * (a_op @ v)) + bt @ (nb * (b_op @ v))

        def fisher(v):
            return base_fisher(v) + gt @ (n * (g_op @ v))

        return exact, fisher, precond

    def _block_preconditioner(self, w, z, inv_sigma, qa):
        """Inverse of the per-option 2x2 blocks (mean, log-variance) of the Fisher information.

        A mean and its own variance are strongly coupled (raising both keeps many pairs'
        z unchanged), so a diagonal preconditioner leaves CG badly conditioned; the 2x2
        blocks capture that coupling.
        """
        d, n = self.data, self.n_options
        ridge = 1e-12
        wm = w * inv_sigma * inv_sigma
        f_mm = np.bincount(d.a, wm, n) + np.bincount(d.b, wm, n) + self._prior_prec[:n] + ridge
        tail = None
        if self.order_effect:
            tail = float(np.sum(wm * self._s**2)) + self._prior_prec[-1] + ridge
        if not self.free_variance:
            inv_mm = 1.0 / f_mm

            def apply(v):
                out = np.empty_like(v)
                out[:n] = inv_mm * v[:n]
                if tail is not None:
                    out[-1] = v[-1] / tail
                return out

            return apply
        qb = 1.0 - qa
        za, zb = -0.5 * z * qa, -0.5 * z * qb
        f_ll = np.bincount(d.a, w * za * za, n) + np.bincount(d.b, w * zb * zb, n) + self._prior_prec[n : 2 * n] + ridge
        f_ml = np.bincount(d.a, w * inv_sigma * za, n) - np.bincount(d.b, w * inv_sigma * zb, n)
        det = f_mm * f_ll - f_ml * f_ml
        det = np.where(det > 1e-12 * f_mm * f_ll, det, f_mm * f_ll)  # fall back to the diagonal
        i_mm, i_ll, i_ml = f_ll / det, f_mm / det, -f_ml / det

        def apply(v):
            out = np.empty_like(v)
            vm, vl = v[:n], v[n : 2 * n]
            out[:n] = i_mm * vm + i_ml * vl
            out[n : 2 * n] = i_ml * vm + i_ll * vl
            if tail is not None:
                out[-1] = v[-1] / tail
            return out

        return apply

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """Exact Hessian of the negative log-posterior (dense; for standard errors)."""
        z, inv_sigma, qa, _, dz, neg_d2z = self._state(theta)[:6]
        jac = self.jacobian(theta)
        h = (jac.T @ sp.diags(neg_d2z) @ jac).toarray()
        if self._mix is not None:
            a_op, b_op, _, mix = self._mixture_operators(theta)
            h += (a_op.T @ sp.diags(mix["n_a"]) @ a_op + b_op.T @ sp.diags(mix["n_b"]) @ b_op).toarray()
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
        """P(A preferred) for each row of ``data`` (codes must match this likelihood's options).

        With an order effect, a row of unknown order (``first == 0``) gets the average of the
        probabilities in the two presentation orders.
        """
        def p(first):
            d = ComparisonData(data.options, data.a, data.b, data.n_a, data.n_b, first)
            other = PairwiseLikelihood(d, link=self.link, free_variance=self.free_variance,
                                       order_effect=self.order_effect, prior=None)
            return _cdf(other._rows(theta)[0], self.link)

        if not self.order_effect or np.all(data.first != 0):
            return p(data.first)
        unknown = data.first == 0
        ab = p(np.where(unknown, 1, data.first).astype(np.int8))
        ba = p(np.where(unknown, -1, data.first).astype(np.int8))
        return np.where(unknown, 0.5 * (ab + ba), ab)


def _expand_unknown_order(data: ComparisonData):
    """Each unknown-order row becomes an A-first row (in its place) and a B-first row (appended),
    half its counts each; returns the expanded data and ``(plus_rows, minus_rows, n_a, n_b)``."""
    unknown = np.flatnonzero(data.first == 0)
    half = np.ones(data.n_rows)
    half[unknown] = 0.5
    cat = np.concatenate
    expanded = ComparisonData(
        data.options,
        cat([data.a, data.a[unknown]]), cat([data.b, data.b[unknown]]),
        cat([data.n_a * half, 0.5 * data.n_a[unknown]]), cat([data.n_b * half, 0.5 * data.n_b[unknown]]),
        cat([np.where(data.first == 0, 1, data.first), np.full(unknown.size, -1)]).astype(np.int8),
    )
    minus = data.n_rows + np.arange(unknown.size)
    return expanded, (unknown, minus, data.n_a[unknown].astype(float), data.n_b[unknown].astype(float))


def _xlogy(x: np.ndarray, log_y: np.ndarray) -> np.ndarray:
    """``x * log_y`` with ``0 * log 0 = 0``."""
    with np.errstate(invalid="ignore"):
        return np.where(x == 0, 0.0, x * log_y)


def _probit_terms(z: np.ndarray):
    """``log Phi(z)``, ``log Phi(-z)``, ``phi(z)/Phi(z)`` and ``phi(z)/Phi(-z)``, accurately.

    One call to ``ndtr`` on ``-|z|`` gives the smaller tail to full relative precision and
    the larger one as its complement; this is three times faster than two ``log_ndtr``
    calls. Tails below 1e-290 (``|z|`` beyond about 36) go through ``log_ndtr``.
    """
    tail = ndtr(-np.abs(z))
    pos = z >= 0
    big = 1.0 - tail
    p = np.where(pos, big, tail)
    q = np.where(pos, tail, big)
    phi = np.exp(-0.5 * z * z) * _INV_SQRT_2PI
    with np.errstate(divide="ignore", invalid="ignore"):
        lp, lq = np.log(p), np.log(q)
        m1, m2 = phi / p, phi / q
    extreme = tail < 1e-290
    if extreme.any():
        ze = z[extreme]
        lpe, lqe = log_ndtr(ze), log_ndtr(-ze)
        log_phi = -0.5 * ze * ze - _LOG_SQRT_2PI
        lp[extreme], lq[extreme] = lpe, lqe
        m1[extreme], m2[extreme] = np.exp(log_phi - lpe), np.exp(log_phi - lqe)
    return lp, lq, m1, m2


def _cdf(z: np.ndarray, link: str) -> np.ndarray:
    return np.exp(log_ndtr(z)) if link == "probit" else expit(z)
