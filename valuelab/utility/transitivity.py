"""Transitivity of pairwise preferences: cycles in triads, weak and strong stochastic transitivity.

References
----------
.. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640 (probability of a cycle in sampled triads).
.. [2] Tversky, A. (1969). Intransitivity of preferences. *Psychological Review* 76(1),
   31–48.
.. [3] Regenwetter, M., Dana, J. and Davis-Stober, C. P. (2011). Transitivity of
   preferences. *Psychological Review* 118(1), 42–56.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from ..schema import _combine, validate_comparisons
from ..stats import bootstrap_interval

__all__ = ["transitivity", "triad_table"]


def _observed_triads(comparisons: pd.DataFrame):
    """Every triad whose three pairs were all asked, with the share preferring each pair's first option."""
    pooled = _combine(validate_comparisons(comparisons), keep_order=False)
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

    ``p`` holds ``P(i>j), P(j>k), P(k>i)``. A triad violates WST when some ordering
    ``x, y, z`` has ``P(x>y) >= 1/2`` and ``P(y>z) >= 1/2`` but ``P(x>z) < 1/2``, and SST when
    such a premise holds but ``P(x>z) < max(P(x>y), P(y>z))``.
    """
    pij, pjk, pki = p.T
    cycle = pij * pjk * pki + (1 - pij) * (1 - pjk) * (1 - pki)
    # P(x>y) for the six directed pairs among (0, 1, 2)
    pr = {(0, 1): pij, (1, 0): 1 - pij, (1, 2): pjk, (2, 1): 1 - pjk, (2, 0): pki, (0, 2): 1 - pki}
    wst = np.zeros(len(p), bool)
    sst = np.zeros(len(p), bool)
    for x, y, z in itertools.permutations(range(3)):
        premise = (pr[(x, y)] >= 0.5) & (pr[(y, z)] >= 0.5)
        wst |= premise & (pr[(x, z)] < 0.5)
        sst |= premise & (pr[(x, z)] < np.maximum(pr[(x, y)], pr[(y, z)]) - 1e-12)
    return np.column_stack([cycle, wst, sst]).astype(float)


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


def transitivity(comparisons: pd.DataFrame | None = None, *, fit=None, n_triads: int = 20_000, n_boot: int = 500,
                 alpha: float = 0.05, seed: int | None = 0) -> pd.DataFrame:
    """How transitive a set of pairwise preferences is, from the answers and from a fitted model.

    Three statistics per source, each the mean over triads of options:

    * ``cycle_probability``: the chance that drawing one answer for each of the three pairs
      gives a cycle (``a > b > c > a`` or the reverse). 0 for a perfectly transitive,
      deterministic agent; 1/4 for an agent answering every pair at random [1]_.
    * ``wst_violation_rate``: share of triads violating weak stochastic transitivity (the
      majority preferences form a cycle) [2]_.
    * ``sst_violation_rate``: share violating strong stochastic transitivity (``P(x>z)`` below
      the larger of ``P(x>y)``, ``P(y>z)`` although both are at least 1/2) [3]_.

    Parameters
    ----------
    comparisons : DataFrame, optional
        Observed answers: every triad whose three pairs were all compared is used (a
        uniform sample of ``n_triads`` when there are more).
    fit : ThurstonianResult, optional
        A fitted model: ``n_triads`` random triads of its options, with the probabilities it
        predicts (averaged over presentation orders). A Thurstonian model never violates
        WST (its means order the options), but unequal variances can violate SST.
    n_triads : int
    n_boot : int
        Bootstrap resamples of the triads for the percentile intervals. They reflect which
        triads were drawn, not the sampling noise of each answer; triads that share a pair
        are not independent, so the intervals are somewhat narrow when few pairs were asked.
    alpha : float
    seed : int or None

    Returns
    -------
    DataFrame
        One row per source (``observed``, ``model``) and statistic: ``source``, ``statistic``,
        ``estimate``, ``ci_low``, ``ci_high``, ``n_triads``.

    References
    ----------
    .. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling
       Emergent Value Systems in AIs. arXiv:2502.08640.
    .. [2] Tversky, A. (1969). Intransitivity of preferences. *Psychological Review* 76(1),
       31–48.
    .. [3] Regenwetter, M., Dana, J. and Davis-Stober, C. P. (2011). Transitivity of
       preferences. *Psychological Review* 118(1), 42–56.
    """
    if comparisons is None and fit is None:
        raise ValueError("transitivity: give comparisons, a fit, or both")
    rng = np.random.default_rng(seed)
    names = ["cycle_probability", "wst_violation_rate", "sst_violation_rate"]
    rows = []

    def summarise(source: str, stats: np.ndarray):
        lo, hi = bootstrap_interval(lambda idx: stats[idx].mean(axis=0), len(stats), n_boot=n_boot, alpha=alpha,
                                    seed=seed) if len(stats) else (np.full(3, np.nan), np.full(3, np.nan))
        est = stats.mean(axis=0) if len(stats) else np.full(3, np.nan)
        for m, name in enumerate(names):
            rows.append({"source": source, "statistic": name, "estimate": float(est[m]), "ci_low": float(lo[m]),
                         "ci_high": float(hi[m]), "n_triads": len(stats)})

    if comparisons is not None:
        ids, triads, prob = _observed_triads(comparisons)
        if len(triads) > n_triads:
            triads = triads[rng.choice(len(triads), n_triads, replace=False)]
        summarise("observed", _triad_statistics(_triad_probs(triads, prob)))
    if fit is not None:
        opts = np.asarray(fit.options, dtype=object)
        n = len(opts)
        if n < 3:
            raise ValueError(f"fit: transitivity needs at least 3 options, the fit has {n}")
        draws = np.array([rng.choice(n, 3, replace=False) for _ in range(n_triads)])
        i, j, k = draws.T
        pairs = pd.DataFrame({"option_a": opts[np.r_[i, j, k]], "option_b": opts[np.r_[j, k, i]]})
        p = fit.predict_proba(pairs).to_numpy().reshape(3, -1).T
        summarise("model", _triad_statistics(p))
    return pd.DataFrame(rows)
