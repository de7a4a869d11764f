"""Calibration of every interval and test of the utility fits, on simulated agents (issue 15).

The simulations live in ``tests/calib_utility.py`` (``benchmarks/bench_calibration.py``
prints the same table); the truth is always the simulation's, never the code under test.
"""

import numpy as np
import pytest

import calib_utility as cu


def _check(r):
    assert r["low"] <= r["measured"] <= r["high"], r


def test_wald_intervals_cover_with_sampled_answers():
    _check(cu.calibrate_wald_sampled_answers(n_sims=200))


@pytest.mark.parametrize("model", ["case_v", "thurstonian"])
def test_order_effect_interval_covers_with_half_the_rows_pooled(model):
    _check(cu.calibrate_order_effect_half_pooled(n_sims=200, model=model))


def test_sandwich_intervals_cover_with_logit_probabilities():
    """The default for probabilities read from logits: the misfit, not a binomial count, is the noise."""
    r = cu.calibrate_sandwich_logit_probabilities(n_sims=100)
    assert "sandwich" in r["function"]
    _check(r)


def test_model_based_intervals_are_wrong_for_logit_probabilities():
    """What the sandwich fixes: Wald intervals treat each probability as one answer, so their width
    depends on that arbitrary weight (here they cover far more than 95%)."""
    r = cu.calibrate_sandwich_logit_probabilities(n_sims=30, method="wald")
    assert r["measured"] > 0.99


def test_bootstrap_intervals_cover_with_sampled_answers():
    _check(cu.calibrate_bootstrap_sampled_answers(n_sims=60))


def test_likelihood_ratio_test_has_its_size_where_chi_square_does_not():
    """Issue 15: case V true, 10 options, every pair, 20 answers: the chi-square reference rejected in
    12-17% of data sets. The bootstrap must reject in 2-8% of 200."""
    r = cu.calibrate_lr_test(n_sims=200)
    assert r["boundary_share"] > 0.3  # the design puts many free-variance MLEs on the boundary
    _check(r)


def test_likelihood_ratio_test_has_power_against_unequal_variances():
    r = cu.calibrate_lr_test(n_sims=30, alternative=True)
    _check(r)


@pytest.mark.parametrize("kind", ["transitive", "intransitive"])
def test_transitivity_intervals_cover_the_agents_own_rates(kind):
    for r in cu.calibrate_transitivity(n_sims=100, kind=kind):
        _check(r)


def test_indecision_interval_covers_the_agents_own_share():
    _check(cu.calibrate_indecision(n_sims=100))


def test_true_transitivity_of_the_simulation_matches_closed_forms():
    """The calibration truth itself: a case V agent never violates WST or SST; three options with
    P = 0.7 around a cycle violate both in their one triad."""
    assert np.all(cu.true_transitivity(cu.transitive_agent(3))[1:] == 0)
    p = np.full(cu._N_TRANS * (cu._N_TRANS - 1) // 2, 0.5)
    assert cu.true_transitivity(p)[0] == pytest.approx(0.25)


def test_interval_coverage_counts_by_hand_and_matches_normal_theory():
    import pandas as pd
    from scipy.stats import norm

    import valuelab as vl

    est = pd.DataFrame({"mean": [0.0, 1.0, 3.0], "se_mean": [1.0, 1.0, 1.0], "method": ["a", "a", "b"]},
                       index=["x", "y", "z"])
    truth = pd.Series({"x": 1.5, "y": 1.0, "z": 0.0})
    table = vl.interval_coverage(est, truth, levels=[0.9], by="method").set_index("method")
    # |0 - 1.5| = 1.5 < 1.645 (covered), 0 (covered); |3 - 0| = 3 > 1.645
    assert table.loc["a", "coverage"] == 1.0 and table.loc["b", "coverage"] == 0.0
    rng = np.random.default_rng(0)
    n = 20_000
    sims = pd.DataFrame({"mean": rng.normal(0, 2, n), "se_mean": 2.0}, index=["o"] * n)
    cov = vl.interval_coverage(sims, pd.Series({"o": 0.0}), levels=[0.5, 0.95])
    np.testing.assert_allclose(cov["coverage"], [0.5, 0.95], atol=3 * np.sqrt(0.25 / n))
    fig = vl.plot_coverage(table.reset_index(), color="method")
    assert len(fig.data) == 3  # identity line + two methods
    assert norm.cdf(1.645) > 0.95  # the z used for 90% intervals


def test_transitivity_figure_draws_each_agent():
    import valuelab as vl

    tables = {name: vl.transitivity(cu.agent_answers(p, 1), n_draws=20)
              for name, p in [("transitive", cu.transitive_agent(1)), ("intransitive", cu.intransitive_agent(1))]}
    fig = vl.plot_transitivity(tables)
    assert [t.name for t in fig.data] == ["transitive", "intransitive"] and len(fig.data[0].y) == 3
