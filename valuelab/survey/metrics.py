"""Distances between answer distributions and the published consistency scores.

* Categorical items: Jensen–Shannon **distance** with base-2 logarithms (in [0, 1]) [1]_.
* Ordinal items: the earth mover's distance between the distributions over option
  positions 1..k, divided by k - 1 (in [0, 1]) [2]_.
* NVAS, CLCS and FCS (MENAValues [3]_), for ordinal items only:
  ``100 (1 - |a - b| / (max - min))``: NVAS compares the model's answer with a population
  mean, CLCS the answers in English and in another language, FCS the answers under the
  persona and observer framings. (The reference applied NVAS to categorical items through
  their mode; a numeric distance between unordered categories is meaningless, so valuelab
  refuses.)
* Cliff's delta from the Mann–Whitney U statistic [4]_, and its paired form (the dominance
  of the within-pair differences) for matched answers.

References
----------
.. [1] Lin, J. (1991). Divergence measures based on the Shannon entropy. *IEEE Transactions
   on Information Theory* 37(1), 145–151.
.. [2] Rubner, Y., Tomasi, C. and Guibas, L. J. (2000). The earth mover's distance as a metric
   for image retrieval. *IJCV* 40(2), 99–121.
.. [3] MENAValues (2025). Cross-lingual and framing consistency of LLM answers to MENA survey
   items (NVAS, CLCS, FCS).
.. [4] Cliff, N. (1993). Dominance statistics: Ordinal analyses to answer ordinal questions.
   *Psychological Bulletin* 114(3), 494–509.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import mannwhitneyu, wasserstein_distance

__all__ = ["js_distance", "ordinal_emd", "distribution_distance", "consistency_score", "expected_answer",
           "cliffs_delta", "paired_cliffs_delta", "normalised_entropy"]


def _dist(p, name: str) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    if p.ndim != 1 or p.size < 2 or not np.all(np.isfinite(p)) or (p < 0).any() or p.sum() <= 0:
        raise ValueError(f"{name}: expected a distribution over at least 2 options (finite, >= 0, positive sum), "
                         f"got {np.round(p, 4).tolist()}")
    p = p / p.sum()
    p[p < 1e-300] = 0.0  # subnormal shares underflow when averaged, which would make log(p / m) infinite
    return p / p.sum()


def js_distance(p, q) -> float:
    """Jensen–Shannon distance (base 2) between two distributions over the same options, in [0, 1]."""
    p, q = _dist(p, "p"), _dist(q, "q")
    if p.size != q.size:
        raise ValueError(f"p and q: expected the same number of options, got {p.size} and {q.size}")
    return float(jensenshannon(p, q, base=2))


def ordinal_emd(p, q) -> float:
    """Earth mover's distance between distributions over ordered options 1..k, divided by k - 1."""
    p, q = _dist(p, "p"), _dist(q, "q")
    if p.size != q.size:
        raise ValueError(f"p and q: expected the same number of options, got {p.size} and {q.size}")
    pos = np.arange(p.size, dtype=float)
    return float(wasserstein_distance(pos, pos, p, q) / (p.size - 1))


def distribution_distance(p, q, scale: str) -> float:
    """:func:`ordinal_emd` for ``scale="ordinal"``, :func:`js_distance` for ``"categorical"``."""
    if scale == "ordinal":
        return ordinal_emd(p, q)
    if scale == "categorical":
        return js_distance(p, q)
    raise ValueError(f"scale: expected 'ordinal' or 'categorical', got {scale!r}")


def expected_answer(p) -> float:
    """Mean option position (1..k) under distribution ``p``: an ordinal item's answer on its scale."""
    p = _dist(p, "p")
    return float(np.dot(p, np.arange(1, p.size + 1)))


def consistency_score(a, b, low: float, high: float, *, scale: str = "ordinal") -> float | np.ndarray:
    """``100 (1 - |a - b| / (high - low))``: NVAS, CLCS and FCS (ordinal items only).

    Parameters
    ----------
    a, b : float or array
        Two answers on the item's scale (or a model answer and a population mean).
    low, high : float
        The scale's ends.
    scale : str
        Must be ``"ordinal"``.

    Returns
    -------
    float or ndarray
        100 when the answers agree, 0 when they sit at opposite ends.
    """
    if scale != "ordinal":
        raise ValueError(f"consistency scores compare positions on an ordered scale; got a {scale!r} item "
                         "(use js_distance for categorical items)")
    if not high > low:
        raise ValueError(f"high must exceed low, got low={low}, high={high}")
    return 100 * (1 - np.abs(np.asarray(a, float) - np.asarray(b, float)) / (high - low))


def cliffs_delta(x, y) -> float:
    """Cliff's delta, P(X > Y) - P(X < Y), from the Mann–Whitney U statistic: ``2 U / (n m) - 1``."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size == 0 or y.size == 0:
        return np.nan
    u = mannwhitneyu(x, y, alternative="two-sided").statistic
    return float(2 * u / (x.size * y.size) - 1)


def paired_cliffs_delta(x, y) -> float:
    """Paired dominance, P(X_i > Y_i) - P(X_i < Y_i) over matched pairs: ``mean(sign(x - y))``.

    The effect size that goes with a paired test: four items each shifted by the same small
    amount give 1, where the two-sample :func:`cliffs_delta` would be swamped by the spread
    between items.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape:
        raise ValueError(f"x and y: expected matched pairs, got {x.size} and {y.size} values")
    return float(np.mean(np.sign(x - y))) if x.size else np.nan


def normalised_entropy(p) -> float:
    """Shannon entropy of ``p`` divided by ``log(k)``: 0 for one certain answer, 1 for the uniform answerer.

    How spread out an answer distribution is, comparable across items with different
    numbers of options [1]_. A spread-out model sits close to every population whose answers
    are spread out too, whatever its values: read alignment beside it.

    References
    ----------
    .. [1] Shannon, C. E. (1948). A mathematical theory of communication. *Bell System
       Technical Journal* 27(3), 379–423.
    """
    p = _dist(p, "p")
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum() / np.log(p.size))
