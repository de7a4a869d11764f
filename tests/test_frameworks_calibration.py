"""Calibration of the framework scores and the expected-utility check on simulated data.

Each test runs one ``calibrate_*`` function of ``calib_frameworks`` (200 simulated data
sets; see that module for the choosers, the agents and the targets) and asserts that the
measured coverage, size or power lies in its band. Simulations shared by several
calibrations run once per session.
"""

import numpy as np
import pytest

import calib_frameworks as cf


@pytest.mark.slow
@pytest.mark.parametrize("calibrate", cf.CALIBRATIONS, ids=lambda f: f.__name__.removeprefix("calibrate_"))
def test_calibration(calibrate):
    r = calibrate(n_sims=200, seed=0)
    assert r["n_sims"] == 200 and r["quantity"] in ("coverage", "size", "power")
    assert r["low"] <= r["measured"] <= r["high"], (
        f"{r['function']}: {r['quantity']} {r['measured']:.3f} outside [{r['low']:.3f}, {r['high']:.3f}] "
        f"(nominal {r['nominal']:.2f}, {r['n_sims']} data sets)")


def test_band_keeps_a_calibrated_suite_passing():
    from scipy.stats import binom

    assert len(cf.CALIBRATIONS) == 17
    lo, hi = cf.band(0.95, 200)
    assert (lo, hi) == pytest.approx((0.904, 0.996), abs=0.001)
    # a perfectly calibrated check fails with probability about 0.05 / 17 (binomial, exactly)
    fail = binom.cdf(np.ceil(lo * 200) - 1, 200, 0.95) + binom.sf(np.floor(hi * 200), 200, 0.95)
    assert fail < 0.05 / 17 * 1.5
    assert cf.band(0.05, 10_000) == pytest.approx((0.02, 0.08))  # never tighter than +-3 points


def test_targets_come_from_the_simulation():
    # a value-blind chooser with no action bias scores 0 in expectation, on every label
    p = np.full(cf.POOL_SIZE, 0.5)
    assert cf.true_score(p, cf.SELF_EXPRESSION) == 0
    # always to_do: the score is the label's net share on the to_do side, over answered dilemmas
    _, _, a, t, _, r = cf._pool()
    j = cf._col(cf.SELF_EXPRESSION)
    assert cf.true_score(np.ones(cf.POOL_SIZE), cf.SELF_EXPRESSION) == pytest.approx(
        100 * (r * a[:, j]).sum() / (r * t[:, j]).sum())
    # the generator places Self-expression mostly on to_do: expected net count (.35 + .30) - (.10 + .05)
    assert a[:, j].mean() == pytest.approx(0.5, abs=0.02)
