"""A newcomer's first hour (issue #23): fast failures, friendly printing, forgiving call shapes."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import valuelab as vl

ROOT = Path(__file__).resolve().parents[1]


def test_unknown_model_name_fails_at_once_offline_listing_the_embedded_models(tmp_path):
    code = ("import time, valuelab as vl\n"
            "t = time.perf_counter()\n"
            "try:\n"
            "    vl.TransformersModel('smollm2')\n"
            "except vl.elicit.UnknownModelError as e:\n"
            "    print(repr(time.perf_counter() - t)); print(e)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    seconds, message = out.stdout.split("\n", 1)
    assert float(seconds) < 2.0
    for name in ("smollm2-135m-instruct", "gemma3-270m"):
        assert name in message
    assert "Did you mean 'smollm2-135m-instruct'" in message
    assert "local folder" in message and "hub id" in message
    assert "torch" not in out.stderr and "Retrying" not in out.stderr


def test_unknown_model_checks_run_before_torch_is_imported(monkeypatch):
    from valuelab.elicit.embedded import UnknownModelError, resolve_model_source

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    for bad in ("smollm2", "org/not-a-model", "./no/such/folder"):
        with pytest.raises(UnknownModelError, match="smollm2-135m-instruct"):
            resolve_model_source(bad)
    assert time.perf_counter() - start < 2.0
    with pytest.raises(UnknownModelError, match="SentenceEncoder"):
        resolve_model_source("minilm-l6-v2")


def test_hub_reachable_respects_offline_switches(monkeypatch):
    from valuelab.elicit.embedded import hub_reachable

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_reachable() is False
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "https://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    start = time.perf_counter()
    assert hub_reachable(timeout=1.0) is False
    assert time.perf_counter() - start < 1.5


def test_dir_lists_the_lazy_names():
    names = dir(vl)
    for name in ("TransformersModel", "elicit_comparisons", "elicit_survey", "plot_utilities", "fit_thurstonian",
                 "elicit", "survey"):
        assert name in names


@pytest.fixture(scope="module")
def two_fits():
    truth = vl.simulate_utilities(10, seed=1)
    comps = vl.simulate_comparisons(truth, vl.random_pairs(truth, 45, seed=2), samples=10, seed=3)
    return comps, vl.fit_thurstonian(comps, prior=None), vl.fit_case_v(comps, prior=None)


def test_a_fit_prints_its_summary(two_fits):
    comps, fit, _ = two_fits
    for text in (str(fit), repr(fit)):
        assert text.startswith("Utility fit") and "Log-likelihood" in text and "o0" in text
    assert "<table>" in fit._repr_html_()
    ind = vl.indecision(comps, fit=fit)
    assert str(ind) == ind.summary().as_text() == repr(ind)


def test_every_result_object_prints_its_summary():
    from valuelab.summary import SummaryDisplay

    for cls in (vl.ThurstonianResult, vl.ExpectedUtilityResult, vl.IndecisionResult, vl.MaximisationResult,
                vl.ExchangeRates):
        assert issubclass(cls, SummaryDisplay), cls
        assert cls.__repr__ is SummaryDisplay.__repr__, cls  # not a dataclass-generated repr
    for cls in (vl.elicit.ElicitedComparisons, vl.elicit.ElicitedChoices, vl.elicit.ElicitedUtilities):
        assert "summary" in cls.__repr__.__code__.co_names, cls


@pytest.mark.filterwarnings("ignore:compare_fits")
def test_compare_fits_takes_what_a_reader_tries(two_fits):
    _, a, b = two_fits
    as_dict = vl.compare_fits({"thurstonian": a, "case_v": b}, test="chi2")
    assert list(vl.compare_fits(a, b, test="chi2").index) == ["thurstonian", "case_v"]
    assert vl.compare_fits([a, b], test="chi2").equals(as_dict)
    with pytest.raises(TypeError, match="either one dict"):
        vl.compare_fits({"a": a}, b)
    with pytest.raises(TypeError, match=r"fits\['fit 2'\]: expected a fit"):
        vl.compare_fits(a, "b")
    corr = vl.utility_correlations(a, b, n_resamples=50)
    assert list(corr[["fit_a", "fit_b"]].iloc[0]) == ["thurstonian", "case_v"]
    assert list(vl.utility_drift([a, b, a])["fit"]) == ["fit 1", "fit 2", "fit 3"]
    with pytest.raises(ValueError, match="at least 2 fits"):
        vl.utility_correlations(a)


def _simulated(order_bias=0.0, seed=3):
    truth = vl.simulate_utilities(10, seed=1)
    pairs = vl.random_pairs(truth, 30, seed=2)
    return vl.simulate_comparisons(truth, pairs, samples=10, orders="both", order_bias=order_bias, seed=seed)


def test_no_position_warning_for_an_agent_without_position_bias():
    import warnings

    from valuelab.utility.position import position_bias_note, warn_position_bias

    comps = _simulated()
    stats = vl.position_bias(comps)
    assert stats["consistent_pairs"] > 0.5 and position_bias_note(stats) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error", vl.PositionBiasWarning)
        warn_position_bias(comps, where="test")
        text = str(vl.fit_thurstonian(comps))
    assert "Position bias" not in text


def test_position_warning_for_answers_that_follow_the_order_shown():
    import numpy as np

    from valuelab.utility.position import warn_position_bias

    comps = _simulated()
    first_is_a = comps["shown_first"] == comps["option_a"]
    comps["n_a"] = np.where(first_is_a, 10.0, 0.0)
    comps["n_b"] = 10.0 - comps["n_a"]
    with pytest.warns(vl.PositionBiasWarning, match=r"only 0% of the 30 pairs") as caught:
        warn_position_bias(comps, where="test")
    assert len(caught) == 1 and "another template" in str(caught[0].message)
    text = str(vl.fit_thurstonian(comps))
    assert "Position bias: the answers follow the presentation position" in text
    assert "the option shown first wins; it gets 100% of the answer mass" in text
    single = comps[first_is_a]  # one order only: the share of answers to the first-shown option decides
    with pytest.warns(vl.PositionBiasWarning, match="100% of the answer mass in 30 prompts goes to the option "
                                                   "shown first"):
        warn_position_bias(single, where="test")


@pytest.mark.model
@pytest.mark.slow
def test_position_warning_fires_on_the_embedded_smollm2():
    from valuelab.datasets import load_outcomes
    from valuelab.elicit.embedded import EMBEDDED_MODELS, embedded_model_dir

    try:
        embedded_model_dir("smollm2-135m-instruct", progress=False)
    except ModuleNotFoundError as exc:
        pytest.skip(f"{exc} ({EMBEDDED_MODELS['smollm2-135m-instruct'].install})")
    model = vl.TransformersModel("smollm2-135m-instruct")
    options = load_outcomes().sample(8, random_state=0)
    with pytest.warns(vl.PositionBiasWarning) as caught:
        comps, _ = vl.elicit_comparisons(options, model, n_pairs=12, orders="both", cache=None, progress=False)
    hits = [w for w in caught if issubclass(w.category, vl.PositionBiasWarning)]
    assert len(hits) == 1 and "elicit_comparisons" in str(hits[0].message)
    assert vl.position_bias(comps)["consistent_pairs"] < 0.1


def test_survey_note_when_the_first_option_takes_the_mass():
    import numpy as np

    from valuelab.survey.ask import first_option_note

    rng = np.random.default_rng(0)
    opinions = [rng.dirichlet(np.ones(4)) for _ in range(24)]
    assert first_option_note(opinions) is None
    first = [np.r_[0.7, rng.dirichlet(np.ones(3)) * 0.3] for _ in range(24)]
    note = first_option_note(first)
    assert note.startswith("the answers follow the option order: in 100% of 24 prompts")
    assert "70%" in note and "25% for a uniform answerer" in note
    assert first_option_note(first[:5]) is None  # too few prompts to say


@pytest.mark.filterwarnings("ignore::valuelab.PositionBiasWarning")  # a random tiny model: noise, rightly
def test_elicitation_says_its_cost_before_it_runs(tiny, tmp_path, capsys):
    import pandas as pd

    options = pd.DataFrame({"option_id": [f"o{i}" for i in range(8)],
                            "text": [f"You receive {n} apples." for n in range(8)]})
    cache = str(tmp_path / "c.sqlite")
    from valuelab.elicit import TransformersModel

    small = TransformersModel("tiny", _model=tiny.model, _tokenizer=tiny.tokenizer, batch_size=1)
    assert small.prompts_per_call == 8
    vl.elicit_comparisons(options, small, n_pairs=10, cache=cache, progress=True)  # 20 prompts, 8 per call
    err = capsys.readouterr().err
    assert "asking (logits): 20 prompts to ask; timing the first 8 for an estimate" in err
    assert "asking (logits): the first 8 took" in err and "for all 20" in err
    vl.elicit_comparisons(options, small, n_pairs=12, cache=cache, progress=True)  # some pairs asked before
    import re

    assert re.search(r"asking \(logits\): \d+ prompts? to ask \(\d+ more read from the cache\)",
                     capsys.readouterr().err)


def test_durations_read_in_the_unit_a_reader_thinks_in():
    from valuelab.elicit.cached import format_duration

    assert [format_duration(s) for s in (2.04, 42, 300, 7200)] == ["2.0 s", "42 s", "5.0 min", "2.0 h"]


def test_a_hub_id_the_hub_does_not_have_lists_the_embedded_models(monkeypatch):
    pytest.importorskip("transformers")
    import transformers

    import valuelab.elicit.transformers_backend as tb

    def missing(*args, **kwargs):
        raise OSError("org/none is not a local folder and is not a valid model identifier\nmore")

    monkeypatch.setattr(tb, "resolve_model_source", lambda model: (str(model), False))
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", missing)
    with pytest.raises(vl.elicit.UnknownModelError, match=r"(?s)could not provide it \(OSError: org/none.*"
                                                          r"smollm2-135m-instruct"):
        vl.TransformersModel("org/none")


def test_elicited_comparisons_summary_reports_position_bias():
    import numpy as np
    import pandas as pd

    comps = _simulated()
    first_is_a = comps["shown_first"] == comps["option_a"]
    comps["n_a"] = np.where(first_is_a, 10.0, 0.0)
    comps["n_b"] = 10.0 - comps["n_a"]
    result = vl.elicit.ElicitedComparisons(comps, pd.DataFrame({"cached": [False] * len(comps)}))
    text = str(result)
    assert "pairs keeping their winner across orders  0% of 30" in text
    assert "Note: Position bias: the answers follow the presentation position" in text
