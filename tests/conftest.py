import numpy as np
import pandas as pd
import pytest

import valuelab as vl


@pytest.fixture(scope="session")
def small_agent():
    """30 options, a connected random design, both orders, a known position bias."""
    truth = vl.simulate_utilities(30, variance=(0.5, 0.4), seed=11)
    pairs = vl.random_pairs(truth, 150, seed=12)
    comps = vl.simulate_comparisons(truth, pairs, samples=10, orders="both", order_bias=0.4, seed=13)
    return truth, comps


def standardise(x):
    x = np.asarray(x, float)
    return (x - x.mean()) / x.std()
