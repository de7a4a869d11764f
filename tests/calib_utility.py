"""Calibration of every interval and test of the utility fits, on simulated agents whose truth is known.

Each ``calibrate_*`` function simulates ``n_sims`` data sets shaped like what the estimator
meets (sampled answers in both orders, rows pooling both orders, probabilities read from
logits that no Thurstonian model fits exactly, boundary maximum-likelihood fits) and returns
the measured coverage or size with its tolerance. ``tests/test_utility_calibration.py``
asserts them; ``benchmarks/bench_calibration.py`` prints them all.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm

import valuelab as vl


def tolerance(nominal: float, n: int) -> tuple[float, float]:
    """Window for a rate measured on ``n`` independent data sets when its true value is
    ``nominal``: the issue's windows at 200 or more data sets (nominal +- 0.03: coverage 92-98%,
    size 2-8% at alpha 0.05), and +- 2.58 binomial standard errors (99%) below that."""
    half = 0.03 if n >= 200 else 2.576 * np.sqrt(nominal * (1 - nominal) / n)
    return max(nominal - half, 0.0), min(nominal + half, 1.0)


def _result(function, quantity, nominal, measured, n_sims, low=None, high=None, **extra):
    default_low, default_high = tolerance(nominal, n_sims)
    low = default_low if low is None else low
    high = default_high if high is None else high
    return {"function": function, "quantity": quantity, "nominal": nominal, "measured": float(measured),
            "n_sims": n_sims, "low": float(low), "high": float(high), **extra}


def _standardised_truth(truth: pd.DataFrame) -> pd.Series:
    mu = truth.set_index("option_id")["mean"]
    return (mu - mu.mean()) / mu.std(ddof=0)


def _covered(u: pd.DataFrame, target: pd.Series) -> np.ndarray:
    t = target.reindex(u.index).to_numpy()
    return ((u["ci_low"].to_numpy() <= t) & (t <= u["ci_high"].to_numpy()))


def _quiet():
    warnings.simplefilter("ignore")


# ----------------------------------------------------------------------------- Wald, sampled answers
def calibrate_wald_sampled_answers(n_sims: int = 200, seed: int = 0) -> dict:
    """Wald intervals of the means: 15 options, 60 random pairs, 10 answers per order, a
    position bias; coverage of the standardised true utilities (per data set, averaged)."""
    truth = vl.simulate_utilities(15, variance=(0.5, 0.3), seed=seed)
    target = _standardised_truth(truth)
    pairs = vl.random_pairs(truth, 60, seed=seed + 1)
    cover = []
    for rep in range(n_sims):
        comps = vl.simulate_comparisons(truth, pairs, samples=10, orders="both", order_bias=0.3,
                                        seed=10_000 * (seed + 1) + rep)
        fit = vl.fit_thurstonian(comps.drop(columns="p_true"))
        cover.append(_covered(fit.utilities, target).mean())
    return _result("fit_thurstonian (wald)", "coverage", 0.95, np.mean(cover), n_sims)


def calibrate_order_effect_half_pooled(n_sims: int = 200, seed: int = 0, model: str = "case_v") -> dict:
    """Wald interval of the order effect when half the pairs pool both orders in one row:
    coverage of the true bias in standardised units (20 options, 80 pairs, 10 answers per
    order). With free variances (``model="thurstonian"``) the default prior, centred on equal
    variances, makes the interval conservative (about 98.5%)."""
    fit_fn = {"case_v": vl.fit_case_v, "thurstonian": vl.fit_thurstonian}[model]
    truth = vl.simulate_utilities(20, variance=0.5, seed=seed)
    mu = truth["mean"].to_numpy()
    target = 0.8 / mu.std(ddof=0)
    pairs = vl.random_pairs(truth, 80, seed=seed + 1)
    hits = []
    for rep in range(n_sims):
        s = 20_000 * (seed + 1) + rep
        comps = vl.simulate_comparisons(truth, pairs, samples=10, orders="both", order_bias=0.8, seed=s)
        comps = comps.drop(columns="p_true")
        pooled_pairs = pairs.sample(frac=0.5, random_state=rep)
        key = pd.MultiIndex.from_frame(comps[["option_a", "option_b"]])
        is_pooled = key.isin(pd.MultiIndex.from_frame(pooled_pairs[["option_a", "option_b"]]))
        pooled = comps[is_pooled].groupby(["option_a", "option_b"], as_index=False)[["n_a", "n_b"]].sum()
        mixed = pd.concat([comps[~is_pooled], pooled.assign(shown_first=None)], ignore_index=True)
        fit = fit_fn(mixed)
        lo, hi = fit.order_effect_ci
        hits.append(lo <= target <= hi)
    low, high = tolerance(0.95, n_sims)
    if model == "thurstonian":
        high = 1.0  # conservative by design: see the docstring
    return _result(f"fit_{model} order effect (wald, half the rows pooled)", "coverage", 0.95, np.mean(hits),
                   n_sims, low=low, high=high)


# ----------------------------------------------------------------------------- sandwich, logits
def calibrate_sandwich_logit_probabilities(n_sims: int = 200, seed: int = 0, method: str = "auto") -> dict:
    """Probabilities read from logits (one observation's worth per prompt), 30 options, 150
    random pairs of 435 drawn anew per data set, deviations of sd 0.4 from case V: coverage of
    the standardised true utilities by the default intervals (the sandwich)."""
    truth = vl.simulate_utilities(30, variance=0.5, seed=seed)
    target = _standardised_truth(truth)
    cover, used = [], set()
    for rep in range(n_sims):
        rng = np.random.default_rng(30_000 * (seed + 1) + rep)
        pairs = vl.random_pairs(truth, 150, seed=int(rng.integers(1 << 30)))
        probs = vl.simulate_comparisons(truth, pairs, samples=None, misfit=0.4, order_bias=0.3,
                                        seed=int(rng.integers(1 << 30)))
        fit = vl.fit_thurstonian(probs.drop(columns="p_true"), uncertainty=method)
        used.add(fit.uncertainty)
        cover.append(_covered(fit.utilities, target).mean())
    return _result(f"fit_thurstonian ({'/'.join(sorted(used))}, logit probabilities)", "coverage", 0.95,
                   np.mean(cover), n_sims)


# ----------------------------------------------------------------------------- Bayesian bootstrap
def calibrate_bootstrap_sampled_answers(n_sims: int = 100, seed: int = 0, n_resamples: int = 60,
                                        model: str = "case_v") -> dict:
    """Bayesian-bootstrap intervals: 20 options, 2 N log2 N = 172 pairs, 10 answers per order,
    case V fits (see :mod:`valuelab.utility.uncertainty` on free variances)."""
    fit_fn = {"case_v": vl.fit_case_v, "thurstonian": vl.fit_thurstonian}[model]
    truth = vl.simulate_utilities(20, variance=0.5, seed=seed)
    target = _standardised_truth(truth)
    pairs = vl.random_pairs(truth, 172, seed=seed + 1)
    cover = []
    for rep in range(n_sims):
        comps = vl.simulate_comparisons(truth, pairs, samples=10, orders="both", seed=40_000 * (seed + 1) + rep)
        fit = fit_fn(comps.drop(columns="p_true"), uncertainty="bootstrap", n_resamples=n_resamples,
                     progress=False, seed=rep)
        cover.append(_covered(fit.utilities, target).mean())
    return _result(f"fit_{model} (bayesian bootstrap)", "coverage", 0.95, np.mean(cover), n_sims)


# ----------------------------------------------------------------------------- likelihood-ratio test
def _lr_one(truth, pairs, rep, seed, n_resamples, variance):
    _quiet()
    comps = vl.simulate_comparisons(truth, pairs, samples=20, orders="pooled", seed=50_000 * (seed + 1) + rep)
    comps = comps.drop(columns="p_true")
    full = vl.fit_thurstonian(comps, prior=None, uncertainty=None)
    restricted = vl.fit_case_v(comps, prior=None, uncertainty=None)
    fits = {"free": full, "case V": restricted}
    boot = vl.compare_fits(fits, n_resamples=n_resamples, seed=rep).loc["free", "lr_pvalue"]
    chi = vl.compare_fits(fits, test="chi2").loc["free", "lr_pvalue"]
    return boot, chi, full.at_boundary


def calibrate_lr_test(n_sims: int = 200, seed: int = 0, n_resamples: int = 19, alternative: bool = False,
                      n_jobs: int = 2) -> dict:
    """Case V against free variances, 10 options, every pair, 20 answers per pair (the design in
    which the chi-square reference rejected a true case V in 12-17% of data sets). Size at
    alpha = 0.05 when case V is true; with ``alternative=True``, power when the variances
    differ (log-variance sd 1.5)."""
    from joblib import Parallel, delayed

    variance = (0.5, 1.5) if alternative else 0.5
    truth = vl.simulate_utilities(10, variance=variance, seed=seed)
    pairs = vl.random_pairs(truth, 45, seed=seed + 1)
    out = np.array(Parallel(n_jobs=n_jobs)(delayed(_lr_one)(truth, pairs, rep, seed, n_resamples, variance)
                                           for rep in range(n_sims)), dtype=float)
    boot, chi, boundary = out.T
    name = "compare_fits LR case V vs free variances (parametric bootstrap)"
    extra = {"chi2_rate": float(np.mean(chi <= 0.05)), "boundary_share": float(boundary.mean())}
    if alternative:
        return _result(name, "power", 0.5, np.mean(boot <= 0.05), n_sims, low=0.5, high=1.0, **extra)
    return _result(name, "size", 0.05, np.mean(boot <= 0.05), n_sims, **extra)


# ----------------------------------------------------------------------------- transitivity
_N_TRANS = 15


def _all_pairs(n):
    i, j = np.triu_indices(n, 1)
    return i, j


def transitive_agent(seed: int) -> np.ndarray:
    """P(i beats j) for every pair i < j of a case V agent (perfectly transitive)."""
    i, j = _all_pairs(_N_TRANS)
    mu = np.random.default_rng(seed).normal(0, 1, _N_TRANS)
    return norm.cdf(mu[i] - mu[j])


def intransitive_agent(seed: int) -> np.ndarray:
    """P(i beats j) of an agent voting over three attributes (:func:`valuelab.simulate_attribute_voter`):
    majority-like, with Condorcet cycles."""
    return vl.simulate_attribute_voter(_N_TRANS, seed=seed)["p_a"].to_numpy()


def true_transitivity(p: np.ndarray) -> np.ndarray:
    """Cycle probability, WST and SST violation rates of the agent's own probabilities, over all
    triads, computed here from the definitions (independent of valuelab)."""
    n = _N_TRANS
    m = np.full((n, n), np.nan)
    i, j = _all_pairs(n)
    m[i, j], m[j, i] = p, 1 - p
    cyc, wst, sst = [], [], []
    for a, b, c in itertools.combinations(range(n), 3):
        pab, pbc, pca = m[a, b], m[b, c], m[c, a]
        cyc.append(pab * pbc * pca + (1 - pab) * (1 - pbc) * (1 - pca))
        w = s = False
        for x, y, z in itertools.permutations((a, b, c)):
            if m[x, y] >= 0.5 and m[y, z] >= 0.5:
                w |= m[x, z] < 0.5
                s |= m[x, z] < max(m[x, y], m[y, z]) - 1e-12
        wst.append(w)
        sst.append(s)
    return np.array([np.mean(cyc), np.mean(wst), np.mean(sst)])


def agent_answers(p: np.ndarray, seed: int, answers: int = 20) -> pd.DataFrame:
    i, j = _all_pairs(_N_TRANS)
    n_a = np.random.default_rng(seed).binomial(answers, p)
    return pd.DataFrame({"option_a": i, "option_b": j, "n_a": n_a, "n_b": answers - n_a})


def calibrate_transitivity(n_sims: int = 200, seed: int = 0, kind: str = "intransitive") -> list[dict]:
    """Coverage of the three transitivity rates of the agent's own probabilities by the
    ``observed`` intervals (15 options, every pair, 20 answers), one agent per data set."""
    agent = intransitive_agent if kind == "intransitive" else transitive_agent
    hits = []
    for rep in range(n_sims):
        p = agent(60_000 * (seed + 1) + rep)
        table = vl.transitivity(agent_answers(p, rep), n_draws=100, seed=rep)
        obs = table[table.source == "observed"].set_index("statistic")
        truth = true_transitivity(p)
        hits.append((obs["ci_low"].to_numpy() <= truth + 1e-12) & (truth - 1e-12 <= obs["ci_high"].to_numpy()))
    hits = np.array(hits)
    names = ["cycle_probability", "wst_violation_rate", "sst_violation_rate"]
    return [_result(f"transitivity {name} ({kind} agents)", "coverage", 0.95, hits[:, k].mean(), n_sims,
                    high=1.0) for k, name in enumerate(names)]


# ----------------------------------------------------------------------------- indecision
def calibrate_indecision(n_sims: int = 200, seed: int = 0, margin: float = 0.1) -> dict:
    """Coverage of the agent's true share of near-indifferent pairs by the ``observed`` interval:
    agents whose utilities spread with sd drawn in [0, 0.6] (from fully indifferent to mostly
    decided), 12 options, every pair, 20 answers."""
    n = 12
    i, j = np.triu_indices(n, 1)
    hits = []
    for rep in range(n_sims):
        rng = np.random.default_rng(70_000 * (seed + 1) + rep)
        mu = rng.normal(0, rng.uniform(0, 0.6), n)
        p = norm.cdf(mu[i] - mu[j])
        n_a = rng.binomial(20, p)
        df = pd.DataFrame({"option_a": i, "option_b": j, "n_a": n_a, "n_b": 20 - n_a})
        fit = vl.fit_case_v(df)
        summary = vl.indecision(df, fit=fit, margin=margin, n_draws=100, seed=rep).overall
        true_share = np.mean(np.abs(p - 0.5) < margin)
        lo, hi = summary.loc["observed", ["ci_low", "ci_high"]]
        hits.append(lo - 1e-12 <= true_share <= hi + 1e-12)
    return _result("indecision share near indifference", "coverage", 0.95, np.mean(hits), n_sims, high=1.0)


def calibrate_transitivity_transitive_agents(n_sims: int = 200, seed: int = 0) -> list[dict]:
    """:func:`calibrate_transitivity` on case V agents (their rates are 0; the intervals are
    unions over a confidence set for ``tau``, so they may cover more than 95%)."""
    return calibrate_transitivity(n_sims=n_sims, seed=seed, kind="transitive")


def calibrate_order_effect_free_variances(n_sims: int = 200, seed: int = 0) -> dict:
    """:func:`calibrate_order_effect_half_pooled` with the default free-variance fit (conservative)."""
    return calibrate_order_effect_half_pooled(n_sims=n_sims, seed=seed, model="thurstonian")


def calibrate_lr_power(n_sims: int = 100, seed: int = 0) -> dict:
    """Power of the bootstrap likelihood-ratio test when the variances truly differ."""
    return calibrate_lr_test(n_sims=n_sims, seed=seed, alternative=True)


ALL = [calibrate_wald_sampled_answers, calibrate_order_effect_half_pooled, calibrate_sandwich_logit_probabilities,
       calibrate_bootstrap_sampled_answers, calibrate_lr_test, calibrate_transitivity, calibrate_indecision]
