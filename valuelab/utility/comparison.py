"""Comparing fits of the same comparisons: information criteria and likelihood-ratio tests.

A likelihood-ratio test needs two things the chi-square reference of Wilks' theorem takes
for granted, and paired-comparison fits often lack: nested models, and a sample large
enough for the asymptotics. The free-variance model has one weakly identified variance per
option; with a few answers per pair its maximum-likelihood estimate puts some variances on
the boundary (0), and the statistic is then far from chi-square (testing case V against free
variances on 10 options with 20 answers per pair, the chi-square reference rejected a true
case V in 12-17% of data sets at alpha = 0.05). valuelab therefore refers the statistic to
its parametric-bootstrap distribution: data simulated from the restricted fit, both models
refitted, the share of simulated statistics at least as large as the observed one. That
reference is right whether or not the estimate lies on the boundary, and a Monte Carlo test
with ``(n_resamples + 1) * alpha`` a whole number has size alpha up to the error in the
restricted fit's parameters.

Non-nested models (Thurstonian against Bradley–Terry: other links) get AIC and BIC but no
p-value.

References
----------
.. [1] Wilks, S. S. (1938). The large-sample distribution of the likelihood ratio for
   testing composite hypotheses. *Annals of Mathematical Statistics* 9(1), 60–62.
.. [2] Self, S. G. and Liang, K.-Y. (1987). Asymptotic properties of maximum likelihood
   estimators and likelihood ratio tests under nonstandard conditions. *JASA* 82(398),
   605–610.
.. [3] Davison, A. C. and Hinkley, D. V. (1997). *Bootstrap Methods and their
   Application*, §4.2 (parametric bootstrap tests). Cambridge University Press.
.. [4] Vuong, Q. H. (1989). Likelihood ratio tests for model selection and non-nested
   hypotheses. *Econometrica* 57(2), 307–333 (why non-nested fits need another test).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import chi2

from ..schema import ComparisonData
from .results import ThurstonianResult, named_fits
from .uncertainty import counts_are_whole

__all__ = ["compare_fits"]


def _data_table(fit: ThurstonianResult) -> pd.DataFrame:
    """The fitted comparisons in a canonical form (labels, order, counts), for 'same data' checks."""
    d = fit._lik.source
    labels = np.asarray(d.options, dtype=object)
    a, b = labels[d.a].astype(str), labels[d.b].astype(str)
    swap = a > b
    table = pd.DataFrame({
        "lo": np.where(swap, b, a), "hi": np.where(swap, a, b),
        "first": np.where(swap, -d.first, d.first),
        "n_lo": np.where(swap, d.n_b, d.n_a), "n_hi": np.where(swap, d.n_a, d.n_b),
    })
    return table.sort_values(["lo", "hi", "first"]).reset_index(drop=True)


def _nested(small: ThurstonianResult, big: ThurstonianResult) -> bool:
    """``small`` is ``big`` with some parameters fixed (a variance shared, no order effect)."""
    s, b = small._lik, big._lik
    return (s.link == b.link and s.free_variance <= b.free_variance and s.order_effect <= b.order_effect
            and (s.free_variance, s.order_effect) != (b.free_variance, b.order_effect))


def _embed(small_lik, theta_small: np.ndarray, big_lik) -> np.ndarray:
    """The restricted estimate as a point of the larger model (a start that cannot do worse)."""
    n = small_lik.n_options
    theta = np.zeros(big_lik.n_params)
    theta[:n] = theta_small[:n]
    if big_lik.free_variance:
        theta[n : 2 * n] = (theta_small[n : 2 * n] if small_lik.free_variance
                            else np.log(small_lik.unpack(theta_small)[1]))
    if big_lik.order_effect:
        theta[-1] = theta_small[-1] if small_lik.order_effect else 0.0
    return theta


def _larger_fit(big: ThurstonianResult, data: ComparisonData, lik_s, theta_s: np.ndarray, cold=None):
    """The larger model's best log-likelihood from two starts: its own default start (or the
    user's fit, ``cold``) and the restricted estimate embedded in it. The free-variance
    likelihood has local maxima; taking the better of the same two starts for the observed
    and every simulated data set keeps the statistic one procedure, so the bootstrap
    calibrates it exactly as it is computed."""
    spec = big._spec
    lik_e, th_e, info_e = spec.fit(data, _embed(lik_s, theta_s, spec.likelihood(data)))
    if cold is None:
        lik_c, th_c, info_c = spec.fit(data)
        cold = (lik_c.loglike(th_c), info_c.converged)
    ll_e = lik_e.loglike(th_e) if info_e.converged else -np.inf
    ll_c = cold[0] if cold[1] else -np.inf
    return max(ll_e, ll_c)


def _bootstrap_lr(small: ThurstonianResult, big: ThurstonianResult, n_resamples: int, seed, n_jobs: int,
                  progress: bool):
    """Likelihood-ratio statistics of data simulated from ``small``'s fit."""
    from joblib import Parallel, delayed

    src = small._lik.source
    p = small._lik.predict(small._theta, src)
    n = src.n_a + src.n_b
    seeds = np.random.SeedSequence(seed).spawn(n_resamples)

    def one(s):
        rng = np.random.default_rng(s)
        n_a = rng.binomial(np.round(n).astype(np.int64), p).astype(float)
        data = ComparisonData(src.options, src.a, src.b, n_a, n - n_a, src.first)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lik_s, th_s, info_s = small._spec.fit(data, small._theta)
            if not info_s.converged:
                return np.nan
            ll_big = _larger_fit(big, data, lik_s, th_s)
        return max(2.0 * (ll_big - lik_s.loglike(th_s)), 0.0) if np.isfinite(ll_big) else np.nan

    tasks = (delayed(one)(s) for s in seeds)
    if progress:
        from tqdm.auto import tqdm

        tasks = tqdm(tasks, total=n_resamples, desc="bootstrap LR")
    return np.array(Parallel(n_jobs=n_jobs)(tasks), dtype=float)


def compare_fits(fits: dict[str, ThurstonianResult], *more_fits: ThurstonianResult, reference: str | None = None,
                 test: str = "bootstrap", n_resamples: int = 99, seed: int | None = 0, n_jobs: int = 1,
                 progress: bool = False) -> pd.DataFrame:
    """Compare fits of the same comparisons by log-likelihood, AIC, BIC and likelihood-ratio tests.

    Parameters
    ----------
    fits : dict of name -> ThurstonianResult, list of fits, or a fit
        Fits of the same comparisons (checked row by row, not only by their totals).
        ``compare_fits({"case V": a, "free": b})``, ``compare_fits([a, b])`` and
        ``compare_fits(a, b)`` all work; unnamed fits are named by their model
        (``"thurstonian"``, ``"case_v"``, ``"bradley_terry"``) when those differ, else
        ``"fit 1"``, ``"fit 2"``, ...
    *more_fits : ThurstonianResult
        Further fits, when the fits are given one after another.
    reference : str, optional
        Name of the restricted model each other fit is tested against (default: the fit
        with the fewest parameters). A fit gets a likelihood-ratio test only when the
        reference is nested in it (same link; a shared variance or no order effect where
        the other has them) and both are maximum-likelihood fits (``prior=None``).
    test : {"bootstrap", "chi2"}
        Reference distribution of the statistic: the parametric bootstrap (default; right
        on the boundary and in small samples) or Wilks' chi-square (fast, asymptotic;
        wrong when a variance sits on the boundary). With the bootstrap, the larger model
        is also refitted from the restricted estimate and the better of the two maxima
        is used, for the observed and every simulated data set alike (its likelihood has
        local maxima).
    n_resamples : int
        Simulated data sets for the bootstrap (99 gives exact 1% and 5% levels).
    seed : int or None
    n_jobs : int
        Parallel workers for the bootstrap (joblib).
    progress : bool
        Show a progress bar during the bootstrap.

    Returns
    -------
    DataFrame
        Indexed by name: ``model``, ``loglike``, ``n_params``, ``aic``, ``bic``,
        ``delta_aic`` (to the best; from the fits as given), ``nested`` (the reference is nested in this fit),
        ``at_boundary`` (a variance of this fit is 0), ``lr_stat``, ``lr_df``,
        ``lr_pvalue`` (NaN where no test applies), ``lr_reference`` ("bootstrap (B)" or
        "chi2"), ``n_resamples_ok`` (bootstrap data sets whose fits converged).

    Raises
    ------
    ValueError
        When the fits are of different comparisons, or ``reference`` is not a fit.

    References
    ----------
    .. [1] Wilks, S. S. (1938). *Annals of Mathematical Statistics* 9(1), 60–62.
    .. [2] Self, S. G. and Liang, K.-Y. (1987). *JASA* 82(398), 605–610.
    .. [3] Davison, A. C. and Hinkley, D. V. (1997). *Bootstrap Methods and their
       Application*, §4.2. Cambridge University Press.
    """
    fits = named_fits(fits, more_fits, minimum=1)
    for name, f in fits.items():
        if not isinstance(f, ThurstonianResult):
            raise TypeError(f"fits[{name!r}]: expected a fit (ThurstonianResult), got {type(f).__name__}")
    if test not in ("bootstrap", "chi2"):
        raise ValueError(f"test: expected 'bootstrap' or 'chi2', got {test!r}")
    if test == "bootstrap" and not (isinstance(n_resamples, (int, np.integer)) and n_resamples >= 1):
        raise ValueError(f"n_resamples: expected a positive integer, got {n_resamples!r}")
    names = list(fits)
    first = _data_table(fits[names[0]])
    for name in names[1:]:
        if not first.equals(_data_table(fits[name])):
            raise ValueError(f"fits: {names[0]!r} and {name!r} are fits of different data (their comparisons "
                             "differ in pairs, orders or counts)")
    table = pd.DataFrame(
        {name: {"model": f.model, "loglike": f.loglike, "n_params": f.n_params, "aic": f.aic, "bic": f.bic}
         for name, f in fits.items()}
    ).T
    for col in ("loglike", "aic", "bic"):
        table[col] = table[col].astype(float)
    table["n_params"] = table["n_params"].astype(int)
    table["delta_aic"] = table["aic"] - table["aic"].min()
    ref = reference if reference is not None else table["n_params"].idxmin()
    if ref not in fits:
        raise ValueError(f"reference: {ref!r} is not one of the fits {names}")
    small = fits[ref]
    table["nested"] = [name != ref and _nested(small, fits[name]) for name in names]
    table["at_boundary"] = [fits[name].at_boundary for name in names]
    for col in ("lr_stat", "lr_df", "lr_pvalue"):
        table[col] = np.nan
    table["lr_reference"] = None
    table["n_resamples_ok"] = np.nan
    whole = counts_are_whole(np.concatenate([small._lik.source.n_a, small._lik.source.n_b]))
    if not whole:
        warnings.warn("compare_fits: the counts are not whole numbers (probabilities read from logits?): the "
                      "log-likelihood, AIC and BIC scale with the weight given to each probability, so their "
                      "differences do not choose a model; compare held-out log loss (vl.cross_validate) instead",
                      UserWarning, stacklevel=2)
    for name in names:
        if not table.at[name, "nested"]:
            continue
        big = fits[name]
        if small.prior is not None or big.prior is not None:
            warnings.warn(f"compare_fits: {name!r} or {ref!r} is a MAP fit (with a prior); likelihood-ratio "
                          "tests need maximum-likelihood fits: refit both with prior=None", UserWarning,
                          stacklevel=2)
            continue
        if not whole:
            continue  # a likelihood-ratio test needs counts of sampled answers (warned above)
        big_ll = big.loglike
        if test == "bootstrap":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                big_ll = _larger_fit(big, small._lik.source, small._lik, small._theta,
                                     cold=(big.loglike, big.converged))
            big_ll = max(big_ll, big.loglike)
        stat = max(2.0 * (big_ll - small.loglike), 0.0)
        df = int(big.n_params - small.n_params)
        table.at[name, "lr_stat"], table.at[name, "lr_df"] = stat, df
        if test == "chi2":
            if big.at_boundary:
                warnings.warn(f"compare_fits: {name!r} has variances on the boundary (0); the chi-square "
                              "reference does not hold there: use test='bootstrap'", UserWarning, stacklevel=2)
            table.at[name, "lr_pvalue"] = float(chi2.sf(stat, df))
            table.at[name, "lr_reference"] = "chi2"
        else:
            sims = _bootstrap_lr(small, big, n_resamples, seed, n_jobs, progress)
            ok = sims[np.isfinite(sims)]
            table.at[name, "lr_pvalue"] = (1 + np.sum(ok >= stat - 1e-9 * max(stat, 1.0))) / (len(ok) + 1)
            table.at[name, "lr_reference"] = f"bootstrap ({len(ok)})"
            table.at[name, "n_resamples_ok"] = len(ok)
    return table
