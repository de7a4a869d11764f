"""Active learning of which pairs to ask: refit, then pick the pairs that teach the fit most.

An elicitation budget is a number of distinct pairs. The published Utility Engineering
procedure starts from a random regular graph of degree 2 and grows it to ``2 N log2 N``
pairs by active learning [1]_. :func:`active_design` runs that loop against any ``ask``
function (a model, or a simulated agent), with two selection rules:

``"predictive"`` (valuelab's rule)
    Each round refits the utilities (warm-started from the previous round) and picks pairs
    greedily by how much asking them is expected to lower two things, each relative to
    its current value: the excess log loss of the fitted model on random pairs, and the
    expected number of wrongly ordered pairs of options. The posterior covariance of the
    means and variances is updated after each pick, so no option is starved; options
    below a minimum degree are served first.
``"published"``
    The rule of [1]_: sample unseen pairs from the intersection of the bottom 10% of
    ``|mu_A - mu_B|`` and the bottom 20% of summed degree (widening both by 1.5 until
    enough qualify).

References
----------
.. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640.
.. [2] Chaloner, K. and Verdinelli, I. (1995). Bayesian experimental design: a review.
   *Statistical Science* 10(3), 273–304.

On simulated agents with 100 options at the published budget (``benchmarks/bench_design.py``),
the published rule ranks the means better than random pairs but predicts unasked pairs
worse and leaves some options with 3-8 pairs. The predictive rule ranks almost as well as
the published one and keeps every option in at least a quarter of the mean number of pairs;
with 10 sampled answers per order it predicts unasked pairs about as well as random pairs,
with exact probabilities somewhat worse.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
import pandas as pd
from scipy.special import log_ndtr

from ..schema import plain_value
from .pair_designs import _candidates, _ids, _pair_code, default_budget, regular_graph_pairs

__all__ = ["active_design", "ActiveDesignResult"]


@dataclass
class ActiveDesignResult:
    """What an active-learning run asked and learned.

    Attributes
    ----------
    comparisons : DataFrame
        Every answer ``ask`` returned, with a ``round`` column (0 = the initial design).
    pairs : DataFrame
        The distinct pairs asked: ``option_a``, ``option_b``, ``round``.
    fit : ThurstonianResult
        The fit on all comparisons.
    rounds : DataFrame
        One row per round: ``round``, ``n_pairs`` (asked that round), ``total_pairs``,
        ``min_degree`` and ``max_degree`` (distinct pairs per option after the round).
    """

    comparisons: pd.DataFrame
    pairs: pd.DataFrame
    fit: object
    rounds: pd.DataFrame

    def degrees(self) -> pd.Series:
        """Distinct pairs per option."""
        return pd.concat([self.pairs["option_a"], self.pairs["option_b"]]).value_counts()


def _eta_gradients(mu, var, a, b):
    """Linear predictor ``eta = (mu_a - mu_b) / s`` of pairs, its gradient and its Fisher weight.

    Returns the parameter indices (means ``0..n-1``, variances ``n..2n-1``) and values of
    the four non-zero gradient entries per pair, and ``phi(eta)^2 / (Phi(eta) Phi(-eta))``,
    the information one probit observation carries about ``eta``.
    """
    n = len(mu)
    s2 = var[a] + var[b]
    s = np.sqrt(s2)
    eta = (mu[a] - mu[b]) / s
    dv = -eta / (2.0 * s2)
    idx = np.stack([a, b, n + a, n + b], axis=1)
    val = np.stack([1.0 / s, -1.0 / s, dv, dv], axis=1)
    log_phi = -0.5 * eta**2 - 0.5 * np.log(2 * np.pi)
    weight = np.exp(2 * log_phi - log_ndtr(eta) - log_ndtr(-eta))
    return idx, val, weight


def _quad(mat, idx, val):
    """``g' mat g`` for every row's sparse gradient ``g`` (four entries)."""
    out = np.zeros(len(idx))
    for i in range(idx.shape[1]):
        for j in range(idx.shape[1]):
            out += val[:, i] * val[:, j] * mat[idx[:, i], idx[:, j]]
    return out


def _select_predictive(mu, var, cov, deg, cand_a, cand_b, m, obs_per_pair, min_degree, rng, n_reference=20_000,
                       rank_weight=1.0):
    """Greedy picks that most lower the expected excess log loss on random pairs.

    To second order, a fitted model's expected excess log loss on a pair ``t`` is
    ``F_t Var(eta_t) / 2`` (``F_t`` the Fisher weight of :func:`_eta_gradients`), so over
    random pairs it is ``tr(S M) / 2`` with ``S`` the posterior covariance of the means and
    variances and ``M`` the average ``F_t g_t g_t'``. Asking pair ``c`` ``w`` times adds
    ``w F_c g_c g_c'`` to the information; the reduction of ``tr(S M)`` is
    ``w F_c g_c' S M S g_c / (1 + w F_c g_c' S g_c)``, and ``S`` is updated (rank one)
    after each pick. This is V-optimal (integrated variance) design [2]_ for the log loss.
    """
    n = len(mu)
    total = n * (n - 1) // 2
    if total <= n_reference:
        ra, rb = np.triu_indices(n, 1)
    else:
        ra, rb = rng.integers(0, n, n_reference), rng.integers(0, n, n_reference)
        ra, rb = ra[ra != rb], rb[ra != rb]
    r_idx, r_val, r_w = _eta_gradients(mu, var, ra, rb)
    big = np.zeros((2 * n, 2 * n))
    for i in range(4):
        for j in range(4):
            np.add.at(big, (r_idx[:, i], r_idx[:, j]), r_w * r_val[:, i] * r_val[:, j])
    if rank_weight:
        # expected number of misordered pairs: sum_t Phi(-|d_t| / sd_t); lowering Var(d_t)
        # by dv lowers it by K_t dv with K_t = phi(|d_t| / sd_t) |d_t| / (2 sd_t^3)
        e_idx = np.stack([ra, rb], axis=1)
        e_val = np.tile([1.0, -1.0], (len(ra), 1))
        var_d = np.maximum(_quad(cov, e_idx, e_val), 1e-12)
        z = np.abs(mu[ra] - mu[rb]) / np.sqrt(var_d)
        kt = np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi) * z / (2 * var_d)
        rank = np.zeros_like(big)
        for i in range(2):
            for j in range(2):
                np.add.at(rank, (e_idx[:, i], e_idx[:, j]), kt * e_val[:, i] * e_val[:, j])
        # each objective counts relative to its current value
        big = big / max(np.sum(cov * big), 1e-300) + rank_weight * rank / max(np.sum(cov * rank), 1e-300)
    S = cov.copy()
    A = S @ big @ S
    c_idx, c_val, c_w = _eta_gradients(mu, var, cand_a, cand_b)
    w = obs_per_pair * c_w
    if len(cand_a) > 20 * m:  # screen: the greedy runs on the 20 m pairs with the best first-pick gain
        first = w * _quad(A, c_idx, c_val) / (1.0 + w * _quad(S, c_idx, c_val))
        first = np.where((deg[cand_a] < min_degree) | (deg[cand_b] < min_degree), np.inf, first)
        top = np.argpartition(-first, 20 * m)[: 20 * m]
        chosen = _select_predictive_core(S, A, c_idx[top], c_val[top], w[top], deg, cand_a[top], cand_b[top], m,
                                         min_degree)
        return top[chosen]
    return _select_predictive_core(S, A, c_idx, c_val, w, deg, cand_a, cand_b, m, min_degree)


def _select_predictive_core(S, A, c_idx, c_val, w, deg, cand_a, cand_b, m, min_degree):
    deg = deg.copy()
    alive = np.ones(len(cand_a), bool)
    picked = []
    for _ in range(min(m, len(cand_a))):
        gsg = _quad(S, c_idx, c_val)
        gag = _quad(A, c_idx, c_val)
        gain = w * gag / (1.0 + w * gsg)
        # options below the minimum degree come first, the furthest below it first of all
        boost = np.maximum(min_degree - deg[cand_a], 0) + np.maximum(min_degree - deg[cand_b], 0)
        gain = np.where(alive, gain + boost * (1.0 + np.abs(gain).max()), -np.inf)
        j = int(np.argmax(gain))
        picked.append(j)
        alive[j] = False
        k = w[j] / (1.0 + w[j] * gsg[j])
        u = S[:, c_idx[j]] @ c_val[j]
        q = A[:, c_idx[j]] @ c_val[j]
        S -= k * np.outer(u, u)
        A += -k * (np.outer(u, q) + np.outer(q, u)) + k * k * gag[j] * np.outer(u, u)
        deg[cand_a[j]] += 1
        deg[cand_b[j]] += 1
    return np.array(picked, dtype=int)


def _select_published(mu, deg, cand_a, cand_b, m, rng, p=0.10, q=0.20):
    """The published rule: bottom ``p`` of |mu_a - mu_b| intersected with bottom ``q`` of summed degree."""
    gap = np.abs(mu[cand_a] - mu[cand_b])
    dsum = deg[cand_a] + deg[cand_b]
    while True:
        ok = (gap <= np.quantile(gap, min(p, 1.0))) & (dsum <= np.quantile(dsum, min(q, 1.0)))
        if ok.sum() >= m or (p >= 1 and q >= 1):
            break
        p, q = p * 1.5, q * 1.5
    idx = np.flatnonzero(ok)
    return rng.choice(idx, size=min(m, len(idx)), replace=False)


def active_design(options, ask: Callable[[pd.DataFrame], pd.DataFrame], *, budget: int | None = None,
                  rule: Literal["predictive", "published"] = "predictive", initial_degree: int = 2,
                  n_rounds: int = 10, min_degree: int | None = None, obs_per_pair: float = 1.0,
                  rank_weight: float = 1.0,
                  max_candidates: int = 200_000, fit_kwargs: dict | None = None, seed: int | None = 0,
                  progress: bool = True) -> ActiveDesignResult:
    """Grow a comparison design round by round, asking the pairs a refitted model learns most from.

    Round 0 asks a random regular graph of degree ``initial_degree``. Each later round fits
    Thurstonian utilities to everything asked so far (warm-started from the previous fit),
    picks ``(budget - asked) / rounds left`` unasked pairs by ``rule`` and asks them.

    Parameters
    ----------
    options : sequence of ids or DataFrame with ``option_id``
    ask : callable
        ``ask(pairs) -> comparisons``: takes a DataFrame of ``option_a, option_b`` and returns
        the answers as a comparisons table (any number of rows per pair, for example one
        per order); :func:`valuelab.elicit_comparisons` passes the model, tests pass a
        simulated agent.
    budget : int, optional
        Distinct pairs to ask in total; default ``2 N log2 N`` (:func:`default_budget`).
    rule : {"predictive", "published"}
        Selection rule (see the module docstring).
    initial_degree : int
        Degree of the initial random regular graph (2 in the published procedure; it
        needs an even number of options when odd).
    n_rounds : int
        Rounds after the initial one.
    min_degree : int, optional
        ``"predictive"`` serves options with fewer distinct pairs first; default a quarter
        of the mean degree the budget allows.
    obs_per_pair : float
        Observations each asked pair yields (for example 2 for logits in both orders, 20 for
        10 samples in both orders); scales the expected information.
    rank_weight : float
        ``"predictive"``: weight of the expected number of misordered pairs against the
        expected excess log loss (each relative to its current value); 0 targets the log
        loss alone.
    max_candidates : int
        Unasked pairs scored per round (a uniform sample when there are more).
    fit_kwargs : dict, optional
        Passed to :func:`valuelab.fit_thurstonian` for the refits.
    seed : int or None
    progress : bool

    Returns
    -------
    ActiveDesignResult
        ``comparisons`` (with ``round``), ``pairs``, ``fit``, ``rounds``.

    References
    ----------
    .. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling
       Emergent Value Systems in AIs. arXiv:2502.08640.
    .. [2] Chaloner, K. and Verdinelli, I. (1995). Bayesian experimental design: a review.
       *Statistical Science* 10(3), 273–304.
    """

    ids = _ids(options)
    n = len(ids)
    if n < 3:
        raise ValueError(f"options: active design needs at least 3 options, got {n}")
    if rule not in ("predictive", "published"):
        raise ValueError(f"rule: expected 'predictive' or 'published', got {rule!r}")
    budget = default_budget(n) if budget is None else int(budget)
    if initial_degree % 2 and n % 2:
        raise ValueError(f"initial_degree: an odd degree ({initial_degree}) needs an even number of options, got {n}")
    first = regular_graph_pairs(ids, degree=initial_degree, seed=seed)
    if not len(first) <= budget <= n * (n - 1) // 2:
        raise ValueError(f"budget: expected {len(first)} (the initial graph of degree {initial_degree}) to "
                         f"{n * (n - 1) // 2} pairs for {n} options, got {budget}")
    if not (isinstance(n_rounds, (int, np.integer)) and n_rounds >= 1):
        raise ValueError(f"n_rounds: expected a positive integer, got {n_rounds!r}")
    min_degree = max(1, round(budget * 2 / n / 4)) if min_degree is None else int(min_degree)
    if rule == "predictive" and n > 2000:
        raise ValueError(f"rule='predictive' keeps a dense {2 * n}x{2 * n} covariance; for {n} options use "
                         "rule='published' or a regular_graph_pairs design")
    fit_kwargs = {"progress": False, **(fit_kwargs or {}), "uncertainty": "wald", "se_method": "dense"}
    rng = np.random.default_rng(seed)
    code_of = {v: i for i, v in enumerate(ids)}

    asked_pairs = [first.assign(round=0)]
    answers = [ask(first[["option_a", "option_b"]]).assign(round=0)]
    asked = set(_pair_code(first["option_a"].map(code_of).to_numpy(), first["option_b"].map(code_of).to_numpy(), n))
    deg = np.bincount(np.r_[first["option_a"].map(code_of), first["option_b"].map(code_of)], minlength=n)
    log = [{"round": 0, "n_pairs": len(first), "total_pairs": len(asked), "min_degree": int(deg.min()),
            "max_degree": int(deg.max())}]
    fit = None
    rounds = range(1, n_rounds + 1)
    if progress:
        from tqdm.auto import tqdm

        rounds = tqdm(rounds, desc=f"active design ({rule})", unit="round")
    for r in rounds:
        left = budget - len(asked)
        if left <= 0:
            break
        m = int(np.ceil(left / (n_rounds - r + 1)))
        comparisons = pd.concat(answers, ignore_index=True).drop(columns="round")
        fit = _refit(comparisons, fit, fit_kwargs)
        mu, var, cov, answered = _estimates(fit, ids, comparisons)
        # options asked in several pairs without one usable answer (refused, say) are not asked again
        silent = (answered == 0) & (deg >= 4)
        cand_a, cand_b = _candidates(n, asked, max_candidates, rng, need=m)
        live = ~silent[cand_a] & ~silent[cand_b]
        cand_a, cand_b = cand_a[live], cand_b[live]
        if rule == "predictive":
            pick = _select_predictive(mu, var, cov, answered, cand_a, cand_b, m, obs_per_pair, min_degree, rng,
                                      rank_weight=rank_weight)
        else:
            pick = _select_published(mu, answered, cand_a, cand_b, m, rng)
        a, b = cand_a[pick], cand_b[pick]
        swap = rng.random(len(a)) < 0.5
        new = pd.DataFrame({"option_a": ids[np.where(swap, b, a)], "option_b": ids[np.where(swap, a, b)]})
        asked |= set(_pair_code(a, b, n))
        np.add.at(deg, a, 1)
        np.add.at(deg, b, 1)
        asked_pairs.append(new.assign(round=r))
        answers.append(ask(new).assign(round=r))
        log.append({"round": r, "n_pairs": len(new), "total_pairs": len(asked), "min_degree": int(deg.min()),
                    "max_degree": int(deg.max())})
    comparisons = pd.concat(answers, ignore_index=True)
    got = np.zeros(n, bool)
    got[comparisons["option_a"].map(code_of).dropna().astype(int)] = True
    got[comparisons["option_b"].map(code_of).dropna().astype(int)] = True
    if not got.all():
        missing = [plain_value(v) for v in ids[~got]]
        warnings.warn(f"{len(missing)} option(s) got no usable answer in any pair and have no utility: "
                      f"{missing[:10]}{' ...' if len(missing) > 10 else ''}", UserWarning, stacklevel=2)
    if len(asked) < budget:
        warnings.warn(f"active design asked {len(asked)} of the {budget} pairs budgeted: no more unasked pairs "
                      "could be found", UserWarning, stacklevel=2)
    fit = _refit(comparisons.drop(columns="round"), fit, fit_kwargs)
    return ActiveDesignResult(comparisons=comparisons, pairs=pd.concat(asked_pairs, ignore_index=True), fit=fit,
                              rounds=pd.DataFrame(log))


def _refit(comparisons: pd.DataFrame, previous, fit_kwargs: dict):
    """Fit the answers so far; when missing answers split the graph, fit its largest component."""
    from ..utility.thurstonian import fit_thurstonian

    fits = fit_thurstonian(comparisons, init=previous, components="separate", **fit_kwargs)
    return fits[0]


def _estimates(fit, ids: np.ndarray, comparisons: pd.DataFrame):
    """Means, variances and their covariance for every option, in ``ids`` order.

    Options the fit lacks (no usable answer yet, or outside the largest component) get the
    average variance, a mean at the centre and a wide, independent uncertainty, so that the
    predictive rule seeks them out rather than being misled by missing values. Also returns
    each option's number of distinct answered pairs.
    """
    n = len(ids)
    pos = pd.Index(fit.options).get_indexer(pd.Index(ids))
    have = pos >= 0
    u = fit.utilities
    mu = np.zeros(n)
    var = np.full(n, float(np.nanmedian(u["variance"])))
    mu[have] = u["mean"].to_numpy(float)[pos[have]]
    var[have] = u["variance"].to_numpy(float)[pos[have]]
    cov = np.zeros((2 * n, 2 * n))
    m = len(fit.options)
    full = fit.covariance
    if full is None:  # no information matrix: independent errors from the standard errors
        se = np.r_[u["se_mean"].to_numpy(float), u["se_variance"].to_numpy(float)]
        full = np.diag(np.where(np.isfinite(se), se, 1.0) ** 2)
    idx = np.r_[pos[have], m + pos[have]]
    mine = np.r_[np.flatnonzero(have), n + np.flatnonzero(have)]
    cov[np.ix_(mine, mine)] = full[np.ix_(idx, idx)]
    lost = np.flatnonzero(~have)
    if len(lost):
        cov[lost, lost] = 4.0 * max(float(np.max(np.diag(full)[:m])), 1.0)
        cov[n + lost, n + lost] = float(np.max(np.diag(full)[m : 2 * m]))
    code = {v: i for i, v in enumerate(ids)}
    a = comparisons["option_a"].map(code).to_numpy()
    b = comparisons["option_b"].map(code).to_numpy()
    pairs = np.unique(_pair_code(a, b, n))
    answered = np.bincount(np.r_[pairs // n, pairs % n], minlength=n)
    return mu, var, cov, answered
