"""Calibration of every interval and p-value in valuelab.survey, on simulated data shaped like real use.

The simulations live in ``tests/calib_survey.py`` (importable by a benchmark script that
prints the table); each returns the measured coverage, size or power with its binomial
tolerance, and the truth comes from the simulation, never from the code under test.
"""

import pytest

import calib_survey as cs


@pytest.mark.parametrize("calibrate", cs.CALIBRATIONS, ids=lambda f: f.__name__.removeprefix("calibrate_"))
def test_calibration_within_binomial_tolerance(calibrate):
    r = calibrate()
    assert set(r) == {"function", "quantity", "nominal", "measured", "n_sims", "low", "high"}
    assert r["n_sims"] == 200 and r["quantity"] in {"coverage", "size", "power"}
    if r["quantity"] == "power":
        assert r["low"] < r["nominal"] and r["high"] == 1.0
    else:
        assert r["low"] < r["nominal"] < r["high"]
    assert r["low"] <= r["measured"] <= r["high"], r


def test_power_benchmark_is_informative():
    # the power check compares with the paired t-test's power on the same generator; it must not be ~1
    assert 0.6 < cs._paired_t_power(cs._SHIFT["effect"]) < 0.9


def test_simulation_truths_against_closed_forms():
    import numpy as np
    from scipy.spatial.distance import jensenshannon

    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(5), 50), rng.dirichlet(np.ones(5), 50)
    p[0] = [1, 0, 0, 0, 0]  # zero shares
    np.testing.assert_allclose(cs._jsd(p, q), [jensenshannon(a, b, base=2) for a, b in zip(p, q)], atol=1e-12)
    dist = cs._likert(np.array([3.0]), np.array([1e-6]), 5)
    np.testing.assert_allclose(dist, [[0, 0, 1, 0, 0]], atol=1e-12)
    assert cs._leakage_truth() == pytest.approx(0.3 * 0.4 / (0.3 * 0.4 + 0.7 * 0.6))


def test_new_simulation_truths_against_monte_carlo():
    import numpy as np

    # persona generator: a sample copies the respondent's answer with probability .4, else is uniform
    rng = np.random.default_rng(1)
    n, k, lam, q = 400_000, 4, cs._PERSONA["copy"], cs._PERSONA["q"]
    b = rng.choice(np.arange(1, k + 1), n, p=q)
    a = np.where(rng.random(n) < lam, b, rng.integers(1, k + 1, n))
    match, dist = cs._persona_truth()
    assert np.mean(a == b) == pytest.approx(match, abs=0.003)
    assert np.mean(np.abs(a - b) / (k - 1)) == pytest.approx(dist, abs=0.003)
