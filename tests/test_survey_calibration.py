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
