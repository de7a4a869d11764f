"""Convergence of utilities across models, and drift across an ordered series of fits.

References
----------
.. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640 (utility convergence across models).
.. [2] Bhatia, M. et al. (2025). Value drifts: tracing value alignment during LLM
   post-training. arXiv:2510.26707 (values settle early in training).
.. [3] Gower, J. C. (1966). Some distance properties of latent root and vector methods used
   in multivariate analysis. *Biometrika* 53(3/4), 325–338 (classical scaling).
.. [4] Spearman, C. (1904). The proof and measurement of association between two things.
   *American Journal of Psychology* 15(1), 72–101 (correction for attenuation).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg as sl
from scipy.stats import norm, rankdata

from .exchange import option_covariance
from .results import ThurstonianResult, named_fits, utility_table

__all__ = ["utility_matrix", "utility_correlations", "utility_embedding", "utility_drift"]


def utility_matrix(fits) -> pd.DataFrame:
    """Utilities of several fits side by side: options as rows, one column per fit.

    Parameters
    ----------
    fits : dict of name -> ThurstonianResult, Series or DataFrame with ``mean``
        Any mapping (or list of ``(name, fit)``, or list of fits) of fitted utilities.

    Returns
    -------
    DataFrame
        Means on the options all fits share (rows with any missing value dropped).
    """
    items = _items(fits)
    cols = {}
    for name, f in items:
        cols[name] = pd.Series(f) if isinstance(f, (pd.Series, dict, list, np.ndarray)) else utility_table(f)["mean"]
    wide = pd.DataFrame(cols).dropna()
    if len(wide) < 3:
        raise ValueError(f"fits: only {len(wide)} options are shared by all fits; at least 3 are needed")
    return wide


def _items(fits) -> list:
    return list(named_fits(fits, minimum=2).items())


def _noise_root(fit, ids: pd.Index) -> np.ndarray | None:
    """``R`` with ``R R'`` the covariance of a fit's means on ``ids``; None when it has none.

    A fit's ``covariance_mean``, else ``diag(se_mean^2)`` of a table; a Series (or a table
    without ``se_mean``) has no uncertainty.
    """
    if isinstance(fit, (pd.Series, dict, list, np.ndarray)):
        return None
    if not isinstance(fit, ThurstonianResult) and "se_mean" not in utility_table(fit).columns:
        return None
    cov = option_covariance(fit, ids)
    lam, vec = sl.eigh(cov)
    return vec * np.sqrt(np.clip(lam, 0, None))


def _correlations(x: np.ndarray, y: np.ndarray, method: str) -> np.ndarray:
    """Row-wise correlation of ``x`` and ``y`` (draws x options)."""
    if method == "spearman":
        x, y = rankdata(x, axis=-1), rankdata(y, axis=-1)
    x = x - x.mean(-1, keepdims=True)
    y = y - y.mean(-1, keepdims=True)
    return (x * y).sum(-1) / np.sqrt((x * x).sum(-1) * (y * y).sum(-1))


def _pearson_corrected(x, y, noise_x, noise_y) -> np.ndarray:
    """Pearson correlation with each side's variance net of its noise variance (rows: draws)."""
    x = x - x.mean(-1, keepdims=True)
    y = y - y.mean(-1, keepdims=True)
    vx = (x * x).sum(-1) - noise_x
    vy = (y * y).sum(-1) - noise_y
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (x * y).sum(-1) / np.sqrt(vx * vy)
    return np.where((vx > 0) & (vy > 0), r, np.nan)


def utility_correlations(fits, *more_fits, method: str = "pearson", target: str = "options", alpha: float = 0.05,
                         n_resamples: int = 1000, seed: int | None = 0) -> pd.DataFrame:
    """Correlation of utilities between every two fits, on their shared options, with intervals.

    Fitted utilities are the true ones plus estimation noise, and noise pulls their
    correlation towards 0. ``corrected`` estimates the correlation of the *true* utilities,
    and the interval is for one of two quantities (``target``):

    * ``"options"`` (Pearson only): the correlation of the two agents' true utility vectors
      on exactly these options. Its only uncertainty is estimation noise, propagated from
      each fit's covariance by a parametric bootstrap. A Series carries no uncertainty, so
      between two Series this interval is NaN (the noise is unknown).
    * ``"population"``: the correlation across a population of options of which these are a
      random sample (a bivariate normal ``rho``): the Fisher-z interval, widened by the
      estimation noise.

    Parameters
    ----------
    fits : dict of name -> fit, list of fits, or a fit (see :func:`utility_matrix`)
        Fits (ThurstonianResult: their ``covariance_mean`` is the noise), tables with
        ``mean`` and ``se_mean`` (noise independent across options), or Series (exact).
        The fits must come from separate data: their noises are taken as independent.
        ``utility_correlations(a, b)`` and ``utility_correlations([a, b])`` name the fits
        ``"fit 1"``, ``"fit 2"`` (or by model, when the models differ).
    *more_fits
        Further fits, when the fits are given one after another.
    method : {"pearson", "spearman"}
    target : {"options", "population"}
        Which correlation the interval is for (see above).
    alpha : float
        1 - confidence level.
    n_resamples : int
        Parametric-bootstrap draws of both fits' noise.
    seed : int or None

    Returns
    -------
    DataFrame
        One row per pair of fits: ``fit_a``, ``fit_b``, ``correlation`` (of the fitted
        means, as observed), ``corrected`` (estimate of the correlation of the true
        utilities: for Pearson each side's variance net of its noise variance, for Spearman
        ``2 r - mean(r*)`` over the bootstrap draws ``r*``; NaN when noise swamps a side),
        ``ci_low``, ``ci_high`` (for ``target``: "options", the basic bootstrap interval on
        the Fisher-z scale, whose draws add fresh noise to the fitted means, NaN when no fit
        of the pair has uncertainty; "population", Fisher z with variance ``1 / (n - 3)`` (Pearson) or
        ``(1 + r^2 / 2) / (n - 3)`` (Spearman) plus the noise variance), ``n_options``,
        ``target``. ``.pivot(index="fit_a", columns="fit_b", values="corrected")`` gives
        the matrix.

    References
    ----------
    .. [1] Spearman, C. (1904). The proof and measurement of association between two things.
       *American Journal of Psychology* 15(1), 72–101 (correction for attenuation).
    .. [2] Fisher, R. A. (1921). On the "probable error" of a coefficient of correlation
       deduced from a small sample. *Metron* 1, 3–32.
    .. [3] Bonett, D. G. and Wright, T. A. (2000). Sample size requirements for estimating
       Pearson, Kendall and Spearman correlations. *Psychometrika* 65(1), 23–28.
    .. [4] Efron, B. and Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*,
       §6.5 and ch. 10 (parametric bootstrap, bias correction). Chapman & Hall.
    """
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method: expected 'pearson' or 'spearman', got {method!r}")
    if target not in ("options", "population"):
        raise ValueError(f"target: expected 'options' or 'population', got {target!r}")
    if method == "spearman" and target == "options":
        raise ValueError("target: method='spearman' has no interval for the true vectors on these options (their "
                         "rank correlation cannot be corrected for noise reliably); use target='population' or "
                         "method='pearson'")
    items = named_fits(fits, more_fits, minimum=2)
    wide = utility_matrix(items)
    n = len(wide)
    j = np.eye(n) - 1.0 / n
    roots = {name: _noise_root(items[name], wide.index) for name in wide.columns}
    rng = np.random.default_rng(seed)
    draws = {name: (None if r is None else wide[name].to_numpy() + rng.normal(size=(n_resamples, r.shape[1])) @ r.T)
             for name, r in roots.items()}
    noise = {name: (0.0 if r is None else float(np.sum((j @ r) ** 2))) for name, r in roots.items()}
    z = norm.ppf(1 - alpha / 2)
    rows = []
    names = list(wide.columns)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            x, y = wide[a].to_numpy(float), wide[b].to_numpy(float)
            r = float(_correlations(x, y, method))
            has_noise = roots[a] is not None or roots[b] is not None
            star = None
            if has_noise:
                xs = x[None, :] if draws[a] is None else draws[a]
                ys = y[None, :] if draws[b] is None else draws[b]
                # the bootstrap world's true utilities are the fitted ones: its truth is r
                star = (_pearson_corrected(xs, ys, noise[a], noise[b]) if method == "pearson"
                        else _correlations(xs, ys, method))
            if method == "pearson":
                est = float(_pearson_corrected(x, y, noise[a], noise[b]))
            else:
                est = float(2 * r - np.mean(star)) if has_noise else r
            est = float(np.clip(est, -1.0, 1.0)) if np.isfinite(est) else np.nan
            z_est = np.arctanh(np.clip(est, -1 + 1e-12, 1 - 1e-12))
            lo = hi = np.nan
            if has_noise and np.isfinite(est):
                z_star = np.arctanh(np.clip(star[np.isfinite(star)], -1 + 1e-12, 1 - 1e-12))
                # Pearson draws estimate r (the bootstrap world's truth); Spearman draws are
                # uncorrected, and their spread about their own mean is the estimate's
                centre = np.arctanh(np.clip(r, -1 + 1e-12, 1 - 1e-12)) if method == "pearson" else np.mean(z_star)
            if target == "options" and has_noise and np.isfinite(est):
                q_lo, q_hi = np.quantile(z_star, [alpha / 2, 1 - alpha / 2])
                lo, hi = np.tanh(z_est - (q_hi - centre)), np.tanh(z_est - (q_lo - centre))
            elif target == "population" and np.isfinite(est) and n > 3:
                var = (1.0 if method == "pearson" else 1.0 + est * est / 2) / (n - 3)
                if has_noise:
                    var += float(np.var(z_star))
                lo, hi = np.tanh(z_est - z * np.sqrt(var)), np.tanh(z_est + z * np.sqrt(var))
            rows.append({"fit_a": a, "fit_b": b, "correlation": r, "corrected": est, "ci_low": float(lo),
                         "ci_high": float(hi), "n_options": n, "target": target})
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


def utility_drift(fits, *more_fits, threshold: float = 0.95) -> pd.DataFrame:
    """How utilities change along an ordered series of fits (training checkpoints), and when they settle.

    Parameters
    ----------
    fits : dict, list of (name, fit) or list of fits, in order
        Unnamed fits are named ``"fit 1"``, ``"fit 2"``, ...
    *more_fits
        Further fits, when the fits are given one after another.
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
    wide = utility_matrix(named_fits(fits, more_fits, minimum=2))
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
