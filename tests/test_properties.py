"""Property tests (hypothesis): fit invariances, metric properties, score bounds, loader fuzzing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import valuelab as vl  # noqa: E402
import valuelab.datasets as ds  # noqa: E402
import valuelab.survey as sv  # noqa: E402
from valuelab.frameworks import read_value_lexicon, score_dilemmas  # noqa: E402

FIT = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _data(seed: int) -> pd.DataFrame:
    truth = vl.simulate_utilities(8, seed=seed)
    pairs = vl.random_pairs(truth, 20, seed=seed + 1)
    return vl.simulate_comparisons(truth, pairs, samples=6, orders="pooled", seed=seed + 2)


def _means(comps: pd.DataFrame) -> pd.Series:
    return vl.fit_thurstonian(comps).utilities["mean"]


@FIT
@given(seed=st.integers(0, 10_000), perm_seed=st.integers(0, 10_000))
def test_fit_is_invariant_to_relabelling_options(seed, perm_seed):
    comps = _data(seed)
    ids = sorted(set(comps["option_a"]) | set(comps["option_b"]))
    new = np.random.default_rng(perm_seed).permutation([f"x{i}" for i in range(len(ids))])
    rename = dict(zip(ids, new))
    relabelled = comps.assign(option_a=comps["option_a"].map(rename), option_b=comps["option_b"].map(rename))
    a, b = _means(comps), _means(relabelled)
    np.testing.assert_allclose(b.loc[[rename[i] for i in a.index]].to_numpy(), a.to_numpy(), atol=1e-4)


@FIT
@given(seed=st.integers(0, 10_000), flip_seed=st.integers(0, 10_000))
def test_fit_is_invariant_to_swapping_orientation(seed, flip_seed):
    comps = _data(seed)
    flip = np.random.default_rng(flip_seed).random(len(comps)) < 0.5
    swapped = comps.copy()
    swapped.loc[flip, ["option_a", "option_b", "n_a", "n_b"]] = comps.loc[flip, ["option_b", "option_a", "n_b", "n_a"]].to_numpy()
    np.testing.assert_allclose(_means(swapped).sort_index(), _means(comps).sort_index(), atol=1e-4)


@FIT
@given(seed=st.integers(0, 10_000), frac=st.floats(0.1, 0.9))
def test_fit_is_invariant_to_splitting_rows(seed, frac):
    comps = _data(seed)
    first = comps.assign(n_a=comps["n_a"] * frac, n_b=comps["n_b"] * frac)
    second = comps.assign(n_a=comps["n_a"] * (1 - frac), n_b=comps["n_b"] * (1 - frac))
    split = pd.concat([first, second], ignore_index=True)
    np.testing.assert_allclose(_means(split).sort_index(), _means(comps).sort_index(), atol=1e-4)


dists = st.integers(2, 7).flatmap(lambda k: st.tuples(
    st.lists(st.floats(0, 1), min_size=k, max_size=k).filter(lambda v: sum(v) > 1e-6),
    st.lists(st.floats(0, 1), min_size=k, max_size=k).filter(lambda v: sum(v) > 1e-6)))


@settings(max_examples=200, deadline=None)
@given(pq=dists)
def test_divergences_are_symmetric_bounded_and_zero_on_identity(pq):
    p, q = pq
    for f in (sv.js_distance, sv.ordinal_emd):
        d = f(p, q)
        assert -1e-12 <= d <= 1 + 1e-9
        assert d == pytest.approx(f(q, p), abs=1e-9)
        assert f(p, p) == pytest.approx(0, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 12))
def test_dilemma_scores_stay_within_their_bounds(seed, n):
    rng = np.random.default_rng(seed)
    vocab = ["honesty", "loyalty", "safety", "privacy", "fairness", "self-care"]
    lex = read_value_lexicon(pd.DataFrame({"value": vocab, "mft": ["Fairness", "Loyalty", "Care", None, "Fairness", "Care"],
                                           "wvs": ["Survival", "Traditional", "Survival", "Self-expression", None, None]}))
    actions = pd.DataFrame({"dilemma_id": np.repeat(np.arange(n), 2), "action_type": ["to_do", "not_to_do"] * n,
                            "values": [list(rng.choice(vocab, rng.integers(0, 4), replace=False)) for _ in range(2 * n)]})
    choices = pd.DataFrame({"dilemma_id": np.arange(n),
                            "choice": rng.choice(np.array(["to_do", "not_to_do", None], dtype=object), n)})
    s = score_dilemmas(actions, choices, lexicon=lex, theories=["mft", "wvs"], n_resamples=200)
    ok = s["score"].notna()
    assert ((s.loc[ok, "score"] >= -100) & (s.loc[ok, "score"] <= 100)).all()
    assert ((s.loc[ok, "ci_low"] >= -100 - 1e-9) & (s.loc[ok, "ci_high"] <= 100 + 1e-9)).all()
    assert ((s["p_value"].dropna() > 0) & (s["p_value"].dropna() <= 1)).all()
    assert (s["selected"] >= 0).all() and (s["neglected"] >= 0).all()


LOADERS = {
    "options.json": ds.read_options_json,
    "outcomes.csv": ds.load_outcomes,
    "dilemmas.csv": ds.read_dailydilemmas,
    "project_dilemmas.csv": ds.load_dilemmas,
    "lexicon.csv": read_value_lexicon,
    "items.csv": sv.read_survey_items,
    "items.json": sv.read_survey_items,
    "human.csv": sv.read_human_distributions,
    "goqa.csv": sv.read_globalopinionqa,
    "workbook.xlsx": sv.read_menavalues,
    "table.csv": vl.read_table,
    "table.jsonl": vl.read_table,
    "table.parquet": vl.read_table,
    "cache.sqlite": vl.ResponseCache,
}


@pytest.mark.parametrize("name", sorted(LOADERS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.one_of(st.binary(max_size=400), st.text(max_size=300).map(lambda t: t.encode("utf-8"))))
def test_loaders_fail_cleanly_on_random_bytes(name, blob, tmp_path):
    import uuid

    path = tmp_path / uuid.uuid4().hex / name  # a fresh folder per example: no leftovers (e.g. SQLite -wal files)
    path.parent.mkdir()
    path.write_bytes(blob)
    try:
        LOADERS[name](path)
    except ValueError as err:  # the one clean error every loader raises for a bad file
        assert str(err)
