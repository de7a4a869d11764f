import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2

import valuelab as vl


def test_score_predictions_closed_form():
    df = pd.DataFrame({"option_a": ["a", "a", "b"], "option_b": ["b", "c", "c"], "n_a": [3, 1, 2], "n_b": [1, 1, 0]})
    p = np.array([0.7, 0.4, 0.9])
    s = vl.score_predictions(df, p)
    ll = 3 * np.log(0.7) + np.log(0.3) + np.log(0.4) + np.log(0.6) + 2 * np.log(0.9)
    assert s.log_loss == pytest.approx(-ll / 8)
    # row 2 is an observed tie (1 vs 1): excluded from accuracy, counted apart
    assert s.n_ties == 1
    assert s.accuracy == 1.0  # 0.7 -> a (obs 0.75), 0.9 -> b (obs 1.0)
    # the published definition counts the tie as a win for A; 0.4 predicts B: wrong
    assert s.accuracy_ties_as_a == pytest.approx(2 / 3)
    brier = (3 * 0.3**2 + 1 * 0.7**2 + 1 * 0.6**2 + 1 * 0.4**2 + 2 * 0.1**2) / 8
    assert s.brier == pytest.approx(brier)
    bce = -np.mean([0.75 * np.log(0.7) + 0.25 * np.log(0.3), 0.5 * np.log(0.4) + 0.5 * np.log(0.6), np.log(0.9)])
    assert s.log_loss_pairs == pytest.approx(bce)


def test_split_pairs_keeps_both_orders_together(small_agent):
    _, comps = small_agent
    train, test = vl.split_pairs(comps, test_size=0.25, seed=1)
    key = lambda d: set(map(frozenset, zip(d.option_a, d.option_b)))  # noqa: E731
    assert not key(train) & key(test)
    assert len(train) + len(test) == len(comps)
    assert len(key(test)) == round(0.25 * len(key(comps)))


def test_cross_validate_and_calibration(small_agent):
    _, comps = small_agent
    cv = vl.cross_validate(comps, k=3, seed=0)
    assert list(cv.fold) == [0, 1, 2]
    assert (cv.n_rows + cv.n_dropped > 0).all()
    fit = vl.fit_thurstonian(comps)
    cal = vl.calibration_table(comps, fit=fit, bins=5)
    assert cal.n_obs.sum() == pytest.approx(comps.n_a.sum() + comps.n_b.sum())
    # recompute the table row by row from predict_proba (rows of a pair share one orientation here)
    assert not (comps.option_a.astype(str) + "|" + comps.option_b.astype(str)).isin(
        comps.option_b.astype(str) + "|" + comps.option_a.astype(str)).any()
    p = fit.predict_proba(comps).to_numpy()
    b = np.minimum((p * 5).astype(int), 4)
    n = comps.n_a + comps.n_b
    by_bin = pd.DataFrame({"b": b, "n_a": comps.n_a, "n": n, "pn": p * n}).groupby("b").sum()
    np.testing.assert_allclose(cal.observed, by_bin.n_a / by_bin.n)
    np.testing.assert_allclose(cal.predicted, by_bin.pn / by_bin.n)
    # a well-specified fit is calibrated: observed and predicted agree within 0.1 in every bin
    assert np.abs(cal.observed - cal.predicted).max() < 0.1


def test_likelihood_ratio_of_nested_fits(small_agent):
    _, comps = small_agent
    full = vl.fit_thurstonian(comps, prior=None, uncertainty=None, max_iter=400)
    restricted = vl.fit_case_v(comps, prior=None, uncertainty=None)
    table = vl.compare_fits({"free": full, "case V": restricted}, reference="case V", test="chi2")
    n = len(full.options)
    assert table.loc["free", "lr_df"] == n - 1  # N variances minus the scale they share
    stat = 2 * (full.loglike - restricted.loglike)
    assert table.loc["free", "lr_stat"] == pytest.approx(stat)
    assert table.loc["free", "lr_pvalue"] == pytest.approx(chi2.sf(stat, n - 1))
    assert table.loc["case V", "aic"] == pytest.approx(2 * (n) - 2 * restricted.loglike)
    boot = vl.compare_fits({"free": full, "case V": restricted}, reference="case V", n_resamples=9)
    assert boot.loc["free", "lr_stat"] >= stat - 1e-6  # the better of two starts
    ok = int(boot.loc["free", "n_resamples_ok"])
    assert 7 <= ok <= 9 and boot.loc["free", "lr_reference"] == f"bootstrap ({ok})"
    p = boot.loc["free", "lr_pvalue"]
    assert any(np.isclose(p, k / (ok + 1)) for k in range(1, ok + 2))  # (1 + #{simulated >= observed}) / (B + 1)
    with pytest.warns(UserWarning, match="MAP fit"):
        out = vl.compare_fits({"free": vl.fit_thurstonian(comps, uncertainty=None), "case V": restricted},
                              reference="case V")
    assert np.isnan(out.loc["free", "lr_pvalue"])


def test_non_nested_fits_get_no_p_value(small_agent):
    _, comps = small_agent
    fits = {"thurstonian": vl.fit_thurstonian(comps, prior=None, uncertainty=None),
            "bradley-terry": vl.fit_bradley_terry(comps, prior=None, uncertainty=None)}
    table = vl.compare_fits(fits, reference="bradley-terry")
    assert not table.loc["thurstonian", "nested"] and np.isnan(table.loc["thurstonian", "lr_pvalue"])
    assert np.isfinite(table["aic"]).all()


def test_compare_fits_checks_the_data_not_only_its_size(small_agent):
    """Issue 15: 'same data' was decided from the observation count alone."""
    _, comps = small_agent
    shuffled = comps.assign(n_a=comps["n_a"].to_numpy()[::-1], n_b=comps["n_b"].to_numpy()[::-1])
    assert shuffled.n_a.sum() + shuffled.n_b.sum() == comps.n_a.sum() + comps.n_b.sum()
    a = vl.fit_case_v(comps, prior=None, uncertainty=None)
    b = vl.fit_thurstonian(shuffled, prior=None, uncertainty=None)
    with pytest.raises(ValueError, match="different data"):
        vl.compare_fits({"a": a, "b": b})
    with pytest.raises(TypeError, match=r"fits\['b'\]: expected a fit"):
        vl.compare_fits({"a": a, "b": comps})


def test_boundary_mle_is_flagged(small_agent):
    """With prior=None some variances run to 0; the fit says so instead of passing as an interior optimum."""
    truth = vl.simulate_utilities(10, variance=0.5, seed=1)
    comps = vl.simulate_comparisons(truth, vl.random_pairs(truth, 45, seed=2), samples=20, orders="pooled", seed=3)
    fit = vl.fit_thurstonian(comps, prior=None, uncertainty=None)
    assert fit.at_boundary and len(fit.boundary_options) >= 1
    assert "Boundary" in fit.summary().as_text()
    assert not vl.fit_thurstonian(comps, uncertainty=None).at_boundary  # the default prior keeps them inside


def test_compare_fits_rejects_different_data(small_agent):
    _, comps = small_agent
    a = vl.fit_case_v(comps, uncertainty=None)
    b = vl.fit_case_v(comps.iloc[:-10], uncertainty=None)
    with pytest.raises(ValueError, match="different data"):
        vl.compare_fits({"a": a, "b": b})


def test_random_pairs_are_distinct_and_connected():
    from valuelab.schema import prepare_comparisons
    from valuelab.utility.graph import components

    pairs = vl.random_pairs([f"x{i}" for i in range(50)], 120, seed=3)
    assert len(pairs) == 120
    assert len(set(map(frozenset, zip(pairs.option_a, pairs.option_b)))) == 120
    data = prepare_comparisons(pairs.assign(n_a=1, n_b=1))
    assert components(data).max() == 0


def test_simulated_choice_rates_match_the_model():
    truth = pd.DataFrame({"option_id": ["a", "b"], "mean": [0.5, 0.0], "variance": [0.5, 0.5]})
    pairs = pd.DataFrame({"option_a": ["a"], "option_b": ["b"]})
    sim = vl.simulate_comparisons(truth, pairs, samples=200_000, orders="both", order_bias=0.3, seed=0)
    from scipy.stats import norm

    expected = [norm.cdf(0.5 + 0.3), norm.cdf(0.5 - 0.3)]
    np.testing.assert_allclose(sim.n_a / 200_000, expected, atol=0.005)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_tables_round_trip(tmp_path, suffix, small_agent):
    _, comps = small_agent
    path = vl.write_table(comps, tmp_path / f"c{suffix}")
    back = vl.read_table(path)
    pd.testing.assert_frame_equal(back, comps.reset_index(drop=True), check_dtype=False)
    assert not list(tmp_path.glob("*.part"))


def test_unknown_table_format(tmp_path):
    with pytest.raises(ValueError, match="unknown table format '.xlsx'"):
        vl.read_table(tmp_path / "x.xlsx")


def test_split_and_cross_validation_need_enough_pairs():
    df = pd.DataFrame({"option_a": ["x", "x", "y"], "option_b": ["y", "z", "z"], "n_a": [3, 4, 5], "n_b": [1, 2, 3]})
    train, test = vl.split_pairs(df, test_size=0.9, seed=0)
    assert len(train) == 1 and len(test) == 2  # the training side is never empty
    with pytest.raises(ValueError, match="5 folds need at least 5 distinct pairs; the comparisons have 3"):
        vl.cross_validate(df, k=5)
    with pytest.raises(ValueError, match="at least 2"):
        vl.split_pairs(df.iloc[:1])


def test_compare_fits_of_probabilities_warns_that_aic_depends_on_the_weight(small_agent):
    truth, _ = small_agent
    probs = vl.simulate_comparisons(truth, vl.random_pairs(truth, 100, seed=3), samples=None, seed=4)
    probs = probs.drop(columns="p_true")
    fits = {"free": vl.fit_thurstonian(probs, prior=None, uncertainty=None),
            "case V": vl.fit_case_v(probs, prior=None, uncertainty=None)}
    with pytest.warns(UserWarning, match="scale with the weight"):
        table = vl.compare_fits(fits)
    assert np.isnan(table.loc["free", "lr_pvalue"])  # no likelihood-ratio test on probabilities
