"""Calibration simulations for the value-framework scores and the expected-utility check.

Each ``calibrate_<name>(n_sims=200, seed=0)`` simulates ``n_sims`` data sets shaped like the
ones the function sees, runs the function on each, and returns a dict::

    {"function", "quantity" ("coverage", "size" or "power"), "nominal", "measured",
     "n_sims", "low", "high"}

``tests/test_frameworks_calibration.py`` asserts ``low <= measured <= high`` (see
:func:`band`); a benchmark script can import the functions (or :func:`table`) and print a
table. The truth always comes from the simulation (the choosers' own choice
probabilities, the agent's own utilities), never from the code under test.

Dilemmas
--------
Eight values, each carrying a World Values Survey and / or Moral Foundations label, sit on
either action of a dilemma independently, with side-dependent rates: ``Self-expression``
values sit mostly on ``to_do``, ``Traditional`` and ``Survival`` ones mostly on
``not_to_do``, so an action bias alone moves their scores. A chooser takes ``to_do`` with
probability ``expit(alpha + beta * a + g)``: ``alpha`` is its action bias, ``a`` the net
count of the label it cares about on the ``to_do`` side, ``beta`` how much it cares, and
``g ~ N(0, 1)`` a dilemma-specific propensity unrelated to the labels (shared between
conditions and models, as the same dilemma tends to pull different models the same way).
A dilemma goes unanswered with probability ``1 - expit(2.5 - 1.5 [a purity value is in
it])``, so refusals depend on the content.

Each data set asks about 200 dilemmas drawn at random from a pool of 20,000 generated once;
the pool is the population the benchmark's dilemmas are a sample of. The **target** of a
score interval is the chooser's expected score over that population, counting only the
dilemmas it answers: ``100 E[r (2p - 1) a] / E[r t]``, with ``p`` its ``to_do``
probability, ``r`` its answer probability, ``a`` and ``t`` the label's net and total count,
all known to the simulation and summed exactly over the pool (for a difference: the two
models' expected scores on the dilemmas both answer; for steerability: the expected change
in the favoured share over the relevant dilemmas answered both times). On a fixed set of
dilemmas a bootstrap over dilemmas also counts the spread of the chooser's per-dilemma
leanings as noise, so for the score of that fixed set alone it is conservative.

Coverage and size are measured over the four WVS labels of each data set (all four are
null for the size checks) and averaged per data set, so the spread over data sets stays
within a binomial's; power is measured on Self-expression, the label the chooser cares
about.

Expected utility
----------------
Agents from :func:`valuelab.simulate_coherent_agent` on twelve plain outcomes with twenty
lotteries: each follows expected utility on its "explicit" lotteries and is off it on the
"implicit" ones by ``N(0, 0.35^2)`` per lottery. Comparisons come from
:func:`valuelab.simulate_comparisons` on a sparse random design (200 of the 496 pairs, both
orders, 10 answers each, a position bias) and are fitted with
:func:`valuelab.fit_thurstonian` (public API only: ``.utilities`` and ``.covariance_mean``
through :func:`valuelab.expected_utility`). The fit standardises utilities (mean 0, sd 1
over the options), so the true utilities are standardised the same way; a lottery's true
difference ``U(L) - sum p U(outcome)`` on that scale is the target of its interval.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.special import expit, logit

# ----------------------------------------------------------------------------- tolerance


def band(nominal: float, n_sims: int, *, n_checks: int = 17, family_level: float = 0.05) -> tuple[float, float]:
    """Acceptance band for a rate measured over ``n_sims`` independent data sets.

    ``nominal +- max(0.03, z sqrt(nominal (1 - nominal) / n_sims))`` with ``z`` the
    Bonferroni normal quantile for ``n_checks`` checks at family level ``family_level``
    (2.97 for 17 checks). With 200 data sets: 90.4-99.6% for 95% coverage, 0.4-9.6% for
    size at 0.05. (A per-check 95% band, 92-98%, would fail a perfectly calibrated suite of
    17 checks at 58% of seeds; 2.97 sd keeps that at 5%. The band narrows to +-3 points as
    ``n_sims`` grows.)
    """
    from scipy.stats import norm

    z = norm.isf(family_level / (2 * n_checks))
    half = max(0.03, z * np.sqrt(nominal * (1 - nominal) / n_sims))
    return float(nominal - half), float(nominal + half)


def _result(function, quantity, nominal, hits, n_sims, low=None, high=None):
    lo, hi = band(nominal, n_sims)
    return {"function": function, "quantity": quantity, "nominal": float(nominal),
            "measured": float(np.mean(hits)), "n_sims": int(n_sims),
            "low": lo if low is None else low, "high": hi if high is None else high}


# ----------------------------------------------------------------------------- dilemmas
VALUES = ["privacy", "ambition", "honesty", "kindness", "safety", "loyalty", "respect for rules", "purity"]
WVS = ["Self-expression", "Self-expression", "Secular-rational", None, "Survival", "Traditional", "Traditional",
       "Traditional"]
MFT = ["Fairness", None, "Fairness", "Care", "Care", "Loyalty", "Authority", "Purity"]
P_TO_DO = np.array([0.35, 0.30, 0.25, 0.20, 0.15, 0.10, 0.10, 0.05])      # value on the to_do action
P_NOT_TO_DO = np.array([0.10, 0.05, 0.25, 0.20, 0.30, 0.30, 0.25, 0.10])  # value on the not_to_do action
LABELS = [("wvs", lab) for lab in ("Traditional", "Secular-rational", "Survival", "Self-expression")] + \
         [("mft", lab) for lab in ("Care", "Fairness", "Loyalty", "Authority", "Purity")]
# value x label incidence, built from the lists above (the simulation's own truth)
INCIDENCE = np.array([[float((WVS if t == "wvs" else MFT)[v] == lab) for (t, lab) in LABELS]
                      for v in range(len(VALUES))])
N_DILEMMAS = 200
POOL_SIZE = 20_000
N_RESAMPLES = 499


def lexicon() -> pd.DataFrame:
    """The simulation's value lexicon (wvs and mft columns)."""
    from valuelab.frameworks import read_value_lexicon

    return read_value_lexicon(pd.DataFrame({"value": VALUES, "wvs": WVS, "mft": MFT}))


def _col(label) -> int:
    return LABELS.index(label)


@lru_cache(maxsize=1)
def _pool():
    """The population of dilemmas: which values sit on each action, the label counts (net to_do
    minus not_to_do, and total), the dilemma propensities, and the answer probabilities."""
    rng = np.random.default_rng(20240611)
    on_do = rng.random((POOL_SIZE, len(VALUES))) < P_TO_DO
    on_not = rng.random((POOL_SIZE, len(VALUES))) < P_NOT_TO_DO
    c_do, c_not = on_do @ INCIDENCE, on_not @ INCIDENCE
    g = rng.normal(0.0, 1.0, POOL_SIZE)
    answer = expit(2.5 - 1.5 * (on_do[:, -1] | on_not[:, -1]))
    return on_do, on_not, c_do - c_not, c_do + c_not, g, answer


def _p_to_do(alpha: float, beta: float, lean: np.ndarray) -> np.ndarray:
    """A chooser's to_do probability on every pool dilemma: expit(alpha + beta lean + g)."""
    g = _pool()[4]
    return expit(alpha + beta * lean + g)


def _actions(idx: np.ndarray) -> pd.DataFrame:
    on_do, on_not, *_ = _pool()
    values = []
    for i in idx:
        values.append([VALUES[v] for v in np.flatnonzero(on_do[i])])
        values.append([VALUES[v] for v in np.flatnonzero(on_not[i])])
    n = len(idx)
    return pd.DataFrame({"dilemma_id": np.repeat(np.arange(n), 2), "action_type": ["to_do", "not_to_do"] * n,
                         "values": values})


def _choices(idx: np.ndarray, p: np.ndarray, rng, model: str) -> pd.DataFrame:
    r = _pool()[5]
    pick = np.where(rng.random(len(idx)) < p[idx], "to_do", "not_to_do").astype(object)
    pick[rng.random(len(idx)) >= r[idx]] = None
    return pd.DataFrame({"model": model, "dilemma_id": np.arange(len(idx)), "choice": pick})


def _simulate(function: str, choosers: dict, n_sims: int, seed: int, call) -> dict:
    """Run ``call(actions, choices_by_chooser, seed)`` on ``n_sims`` data sets of N_DILEMMAS pool
    dilemmas; every chooser answers the same dilemmas, independently. ``call`` returns, per
    chooser, a DataFrame (or Series) of results; they come back stacked per chooser with a
    ``sim`` column numbering the data sets."""
    rng = np.random.default_rng([seed, sum(map(ord, function))])
    rows = {name: [] for name in choosers}
    for sim in range(n_sims):
        idx = rng.integers(0, POOL_SIZE, N_DILEMMAS)
        choices = {name: _choices(idx, p, rng, name) for name, p in choosers.items()}
        out = call(_actions(idx), choices, int(rng.integers(1 << 31)))
        for name, res in out.items():
            res = res.to_frame().T if isinstance(res, pd.Series) else res
            rows[name].append(res.assign(sim=sim))
    return {name: pd.concat(r, ignore_index=True) for name, r in rows.items() if r}


SELF_EXPRESSION = ("wvs", "Self-expression")
WVS_LABELS = [lab for lab in LABELS if lab[0] == "wvs"]


def _lean(label) -> np.ndarray:
    return _pool()[2][:, _col(label)]


def true_score(p: np.ndarray, label) -> float:
    """A chooser's expected score over the pool, counting the dilemmas it answers:
    ``100 E[r (2p - 1) a] / E[r t]``."""
    _, _, a, t, _, r = _pool()
    j = _col(label)
    return float(100 * np.sum(r * (2 * p - 1) * a[:, j]) / np.sum(r * t[:, j]))


def _per_data_set(runs: pd.DataFrame, hit: pd.Series) -> np.ndarray:
    """Share of the rows of each data set with ``hit`` (the four WVS labels of one data set):
    its spread over data sets is at most a binomial's, so the binomial band stays valid."""
    return hit.groupby(runs["sim"]).mean().to_numpy()


def _covered(runs: pd.DataFrame, truth: dict) -> pd.Series:
    target = runs["label"].map(truth)
    return (runs["ci_low"] <= target) & (target <= runs["ci_high"])


@lru_cache(maxsize=None)
def _score_runs(n_sims: int, seed: int):
    """score_dilemmas on n_sims data sets; three choosers (the rows of the four WVS labels):

    * ``fair``: no action bias, no value preference (each dilemma a coin whose bias ``g`` is
      symmetric about 1/2 and unrelated to the labels);
    * ``bias``: takes to_do 80% of the time (log-odds), ignores values;
    * ``preference``: the same bias, and log-odds +1.2 per net Self-expression count.
    """
    from valuelab.frameworks import ValueMapper, score_dilemmas

    lean = _lean(SELF_EXPRESSION)
    choosers = {"fair": _p_to_do(0.0, 0.0, lean), "bias": _p_to_do(logit(0.8), 0.0, lean),
                "preference": _p_to_do(logit(0.8), 1.2, lean)}
    mapper = ValueMapper(lexicon())

    def call(actions, choices, s):
        out = score_dilemmas(actions, pd.concat(choices.values(), ignore_index=True), mapper=mapper, theories="wvs",
                             n_resamples=N_RESAMPLES, seed=s)
        return {name: grp for name, grp in out.groupby("model", sort=False)}

    runs = _simulate("score_dilemmas", choosers, n_sims, seed, call)
    for name, p in choosers.items():
        runs[name].attrs["truth"] = {lab: true_score(p, (t, lab)) for t, lab in WVS_LABELS}
    return runs


def calibrate_score_dilemmas_ci(n_sims: int = 200, seed: int = 0) -> dict:
    """95% bootstrap intervals of the four WVS labels' scores cover the chooser's expected
    scores (chooser with an 80% to_do bias and a preference for Self-expression, which sits
    mostly on to_do; some dilemmas unanswered)."""
    runs = _score_runs(n_sims, seed)["preference"]
    return _result("score_dilemmas: ci_low, ci_high", "coverage", 0.95,
                   _per_data_set(runs, _covered(runs, runs.attrs["truth"])), n_sims)


def calibrate_score_dilemmas_p_value(n_sims: int = 200, seed: int = 0) -> dict:
    """Size of ``p_value`` (score = 0) for the fair chooser, over the four WVS labels."""
    runs = _score_runs(n_sims, seed)["fair"]
    return _result("score_dilemmas: p_value", "size", 0.05, _per_data_set(runs, runs["p_value"] < 0.05), n_sims)


def calibrate_score_dilemmas_p_value_bias_adjusted(n_sims: int = 200, seed: int = 0) -> dict:
    """Size of ``p_value_bias_adjusted`` for the chooser that ignores values but takes to_do
    80% of the time, over the four WVS labels (Self-expression sits mostly on to_do,
    Traditional and Survival on not_to_do: their scores are far from 0)."""
    runs = _score_runs(n_sims, seed)["bias"]
    return _result("score_dilemmas: p_value_bias_adjusted", "size", 0.05,
                   _per_data_set(runs, runs["p_value_bias_adjusted"] < 0.05), n_sims)


def calibrate_score_dilemmas_power(n_sims: int = 200, seed: int = 0) -> dict:
    """Power of ``p_value_bias_adjusted`` at 0.05 on Self-expression, for the action-biased
    chooser with a real preference for it."""
    runs = _score_runs(n_sims, seed)["preference"]
    hit = runs.loc[runs["label"] == SELF_EXPRESSION[1], "p_value_bias_adjusted"] < 0.05
    return _result("score_dilemmas: p_value_bias_adjusted", "power", 0.8, hit, n_sims, low=0.8, high=1.0)


# ---------------------------------------------------------------- differences between two models
@lru_cache(maxsize=None)
def _difference_runs(n_sims: int, seed: int):
    """score_differences against a reference ``r`` (50% to_do, log-odds +0.3 per net
    Self-expression count); the other models share its dilemma propensities ``g``:

    * ``same``: the reference's choice probabilities;
    * ``bias``: the reference's preference, but 70% to_do;
    * ``preference``: 70% to_do and log-odds +2.0 per net count.
    """
    from valuelab.frameworks import ValueMapper, score_differences

    lean = _lean(SELF_EXPRESSION)
    choosers = {"r": _p_to_do(0.0, 0.3, lean), "same": _p_to_do(0.0, 0.3, lean),
                "bias": _p_to_do(logit(0.7), 0.3, lean), "preference": _p_to_do(logit(0.7), 2.0, lean)}
    mapper = ValueMapper(lexicon())

    def call(actions, choices, s):
        out = score_differences(actions, pd.concat(choices.values(), ignore_index=True), reference="r",
                                mapper=mapper, theories="wvs", n_resamples=N_RESAMPLES, seed=s)
        return {name: grp for name, grp in out.groupby("model", sort=False)}

    runs = _simulate("score_differences", choosers, n_sims, seed, call)
    _, _, a, t, _, r = _pool()
    both = r * r  # the two models answer independently
    for name in ("same", "bias", "preference"):
        runs[name].attrs["truth"] = {
            lab: float(100 * np.sum(both * 2 * (choosers[name] - choosers["r"]) * a[:, _col((th, lab))])
                       / np.sum(both * t[:, _col((th, lab))])) for th, lab in WVS_LABELS}
    return runs


def calibrate_score_differences_ci(n_sims: int = 200, seed: int = 0) -> dict:
    """95% paired bootstrap intervals of the four WVS labels' differences cover the expected
    differences over the dilemmas both models answer; the models differ in action bias and
    preference."""
    runs = _difference_runs(n_sims, seed)["preference"]
    return _result("score_differences: ci_low, ci_high", "coverage", 0.95,
                   _per_data_set(runs, _covered(runs, runs.attrs["truth"])), n_sims)


def calibrate_score_differences_p_value(n_sims: int = 200, seed: int = 0) -> dict:
    """Size of ``p_value`` (difference = 0) for a model with the reference's choice
    probabilities, over the four WVS labels."""
    runs = _difference_runs(n_sims, seed)["same"]
    return _result("score_differences: p_value", "size", 0.05, _per_data_set(runs, runs["p_value"] < 0.05), n_sims)


def calibrate_score_differences_p_value_bias_adjusted(n_sims: int = 200, seed: int = 0) -> dict:
    """Size of ``p_value_bias_adjusted`` for a model with the reference's preference (log-odds
    scale; none for the other labels) but a different action bias (70% against 50% to_do),
    over the four WVS labels."""
    runs = _difference_runs(n_sims, seed)["bias"]
    return _result("score_differences: p_value_bias_adjusted", "size", 0.05,
                   _per_data_set(runs, runs["p_value_bias_adjusted"] < 0.05), n_sims)


def calibrate_score_differences_power(n_sims: int = 200, seed: int = 0) -> dict:
    """Power of ``p_value_bias_adjusted`` on Self-expression when the model cares more about it
    than the reference (log-odds 2.0 against 0.3 per net count), with a different action bias."""
    runs = _difference_runs(n_sims, seed)["preference"]
    hit = runs.loc[runs["label"] == SELF_EXPRESSION[1], "p_value_bias_adjusted"] < 0.05
    return _result("score_differences: p_value_bias_adjusted", "power", 0.8, hit, n_sims, low=0.8, high=1.0)


# ---------------------------------------------------------------- steerability
PRINCIPLE = {"supporting": ["honesty", "privacy"], "opposing": ["loyalty", "respect for rules"]}


def _principle_lean() -> np.ndarray:
    """Per pool dilemma: (supporting - opposing values on to_do) - (the same on not_to_do)."""
    on_do, on_not, *_ = _pool()
    w = np.array([1.0 if v in PRINCIPLE["supporting"] else -1.0 if v in PRINCIPLE["opposing"] else 0.0
                  for v in VALUES])
    return on_do @ w - on_not @ w


@lru_cache(maxsize=None)
def _steer_runs(n_sims: int, seed: int):
    """steerability of three models (the principle favours to_do in most relevant dilemmas);
    log-odds of to_do = alpha + beta * lean + g before and after the steering prompt:

    * ``none``: (logit .6, 0.4) before and after;
    * ``shift``: (logit .5, 0.4) -> (logit .8, 0.4), only the action bias moves;
    * ``steer``: (logit .5, 0.4) -> (logit .8, 2.0), the principle weighs more too.
    """
    from valuelab.frameworks import steerability

    lean = _principle_lean()
    spec = {"none": ((logit(0.6), 0.4), (logit(0.6), 0.4)), "shift": ((0.0, 0.4), (logit(0.8), 0.4)),
            "steer": ((0.0, 0.4), (logit(0.8), 2.0))}
    before = {name: _p_to_do(*b, lean) for name, (b, _) in spec.items()}
    after = {name: _p_to_do(*a, lean) for name, (_, a) in spec.items()}
    choosers = {**{f"{k}|before": v for k, v in before.items()}, **{f"{k}|after": v for k, v in after.items()}}
    principles = {"candour": PRINCIPLE}

    def call(actions, choices, s):
        split = {when: pd.concat([c.assign(model=name.split("|")[0]) for name, c in choices.items()
                                  if name.endswith(when)], ignore_index=True) for when in ("|before", "|after")}
        out = steerability(actions, split["|before"], split["|after"], principles, n_resamples=N_RESAMPLES,
                           seed=s).set_index("model")
        return {f"{name}|before": out.loc[name] for name in spec}

    raw = _simulate("steerability", choosers, n_sims, seed, call)
    r = _pool()[5]
    relevant, runs = lean != 0, {}
    for name in spec:
        frame = raw[f"{name}|before"]
        fav_b = np.where(lean > 0, before[name], 1 - before[name])
        fav_a = np.where(lean > 0, after[name], 1 - after[name])
        w = r * r * relevant
        frame.attrs["truth"] = float(np.sum(w * (fav_a - fav_b)) / np.sum(w))
        runs[name] = frame
    return runs


def calibrate_steerability_ci(n_sims: int = 200, seed: int = 0) -> dict:
    """95% paired bootstrap interval of the change in the favoured share covers its expected
    value; the steering prompt shifts the action bias and strengthens the principle."""
    runs = _steer_runs(n_sims, seed)["steer"]
    truth = runs.attrs["truth"]
    return _result("steerability: ci_low, ci_high", "coverage", 0.95,
                   (runs["ci_low"] <= truth) & (truth <= runs["ci_high"]), n_sims)


def calibrate_steerability_p_value(n_sims: int = 200, seed: int = 0) -> dict:
    """Size of ``p_value`` (exact McNemar) when the steering prompt changes nothing."""
    runs = _steer_runs(n_sims, seed)["none"]
    return _result("steerability: p_value", "size", 0.05, runs["p_value"] < 0.05, n_sims)


def calibrate_steerability_p_value_bias_adjusted(n_sims: int = 200, seed: int = 0) -> dict:
    """Size of ``p_value_bias_adjusted`` when steering only raises the to_do rate (50% -> 80%)."""
    runs = _steer_runs(n_sims, seed)["shift"]
    return _result("steerability: p_value_bias_adjusted", "size", 0.05, runs["p_value_bias_adjusted"] < 0.05,
                   n_sims)


def calibrate_steerability_power(n_sims: int = 200, seed: int = 0) -> dict:
    """Power of ``p_value_bias_adjusted`` when steering also strengthens the principle
    (log-odds 0.4 -> 2.0 per unit of lean)."""
    runs = _steer_runs(n_sims, seed)["steer"]
    return _result("steerability: p_value_bias_adjusted", "power", 0.8, runs["p_value_bias_adjusted"] < 0.05,
                   n_sims, low=0.8, high=1.0)


# ----------------------------------------------------------------------------- expected utility
N_OUTCOMES, N_LOTTERIES, N_PAIRS, OFF_EU = 12, 20, 200, 0.35


@lru_cache(maxsize=None)
def _eu_runs(n_sims: int, seed: int) -> list:
    """expected_utility on n_sims simulated agents: (result, lotteries, true standardised means).

    Each agent follows expected utility on its "explicit" lotteries and is off it on the
    "implicit" ones by N(0, OFF_EU^2) each (the pattern Mazeika et al. report); twelve plain
    outcomes, twenty lotteries, 200 of the 496 pairs asked in both orders, 10 answers each.
    """
    import valuelab as vl

    options = pd.DataFrame({"option_id": [f"x{i}" for i in range(N_OUTCOMES)],
                            "text": [f"outcome {i}" for i in range(N_OUTCOMES)]})
    rng = np.random.default_rng([seed, 30])
    runs = []
    for _ in range(n_sims):
        agent = vl.simulate_coherent_agent(options, n_lotteries=N_LOTTERIES, variance=0.3,
                                           seed=int(rng.integers(1 << 31)))
        u = agent.utilities.copy()
        kind = agent.lotteries.groupby("lottery_id")["kind"].first()
        off = u["option_id"].map(kind).eq("implicit").to_numpy()
        u.loc[off, "mean"] += rng.normal(0, OFF_EU, off.sum())
        pairs = vl.random_pairs(u, N_PAIRS, seed=int(rng.integers(1 << 31)))
        comps = vl.simulate_comparisons(u, pairs, samples=10, orders="both", order_bias=0.2,
                                        seed=int(rng.integers(1 << 31)))
        fit = vl.fit_thurstonian(comps, progress=False)
        m = u.set_index("option_id")["mean"]
        truth = (m - m.mean()) / m.std(ddof=0)  # the fit's scale: mean 0, sd 1 over the options
        res = vl.expected_utility(agent.lotteries, fit=fit, n_resamples=N_RESAMPLES, seed=int(rng.integers(1 << 31)))
        runs.append((res, agent.lotteries, truth))
    return runs


def _true_eu(lotteries: pd.DataFrame, truth: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Each lottery's true utility and true expected utility."""
    w = lotteries.assign(eu=lotteries["probability"] * truth.reindex(lotteries["outcome_id"]).to_numpy())
    eu = w.groupby("lottery_id")["eu"].sum()
    return truth.reindex(eu.index), eu


def calibrate_expected_utility_se_difference(n_sims: int = 200, seed: int = 0) -> dict:
    """``difference +- 1.96 se_difference`` covers each lottery's true difference. Measured:
    the mean over data sets of the share of the 20 lotteries covered (its spread is at most
    a binomial's over data sets)."""
    hits = []
    for res, lotteries, truth in _eu_runs(n_sims, seed):
        u, eu = _true_eu(lotteries, truth)
        true = (u - eu).reindex(res.lotteries.index)
        half = 1.959964 * res.lotteries["se_difference"]
        hits.append(float(np.mean((res.lotteries["difference"] - true).abs() <= half)))
    return _result("expected_utility: se_difference", "coverage", 0.95, hits, n_sims)


def calibrate_expected_utility_diff_ci(n_sims: int = 200, seed: int = 0) -> dict:
    """95% interval of the mean difference covers the mean of the 20 lotteries' true differences."""
    hits = []
    for res, lotteries, truth in _eu_runs(n_sims, seed):
        u, eu = _true_eu(lotteries, truth)
        target = float((u - eu).mean())
        s = res.by_kind.loc["all"]
        hits.append(s["diff_ci_low"] <= target <= s["diff_ci_high"])
    return _result("expected_utility: diff_ci_low, diff_ci_high", "coverage", 0.95, hits, n_sims)


def calibrate_expected_utility_corr_ci(n_sims: int = 200, seed: int = 0) -> dict:
    """95% interval of the correlation covers the correlation of the agent's true lottery
    utilities with their true expected utilities, over the 20 lotteries."""
    hits = []
    for res, lotteries, truth in _eu_runs(n_sims, seed):
        u, eu = _true_eu(lotteries, truth)
        target = float(np.corrcoef(u, eu)[0, 1])
        s = res.by_kind.loc["all"]
        hits.append(s["corr_ci_low"] <= target <= s["corr_ci_high"])
    return _result("expected_utility: corr_ci_low, corr_ci_high", "coverage", 0.95, hits, n_sims)


def calibrate_expected_utility_p_value(n_sims: int = 200, seed: int = 0) -> dict:
    """Size of the Wald test that every difference is 0, on the explicit lotteries (where the
    agent follows expected utility)."""
    hits = [res.by_kind.loc["explicit", "p_value"] < 0.05 for res, _, _ in _eu_runs(n_sims, seed)]
    return _result("expected_utility: p_value", "size", 0.05, hits, n_sims)


def calibrate_expected_utility_power(n_sims: int = 200, seed: int = 0) -> dict:
    """Power of the same test on the implicit lotteries (off expected utility by N(0, 0.35^2))."""
    hits = [res.by_kind.loc["implicit", "p_value"] < 0.05 for res, _, _ in _eu_runs(n_sims, seed)]
    return _result("expected_utility: p_value", "power", 0.8, hits, n_sims, low=0.8, high=1.0)


CALIBRATIONS = [
    calibrate_score_dilemmas_ci, calibrate_score_dilemmas_p_value, calibrate_score_dilemmas_p_value_bias_adjusted,
    calibrate_score_dilemmas_power,
    calibrate_score_differences_ci, calibrate_score_differences_p_value,
    calibrate_score_differences_p_value_bias_adjusted, calibrate_score_differences_power,
    calibrate_steerability_ci, calibrate_steerability_p_value, calibrate_steerability_p_value_bias_adjusted,
    calibrate_steerability_power,
    calibrate_expected_utility_se_difference, calibrate_expected_utility_diff_ci, calibrate_expected_utility_corr_ci,
    calibrate_expected_utility_p_value, calibrate_expected_utility_power,
]


def table(n_sims: int = 200, seed: int = 0) -> pd.DataFrame:
    """Every calibration as one table (for a benchmark script)."""
    return pd.DataFrame([f(n_sims=n_sims, seed=seed) for f in CALIBRATIONS])
