"""Survey analyses on completions made elsewhere (issue 16, items 4-8).

Every asserted number comes from an independent source: a closed form, scipy, a
hand-computed small example or a brute-force enumeration, never from the code under test.
Each test names the failure of the old code it guards against ("old:").
"""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy, wasserstein_distance

import valuelab.survey as sv
from valuelab.stats import wilson_interval

K4 = ("1", "2", "3", "4")


def _completions(answers, **fixed):
    """Rows shaped like ``responses_from_completions``: one per answer (None = refused) and persona."""
    rows = []
    for (item, lang), values in answers.items():
        for persona, value in enumerate(values):
            refused = value is None
            rows.append({"model": "m", "item_id": item, "language": lang, "scale": "ordinal", "n_options": 4,
                         "labels": K4, "text": "..." if refused else f"Answer: {value}",
                         "text_answer": None if refused else value, "refused": refused,
                         "refusal_kind": "refusal" if refused else None,
                         "verdict": "refusal" if refused else "answer", "evidence": "", "persona_id": persona,
                         **fixed})
    return pd.DataFrame(rows)


def _emd(p, q):
    pos = np.arange(len(p))
    return wasserstein_distance(pos, pos, p, q) / (len(p) - 1)


def _sim(p, q):
    return 1 - jensenshannon(np.asarray(p, float), np.asarray(q, float), base=2)


def _human(dists):
    return pd.DataFrame([{"item_id": item, "population": pop, "option": j + 1, "share": s}
                         for (item, pop), d in dists.items() for j, s in enumerate(d)])


# ---------------------------------------------------------------- 4. aggregation of completions
def test_answer_distributions_count_text_answers_beside_refusals():
    # old: no function from answers to distributions (AttributeError)
    rows = _completions({("i1", "en"): [1, 2, 2, None, 4]})
    rows.loc[4, ["text_answer", "verdict"]] = [None, "no_answer"]  # a text naming no option, not a refusal
    d = sv.answer_distributions(rows).iloc[0]
    assert d["probs"] == pytest.approx([1 / 3, 2 / 3, 0, 0]) and d["counts"] == [1, 2, 0, 0]
    assert (d["n_asked"], d["n_responses"], d["n_answered"], d["n_refused"]) == (5, 3, 3, 1)
    assert d["refusal_rate"] == pytest.approx(1 / 5)
    assert d["source"] == "text" and d["sampled"]
    # defaults for the context columns completions lack
    assert (d["framing"], d["country"], d["reasoning"]) == ("neutral", None, False)
    # refused known only from the verdict
    d = sv.answer_distributions(rows.drop(columns="refused")).iloc[0]
    assert d["n_refused"] == 1 and d["n_responses"] == 3


def test_condition_shifts_on_completions_pool_every_persona():
    # old: ValueError "missing column 'probs'; expected the table returned by elicit_survey" (and 'framing')
    rows = _completions({("i1", "en"): [1, 2, 2, 4], ("i1", "ar"): [3, 3, 4, None]})
    with pytest.warns(UserWarning, match=r"persona_id=3.*no answer among its 1 response\(s\), 1 refused"):
        per_persona = sv.condition_shifts(rows, by="persona_id")
    assert sorted(per_persona["persona_id"]) == [0, 1, 2]
    out = sv.condition_shifts(rows)
    assert len(out) == 1
    row = out.iloc[0]
    en, ar = [0.25, 0.5, 0, 0.25], [0, 0, 2 / 3, 1 / 3]  # the shares over all personas, not the first one's
    assert row["distance"] == pytest.approx(_emd(en, ar))
    assert (row["answer_a"], row["answer_b"]) == pytest.approx((2.25, 10 / 3))
    assert row["consistency"] == pytest.approx(100 * (1 - (10 / 3 - 2.25) / 3))
    assert (row["n_responses_a"], row["n_responses_b"]) == (4, 3)
    assert row["refusal_rate_b"] == pytest.approx(0.25)
    # the same through the distributions table
    again = sv.condition_shifts(sv.answer_distributions(rows))
    assert again["distance"].iat[0] == pytest.approx(row["distance"])


def test_two_distributions_for_one_context_are_an_error_not_a_silent_pick():
    # old: no distributions table (AttributeError); its _pairs kept the first of two rows for one
    # context and dropped the other silently
    dists = sv.answer_distributions(_completions({("i1", "en"): [1, 2], ("i1", "ar"): [3, 3]}), by="persona_id")
    with pytest.raises(ValueError, match=r"item 'i1' \(model='m'.*second distribution.*by="):
        sv.condition_shifts(dists.drop(columns="persona_id"))


def test_context_where_every_sample_refused_is_named_and_left_out():
    # old: a table of text answers raised before reaching the item ("missing column 'probs'"), naming none
    rows = _completions({("i1", "en"): [1, 2], ("i1", "ar"): [2, 2], ("i2", "en"): [3, 4],
                         ("i2", "ar"): [None, None, None]})
    human = _human({("i1", "P"): [0.4, 0.3, 0.2, 0.1], ("i2", "P"): [0.1, 0.2, 0.3, 0.4]})
    with pytest.warns(UserWarning, match=r"left out 1 item.*item 'i2' \(model='m', language='ar'.*"
                                         r"no answer among its 3 response\(s\), 3 refused"):
        al = sv.human_alignment(rows, human)
    assert set(zip(al["item_id"], al["language"])) == {("i1", "en"), ("i1", "ar"), ("i2", "en")}
    with pytest.warns(UserWarning, match=r"item 'i2' \(model='m', language='ar'"):
        shifts = sv.condition_shifts(rows)
    assert shifts["item_id"].tolist() == ["i1"]
    d = sv.answer_distributions(rows).set_index(["item_id", "language"]).loc[("i2", "ar")]
    assert d["probs"] is None and d["n_refused"] == 3 and d["refusal_rate"] == 1


def test_errors_name_the_item_and_the_context():
    # old: AttributeError (no answer_distributions); text answers were never read
    rows = _completions({("i1", "en"): [1, 7]})
    with pytest.raises(ValueError, match=r"row 1, item 'i1' \(model='m', language='en'.*text_answer.*1\.\.4.*got 7"):
        sv.answer_distributions(rows)
    rows = _completions({("i1", "en"): [1, 2]})
    rows.loc[1, "n_options"] = 5
    with pytest.raises(ValueError, match=r"item 'i1' \(model='m', language='en'.*differ in scale or number of options"):
        sv.human_alignment(rows, _human({("i1", "P"): [0.25] * 4}))
    with pytest.raises(ValueError, match="neither"):
        sv.answer_distributions(rows.drop(columns="text_answer"))


def test_leakage_rates_report_refusal_rates_without_logits():
    # old: ValueError "missing column 'probs'; expected refused, probs, option_mass (or refused and leaked)"
    rows = _completions({(f"i{j}", "en"): [None if j < 3 else 1] for j in range(8)})
    sm = pytest.importorskip("statsmodels.stats.proportion")
    for table in (rows, rows.drop(columns="refused")):  # refused, or the verdict alone
        out = sv.leakage_rates(table).iloc[0]
        assert (out["n_responses"], out["n_refused"], out["refusal_rate"]) == (8, 3, 3 / 8)
        assert (out["refusal_ci_low"], out["refusal_ci_high"]) == pytest.approx(
            sm.proportion_confint(3, 8, method="wilson"))
        assert np.isnan(out["leakage_rate"]) and np.isnan(out["ci_low"]) and out["n_with_logits"] == 0
    with pytest.warns(UserWarning, match="tau=0.9 not applied"):
        sv.leakage_rates(rows, tau=0.9)
    # a table joining logit rows (elicit_survey) and text rows: leakage over the rows with logits only
    logits = pd.DataFrame({"model": "m", "language": "en", "item_id": ["j0", "j1"], "refused": True,
                           "probs": [[0.9, 0.05, 0.05], [0.4, 0.3, 0.3]], "option_mass": 0.5})
    both = sv.leakage_rates(pd.concat([rows, logits], ignore_index=True), by=["model", "language"]).iloc[0]
    assert (both["n_responses"], both["n_refused"], both["n_with_logits"], both["n_leaked"]) == (10, 5, 2, 1)
    assert both["leakage_rate"] == pytest.approx(0.5)
    assert (both["ci_low"], both["ci_high"]) == pytest.approx(wilson_interval(1, 2))


def test_refusal_interval_uses_the_effective_size_of_clustered_samples():
    # old: ValueError "missing column 'probs'"; no refusal interval at all
    from scipy.stats import norm, t

    # six items, four samples each; items 0-1 refuse every sample, the rest never
    rows = _completions({(f"i{j}", "en"): [None] * 4 if j < 2 else [1] * 4 for j in range(6)})
    out = sv.leakage_rates(rows).iloc[0]
    # whole clusters agree: design effect (N - 1)/(C - 1) (Kish), Korn-Graubard scale (z / t_(C-1))^2
    c, n = 6, 24
    n_eff = n / ((n - 1) / (c - 1)) * (norm.ppf(0.975) / t.ppf(0.975, c - 1)) ** 2
    assert out["refusal_design_effect"] == pytest.approx((n - 1) / (c - 1))
    assert (out["refusal_ci_low"], out["refusal_ci_high"]) == pytest.approx(wilson_interval(n_eff / 3, n_eff))


# ---------------------------------------------------------------- 5. non-substantive options
def _dk_items():
    return pd.DataFrame({"item_id": ["q1", "q1", "q2"], "language": ["en", "es", "en"],
                         "question": ["Agree?", "¿De acuerdo?", "Which?"],
                         "options": [["Agree", "Neutral", "Disagree", "Don't know"],
                                     ["De acuerdo", "Neutral", "En desacuerdo", "No sé"], ["A", "B", "C", "Refuse"]],
                         "scale": ["ordinal", "ordinal", "categorical"],
                         "non_substantive": ['["don\'t know"]', "No sé", [4]]})


def test_survey_items_resolve_non_substantive_options():
    # old: the column was ignored (only read_menavalues set such answers apart, internally)
    its = sv.validate_survey_items(_dk_items())
    assert its["non_substantive"].tolist() == [(4,), (4,), (4,)]
    coded = _dk_items().iloc[[0]].assign(labels=[["1", "2", "3", "9"]], non_substantive=["9"])
    assert sv.validate_survey_items(coded)["non_substantive"].tolist() == [(4,)]
    with pytest.raises(ValueError, match=r"row 1, column 'non_substantive': 'Maybe' is neither an option"):
        sv.validate_survey_items(_dk_items().assign(non_substantive=["Don't know", "Maybe", 4]))
    with pytest.raises(ValueError, match=r"item 'q1': its translations mark different options"):
        sv.validate_survey_items(_dk_items().assign(non_substantive=["Don't know", "Neutral", 4]))
    with pytest.raises(ValueError, match="fewer than two substantive options"):
        sv.validate_survey_items(_dk_items().assign(non_substantive=[[2, 3, 4], [2, 3, 4], 4]))


def test_non_substantive_options_are_kept_out_of_distances_for_every_source():
    # old: "Don't know" was option 4 of an ordinal scale: the expected answer was 2.7, not 1.83
    items = _dk_items()
    model = [0.2, 0.3, 0.1, 0.4]
    human = _human({("q1", "P"): [0.5, 0.2, 0.2, 0.1]}).assign(non_substantive_share=0.2)
    logits = pd.DataFrame({"model": "m", "item_id": ["q1"], "language": "en", "framing": "neutral", "country": None,
                           "reasoning": False, "scale": "ordinal", "probs": [model], "non_substantive": [(4,)]})
    al = sv.human_alignment(logits, human).iloc[0]  # the positions carried by the responses themselves
    assert al["model_answer"] == pytest.approx((0.2 + 0.6 + 0.3) / 0.6)
    assert al["population_mean"] == pytest.approx(15 / 9)
    texts = _completions({("q1", "en"): [1, 4, 4, 2, 2, 4, 1, 3, 4, 4]}).drop(columns="labels")
    p_texts = np.array([2, 2, 1, 5]) / 10
    for responses, p in ((logits, np.array(model)), (texts, p_texts)):
        al = sv.human_alignment(responses, human, items=items).iloc[0]
        sub, q = p[:3] / p[:3].sum(), np.array([5, 2, 2]) / 9
        assert al["similarity"] == pytest.approx(_sim(sub, q))
        assert al["similarity_emd"] == pytest.approx(1 - _emd(sub, q))
        assert al["model_answer"] == pytest.approx(sub @ [1, 2, 3])
        assert al["population_mean"] == pytest.approx(15 / 9)
        assert al["nvas"] == pytest.approx(100 * (1 - abs(sub @ [1, 2, 3] - 15 / 9) / 2))
        assert al["entropy"] == pytest.approx(entropy(sub) / np.log(3))
        assert al["non_substantive_share"] == pytest.approx(p[3])
        assert al["population_non_substantive_share"] == pytest.approx(0.2 + 0.8 * 0.1)
        assert al["n_substantive"] == 3
    # shifts: distance and answers over the three substantive options
    rows = pd.concat([texts, texts.assign(language="es", text_answer=[1, 1, 1, 1, 2, 4, 4, 4, 4, 4])])
    row = sv.condition_shifts(rows, items=items).iloc[0]
    es = np.array([4, 1, 0]) / 5
    assert row["distance"] == pytest.approx(_emd(p_texts[:3] / 0.5, es))
    assert row["answer_b"] == pytest.approx(1.2) and row["n_substantive"] == 3
    assert (row["non_substantive_share_a"], row["non_substantive_share_b"]) == pytest.approx((0.5, 0.5))
    # compare_conditions normalises by the substantive scale: (answer - 1) / (3 - 1)
    two = pd.concat([rows, rows.assign(item_id="q1b")])
    items2 = pd.concat([items, items[items.item_id == "q1"].assign(item_id="q1b")])
    tested = sv.compare_conditions(sv.condition_shifts(two, items=items2)).iloc[0]
    assert tested["mean_difference"] == pytest.approx((row["answer_a"] - 1.2) / 2)


# ---------------------------------------------------------------- 6. human microdata
def _microdata():
    return pd.DataFrame({
        "respondent_id": ["r1", "r2", "r3", "r4", "r5", "r6"],
        "country": ["EG", "EG", "EG", "EG", "US", "US"],
        "w": [1.0, 2.0, 1.0, 0.5, 1.0, 3.0],
        "q1": ["agree", "Neutral", "Don't know", "Refused", "Disagree", None],
        "q2": [1, 2.0, "3", "Refuse", 2, 2],
    })


def test_microdata_become_weighted_human_distributions():
    # old: read_human_distributions read ready-made shares only ("missing column 'item_id'")
    items = _dk_items()
    human = sv.read_human_distributions(_microdata(), items=items, population="country", weight="w",
                                        labels={"q1": {"Refused": None}})
    eg = human[(human.item_id == "q1") & (human.population == "EG")].set_index("option")
    # EG answers on options: r1 agree (w 1), r2 neutral (2), r3 don't know (1); r4 refused (.5) on no option
    np.testing.assert_allclose(eg["share"], [1 / 4, 2 / 4, 0, 1 / 4])
    assert eg["n_respondents"].iat[0] == 3
    assert eg["n_effective"].iat[0] == pytest.approx(4 ** 2 / (1 + 4 + 1))  # Kish (sum w)^2 / sum w^2
    assert eg["non_substantive_share"].iat[0] == pytest.approx(0.5 / 4.5)
    us = human[(human.item_id == "q1") & (human.population == "US")]
    assert us["share"].tolist() == [0, 0, 1, 0] and us["n_respondents"].iat[0] == 1  # r6 was not asked
    # codes 1, 2.0 and "3" are the same codes; "Refuse" is option 4 of q2 (a listed non-substantive option)
    q2 = human[(human.item_id == "q2") & (human.population == "EG")]
    np.testing.assert_allclose(q2["share"], np.array([1, 2, 1, 0.5]) / 4.5)
    # the long form and a file give the same table
    long = _microdata().melt(id_vars=["respondent_id", "country", "w"], var_name="item_id", value_name="answer")
    from_long = sv.read_human_distributions(long, items=items, format="microdata", population="country",
                                            weight="w", labels={"q1": {"Refused": None}})
    pd.testing.assert_frame_equal(from_long.sort_values(["item_id", "population", "option"]).reset_index(drop=True),
                                  human.sort_values(["item_id", "population", "option"]).reset_index(drop=True))


def test_microdata_errors_name_the_item_column_and_values(tmp_path):
    # old: TypeError (read_human_distributions took a path of shares only)
    items = _dk_items()
    with pytest.raises(ValueError, match=r"item 'q1', column 'q1': answer\(s\) \['Refused'\] match no option"):
        sv.read_human_distributions(_microdata(), items=items, population="country")
    bad = _microdata().assign(w=[1, -1, 1, 1, 1, 1])
    with pytest.raises(ValueError, match=r"row 1, column 'w': expected a weight >= 0"):
        sv.read_human_distributions(bad, items=items, weight="w", labels={"Refused": None})
    path = tmp_path / "micro.csv"
    _microdata().to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"micro.csv: microdata .* needs items="):
        sv.read_human_distributions(path)
    out = sv.read_human_distributions(path, items=items, population="country", labels={"Refused": None})
    assert set(out["population"]) == {"EG", "US"} and (out["n_effective"] == out["n_respondents"]).all()
    with pytest.raises(ValueError, match="weight= applies to microdata"):
        sv.read_human_distributions(_human({("q1", "P"): [0.25] * 4}), weight="w")


# ---------------------------------------------------------------- 7. baselines
def test_uniform_baseline_equals_closed_forms_for_logit_distributions():
    # old: no baseline columns (KeyError 'uniform_similarity')
    q = np.array([0.7, 0.2, 0.1])
    resp = pd.DataFrame({"model": "m", "item_id": ["i1"], "language": "en", "scale": "ordinal",
                         "probs": [[0.5, 0.3, 0.2]]})
    al = sv.human_alignment(resp, _human({("i1", "P"): q, ("i1", "Q"): [0.2, 0.3, 0.5]})).set_index("population")
    u = np.full(3, 1 / 3)
    assert al.at["P", "uniform_similarity"] == pytest.approx(1 - jensenshannon(u, q, base=2))
    # EMD on 1..3: CDF gaps |1/3 - .7| + |2/3 - .9| = .6, over k - 1 = 2
    assert al.at["P", "uniform_similarity_emd"] == pytest.approx(1 - 0.3)
    assert al.at["P", "uniform_nvas"] == pytest.approx(100 * (1 - abs(2 - 1.4) / 2))
    assert al.at["P", "others_similarity"] == pytest.approx(_sim([0.2, 0.3, 0.5], q))
    assert al.at["P", "entropy"] == pytest.approx(entropy([0.5, 0.3, 0.2]) / np.log(3))
    assert al.at["P", "population_entropy"] == pytest.approx(entropy(q) / np.log(3))
    assert bool(al.at["P", "beats_uniform"]) == (_sim([0.5, 0.3, 0.2], q) > 1 - jensenshannon(u, q, base=2))


def test_uniform_baseline_for_sampled_answers_matches_the_number_of_answers():
    # old: no baseline (and no text answers)
    # two sampled answers over three options: the baseline is the mean over the 9 equally likely answer pairs
    q = np.array([0.6, 0.3, 0.1])
    rows = _completions({("i1", "en"): [1, 2]}).assign(n_options=3, labels=[("1", "2", "3")] * 2)
    al = sv.human_alignment(rows, _human({("i1", "P"): q})).iloc[0]
    sims, nvas = [], []
    for a, b in itertools.product(range(3), repeat=2):
        p = np.bincount([a, b], minlength=3) / 2
        sims.append(_sim(p, q))
        nvas.append(100 * (1 - abs(p @ [1, 2, 3] - q @ [1, 2, 3]) / 2))
    assert al["uniform_similarity"] == pytest.approx(np.mean(sims))
    assert al["uniform_nvas"] == pytest.approx(np.mean(nvas))
    assert al["sampled"] and al["n_responses"] == 2
    # many answers: too many outcomes to enumerate, so Monte Carlo; check against our own simulation
    rng = np.random.default_rng(7)
    q5 = np.array([0.05, 0.1, 0.2, 0.3, 0.35])
    answers = list(rng.integers(1, 6, 40))
    rows = _completions({("i1", "en"): answers}).assign(n_options=5, labels=[tuple("12345")] * 40)
    al = sv.human_alignment(rows, _human({("i1", "P"): q5}), n_resamples=20000, seed=3).iloc[0]
    draws = rng.multinomial(40, np.full(5, 0.2), size=100_000) / 40
    truth = np.mean(1 - jensenshannon(draws, np.broadcast_to(q5, draws.shape), base=2, axis=1))
    assert al["uniform_similarity"] == pytest.approx(truth, abs=0.002)


def test_closest_population_shows_when_spread_explains_the_result():
    # the reported artefact: a spread-out model is "closest" to the spread-out population, as chance is
    # old: KeyError 'uniform_closest'
    rng = np.random.default_rng(1)
    items = [f"i{j}" for j in range(6)]
    flat = {it: rng.dirichlet(np.full(4, 50.0)) for it in items}  # close to uniform
    peaked = {it: np.roll([0.7, 0.2, 0.07, 0.03], j) for j, it in enumerate(items)}
    human = _human({**{(it, "US"): flat[it] for it in items}, **{(it, "EG"): peaked[it] for it in items}})
    model = [0.32, 0.28, 0.22, 0.18]
    resp = pd.DataFrame({"model": "m", "item_id": items, "language": "en", "scale": "ordinal", "probs": [model] * 6})
    al = sv.human_alignment(resp, human)
    out = sv.closest_population(al).iloc[0]
    u = np.full(4, 0.25)
    uniform_us = np.mean([1 - jensenshannon(u, flat[it], base=2) for it in items])
    assert out["closest"] == "US" and out["uniform_closest"] == "US"
    assert out["uniform_value"] == pytest.approx(uniform_us)
    assert out["beats_uniform"] == bool(out["value"] > uniform_us)
    assert not out["beats_uniform"]
    assert out["entropy"] == pytest.approx(entropy(model) / np.log(4))
    assert out["others_value"] == pytest.approx(np.mean([_sim(peaked[it], flat[it]) for it in items]))


def test_reasoning_effect_reports_the_baselines_of_both_modes():
    # old: KeyError 'uniform_zero_shot'
    q = np.array([0.1, 0.2, 0.7])
    resp = pd.DataFrame({"model": "m", "item_id": "i1", "language": "en", "scale": "ordinal",
                         "reasoning": [False, True], "probs": [[0.2, 0.3, 0.5], [1 / 3, 1 / 3, 1 / 3]]})
    eff = sv.reasoning_effect(sv.human_alignment(resp, _human({("i1", "P"): q}))).iloc[0]
    assert eff["uniform_zero_shot"] == pytest.approx(1 - jensenshannon(np.full(3, 1 / 3), q, base=2))
    assert eff["with_reasoning"] == pytest.approx(eff["uniform_with_reasoning"])  # reasoning made it uniform
    assert eff["entropy_zero_shot"] == pytest.approx(entropy([0.2, 0.3, 0.5]) / np.log(3))
    assert eff["entropy_with_reasoning"] == pytest.approx(1.0)


def test_alignment_figure_shows_the_uniform_answerer():
    # old: KeyError 'uniform answerer' (no baseline in the figure)
    import valuelab as vl

    human = _human({("i1", "P"): [0.7, 0.2, 0.1], ("i1", "Q"): [0.3, 0.4, 0.3]})
    resp = pd.DataFrame({"model": "m", "item_id": "i1", "language": ["en", "ar"], "scale": "ordinal",
                         "probs": [[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]})
    fig = vl.plot_alignment(sv.human_alignment(resp, human))
    z = pd.DataFrame(fig.data[0].z, index=fig.data[0].y, columns=fig.data[0].x)
    u = np.full(3, 1 / 3)
    assert z.at["uniform answerer", "P"] == pytest.approx(1 - jensenshannon(u, [0.7, 0.2, 0.1], base=2))
    assert z.at["uniform answerer", "Q"] == pytest.approx(1 - jensenshannon(u, [0.3, 0.4, 0.3], base=2))
    text = pd.DataFrame(fig.data[0].text, index=fig.data[0].y, columns=fig.data[0].x)
    assert not text.at["en", "P"].endswith("*") and text.at["ar", "Q"].endswith("*")  # .8 peak on 3: below chance


# ---------------------------------------------------------------- 8. persona-matched alignment
def _persona_case():
    items = pd.DataFrame({"item_id": ["q1", "q2"], "language": "en", "question": ["Q1?", "Q2?"],
                          "options": [["a", "b", "c", "d"], ["x", "y", "z"]], "scale": ["ordinal", "categorical"]})
    micro = pd.DataFrame({"respondent_id": ["r1", "r2", "r3", "r4", "r5"], "population": ["A", "A", "A", "B", "B"],
                          "q1": [1, 2, 2, 4, 3], "q2": [1, 1, 3, 2, 2]})
    answers = sv.microdata_answers(micro, items=items)
    spec = {("r1", "q1"): [1, 1, 2], ("r1", "q2"): [1], ("r2", "q1"): [3], ("r2", "q2"): [2, None],
            ("r4", "q1"): [4, 4], ("r4", "q2"): [2], ("r9", "q1"): [1]}
    rows = [{"model": "m", "item_id": item, "language": "en", "scale": "ordinal" if item == "q1" else "categorical",
             "n_options": 4 if item == "q1" else 3, "text_answer": v, "refused": v is None, "persona_id": pid,
             "sample": s} for (pid, item), vals in spec.items() for s, v in enumerate(vals)]
    return items, answers, pd.DataFrame(rows)


def test_persona_agreement_against_a_hand_computed_example():
    # old: no persona-matched analysis (AttributeError)
    items, answers, resp = _persona_case()
    with pytest.warns(UserWarning, match=r"left out 1 persona and item pair\(s\) with no answer.*persona_id='r9'"):
        agree = sv.persona_agreement(resp, answers, items=items)
    a = agree.set_index(["persona_id", "item_id"])
    # r1, q1: p = (2/3, 1/3, 0, 0), answer 1; the other A respondents both answered 2
    assert a.loc[("r1", "q1"), "exact_match"] == pytest.approx(2 / 3)
    assert a.loc[("r1", "q1"), "ordinal_distance"] == pytest.approx((1 / 3) / 3)
    assert a.loc[("r1", "q1"), "exact_match_respondent"] == 0
    assert a.loc[("r1", "q1"), "ordinal_distance_respondent"] == pytest.approx(1 / 3)
    assert a.loc[("r1", "q1"), "exact_match_uniform"] == pytest.approx(1 / 4)
    assert a.loc[("r1", "q1"), "ordinal_distance_uniform"] == pytest.approx((0 + 1 + 2 + 3) / 4 / 3)
    # r2, q1: answered 3, respondent said 2; the others said 1 and 2
    assert a.loc[("r2", "q1"), ["exact_match", "ordinal_distance", "exact_match_respondent",
                                "ordinal_distance_respondent"]].tolist() == pytest.approx([0, 1 / 3, 0.5, 1 / 6])
    # r2, q2: the refused sample is left out; categorical items have no distance
    assert a.loc[("r2", "q2"), "exact_match"] == 0 and np.isnan(a.loc[("r2", "q2"), "ordinal_distance"])
    assert a.loc[("r2", "q2"), "n_responses"] == 1
    assert a.loc[("r4", "q1"), ["exact_match", "exact_match_respondent"]].tolist() == [1, 0]
    summary = sv.persona_alignment(resp, answers, items=items, n_resamples=999).set_index("population")
    assert summary.at["A", "n_personas"] == 2 and summary.at["A", "n_pairs"] == 4
    assert summary.at["A", "exact_match"] == pytest.approx(np.mean([(2 / 3 + 1) / 2, 0]))
    assert summary.at["A", "exact_match_respondent"] == pytest.approx(np.mean([(0 + 0.5) / 2, (0.5 + 0.5) / 2]))
    assert summary.at["A", "exact_match_uniform"] == pytest.approx(np.mean([1 / 4, 1 / 3]))
    assert summary.at["A", "ordinal_distance"] == pytest.approx(np.mean([1 / 9, 1 / 3]))
    assert summary.at["A", "ordinal_distance_uniform"] == pytest.approx(np.mean([0.5, 1 / 3]))
    assert summary.at["B", "exact_match"] == 1 and summary.at["B", "exact_match_respondent"] == pytest.approx(0.5)
    # population level beside it: the A personas' answers pooled per item against A's distribution
    sim_q1 = _sim([0.5, 0.25, 0.25, 0], [1 / 3, 2 / 3, 0, 0])
    sim_q2 = _sim([0.5, 0.5, 0], [2 / 3, 0, 1 / 3])
    assert summary.at["A", "similarity"] == pytest.approx((sim_q1 + sim_q2) / 2)
    assert summary.at["A", "n_items"] == 2


def test_random_respondent_baseline_uses_the_weights_of_the_others():
    # old: AttributeError (no microdata_answers, no persona_agreement)
    items = pd.DataFrame({"item_id": ["q1"], "language": "en", "question": ["Q?"], "options": [["a", "b", "c"]],
                          "scale": ["ordinal"]})
    micro = pd.DataFrame({"respondent_id": [1, 2, 3], "q1": [1, 2, 1], "w": [1.0, 3.0, 1.0]})
    answers = sv.microdata_answers(micro, items=items, weight="w")
    resp = pd.DataFrame({"model": "m", "item_id": "q1", "scale": "ordinal", "n_options": 3, "text_answer": [1],
                         "persona_id": ["1"]})  # ids match as text: "1" is respondent 1
    row = sv.persona_agreement(resp, answers, items=items).iloc[0]
    assert row["exact_match_respondent"] == pytest.approx(1 / 4)  # others: weight 3 on option 2, 1 on option 1
    assert row["ordinal_distance_respondent"] == pytest.approx(3 / 4 * 1 / 2)


def test_persona_pairs_without_an_answer_on_an_option_are_named():
    items, answers, resp = _persona_case()
    answers.loc[(answers.respondent_id == "r4") & (answers.item_id == "q2"), "option"] = pd.NA  # "no answer"
    with pytest.warns(UserWarning) as record:
        agree = sv.persona_agreement(resp, answers, items=items)
    assert any("persona_id='r4', item 'q2'" in str(w.message) and "on no option" in str(w.message) for w in record)
    assert ("r4", "q2") not in set(zip(agree["persona_id"], agree["item_id"]))
    with pytest.raises(ValueError, match=r"answers row 1: respondent 'r1' answers item 'q1' twice"):
        sv.persona_agreement(resp, pd.concat([answers.iloc[[0, 0]], answers]), items=items)
    with pytest.raises(ValueError, match="no 'persona_id' of responses matches a respondent_id"):
        sv.persona_agreement(resp.assign(persona_id="zz"), answers, items=items)


def test_distribution_sources_and_item_defaults():
    items = pd.DataFrame({"item_id": ["i1"], "language": "en", "question": "Q?", "options": [["a", "b", "c"]],
                          "scale": ["categorical"]})
    # one-hot probs are sampled answers; logit probs are not; scale and n_options come from items
    onehot = pd.DataFrame({"model": "m", "item_id": "i1", "probs": [[1, 0, 0], [0, 0, 1], [0, 0, 1]]})
    d = sv.answer_distributions(onehot, items=items).iloc[0]
    assert d["sampled"] and d["counts"] == [1, 0, 2] and d["scale"] == "categorical" and d["n_responses"] == 3
    logit = sv.answer_distributions(onehot.assign(probs=[[0.5, 0.2, 0.3]] * 3), items=items).iloc[0]
    assert not logit["sampled"] and logit["counts"] is None and logit["source"] == "probs"
    # source="text" reads the texts of a table that also has logits
    both = onehot.assign(probs=[[0.5, 0.2, 0.3]] * 3, text_answer=[2, 2, None], refused=[False, False, True])
    t = sv.answer_distributions(both, items=items, source="text").iloc[0]
    assert t["probs"] == pytest.approx([0, 1, 0]) and t["n_refused"] == 1
    # human_alignment takes the distributions table as well as the responses
    human = _human({("i1", "P"): [0.2, 0.5, 0.3]})
    a = sv.human_alignment(both, human, items=items)
    b = sv.human_alignment(sv.answer_distributions(both, items=items), human)
    pd.testing.assert_frame_equal(a, b)
    assert a["similarity"].iat[0] == pytest.approx(_sim([0.5, 0.2, 0.3], [0.2, 0.5, 0.3]))
    with pytest.raises(ValueError, match="missing column 'scale'; add it or pass items="):
        sv.answer_distributions(onehot)
    with pytest.raises(ValueError, match=r"responses row 0: item 'zz' is not in items"):
        sv.answer_distributions(onehot.assign(item_id="zz"), items=items)
