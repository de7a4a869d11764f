"""The OpenAI-compatible backend against a real inference server: ``transformers serve`` on
127.0.0.1 with the embedded SmolLM2-135M-Instruct, checked against the local transformers
backend on the same prompts.

``transformers serve`` (5.24) ignores ``logprobs``/``top_logprobs`` and ``n`` on the chat
endpoint and ``echo``/``logprobs`` on ``/v1/completions``, and samples greedily unless the
request's ``generation_config`` says ``do_sample``; so probabilities come from the sampling
fallback, and ``k`` answers from ``k`` requests. Skipped, with the reason, where the
``transformers[serving]`` extra (fastapi, uvicorn) or the embedded model is not installed.

The server reports ``usage`` on every chat response; its prompt tokens equal the chat template's
counted locally (70 and 34 for the two prompts of ``test_usage_is_recorded_per_response``).

Measured on the 2-core machine with other jobs running (server with one thread): about 0.5 s
per one-token request; the fast tests here take about 5 minutes, the two ``slow`` ones about
13 (200 first tokens: 148 s, chi-square 8.20, Monte Carlo p 0.017; 200 whole answers: 403 s
from the server, chi-square 0.66 on 2 df, p 0.72).
"""

import sys
import time
import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("transformers")
pytest.importorskip("fastapi", reason="transformers serve needs the transformers[serving] extra (fastapi, uvicorn)")
pytest.importorskip("uvicorn", reason="transformers serve needs the transformers[serving] extra (fastapi, uvicorn)")

import valuelab as vl  # noqa: E402
import valuelab.survey as sv  # noqa: E402
from valuelab.elicit import OpenAIModel, TransformersModel, elicit_comparisons, pairwise_prompt  # noqa: E402
from valuelab.elicit.parse import parse_choice  # noqa: E402

pytestmark = pytest.mark.model

PROMPT = pairwise_prompt("A cup of tea.", "One week of vacation.")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base_url, model name): ``transformers serve`` with the embedded SmolLM2, one CPU thread."""
    from valuelab.elicit.serve import _executable, start_transformers_serve

    try:
        folder = vl.elicit.embedded_model_dir("smollm2-135m-instruct", progress=False)
    except ModuleNotFoundError as err:
        pytest.skip(str(err))
    if _executable() is None:
        pytest.skip(f"no transformers command beside {sys.executable}")
    # one thread: with the default two, the server and the test process fight over 2 cores
    # (about 2 s per one-token request instead of 0.5 s here)
    try:
        server = start_transformers_serve(folder, threads=1, timeout=240,
                                          log=tmp_path_factory.mktemp("serve") / "serve.log")
    except vl.elicit.ServerError as err:
        pytest.fail(str(err))
    with server:
        yield server.url, server.model


@pytest.fixture(scope="module")
def local():
    return TransformersModel("smollm2-135m-instruct")


def remote(served, **options):
    url, name = served
    return OpenAIModel(name, base_url=url, api_key_env=None, max_concurrency=2, timeout=120, **options)


def test_the_probe_finds_what_transformers_serve_honours(served):
    model = remote(served)
    caps = model.capabilities
    assert (caps.top_logprobs, caps.n, caps.echo, caps.generation_config) == (False, False, False, True)
    words = model.describe_route()
    assert "estimated from 50 sampled one-token answers" in words and "k separate requests" in words
    strict = remote(served, probabilities="top_logprobs")
    with pytest.raises(vl.elicit.ServerError, match="does not return logprobs/top_logprobs"):
        strict.option_probabilities([PROMPT])


def test_greedy_answers_equal_the_local_backend(served, local):
    prompts = [PROMPT, pairwise_prompt("Ten people are saved.", "You receive $100."), "Name a colour."]
    model = remote(served)
    assert model.generate(prompts, k=1, temperature=0, max_new_tokens=12) == \
        local.generate(prompts, k=1, temperature=0, max_new_tokens=12)
    assert model.usage["completion_tokens"] > 0 and model.usage["prompt_tokens"] > 0
    assert model.usage["requests"] == 3 and model.usage["requests_without_usage"] == 0


def test_usage_is_recorded_per_response(served, local):
    """transformers serve reports usage: the prompt tokens are the chat template's, counted here too."""
    prompts = [PROMPT, "Name a colour."]
    model = remote(served)
    texts = model.generate(prompts, k=1, temperature=0, max_new_tokens=12)
    here = [len(local.tokenizer(local.render(p), add_special_tokens=False)["input_ids"]) for p in prompts]
    out = [len(local.tokenizer(t[0], add_special_tokens=False)["input_ids"]) for t in texts]
    print(f"\nusage reported by transformers serve: {model.last_usage}; prompt tokens counted locally {here}, "
          f"answer tokens {out}; run total {model.usage}")
    assert [u["prompt_tokens"] for u in model.last_usage] == here
    for u, n in zip(model.last_usage, out):
        assert n <= u["completion_tokens"] <= 12


def _mc_chisquare(counts, probs, *, draws=20000, seed=0):
    """Pearson's statistic and its Monte Carlo p-value under the multinomial (exact up to MC error)."""
    counts = np.asarray(counts, float)
    probs = np.asarray(probs, float) / np.sum(probs)
    n = counts.sum()
    expected = n * probs
    stat = np.sum((counts - expected) ** 2 / expected)
    sims = np.random.default_rng(seed).multinomial(int(n), probs, size=draws)
    null = np.sum((sims - expected) ** 2 / expected, axis=1)
    return stat, (1 + np.sum(null >= stat - 1e-12)) / (draws + 1)


def _first_token_test(served, local, n):
    model = remote(served)
    t0 = time.perf_counter()
    answers = model._sample(PROMPT, n, 1.0, 1, None)
    seconds = time.perf_counter() - t0
    counts = [sum(a.strip() == "A" for a in answers), sum(a.strip() == "B" for a in answers)]
    counts.append(n - sum(counts))
    (probs, mass) = local.option_probabilities([PROMPT])
    expected = [probs[0, 0] * mass[0], probs[0, 1] * mass[0], 1 - mass[0]]
    stat, p = _mc_chisquare(counts, expected)
    print(f"\nfirst token, {n} answers from transformers serve in {seconds:.0f} s: counts A/B/other {counts}, "
          f"local probabilities {np.round(expected, 3).tolist()}, chi2 {stat:.2f}, Monte Carlo p {p:.3f}")
    assert p > 0.01


def test_sampled_first_tokens_follow_the_local_probabilities(served, local):
    _first_token_test(served, local, 60)


@pytest.mark.slow
def test_sampled_first_tokens_follow_the_local_probabilities_200(served, local):
    _first_token_test(served, local, 200)


def _answer_distribution_test(served, local, n):
    """Whole sampled answers (8 tokens) parsed into A / B / neither: server vs local, 2 x 3 table."""
    from scipy import stats

    model = remote(served)
    t0 = time.perf_counter()
    server = model.generate([PROMPT], k=n, temperature=1.0, max_new_tokens=8, seed=None)[0]
    seconds = time.perf_counter() - t0
    here = local.generate([PROMPT], k=n, temperature=1.0, max_new_tokens=8, seed=1)[0]
    table = [[sum(parse_choice(t) == c for t in texts) for c in ("A", "B", None)] for texts in (server, here)]
    table = np.array(table)
    keep = table.sum(0) > 0
    res = stats.chi2_contingency(table[:, keep])
    exact = stats.fisher_exact(table[:, :2]) if table[:, :2].sum(1).all() and keep[:2].all() else None
    print(f"\nsampled answers, {n} from transformers serve in {seconds:.0f} s: server A/B/neither {table[0].tolist()}, "
          f"local {table[1].tolist()}, chi2 {res.statistic:.2f} (df {res.dof}), p {res.pvalue:.3f}"
          + (f"; Fisher A/B p {exact.pvalue:.3f}" if exact is not None else ""))
    assert res.pvalue > 0.01


@pytest.mark.slow
def test_sampled_answers_follow_the_local_distribution_200(served, local):
    _answer_distribution_test(served, local, 200)


def test_elicit_comparisons_on_both_routes(served, local):
    from valuelab.datasets import load_outcomes

    options = load_outcomes().sample(2, random_state=0)
    pairs = pd.DataFrame({"option_a": [options["option_id"].iloc[0]], "option_b": [options["option_id"].iloc[1]]})
    model = remote(served, probability_samples=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        comps, resp = elicit_comparisons(options, model, pairs=pairs, method="sample", k=3, progress=False)
        assert len(resp) == 2 and ((comps["n_a"] + comps["n_b"]) <= 3).all()
        comps_l, resp_l = elicit_comparisons(options, model, pairs=pairs, method="logits", progress=False)
    assert len(resp_l) == 2
    assert model.route_counts["separate"] == 2 and model.route_counts["sample"] == 2
    exact, _ = elicit_comparisons(options, local, pairs=pairs, method="logits", progress=False)
    print("\nlogits route (12 samples) vs local exact:\n", comps_l.to_string(), "\n", exact.to_string())


def test_elicit_dilemma_choices_on_both_routes(served, local):
    actions = vl.load_dilemmas()
    actions = actions[actions["dilemma_id"] == actions["dilemma_id"].iloc[0]]
    model = remote(served, probability_samples=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sampled, _ = vl.elicit_dilemma_choices(actions, model, method="sample", k=3, progress=False)
        est, _ = vl.elicit_dilemma_choices(actions, model, method="logits", progress=False)
    exact, _ = vl.elicit_dilemma_choices(actions, local, method="logits", progress=False)
    assert len(sampled) and len(est) == len(exact)
    print("\ndilemma, sampled k=3:\n", sampled.to_string(), "\nestimated:\n", est.to_string(), "\nexact:\n",
          exact.to_string())


def test_elicit_survey_text_equals_the_local_backend(served, local):
    items = sv.load_survey_items()
    items = items[(items["language"] == "en")].iloc[:2]
    model = remote(served, probability_samples=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        there = sv.elicit_survey(items, model, languages=["en"], max_new_tokens=16, progress=False)
    here = sv.elicit_survey(items, local, languages=["en"], max_new_tokens=16, progress=False)
    # greedy texts are the same model's; option distributions are 12-sample estimates there
    assert there["text"].tolist() == here["text"].tolist()
    for p in there["probs"]:
        assert np.nansum(p) == pytest.approx(1) or np.isnan(p).all()
    print("\nsurvey probs, server (12 samples) vs local:", [np.round(p, 2).tolist() for p in there["probs"]],
          [np.round(p, 2).tolist() for p in here["probs"]])
