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
# # Eliciting preferences from a language model
#
# We ask the embedded chat model (SmolLM2-135M-Instruct, running on the CPU) which of two
# outcomes it prefers, for many pairs of the project's outcome set, **in both presentation
# orders**. Instead of sampling answers and parsing them, we read the probability of the
# answer letters "A" and "B" straight from the model's next-token distribution: one forward
# pass per prompt, and an exact probability rather than a noisy count.
#
# We look at how strongly the model prefers whichever option is shown first, fit Thurstonian
# utilities with the position bias as a parameter, and check the fit on random pairs it never
# saw. Then we compare two ways of choosing which pairs to ask at the same budget, random pairs
# and **active learning** (refit after each round, ask the pairs expected to improve the fit
# most), on this model and on simulated agents whose true utilities are known. Finally the
# same questions go through the OpenAI-compatible backend, the route for API models and vLLM
# servers: first to a minimal server in this process, then to a real inference server
# (`transformers serve`), with the report of what that server honours and what the questions
# cost in tokens.
#
# Every answer goes to a SQLite cache, so re-running this notebook is fast and an
# interrupted run resumes where it stopped.

# %% tags=["parameters"]
MODEL = "smollm2-135m-instruct"   # an embedded model name, a local folder or a hub id
N_OPTIONS = 40                    # outcomes sampled (stratified by category) from data/outcomes.csv
TEMPLATE = "prefer"               # wording of the question (see valuelab.elicit.PAIRWISE_TEMPLATES)
N_TEST = 150                      # random unasked pairs held out for testing (asked in both orders)
N_AGENTS = 5                      # simulated agents in the design comparison
SEED = 0
CACHE = None                      # SQLite file for answers; None: the valuelab cache folder
SERVER = True                     # section 8: start `transformers serve` on 127.0.0.1 with MODEL
SERVER_PAIRS = 3                  # pairs asked through it, in both orders
SERVER_K = 3                      # sampled answers per prompt there

# %%
import numpy as np
import pandas as pd

import valuelab as vl
from valuelab.datasets import load_outcomes
from valuelab.elicit import (PAIRWISE_TEMPLATES, LocalServer, OpenAIModel, TransformersModel, cache_dir,
                             elicit_comparisons)
from valuelab.elicit.design_study import compare_designs
from valuelab.elicit.pair_designs import default_budget, unasked_pairs
from valuelab.report import setup_notebook

setup_notebook()
pd.set_option("display.precision", 3)

# %% [markdown]
# ## 1. Outcomes and the question

# %%
outcomes = load_outcomes()
take = min(N_OPTIONS, len(outcomes))
options = outcomes.groupby("category").sample(frac=take / len(outcomes), random_state=SEED).reset_index(drop=True)
print(f"{len(options)} outcomes from {options.category.nunique()} categories")
print(PAIRWISE_TEMPLATES[TEMPLATE].format("<first outcome>", "<second outcome>"))

# %% [markdown]
# ## 2. Asking the model
# The budget is the published one, 2·N·log2(N) distinct random pairs (on a connected design),
# each asked in both orders. `option_mass` is the total probability the model puts on the two
# answer letters: near 1 means it answers the question as asked.

# %%
model = TransformersModel(MODEL, torch_threads=2)
print("model:", model.identity)
cache = CACHE or str(cache_dir() / "responses.sqlite")
budget = default_budget(len(options))
comparisons, responses = elicit_comparisons(options, model, n_pairs=budget, template=TEMPLATE, cache=cache,
                                            seed=SEED)
print(f"{len(responses)} prompts for {budget} pairs, {responses.cached.mean():.0%} from the cache; "
      f"median option mass {responses.option_mass.median():.3f}")
responses[["shown_first", "option_probs", "option_mass", "latency_s"]].head()

# %% [markdown]
# ## 3. Position bias
# If the model had no position bias, the option shown first would win half the probability
# on average. The fitted order effect measures the same bias in utility units.

# %%
bias = vl.elicit.position_bias(comparisons)
print(f"mean probability of choosing the option shown first: {bias.p_first:.3f}")
print(f"pairs whose preferred option is the same in both orders: {bias.consistent_pairs:.1%} "
      f"of {bias.n_pairs_both_orders}")
fit = vl.fit_thurstonian(comparisons.drop(columns=["template", "model", "round"]), options=options)
lo, hi = fit.order_effect_ci
print(f"order effect: {fit.order_effect:.3f} standardised utility units (95% CI {lo:.3f} to {hi:.3f})")

# %% [markdown]
# When the first-shown option takes most of the probability and few pairs keep their winner
# across orders, the answers say more about position than about the outcomes. The order
# effect then absorbs most of what the model says, utilities rest on small differences
# between the two orders, and their intervals are wide: read them with that in mind (small
# models such as a 135M-parameter one are known to behave like this).
#
# ## 4. Utilities

# %%
fit.summary()

# %%
fit.plot(color="category", top=None, title=f"Utilities of {MODEL} (95% intervals)")

# %%
by_category = (fit.utilities.groupby("category")["mean"].agg(["mean", "count"])
               .sort_values("mean", ascending=False))
by_category

# %% [markdown]
# ## 5. Held-out pairs
# First the same budget is also spent by active learning (`design="active"`, compared in
# section 6): round 0 is a random cycle through all outcomes, and each of 10 rounds refits the
# utilities and asks the pairs whose answers are expected to most reduce the fitted model's
# error on random pairs and its chance of ordering two outcomes wrongly. The test set is then
# `N_TEST` random pairs that *neither* design asked, each in both orders. Accuracy counts a
# pair as correct when the fitted utilities put more than half the probability on the side
# the model favoured. Case V (no per-option variance) and a fit without the order effect are
# shown for comparison.

# %%
active_comps, _ = elicit_comparisons(options, model, design="active", n_pairs=budget, template=TEMPLATE,
                                     cache=cache, seed=SEED)
print("active design, pairs asked per round:", active_comps.groupby("round").size().floordiv(2).to_dict())
test_pairs = unasked_pairs(options, [comparisons, active_comps], N_TEST, seed=SEED + 1)
test, _ = elicit_comparisons(options, model, pairs=test_pairs, template=TEMPLATE, cache=cache, seed=SEED)
train = comparisons.drop(columns=["template", "model", "round"])
held_out = pd.DataFrame({
    "thurstonian + order effect": vl.evaluate_fit(test, fit=fit),
    "thurstonian, no order effect": vl.evaluate_fit(test, fit=vl.fit_thurstonian(train, order_effect=False)),
    "case V + order effect": vl.evaluate_fit(test, fit=vl.fit_case_v(train)),
}).T
held_out[["log_loss", "accuracy", "brier", "n_rows"]]

# %%
fit.plot(kind="calibration", comparisons=test, title="Calibration on held-out random pairs")

# %% [markdown]
# ## 6. Active learning or random pairs?
# Both designs, on the same model, scored on the same held-out pairs. With a real model there
# is no true utility to compare with, so the agreement between the two designs' utilities is
# shown instead.

# %%
active_fit = vl.fit_thurstonian(active_comps.drop(columns=["template", "model", "round"]), options=options)
on_model = pd.DataFrame({"random": vl.evaluate_fit(test, fit=fit), "active": vl.evaluate_fit(test, fit=active_fit)}).T
print("Spearman correlation of the two designs' utilities:",
      round(fit.utilities["mean"].corr(active_fit.utilities["mean"].reindex(fit.utilities.index),
                                       method="spearman"), 3))
on_model[["log_loss", "accuracy", "brier", "n_rows"]]

# %% [markdown]
# A single model is one draw. Simulated agents, whose true utilities we set, show what each
# design recovers: the Spearman correlation of fitted and true means, and the excess
# held-out log loss over the true model on random unasked pairs. Four designs at the same
# budget: random pairs, a random near-regular graph (every outcome in about the same number
# of pairs), the published active-learning rule (bottom 10% of utility gaps within the
# bottom 20% of degrees) and valuelab's predictive rule; in two regimes, 10 sampled answers
# per order (the sampling route) and exact probabilities (the logit route used above).

# %%
designs = pd.concat([compare_designs(len(options), n_agents=N_AGENTS, answers=a, seed=SEED, progress=False)
                     .assign(answers=a) for a in ("samples", "probabilities")])
summary = designs.groupby(["answers", "design"], sort=False)[["spearman", "excess_log_loss", "min_degree"]].mean()
summary

# %%
import plotly.express as px

px.strip(designs, x="design", y="excess_log_loss", color="design", facet_col="answers",
         hover_data=["agent", "spearman"],
         title="Excess held-out log loss over the true model, per simulated agent (lower is better)")

# %% [markdown]
# The published rule concentrates on close pairs among little-asked options: it ranks the
# means well but leaves some options with a handful of pairs, and predicts unasked pairs
# worse than random pairs do. The predictive rule keeps a minimum degree and also values
# pairs that teach the variances: it ranks nearly as well as the published rule, but it does
# not predict unasked pairs better than random pairs (with exact probabilities, somewhat
# worse). `benchmarks/bench_design.py` runs the same comparison on 20 agents with 100
# outcomes with the same conclusion, which is why random pairs stay the default of
# `elicit_comparisons` and `design="active"` is the choice when the ranking is what matters.
#
# ## 7. The same questions through an OpenAI-compatible server
# `OpenAIModel` talks to any chat-completions server (vLLM, TGI, llama.cpp, hosted APIs);
# the API key comes from an environment variable and never reaches the cache. With no API
# here, `LocalServer` serves the embedded model over HTTP on 127.0.0.1, so the two routes can
# be compared: the probabilities read from the server's `top_logprobs` should equal the
# local ones.

# %%
few = responses.drop_duplicates("prompt").head(8)
questions = [vl.elicit.pairwise_prompt(options.set_index("option_id").at[f, "text"],
                                       options.set_index("option_id").at[o, "text"], template=TEMPLATE)
             for f, o in zip(few.shown_first,
                             few.option_b.where(few.shown_first == few.option_a, few.option_a))]
with LocalServer(model) as server:
    remote = OpenAIModel(MODEL, base_url=server.url, api_key_env=None, top_logprobs=50)
    p_http, mass_http = remote.option_probabilities(questions)
p_local, mass_local = model.option_probabilities(questions)
print(f"largest difference between the HTTP and local probabilities: {np.abs(p_http - p_local).max():.2e}")
pd.DataFrame({"P(A) over HTTP": p_http[:, 0], "P(A) local": p_local[:, 0], "mass over HTTP": mass_http})

# %% [markdown]
# ## 8. A real inference server: what it honours, and what the questions cost
# Real servers differ in what they honour. `transformers serve` (the `transformers[serving]`
# extra) serves the same model folder over the OpenAI API on 127.0.0.1. On first contact the
# backend probes it with four one-token requests and chooses its routes: the capability
# report says what the server offered, `describe_route()` what the backend will therefore do.
# Each response's `usage` (prompt and completion tokens, as the server counts them) is stored
# with the answer, and `usage_summary` sums a study's responses tables into its cost. The
# answers here are not cached (the server listens on a new port each run, and we want to see
# the requests), so this section always asks afresh: about a minute on two CPU cores.

# %%
import logging
import warnings

from IPython.display import display

from valuelab.elicit import EMBEDDED_MODELS, ServerError, embedded_model_dir, start_transformers_serve, usage_summary

served = None
if SERVER:
    try:
        folder = embedded_model_dir(MODEL, progress=False) if MODEL in EMBEDDED_MODELS else MODEL
        served = start_transformers_serve(folder, threads=1, timeout=240)
        print(f"transformers serve answered after {served.seconds_to_start:.0f} s at {served.url}")
    except (ServerError, ModuleNotFoundError, OSError) as err:
        print(f"section skipped: transformers serve could not start here ({err})")
if served is not None:
    server_pairs = comparisons[["option_a", "option_b"]].drop_duplicates().head(SERVER_PAIRS)
    with served, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the fallback warning: the route is printed here
        logging.getLogger("valuelab.elicit").setLevel(logging.ERROR)
        server_model = OpenAIModel(served.model, base_url=served.url, api_key_env=None, max_concurrency=2,
                                   probability_samples=10, timeout=120)
        print(server_model.describe_route())
        server_comps, server_resp = elicit_comparisons(options, server_model, pairs=server_pairs, method="sample",
                                                       k=SERVER_K, template=TEMPLATE, seed=SEED, progress=False)
    capabilities = server_model.capabilities
    print("what the probes saw:", "; ".join(capabilities.notes))
    display(capabilities.to_frame())
    print("prompts per route:", dict(server_model.route_counts), "| requests:", server_model.usage["requests"],
          "| retries:", server_model.n_retries)

# %% [markdown]
# The cost: tokens per prompt as the server reported them (each prompt's `SERVER_K`
# requests summed), and the sum per model. Run against a hosted API, the same table, with
# the provider's price per token, is what the study cost; answers read back from the cache
# count in `cached` and cost nothing again.

# %%
if served is not None:
    display(server_resp[["shown_first", "text", "prompt_tokens", "completion_tokens", "latency_s"]])
    display(usage_summary(server_resp))
