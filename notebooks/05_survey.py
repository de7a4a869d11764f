# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Survey probes: what models say, what their logits say, and how both move with language
#
# A model can refuse a sensitive survey question in its text while the probabilities of the
# option numbers at the answer position show a clear preference: **logit leakage**. Its answer
# can also change with the language of the question or with the framing (answering as itself,
# as an average person from a country, or reporting how that person would answer). MENAValues
# documented both; this notebook measures them with definitions and statistics:
#
# * a response **leaks** when its text withholds an answer (a refusal or evasion, or no valid
#   option: the answer reader takes numbers and the options' own words) while the most likely
#   option has probability ≥ τ and the options together hold at least m of the probability;
# * a **shift** between two conditions is the Jensen–Shannon distance (categorical items) or the
#   earth mover's distance divided by k − 1 (ordinal items) between the option distributions;
#   for ordinal items the published consistency scores (CLCS across languages, FCS across
#   framings) compare the expected answers;
# * across items, a paired permutation test asks whether answers move systematically, with
#   Benjamini–Hochberg q-values and Cliff's delta;
# * with a human answer file (the MENAValues workbook), **alignment** is 1 − JSD to each
#   country's answers, and NVAS for ordinal items.
#
# Two embedded models answer: SmolLM2-135M-Instruct (a chat model) and Gemma 3 270M (a
# multilingual base model), on the project's 24 value items in 7 languages.

# %% tags=["parameters"]
MODELS = ["smollm2-135m-instruct", "gemma3-270m"]
LANGUAGES = ["en", "ar", "fa", "zh", "ru", "es", "tr"]   # neutral framing in all of these
FRAMING_LANGUAGES = ["en", "ar", "ru"]   # persona and observer framings in these
COUNTRY = "Egypt"                         # the persona / observer identity
REASONING_LANGUAGES = ["en", "ar"]       # also asked with a reasoning step first
TAU = 0.5                                 # leakage: minimum top-option probability
MIN_MASS = 0.1                            # leakage: minimum probability on the option tokens
HUMAN = "../../shared/data/menavalues/MenaValues_Benchmark.xlsx"   # human answers; skipped if absent
N_HUMAN_ITEMS = 30                        # World Values Survey items asked for the alignment section
SEED = 0
CACHE = None                              # SQLite file for answers; None: the valuelab cache folder
COMPLETION_MODEL = "smollm2-135m-instruct"  # makes the texts of the "completions made elsewhere" section
COMPLETION_LANGUAGES = ["en", "ar"]
COMPLETION_SAMPLES = 5                    # sampled texts per prompt
COMPLETION_TEMPERATURE = 0.7

# %%
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import valuelab as vl
import valuelab.survey as sv
from valuelab.elicit import TransformersModel, cache_dir
from valuelab.report import setup_notebook

setup_notebook()
pd.set_option("display.precision", 3)
pd.set_option("display.max_colwidth", 80)
cache = CACHE or str(cache_dir() / "responses.sqlite")

# %% [markdown]
# ## The items
# 24 items written for valuelab, each in 7 languages (two right-to-left scripts, Arabic and
# Persian; two other non-Latin scripts, Chinese and Russian). Options are answered by number;
# in Arabic and Persian the native digits count as the same answer.

# %%
items = sv.load_survey_items()
print(items.groupby("scale")["item_id"].nunique().to_string())
items[items.item_id == "v01"][["language", "question", "options"]]

# %% [markdown]
# ## Asking the models
# Every prompt is asked twice over: a greedy generation (what the model says) and the option
# probabilities at the answer position (what its logits say). The chat model gets its chat
# template; the base model gets the plain prompt ending in the language's answer cue. With a
# reasoning step, the model first writes a sentence or two and the answer is read after it.

# %%
def ask(model):
    runs = [sv.elicit_survey(items, model, languages=LANGUAGES, cache=cache, progress=False),
            sv.elicit_survey(items, model, languages=FRAMING_LANGUAGES, framings=["persona", "observer"],
                             countries=[COUNTRY], cache=cache, progress=False),
            sv.elicit_survey(items, model, languages=REASONING_LANGUAGES, reasoning=(True,), cache=cache,
                             progress=False)]
    return pd.concat(runs, ignore_index=True)


models = {name: TransformersModel(name, torch_threads=2) for name in MODELS}
responses = pd.concat([ask(m) for m in models.values()], ignore_index=True)
print(f"{len(responses)} prompts, {responses.cached.mean():.0%} from the cache")
responses[["model", "item_id", "language", "framing", "reasoning", "text", "answer", "option_mass", "refused"]].head(8)

# %% [markdown]
# How much probability do the option numbers get at the answer position, and how often does the
# text name a valid option? A small model that answers by number puts most of its mass there;
# a model that starts with "The answer is" or repeats the question puts little.

# %%
zero = responses[~responses.reasoning]
summary = zero.groupby(["model", "language"]).agg(option_mass=("option_mass", "mean"),
                                                  refused=("refused", "mean"),
                                                  text_answers=("text_answer", lambda s: s.notna().mean()))
summary.unstack("model").round(2)

# %% [markdown]
# ## Refusals and logit leakage
# Leakage is counted among the withheld responses: of the texts that gave no valid answer
# (`n_withheld`: refused, evaded, or naming no option), how many have a clear answer in the
# logits (top option ≥ τ, option mass ≥ m)? `refusal_rate` counts refusals and evasions only: a
# text the reader cannot place is not a refusal.

# %%
flagged = sv.detect_leakage(responses, tau=TAU, min_mass=MIN_MASS)
rates = sv.leakage_rates(flagged, by=["model", "language", "framing", "reasoning"], tau=TAU, min_mass=MIN_MASS)
rates[(rates.framing == "neutral") & (~rates.reasoning)].drop(columns=["framing", "reasoning"])

# %%
for name in MODELS:
    part = rates[(rates.model == name) & (rates.language.isin(FRAMING_LANGUAGES)) & (~rates.reasoning)]
    display(vl.plot_leakage(part, x="language", color="framing", title=f"{name}: leakage by language and framing"))

# %% [markdown]
# How the reader classed the texts, the hidden answers of leaking responses (option 1 is the
# first one listed), and the leaking responses with the most confident hidden answers. Models
# this small rarely refuse in words; most withheld texts name no option (they repeat the
# question or the options), so leakage here means the logits commit while the text does not,
# and a hidden answer piling onto option 1 is the position bias of notebook 02, not a value.

# %%
print(flagged.groupby(["model", "verdict"]).size().unstack(fill_value=0).to_string())
print(flagged[flagged.leaked].groupby("model")["hidden_answer"].value_counts(normalize=True).unstack(fill_value=0)
      .round(2).to_string())
flagged[flagged.leaked].sort_values("max_probability", ascending=False)[
    ["model", "item_id", "language", "framing", "text", "hidden_answer", "max_probability", "option_mass"]].head(10)

# %% [markdown]
# ## Cross-lingual shifts
# For each model and item, the distance between the option distributions in every two languages
# (neutral framing, zero-shot). The heatmaps average over items.

# %%
neutral = responses[(responses.framing == "neutral") & (~responses.reasoning)]
lang_shifts = sv.condition_shifts(neutral, between="language")
for name in MODELS:
    display(vl.plot_shift_heatmap(sv.shift_matrix(lang_shifts[lang_shifts.model == name]),
                                  title=f"{name}: mean distance between languages"))

# %% [markdown]
# The largest single-item shifts, and the consistency of ordinal answers with English (CLCS,
# 100 = same expected answer):

# %%
text_en = items[items.language == "en"].set_index("item_id")["question"]
top = lang_shifts.sort_values("distance", ascending=False).head(10).assign(question=lambda d: d.item_id.map(text_en))
display(top[["model", "item_id", "a", "b", "scale", "distance", "answer_a", "answer_b", "question"]])
lang_shifts[lang_shifts.a == "en"].groupby(["model", "b"])["consistency"].mean().unstack("model").round(1)

# %% [markdown]
# Do answers move *systematically* between English and each other language (the expected
# answer on ordinal items, scaled to 0–1), across items? Paired permutation test,
# Benjamini–Hochberg over all pairs, Cliff's delta as the effect size.

# %%
tests = sv.compare_conditions(lang_shifts, seed=SEED)
tests[tests.a == "en"][["model", "b", "n_items", "mean_difference", "cliffs_delta", "p_value", "q_value",
                        "mean_distance"]]

# %% [markdown]
# ## Framing shifts
# The same items as the model itself, as an average person from the country, and as an observer
# reporting how that person would answer. FCS compares persona and observer answers.

# %%
framed = responses[responses.language.isin(FRAMING_LANGUAGES) & (~responses.reasoning)]
frame_shifts = sv.condition_shifts(framed, between="framing")
display(frame_shifts.groupby(["model", "language", "a", "b"])[["distance", "consistency"]].mean().round(3))
sv.compare_conditions(frame_shifts, seed=SEED)[["model", "language", "a", "b", "n_items", "mean_difference",
                                                   "cliffs_delta", "p_value", "q_value"]]

# %% [markdown]
# ## Reasoning first
# How far does a short reasoning step move the answer read from the logits?

# %%
reasoned = responses[responses.language.isin(REASONING_LANGUAGES) & (responses.framing == "neutral")]
reason_shifts = sv.condition_shifts(reasoned, between="reasoning")
sv.compare_conditions(reason_shifts, seed=SEED)[["model", "language", "n_items", "mean_difference",
                                                    "cliffs_delta", "p_value", "q_value", "mean_distance"]]

# %% [markdown]
# ## Alignment with human answers
# With the MENAValues workbook (World Values Survey wave 7 and the Arab Opinion Index, answer
# shares for 16 countries), a sample of World Values Survey items is asked in English, as the
# model itself and as an average person from the country, zero-shot and with reasoning. Which
# country's answers is each condition closest to? (The workbook's own means count "not
# applicable" answers as 0 on a few items; valuelab drops those answers and renormalises.)
#
# Read every similarity beside its baseline: a model that spreads its answers evenly is close
# to every country whose answers are spread out too. `uniform_value` is the uniform answerer's
# similarity to the same country on the same items, `beats_uniform` says whether the model does
# better than it, `uniform_closest` which country the uniform answerer itself is closest to, and
# `entropy` how spread out the model's answers are (1 = uniform). The figures add a
# "uniform answerer" row and star the cells that do not beat it.

# %%
human_path = Path(HUMAN)
if human_path.exists():
    mv_items, human = sv.read_menavalues(human_path)
    pick = mv_items[(mv_items.source == "WVS 7") & (mv_items.options.map(len) <= 5)].sample(
        N_HUMAN_ITEMS, random_state=SEED)
    asked = []
    for m in models.values():
        asked.append(sv.elicit_survey(pick, m, reasoning=(False, True), cache=cache, progress=False))
        asked.append(sv.elicit_survey(pick, m, framings=["persona"], countries=[COUNTRY], cache=cache,
                                      progress=False))
    asked = pd.concat(asked, ignore_index=True)
    alignment = sv.human_alignment(asked, human)
    display(sv.closest_population(alignment).drop(columns="language"))
    for name in MODELS:
        part = alignment[(alignment.model == name)].assign(
            condition=lambda d: d.framing + np.where(d.reasoning, " + reasoning", ""))
        display(vl.plot_alignment(part, row="condition", title=f"{name}: 1 - JSD to each country's answers"))
    display(sv.reasoning_effect(alignment[alignment.framing == "neutral"], seed=SEED))
    display(alignment.groupby(["model", "framing", "reasoning"])["nvas"].mean().unstack("model").round(1))
else:
    print(f"{human_path} is absent: set HUMAN to a MENAValues workbook to run this section.")

# %% [markdown]
# ## Completions made elsewhere
# Most texts researchers analyse were generated somewhere else: a vLLM run, an API batch, a
# paper's released files. They arrive as a table of texts, with no logits. Here the chat
# model writes such a file (several sampled answers per prompt), we read it back as a
# stranger's CSV, and `responses_from_completions` reads each text against the item's options
# (numbers in any script, the options' own words, hedges, echoed option lists, refusals and
# evasions in the item's language). Every analysis then works from the texts alone: each
# context's answers become one distribution, and each distribution says how many responses
# it rests on.

# %%
completion_model = models.get(COMPLETION_MODEL) or TransformersModel(COMPLETION_MODEL, torch_threads=2)
made = sv.generate_completions(items, completion_model, languages=COMPLETION_LANGUAGES, n_samples=COMPLETION_SAMPLES,
                               temperature=COMPLETION_TEMPERATURE, seed=SEED, cache=cache, progress=False)
csv_path = Path(tempfile.mkdtemp()) / "completions.csv"   # a file another tool wrote
made.to_csv(csv_path, index=False)
texts = sv.responses_from_completions(pd.read_csv(csv_path), items)
print(f"{len(texts)} texts read back from {csv_path}")
print(texts.groupby(["language", "verdict"]).size().unstack(fill_value=0).to_string())
texts[["item_id", "language", "sample", "text", "text_answer", "verdict", "evidence"]].head(8)

# %% [markdown]
# Refusal rates from the texts alone (Wilson intervals, clustered by item), and the shift
# between languages, each item's distribution built from its sampled answers. Items where no
# sample in one language named an option cannot be compared and are left out with a warning.

# %%
display(sv.leakage_rates(texts, by=["model", "language"])[
    ["model", "language", "n_responses", "n_refused", "n_withheld", "refusal_rate", "refusal_ci_low",
     "refusal_ci_high"]])
text_shifts = sv.condition_shifts(texts, between="language", items=items)
display(sv.compare_conditions(text_shifts, seed=SEED))
text_shifts[["item_id", "scale", "a", "b", "distance", "n_responses_a", "n_responses_b"]].head(8)

# %% [markdown]
# With the human answers, the same texts meet the baselines: the uniform answerer's
# similarity to each country on the same items (`uniform_value`), whether the model beats it
# (`beats_uniform`) and how spread out its answers are (`entropy`, 1 = uniform). A model that
# does not beat the uniform answerer has shown nothing about which country it resembles.

# %%
if human_path.exists():
    made_mv = sv.generate_completions(pick, completion_model, n_samples=COMPLETION_SAMPLES,
                                      temperature=COMPLETION_TEMPERATURE, seed=SEED, cache=cache, progress=False)
    texts_mv = sv.responses_from_completions(made_mv, pick)
    text_alignment = sv.human_alignment(texts_mv, human, items=mv_items)
    display(sv.closest_population(text_alignment).drop(columns="language"))
    display(vl.plot_alignment(text_alignment, title=f"{COMPLETION_MODEL}, sampled texts: 1 - JSD to each country"))
else:
    print(f"{human_path} is absent: set HUMAN to a MENAValues workbook to run this part.")
