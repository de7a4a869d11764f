"""The comparison graph: options are nodes, compared pairs are edges."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..schema import ComparisonData


def components(data: ComparisonData) -> np.ndarray:
    """Connected-component label of every option (0 is the largest component)."""
    return components_of_edges(data.a, data.b, data.n_options)


def components_of_edges(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Connected-component label of nodes ``0..n-1`` joined by edges ``a[k]--b[k]`` (0 = largest)."""
    adj = sp.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, labels = connected_components(adj, directed=False)
    sizes = np.bincount(labels)
    rank = np.empty_like(sizes)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(len(sizes))
    return rank[labels]


class DisconnectedGraphError(ValueError):
    """The comparison graph has several components; their utilities are not comparable.

    Attributes
    ----------
    sizes : list of int
        Number of options in each component, largest first.
    """

    def __init__(self, sizes, examples):
        self.sizes = list(sizes)
        parts = ", ".join(f"{s} (e.g. {e!r})" for s, e in zip(self.sizes[:5], examples[:5]))
        more = "" if len(self.sizes) <= 5 else f", and {len(self.sizes) - 5} more"
        super().__init__(
            f"the comparison graph is disconnected: {len(self.sizes)} components of sizes {parts}{more}. "
            "Utilities in different components are not comparable; compare pairs that link them, "
            "or pass components='separate' to fit each component on its own scale."
        )


def check_connected(data: ComparisonData) -> None:
    """Raise :class:`DisconnectedGraphError` when the comparison graph is disconnected."""
    labels = components(data)
    k = labels.max() + 1
    if k > 1:
        sizes = np.bincount(labels)
        examples = [data.options[np.flatnonzero(labels == c)[0]] for c in range(k)]
        raise DisconnectedGraphError(sizes, examples)


def strongly_connected_sizes(data: ComparisonData) -> np.ndarray:
    """Sizes of the strongly connected components of the win graph (a -> b when a beat b).

    The Bradley–Terry and Thurstone maximum-likelihood estimates exist (are finite) only
    when this graph is strongly connected: otherwise some group of options beats every
    option outside it in every comparison, and its utilities run off to infinity.

    References
    ----------
    .. [1] Ford, L. R. (1957). Solution of a ranking problem from binary comparisons.
       *The American Mathematical Monthly* 64(8), 28–33.
    """
    n = data.n_options
    wins_a = data.n_a > 0
    wins_b = data.n_b > 0
    rows = np.concatenate([data.a[wins_a], data.b[wins_b]])
    cols = np.concatenate([data.b[wins_a], data.a[wins_b]])
    adj = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, labels = connected_components(adj, directed=True, connection="strong")
    return np.sort(np.bincount(labels))[::-1]
