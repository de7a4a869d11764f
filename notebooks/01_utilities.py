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
# # Thurstonian utilities: recovering a known agent's values
#
# A utility fit is only worth trusting if it recovers the truth when the truth is known. Here
# we simulate an agent whose utilities we choose, ask it about pairs of options the way we
# would ask a language model (each pair in both orders, several samples per order), and fit:
#
# * the **Thurstonian model** of Utility Engineering (a mean and a variance per option,
#   probit link), with standard errors and an estimated **position bias**;
# * the baselines **Thurstone case V** (one shared variance) and **Bradley–Terry** (logit);
# * then we check them on **held-out pairs** and show what ignoring position bias costs.
#
# Change the parameters below and re-run to explore other regimes.

# %% tags=["parameters"]
N_OPTIONS = 80          # options the agent compares
SAMPLES = 10            # answers per pair and order
ORDER_BIAS = 0.5        # utility added to whichever option is shown first
VARIANCE = (0.5, 0.5)   # per-option variance: (median, log-sd of a log-normal spread)
TEST_SIZE = 0.2         # share of pairs held out
N_BOOT = 100            # bootstrap replicates for percentile intervals
SEED = 0

# %%
import numpy as np
import pandas as pd
from scipy.stats import spearmanr

import valuelab as vl
from valuelab.report import setup_notebook

setup_notebook()
pd.set_option("display.precision", 3)

# %% [markdown]
# ## 1. A simulated agent
# True utilities are drawn from a standard normal; each option's variance comes from a
# log-normal spread. Pairs follow the Utility Engineering budget of 2·N·log2(N) edges.

# %%
truth = vl.simulate_utilities(N_OPTIONS, variance=VARIANCE, seed=SEED)
n_pairs = int(2 * N_OPTIONS * np.log2(N_OPTIONS))
pairs = vl.random_pairs(truth, n_pairs, seed=SEED + 1)
comparisons = vl.simulate_comparisons(truth, pairs, samples=SAMPLES, orders="both",
                                      order_bias=ORDER_BIAS, seed=SEED + 2)
train, test = vl.split_pairs(comparisons, test_size=TEST_SIZE, seed=SEED)
print(f"{N_OPTIONS} options, {n_pairs} pairs, {len(comparisons)} rows "
      f"({len(train)} for training, {len(test)} held out)")
comparisons.head()

# %% [markdown]
# ## 2. Fit and compare with the truth
# The fit standardises utilities (mean 0, sd 1), so we compare with the standardised truth.

# %%
fit = vl.fit_thurstonian(train)
fit.summary()

# %%
true_mean = truth.set_index("option_id")["mean"]
rho = spearmanr(fit.utilities["mean"], true_mean.reindex(fit.utilities.index)).statistic
print(f"Spearman correlation with the true utilities: {rho:.3f}")
vl.plot_recovery(true_mean, fit.utilities)

# %% [markdown]
# ### Uncertainty
# Wald intervals come from the observed information matrix, carried through the
# standardisation by the delta method. How many contain the (standardised) truth?

# %%
t = true_mean.reindex(fit.utilities.index)
t = (t - t.mean()) / t.std(ddof=0)
inside = ((fit.utilities.ci_low <= t) & (t <= fit.utilities.ci_high)).mean()
print(f"95% Wald intervals containing the truth: {inside:.1%}")

# %%
boot = vl.fit_thurstonian(train, uncertainty="bootstrap", n_resamples=N_BOOT, seed=SEED, n_jobs=2, progress=False)
inside_boot = ((boot.utilities.ci_low <= t) & (t <= boot.utilities.ci_high)).mean()
print(f"95% bootstrap percentile intervals containing the truth: {inside_boot:.1%}")
fit.plot(kind="utilities", top=20)

# %% [markdown]
# ### Position bias
# The agent adds ORDER_BIAS utility units to the option shown first. The fit reports it in
# standardised units; rescaled by the truth's standard deviation it should match.

# %%
scale = true_mean.std(ddof=0)
print(f"true bias (standardised units): {ORDER_BIAS / scale:.3f}")
print(f"estimated: {fit.order_effect:.3f}  (95% CI {fit.order_effect_ci[0]:.3f} to {fit.order_effect_ci[1]:.3f})")

# %% [markdown]
# ## 3. Baselines and held-out fit
# Case V assumes every option is equally noisy; Bradley–Terry swaps the probit for a
# logistic link. The likelihood-ratio test and AIC say whether per-option variances are
# worth their parameters; held-out pairs say whether they generalise. The test's chi-square
# reference holds for maximum-likelihood fits, so the comparison refits without the prior
# (`prior=None`); the held-out scores below use the default (MAP) fits.

# %%
mle = {
    "thurstonian": vl.fit_thurstonian(train, prior=None, uncertainty=None),
    "case V": vl.fit_case_v(train, prior=None, uncertainty=None),
    "Bradley-Terry": vl.fit_bradley_terry(train, prior=None, uncertainty=None),
}
vl.compare_fits(mle, reference="case V")

# %%
fits = {
    "thurstonian": fit,
    "case V": vl.fit_case_v(train),
    "Bradley-Terry": vl.fit_bradley_terry(train),
}

# %%
held_out = pd.DataFrame({name: vl.evaluate_fit(f, test) for name, f in fits.items()}).T
held_out.loc["oracle (true parameters)"] = vl.score_predictions(test, test["p_true"])
held_out[["log_loss", "accuracy", "brier", "n_ties"]]

# %%
fit.plot(kind="calibration", comparisons=test, title="Calibration on held-out pairs")

# %% [markdown]
# ## 4. What ignoring position bias costs
# Language models are often asked each pair in one order only. Then position bias is
# confounded with preference unless it is modelled.

# %%
single = vl.simulate_comparisons(truth, pairs, samples=SAMPLES, orders="single",
                                 order_bias=ORDER_BIAS, seed=SEED + 3)
s_train, s_test = vl.split_pairs(single, test_size=TEST_SIZE, seed=SEED)
with_order = vl.fit_thurstonian(s_train, uncertainty=None)
without_order = vl.fit_thurstonian(s_train, order_effect=False, uncertainty=None)
pd.DataFrame({
    "with order effect": vl.evaluate_fit(with_order, s_test),
    "without order effect": vl.evaluate_fit(without_order, s_test),
    "oracle": vl.score_predictions(s_test, s_test["p_true"]),
}).T[["log_loss", "accuracy", "brier"]]
