"""Survey probes: metrics, loaders, refusal detection, leakage, shifts, human alignment."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import entropy

import valuelab.survey as sv
from valuelab.stats import wilson_interval

ROOT = Path(__file__).resolve().parent.parent
MENA = ROOT.parent / "shared" / "data" / "menavalues" / "MenaValues_Benchmark.xlsx"
needs_mena = pytest.mark.skipif(not MENA.exists(), reason="published MENAValues workbook in ../shared is absent")


# ---------------------------------------------------------------- metrics: closed forms
def test_js_distance_closed_form():
    p, q = np.array([0.5, 0.5]), np.array([1.0, 0.0])
    m = (p + q) / 2
    div = entropy(m, base=2) - (entropy(p, base=2) + entropy(q, base=2)) / 2  # 0.8113 - 0.5
    assert sv.js_distance(p, q) == pytest.approx(np.sqrt(div))
    assert sv.js_distance(p, q) == pytest.approx(0.55793, abs=1e-5)
    assert sv.js_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    assert sv.js_distance([0.2, 0.8], [0.2, 0.8]) == 0
    with pytest.raises(ValueError, match="same number of options"):
        sv.js_distance([0.5, 0.5], [0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="distribution"):
        sv.js_distance([0.5, np.nan], [0.5, 0.5])


def test_ordinal_emd_closed_form():
    assert sv.ordinal_emd([1, 0, 0], [0, 0, 1]) == pytest.approx(1.0)
    assert sv.ordinal_emd([1, 0, 0], [0, 1, 0]) == pytest.approx(0.5)
    # EMD on a line = sum of |CDF differences|: CDFs (.5,.8,1) and (.2,.4,1) -> .3 + .4 = .7, / (k-1) = .35
    assert sv.ordinal_emd([0.5, 0.3, 0.2], [0.2, 0.2, 0.6]) == pytest.approx(0.35)
    assert sv.distribution_distance([1, 0, 0], [0, 0, 1], "categorical") == pytest.approx(1.0)


def test_metric_symmetry_and_bounds_on_random_distributions():
    rng = np.random.default_rng(0)
    for _ in range(200):
        k = rng.integers(2, 7)
        p, q = rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k))
        for f in (sv.js_distance, sv.ordinal_emd):
            d = f(p, q)
            assert 0 <= d <= 1 and d == pytest.approx(f(q, p)) and f(p, p) == pytest.approx(0, abs=1e-7)


def test_consistency_scores_ordinal_only():
    assert sv.consistency_score(2, 3, 1, 4) == pytest.approx(100 * (1 - 1 / 3))
    assert sv.consistency_score(1, 4, 1, 4) == 0
    np.testing.assert_allclose(sv.consistency_score([1, 2], [1, 3], 1, 5), [100, 75])
    with pytest.raises(ValueError, match="categorical"):
        sv.consistency_score(1, 2, 1, 4, scale="categorical")


def test_paired_cliffs_delta_counts_matched_pairs():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert sv.paired_cliffs_delta(x + 0.05, x) == 1  # every item moves up a little
    assert sv.cliffs_delta(x + 0.05, x) == pytest.approx(0.25)  # the unpaired version barely sees it
    assert sv.paired_cliffs_delta([1, 2, 3], [2, 2, 1]) == pytest.approx(0)


def test_cliffs_delta_equals_pair_counting():
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 5, 30).astype(float), rng.integers(1, 6, 25).astype(float)
    brute = (np.sign(x[:, None] - y[None, :])).mean()
    assert sv.cliffs_delta(x, y) == pytest.approx(brute)
    assert sv.cliffs_delta([3, 4], [1, 2]) == 1


def test_expected_answer():
    assert sv.expected_answer([0.5, 0, 0.5]) == pytest.approx(2)


# ---------------------------------------------------------------- loaders and tables
@needs_mena
def test_read_menavalues_and_its_reported_means():
    items, human = sv.read_menavalues(MENA)
    assert len(items) == 864 and human["population"].nunique() == 16
    assert items["scale"].value_counts().to_dict() == {"ordinal": 755, "categorical": 109}
    # the workbook reports each country's mean for ordinal items: recompute it from the shares
    h = human.merge(items[["item_id", "min_code", "scale"]])
    h["code"] = h["option"] + h["min_code"] - 1
    cell = h.assign(w=h["code"] * h["share"]).groupby(["item_id", "population"]).agg(
        mean=("w", "sum"), reported=("reported", "first"), scale=("scale", "first"), excluded=("excluded_share", "first"))
    ordinal = cell[(cell["scale"] == "ordinal") & (cell["excluded"] == 0)]
    assert len(ordinal) > 7000
    assert (ordinal["mean"] - ordinal["reported"]).abs().max() < 0.01  # shares are rounded to 0.01%
    # categorical items report the mode
    cat = h[h["scale"] == "categorical"].sort_values("share").groupby(["item_id", "population"]).tail(1)
    assert (cat["code"] == cat["reported"]).mean() > 0.95
    assert np.allclose(human.groupby(["item_id", "population"])["share"].sum(), 1)
    with pytest.raises(ValueError, match="country 'Atlantis' is not in the workbook"):
        sv.read_menavalues(MENA, countries=["Egypt", "Atlantis"])


def test_read_menavalues_rejects_a_file_that_is_not_a_workbook(tmp_path):
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="not a readable Excel workbook"):
        sv.read_menavalues(path)


def test_read_globalopinionqa_format(tmp_path):
    path = tmp_path / "goqa.csv"
    pd.DataFrame({
        "question": ["Is work important?", "Which is best?"],
        "selections": ["defaultdict(<class 'list'>, {'Belgium': [0.6, 0.4], 'Chile': [0.25, 0.75]})",
                       "defaultdict(<class 'list'>, {'Belgium': [0.2, 0.3, 0.5]})"],
        "options": ["['Yes', 'No']", "['A', \"B's\", 'C']"],
        "source": ["GAS", "WVS"],
    }).to_csv(path, index=False)
    items, human = sv.read_globalopinionqa(path, ordinal_items=["goqa0"])
    assert items["options"].tolist() == [["Yes", "No"], ["A", "B's", "C"]]
    assert items["scale"].tolist() == ["ordinal", "categorical"]
    chile = human[(human["item_id"] == "goqa0") & (human["population"] == "Chile")]
    assert chile["share"].tolist() == [0.25, 0.75]
    bad = pd.read_csv(path)
    bad.loc[0, "selections"] = "defaultdict(<class 'list'>, {'Belgium': __import__('os').getcwd()})"
    bad.to_csv(path, index=False)
    with pytest.raises(ValueError, match="row 0, column 'selections'"):
        sv.read_globalopinionqa(path)


def test_survey_item_validation_errors():
    good = pd.DataFrame({"item_id": ["a", "a"], "language": ["en", "ar"], "question": ["Q?", "س؟"],
                         "options": ['["x", "y"]', ["س", "ص"]], "scale": ["ordinal", "ordinal"]})
    assert sv.validate_survey_items(good)["options"].tolist() == [["x", "y"], ["س", "ص"]]
    with pytest.raises(ValueError, match="row 1, column 'scale'.*'nominal'"):
        sv.validate_survey_items(good.assign(scale=["ordinal", "nominal"]))
    with pytest.raises(ValueError, match="row 0, column 'options': expected at least two"):
        sv.validate_survey_items(good.assign(options=['["x"]', '["x", "y"]']))
    with pytest.raises(ValueError, match="item 'a': its translations differ"):
        sv.validate_survey_items(good.assign(options=['["x", "y"]', '["x", "y", "z"]']))
    human = pd.DataFrame({"item_id": ["a", "a"], "population": ["P", "P"], "option": [1, 2], "share": [0.5, 0.3]})
    with pytest.raises(ValueError, match="item 'a', population 'P': shares sum to 0.800"):
        sv.validate_human_distributions(human)
    with pytest.raises(ValueError, match="row 1, column 'option': 3 exceeds the item's 2 options"):
        sv.validate_human_distributions(human.assign(option=[1, 3], share=[0.5, 0.5]), items=good)


def test_project_items_cover_seven_languages_with_rtl_and_non_latin_scripts():
    items = sv.load_survey_items()
    assert items["item_id"].nunique() >= 20
    langs = set(items["language"])
    assert {"ar", "fa"} <= langs and {"zh", "ru"} <= langs and len(langs) >= 6
    assert items.groupby("item_id")["language"].nunique().min() == len(langs)
    assert set(items["scale"]) == {"ordinal", "categorical"}
    pieces = sv.survey_prompt_pieces()
    for lang in langs:
        assert "{country}" in pieces[lang]["persona"] and "{country}" in pieces[lang]["observer"]
    countries = sv.survey_countries()
    assert countries.groupby("country")["language"].nunique().min() == len(langs)


def test_survey_prompt_framings_and_labels():
    q = sv.survey_prompt("How important is family?", ["Very", "Not"], language="en", framing="observer",
                         country="Egypt")
    assert q.startswith("How would an average person from Egypt") and "1. Very\n2. Not" in q
    assert "1. 1" not in sv.survey_prompt("Rate 1-4.", ["1", "2", "3", "4"])  # codes explained in the question
    with pytest.raises(ValueError, match="needs a country"):
        sv.survey_prompt("Q?", ["a", "b"], framing="persona")
    assert sv.option_labels(3, language="ar")[2] == ("3", "٣")
    assert sv.option_labels(3, language="fa")[0] == ("1", "۱")
    assert sv.option_labels(2, language="en") == [("1",), ("2",)]


# ---------------------------------------------------------------- refusals
REFUSALS = {
    "en": ("As an AI, I don't have personal opinions on this.", "It depends on the person.", "I would say 3."),
    "ar": ("لا أستطيع الإجابة على هذا السؤال.", "هذا يعتمد على الشخص.", "الإجابة: ٣"),
    "fa": ("من نمی‌توانم پاسخ بدهم.", "این بستگی دارد به شرایط.", "پاسخ: ۳"),
    "zh": ("我无法回答这个问题。", "这因人而异。", "答案：3"),
    "ru": ("Я не могу ответить на этот вопрос.", "Это зависит от человека.", "Ответ: 3"),
    "es": ("No puedo responder a esa pregunta.", "Eso depende de cada persona.", "Respuesta: 3"),
    "tr": ("Bu soruya cevap veremem.", "Bu kişiye göre değişir.", "Cevap: 3"),
}


@pytest.mark.parametrize("language", sorted(REFUSALS))
def test_refusal_detection_in_every_language(language):
    refuse, evade, answer = REFUSALS[language]
    r = sv.detect_refusal(refuse, language=language, n_options=4)
    assert r["refused"] and r["kind"] == "refusal" and r["confidence"] >= 0.9
    e = sv.detect_refusal(evade, language=language, n_options=4)
    assert e["refused"] and e["kind"] == "evasion", (language, e)
    a = sv.detect_refusal(answer, language=language, n_options=4)
    assert not a["refused"] and a["answer"] == 3
    # a text naming no option is no answer, not a refusal (the old reading counted it as refused,
    # which gave `refused` a precision of 0.06-0.25 against true refusals; issue #16)
    n = sv.detect_refusal("The weather is nice.", language=language, n_options=4)
    assert not n["refused"] and n.verdict == "no_answer" and n["kind"] is None and n.reason


def test_option_number_parsing():
    assert sv.parse_option_number("3, because 1 in 5 people agree", n_options=4) == 3
    assert sv.parse_option_number("Answer: 3.5", n_options=4) is None
    assert sv.parse_option_number("Answer: 10", n_options=4) is None
    assert sv.parse_option_number(" 2\n\nQuestion: next one?\nAnswer: 4", n_options=4) == 2  # a base model writing on
    assert sv.parse_option_number("1. A great deal\n2. Quite a lot\n3. Little\n\nAnswer:\n2. Quite", n_options=4) == 2
    assert sv.parse_option_number("1. A great deal\n2. Quite a lot\n3. Little", n_options=4) is None  # an echo
    assert sv.parse_option_number("The answer is 1. A great deal.", n_options=4) == 1
    assert sv.parse_option_number("0", labels=["0", "1", "2"]) == 1
    assert sv.parse_option_number("2 or 3", n_options=4) is None
    assert sv.parse_option_number("Options 1 to 4... Answer: 2", n_options=4) == 2
    assert sv.parse_option_number("٤", n_options=4) == 4
    assert sv.parse_option_number("7", n_options=4) is None
    assert sv.parse_option_number("3.5 out of 4", n_options=4) is None


# ---------------------------------------------------------------- leakage
def test_leakage_on_constructed_responses():
    resp = pd.DataFrame({
        "model": "m", "language": ["en"] * 4 + ["ar"] * 2, "framing": "neutral",
        "refused": [True, True, True, False, True, True],
        "probs": [[0.9, 0.05, 0.05], [0.7, 0.3], [0.8, 0.1, 0.1], [0.95, 0.05], [0.2, 0.7, 0.05, 0.05], [0.5, 0.5]],
        "option_mass": [0.5, 0.5, 0.01, 0.9, 0.2, 0.3],
    })
    out = sv.detect_leakage(resp, tau=0.6, min_mass=0.05)
    # thresholds max(tau, 1/k + .25): .6 for k = 3 and 4, .75 for k = 2
    # row 0 leaks; row 1 binary .7 < .75; row 2 too little mass; row 3 answered; row 4 leaks option 2; row 5 flat
    assert out["leaked"].tolist() == [True, False, False, False, True, False]
    binary = sv.detect_leakage(resp.iloc[[5, 5]].assign(probs=[[0.5, 0.5], [0.8, 0.2]]))
    assert binary["leaked"].tolist() == [False, True]  # default tau: uniform never leaks
    assert out["hidden_answer"].tolist()[:5] == [1, 1, 1, 1, 2]
    rates = sv.leakage_rates(out, by=["model", "language"]).set_index("language")
    assert rates.loc["en", ["n_refused", "n_leaked"]].tolist() == [3, 1]
    assert rates.loc["en", "leakage_rate"] == pytest.approx(1 / 3)
    assert (rates.loc["en", "ci_low"], rates.loc["en", "ci_high"]) == pytest.approx(wilson_interval(1, 3))
    sm = pytest.importorskip("statsmodels.stats.proportion")
    assert (rates.loc["ar", "ci_low"], rates.loc["ar", "ci_high"]) == pytest.approx(
        sm.proportion_confint(1, 2, method="wilson"))


# ---------------------------------------------------------------- shifts and tests
def _responses(table):
    rows = []
    for (lang, framing, country, item, scale), probs in table.items():
        rows.append({"model": "m", "item_id": item, "language": lang, "framing": framing, "country": country,
                     "reasoning": False, "scale": scale, "probs": list(probs)})
    return pd.DataFrame(rows)


def test_language_and_framing_shifts_equal_their_metrics():
    table = {("en", "neutral", None, "i1", "ordinal"): [0.7, 0.2, 0.1],
             ("ar", "neutral", None, "i1", "ordinal"): [0.1, 0.2, 0.7],
             ("en", "neutral", None, "i2", "categorical"): [0.5, 0.5],
             ("ar", "neutral", None, "i2", "categorical"): [1.0, 0.0],
             ("en", "persona", "Egypt", "i1", "ordinal"): [0.2, 0.6, 0.2],
             ("en", "observer", "Egypt", "i1", "ordinal"): [0.2, 0.2, 0.6]}
    lang = sv.condition_shifts(_responses(table), between="language").set_index(["framing", "item_id"])
    i1 = lang.loc[("neutral", "i1")]
    assert i1["distance"] == pytest.approx(sv.ordinal_emd([0.7, 0.2, 0.1], [0.1, 0.2, 0.7]))
    assert (i1["answer_a"], i1["answer_b"]) == pytest.approx((1.4, 2.6))
    assert i1["consistency"] == pytest.approx(100 * (1 - 1.2 / 2))  # CLCS
    assert lang.loc[("neutral", "i2"), "distance"] == pytest.approx(0.55793, abs=1e-5)
    fr = sv.condition_shifts(_responses(table), between="framing")
    pair = fr[(fr["a"] == "persona") & (fr["b"] == "observer")].iloc[0]
    assert pair["consistency"] == pytest.approx(100 * (1 - 0.4 / 2))  # FCS: 2.0 vs 2.4
    neutral_vs_persona = fr[(fr["a"] == "neutral") & (fr["b"] == "persona")]
    assert len(neutral_vs_persona) == 1 and neutral_vs_persona["country"].iat[0] == "Egypt"
    mat = sv.shift_matrix(lang)
    assert mat.loc["en", "ar"] == mat.loc["ar", "en"] and mat.loc["en", "en"] == 0


def _null_shifts(rng, n_items, effect=0.0):
    rows = []
    for i in range(n_items):
        base = rng.uniform(1.5, 3.5)
        a, b = base + rng.normal(0, 0.4), base + effect + rng.normal(0, 0.4)
        rows.append({"model": "m", "framing": "neutral", "country": None, "reasoning": False, "item_id": f"i{i}",
                     "scale": "ordinal", "n_options": 5, "a": "en", "b": "ar", "distance": abs(a - b) / 4,
                     "answer_a": a, "answer_b": b, "consistency": 100 * (1 - abs(a - b) / 4)})
    return pd.DataFrame(rows)


@pytest.mark.slow
def test_permutation_test_holds_its_size_and_has_power():
    rng = np.random.default_rng(3)
    p_null = [sv.compare_conditions(_null_shifts(rng, 20), n_resamples=999, seed=int(rng.integers(1 << 30)))
              ["p_value"].iat[0] for _ in range(300)]
    assert 0.02 <= np.mean(np.array(p_null) < 0.05) <= 0.09
    p_alt = [sv.compare_conditions(_null_shifts(rng, 20, effect=0.6), n_resamples=999)["p_value"].iat[0]
             for _ in range(30)]
    assert np.mean(np.array(p_alt) < 0.05) > 0.8


def test_condition_test_reports_effect_size_and_bh():
    rng = np.random.default_rng(0)
    shifts = pd.concat([_null_shifts(rng, 12, effect=1.0), _null_shifts(rng, 12).assign(b="fa")])
    out = sv.compare_conditions(shifts, n_resamples=2000).set_index("b")
    x = (shifts[shifts.b == "ar"]["answer_a"] - 1) / 4
    y = (shifts[shifts.b == "ar"]["answer_b"] - 1) / 4
    assert out.loc["ar", "mean_difference"] == pytest.approx(float(np.mean(x - y)))
    assert out.loc["ar", "cliffs_delta"] == pytest.approx(np.mean(np.sign(x.to_numpy() - y.to_numpy())))
    assert out.loc["ar", "p_value"] < 0.01
    mt = pytest.importorskip("statsmodels.stats.multitest")
    np.testing.assert_allclose(out["q_value"], mt.multipletests(out["p_value"], method="fdr_bh")[1])


# ---------------------------------------------------------------- human alignment
def test_alignment_closest_population_and_reasoning_effect():
    human = pd.DataFrame({"item_id": ["i1"] * 6, "population": ["P"] * 3 + ["Q"] * 3, "option": [1, 2, 3] * 2,
                          "share": [0.7, 0.2, 0.1, 0.1, 0.2, 0.7]})
    resp = pd.DataFrame({"model": "m", "item_id": "i1", "language": "en", "framing": "neutral", "country": None,
                         "reasoning": [False, True], "scale": "ordinal",
                         "probs": [[0.7, 0.2, 0.1], [0.4, 0.2, 0.4]]})
    al = sv.human_alignment(resp, human).set_index(["reasoning", "population"])
    assert al.loc[(False, "P"), "similarity"] == pytest.approx(1.0)
    assert al.loc[(False, "P"), "nvas"] == pytest.approx(100.0)
    assert al.loc[(False, "Q"), "nvas"] == pytest.approx(100 * (1 - 1.2 / 2))  # 1.4 vs 2.6 on 1..3
    assert al.loc[(True, "Q"), "similarity"] == pytest.approx(1 - sv.js_distance([0.4, 0.2, 0.4], [0.1, 0.2, 0.7]))
    close = sv.closest_population(al.reset_index()).set_index("reasoning")
    assert close.loc[False, "closest"] == "P" and close.loc[False, "runner_up"] == "Q"
    eff = sv.reasoning_effect(al.reset_index()).iloc[0]
    expected = np.mean([al.loc[(True, p), "similarity"] - al.loc[(False, p), "similarity"] for p in "PQ"])
    assert eff["difference"] == pytest.approx(expected) and eff["n_items"] == 1
    with pytest.raises(ValueError, match="no response shares an item"):
        sv.human_alignment(resp.assign(item_id="zz"), human)


# ---------------------------------------------------------------- end to end on a tiny model
def test_elicit_survey_end_to_end_on_a_tiny_model(tiny, tmp_path):
    items = sv.load_survey_items()
    items = items[items["item_id"].isin(["v01", "v02"])]
    db = tmp_path / "c.sqlite"
    kw = dict(languages=["en", "ar"], framings=["neutral", "persona"], countries=["Egypt"], reasoning=(False, True),
              max_new_tokens=4, reasoning_tokens=6, cache=str(db), progress=False)
    resp = sv.elicit_survey(items, tiny, **kw)
    assert len(resp) == 2 * 2 * 2 * 2  # items x languages x framings x reasoning
    for p, k in zip(resp["probs"], resp["n_options"]):
        assert len(p) == k and sum(p) == pytest.approx(1)
    assert ((resp["option_mass"] > 0) & (resp["option_mass"] <= 1)).all()
    assert resp["refused"].dtype == bool and not resp["cached"].any()
    assert resp.loc[resp["framing"] == "persona", "country"].eq("Egypt").all()
    assert resp.loc[resp["framing"] == "neutral", "country"].isna().all()
    # the reasoning text is fed back before the answer is read
    think = resp[resp["reasoning"]].iloc[0]
    assert think["prompt"].rstrip().endswith(sv.survey_prompt_pieces()[think["language"]]["answer_cue"])
    again = sv.elicit_survey(items, tiny, **kw)
    assert again["cached"].all()
    np.testing.assert_allclose(np.concatenate(list(again["probs"])), np.concatenate(list(resp["probs"])))
    shifts = sv.condition_shifts(resp, between="language")
    assert len(shifts) == 2 * 2 * 2  # items x framings x reasoning, one language pair
    rates = sv.leakage_rates(resp)
    assert len(rates) == 2 * 2 * 2  # model x language x framing(country) x reasoning groups present


def test_elicit_survey_base_model_prompt_ends_with_the_answer_cue(tiny):
    from valuelab.elicit import TransformersModel

    base = TransformersModel("tiny-base", _model=tiny.model, _tokenizer=tiny.tokenizer, chat=False)
    items = sv.load_survey_items()
    resp = sv.elicit_survey(items[items["item_id"] == "v01"], base, languages=["ru"], max_new_tokens=3,
                            progress=False)
    assert resp["prompt"].iat[0].endswith(sv.survey_prompt_pieces()["ru"]["answer_cue"])
    with pytest.raises(ValueError, match="countries"):
        sv.elicit_survey(items, base, framings=["persona"], progress=False)


def test_survey_figures():
    import valuelab as vl

    mat = pd.DataFrame([[0, 0.2], [0.2, 0]], index=["en", "ar"], columns=["en", "ar"])
    fig = vl.plot_shift_heatmap(mat)
    np.testing.assert_allclose(fig.data[0].z, mat.to_numpy())
    rates = pd.DataFrame({"language": ["en", "ar"], "framing": "neutral", "leakage_rate": [0.5, 0.25],
                          "ci_low": [0.1, 0.05], "ci_high": [0.9, 0.7], "n_leaked": [1, 1], "n_refused": [2, 4],
                          "n_responses": [5, 5]})
    fig = vl.plot_leakage(rates)
    assert list(fig.data[0].y) == [0.5, 0.25] and fig.data[0].error_y.array[0] == pytest.approx(0.4)
    al = pd.DataFrame({"language": ["en", "en", "ar"], "population": ["P", "Q", "P"], "similarity": [0.9, 0.5, 0.7],
                       "item_id": ["i", "i", "i"]})
    fig = vl.plot_alignment(al)
    z = pd.DataFrame(fig.data[0].z, index=fig.data[0].y, columns=fig.data[0].x)
    assert z.at["en", "P"] == 0.9 and z.at["ar", "P"] == 0.7 and z.at["en", "Q"] == 0.5 and np.isnan(z.at["ar", "Q"])


def test_items_and_distributions_round_trip(tmp_path):
    import json

    items = sv.load_survey_items()
    csv = tmp_path / "items.csv"
    items.assign(options=[json.dumps(o, ensure_ascii=False) for o in items["options"]]).to_csv(csv, index=False)
    back = sv.read_survey_items(csv)
    assert back["options"].tolist() == items["options"].tolist()
    assert back[["item_id", "language", "question", "scale"]].equals(items[["item_id", "language", "question", "scale"]])
    js = tmp_path / "items.json"
    items.to_json(js, orient="records", force_ascii=False)
    assert sv.read_survey_items(js)["options"].tolist() == items["options"].tolist()
    human = pd.DataFrame({"item_id": ["v01"] * 4, "population": "P", "option": [1, 2, 3, 4],
                          "share": [0.1, 0.2, 0.3, 0.4]})
    path = tmp_path / "human.csv"
    human.to_csv(path, index=False)
    pd.testing.assert_frame_equal(sv.read_human_distributions(path, items=items), human)


@needs_mena
def test_menavalues_distributions_round_trip(tmp_path):
    items, human = sv.read_menavalues(MENA, countries=["Egypt", "Qatar"])
    path = tmp_path / "human.csv"
    human.to_csv(path, index=False)
    back = sv.read_human_distributions(path, items=items)
    np.testing.assert_allclose(back["share"], human["share"], atol=1e-12)
    assert back[["item_id", "population", "option"]].equals(human[["item_id", "population", "option"]])


def test_neutral_framing_pairs_with_every_country():
    table = {("en", "neutral", None, "i1", "ordinal"): [0.5, 0.3, 0.2],
             ("en", "persona", "Egypt", "i1", "ordinal"): [0.2, 0.6, 0.2],
             ("en", "persona", "Iran", "i1", "ordinal"): [0.1, 0.1, 0.8]}
    fr = sv.condition_shifts(_responses(table), between="framing").set_index("country")
    assert sorted(fr.index) == ["Egypt", "Iran"] and (fr["a"] == "neutral").all()
    assert fr.at["Iran", "distance"] == pytest.approx(sv.ordinal_emd([0.5, 0.3, 0.2], [0.1, 0.1, 0.8]))
    assert fr.at["Egypt", "distance"] == pytest.approx(sv.ordinal_emd([0.5, 0.3, 0.2], [0.2, 0.6, 0.2]))


def test_items_coded_from_zero_are_answered_with_their_codes():
    items = pd.DataFrame({"item_id": ["m"], "language": ["en"], "scale": ["ordinal"],
                          "question": ["Membership: '0' not a member, '1' inactive, '2' active. Provide a number only."],
                          "options": [["0", "1", "2"]], "labels": [["0", "1", "2"]]})
    its = sv.validate_survey_items(items)
    prompt = sv.survey_prompt(its.at[0, "question"], its.at[0, "options"], labels=its.at[0, "labels"])
    assert "Options" not in prompt  # the question explains the codes; no "1. 0" list
    assert sv.option_labels(["0", "1", "2"], language="fa")[0] == ("0", "۰")
    verdict = sv.detect_refusal("0", labels=["0", "1", "2"])
    assert verdict["answer"] == 1 and not verdict["refused"]  # code 0 is the first option
    with pytest.raises(ValueError, match="column 'labels': expected 3 distinct"):
        sv.validate_survey_items(items.assign(labels=[["0", "0", "1"]]))


def test_reasoning_needs_a_backend_that_continues_the_answer():
    from valuelab.elicit import OpenAIModel

    remote = OpenAIModel("m", base_url="http://127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(ValueError, match="reasoning: OpenAIModel cannot continue"):
        sv.elicit_survey(sv.load_survey_items().head(1), remote, reasoning=(False, True), progress=False)


def test_human_distribution_rows_must_be_unique_whole_options():
    human = pd.DataFrame({"item_id": ["a"] * 3, "population": "P", "option": [1, 2, 2], "share": [0.5, 0.25, 0.25]})
    with pytest.raises(ValueError, match="row 2: option 2 of item 'a' appears twice for population 'P'"):
        sv.validate_human_distributions(human)
    with pytest.raises(ValueError, match="row 1, column 'option': expected a 1-based option number, got 1.5"):
        sv.validate_human_distributions(human.assign(option=[1, 1.5, 2]))


def test_sign_flip_refuses_missing_values():
    from valuelab.stats import sign_flip_pvalue

    with pytest.raises(ValueError, match="finite"):
        sign_flip_pvalue(np.array([1.0, np.nan, 2.0]))


# ---------------------------------------------------------------- issue 15: numbers that hold on real data
def _jsd_similarity(p, q):
    from scipy.spatial.distance import jensenshannon

    return 1 - jensenshannon(np.asarray(p, float), np.asarray(q, float), base=2)


def test_closest_population_compares_populations_on_shared_items():
    # P has item i1 only; Q has i1, i2 and i3. On i1, the one item both have, the model is closer to P;
    # Q matches the model exactly on i2 and i3, which P lacks, so averaging each over its own items picks Q
    model = {"i1": [0.6, 0.3, 0.1], "i2": [0.2, 0.3, 0.5], "i3": [0.1, 0.1, 0.8]}
    dists = {("P", "i1"): [0.5, 0.3, 0.2], ("Q", "i1"): [0.3, 0.3, 0.4], ("Q", "i2"): model["i2"],
             ("Q", "i3"): model["i3"]}
    human = pd.DataFrame([{"item_id": i, "population": pop, "option": o + 1, "share": s}
                          for (pop, i), d in dists.items() for o, s in enumerate(d)])
    resp = pd.DataFrame({"model": "m", "item_id": list(model), "language": "en", "framing": "neutral",
                         "country": None, "reasoning": False, "scale": "ordinal", "probs": list(model.values())})
    al = sv.human_alignment(resp, human)
    with pytest.warns(UserWarning, match=r"'P' lacks 2 of the 3 items"):
        out = sv.closest_population(al).iloc[0]
    assert out["closest"] == "P" and out["runner_up"] == "Q"
    assert out["n_items"] == 1 and out["n_items_excluded"] == 2 and out["incomplete_populations"] == "P"
    sim_p, sim_q = _jsd_similarity(model["i1"], dists["P", "i1"]), _jsd_similarity(model["i1"], dists["Q", "i1"])
    assert out["value"] == pytest.approx(sim_p) and out["runner_up_value"] == pytest.approx(sim_q)
    assert out["difference"] == out["value"] - out["runner_up_value"]


def test_closest_population_interval_and_p_value_against_independent_computations():
    rng = np.random.default_rng(4)
    n = 12
    rows = []
    for item in [f"i{j}" for j in range(n)]:
        for pop, shift in (("P", 0.0), ("Q", 0.05), ("R", 0.3)):
            rows.append({"model": "m", "language": "en", "framing": "neutral", "country": None, "reasoning": False,
                         "item_id": item, "population": pop, "similarity": 0.8 - shift + rng.gamma(1.0, 0.05)})
    al = pd.DataFrame(rows)
    out = sv.closest_population(al, n_resamples=20000, alpha=0.1, seed=1).iloc[0]
    wide = al.pivot(index="item_id", columns="population", values="similarity")
    assert out["closest"] == wide.mean().idxmax() and out["runner_up"] == wide.mean().nlargest(2).index[1]
    d = (wide[out["closest"]] - wide[out["runner_up"]]).to_numpy()
    assert out["difference"] == pytest.approx(d.mean())
    # exact two-sided sign-flip p-value by enumerating all 2^12 sign patterns
    signs = 1 - 2 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1)
    assert out["p_value"] == pytest.approx(np.mean(np.abs(signs @ d) >= abs(d.sum()) - 1e-12))
    # the textbook bootstrap-t interval (Efron and Tibshirani 1993, 12.5), written out with its own draws
    draw = np.random.default_rng(2)
    se = d.std(ddof=1) / np.sqrt(n)
    s = draw.choice(d, (20000, n), replace=True)
    t = (s.mean(1) - d.mean()) / (s.std(1, ddof=1) / np.sqrt(n))
    assert out["ci_low"] == pytest.approx(d.mean() - np.quantile(t, 0.95) * se, abs=0.1 * se)
    assert out["ci_high"] == pytest.approx(d.mean() - np.quantile(t, 0.05) * se, abs=0.1 * se)
    # and not the percentile interval, which is narrower with a dozen items
    pct = np.quantile(s.mean(1), [0.05, 0.95])
    assert out["ci_high"] - out["ci_low"] > 1.1 * (pct[1] - pct[0])


def test_leakage_rates_apply_their_thresholds_to_flagged_tables():
    resp = pd.DataFrame({"model": "m", "refused": [True, True, True, True],
                         "probs": [[0.9, 0.05, 0.05], [0.7, 0.2, 0.1], [0.97, 0.02, 0.01], [0.4, 0.3, 0.3]],
                         "option_mass": [0.5, 0.5, 0.5, 0.5]})
    flagged = sv.detect_leakage(resp)  # default tau .5: rows 0, 1 and 2 leak
    assert flagged["leaked"].sum() == 3
    strict = sv.leakage_rates(flagged, by="model", tau=0.95).iloc[0]
    assert strict["n_leaked"] == 1  # only the .97 row clears tau = .95
    assert sv.leakage_rates(flagged, by="model", min_mass=0.6).iloc[0]["n_leaked"] == 0
    # without the distribution the given flags are used, and thresholds that cannot be applied are refused
    bare = flagged[["model", "refused", "leaked"]]
    assert sv.leakage_rates(bare, by="model").iloc[0]["n_leaked"] == 3
    with pytest.raises(ValueError, match=r"tau=0.95.*missing column 'probs'"):
        sv.leakage_rates(bare, by="model", tau=0.95)


def test_condition_shifts_average_repeated_responses_and_warn_on_invalid_ones():
    base = {"model": "m", "framing": "neutral", "country": None, "reasoning": False, "scale": "ordinal"}
    resp = pd.DataFrame([
        {**base, "item_id": "i1", "language": "en", "probs": [1.0, 0.0, 0.0]},
        {**base, "item_id": "i1", "language": "en", "probs": [0.0, 0.0, 1.0]},
        {**base, "item_id": "i1", "language": "en", "probs": [np.nan, np.nan, np.nan]},
        {**base, "item_id": "i1", "language": "ar", "probs": [0.0, 1.0, 0.0]},
        {**base, "item_id": "i2", "language": "en", "probs": [0.5, 0.5, 0.0]},
        {**base, "item_id": "i2", "language": "ar", "probs": [0.2, np.inf, 0.0]},
    ])
    with pytest.warns(UserWarning, match=r"dropped 2 of 6 responses.*item 'i1'.*language='en'.*not finite"):
        out = sv.condition_shifts(resp, between="language")
    assert len(out) == 1  # i2 has no valid answer in Arabic left
    row = out.iloc[0]
    assert row["distance"] == pytest.approx(sv.ordinal_emd([0.5, 0.0, 0.5], [0.0, 1.0, 0.0]))
    assert row["answer_a"] == pytest.approx(2.0) and row["answer_b"] == pytest.approx(2.0)
    assert (row["n_responses_a"], row["n_responses_b"]) == (2, 1)
    # a grouping column the caller names keeps its groups apart
    two = pd.concat([resp.iloc[[0, 3]].assign(persona="x"), resp.iloc[[1, 3]].assign(persona="y")])
    by = sv.condition_shifts(two, between="language", by="persona").set_index("persona")
    assert by.at["x", "distance"] == pytest.approx(sv.ordinal_emd([1, 0, 0], [0, 1, 0]))
    assert by.at["y", "distance"] == pytest.approx(sv.ordinal_emd([0, 0, 1], [0, 1, 0]))


def test_human_alignment_averages_repeated_responses():
    human = pd.DataFrame({"item_id": "i1", "population": ["P"] * 3, "option": [1, 2, 3], "share": [0.2, 0.5, 0.3]})
    base = {"model": "m", "item_id": "i1", "language": "en", "framing": "neutral", "country": None,
            "reasoning": False, "scale": "ordinal"}
    resp = pd.DataFrame([{**base, "probs": [1.0, 0.0, 0.0]}, {**base, "probs": [0.0, 1.0, 0.0]},
                         {**base, "probs": [0.0, 1.0, 0.0]}, {**base, "probs": [0.0, 1.0, 0.0]},
                         {**base, "probs": [np.nan, 0.5, 0.5]}])
    with pytest.warns(UserWarning, match=r"dropped 1 of 5 responses.*item 'i1'"):
        al = sv.human_alignment(resp, human)
    assert len(al) == 1
    row = al.iloc[0]
    assert row["similarity"] == pytest.approx(_jsd_similarity([0.25, 0.75, 0.0], [0.2, 0.5, 0.3]))
    assert row["model_answer"] == pytest.approx(1.75) and row["n_responses"] == 4


def test_reasoning_effect_columns_agree_when_item_coverage_varies():
    # item i1 has two populations, i2 one: all three summaries use the same items, weighted alike
    al = pd.DataFrame({"model": "m", "language": "en", "framing": "neutral", "country": None,
                       "item_id": ["i1"] * 4 + ["i2"] * 2, "population": ["P", "P", "Q", "Q", "P", "P"],
                       "reasoning": [False, True] * 3, "similarity": [0.5, 0.6, 0.9, 0.8, 0.2, 0.6]})
    eff = sv.reasoning_effect(al).iloc[0]
    assert eff["difference"] == eff["with_reasoning"] - eff["zero_shot"]
    # per item, the mean over populations: i1 zero-shot .7, reasoning .7; i2 .2 and .6
    assert eff["zero_shot"] == pytest.approx(0.45) and eff["with_reasoning"] == pytest.approx(0.65)
    assert eff["difference"] == pytest.approx(0.2) and eff["n_items"] == 2 and eff["n_pairs"] == 3


def test_leakage_interval_uses_the_effective_size_of_clustered_responses():
    from scipy.stats import norm, t

    # ten items, three samples each sharing the item's logits: four items leak in every sample
    c, m = 10, 3
    leak = np.repeat([True] * 4 + [False] * 6, m)
    resp = pd.DataFrame({"model": "m", "item_id": np.repeat([f"i{j}" for j in range(c)], m), "refused": True,
                         "probs": [[0.9, 0.05, 0.05] if lk else [0.4, 0.3, 0.3] for lk in leak], "option_mass": 0.5})
    row = sv.leakage_rates(resp, by="model").iloc[0]
    # whole clusters agree, so (Kish) the ratio's cluster variance R(1-R)/(C-1) over the independent
    # responses' R(1-R)/(N-1) gives a design effect of (N - 1)/(C - 1); Korn-Graubard scale by (z/t_(C-1))^2
    deff = (c * m - 1) / (c - 1)
    n_eff = c * m / deff * (norm.ppf(0.975) / t.ppf(0.975, c - 1)) ** 2
    assert row["design_effect"] == pytest.approx(deff) and row["n_effective"] == pytest.approx(n_eff)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson_interval(0.4 * n_eff, n_eff))
    assert row["n_clusters"] == c and row["leakage_rate"] == pytest.approx(0.4)
    plain = sv.leakage_rates(resp, by="model", cluster=None).iloc[0]
    assert (plain["ci_low"], plain["ci_high"]) == pytest.approx(wilson_interval(12, 30))
    # one response per item: the plain Wilson interval
    single = sv.leakage_rates(resp.iloc[::m], by="model").iloc[0]
    assert (single["ci_low"], single["ci_high"]) == pytest.approx(wilson_interval(4, 10))
    assert single["design_effect"] == 1
    with pytest.raises(ValueError, match="cluster: responses has no column 'prompt'"):
        sv.leakage_rates(resp, cluster="prompt")
    with pytest.warns(UserWarning, match="differs on 12 rows"):
        sv.leakage_rates(resp.assign(leaked=False))


def test_a_text_naming_no_option_can_leak():
    # MENAValues' leakage: the text refuses *or gives no valid option* while the logits are
    # peaked. The new reader no longer counts an unreadable text as refused, so leakage has
    # to look at text_answer too; before this, such a row was never counted as leaked.
    from valuelab.survey import detect_leakage, leakage_rates

    rows = pd.DataFrame({
        "item_id": ["a", "b", "c", "d"],
        "refused": [False, True, False, False],
        "text_answer": [pd.NA, pd.NA, 2, pd.NA],
        "probs": [[0.9, 0.1], [0.95, 0.05], [0.1, 0.9], [0.5, 0.5]],
        "option_mass": [0.8, 0.8, 0.8, 0.8],
    })
    flagged = detect_leakage(rows)
    assert flagged["withheld"].tolist() == [True, True, False, True]
    assert flagged["leaked"].tolist() == [True, True, False, False]
    rates = leakage_rates(rows, by=(), cluster=None)
    assert rates.loc[0, "n_refused"] == 1 and rates.loc[0, "n_withheld"] == 3
    assert rates.loc[0, "leakage_rate"] == pytest.approx(2 / 3)


def test_generated_completions_round_trip_through_a_csv(tiny, tmp_path):
    # texts made by a real transformers model, written out and read back as a stranger's
    # CSV, reach the text-only analyses with no column added by hand
    items = sv.load_survey_items()
    items = items[items["item_id"].isin(["v01", "v02"])]
    made = sv.generate_completions(items, tiny, languages=["en", "ar"], n_samples=3, temperature=1.0,
                                   max_new_tokens=4, seed=1, progress=False)
    assert len(made) == 2 * 2 * 3
    assert list(made.columns) == ["model", "item_id", "language", "framing", "country", "sample", "text"]
    assert sorted(made["sample"].unique()) == [0, 1, 2]
    again = sv.generate_completions(items, tiny, languages=["en", "ar"], n_samples=3, temperature=1.0,
                                    max_new_tokens=4, seed=1, progress=False)
    assert again["text"].tolist() == made["text"].tolist()  # a seeded sample is reproducible
    path = tmp_path / "completions.csv"
    made.to_csv(path, index=False)
    texts = sv.responses_from_completions(pd.read_csv(path), items)
    assert len(texts) == len(made)
    rates = sv.leakage_rates(texts, by=["model", "language"])
    assert rates["n_responses"].tolist() == [6, 6]
    with pytest.raises(ValueError, match="temperature"):
        sv.generate_completions(items, tiny, n_samples=2, progress=False)


def test_wilson_interval_matches_its_closed_form():
    """The interval the leakage and maximisation tables use (statsmodels' Wilson) against
    Wilson's formula written out, including fractional (effective) counts and the edges."""
    from scipy.stats import norm

    def formula(k, n, alpha):
        z = norm.ppf(1 - alpha / 2)
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return max(0.0, centre - half), min(1.0, centre + half)

    for k, n, alpha in [(1, 3, 0.05), (3, 8, 0.05), (0, 5, 0.05), (5, 5, 0.1), (2.5, 7.3, 0.05), (40, 1000, 0.01)]:
        assert wilson_interval(k, n, alpha=alpha) == pytest.approx(formula(k, n, alpha), abs=1e-12)
    assert np.isnan(wilson_interval(0, 0)).all()
