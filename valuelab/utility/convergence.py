"""Convergence of utilities across models, and drift across an ordered series of fits.

References
----------
.. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640 (utility convergence across models).
.. [2] Bhatia, M. et al. (2025). Value drifts: tracing value alignment during LLM
   post-training. arXiv:2510.26707 (values settle early in training).
.. [3] Gower, J. C. (1966). Some distance properties of latent root and vector methods used
   in multivariate analysis. *Biometrika* 53(3/4), 325–338 (classical scaling).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import pearsonr, spearmanr

from ..stats import correlation_interval
from .results import utility_table

__all__ = ["utility_matrix", "utility_correlations", "utility_embedding", "utility_drift"]


def utility_matrix(fits) -> pd.DataFrame:
    """Utilities of several fits side by side: options as rows, one column per fit.

    Parameters
    ----------
    fits : dict of name -> ThurstonianResult, Series or DataFrame with ``mean``
        Any mapping (or list of ``(name, fit)``) of fitted utilities.

    Returns
    -------
    DataFrame
        Means on the options all fits share (rows with any missing value dropped).
    """
    items = list(fits.items()) if isinstance(fits, dict) else list(fits)
    if len(items) < 2:
        raise ValueError("fits: expected at least two fits to compare")
    cols = {}
    for name, f in items:
        cols[name] = pd.Series(f) if isinstance(f, (pd.Series, dict, list, np.ndarray)) else utility_table(f)["mean"]
    wide = pd.DataFrame(cols).dropna()
    if len(wide) < 3:
        raise ValueError(f"fits: only {len(wide)} options are shared by all fits; at least 3 are needed")
    return wide


def utility_correlations(fits, *, method: str = "pearson", alpha: float = 0.05) -> pd.DataFrame:
    """Correlation of utilities between every two fits, on their shared options, with intervals.

    Parameters
    ----------
    fits : dict of name -> fit (see :func:`utility_matrix`)
    method : {"pearson", "spearman"}
    alpha : float

    Returns
    -------
    DataFrame
        One row per pair of fits: ``fit_a``, ``fit_b``, ``correlation``, ``ci_low``,
        ``ci_high`` (Fisher z; for Spearman the same transform, an approximation),
        ``n_options``. ``.pivot(index="fit_a", columns="fit_b", values="correlation")``
        gives the matrix.
    """
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method: expected 'pearson' or 'spearman', got {method!r}")
    wide = utility_matrix(fits)
    corr = pearsonr if method == "pearson" else spearmanr
    rows = []
    names = list(wide.columns)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            r = float(corr(wide[a], wide[b]).statistic)
            lo, hi = correlation_interval(r, len(wide), alpha=alpha)
            rows.append({"fit_a": a, "fit_b": b, "correlation": r, "ci_low": lo, "ci_high": hi,
                         "n_options": len(wide)})
    return pd.DataFrame(rows)


def utility_embedding(fits, *, n_components: int = 2) -> pd.DataFrame:
    """Place fits in a plane so that fits with correlated utilities lie close together.

    Classical (Torgerson) scaling of the distances ``sqrt(2 (1 - r))`` between standardised
    utility vectors (the Euclidean distance between them, divided by ``sqrt(n)``).

    Returns
    -------
    DataFrame
        Indexed by fit: ``dim1``, ``dim2``, ... (coordinates; signs are arbitrary).

    References
    ----------
    .. [1] Gower, J. C. (1966). Some distance properties of latent root and vector methods
       used in multivariate analysis. *Biometrika* 53(3/4), 325–338.
    """
    wide = utility_matrix(fits)
    z = (wide - wide.mean()) / wide.std(ddof=0)
    r = np.corrcoef(z.to_numpy().T)
    d2 = 2 * (1 - r)
    m = len(r)
    j = np.eye(m) - 1.0 / m
    b = -0.5 * j @ d2 @ j
    vals, vecs = np.linalg.eigh(b)
    order = np.argsort(vals)[::-1][:n_components]
    coords = vecs[:, order] * np.sqrt(np.clip(vals[order], 0, None))
    return pd.DataFrame(coords, index=wide.columns, columns=[f"dim{i + 1}" for i in range(n_components)])


def utility_drift(fits, *, threshold: float = 0.95) -> pd.DataFrame:
    """How utilities change along an ordered series of fits (training checkpoints), and when they settle.

    Parameters
    ----------
    fits : dict or list of (name, fit), in order
    threshold : float
        A series has settled at the first step from which every later fit correlates with
        the final one at ``threshold`` or more.

    Returns
    -------
    DataFrame
        One row per fit, in order: ``step`` (0, 1, ...), ``fit``, ``corr_previous``
        (Pearson correlation with the previous fit), ``drift`` (root mean squared change of
        the standardised utilities since the previous fit: ``sqrt(2 (1 - r))``),
        ``corr_final``, ``settled`` (True from the settling step on).

    References
    ----------
    .. [1] Bhatia, M. et al. (2025). Value drifts: tracing value alignment during LLM
       post-training. arXiv:2510.26707.
    """
    wide = utility_matrix(fits)
    z = (wide - wide.mean()) / wide.std(ddof=0)
    names = list(z.columns)
    final = z[names[-1]]
    rows = []
    for s, name in enumerate(names):
        prev = float(np.corrcoef(z[names[s - 1]], z[name])[0, 1]) if s else np.nan
        rows.append({"step": s, "fit": name, "corr_previous": prev,
                     "drift": float(np.sqrt(np.mean((z[name] - z[names[s - 1]]) ** 2))) if s else np.nan,
                     "corr_final": float(np.corrcoef(z[name], final)[0, 1])})
    out = pd.DataFrame(rows)
    above = (out["corr_final"] >= threshold).to_numpy()
    # settled from the first step after which every step is above the threshold
    tail_ok = np.flip(np.logical_and.accumulate(np.flip(above)))
    out["settled"] = tail_ok
    return out
