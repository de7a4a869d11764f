import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import approx_fprime
from scipy.stats import spearmanr

import valuelab as vl
from valuelab.schema import prepare_comparisons
from valuelab.utility.likelihood import PairwiseLikelihood, Prior

from conftest import standardise


@pytest.mark.parametrize("link,free,order", [("probit", True, True), ("probit", True, False),
                                             ("probit", False, True), ("logit", False, True)])
@pytest.mark.parametrize("prior", [None, Prior()])
def test_gradient_and_hessian_equal_finite_differences(small_agent, link, free, order, prior):
    _, comps = small_agent
    data = prepare_comparisons(comps)
    lik = PairwiseLikelihood(data, link=link, free_variance=free, order_effect=order, prior=prior)
    rng = np.random.default_rng(0)
    theta = 0.3 * rng.normal(size=lik.n_params)
    _, grad = lik.value_and_grad(theta)
    fd = approx_fprime(theta, lambda t: lik.value_and_grad(t)[0], 1e-6)
    np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-3)
    hess = lik.hessian(theta)
    fd_h = np.array([(lik.value_and_grad(theta + 1e-5 * e)[1] - lik.value_and_grad(theta - 1e-5 * e)[1]) / 2e-5
                     for e in np.eye(lik.n_params)])
    np.testing.assert_allclose(hess, fd_h, rtol=1e-4, atol=1e-3)


def test_recovers_known_utilities():
    n = 200
    truth = vl.simulate_utilities(n, variance=(0.5, 0.5), seed=3)
    pairs = vl.random_pairs(truth, int(2 * n * np.log2(n)), seed=4)
    comps = vl.simulate_comparisons(truth, pairs, samples=10, orders="both", seed=5)  # 20 samples per pair
    fit = vl.fit_thurstonian(comps, uncertainty=None)
    true_mu = truth.set_index("option_id")["mean"].reindex(fit.utilities.index)
    assert fit.converged
    assert spearmanr(fit.utilities["mean"], true_mu).statistic >= 0.99
    # variances: a log-normal spread of sd 0.5 is recovered with clear positive correlation
    true_var = truth.set_index("option_id")["variance"].reindex(fit.utilities.index)
    assert spearmanr(fit.utilities["variance"], true_var).statistic > 0.5


def test_order_effect_recovered_with_its_ci(small_agent):
    truth, comps = small_agent
    fit = vl.fit_thurstonian(comps)
    # The truth is 0.4 utility units; the fit reports standardised units, so rescale.
    true_mu = truth["mean"].to_numpy()
    truth_std = 0.4 / true_mu.std()
    lo, hi = fit.order_effect_ci
    assert lo < truth_std < hi
    assert fit.order_effect_se > 0


def test_case_v_equals_statsmodels_probit_glm(small_agent):
    sm = pytest.importorskip("statsmodels.api")
    _, comps = small_agent
    fit = vl.fit_case_v(comps, prior=None, tol=1e-13)
    data = prepare_comparisons(comps)
    n = data.n_options
    x = np.zeros((data.n_rows, n))
    x[np.arange(data.n_rows), data.a] = 1.0
    x[np.arange(data.n_rows), data.b] = -1.0
    design = np.column_stack([x[:, 1:], data.first.astype(float)])  # option 0 is the reference
    glm = sm.GLM(np.column_stack([data.n_a, data.n_b]), design,
                 family=sm.families.Binomial(link=sm.families.links.Probit())).fit(tol=1e-12)
    mu = np.concatenate([[0.0], glm.params[:-1]])
    ours = fit.utilities["mean"].reindex(data.options).to_numpy()
    np.testing.assert_allclose(ours, standardise(mu), atol=1e-4)
    np.testing.assert_allclose(fit.order_effect, glm.params[-1] / mu.std(), atol=1e-4)
    # standard errors: the delta method on the inverse of statsmodels' observed information
    cov = np.linalg.inv(-glm.model.hessian(glm.params, observed=True))[:-1, :-1]
    m_s = standardise(mu)
    jac_full = (np.eye(n) - 1.0 / n - np.outer(m_s, m_s) / n) / mu.std()
    jac = jac_full[:, 1:]
    se = np.sqrt(np.diag(jac @ cov @ jac.T))
    np.testing.assert_allclose(fit.utilities["se_mean"].reindex(data.options), se, rtol=1e-3)
    # log-likelihood: statsmodels' includes the binomial coefficients
    from scipy.special import gammaln
    n_tot = data.n_a + data.n_b
    log_binom = gammaln(n_tot + 1) - gammaln(data.n_a + 1) - gammaln(data.n_b + 1)
    np.testing.assert_allclose(fit.loglike + log_binom.sum(), glm.llf, rtol=1e-8)


def test_bradley_terry_equals_choix(small_agent):
    choix = pytest.importorskip("choix")
    _, comps = small_agent
    data = prepare_comparisons(comps)
    wins = []
    for a, b, na, nb in zip(data.a, data.b, data.n_a.astype(int), data.n_b.astype(int)):
        wins += [(a, b)] * na + [(b, a)] * nb
    params = choix.ilsr_pairwise(data.n_options, wins, alpha=0.0, tol=1e-12)
    fit = vl.fit_bradley_terry(comps, prior=None, order_effect=False, tol=1e-13)
    np.testing.assert_allclose(fit.utilities["mean"].reindex(data.options), standardise(params), atol=1e-5)


@pytest.mark.parametrize("prior", [None, Prior()])
def test_default_tolerance_reaches_the_optimum_of_a_second_optimiser(small_agent, prior):
    _, comps = small_agent
    newton = vl.fit_thurstonian(comps, prior=prior, uncertainty=None)
    lbfgs = vl.fit_thurstonian(comps, prior=prior, uncertainty=None, solver="lbfgs", tol=1e-14)
    assert newton.converged and lbfgs.converged
    assert abs(newton.loglike - lbfgs.loglike) / newton.n_obs < 1e-6
    if prior is not None:  # the unpenalised optimum has variances on the boundary (0)
        np.testing.assert_allclose(newton.utilities["mean"], lbfgs.utilities["mean"], atol=2e-3)


def _fit_means(df, **kw):
    return vl.fit_thurstonian(df, uncertainty=None, **kw).utilities["mean"].sort_index()


def test_invariant_to_relabelling_orientation_and_splitting(small_agent):
    _, comps = small_agent
    ref = _fit_means(comps)
    relabel = {o: f"new-{o}" for o in ref.index}
    renamed = comps.assign(option_a=comps.option_a.map(relabel), option_b=comps.option_b.map(relabel),
                           shown_first=comps.shown_first.map(relabel))
    got = _fit_means(renamed)
    np.testing.assert_allclose(got.rename(index={v: k for k, v in relabel.items()}).sort_index(), ref, atol=1e-7)
    swapped = comps.rename(columns={"option_a": "option_b", "option_b": "option_a", "n_a": "n_b", "n_b": "n_a"})
    np.testing.assert_allclose(_fit_means(swapped), ref, atol=1e-7)
    halves = pd.concat([comps.assign(n_a=comps.n_a / 2, n_b=comps.n_b / 2)] * 2, ignore_index=True)
    np.testing.assert_allclose(_fit_means(halves), ref, atol=1e-7)


def test_counts_weigh_as_observations():
    # A pair asked 20 times must pull as hard as 20 rows asked once.
    df = pd.DataFrame({"option_a": ["a", "b", "a"], "option_b": ["b", "c", "c"], "n_a": [15, 6, 1], "n_b": [5, 4, 0]})
    single = df.loc[df.index.repeat((df.n_a + df.n_b).astype(int))].copy()
    outcomes = np.concatenate([[1] * a + [0] * b for a, b in zip(df.n_a, df.n_b)])
    single = single.assign(n_a=outcomes, n_b=1 - outcomes)
    a = vl.fit_thurstonian(df, uncertainty=None).utilities["mean"]
    b = vl.fit_thurstonian(single, uncertainty=None).utilities["mean"]
    np.testing.assert_allclose(a.sort_index(), b.sort_index(), atol=1e-7)


def test_wald_interval_coverage_by_simulation():
    """95% intervals of the standardised means cover the truth about 95% of the time."""
    truth = vl.simulate_utilities(15, variance=0.5, seed=100)
    true_std = pd.Series(standardise(truth["mean"]), index=truth["option_id"])
    pairs = vl.random_pairs(truth, 60, seed=101)
    hits = []
    for rep in range(40):
        comps = vl.simulate_comparisons(truth, pairs, samples=20, orders="pooled", seed=1000 + rep)
        fit = vl.fit_case_v(comps, prior=None)
        u = fit.utilities
        t = true_std.reindex(u.index)
        hits.append(((u.ci_low <= t) & (t <= u.ci_high)).to_numpy())
    coverage = np.concatenate(hits).mean()
    assert 0.91 <= coverage <= 0.985, coverage


def test_bootstrap_intervals_are_seeded_and_cover(small_agent):
    truth, comps = small_agent
    a = vl.fit_thurstonian(comps, uncertainty="bootstrap", n_resamples=40, seed=7, progress=False)
    b = vl.fit_thurstonian(comps, uncertainty="bootstrap", n_resamples=40, seed=7, n_jobs=2, progress=False)
    np.testing.assert_allclose(a.utilities["ci_low"], b.utilities["ci_low"])
    wald = vl.fit_thurstonian(comps)
    # bootstrap and Wald standard errors agree to within sampling error of 40 replicates
    ratio = (a.utilities["se_mean"] / wald.utilities["se_mean"]).median()
    assert 0.7 < ratio < 1.4


def test_disconnected_graph_is_caught():
    df = pd.DataFrame({"option_a": ["a", "b", "x", "p"], "option_b": ["b", "c", "y", "q"],
                       "n_a": [3, 2, 1, 1], "n_b": [1, 2, 3, 1]})
    with pytest.raises(vl.DisconnectedGraphError, match=r"3 components of sizes 3 .*2 .*2") as err:
        vl.fit_thurstonian(df)
    assert err.value.sizes == [3, 2, 2]
    parts = vl.fit_thurstonian(df, components="separate")
    assert [len(p.options) for p in parts] == [3, 2, 2]


def test_order_effect_requires_order_column():
    df = pd.DataFrame({"option_a": ["a", "b"], "option_b": ["b", "c"], "n_a": [3, 2], "n_b": [1, 2]})
    with pytest.raises(ValueError, match="order_effect=True needs"):
        vl.fit_thurstonian(df, order_effect=True)


def test_mle_on_separated_data_warns_and_prior_does_not():
    df = pd.DataFrame({"option_a": ["a", "b", "a"], "option_b": ["b", "c", "c"], "n_a": [5, 5, 5], "n_b": [0, 0, 0]})
    with pytest.warns(vl.ConvergenceWarning):
        vl.fit_thurstonian(df, prior=None, uncertainty=None, max_iter=30)
    fit = vl.fit_thurstonian(df)
    assert fit.converged
    assert list(fit.utilities.sort_values("mean").index) == ["c", "b", "a"]


def test_predict_proba_matches_formula(small_agent):
    from scipy.stats import norm

    _, comps = small_agent
    fit = vl.fit_thurstonian(comps)
    u = fit.utilities
    pairs = comps[["option_a", "option_b", "shown_first"]].head(20)
    s = np.where(pairs.shown_first == pairs.option_a, 1.0, -1.0)
    a, b = u.loc[pairs.option_a], u.loc[pairs.option_b]
    expected = norm.cdf((a["mean"].to_numpy() - b["mean"].to_numpy() + fit.order_effect * s)
                        / np.sqrt(a["variance"].to_numpy() + b["variance"].to_numpy()))
    np.testing.assert_allclose(fit.predict_proba(pairs), expected, rtol=1e-10)
    with pytest.raises(ValueError, match="was not in the fit"):
        fit.predict_proba(pd.DataFrame({"option_a": ["nope"], "option_b": [u.index[0]]}))


def test_summary_renders_and_plots(small_agent):
    _, comps = small_agent
    fit = vl.fit_thurstonian(comps, options=pd.DataFrame({"option_id": sorted(set(comps.option_a) | set(comps.option_b)),
                                                          "category": "c"}))
    assert "category" in fit.utilities.columns
    text = fit.summary().as_text()
    assert "Order effect" in text and "Converged" in text
    assert "<table>" in fit.summary()._repr_html_()
    assert "\\begin{tabular}" in fit.summary().as_latex()
    fig = fit.plot()
    assert len(fig.data[0].x) == len(fit.utilities)
    cal = fit.plot(kind="calibration", comparisons=comps)
    assert len(cal.data) == 2


def test_probit_terms_match_log_ndtr_across_the_range():
    from scipy.special import log_ndtr

    from valuelab.utility.likelihood import _probit_terms

    z = np.concatenate([np.linspace(-60, 60, 24001), [0.0, 36.0, -36.0, 37.5, -37.5]])
    lp, lq, m1, m2 = _probit_terms(z)
    ref_p, ref_q = log_ndtr(z), log_ndtr(-z)
    np.testing.assert_allclose(lp, ref_p, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(lq, ref_q, rtol=1e-13, atol=1e-15)
    log_phi = -0.5 * z * z - 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(m1, np.exp(log_phi - ref_p), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(m2, np.exp(log_phi - ref_q), rtol=1e-12, atol=1e-300)


def test_unknown_order_rows_are_predicted_as_the_average_of_both_orders(small_agent):
    from scipy.stats import norm

    _, comps = small_agent
    fit = vl.fit_thurstonian(comps)
    u = fit.utilities
    pairs = comps[["option_a", "option_b"]].head(10).assign(shown_first=None)
    a, b = u.loc[pairs.option_a], u.loc[pairs.option_b]
    d = a["mean"].to_numpy() - b["mean"].to_numpy()
    sd = np.sqrt(a["variance"].to_numpy() + b["variance"].to_numpy())
    g = fit.order_effect
    expected = 0.5 * (norm.cdf((d + g) / sd) + norm.cdf((d - g) / sd))
    np.testing.assert_allclose(fit.predict_proba(pairs), expected, rtol=1e-10)


def _half_pooled(truth, pairs, seed, bias=1.0, samples=20):
    """Both orders asked; half of the pairs reported as one row pooling both orders."""
    comps = vl.simulate_comparisons(truth, pairs, samples=samples, orders="both", order_bias=bias, seed=seed)
    comps = comps.drop(columns="p_true")
    pooled_pairs = pairs.sample(frac=0.5, random_state=seed)
    key = pd.MultiIndex.from_frame(comps[["option_a", "option_b"]])
    is_pooled = key.isin(pd.MultiIndex.from_frame(pooled_pairs[["option_a", "option_b"]]))
    pooled = comps[is_pooled].groupby(["option_a", "option_b"], as_index=False)[["n_a", "n_b"]].sum()
    return comps, pd.concat([comps[~is_pooled], pooled.assign(shown_first=None)], ignore_index=True)


def test_rows_pooling_both_orders_fit_the_averaged_probability_likelihood_as_scipy_does():
    """A pooled row is a binomial with p = (Phi(d + g) + Phi(d - g)) / 2: scipy fits that likelihood,
    written out here from its definition, and valuelab's MLE must reach the same point."""
    from scipy.optimize import minimize
    from scipy.stats import binom, norm

    truth = vl.simulate_utilities(8, variance=0.5, seed=21)
    pairs = vl.random_pairs(truth, 20, seed=22)
    _, mixed = _half_pooled(truth, pairs, seed=23, bias=0.8)
    ids = sorted(set(mixed.option_a) | set(mixed.option_b))
    a = mixed.option_a.map(ids.index).to_numpy()
    b = mixed.option_b.map(ids.index).to_numpy()
    s = np.where(mixed.shown_first.isna(), 0, np.where(mixed.shown_first == mixed.option_a, 1, -1))
    n_a, n = mixed.n_a.to_numpy(), (mixed.n_a + mixed.n_b).to_numpy()

    def nll(x):
        mu, g = np.r_[0.0, x[:-1]], x[-1]
        d = mu[a] - mu[b]
        p = np.where(s == 0, 0.5 * (norm.cdf(d + g) + norm.cdf(d - g)), norm.cdf(d + g * s))
        return -binom.logpmf(n_a, n, p).sum()

    ref = minimize(nll, np.zeros(len(ids)), method="BFGS", options={"gtol": 1e-9})
    mu_ref = pd.Series(np.r_[0.0, ref.x[:-1]], index=ids)
    fit = vl.fit_case_v(mixed, prior=None, uncertainty=None, tol=1e-14)
    assert fit.n_pooled_rows == 10
    np.testing.assert_allclose(fit.utilities["mean"].reindex(ids), standardise(mu_ref), atol=1e-5)
    assert fit.order_effect == pytest.approx(ref.x[-1] / mu_ref.std(ddof=0), rel=1e-5)


def test_order_effect_from_a_half_pooled_table_matches_the_all_orders_estimate():
    """Issue 15: five agents, 30 options, 200 pairs, 20 answers per order, true bias 1.0; half of the
    pairs pooled. valuelab 0.1 (splitting pooled rows) was 47-51% low on these agents."""
    for agent in range(5):
        truth = vl.simulate_utilities(30, variance=(0.5, 0.4), seed=agent)
        pairs = vl.random_pairs(truth, 200, seed=100 + agent)
        full, mixed = _half_pooled(truth, pairs, seed=200 + agent)
        all_orders = vl.fit_thurstonian(full, uncertainty=None)
        half = vl.fit_thurstonian(mixed, uncertainty=None)
        # raw (unstandardised) order effects: the two fits standardise over different estimates
        ratio = (half.order_effect * half._scale) / (all_orders.order_effect * all_orders._scale)
        assert abs(ratio - 1) < 0.10, (agent, ratio)


def test_separate_components_keep_their_own_order_and_attributes():
    df = pd.DataFrame({"option_a": ["a", "b", "a", "x", "x"], "option_b": ["b", "c", "c", "y", "y"],
                       "n_a": [3, 2, 4, 1, 3], "n_b": [1, 2, 1, 3, 1],
                       "shown_first": ["a", "b", "c", None, None]})
    opts = pd.DataFrame({"option_id": list("abcxy"), "category": list("ppqrr")})
    parts = vl.fit_thurstonian(df, options=opts, components="separate")
    assert [len(p.options) for p in parts] == [3, 2]
    assert parts[0].order_effect != 0 and parts[1].order_effect == 0  # order known only in the first
    assert parts[1].utilities["category"].tolist() == ["r", "r"]
    connected = vl.fit_thurstonian(df.head(3), components="separate")
    assert isinstance(connected, list) and len(connected) == 1


def test_pooling_over_models_warns():
    df = pd.DataFrame({"option_a": ["a", "b", "a"], "option_b": ["b", "c", "c"], "n_a": [3, 2, 4],
                       "n_b": [1, 2, 1], "model": ["m1", "m1", "m2"]})
    with pytest.warns(vl.PooledGroupsWarning, match="'model' \\(2 values\\)"):
        vl.fit_thurstonian(df)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vl.fit_thurstonian(df.assign(model="m1"))


def test_bootstrap_needs_two_replicates(small_agent):
    _, comps = small_agent
    with pytest.raises(ValueError, match="n_resamples: expected an integer >= 2"):
        vl.fit_thurstonian(comps, uncertainty="bootstrap", n_resamples=1)


def test_option_attributes_named_like_result_columns_are_kept():
    df = pd.DataFrame({"option_a": ["a", "b", "a"], "option_b": ["b", "c", "c"], "n_a": [3, 2, 4], "n_b": [1, 2, 1]})
    opts = pd.DataFrame({"option_id": ["a", "b", "c"], "mean": [1.0, 2.0, 3.0]})
    u = vl.fit_thurstonian(df, options=opts).utilities
    assert u.loc["b", "option_mean"] == 2.0
    assert u["mean"].mean() == pytest.approx(0.0, abs=1e-9)  # the fitted, standardised means


def test_wald_coverage_with_free_variances():
    """Intervals of the free-variance model (default prior) cover the truth near the nominal 95%.

    (With prior=None some replicates put a variance on its boundary, 0, where the information
    matrix is singular and no Wald interval exists.)"""
    truth = vl.simulate_utilities(12, variance=(0.5, 0.3), seed=200)
    true_std = pd.Series(standardise(truth["mean"]), index=truth["option_id"])
    pairs = vl.random_pairs(truth, 66, seed=201)  # all pairs
    hits = []
    for rep in range(30):
        comps = vl.simulate_comparisons(truth, pairs, samples=40, orders="pooled", seed=3000 + rep)
        u = vl.fit_thurstonian(comps).utilities
        assert u.se_mean.notna().all()
        t = true_std.reindex(u.index)
        hits.append(((u.ci_low <= t) & (t <= u.ci_high)).to_numpy())
    coverage = np.concatenate(hits).mean()
    assert 0.90 <= coverage <= 0.99, coverage


@pytest.mark.parametrize("method", ["wald", "sandwich", "bootstrap"])
def test_every_uncertainty_column_comes_from_one_method(small_agent, method):
    """Issue 15: bootstrap fits reported a bootstrap se_mean beside the Wald covariance and se_variance."""
    from scipy.stats import norm

    _, comps = small_agent
    fit = vl.fit_thurstonian(comps, uncertainty=method, n_resamples=30, progress=False)
    assert fit.uncertainty == method and method in fit.summary().as_text().lower()
    u, n = fit.utilities, len(fit.options)
    sd = np.sqrt(np.diag(fit.covariance))
    # the columns come from the diagonal alone, the covariance from the whole inverse: the
    # same numbers by two routes, equal to rounding
    np.testing.assert_allclose(u["se_mean"], sd[:n], rtol=1e-9)
    np.testing.assert_allclose(u["se_variance"], sd[n : 2 * n], rtol=1e-9)
    assert fit.order_effect_se == pytest.approx(sd[-1], rel=1e-9)
    z = norm.ppf(0.975)
    np.testing.assert_allclose(u["ci_high"] - u["mean"], z * u["se_mean"], rtol=1e-9)
    assert fit.order_effect_ci[1] - fit.order_effect == pytest.approx(z * fit.order_effect_se, rel=1e-9)


def test_bootstrap_replicates_that_do_not_converge_are_dropped_and_counted(small_agent):
    _, comps = small_agent
    with pytest.warns(vl.ConvergenceWarning, match="bootstrap: 12 of 12 replicates did not converge"):
        fit = vl.fit_thurstonian(comps, uncertainty="bootstrap", n_resamples=12, max_iter=1, progress=False)
    assert fit.bootstrap.n_failed == 12 and fit.utilities["se_mean"].isna().all()


def test_bootstrap_replicates_are_standardised_over_all_options(small_agent):
    """Each replicate is standardised like the estimate (mean 0, sd 1 over every option); with
    resampling by pair weights no option ever drops out of a replicate."""
    _, comps = small_agent
    fit = vl.fit_thurstonian(comps, uncertainty="bootstrap", n_resamples=20, progress=False)
    draws = fit.bootstrap_means.to_numpy()
    assert np.isfinite(draws).all()
    np.testing.assert_allclose(draws.mean(axis=1), 0, atol=1e-9)
    np.testing.assert_allclose(draws.std(axis=1), 1, atol=1e-9)


def test_sandwich_is_the_default_for_probabilities_and_ignores_their_weight(small_agent):
    """Probabilities read from logits: the intervals must not depend on the arbitrary weight given
    to each probability (Wald intervals shrink as 1/sqrt(weight))."""
    truth, _ = small_agent
    probs = vl.simulate_comparisons(truth, vl.random_pairs(truth, 150, seed=3), samples=None, misfit=0.3,
                                    order_bias=0.2, seed=4).drop(columns="p_true")
    one = vl.fit_thurstonian(probs, prior=None)
    ten = vl.fit_thurstonian(probs.assign(n_a=probs.n_a * 10, n_b=probs.n_b * 10), prior=None)
    assert one.uncertainty == ten.uncertainty == "sandwich"
    np.testing.assert_allclose(one.utilities["se_mean"], ten.utilities["se_mean"], rtol=5e-3)
    wald1 = vl.fit_thurstonian(probs, prior=None, uncertainty="wald").utilities["se_mean"]
    wald10 = vl.fit_thurstonian(probs.assign(n_a=probs.n_a * 10, n_b=probs.n_b * 10), prior=None,
                                uncertainty="wald").utilities["se_mean"]
    np.testing.assert_allclose(wald1 / wald10, np.sqrt(10), rtol=5e-3)


def test_order_pooled_start_reaches_the_same_optimum_in_few_steps():
    """Both orders of every pair and no position bias: the fit starts from the order-pooled
    model (half the rows) and needs only a few full Newton steps; its optimum is the one a
    tight Newton run from Mosteller's start finds."""
    from valuelab.schema import prepare_comparisons
    from valuelab.utility.likelihood import PairwiseLikelihood
    from valuelab.utility.optimize import newton_cg
    from valuelab.utility.thurstonian import DEFAULT_PRIOR, _order_pooled_start

    truth = vl.simulate_utilities(200, variance=(0.5, 0.5), seed=4)
    pairs = vl.random_pairs(truth, 2000, seed=5)
    comps = vl.simulate_comparisons(truth, pairs, samples=10, orders="both", seed=6)
    fit = vl.fit_thurstonian(comps, uncertainty=None)
    data = prepare_comparisons(comps)
    lik = PairwiseLikelihood(data, order_effect=True, prior=DEFAULT_PRIOR)
    assert _order_pooled_start(lik, "auto") is not None
    assert fit.iterations <= 4
    theta, info = newton_cg(lik, lik.initial(), tol=1e-14, scale=data.n_obs)
    assert info.converged
    assert (lik.loglike(theta) - fit.loglike) / data.n_obs < 1e-8
    np.testing.assert_allclose(fit._theta, theta, atol=2e-3)


def test_order_pooled_start_is_skipped_where_pooling_does_not_halve_the_rows():
    from valuelab.schema import prepare_comparisons
    from valuelab.utility.likelihood import PairwiseLikelihood
    from valuelab.utility.thurstonian import DEFAULT_PRIOR, _order_pooled_start

    truth = vl.simulate_utilities(50, seed=1)
    pairs = vl.random_pairs(truth, 300, seed=2)
    single = vl.simulate_comparisons(truth, pairs, samples=10, orders="single", order_bias=0.4, seed=3)
    lik = PairwiseLikelihood(prepare_comparisons(single), order_effect=True, prior=DEFAULT_PRIOR)
    assert _order_pooled_start(lik, "auto") is None
    both = vl.simulate_comparisons(truth, pairs, samples=10, orders="both", seed=3)
    assert _order_pooled_start(PairwiseLikelihood(prepare_comparisons(both), order_effect=True,
                                                  prior=DEFAULT_PRIOR), "auto") is not None
    mle = PairwiseLikelihood(prepare_comparisons(both), order_effect=True, prior=None)
    assert _order_pooled_start(mle, "auto") is None
    biased = vl.simulate_comparisons(truth, pairs, samples=10, orders="both", order_bias=0.8, seed=3)
    lik = PairwiseLikelihood(prepare_comparisons(biased), order_effect=True, prior=DEFAULT_PRIOR)
    assert _order_pooled_start(lik, "auto") is None  # a strong position bias: Mosteller's start
