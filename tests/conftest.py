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


@pytest.fixture(scope="module")
def tiny():
    """A tiny random chat model (a real tokenizer, random weights), built offline in milliseconds."""
    pytest.importorskip("transformers")
    from tiny_model import tiny_model

    from valuelab.elicit import TransformersModel

    model, tok = tiny_model()
    return TransformersModel("tiny", _model=model, _tokenizer=tok, batch_size=8)
