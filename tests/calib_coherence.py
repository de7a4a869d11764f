"""Calibration simulations for the coherence analyses (exchange rates, discounting, convergence,
utility maximisation), on utilities fitted by ``fit_thurstonian`` from sampled answers.

Every ``calibrate_<name>(n_sims, seed)`` returns ``{"function", "quantity", "nominal",
"measured", "n_sims", "low", "high"}``; the tests assert ``low <= measured <= high`` and a
benchmark can print them as a table::

    import pandas as pd, calib_coherence as c
    pd.DataFrame([f() for f in c.CALIBRATIONS])

Truth always comes from the simulation (the agent's curves, discount rate, utility vectors,
choice probabilities), never from the code under test.

Design ("lean"): the project's outcomes with a good and quantity or a delayed reward, plus
every third other outcome (52 options); a new coherent agent per data set
(``simulate_coherent_agent``, variance 0.3, hyperbolic discounting at 1.5 per year);
``2 N log2 N`` random pairs, 10 answers in each order; the default fit (MAP, Wald).

Tolerances: the central 95% range of a binomial proportion at the nominal rate over
``n_sims`` data sets (for 200 data sets and 95% intervals: 0.92-0.98). Where a data set gives several
intervals (six exchange rates, two rewards) the measured coverage averages them; its variance
is at most that of one interval per data set, so the band stays conservative.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
from scipy.stats import binom

import valuelab as vl

ALPHA = 0.05
DISCOUNT_RATE = 1.5


def _band(p: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Central ``level`` range of a binomial proportion with success probability ``p`` over ``n``."""
    tail = (1 - level) / 2
    return float(binom.ppf(tail, n, p) / n), float(binom.isf(tail, n, p) / n)


def _result(function, quantity, nominal, measured, n_sims, low, high) -> dict:
    return {"function": function, "quantity": quantity, "nominal": float(nominal), "measured": float(measured),
            "n_sims": int(n_sims), "low": float(low), "high": float(high)}


def lean_outcomes() -> pd.DataFrame:
    """The options of the lean design (52 of the project's outcomes)."""
    from valuelab.datasets import load_outcomes

    o = load_outcomes()
    keep = o["good"].notna() | o["reward"].notna()
    return pd.concat([o[keep], o[~keep].iloc[::3]], ignore_index=True)


def _design(truth: pd.DataFrame, seed: int, samples: int = 10) -> pd.DataFrame:
    """``2 N log2 N`` random pairs, ``samples`` answers in each order."""
    n = len(truth)
    pairs = vl.random_pairs(truth, int(2 * n * np.log2(n)), seed=seed)
    return vl.simulate_comparisons(truth, pairs, samples=samples, seed=seed + 1)


@functools.lru_cache(maxsize=4)
def agent_fits(n_sims: int, seed: int) -> tuple:
    """``(agent, fit)`` for ``n_sims`` coherent agents of the lean design (cached: several
    calibrations share them)."""
    options = lean_outcomes()
    attributes = options.drop(columns=["text"])
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for s in range(n_sims):
            agent = vl.simulate_coherent_agent(options, n_lotteries=0, discount_rate=DISCOUNT_RATE,
                                               seed=seed * 100_003 + s)
            comps = _design(agent.utilities, seed=seed * 100_003 + 7 * s + 1)
            fit = vl.fit_thurstonian(comps, options=attributes, progress=False)
            out.append((agent, fit))
    return tuple(out)


# ----------------------------------------------------------------------------- exchange rates
def _exchange_coverage(n_sims: int, seed: int, alpha: float) -> dict:
    hits = []
    for agent, fit in agent_fits(n_sims, seed):
        tab = vl.fit_exchange_rates(fit, alpha=alpha).rates("lives saved", 1)
        true = np.array([agent.exchange_rate("lives saved", g, 1) for g in tab["other"]])
        hits.append(np.mean((tab["ci_low"] <= true) & (true <= tab["ci_high"])))
    return _result("ExchangeRates.rate", "coverage", 1 - alpha, np.mean(hits), n_sims, *_band(1 - alpha, n_sims))


def calibrate_exchange_rates(n_sims: int = 200, seed: int = 0) -> dict:
    """Coverage of the 95% interval of ``ExchangeRates.rate``: one life against each other good.

    Truth: the agent's ``exchange_rate("lives saved", g, 1)`` from its own curves.
    """
    return _exchange_coverage(n_sims, seed, ALPHA)


def calibrate_exchange_rates_80(n_sims: int = 200, seed: int = 0) -> dict:
    """As :func:`calibrate_exchange_rates` for 80% intervals: intervals of the wrong width miss
    their level by more in the middle of the distribution than in its tails."""
    return _exchange_coverage(n_sims, seed, 0.2)


def _notebook_rate_errors(n_sims: int, seed: int, prior) -> np.ndarray:
    """Standardised errors ``ln(estimate / truth) / log_se`` of one life's rate to each other
    good, per data set, on the coherence notebook's design: the project's 85 outcomes plus 20
    lotteries (105 options), the notebook's agent (seed 0), ``2 N log2 N`` = 1409 pairs."""
    from valuelab.datasets import load_outcomes

    agent = vl.simulate_coherent_agent(load_outcomes(), seed=0)
    truth = agent.utilities
    errors = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for s in range(n_sims):
            comps = _design(truth, seed=seed * 100_003 + 11 * s + 3)
            fit = vl.fit_thurstonian(comps, options=truth.drop(columns=["mean", "variance"]), prior=prior,
                                     progress=False)
            tab = vl.fit_exchange_rates(fit).rates("lives saved", 1)
            true = np.array([agent.exchange_rate("lives saved", g, 1) for g in tab["other"]])
            errors.append(np.log(tab["equivalent"].to_numpy() / true) / tab["log_se"].to_numpy())
    return np.array(errors)


def _bias_result(function: str, errors: np.ndarray) -> dict:
    """Mean standardised error (nominal 0), band +-3 Monte Carlo standard errors of that mean
    (from the spread of the data sets' mean errors)."""
    per_set = errors.mean(axis=1)
    half = 3 * per_set.std(ddof=1) / np.sqrt(len(per_set))
    return _result(function, "bias", 0.0, per_set.mean(), len(per_set), -half, half)


def calibrate_exchange_rate_bias(n_sims: int = 60, seed: int = 0) -> dict:
    """Bias of the exchange rates, in standard errors, with the default fit on the notebook's design.

    Measured: the mean over data sets and the six rates of ``ln(estimate / truth) / log_se``.
    The options at the ends of the scale (1e5 and 1e6 units) sit about 8 units from its
    centre; the old default prior (``mu ~ N(0, 3^2)``) pulled them in and the rates came out
    at -0.44 standard errors. The default is now ``mean_sd = 10``.
    """
    return _bias_result("fit_exchange_rates[default prior]", _notebook_rate_errors(n_sims, seed, "default"))


# ----------------------------------------------------------------------------- discounting
def _discounting_coverage(n_sims: int, seed: int, alpha: float) -> dict:
    hits = []
    for agent, fit in agent_fits(n_sims, seed):
        d = vl.fit_discounting(fit, forms=("hyperbolic",), alpha=alpha)
        k = agent.discount_rate
        # an end the delays cannot bound (NaN) is open
        hits.append(np.mean((d["k_ci_low"].fillna(0) <= k) & (k <= d["k_ci_high"].fillna(np.inf))))
    return _result("fit_discounting", "coverage", 1 - alpha, np.mean(hits), n_sims, *_band(1 - alpha, n_sims))


def calibrate_discounting(n_sims: int = 200, seed: int = 0) -> dict:
    """Coverage of ``fit_discounting``'s 95% interval for the hyperbolic ``k`` (both rewards).

    Truth: the agent's discount rate (1.5 per year, hyperbolic).
    """
    return _discounting_coverage(n_sims, seed, ALPHA)


def calibrate_discounting_80(n_sims: int = 200, seed: int = 0) -> dict:
    """As :func:`calibrate_discounting` for 80% intervals."""
    return _discounting_coverage(n_sims, seed, 0.2)


# ----------------------------------------------------------------------------- convergence
RHO = 0.7


def _two_agents(s: int, seed: int, model: str, n: int = 30):
    """Two agents whose true means are bivariate normal with correlation ``RHO`` (utility
    variance 0.5 each), each fitted from its own sampled answers (``2 n log2 n`` pairs, 10
    answers per order) by ``fit_case_v`` or ``fit_thurstonian``."""
    rng = np.random.default_rng([seed, s])
    z = rng.multivariate_normal([0, 0], [[1, RHO], [RHO, 1]], n)
    ids = [f"o{i}" for i in range(n)]
    fit = vl.fit_case_v if model == "case_v" else vl.fit_thurstonian
    fits, truths = {}, {}
    for col, name in enumerate("ab"):
        truth = pd.DataFrame({"option_id": ids, "mean": z[:, col], "variance": 0.5})
        comps = _design(truth, seed=seed * 100_003 + 13 * s + 2 * col)
        fits[name] = fit(comps, progress=False)
        truths[name] = truth.set_index("option_id")["mean"]
    return fits, truths


@functools.lru_cache(maxsize=4)
def agent_pairs(n_sims: int, seed: int, model: str = "case_v") -> tuple:
    """``(fits, true means)`` of ``n_sims`` pairs of correlated agents (cached)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tuple(_two_agents(s, seed, model) for s in range(n_sims))


def _options_coverage(n_sims, seed, model):
    hits = []
    for fits, truths in agent_pairs(n_sims, seed, model):
        row = vl.utility_correlations(fits, alpha=ALPHA, target="options").iloc[0]
        true = float(np.corrcoef(truths["a"], truths["b"])[0, 1])
        hits.append(row.ci_low <= true <= row.ci_high)
    return np.mean(hits)


def calibrate_correlation_options(n_sims: int = 200, seed: int = 0) -> dict:
    """Coverage of ``utility_correlations(target="options")`` for the correlation of the two
    agents' TRUE utility vectors on the 30 options (truth: ``corrcoef`` of the simulated
    means), with case V fits (the agents' variances are equal), whose Wald covariance is
    calibrated."""
    return _result("utility_correlations[options]", "coverage", 1 - ALPHA, _options_coverage(n_sims, seed, "case_v"),
                   n_sims, *_band(1 - ALPHA, n_sims))


def calibrate_correlation_options_thurstonian(n_sims: int = 200, seed: int = 0) -> dict:
    """As :func:`calibrate_correlation_options` with the default ``fit_thurstonian`` (free
    variances, MAP, Wald). Its covariance overstates the means' sampling variance (about
    1.4 times on this design), and this interval has no other source of uncertainty."""
    return _result("utility_correlations[options]", "coverage", 1 - ALPHA,
                   _options_coverage(n_sims, seed, "thurstonian"), n_sims, *_band(1 - ALPHA, n_sims))


def calibrate_correlation_population(n_sims: int = 200, seed: int = 0) -> dict:
    """Coverage of ``utility_correlations(target="population")`` for ``RHO`` = 0.7, the
    correlation of the distribution the options' utilities were drawn from (case V fits)."""
    hits = []
    for fits, _ in agent_pairs(n_sims, seed, "case_v"):
        row = vl.utility_correlations(fits, alpha=ALPHA, target="population").iloc[0]
        hits.append(row.ci_low <= RHO <= row.ci_high)
    return _result("utility_correlations[population]", "coverage", 1 - ALPHA, np.mean(hits), n_sims,
                   *_band(1 - ALPHA, n_sims))


def calibrate_correlation_bias(n_sims: int = 200, seed: int = 0) -> dict:
    """Bias of ``corrected`` against the true vectors' correlation (case V fits); the raw
    correlation of fitted means is attenuated by their noise. Band: +-3 Monte Carlo standard
    errors of the mean error."""
    err = []
    for fits, truths in agent_pairs(n_sims, seed, "case_v"):
        row = vl.utility_correlations(fits, target="options").iloc[0]
        err.append(row.corrected - float(np.corrcoef(truths["a"], truths["b"])[0, 1]))
    half = 3 * np.std(err, ddof=1) / np.sqrt(n_sims)
    return _result("utility_correlations", "bias", 0.0, np.mean(err), n_sims, -half, half)


# ----------------------------------------------------------------------------- maximisation
N_SETS = 60        # free-choice sets of 4, as in the coherence notebook
N_SETS_POWER = 10  # fewer sets for the power checks, so that power is not 1


def _choices(agent, n_sets: int, rng, how: str) -> pd.DataFrame:
    """Random sets of 4 options and the choice in each: the agent's largest utility draw
    (``how="utilities"``, as :meth:`CoherentAgent.choose`) or a uniform pick ("random")."""
    u = agent.utilities
    idx = np.argsort(rng.random((n_sets, len(u))), axis=1)[:, :4]
    if how == "utilities":
        mu, sd = u["mean"].to_numpy()[idx], np.sqrt(u["variance"].to_numpy()[idx])
        pick = rng.normal(mu, sd).argmax(axis=1)
    else:
        pick = rng.integers(0, 4, n_sets)
    return pd.DataFrame({"set_id": np.repeat(np.arange(n_sets), 4), "option_id": u["option_id"].to_numpy()[idx].ravel(),
                         "chosen": (np.arange(4)[None, :] == pick[:, None]).ravel()})


def _true_rate(agent, rng, n_sets: int = 4000, n_draws: int = 50) -> float:
    """P(the agent picks its highest-mean option) in a random set of 4: Monte Carlo over fresh
    sets and utility draws, from the agent's true means and variances."""
    u = agent.utilities
    idx = np.argsort(rng.random((n_sets, len(u))), axis=1)[:, :4]
    mu, sd = u["mean"].to_numpy()[idx], np.sqrt(u["variance"].to_numpy()[idx])
    draws = rng.normal(mu[:, None, :], sd[:, None, :], (n_sets, n_draws, 4))
    return float(np.mean(draws.argmax(-1) == mu.argmax(-1)[:, None]))


@functools.lru_cache(maxsize=4)
def true_rates(n_sims: int, seed: int) -> tuple:
    """Each lean agent's true rate (:func:`_true_rate`), cached."""
    return tuple(_true_rate(agent, np.random.default_rng([seed, s, 98]))
                 for s, (agent, _) in enumerate(agent_fits(n_sims, seed)))


def _maximisation_runs(n_sims: int, seed: int, how: str, n_sets: int):
    """``(summary, true rate)`` per data set."""
    out = []
    for s, ((agent, fit), true) in enumerate(zip(agent_fits(n_sims, seed), true_rates(n_sims, seed))):
        rng = np.random.default_rng([seed, s, 99])
        summary = vl.utility_maximisation(_choices(agent, n_sets, rng, how), fit=fit, alpha=ALPHA).overall
        out.append((summary, true))
    return out


def calibrate_maximisation_rate(n_sims: int = 200, seed: int = 0) -> dict:
    """Coverage of the Wilson interval of ``utility_maximisation``'s rate (60 sets of 4): the
    probability that the agent picks its TRUE highest-mean option from a random set of 4."""
    hits = [s.ci_low <= true <= s.ci_high for s, true in _maximisation_runs(n_sims, seed, "utilities", N_SETS)]
    return _result("utility_maximisation.rate", "coverage", 1 - ALPHA, np.mean(hits), n_sims,
                   *_band(1 - ALPHA, n_sims))


def calibrate_maximisation_chance_size(n_sims: int = 200, seed: int = 0) -> dict:
    """Size of ``p_value`` (against chance) for an agent choosing uniformly at random (60 sets).

    The exact test is conservative (discrete), so the band starts at 0.
    """
    runs = _maximisation_runs(n_sims, seed, "random", N_SETS)
    measured = np.mean([s.p_value <= ALPHA for s, _ in runs])
    return _result("utility_maximisation.p_value", "size", ALPHA, measured, n_sims, 0.0, _band(ALPHA, n_sims)[1])


def _p_two_sided(p: np.ndarray) -> np.ndarray:
    """Exact two-sided Poisson-binomial p-value of every count 0..len(p) (doubled smaller tail)."""
    from valuelab.stats import poisson_binomial_sf

    sf = np.array([poisson_binomial_sf(k, p) for k in range(len(p) + 2)])
    return np.minimum(1.0, 2 * np.minimum(sf[:-1], 1 - sf[1:]))


def calibrate_maximisation_chance_power(n_sims: int = 200, seed: int = 0) -> dict:
    """Power of ``p_value`` (against chance) for an agent choosing by its utilities (10 sets).

    Nominal: the exact test's power in closed form from each data set's true rate (the
    binomial tail beyond the test's critical count), averaged over data sets.
    """
    from valuelab.stats import poisson_binomial_sf

    runs = _maximisation_runs(n_sims, seed, "utilities", N_SETS_POWER)
    crit = min(k for k in range(N_SETS_POWER + 1) if poisson_binomial_sf(k, np.full(N_SETS_POWER, 0.25)) <= ALPHA)
    nominal = float(np.mean([binom.sf(crit - 1, N_SETS_POWER, true) for _, true in runs]))
    measured = np.mean([s.p_value <= ALPHA for s, _ in runs])
    return _result("utility_maximisation.p_value", "power", nominal, measured, n_sims, *_band(nominal, n_sims))


def calibrate_maximisation_utilities_size(n_sims: int = 200, seed: int = 0) -> dict:
    """Size of ``p_value_utilities`` for an agent choosing by its utilities (largest draw; 60 sets).

    The exact two-sided test is conservative (discrete); the band starts at 0.
    """
    runs = _maximisation_runs(n_sims, seed, "utilities", N_SETS)
    measured = np.mean([s.p_value_utilities <= ALPHA for s, _ in runs])
    return _result("utility_maximisation.p_value_utilities", "size", ALPHA, measured, n_sims, 0.0,
                   _band(ALPHA, n_sims)[1])


def calibrate_maximisation_utilities_power(n_sims: int = 200, seed: int = 0) -> dict:
    """Power of ``p_value_utilities`` against an agent choosing uniformly at random (10 sets).

    Nominal: the exact two-sided test's power in closed form, with the agent's true rate as
    the null rate of every set and a random chooser's 1/4 as the truth, averaged over data sets.
    """
    runs = _maximisation_runs(n_sims, seed, "random", N_SETS_POWER)
    k = np.arange(N_SETS_POWER + 1)
    nominal = float(np.mean([binom.pmf(k, N_SETS_POWER, 0.25)[_p_two_sided(np.full(N_SETS_POWER, true)) <= ALPHA].sum()
                             for _, true in runs]))
    measured = np.mean([s.p_value_utilities <= ALPHA for s, _ in runs])
    return _result("utility_maximisation.p_value_utilities", "power", nominal, measured, n_sims, *_band(nominal, n_sims))


CALIBRATIONS = [
    calibrate_exchange_rates,
    calibrate_exchange_rates_80,
    calibrate_exchange_rate_bias,
    calibrate_discounting,
    calibrate_discounting_80,
    calibrate_correlation_options,
    calibrate_correlation_options_thurstonian,
    calibrate_correlation_population,
    calibrate_correlation_bias,
    calibrate_maximisation_rate,
    calibrate_maximisation_chance_size,
    calibrate_maximisation_chance_power,
    calibrate_maximisation_utilities_size,
    calibrate_maximisation_utilities_power,
]
