"""Which pairs to ask without a model in the loop: random regular graphs, uniform random pairs
from them, and the pairs not yet asked.

An elicitation budget is a number of distinct pairs; the published Utility Engineering
procedure asks ``2 N log2 N`` of them, starting from a random regular graph of degree 2 [1]_
(:func:`valuelab.elicit.active.active_design` grows it by active learning).

References
----------
.. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["default_budget", "regular_graph_pairs", "regular_design", "unasked_pairs"]


def default_budget(n_options: int) -> int:
    """The published budget: ``2 N log2 N`` distinct pairs, at most all ``N(N-1)/2``."""
    n = int(n_options)
    return min(int(2 * n * np.log2(max(n, 2))), n * (n - 1) // 2)


def _ids(options) -> np.ndarray:
    if isinstance(options, pd.DataFrame):
        if "option_id" in options.columns:
            options = options["option_id"]
        elif options.index.name == "option_id":
            options = options.index
        else:
            raise ValueError("options: missing column 'option_id'")
    ids = np.asarray(list(options), dtype=object)
    if len(pd.unique(ids)) != len(ids):
        raise ValueError("options: option ids must be unique")
    return ids


def regular_graph_pairs(options, *, degree: int = 2, seed: int | None = 0, swaps_per_pair: int = 10) -> pd.DataFrame:
    """A random connected regular comparison graph: every option is in ``degree`` pairs.

    Degree 2 is a random Hamiltonian cycle (the published starting design, drawn
    connected). Higher degrees start from a ring lattice on a random ordering of the
    options (each joined to its ``degree // 2`` nearest neighbours on each side, plus the
    opposite option when ``degree`` is odd) and randomise it with degree-preserving double
    edge swaps, redrawing in the rare case the result is disconnected.

    Parameters
    ----------
    options : sequence of ids or DataFrame with ``option_id``
    degree : int
        Pairs per option, from 2 to ``N - 1``.
    seed : int or None
    swaps_per_pair : int
        Swaps attempted per pair when randomising (about 10 mixes well).

    Returns
    -------
    DataFrame
        ``option_a``, ``option_b``: ``N * degree / 2`` distinct pairs, in random orientation.

    References
    ----------
    .. [1] Milo, R. et al. (2003). On the uniform generation of random graphs with prescribed
       degree sequences. arXiv:cond-mat/0312028.
    """
    from ..utility.graph import components_of_edges

    ids = _ids(options)
    n = len(ids)
    if n < 3:
        raise ValueError(f"options: a regular design needs at least 3 options, got {n}")
    if not (isinstance(degree, (int, np.integer)) and 2 <= degree <= n - 1):
        raise ValueError(f"degree: expected an integer from 2 to {n - 1} for {n} options, got {degree!r}")
    if degree % 2 and n % 2:
        raise ValueError(f"degree: an odd degree ({degree}) needs an even number of options, got {n}")
    rng = np.random.default_rng(seed)
    for _attempt in range(100):
        perm = rng.permutation(n)
        steps = list(range(1, degree // 2 + 1)) + ([n // 2] if degree % 2 else [])
        edges = []
        for k in steps:
            src = np.arange(n) if k != n / 2 else np.arange(n // 2)
            edges.append(np.c_[perm[src], perm[(src + k) % n]])
        e = np.concatenate(edges)
        e = np.c_[e.min(1), e.max(1)]
        if degree > 2 and degree < n - 1:
            e = _double_edge_swaps(e, n, swaps_per_pair * len(e), rng)
        if components_of_edges(e[:, 0], e[:, 1], n).max() == 0:
            break
    else:  # pragma: no cover - a disconnected draw 100 times in a row
        raise RuntimeError(f"could not draw a connected {degree}-regular graph on {n} options")
    e = e[rng.permutation(len(e))]
    swap = rng.random(len(e)) < 0.5
    a = np.where(swap, e[:, 1], e[:, 0])
    b = np.where(swap, e[:, 0], e[:, 1])
    return pd.DataFrame({"option_a": ids[a], "option_b": ids[b]})


def regular_design(options, n_pairs: int, *, seed: int | None = 0) -> pd.DataFrame:
    """A random connected design with exactly ``n_pairs`` pairs, as regular as that number allows.

    A random regular graph of degree ``d = floor(2 n_pairs / N)`` (one less when ``d`` is odd
    and ``N`` is odd), plus the remaining pairs added between the options with the fewest
    pairs, so degrees differ by at most two.

    Parameters
    ----------
    options : sequence of ids or DataFrame with ``option_id``
    n_pairs : int
        From ``N`` (a cycle through all options) to ``N (N - 1) / 2``.
    seed : int or None

    Returns
    -------
    DataFrame
        ``option_a``, ``option_b``.
    """
    ids = _ids(options)
    n = len(ids)
    total = n * (n - 1) // 2
    if n < 3 or not n <= n_pairs <= total:
        raise ValueError(f"n_pairs: a connected regular design on {n} options needs {n} to {total} pairs, "
                         f"got {n_pairs}; use design='random' for fewer")
    degree = min(2 * n_pairs // n, n - 1)
    if degree % 2 and n % 2:
        degree -= 1
    base = regular_graph_pairs(ids, degree=degree, seed=seed)
    if len(base) == n_pairs:
        return base
    rng = np.random.default_rng(None if seed is None else seed + 1)
    code = {v: i for i, v in enumerate(ids)}
    a, b = base["option_a"].map(code).to_numpy(), base["option_b"].map(code).to_numpy()
    linked = np.zeros((n, n), bool)
    linked[a, b] = linked[b, a] = True
    np.fill_diagonal(linked, True)
    deg = np.bincount(np.r_[a, b], minlength=n)
    extra = []
    while len(base) + len(extra) < n_pairs:
        # join a least-connected option to the least-connected option it is not yet paired with
        i = int(rng.choice(np.flatnonzero(deg == deg.min())))
        free = np.flatnonzero(~linked[i])
        j = int(free[np.argmin(deg[free] + rng.random(len(free)))])
        linked[i, j] = linked[j, i] = True
        deg[[i, j]] += 1
        extra.append((ids[i], ids[j]) if rng.random() < 0.5 else (ids[j], ids[i]))
    more = pd.DataFrame(extra, columns=["option_a", "option_b"])
    return pd.concat([base, more], ignore_index=True)


def _double_edge_swaps(e: np.ndarray, n: int, tries: int, rng) -> np.ndarray:
    """Replace pairs (a, b), (c, d) by (a, d), (c, b) when that makes no loop or repeat."""
    e = e.copy()
    present = set((e[:, 0].astype(np.int64) * n + e[:, 1]).tolist())
    picks = rng.integers(0, len(e), (tries, 2))
    flips = rng.random(tries) < 0.5
    for (i, j), flip in zip(picks.tolist(), flips.tolist()):
        if i == j:
            continue
        a, b = e[i]
        c, d = e[j] if not flip else e[j][::-1]
        if a == d or c == b:
            continue
        k1 = min(a, d) * n + max(a, d)
        k2 = min(c, b) * n + max(c, b)
        if k1 in present or k2 in present or k1 == k2:
            continue
        present.discard(min(a, b) * n + max(a, b))
        present.discard(min(c, d) * n + max(c, d))
        present.add(k1)
        present.add(k2)
        e[i] = (min(a, d), max(a, d))
        e[j] = (min(c, b), max(c, b))
    return e


def _pair_code(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    return np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b)


def unasked_pairs(options, asked: pd.DataFrame | list[pd.DataFrame], n_pairs: int, *, seed: int | None = 0
                  ) -> pd.DataFrame:
    """Up to ``n_pairs`` uniform random pairs that none of the ``asked`` tables contains (held-out sets).

    Parameters
    ----------
    options : sequence of ids or DataFrame with ``option_id``
    asked : DataFrame or list of DataFrames
        With ``option_a``, ``option_b`` (either orientation counts as asked).
    n_pairs : int
    seed : int or None

    Returns
    -------
    DataFrame
        ``option_a``, ``option_b``; fewer rows when fewer pairs remain.
    """
    ids = _ids(options)
    n = len(ids)
    code = {v: i for i, v in enumerate(ids)}
    taken = set()
    for df in [asked] if isinstance(asked, pd.DataFrame) else list(asked):
        a = df["option_a"].map(code)
        b = df["option_b"].map(code)
        ok = a.notna() & b.notna()
        taken |= set(_pair_code(a[ok].to_numpy(np.int64), b[ok].to_numpy(np.int64), n).tolist())
    lo, hi = np.triu_indices(n, 1)
    free = np.flatnonzero(~np.isin(lo.astype(np.int64) * n + hi, np.fromiter(taken, np.int64, len(taken))))
    rng = np.random.default_rng(seed)
    pick = rng.permutation(free)[: int(n_pairs)]
    swap = rng.random(len(pick)) < 0.5
    a, b = np.where(swap, hi[pick], lo[pick]), np.where(swap, lo[pick], hi[pick])
    return pd.DataFrame({"option_a": ids[a], "option_b": ids[b]})


def _candidates(n: int, asked: set[int], limit: int, rng, need: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unasked pairs: all of them when there are at most ``limit`` pairs, else a uniform sample
    of about ``limit`` (enlarged until it holds at least ``need`` unasked pairs)."""
    total = n * (n - 1) // 2
    taken = np.fromiter(asked, np.int64, len(asked))
    size = limit
    while True:
        if total <= size:
            a, b = np.triu_indices(n, 1)
        else:
            a = rng.integers(0, n, 2 * size)
            b = rng.integers(0, n, 2 * size)
            keep = a != b
            a, b = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
            _, first = np.unique(a.astype(np.int64) * n + b, return_index=True)
            first = np.sort(first)[:size]
            a, b = a[first], b[first]
        fresh = ~np.isin(a.astype(np.int64) * n + b, taken)
        if fresh.sum() >= need or total <= size:
            return a[fresh], b[fresh]
        size *= 4
