"""Standard errors of a utility fit at any scale: the information matrix is never inverted.

A fit reports the diagonal of the covariance of its standardised parameters, ``J H^-1 J'``
(Wald) or ``J H^-1 M H^-1 J'`` (the jackknife sandwich, ``M`` the meat), with ``H`` the Hessian
of the negative log-posterior and ``J`` the Jacobian of the standardisation. The dense route
(:class:`DenseCovariance`) inverts ``H``: time grows as the cube of the number of options and
memory as the square. :class:`ScalableCovariance` never forms a dense matrix; its cost grows
with the number of compared pairs.

Method
------
1. ``H`` in the blocks of the comparison graph (:func:`hessian_blocks`, one pass over the
   rows): a block per option (its mean and log-variance, the prior included), a block per
   compared pair, and the order effect's column.
2. Everything but the local part is exact. ``J = R + U V' + g e_gamma'``: one entry per row
   (``R``), a rank-2 part (the centring and scaling by the means) and the order effect's
   column. Eliminating the order effect, ``H^-1 = [[K^-1 + y y'/s, -y/s], [-y'/s, 1/s]]`` with
   ``K`` the options' block, ``y = K^-1 h`` and ``s`` the Schur complement; and
   ``K^-1 = Z + W E^-1 W'`` with ``W`` the gauge directions (the common shift of the means, an
   exact eigenvector of ``H``; the joint rescaling) and ``Z`` the deflated inverse. Every term
   of the diagonal but ``R Z R'`` is then low-rank, and computed from deflated,
   preconditioned conjugate-gradient solves [4]_ (two for Wald; seven for the sandwich).
3. The local part, the diagonal blocks of ``Z``, comes from Gaussian belief propagation on
   ``K``'s block graph (:func:`cavity`, the cavity method) [1]_, [2]_: exact on a tree, the
   Bethe approximation on a graph with cycles. For the sandwich the diagonal of ``Z M Z`` is
   the linear response of belief propagation to the meat's pair blocks [3]_ (a complex
   step [5]_), and each pair's leverage block comes from belief propagation's pair marginals.

Accuracy: only step 3 approximates. Belief propagation is accurate to well under 1% on the
Laplacian-like information of case V and Bradley-Terry fits. With free variances the
log-variances are weakly pinned and the error of the Bethe approximation does not shrink with
the degree of the graph. A few options at an end of the scale, whose only informative
comparisons are with each other, can form triangles of strong couplings where it
underestimates the variance by a tenth; those options' marginals are recomputed exactly on
their strongly coupled neighbourhood (:func:`correct_short_cycles`, a region of generalised
belief propagation). Measured against the dense route on simulated agents at 2,000 options
(2 N log2 N pairs less 20% held out, 10 answers per order): over twelve data sets the
largest error of any standard error is 1.1-1.9% and the mean error 0.15%; on other shapes
at 2,000 options 0.9% (5 answers per order), 1.0% (variances spread twice as wide), 1.6%
(the sandwich, shares read as probabilities), 1.8% (one answer per order), 2.05% (one
presentation order per pair) and 2.1% (60,000 pairs); at 1,000 options 1.9-3.2%; at 500
options 3.2-4.9%, where ``se_method="auto"`` takes the dense route anyway up to 1,500
parameters. 95% intervals cover the standardised truth at the nominal rate (94.95% of 10,000 options). There is no guaranteed bound:
stochastic estimators of the diagonal (Hutchinson; Bekas, Kokiopoulou and Saad [6]_) were
measured at 80% relative noise per probe here (14% after probing the neighbours apart [7]_),
far from a useful bound at this cost, and a truncated Neumann series in the
block-Jacobi-scaled matrix fails because its spectrum reaches 0.9 in absolute value (about
150 of 1,000 eigenvalues beyond 0.5 at 500 options).
:meth:`ScalableCovariance.rows_covariance` (``ThurstonianResult.covariance_of``) is exact for
the options a contrast needs (one solve per row).

Cost at 10,000 options and a million pairs: 12-19 plain loss-and-gradient passes as measured
on a shared machine (belief propagation 5-7 sweeps over the pairs, two CG solves); the whole
default fit peaks at about 1 GB.

References
----------
.. [1] Weiss, Y. and Freeman, W. T. (2001). Correctness of belief propagation in Gaussian
   graphical models of arbitrary topology. *Neural Computation* 13(10), 2173-2200.
.. [2] Malioutov, D. M., Johnson, J. K. and Willsky, A. S. (2006). Walk-sums and belief
   propagation in Gaussian graphical models. *Journal of Machine Learning Research* 7,
   2031-2064.
.. [3] Welling, M. and Teh, Y. W. (2004). Linear response algorithms for approximate
   inference in graphical models. *Neural Computation* 16(1), 197-221.
.. [4] Saad, Y., Yeung, M., Erhel, J. and Guyomarc'h, F. (2000). A deflated version of the
   conjugate gradient algorithm. *SIAM J. Sci. Comput.* 21(5), 1909-1926.
.. [5] Squire, W. and Trapp, G. (1998). Using complex variables to estimate derivatives of
   real functions. *SIAM Review* 40(1), 110-112.
.. [6] Bekas, C., Kokiopoulou, E. and Saad, Y. (2007). An estimator for the diagonal of a
   matrix. *Applied Numerical Mathematics* 57(11-12), 1214-1229.
.. [7] Tang, J. M. and Saad, Y. (2012). A probing method for computing the diagonal of a
   matrix inverse. *Numerical Linear Algebra with Applications* 19(3), 485-501.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .likelihood import PairwiseLikelihood
from .optimize import _pcg
from .uncertainty import standardise

__all__ = ["ScalableCovariance", "DenseCovariance", "HessianBlocks", "hessian_blocks", "dense_hessian", "Cavity",
           "cavity", "couplings", "correct_short_cycles", "OptionSystem", "JacobianParts", "jacobian_parts",
           "PairScores"]


@dataclass
class HessianBlocks:
    """The Hessian of the negative log-posterior in the blocks of the comparison graph.

    Option ``i`` owns ``q`` parameters (its mean, and its log-variance when variances are
    free); ``index[i]`` lists their positions in ``theta``. The Hessian is

    * ``diag[i]``: the ``q x q`` block of option ``i`` (prior included);
    * ``cross[c]``: the ``q x q`` block between the options ``pa[c]`` (rows) and ``pb[c]``
      (columns) of pair ``c``;
    * ``h``, ``h_gg``: the order effect's column (length ``n_params``, zero at the order
      effect itself) and its diagonal entry (None without an order effect).
    """

    n: int
    q: int
    index: np.ndarray
    diag: np.ndarray
    pa: np.ndarray
    pb: np.ndarray
    cross: np.ndarray
    h: np.ndarray | None
    h_gg: float | None

    def matvec(self, v: np.ndarray) -> np.ndarray:
        """``H v`` from the blocks (for checks)."""
        x = v[self.index]  # (n, q)
        out = np.einsum("nij,nj->ni", self.diag, x)
        ya = np.einsum("kij,kj->ki", self.cross, x[self.pb])
        yb = np.einsum("kji,kj->ki", self.cross, x[self.pa])
        for j in range(self.q):
            out[:, j] += np.bincount(self.pa, ya[:, j], self.n) + np.bincount(self.pb, yb[:, j], self.n)
        res = np.zeros_like(v)
        res[self.index] = out
        if self.h is not None:
            res += self.h * v[-1]
            res[-1] = self.h @ v + self.h_gg * v[-1]
        return res


def hessian_blocks(lik: PairwiseLikelihood, theta: np.ndarray) -> HessianBlocks:
    """The exact Hessian of ``lik`` at ``theta`` as :class:`HessianBlocks` (one pass over rows).

    Per row the Hessian of ``-log L`` is ``c j j' + g d2z`` (``j`` the gradient of ``z``,
    ``c = -d2 log L/dz2``, ``g = -d log L/dz``; see :meth:`PairwiseLikelihood.newton_system`)
    on the row's slots (mean and log-variance of either option, the order effect); rows
    pooling both orders add their mixture's rank-one terms. The slots' entries are summed
    per option, per pair and into the order effect's column with ``bincount``.
    """
    z, inv_sigma, qa, _, dz, neg_d2z = lik._state(theta)[:6]
    d, n = lik.data, lik.n_options
    free, order = lik.free_variance, lik.order_effect
    q = 2 if free else 1
    c, g = neg_d2z, -dz
    k = c * inv_sigma * inv_sigma
    s = lik._s
    rows = {"00": k, "22": k, "02": -k}  # local slots: 0 mu_a, 1 lv_a, 2 mu_b, 3 lv_b, 4 gamma
    if free:
        qb = 1.0 - qa
        t = -0.5 * (c * z + g) * inv_sigma
        ll = 0.25 * z * (c * z + g)
        mm = -0.5 * g * z * qa * qb
        rows.update({"01": t * qa, "03": t * qb, "21": -t * qa, "23": -t * qb,
                     "11": ll * qa * qa + mm, "33": ll * qb * qb + mm, "13": ll * qa * qb - mm})
    if order:
        rows.update({"44": k * s * s, "40": k * s, "42": -k * s})
        if free:
            rows.update({"41": t * s * qa, "43": t * s * qb})
    a_rows, b_rows = d.a, d.b
    row_pair, rep = lik._pairs()
    if lik._mix is not None:
        # rank-one parts of pooled rows: n_a u u' + n_b v v' on the same slots
        ip, im = lik._mix[0], lik._mix[1]
        mix = lik._state(theta)[7]
        isg, zp, zm = inv_sigma[ip], z[ip], z[im]
        extra = {key: np.zeros(len(ip)) for key in rows}
        for weight, (cp, cm) in ((mix["n_a"], mix["w"]), (mix["n_b"], mix["v"])):
            vec = {"0": (cp + cm) * isg, "2": -(cp + cm) * isg, "4": (cp - cm) * isg}
            if free:
                zz = cp * zp + cm * zm
                vec["1"], vec["3"] = -0.5 * zz * qa[ip], -0.5 * zz * (1.0 - qa[ip])
            for key in extra:
                extra[key] += weight * vec[key[0]] * vec[key[1]]
        rows = {key: np.concatenate([val, extra[key]]) for key, val in rows.items()}
        a_rows, b_rows = np.concatenate([a_rows, d.a[ip]]), np.concatenate([b_rows, d.b[ip]])
        row_pair = np.concatenate([row_pair, row_pair[ip]])
    n_pairs = len(rep)
    prior = lik._prior_prec
    diag = np.zeros((n, q, q))
    cross = np.zeros((n_pairs, q, q))
    local = [(0, 2), (1, 3)][:q]  # slots of (a, b) for parameter j
    for i in range(q):
        for j in range(q):
            sa, sb = local[i][0], local[j][0]
            key = f"{min(sa, sb)}{max(sa, sb)}"
            diag[:, i, j] += np.bincount(a_rows, rows[key], n)
            sa, sb = local[i][1], local[j][1]
            key = f"{min(sa, sb)}{max(sa, sb)}"
            diag[:, i, j] += np.bincount(b_rows, rows[key], n)
            sa, sb = local[i][0], local[j][1]
            key = f"{sa}{sb}" if f"{sa}{sb}" in rows else f"{sb}{sa}"
            cross[:, i, j] = np.bincount(row_pair, rows[key], n_pairs)
    index = np.column_stack([np.arange(n), n + np.arange(n)][:q]) if free else np.arange(n)[:, None]
    for j in range(q):
        diag[:, j, j] += prior[index[:, j]]
    h = h_gg = None
    if order:
        h = np.zeros(lik.n_params)
        for j in range(q):
            h[index[:, j]] = (np.bincount(a_rows, rows[f"4{local[j][0]}"], n)
                              + np.bincount(b_rows, rows[f"4{local[j][1]}"], n))
        h_gg = float(rows["44"].sum() + prior[-1])
    return HessianBlocks(n, q, index, diag, d.a[rep], d.b[rep], cross, h, h_gg)


def _inv(m: np.ndarray) -> np.ndarray:
    """Inverses of a stack of symmetric 1x1 or 2x2 matrices."""
    if m.shape[-1] == 1:
        return 1.0 / m
    a, b, d = m[:, 0, 0], m[:, 0, 1], m[:, 1, 1]
    det = a * d - b * b
    out = np.empty_like(m)
    out[:, 0, 0], out[:, 1, 1] = d / det, a / det
    out[:, 0, 1] = out[:, 1, 0] = -b / det
    return out


def _scatter(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Sum a stack of small matrices into ``n`` bins."""
    q = values.shape[-1]
    out = np.empty((n, q, q), dtype=values.dtype)
    for i in range(q):
        for j in range(i, q):
            v = values[:, i, j]
            out[:, i, j] = np.bincount(index, v.real, n)
            if np.iscomplexobj(v):
                out[:, i, j] += 1j * np.bincount(index, v.imag, n)
            out[:, j, i] = out[:, i, j]
    return out


@dataclass
class Cavity:
    """Gaussian belief propagation on the options' Hessian ``K`` (the cavity method).

    Attributes
    ----------
    marginal : ndarray (n, q, q)
        Approximate diagonal blocks of ``K^-1``.
    cavity_a, cavity_b : ndarray (pairs, q, q)
        Precision of option ``pa`` without pair ``c`` (and of ``pb``).
    iterations : int
    converged : bool
    """

    marginal: np.ndarray
    cavity_a: np.ndarray
    cavity_b: np.ndarray
    iterations: int
    converged: bool

    def pair_cross(self, blocks: HessianBlocks) -> np.ndarray:
        """Approximate ``K^-1`` blocks between the two options of each pair (rows ``pa``)."""
        inv_a = _inv(self.cavity_a)
        return -np.einsum("kij,kjl,klm->kim", inv_a, blocks.cross, self.marginal[blocks.pb])


def cavity(blocks: HessianBlocks, *, max_iter: int = 50, rtol: float = 1e-5, perturbation=None) -> Cavity:
    """Gaussian belief propagation for the diagonal blocks of ``K^-1``.

    The message from option ``a`` to option ``b`` over their pair is
    ``-K_ba (K_aa + sum of a's other incoming messages)^-1 K_ab``; at the fixed point the
    marginal precision of ``b`` is ``K_bb`` plus all its incoming messages. Exact on a
    tree; on a graph with cycles the marginals are the Bethe approximation [1]_, [2]_.

    References
    ----------
    .. [1] Weiss, Y. and Freeman, W. T. (2001). Correctness of belief propagation in
       Gaussian graphical models of arbitrary topology. *Neural Computation* 13(10),
       2173-2200.
    .. [2] Malioutov, D. M., Johnson, J. K. and Willsky, A. S. (2006). Walk-sums and belief
       propagation in Gaussian graphical models. *Journal of Machine Learning Research* 7,
       2031-2064.
    """
    n, q = blocks.n, blocks.q
    pa, pb = blocks.pa, blocks.pb
    diag, cross = blocks.diag, blocks.cross
    if perturbation is not None:  # (diag, cross) added to the blocks, possibly complex
        diag, cross = diag + perturbation[0], cross + perturbation[1]
    # symmetric blocks as the arrays of their upper triangle, cross blocks entry by entry
    sym = [(0, 0), (0, 1), (1, 1)] if q == 2 else [(0, 0)]
    d = [np.ascontiguousarray(diag[:, i, j]) for i, j in sym]
    c = [np.ascontiguousarray(cross[:, i, j]) for i in range(q) for j in range(q)]
    k = len(pa)
    zeros = [np.zeros(k, dtype=d[0].dtype) for _ in sym]
    to_b, to_a = zeros, [z.copy() for z in zeros]  # messages a -> b (on b) and b -> a (on a)
    total = [np.zeros(n, dtype=d[0].dtype) for _ in sym]
    scale = float(np.abs(diag).max())
    converged = False
    it = 0

    def scatter(index, values):
        if np.iscomplexobj(values):
            return np.bincount(index, values.real, n) + 1j * np.bincount(index, values.imag, n)
        return np.bincount(index, values, n)

    for it in range(1, max_iter + 1):
        cav_a = [dd[pa] + tt[pa] - m for dd, tt, m in zip(d, total, to_a)]
        cav_b = [dd[pb] + tt[pb] - m for dd, tt, m in zip(d, total, to_b)]
        new_b = [-x for x in _sym_congruence(c, _sym_inv(cav_a), transpose=False)]  # K_ba cav_a^-1 K_ab
        new_a = [-x for x in _sym_congruence(c, _sym_inv(cav_b), transpose=True)]  # K_ab cav_b^-1 K_ba
        change = max(float(np.abs(x - y).max()) for x, y in zip(new_b + new_a, to_b + to_a))
        to_b, to_a = new_b, new_a
        total = [scatter(pb, x) + scatter(pa, y) for x, y in zip(to_b, to_a)]
        if change <= rtol * scale:
            converged = True
            break
    cav_a = [dd[pa] + tt[pa] - m for dd, tt, m in zip(d, total, to_a)]
    cav_b = [dd[pb] + tt[pb] - m for dd, tt, m in zip(d, total, to_b)]
    marginal = _sym_inv([dd + tt for dd, tt in zip(d, total)])
    return Cavity(_sym_stack(marginal, q), _sym_stack(cav_a, q), _sym_stack(cav_b, q), it, converged)


def _sym_inv(m):
    if len(m) == 1:
        return [1.0 / m[0]]
    a, b, d = m
    det = a * d - b * b
    return [d / det, -b / det, a / det]


def _sym_congruence(c, x, transpose):
    """``c' x c`` (or ``c x c'`` with ``transpose``) with ``x`` symmetric, as upper triangles."""
    if len(x) == 1:
        return [c[0] * c[0] * x[0]]
    c11, c12, c21, c22 = c
    if transpose:
        c12, c21 = c21, c12
    x11, x12, x22 = x
    y11, y12 = x11 * c11 + x12 * c21, x11 * c12 + x12 * c22
    y21, y22 = x12 * c11 + x22 * c21, x12 * c12 + x22 * c22
    return [c11 * y11 + c21 * y21, c11 * y12 + c21 * y22, c12 * y12 + c22 * y22]


def _sym_stack(m, q):
    if q == 1:
        return m[0][:, None, None]
    out = np.empty((len(m[0]), 2, 2), dtype=m[0].dtype)
    out[:, 0, 0], out[:, 1, 1] = m[0], m[2]
    out[:, 0, 1] = out[:, 1, 0] = m[1]
    return out


class OptionSystem:
    """The options' block ``K`` of the Hessian (the order effect held fixed): products,
    a block-Jacobi preconditioner and deflated conjugate-gradient solves.

    ``W`` holds the gauge directions restricted to the options (a common shift of the
    means, and with free variances the joint rescaling); ``K`` is nearly singular along
    them, so CG solves them exactly by a Galerkin projection (deflated CG) and ``E = W' K W``
    is kept for the deflated inverse ``Z = K^-1 - W E^-1 W'``.
    """

    def __init__(self, lik: PairwiseLikelihood, theta: np.ndarray, blocks: HessianBlocks,
                 preconditioner: np.ndarray | None = None):
        self.lik, self.theta, self.blocks = lik, theta, blocks
        self.p = lik.n_params
        self.o = self.p - 1 if lik.order_effect else self.p
        self._exact = lik.newton_system(theta)[0]
        self._binv = _inv(blocks.diag) if preconditioner is None else preconditioner
        w = lik.gauge_directions(theta)[: self.o]
        self.W = w / np.linalg.norm(w, axis=0)
        self.eigenvalues = lik.gauge_eigenvalues(theta)
        self.n_products = 0
        kw = np.column_stack([self.matvec(self.W[:, j]) for j in range(self.W.shape[1])])
        self.KW = kw
        self.E = self.W.T @ kw

    def matvec(self, v: np.ndarray) -> np.ndarray:
        """``K v`` (the exact Hessian's product with the order effect held at 0)."""
        full = np.zeros(self.p)
        full[: self.o] = v
        self.n_products += 1
        return self._exact(full)[: self.o]

    def precondition(self, r: np.ndarray) -> np.ndarray:
        """The block-diagonal preconditioner applied to ``r``."""
        x = r[self.blocks.index]  # (n, q)
        y = np.einsum("nij,nj->ni", self._binv, x)
        out = np.empty_like(r)
        out[self.blocks.index] = y
        return out

    def solve(self, b: np.ndarray, *, rtol: float = 1e-2, max_iter: int = 1000) -> np.ndarray:
        """``K^-1 b`` by deflated, block-Jacobi preconditioned conjugate gradients."""
        x, k, _ = _pcg(self.matvec, b, self.precondition, rtol=rtol, maxiter=max_iter, deflate=self.W,
                       eigenvalues=np.where(np.isfinite(self.eigenvalues), self.eigenvalues, np.nan))
        self.n_products += k
        return x

    def deflated(self, b: np.ndarray, kb: np.ndarray) -> np.ndarray:
        """``Z b`` from ``K^-1 b``."""
        return kb - self.W @ np.linalg.solve(self.E, self.W.T @ b)


@dataclass
class JacobianParts:
    """The standardisation Jacobian ``J`` (rows: means, variances, order effect) as
    ``J = R + U V' + g e_gamma'``: ``R`` has at most one entry per row (``d`` at column
    ``col``; ``col`` is -1 where there is none), ``V`` (options' parameters x 2) holds the
    shift and the standardised means on the mean block, and ``g`` is the order effect's
    column."""

    col: np.ndarray
    d: np.ndarray
    U: np.ndarray
    V: np.ndarray
    g: np.ndarray | None

    def R_times(self, x: np.ndarray) -> np.ndarray:
        """``R x`` for an options' vector (or matrix of columns) ``x``."""
        safe = np.where(self.col >= 0, self.col, 0)
        return (self.d if x.ndim == 1 else self.d[:, None]) * x[safe]

    def times(self, x: np.ndarray) -> np.ndarray:
        """``J_o x`` (options' columns of ``J``)."""
        return self.R_times(x) + self.U @ (self.V.T @ x)


def jacobian_parts(lik: PairwiseLikelihood, theta: np.ndarray) -> JacobianParts:
    """:func:`~valuelab.utility.uncertainty.standardised_jacobian` in its structured form."""
    n = lik.n_options
    std = standardise(lik, theta)
    mu_s, var_s, g_s, sd = std.mean, std.variance, std.order_effect, std.scale
    o = lik.n_params - (1 if lik.order_effect else 0)
    cols, ds, us = [np.arange(n)], [np.full(n, 1.0 / sd)], [np.column_stack([np.full(n, -1.0 / (n * sd)), -mu_s / (n * sd)])]
    if lik.link == "probit":
        cols.append(n + np.arange(n) if lik.free_variance else np.full(n, -1))
        ds.append(var_s if lik.free_variance else np.zeros(n))
        us.append(np.column_stack([np.zeros(n), -2.0 * var_s / (n * sd)]))
    g = None
    if lik.order_effect:
        cols.append([-1]), ds.append([0.0]), us.append(np.array([[0.0, -g_s / (n * sd)]]))
    col, d, u = np.concatenate(cols), np.concatenate(ds), np.vstack(us)
    if lik.order_effect:
        g = np.zeros(len(col))
        g[-1] = 1.0 / sd
    v = np.zeros((o, 2))
    v[:n, 0], v[:n, 1] = 1.0, mu_s
    return JacobianParts(col.astype(np.int64), d.astype(float), u, v, g)


class PairScores:
    """The jackknife (CR3) scores of the pairs on their few parameters, and the meat
    ``M = (G-1)/G sum_c (s_c - s_bar)(s_c - s_bar)'`` they define.

    ``s_c = J_c' (I - W_c A_c)^-1 g_c`` with ``A_c = J_c H^-1 J_c'`` the pair's leverage
    block (see ``valuelab.utility.uncertainty._jackknife_meat``); ``local[c]`` holds it on
    the pair's parameters ``slots[c]`` (its two options' parameters, then the order effect).
    """

    def __init__(self, lik, theta, blocks, h_local, local_cols):
        state = lik._state(theta)
        z, inv_sigma, qa, dz, w = state[0], state[1], state[2], state[4], state[6]
        d = lik.data
        row_pair, rep = lik._pairs()
        k = len(rep)
        q = blocks.q
        L = local_cols.shape[1]
        # each row's gradient of z on the local slots [a params, b params, gamma]
        jr = np.zeros((d.n_rows, L))
        jr[:, 0], jr[:, q] = inv_sigma, -inv_sigma
        if q == 2:
            jr[:, 1], jr[:, 3] = -0.5 * z * qa, -0.5 * z * (1.0 - qa)
        if lik.order_effect:
            jr[:, -1] = lik._s * inv_sigma
        order = np.argsort(row_pair, kind="stable")
        counts = np.bincount(row_pair, minlength=k)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        local = np.zeros((k, L))
        for m in np.unique(counts):
            pairs = np.flatnonzero(counts == m)
            rows = order[starts[pairs][:, None] + np.arange(m)]  # (pairs, m)
            j = jr[rows]  # (pairs, m, L)
            a = np.einsum("kml,klh,knh->kmn", j, h_local[pairs], j)
            system = np.eye(m) - w[rows][:, :, None] * a
            r = np.linalg.solve(system, dz[rows][:, :, None])[:, :, 0]
            local[pairs] = np.einsum("kml,km->kl", j, r)
        self.local, self.cols, self.p, self.g = local, local_cols, lik.n_params, k
        self.mean = np.bincount(local_cols.ravel(), local.ravel(), self.p) / k

    def apply(self, v: np.ndarray) -> np.ndarray:
        """``M v``."""
        x = np.einsum("kl,kl->k", self.local, v[self.cols])
        out = np.bincount(self.cols.ravel(), (self.local * x[:, None]).ravel(), self.p)
        out -= self.g * self.mean * float(self.mean @ v)
        return out * ((self.g - 1) / self.g)

    def option_blocks(self, blocks: HessianBlocks):
        """The sum over pairs of ``s_c s_c'`` on the options' parameters as (diag, cross)
        blocks (without the centring and the (G-1)/G factor)."""
        q = blocks.q
        sa, sb = self.local[:, :q], self.local[:, q : 2 * q]
        diag = _scatter(blocks.pa, sa[:, :, None] * sa[:, None, :], blocks.n)
        diag += _scatter(blocks.pb, sb[:, :, None] * sb[:, None, :], blocks.n)
        return diag, sa[:, :, None] * sb[:, None, :]


def _local_columns(lik, blocks):
    cols = [blocks.index[blocks.pa], blocks.index[blocks.pb]]
    if lik.order_effect:
        cols.append(np.full((len(blocks.pa), 1), lik.n_params - 1))
    return np.concatenate(cols, axis=1)


class ScalableCovariance:
    """The covariance of the standardised parameters without a dense matrix (module docstring).

    Parameters
    ----------
    lik : PairwiseLikelihood
        With a prior (a MAP fit; the scalable route needs the gauge pinned).
    theta : ndarray
        The estimate.
    method : {"wald", "sandwich"}

    Notes
    -----
    :meth:`variances` is the diagonal (the standard errors squared), :meth:`rows_covariance`
    the exact covariance of a few standardised parameters, :meth:`dense` the whole matrix by
    the dense route (within :data:`~valuelab.utility.uncertainty.MAX_DENSE_PARAMETERS`).
    """

    def __init__(self, lik: PairwiseLikelihood, theta: np.ndarray, method: str):
        if lik.prior is None:
            raise ValueError("the scalable standard errors need a prior (a MAP fit)")
        self.lik, self.theta, self.method = lik, theta, method
        self.blocks = hessian_blocks(lik, theta)
        self.cav = cavity(self.blocks)
        self.corrected = correct_short_cycles(self.blocks, self.cav)
        # the belief-propagation marginals make a better block preconditioner than the blocks' inverses
        self.system = OptionSystem(lik, theta, self.blocks, preconditioner=self.cav.marginal)
        self.jp = jacobian_parts(lik, theta)
        self.Einv = np.linalg.inv(self.system.E)
        b = self.blocks
        if lik.order_effect:
            self.y = self.system.solve(b.h[: self.system.o])
            self.sigma = b.h_gg - float(b.h[: self.system.o] @ self.y)
        self.scores = None
        self._precise = None
        if method == "sandwich":
            self.scores = PairScores(lik, theta, b, self._local_inverse(), _local_columns(lik, b))

    # -- H^-1 -------------------------------------------------------------
    def solve(self, v: np.ndarray, rtol: float = 1e-8) -> np.ndarray:
        """``H^-1 v`` (exact up to the CG tolerance)."""
        o = self.system.o
        x = np.zeros(self.lik.n_params)
        x[:o] = self.system.solve(v[:o], rtol=rtol)
        if self.lik.order_effect:
            if self._precise is None:  # the order effect's column solved to the same precision
                h = self.blocks.h[:o]
                y = self.system.solve(h, rtol=1e-10)
                self._precise = (y, self.blocks.h_gg - float(h @ y))
            y, sigma = self._precise
            c = (float(y @ v[:o]) - v[-1]) / sigma
            x[:o] += y * c
            x[-1] = -c
        return x

    def _local_inverse(self) -> np.ndarray:
        """``H^-1`` on each pair's parameters (belief propagation for the options' part,
        exact low-rank parts)."""
        b, cav = self.blocks, self.cav
        q = b.q
        k = len(b.pa)
        cols = _local_columns(self.lik, b)
        L = cols.shape[1]
        out = np.zeros((k, L, L))
        out[:, :q, :q] = cav.marginal[b.pa]
        out[:, q : 2 * q, q : 2 * q] = cav.marginal[b.pb]
        cross = cav.pair_cross(b)
        out[:, :q, q : 2 * q] = cross
        out[:, q : 2 * q, :q] = np.swapaxes(cross, 1, 2)
        wl = np.zeros((k, L, self.system.W.shape[1]))
        wl[:, : 2 * q] = self.system.W[cols[:, : 2 * q]]
        out += np.einsum("kli,ij,kmj->klm", wl, self.Einv, wl)
        if self.lik.order_effect:
            u = np.zeros((k, L))
            u[:, : 2 * q] = self.y[cols[:, : 2 * q]]
            u[:, -1] = -1.0
            out += u[:, :, None] * u[:, None, :] / self.sigma
        return out

    # -- variances --------------------------------------------------------
    def _flat(self, marginal: np.ndarray) -> np.ndarray:
        flat = np.zeros(self.system.o, dtype=marginal.dtype)
        for j in range(self.blocks.q):
            flat[self.blocks.index[:, j]] = marginal[:, j, j]
        return flat

    def variances(self) -> np.ndarray:
        """Diagonal of the covariance of the standardised parameters.

        Row ``r`` of the covariance is ``f_r' X f_r`` with ``f_r = H^-1 J' e_r`` and ``X = H``
        (Wald) or ``M`` (sandwich); ``f_r = d_r [Z e_col; 0] + B c_r`` for four (three without
        an order effect) fixed vectors ``B`` (``Z V_2``, the gauge directions, ``(y, -1)``), so
        the diagonal is ``d_r^2 (Z X Z)_cc`` (belief propagation) plus terms in ``X B``.
        """
        jp, sysm = self.jp, self.system
        o = sysm.o
        V = jp.V
        zv1 = sysm.deflated(V[:, 1], sysm.solve(V[:, 1]))
        safe = np.where(jp.col >= 0, jp.col, 0)
        jw = jp.times(sysm.W)
        coef_w = jw @ self.Einv  # rows x 2
        basis = [np.r_[zv1, np.zeros(self.lik.n_params - o)]]
        coef = [jp.U[:, 1]]
        for j in range(sysm.W.shape[1]):
            basis.append(np.r_[sysm.W[:, j], np.zeros(self.lik.n_params - o)])
            coef.append(coef_w[:, j])
        if self.lik.order_effect:
            basis.append(np.r_[self.y, -1.0])
            coef.append((jp.times(self.y) - jp.g) / self.sigma)
        basis, coef = np.column_stack(basis), np.column_stack(coef)
        if self.method == "wald":
            # f_r' H f_r with f_r = d_r [Z e_col; 0] + basis coef_r: Z K Z = Z, Z K W = 0 and
            # H u = (0, -sigma), so only the first basis vector has a cross term, Z V_1.
            local = self._flat(self.cav.marginal)
            hb = np.column_stack([self._h_times(basis[:, j]) for j in range(basis.shape[1])])
            cross = np.zeros((o, basis.shape[1]))
            cross[:, 0] = zv1
            gram = basis.T @ hb
        else:
            sc = self.scores
            mb = np.column_stack([sc.apply(basis[:, j]) for j in range(basis.shape[1])])
            cross = np.column_stack([sysm.deflated(mb[:o, j], sysm.solve(mb[:o, j])) for j in range(basis.shape[1])])
            gram = basis.T @ mb
            local = self._sandwich_local()
        out = jp.d**2 * local[safe]
        out += 2.0 * jp.d * np.einsum("rk,rk->r", coef, cross[safe])
        out += np.einsum("rk,kl,rl->r", coef, gram, coef)
        return out

    def _h_times(self, v):
        return self.system._exact(v)

    def _sandwich_local(self) -> np.ndarray:
        """``diag(Z' M_oo Z')`` on the options' parameters: the linear response of belief
        propagation to the meat's pair blocks (complex step), and the centring exactly."""
        sc, b = self.scores, self.blocks
        pd_, pc = sc.option_blocks(b)
        eps = 1e-20 * float(np.abs(b.diag).max()) / max(float(np.abs(pd_).max()), 1e-300)
        cav = cavity(b, perturbation=(-1j * eps * pd_, -1j * eps * pc))
        lr = self._flat(cav.marginal).imag / eps
        o = self.system.o
        zs = self.system.deflated(sc.mean[:o], self.system.solve(sc.mean[:o]))
        return (lr - sc.g * zs * zs) * ((sc.g - 1) / sc.g)

    def dense(self) -> np.ndarray:
        """The whole covariance, by the dense route (exact), within the memory guard."""
        from .uncertainty import MAX_DENSE_PARAMETERS

        p = self.lik.n_params
        if p > MAX_DENSE_PARAMETERS:
            raise MemoryError(
                f"the covariance of all {p} standardised parameters is a dense {p}x{p} matrix "
                f"({8 * p * p / 2**30:.1f} GiB) and would be computed from a dense information matrix; the "
                f"limit is MAX_DENSE_PARAMETERS = {MAX_DENSE_PARAMETERS}. Use fit.covariance_of(options=[...]) "
                "for the options a contrast needs")
        return DenseCovariance(self.lik, self.theta, self.method).dense()

    # -- exact covariances of a few rows -----------------------------------
    def jacobian_rows(self, rows: np.ndarray) -> np.ndarray:
        """``J' e_r`` for the standardised rows ``rows`` (parameters x rows, dense)."""
        jp, o = self.jp, self.system.o
        out = np.zeros((self.lik.n_params, len(rows)))
        out[:o] = jp.V @ jp.U[rows].T
        for k, r in enumerate(rows):
            if jp.col[r] >= 0:
                out[jp.col[r], k] += jp.d[r]
        if jp.g is not None:
            out[-1] += jp.g[rows]
        return out

    def rows_covariance(self, rows) -> np.ndarray:
        """The exact covariance of the standardised rows ``rows`` (one solve per row)."""
        rows = np.asarray(rows, dtype=np.int64)
        jt = self.jacobian_rows(rows)
        x = np.column_stack([self.solve(jt[:, k]) for k in range(len(rows))]) if len(rows) else jt
        if self.method == "wald":
            cov = jt.T @ x
        else:
            mx = np.column_stack([self.scores.apply(x[:, k]) for k in range(len(rows))]) if len(rows) else x
            cov = x.T @ mx
        return 0.5 * (cov + cov.T)


def dense_hessian(blocks: HessianBlocks, p: int) -> np.ndarray:
    """The Hessian as a dense matrix, from its blocks."""
    h = np.zeros((p, p))
    q, idx = blocks.q, blocks.index
    for i in range(q):
        for j in range(q):
            h[idx[:, i], idx[:, j]] = blocks.diag[:, i, j]
            rows, cols = idx[blocks.pa, i], idx[blocks.pb, j]
            h[rows, cols] = blocks.cross[:, i, j]
            h[cols, rows] = blocks.cross[:, i, j]
    if blocks.h is not None:
        h[:, -1] = h[-1, :] = blocks.h
        h[-1, -1] = blocks.h_gg
    return h


class DenseCovariance:
    """The covariance of the standardised parameters from the inverse of the dense
    information matrix (exact): the same interface as :class:`ScalableCovariance`.

    Only the diagonal is formed for the standard errors (``J H^-1 J'`` from ``H^-1`` and the
    structure of ``J``); the whole matrix is formed on demand.
    """

    def __init__(self, lik: PairwiseLikelihood, theta: np.ndarray, method: str):
        import scipy.linalg as sl

        self.lik, self.theta, self.method = lik, theta, method
        p = lik.n_params
        self.blocks = hessian_blocks(lik, theta)
        h = dense_hessian(self.blocks, p)
        if lik.prior is None:
            # a generalised inverse: the standardised parameters do not see the gauge
            gauge = lik.gauge_directions(theta)
            h += max(float(np.abs(np.diag(h)).max()), 1.0) * gauge @ gauge.T
        c, info = sl.lapack.dpotrf(h, lower=1, clean=1, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError("the information matrix is not positive definite")
        self._chol = c
        lam = lik.gauge_eigenvalues(theta)[0]
        # H^-1 = Z + e e' / lambda exactly for the (unit) shift direction e, which J ignores:
        # that large part is dropped, so the diagonal is free of cancellation
        self._shift = (lik.gauge_directions(theta)[:, 0], lam) if np.isfinite(lam) and lam > 0 else None
        self._inv = None
        self.jp = jacobian_parts(lik, theta)
        self.scores = None
        if method == "sandwich":
            b = self.blocks
            cols = _local_columns(lik, b)
            inv = self.inv
            local = inv[cols[:, :, None], cols[:, None, :]]
            self.scores = PairScores(lik, theta, b, local, cols)
            self.cov_theta = self._sandwich_theta()

    @property
    def inv(self) -> np.ndarray:
        """``H^-1`` less its shift part (dense, formed on first use)."""
        if self._inv is None:
            import scipy.linalg as sl

            inv, info = sl.lapack.dpotri(self._chol, lower=1)
            if info != 0:
                raise np.linalg.LinAlgError("the information matrix is singular")
            inv = np.tril(inv) + np.tril(inv, -1).T
            if self._shift is not None:
                e, lam = self._shift
                inv -= np.outer(e, e) / lam
            self._inv = inv
        return self._inv

    def _wald_diagonal_and_products(self, a: np.ndarray):
        """``diag(C)`` and ``C a`` for ``C = H^-1`` less its shift part, from the Cholesky
        factor alone (a triangular inverse: two thirds of the work of the whole inverse)."""
        import scipy.linalg as sl

        linv, info = sl.lapack.dtrtri(self._chol, lower=1)
        if info != 0:
            raise np.linalg.LinAlgError("the information matrix is singular")
        diag = np.einsum("ij,ij->j", linv, linv)
        ca = np.zeros_like(a)
        for j in range(a.shape[1]):
            if not a[:, j].any():
                continue
            if self._shift is not None and j == 0:
                continue  # the first column is the shift itself: C e = 0
            ca[:, j] = sl.lapack.dpotrs(self._chol, a[:, j], lower=1)[0]
        if self._shift is not None:
            e, lam = self._shift
            diag -= e * e / lam
        return diag, ca

    def _sandwich_theta(self) -> np.ndarray:
        """``H^-1 M H^-1`` with the meat applied through its pair structure."""
        import scipy.sparse as sp

        sc = self.scores
        p = self.lik.n_params
        k, L = sc.local.shape
        rows = np.repeat(np.arange(k), L)
        s = sp.csr_matrix((sc.local.ravel(), (rows, sc.cols.ravel())), shape=(k, p))
        meat = (s.T @ s).tocsr()  # sparse: the pairs' blocks
        out = self.inv @ np.asarray(meat @ self.inv)
        hm = self.inv @ sc.mean
        out -= sc.g * np.outer(hm, hm)
        return out * ((sc.g - 1) / sc.g)

    def _full(self) -> np.ndarray:
        return self.inv if self.method == "wald" else self.cov_theta

    def _jt(self, rows=None) -> np.ndarray:
        jp, p = self.jp, self.lik.n_params
        rows = np.arange(len(jp.col)) if rows is None else np.asarray(rows)
        o = jp.V.shape[0]
        out = np.zeros((p, len(rows)))
        out[:o] = jp.V @ jp.U[rows].T
        have = jp.col[rows] >= 0
        out[jp.col[rows][have], np.flatnonzero(have)] += jp.d[rows][have]
        if jp.g is not None:
            out[-1] += jp.g[rows]
        return out

    def variances(self) -> np.ndarray:
        """Diagonal of the covariance of the standardised parameters (exact)."""
        jp = self.jp
        p, o = self.lik.n_params, jp.V.shape[0]
        a = np.zeros((p, 3))
        a[:o, :2] = jp.V
        if jp.g is not None:
            a[-1, 2] = 1.0
        coef = np.column_stack([jp.U, jp.g if jp.g is not None else np.zeros(len(jp.col))])
        if self.method == "wald":
            diag, ca = self._wald_diagonal_and_products(a)
        else:
            c = self._full()
            diag, ca = np.diag(c), c @ a
        safe = np.where(jp.col >= 0, jp.col, 0)
        out = jp.d**2 * diag[safe]
        out += 2.0 * jp.d * np.einsum("rk,rk->r", coef, ca[safe])
        out += np.einsum("rk,kl,rl->r", coef, a.T @ ca, coef)
        return out

    def rows_covariance(self, rows) -> np.ndarray:
        """The covariance of the standardised rows ``rows`` (exact)."""
        jt = self._jt(rows)
        cov = jt.T @ (self._full() @ jt)
        return 0.5 * (cov + cov.T)

    def dense(self) -> np.ndarray:
        """The whole covariance of the standardised parameters."""
        return self.rows_covariance(None)


def _inv_sqrt_chol(m: np.ndarray) -> np.ndarray:
    """``L^-1`` for the Cholesky factors ``L`` of a stack of SPD 1x1 or 2x2 blocks."""
    if m.shape[-1] == 1:
        return 1.0 / np.sqrt(m)
    l11 = np.sqrt(m[:, 0, 0])
    l21 = m[:, 0, 1] / l11
    l22 = np.sqrt(np.maximum(m[:, 1, 1] - l21 * l21, 1e-300))
    out = np.zeros_like(m)
    out[:, 0, 0], out[:, 1, 1] = 1.0 / l11, 1.0 / l22
    out[:, 1, 0] = -l21 / (l11 * l22)
    return out


def couplings(blocks: HessianBlocks) -> np.ndarray:
    """Each pair's normalised coupling ``||L_a^-1 K_ab L_b^-T||_2`` (``L`` the Cholesky
    factors of the options' blocks): the weight of the pair in a walk of belief propagation."""
    li = _inv_sqrt_chol(blocks.diag)
    if blocks.q == 1:
        return np.abs(li[blocks.pa, 0, 0] * blocks.cross[:, 0, 0] * li[blocks.pb, 0, 0])
    la, lb, c = li[blocks.pa], li[blocks.pb], blocks.cross
    # L_a^-1 C L_b^-T with lower-triangular L^-1 (entries 00, 10, 11)
    a00, a10, a11 = la[:, 0, 0], la[:, 1, 0], la[:, 1, 1]
    b00, b10, b11 = lb[:, 0, 0], lb[:, 1, 0], lb[:, 1, 1]
    x00, x01 = a00 * c[:, 0, 0], a00 * c[:, 0, 1]
    x10, x11 = a10 * c[:, 0, 0] + a11 * c[:, 1, 0], a10 * c[:, 0, 1] + a11 * c[:, 1, 1]
    s00, s01 = x00 * b00, x00 * b10 + x01 * b11
    s10, s11 = x10 * b00, x10 * b10 + x11 * b11
    frob = s00 * s00 + s01 * s01 + s10 * s10 + s11 * s11
    det = s00 * s11 - s01 * s10
    return np.sqrt(0.5 * (frob + np.sqrt(np.maximum(frob * frob - 4.0 * det * det, 0.0))))


def correct_short_cycles(blocks: HessianBlocks, cav: Cavity, *, edge: float = 0.1,
                         triangle: float = 0.003, radius: int = 1, max_region: int = 60) -> np.ndarray:
    """Replace belief propagation's marginal where strongly coupled triangles make it wrong.

    Belief propagation misses the walks around cycles; in a sparse random design they are
    long and weak, but a few options (typically some at an end of the scale, whose only
    informative comparisons are with each other) can form triangles of strong couplings,
    and there it underestimates the variance by up to a tenth. For each option in a triangle
    whose three couplings multiply to more than ``triangle`` (edges weaker than ``edge`` are
    not searched), the marginal is recomputed exactly on the option and its strongly coupled
    neighbours, with the rest of the graph entering as belief propagation's messages into
    them (a region of generalised belief propagation [1]_). Returns the options corrected.

    References
    ----------
    .. [1] Yedidia, J. S., Freeman, W. T. and Weiss, Y. (2005). Constructing free-energy
       approximations and generalized belief propagation algorithms. *IEEE Transactions on
       Information Theory* 51(7), 2282-2312.
    """
    import scipy.sparse as sp

    n, q = blocks.n, blocks.q
    pa, pb = blocks.pa, blocks.pb
    s = couplings(blocks)
    strong = np.flatnonzero(s > edge)
    if len(strong) < 3:
        return np.zeros(0, dtype=np.int64)
    a = sp.coo_matrix((s[strong], (pa[strong], pb[strong])), shape=(n, n)).tocsr()
    a = (a + a.T).tocsr()
    tri = (a @ a).multiply(a)  # per strong edge: sum over triangles of the product of couplings
    weight = np.asarray(tri.sum(axis=1)).ravel() / 2.0
    flagged = np.flatnonzero(weight > triangle)
    if not len(flagged):
        return flagged
    regions = []
    for i in flagged:
        region = np.array([i])
        for _ in range(radius):  # the option's strongly coupled neighbourhood
            grown = np.unique(np.concatenate([region] + [a.indices[a.indptr[u] : a.indptr[u + 1]] for u in region]))
            if len(grown) > max_region:
                break
            region = grown
        regions.append(np.r_[i, region[region != i]])
    # the pairs within the union of the regions, listed by option (an incidence list in CSR
    # form), and scratch arrays marking a region's options and their positions in it
    inside = np.zeros(n, dtype=bool)
    inside[np.concatenate(regions)] = True
    near = np.flatnonzero(inside[pa] & inside[pb])
    inside[:] = False
    ends = np.concatenate([pa[near], pb[near]])
    incident = near[np.argsort(ends, kind="stable") % len(near)] if len(near) else near
    starts = np.r_[0, np.cumsum(np.bincount(ends, minlength=n))]
    local = np.zeros(n, dtype=np.int64)
    prec = _inv(cav.marginal)  # marginal precisions K_uu + incoming messages

    for i, region in zip(flagged, regions):
        m = len(region)
        p = np.zeros((m, q, m, q))
        p[np.arange(m), :, np.arange(m), :] = prec[region]
        inside[region] = True
        local[region] = np.arange(m)
        c = np.unique(np.concatenate([incident[starts[u] : starts[u + 1]] for u in region]))
        c = c[inside[pa[c]] & inside[pb[c]]]  # the pairs within the region
        inside[region] = False
        x, y = local[pa[c]], local[pb[c]]  # region[x] is the pair's pa
        p[x, :, y, :] = blocks.cross[c]
        p[y, :, x, :] = np.swapaxes(blocks.cross[c], 1, 2)
        # the pairs' messages are now exact within the region: the message pb -> pa acting
        # on pa is pa's marginal precision less its cavity precision (and alike for pb)
        diag = np.zeros((m, q, q))
        np.add.at(diag, x, prec[pa[c]] - cav.cavity_a[c])
        np.add.at(diag, y, prec[pb[c]] - cav.cavity_b[c])
        p[np.arange(m), :, np.arange(m), :] -= diag
        cav.marginal[i] = np.linalg.inv(p.reshape(m * q, m * q))[:q, :q]
    return flagged
