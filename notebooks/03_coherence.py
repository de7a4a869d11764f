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
# # How coherent are the utilities?
#
# Utility Engineering argues that as language models grow, their preferences behave more and
# more like a utility function: transitive, decisive, consistent with expected utility, with
# stable trade-offs between goods and over time. This notebook runs each test of that claim:
#
# 1. **transitivity**: how often three answers form a cycle;
# 2. **indecision**: how many pairs sit near indifference, and whether uncertain options explain it;
# 3. **expected utility**: is a lottery worth the probability-weighted utility of its outcomes;
# 4. **utility maximisation**: does a free choice from a set pick the highest-utility option;
# 5. **exchange rates**: how many units of one good are worth one unit of another;
# 6. **time discounting**: how fast a delayed reward loses value, exponential or hyperbolic;
# 7. **convergence and drift**: do utility vectors agree across models, and when do they settle
#    along training checkpoints.
#
# Each test first runs on a **simulated agent whose answer we know**: log utility in every good
# (so exchange rates are known), a hyperbolic discounter, an expected-utility maximiser. Then
# the same tests run on the embedded model, SmolLM2-135M-Instruct.

# %% tags=["parameters"]
SAMPLES = 10                 # simulated answers per pair and order
TRIAD_ANSWERS = 20           # answers per pair for the transitive / intransitive agents
N_PAIRS = 2500               # pairs asked of the simulated agent
DISCOUNT_RATE = 1.5          # the simulated agent's hyperbolic discount rate, per year
N_CHOICE_SETS = 60           # free-choice sets of 4 outcomes
MODEL = "smollm2-135m-instruct"
TEMPLATES = ["prefer", "choose"]   # wordings compared in the convergence section (on the model)
N_TEMPLATE_OPTIONS = 30      # outcomes asked with the second wording
SEED = 0
CACHE = None                 # SQLite file for the model's answers; None: the valuelab cache folder

# %%
import numpy as np
import pandas as pd
import plotly.express as px

import valuelab as vl
from valuelab.datasets import load_outcomes
from valuelab.elicit import TransformersModel, cache_dir, elicit_choices, elicit_comparisons, random_choice_sets
from valuelab.report import setup_notebook

setup_notebook()
pd.set_option("display.precision", 3)

# %% [markdown]
# ## The simulated agent
# The project's 85 outcomes, plus 20 lotteries over them ("With probability 25%: ...
# Otherwise: ..." are *explicit*; "If a fair coin lands heads: ..." are *implicit*). The agent
# answers each pair with probability `Phi((mu_A - mu_B) / sqrt(var_A + var_B))`.

# %%
outcomes = load_outcomes()
agent = vl.simulate_coherent_agent(outcomes, discount_rate=DISCOUNT_RATE, seed=SEED)
truth = agent.utilities
pairs = vl.random_pairs(truth, min(N_PAIRS, len(truth) * (len(truth) - 1) // 2), seed=SEED)
sim = vl.simulate_comparisons(truth, pairs, samples=SAMPLES, seed=SEED)
sim_fit = vl.fit_thurstonian(sim, options=truth.drop(columns=["mean", "variance"]))
print(f"{len(truth)} options, {len(pairs)} pairs, {len(sim)} rows; "
      f"utility recovery (Spearman): {sim_fit.utilities['mean'].corr(truth.set_index('option_id')['mean'], method='spearman'):.3f}")

# %% [markdown]
# ## 1. Transitivity
# The cycle probability is the chance that one answer per pair of a triad forms a cycle
# (1/4 for a coin-flipping agent, 0 for a deterministic utility maximiser). Weak and strong
# stochastic transitivity (WST, SST) are statements about the agent's *probabilities*: WST
# fails when the majority preferences of a triad form a cycle, SST when `P(x>z)` falls below
# the larger of `P(x>y)` and `P(y>z)` although both favour x.
#
# Read off the shares of a few sampled answers, these rates measure answer noise: a perfectly
# transitive agent asked 20 times per pair shows SST "violations" in a fifth to a third of
# its triads. So valuelab estimates the agent's own rates from an empirical-Bayes posterior
# of its probabilities (each pair a case V prediction plus a deviation whose size `tau` the
# answers estimate), with intervals that carry the answer noise.
#
# First two agents side by side, 15 options, every pair, 20 answers per pair: a transitive
# (case V) agent, and an agent that votes over three attributes, which forms Condorcet cycles.

# %%
n_side = 15
side_truth = vl.simulate_utilities(n_side, variance=0.5, seed=SEED)
all_side_pairs = vl.random_pairs(side_truth, n_side * (n_side - 1) // 2, seed=SEED)
agents = {
    "transitive (case V)": vl.simulate_comparisons(side_truth, all_side_pairs, samples=TRIAD_ANSWERS // 2,
                                                   orders="pooled", seed=SEED),
    "intransitive (attribute voter)": vl.sample_answers(vl.simulate_attribute_voter(n_side, seed=SEED),
                                                        answers=TRIAD_ANSWERS, seed=SEED),
}
side = {name: vl.transitivity(df.drop(columns="p_true"), seed=SEED) for name, df in agents.items()}
rows = []
for name, df in agents.items():
    own = vl.transitivity(df.assign(n_a=df["p_true"], n_b=1 - df["p_true"]))  # the agent's probabilities
    shares = vl.triad_table(df.drop(columns="p_true"))  # what the raw shares say
    est = side[name].set_index("statistic")
    rows.append(pd.DataFrame({
        "agent": name, "statistic": est.index, "agent's own rate": own.set_index("statistic")["estimate"],
        "raw shares": [shares["cycle_probability"].mean(), shares["wst_violation"].mean(),
                       shares["sst_violation"].mean()],
        "estimate": est["estimate"], "ci_low": est["ci_low"], "ci_high": est["ci_high"], "tau": est["tau"]}))
pd.concat(rows).reset_index(drop=True)

# %%
vl.plot_transitivity(side, title="Transitive and intransitive agents: rates of their own probabilities")

# %% [markdown]
# The transitive agent's estimated WST and SST rates are 0 with lower bounds at 0, although
# its raw shares "violate" SST in many triads; the attribute voter's violations are found,
# with lower bounds above 0, and its WST rate is close to that of its own probabilities.
# The cycle probability is estimated well either way (it is a smooth function of the
# probabilities).
#
# The coherent agent of this notebook, and its fitted model (which never violates WST):

# %%
vl.transitivity(sim, fit=sim_fit, seed=SEED)

# %% [markdown]
# ## 2. Indecision
# Pairs within 0.1 of indifference, and the Spearman correlation between an option's fitted
# variance and its share of such pairs. Like transitivity, the share is a statement about the
# agent's probabilities: it is estimated from the same posterior (the shares of 10 answers
# would put a fully indifferent agent "decided" on 40% of its pairs).

# %%
sim_indecision = vl.indecision(sim, fit=sim_fit)
indecision_summary, indecision_options = sim_indecision.overall, sim_indecision.options
indecision_summary

# %% [markdown]
# ## 3. Expected utility
# The agent values lotteries at their expected utility, so its points lie on the identity line
# up to estimation noise.

# %%
eu = vl.expected_utility(agent.lotteries, fit=sim_fit, seed=SEED)
eu.by_kind

# %%
eu.plot(title="Simulated agent: lottery utility against expected utility")

# %% [markdown]
# ## 4. Utility maximisation
# The agent picks from sets of four by drawing a utility for each option and taking the
# largest, so it maximises its *mean* utility most, but not all, of the time.

# %%
sets = agent.choose(random_choice_sets(truth, N_CHOICE_SETS, size=4, seed=SEED), seed=SEED)
sim_max = vl.utility_maximisation(sets, fit=sim_fit)
max_sets, max_summary = sim_max.sets, sim_max.overall
max_summary

# %% [markdown]
# ## 5. Exchange rates
# Each good's utility is fitted as `a + b ln N`; the exchange rate is the quantity of one good
# with the utility of a given quantity of another. The simulated agent's true rate is shown
# beside the estimate.

# %%
rates = vl.fit_exchange_rates(sim_fit)
rates.curves

# %%
rates.plot(title="Simulated agent: utility against quantity")

# %%
table = rates.rates("lives saved", quantity=1)
table["true"] = [agent.exchange_rate("lives saved", g, 1) for g in table["other"]]
table[["other", "equivalent", "ci_low", "ci_high", "true"]]

# %% [markdown]
# ## 6. Time discounting
# `U(t) = c + s D(t)`, exponential `D = exp(-k t)` or hyperbolic `D = 1 / (1 + k t)`, fitted to
# $1,000 and 100 lives at delays from a week to ten years. The agent is hyperbolic with
# `k = DISCOUNT_RATE`. With five or six delays the two forms are hard to tell apart, so the AIC
# difference is small; the interval for `k` is the sharper check.

# %%
discount = vl.fit_discounting(sim_fit)
discount[["reward", "form", "k", "k_ci_low", "k_ci_high", "half_life", "delta_aic", "preferred"]]

# %%
vl.plot_discounting(discount, sim_fit.utilities, title="Simulated agent: delayed rewards")

# %% [markdown]
# ## 7. Convergence and drift
# Six "checkpoints" of a training run: the first ones hold unrelated utilities, later ones move
# towards the final agent. Drift is the root mean squared change of the standardised utilities
# between steps; the run has *settled* from the first step after which every checkpoint
# correlates with the final one at 0.95 or more.

# %%
weights = [0.0, 0.3, 0.6, 0.85, 0.97, 1.0]
base = truth.set_index("option_id")["mean"]
noise = pd.Series(np.random.default_rng(SEED + 1).normal(size=len(base)), index=base.index)
checkpoints = {f"step {i}": w * base + (1 - w) * noise for i, w in enumerate(weights)}
drift = vl.utility_drift(checkpoints)
drift

# %%
vl.plot_drift(drift, title="Simulated checkpoints: drift and settling")

# %% [markdown]
# Convergence across models: the correlation matrix of utility vectors and a two-dimensional
# embedding in which correlated fits lie close together. Here the "models" are the
# checkpoints above plus two noisy copies of the final agent, plain utility vectors without
# a fit's covariance: their intervals are for the population of options (Fisher z), since
# nothing says how noisy each vector is. Between fits, `utility_correlations` also gives the
# correlation corrected for estimation noise and an interval for the true vectors.

# %%
models = {**checkpoints, "copy A": base + 0.3 * noise.sample(frac=1, random_state=1).to_numpy(),
          "copy B": base + 0.3 * noise.sample(frac=1, random_state=2).to_numpy()}
print(vl.utility_correlations(models, target="population").query("fit_a == 'step 5'").to_string(index=False))
vl.utility_matrix(models).corr().round(2)

# %%
embedding = vl.utility_embedding(models)
px.scatter(embedding.reset_index(names="fit"), x="dim1", y="dim2", text="fit",
           title="Fits placed by the correlation of their utilities").update_traces(textposition="top center")

# %% [markdown]
# # The embedded model
# The same analyses on SmolLM2-135M-Instruct's answers about all 85 outcomes (active design at
# the published budget, both orders; answers come from the cache when notebook 02 or an
# earlier run asked them). Remember from notebook 02 that this model mostly prefers whichever
# option is shown first: the fit attributes that to the order effect, and what is left is
# weak.

# %%
model = TransformersModel(MODEL, torch_threads=2)
cache = CACHE or str(cache_dir() / "responses.sqlite")
comparisons, _ = elicit_comparisons(outcomes, model, template=TEMPLATES[0], cache=cache, seed=SEED)
fit = vl.fit_thurstonian(comparisons.drop(columns=["template", "model", "round"]), options=outcomes)
print(f"order effect {fit.order_effect:.2f} (95% CI {fit.order_effect_ci[0]:.2f} to {fit.order_effect_ci[1]:.2f})")

# %%
vl.transitivity(comparisons, fit=fit, seed=SEED)

# %%
vl.indecision(comparisons, fit=fit).overall

# %% [markdown]
# Read these with the order effect in mind. Pooled over both presentation orders, almost every
# pair comes out near 1/2 (the first-shown option wins either way), so the observed cycle
# probability is the coin-flipper's 1/4 and every pair is near indifference (the correlation
# with the variances is then undefined, NaN). That is what an agent answering by position
# looks like.
#
# Free choice among four outcomes, read from the probabilities of the letters A to D, against
# the argmax of the fitted utilities; chance is 1/4. The letters chosen show the same
# position habit.

# %%
model_sets = elicit_choices(outcomes, model, random_choice_sets(outcomes, N_CHOICE_SETS, size=4, seed=SEED))
model_max = vl.utility_maximisation(model_sets, fit=fit).overall
print(f"chose the highest-utility option in {model_max.rate:.1%} of {int(model_max.n_sets)} sets "
      f"(95% CI {model_max.ci_low:.1%} to {model_max.ci_high:.1%}; chance {model_max.chance:.0%}, "
      f"p = {model_max.p_value:.3f}); the letter chosen: "
      f"{model_sets[model_sets.chosen].position.map(dict(enumerate('ABCD'))).value_counts().to_dict()}")

# %%
model_rates = vl.fit_exchange_rates(fit)
model_rates.plot(title=f"{MODEL}: utility against quantity")

# %%
model_rates.curves[["a", "b", "se_b", "n_points", "residual_sd"]]

# %%
model_discount = vl.fit_discounting(fit)
model_discount[["reward", "form", "k", "k_ci_low", "k_ci_high", "identified", "delta_aic"]]

# %% [markdown]
# The exchange-rate slopes `b` are within a standard error or two of zero and the discount
# rates are not identified (`identified` is False, or the intervals span many orders of
# magnitude): this model's utilities do not grow with quantity or fall with delay in any way
# the data can pin down.

# %% [markdown]
# Convergence here compares two wordings of the question on the same model
# (`TEMPLATES`, on a subset of outcomes): a model with a utility function should give the same
# ranking whatever the wording. With more models installed, pass one fit per model.

# %%
subset = outcomes.groupby("category").sample(frac=N_TEMPLATE_OPTIONS / len(outcomes), random_state=SEED)
fits = {TEMPLATES[0]: fit}
for tmpl in TEMPLATES[1:]:
    comps_t, _ = elicit_comparisons(subset, model, template=tmpl, cache=cache, seed=SEED)
    fits[tmpl] = vl.fit_thurstonian(comps_t.drop(columns=["template", "model", "round"]), options=subset)
vl.utility_correlations(fits)

# %% [markdown]
# ## Reading the results
# On the simulated agent every test recovers the law built into it: its exchange rates and
# discount rate fall inside their intervals, its lotteries sit on the expected-utility line,
# and its cycles come only from answer noise. A 135M-parameter model is not expected to pass
# these tests (Utility Engineering finds coherence growing with scale); the value of running
# them here is that the same calls, pointed at larger models through `OpenAIModel` or a local
# folder, produce the paper's analyses with intervals.
