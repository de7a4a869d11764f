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
    for name in ("TransformersModel", "elicit_comparisons", "elicit_survey", "plot_utilities", "fit_thurstonian"):
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
