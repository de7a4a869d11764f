"""Transitivity of pairwise preferences: cycles in triads, weak and strong stochastic transitivity.

References
----------
.. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640 (probability of a cycle in sampled triads).
.. [2] Tversky, A. (1969). Intransitivity of preferences. *Psychological Review* 76(1),
   31–48.
.. [3] Regenwetter, M., Dana, J. and Davis-Stober, C. P. (2011). Transitivity of
   preferences. *Psychological Review* 118(1), 42–56.
.. [4] Morris, C. N. (1983). Parametric empirical Bayes inference: theory and applications.
   *JASA* 78(381), 47–55.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from ..schema import combine_validated, validate_comparisons
from .pair_posterior import pair_posterior
from .uncertainty import counts_are_whole

__all__ = ["transitivity", "triad_table"]


def _observed_triads(comparisons: pd.DataFrame):
    """Every triad whose three pairs were all asked, with the share preferring each pair's first option."""
    pooled = combine_validated(validate_comparisons(comparisons), keep_order=False)
    total = pooled["n_a"] + pooled["n_b"]
    pooled = pooled[total > 0]
    share = (pooled["n_a"] / (pooled["n_a"] + pooled["n_b"])).to_numpy(float)
    codes, ids = pd.factorize(pd.concat([pooled["option_a"], pooled["option_b"]], ignore_index=True))
    a, b = codes[: len(pooled)], codes[len(pooled) :]
    prob: dict[tuple[int, int], float] = {}
    neighbours: list[set[int]] = [set() for _ in range(len(ids))]
    for i, j, p in zip(a.tolist(), b.tolist(), share.tolist()):
        prob[(i, j)] = p
        prob[(j, i)] = 1.0 - p
        neighbours[i].add(j)
        neighbours[j].add(i)
    triads = []
    for i in range(len(ids)):
        for j in neighbours[i]:
            if j <= i:
                continue
            for k in neighbours[i] & neighbours[j]:
                if k > j:
                    triads.append((i, j, k))
    triads = np.array(triads, dtype=int).reshape(-1, 3)
    return ids, triads, prob


def _triad_probs(triads: np.ndarray, prob) -> np.ndarray:
    """``P(i>j), P(j>k), P(k>i)`` for each triad (i, j, k)."""
    i, j, k = triads.T
    return np.column_stack([
        [prob[(x, y)] for x, y in zip(i, j)],
        [prob[(x, y)] for x, y in zip(j, k)],
        [prob[(x, y)] for x, y in zip(k, i)],
    ]) if len(triads) else np.zeros((0, 3))


def _triad_statistics(p: np.ndarray) -> np.ndarray:
    """Per triad: cycle probability, weak and strong stochastic transitivity violations.

    ``p[..., t, :]`` holds ``P(i>j), P(j>k), P(k>i)`` of triad ``t`` (any leading axes, e.g.
    posterior draws). A triad violates WST when some ordering ``x, y, z`` has
    ``P(x>y) >= 1/2`` and ``P(y>z) >= 1/2`` but ``P(x>z) < 1/2``, and SST when such a premise
    holds but ``P(x>z) < max(P(x>y), P(y>z))``. Returns ``p.shape[:-1] + (3,)``.
    """
    pij, pjk, pki = p[..., 0], p[..., 1], p[..., 2]
    cycle = pij * pjk * pki + (1 - pij) * (1 - pjk) * (1 - pki)
    # P(x>y) for the six directed pairs among (0, 1, 2)
    pr = {(0, 1): pij, (1, 0): 1 - pij, (1, 2): pjk, (2, 1): 1 - pjk, (2, 0): pki, (0, 2): 1 - pki}
    wst = np.zeros(pij.shape, bool)
    sst = np.zeros(pij.shape, bool)
    for x, y, z in itertools.permutations(range(3)):
        premise = (pr[(x, y)] >= 0.5) & (pr[(y, z)] >= 0.5)
        wst |= premise & (pr[(x, z)] < 0.5)
        sst |= premise & (pr[(x, z)] < np.maximum(pr[(x, y)], pr[(y, z)]) - 1e-12)
    return np.stack([cycle, wst, sst], axis=-1).astype(float)


def triad_table(comparisons: pd.DataFrame) -> pd.DataFrame:
    """Every triad of options whose three pairs were all compared, with its statistics.

    Parameters
    ----------
    comparisons : DataFrame
        A comparisons table; both orientations and presentation orders are pooled.

    Returns
    -------
    DataFrame
        One row per triad: ``option_i``, ``option_j``, ``option_k``, ``p_ij``, ``p_jk``,
        ``p_ki`` (observed share preferring the first of each pair), ``cycle_probability``
        (``p_ij p_jk p_ki + (1 - p_ij)(1 - p_jk)(1 - p_ki)``: the chance that one answer per
        pair forms a cycle), ``wst_violation``, ``sst_violation`` (booleans).

    References
    ----------
    .. [1] Tversky, A. (1969). Intransitivity of preferences. *Psychological Review* 76(1),
       31–48.
    """
    ids, triads, prob = _observed_triads(comparisons)
    p = _triad_probs(triads, prob)
    stats = _triad_statistics(p)
    return pd.DataFrame({
        "option_i": ids[triads[:, 0]] if len(triads) else [], "option_j": ids[triads[:, 1]] if len(triads) else [],
        "option_k": ids[triads[:, 2]] if len(triads) else [], "p_ij": p[:, 0], "p_jk": p[:, 1], "p_ki": p[:, 2],
        "cycle_probability": stats[:, 0], "wst_violation": stats[:, 1].astype(bool),
        "sst_violation": stats[:, 2].astype(bool)})


def _triad_codes(triads: np.ndarray, pair_code: dict) -> tuple[np.ndarray, np.ndarray]:
    """For each triad's three directed pairs (i>j, j>k, k>i): the pair's column and whether the
    pair is stored reversed."""
    cols, flips = [], []
    for x, y in ((0, 1), (1, 2), (2, 0)):
        c, f = zip(*(pair_code[(u, v)] for u, v in zip(triads[:, x], triads[:, y]))) if len(triads) else ((), ())
        cols.append(np.asarray(c, int))
        flips.append(np.asarray(f, bool))
    return np.column_stack(cols), np.column_stack(flips)


def transitivity(comparisons: pd.DataFrame | None = None, *, fit=None, n_triads: int = 20_000,
                 n_draws: int = 200, alpha: float = 0.05, seed: int | None = 0) -> pd.DataFrame:
    """How transitive an agent's preferences are, beyond the noise in its answers.

    Three statistics, each the mean over triads of options:

    * ``cycle_probability``: the chance that drawing one answer for each of the three pairs
      gives a cycle (``a > b > c > a`` or the reverse). 0 for a perfectly transitive,
      deterministic agent; 1/4 for an agent answering every pair at random [1]_.
    * ``wst_violation_rate``: share of triads violating weak stochastic transitivity (the
      majority preferences form a cycle) [2]_.
    * ``sst_violation_rate``: share violating strong stochastic transitivity (``P(x>z)`` below
      the larger of ``P(x>y)``, ``P(y>z)`` although both are at least 1/2) [3]_.

    They are statements about the agent's choice *probabilities*. Computed on the shares of
    a few sampled answers they measure the noise instead (a perfectly transitive agent
    answering 20 times per pair shows SST violations in 14-37% of its triads). So for
    counts of sampled answers the ``observed`` rows are estimates of the agent's own rates
    from an empirical-Bayes posterior of its probabilities
    (:func:`valuelab.utility.pair_posterior.pair_posterior`): each pair's probability is a
    case V prediction plus a deviation of sd ``tau``, estimated from the answers. The
    estimate is the posterior mean at the estimated ``tau``; the interval is the union of
    the posterior intervals over the values of ``tau`` in its confidence set, so it carries
    both the answer noise and the uncertainty about how far the agent departs from case V.
    A transitive agent gets ``tau`` near 0 and rates near 0 with lower bounds at 0; an
    intransitive one gets ``tau > 0`` and rates with lower bounds above 0. When the counts are
    not whole numbers (probabilities read from logits) the probabilities are the agent's
    own: the rates are computed on them directly, and have no interval.

    Parameters
    ----------
    comparisons : DataFrame, optional
        Answers: every triad whose three pairs were all compared is used (a uniform sample
        of ``n_triads`` when there are more).
    fit : ThurstonianResult, optional
        A fitted model: ``n_triads`` random triads of its options, with the probabilities it
        predicts (averaged over presentation orders). A Thurstonian model never violates
        WST (its means order the options), but unequal variances can violate SST. These
        rows describe the fit, not the agent, and have no interval.
    n_triads : int
    n_draws : int
        Posterior draws per value of ``tau``.
    alpha : float
        1 - level of the intervals (and of the confidence set for ``tau``).
    seed : int or None

    Returns
    -------
    DataFrame
        One row per source (``observed``, ``model``) and statistic: ``source``, ``statistic``,
        ``estimate``, ``ci_low``, ``ci_high``, ``n_triads``, ``method`` ("empirical Bayes",
        "exact probabilities" or "fitted model"), ``tau`` (the estimated sd of the pairs'
        deviations from case V, probit units; NaN for the other methods).

    References
    ----------
    .. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling
       Emergent Value Systems in AIs. arXiv:2502.08640.
    .. [2] Tversky, A. (1969). Intransitivity of preferences. *Psychological Review* 76(1),
       31–48.
    .. [3] Regenwetter, M., Dana, J. and Davis-Stober, C. P. (2011). Transitivity of
       preferences. *Psychological Review* 118(1), 42–56.
    .. [4] Morris, C. N. (1983). Parametric empirical Bayes inference: theory and
       applications. *JASA* 78(381), 47–55.
    """
    if comparisons is None and fit is None:
        raise ValueError("transitivity: give comparisons, a fit, or both")
    rng = np.random.default_rng(seed)
    names = ["cycle_probability", "wst_violation_rate", "sst_violation_rate"]
    rows = []

    def add(source, est, lo, hi, n, method, tau=np.nan):
        for m, name in enumerate(names):
            rows.append({"source": source, "statistic": name, "estimate": float(est[m]), "ci_low": float(lo[m]),
                         "ci_high": float(hi[m]), "n_triads": int(n), "method": method, "tau": tau})

    nan3 = np.full(3, np.nan)
    if comparisons is not None:
        checked = validate_comparisons(comparisons)
        ids, triads, prob = _observed_triads(comparisons)
        if len(triads) > n_triads:
            triads = triads[rng.choice(len(triads), n_triads, replace=False)]
        if len(triads) == 0:
            add("observed", nan3, nan3, nan3, 0, "no triad asked")
        elif not counts_are_whole(checked[["n_a", "n_b"]].to_numpy()):
            add("observed", _triad_statistics(_triad_probs(triads, prob)).mean(axis=0), nan3, nan3, len(triads),
                "exact probabilities")
        else:
            post = pair_posterior(comparisons, alpha=alpha)
            code = {lab: i for i, lab in enumerate(ids)}
            pair_code = {}
            for c, (x, y) in enumerate(zip(post.pairs["option_a"], post.pairs["option_b"])):
                pair_code[(code[x], code[y])] = (c, False)
                pair_code[(code[y], code[x])] = (c, True)
            cols, flips = _triad_codes(triads, pair_code)

            def rates(p):  # draws x pairs -> draws x 3, a few draws at a time to bound memory
                step = max(1, 2_000_000 // (3 * len(triads)))
                out = []
                for start in range(0, len(p), step):
                    t = p[start : start + step, cols]
                    out.append(_triad_statistics(np.where(flips, 1.0 - t, t)).mean(axis=1))
                return np.concatenate(out)

            est, lo, hi = post.statistic(rates, n_draws=n_draws, seed=seed)
            add("observed", est, lo, hi, len(triads), "empirical Bayes", post.tau)
    if fit is not None:
        opts = np.asarray(fit.options, dtype=object)
        n = len(opts)
        if n < 3:
            raise ValueError(f"fit: transitivity needs at least 3 options, the fit has {n}")
        draws = np.array([rng.choice(n, 3, replace=False) for _ in range(n_triads)])
        i, j, k = draws.T
        pairs = pd.DataFrame({"option_a": opts[np.r_[i, j, k]], "option_b": opts[np.r_[j, k, i]]})
        p = fit.predict_proba(pairs).to_numpy().reshape(3, -1).T
        add("model", _triad_statistics(p).mean(axis=0), nan3, nan3, n_triads, "fitted model")
    return pd.DataFrame(rows)
