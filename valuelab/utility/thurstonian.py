"""Fit Thurstonian utilities (and the case V and Bradley–Terry baselines) to comparisons.

References
----------
.. [1] Thurstone, L. L. (1927). A law of comparative judgment. *Psychological Review*
   34(4), 273–286.
.. [2] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640.
.. [3] Bradley, R. A. and Terry, M. E. (1952). Rank analysis of incomplete block designs:
   I. The method of paired comparisons. *Biometrika* 39(3/4), 324–345.
.. [4] Agresti, A. (2013). *Categorical Data Analysis*, 3rd ed., §11.6 (order effects in
   paired comparisons). Wiley.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd
import scipy.linalg as sl

from ..schema import ComparisonData, prepare_comparisons, validate_options
from .graph import check_connected, components as graph_components, strongly_connected_sizes
from .likelihood import PairwiseLikelihood, Prior, split_unknown_order
from .optimize import lbfgs, newton_cg
from .results import ThurstonianResult

__all__ = ["Prior", "fit_thurstonian", "fit_case_v", "fit_bradley_terry", "ConvergenceWarning"]

DEFAULT_PRIOR = Prior()


class ConvergenceWarning(UserWarning):
    """The optimiser stopped before meeting its convergence criterion."""


def _standardise(lik: PairwiseLikelihood, theta: np.ndarray, present: np.ndarray | None = None):
    """Standardised (mean 0, sd 1) means, variances on the same scale, gamma in those units."""
    mu, var, gamma = lik.unpack(theta)
    ref = mu if present is None else mu[present]
    m, sd = ref.mean(), ref.std()
    if not np.isfinite(sd) or sd <= 0:
        sd = 1.0
    return (mu - m) / sd, var / sd**2, gamma / sd, m, sd


def _standardised_jacobian(lik: PairwiseLikelihood, theta: np.ndarray):
    """Jacobian of [mu', var' (probit), gamma'] with respect to theta (dense)."""
    n, p = lik.n_options, lik.n_params
    mu_s, var_s, gamma_s, _, sd = _standardise(lik, theta)
    blocks = []
    j_mu = np.zeros((n, p))
    j_mu[:, :n] = (np.eye(n) - 1.0 / n - np.outer(mu_s, mu_s) / n) / sd
    blocks.append(j_mu)
    if lik.link == "probit":
        j_var = np.zeros((n, p))
        j_var[:, :n] = -2.0 * np.outer(var_s, mu_s) / (n * sd)
        if lik.free_variance:
            j_var[:, n : 2 * n] += np.diag(var_s)
        blocks.append(j_var)
    if lik.order_effect:
        j_g = np.zeros((1, p))
        j_g[0, :n] = -gamma_s * mu_s / (n * sd)
        j_g[0, -1] = 1.0 / sd
        blocks.append(j_g)
    return np.vstack(blocks)


def _standardised_covariance(lik: PairwiseLikelihood, theta: np.ndarray):
    """Covariance of the standardised parameters from the observed information (delta method).

    For an unpenalised fit the information is singular along the gauge directions; adding
    ``N N'`` for the gauge basis ``N`` gives a generalised inverse, and quantities that do
    not depend on the gauge (the standardised parameters) get the correct covariance.
    """
    h = lik.hessian(theta)
    scale_h = max(float(np.abs(np.diag(h)).max()), 1.0)
    if lik.prior is None:
        gauge = lik.gauge_directions(theta)
        h = h + scale_h * gauge @ gauge.T
    try:
        chol = sl.cho_factor(h, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return None
    jac = _standardised_jacobian(lik, theta)
    x = sl.cho_solve(chol, jac.T, check_finite=False)  # H^-1 J'
    return jac @ x


def _fit_once(lik: PairwiseLikelihood, theta0, solver: str, tol: float, max_iter: int | None):
    scale = lik.data.n_obs
    if solver == "auto":
        solver = "newton" if (lik.prior is not None or not lik.free_variance) else "lbfgs"
    if solver == "newton":
        return newton_cg(lik, theta0, tol=tol, max_iter=max_iter or 200, scale=scale)
    if solver == "lbfgs":
        return lbfgs(lik, theta0, tol=tol * 1e-2, max_iter=max_iter or 20000, scale=scale)
    raise ValueError(f"solver: expected 'newton' or 'lbfgs', got {solver!r}")


def _warm_start(lik: PairwiseLikelihood, init, model: str) -> np.ndarray:
    """Starting values taken from an earlier fit's internal parameters, matched by option id."""
    if not hasattr(init, "_lik") or init.model != model:
        raise ValueError(f"init: expected an earlier {model} fit (a ThurstonianResult), got "
                         f"{getattr(init, 'model', type(init).__name__)!r}")
    theta = lik.initial()
    prev, n = init._lik, lik.n_options
    m = prev.n_options
    pos = pd.Index(prev.data.options).get_indexer(pd.Index(lik.data.options))
    hit = pos >= 0
    if not hit.any():
        return theta
    mu = theta[:n]
    # new options keep the Mosteller values, moved to the location of the earlier fit
    shift = np.mean(init._theta[:m][pos[hit]] - mu[hit])
    mu += shift
    mu[hit] = init._theta[:m][pos[hit]]
    if lik.free_variance and prev.free_variance:
        theta[n : 2 * n][hit] = init._theta[m : 2 * m][pos[hit]]
    if lik.order_effect and prev.order_effect:
        theta[-1] = init._theta[-1]
    return theta


#: Columns that usually identify separate experiments; pooling over them is rarely intended.
GROUPING_COLUMNS = ("model", "language", "template", "framing", "checkpoint", "persona", "temperature", "system_prompt")


class PooledGroupsWarning(UserWarning):
    """A fit pooled rows that differ in a grouping column such as ``model``."""


def _warn_pooled_groups(comparisons: pd.DataFrame) -> None:
    if not isinstance(comparisons, pd.DataFrame):
        raise TypeError(f"comparisons: expected a DataFrame, got {type(comparisons).__name__}")
    mixed = {c: comparisons[c].nunique(dropna=False) for c in GROUPING_COLUMNS if c in comparisons.columns}
    mixed = {c: k for c, k in mixed.items() if k > 1}
    if mixed:
        what = ", ".join(f"{c!r} ({k} values)" for c, k in mixed.items())
        warnings.warn(
            f"comparisons: rows differ in {what} and are pooled into one fit; fit each group on its own "
            "(e.g. with DataFrame.groupby) unless pooling is intended",
            PooledGroupsWarning, stacklevel=4,
        )


def _bootstrap_one(lik_kwargs, data: ComparisonData, pair_id, theta0, seed, solver, tol, max_iter):
    rng = np.random.default_rng(seed)
    n_pairs = pair_id.max() + 1
    counts = rng.multinomial(n_pairs, np.full(n_pairs, 1.0 / n_pairs))
    weights = counts[pair_id].astype(float)
    boot = data.reweight(weights)
    lik = PairwiseLikelihood(boot, **lik_kwargs)
    theta, _ = _fit_once(lik, theta0, solver, tol, max_iter)
    seen = np.zeros(data.n_options, dtype=bool)
    used = weights > 0
    seen[data.a[used]] = True
    seen[data.b[used]] = True
    mu_s, var_s, gamma_s, _, _ = _standardise(lik, theta, present=seen)
    mu_s = np.where(seen, mu_s, np.nan)
    return mu_s, gamma_s


def _fit(
    comparisons: pd.DataFrame,
    *,
    model: str,
    link: str,
    free_variance: bool,
    options,
    order_effect,
    prior,
    solver,
    ci,
    n_boot,
    alpha,
    n_jobs,
    seed,
    component_policy,
    tol,
    max_iter,
    max_se_options,
    progress,
    init=None,
):
    if prior == "default":
        prior = DEFAULT_PRIOR
    if prior is not None and not isinstance(prior, Prior):
        raise TypeError(f"prior: expected a valuelab Prior, 'default' or None, got {type(prior).__name__}")
    if ci not in ("wald", "bootstrap", None):
        raise ValueError(f"ci: expected 'wald', 'bootstrap' or None, got {ci!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: expected a level in (0, 1), got {alpha!r}")
    if ci == "bootstrap" and not (isinstance(n_boot, (int, np.integer)) and n_boot >= 2):
        raise ValueError(f"n_boot: expected an integer >= 2 bootstrap replicates, got {n_boot!r}")
    _warn_pooled_groups(comparisons)
    data = prepare_comparisons(comparisons, options=options)
    requested_order_effect = order_effect
    if order_effect == "auto":
        order_effect = data.has_order
    elif order_effect and not data.has_order:
        raise ValueError(
            "order_effect=True needs to know which option was shown first: add a 'shown_first' "
            "(option id) or 'order' ('ab'/'ba') column to the comparisons"
        )
    if component_policy == "separate":
        labels = graph_components(data)
        results = []
        opts = validate_options(options).reset_index() if options is not None else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PooledGroupsWarning)  # already warned above
            for c in range(labels.max() + 1):  # labels count from the largest component
                ids = set(data.options[labels == c])
                sub = comparisons[comparisons["option_a"].isin(ids)]
                sub_opts = opts[opts["option_id"].isin(ids)] if opts is not None else None
                results.append(
                    _fit(sub, model=model, link=link, free_variance=free_variance, options=sub_opts,
                         order_effect=requested_order_effect, prior=prior, solver=solver, ci=ci, n_boot=n_boot,
                         alpha=alpha, n_jobs=n_jobs, seed=seed, component_policy="raise", tol=tol,
                         max_iter=max_iter, max_se_options=max_se_options, progress=progress, init=init)
                )
        return results
    elif component_policy != "raise":
        raise ValueError(f"components: expected 'raise' or 'separate', got {component_policy!r}")
    check_connected(data)

    if order_effect:
        data = split_unknown_order(data)
    lik_kwargs = dict(link=link, free_variance=free_variance, order_effect=bool(order_effect), prior=prior)
    lik = PairwiseLikelihood(data, **lik_kwargs)
    theta0 = lik.initial() if init is None else _warm_start(lik, init, model)
    theta, info = _fit_once(lik, theta0, solver, tol, max_iter)
    if prior is None:
        sizes = strongly_connected_sizes(data)
        if len(sizes) > 1:
            info.converged = False
            info.message = (
                f"the maximum-likelihood estimate does not exist: the win graph has {len(sizes)} strongly "
                "connected components (some options win or lose every comparison against the rest), "
                "so their utilities diverge"
            )
    if not info.converged:
        warnings.warn(
            f"{model} fit did not converge after {info.iterations} iterations ({info.message}; "
            f"gradient max-norm {info.grad_norm:.3g}). With prior=None, options that win or lose "
            "every comparison have no finite MLE; use the default prior.",
            ConvergenceWarning,
            stacklevel=3,
        )

    cov = None
    se_note = None
    if ci is not None and data.n_options <= max_se_options:
        cov = _standardised_covariance(lik, theta)
        if cov is None:
            se_note = "the information matrix is not positive definite; standard errors are unavailable"
    elif ci is not None:
        se_note = (
            f"standard errors from the information matrix are computed for up to {max_se_options} options "
            f"(this fit has {data.n_options}); raise max_se_options or use ci='bootstrap'"
        )

    boot = None
    if ci == "bootstrap":
        from joblib import Parallel, delayed

        pair_id = pd.factorize(
            pd.Series(list(zip(np.minimum(data.a, data.b), np.maximum(data.a, data.b))))
        )[0]
        seeds = np.random.SeedSequence(seed).spawn(n_boot)
        tasks = (
            delayed(_bootstrap_one)(lik_kwargs, data, pair_id, theta, s, solver, tol, max_iter) for s in seeds
        )
        if progress:
            from tqdm.auto import tqdm

            tasks = tqdm(tasks, total=n_boot, desc="bootstrap")
        draws = Parallel(n_jobs=n_jobs)(tasks)
        boot = (np.array([d[0] for d in draws]), np.array([d[1] for d in draws]))

    option_table = validate_options(options) if options is not None else None
    return ThurstonianResult(
        likelihood=lik, theta=theta, info=info, model=model, covariance=cov, bootstrap=boot,
        alpha=alpha, ci_method=ci, option_table=option_table, se_note=se_note,
    )


def fit_thurstonian(
    comparisons: pd.DataFrame,
    *,
    options: pd.DataFrame | None = None,
    order_effect: bool | Literal["auto"] = "auto",
    prior: Prior | None | Literal["default"] = "default",
    solver: Literal["auto", "newton", "lbfgs"] = "auto",
    ci: Literal["wald", "bootstrap"] | None = "wald",
    n_boot: int = 200,
    alpha: float = 0.05,
    n_jobs: int = 1,
    seed: int | None = 0,
    components: Literal["raise", "separate"] = "raise",
    tol: float = 1e-9,
    max_iter: int | None = None,
    max_se_options: int = 2000,
    progress: bool = True,
    init: ThurstonianResult | None = None,
) -> ThurstonianResult:
    """Fit a Thurstonian utility model: a mean and a variance per option, probit link.

    Each option ``i`` has a random utility ``U_i ~ N(mu_i, sigma_i^2)`` and

    ``P(A preferred to B) = Phi((mu_A - mu_B + gamma * s) / sqrt(sigma_A^2 + sigma_B^2))``

    where ``s`` is +1 when A was shown first and -1 when B was, and ``gamma`` is the
    position bias in utility units (estimated only when the comparisons say which option
    came first). Rows of unknown order are then predicted as the average of the two
    orders, and fitted as half their observations in each order. The likelihood is
    binomial in the counts, so a pair asked 20 times weighs 20 times a pair asked once.

    Parameters
    ----------
    comparisons : DataFrame
        The comparisons table (``option_a, option_b, n_a, n_b`` or ``p_a`` with ``weight``;
        optional ``shown_first`` or ``order``); see :mod:`valuelab.schema`.
    options : DataFrame, optional
        ``option_id`` plus attributes; ids are checked and attributes joined to the result.
    order_effect : bool or "auto", default "auto"
        Estimate the position bias ``gamma``; "auto" does so when order is known.
    prior : Prior, "default" or None
        "default" is ``Prior()``: ``mu ~ N(0, 3^2)``, ``log sigma^2 ~ N(0, 1.5^2)``,
        ``gamma ~ N(0, 3^2)`` (a MAP fit). None gives the exact maximum-likelihood fit,
        which does not exist (parameters diverge) when an option wins or loses all its
        comparisons.
    solver : {"auto", "newton", "lbfgs"}
        Newton–CG (Fisher scoring far from the optimum, exact Hessian near it; fast on
        large problems) or SciPy's L-BFGS-B. "auto" uses Newton–CG for MAP fits and
        L-BFGS-B for the unpenalised MLE, whose optimum often lies on the boundary (a
        variance shrinking to 0) where Newton steps lose their curvature.
    ci : {"wald", "bootstrap"} or None
        Wald intervals from the observed information (delta method through the
        standardisation), or percentile intervals from a bootstrap over pairs.
    n_boot : int
        Bootstrap replicates (``ci="bootstrap"``).
    alpha : float
        1 - confidence level.
    n_jobs : int
        Parallel bootstrap workers (joblib).
    seed : int or None
        Seed of the bootstrap.
    components : {"raise", "separate"}
        A disconnected comparison graph raises :class:`DisconnectedGraphError` (default),
        or each component is fitted on its own and a list of results is returned, largest
        component first (a list of one when the graph is connected).
    tol : float
        Convergence tolerance: the Newton decrement per observation, i.e. the predicted
        further improvement of the mean log-likelihood per observation (1e-9 is far below
        any statistically meaningful difference).
    max_iter : int, optional
        Iteration cap of the solver.
    max_se_options : int
        Largest number of options for which the dense information matrix is inverted.
    progress : bool
        Show a progress bar during the bootstrap.
    init : ThurstonianResult, optional
        Warm start: an earlier fit of the same model (for example on fewer comparisons, as
        in active learning). Its estimates start the options it shares with this fit; new
        options start from the Mosteller solution, shifted to the same location. MAP fits
        with the default prior usually reach the same optimum from any start (the
        free-variance likelihood is not convex, so this is not guaranteed); the start
        mainly changes the time to reach it.

    Returns
    -------
    ThurstonianResult
        ``.utilities`` is a DataFrame indexed by option id with columns ``mean`` (mu,
        standardised to mean 0 and sd 1 across options), ``variance`` (sigma^2 on the same
        scale), ``se_mean``, ``ci_low``, ``ci_high`` (for ``mean``), ``se_variance``,
        ``n_obs`` (observations involving the option), plus the options' attributes.

    Raises
    ------
    ValueError
        Invalid comparisons (naming the row and column), or a disconnected graph.

    References
    ----------
    .. [1] Thurstone, L. L. (1927). A law of comparative judgment. *Psychological Review*
       34(4), 273–286.
    .. [2] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling
       Emergent Value Systems in AIs. arXiv:2502.08640.
    .. [3] Agresti, A. (2013). *Categorical Data Analysis*, 3rd ed., §11.6. Wiley.

    Examples
    --------
    >>> import pandas as pd, valuelab as vl
    >>> df = pd.DataFrame({"option_a": ["tea", "tea", "coffee"],
    ...                    "option_b": ["coffee", "water", "water"],
    ...                    "n_a": [7, 9, 8], "n_b": [3, 1, 2]})
    >>> fit = vl.fit_thurstonian(df)
    >>> fit.utilities["mean"].idxmax()
    'tea'
    """
    return _fit(comparisons, model="thurstonian", link="probit", free_variance=True, options=options,
                order_effect=order_effect, prior=prior, solver=solver, ci=ci, n_boot=n_boot, alpha=alpha,
                n_jobs=n_jobs, seed=seed, component_policy=components, tol=tol, max_iter=max_iter,
                max_se_options=max_se_options, progress=progress, init=init)


def fit_case_v(comparisons: pd.DataFrame, *, prior: Prior | None | Literal["default"] = "default",
               **kwargs) -> ThurstonianResult:
    """Thurstone case V: one shared variance, probit link (a probit GLM on option dummies).

    ``P(A preferred to B) = Phi(mu_A - mu_B + gamma * s)``: every option has variance 1/2
    on the fitting scale. Takes the same keyword arguments as :func:`fit_thurstonian`.

    Returns
    -------
    ThurstonianResult
        As :func:`fit_thurstonian`; ``variance`` is the shared variance on the
        standardised scale.

    References
    ----------
    .. [1] Thurstone, L. L. (1927). A law of comparative judgment. *Psychological Review*
       34(4), 273–286.
    .. [2] Mosteller, F. (1951). Remarks on the method of paired comparisons: I.
       *Psychometrika* 16(1), 3–9.
    """
    return _fit(comparisons, model="case_v", link="probit", free_variance=False, prior=prior,
                **_defaults(kwargs))


def fit_bradley_terry(comparisons: pd.DataFrame, *, prior: Prior | None | Literal["default"] = "default",
                      **kwargs) -> ThurstonianResult:
    """Bradley–Terry model: ``P(A preferred to B) = logistic(mu_A - mu_B + gamma * s)``.

    Takes the same keyword arguments as :func:`fit_thurstonian`. With ``prior=None`` this
    is the maximum-likelihood fit that ``choix.ilsr_pairwise`` computes (on the log-strength
    scale, before standardisation).

    Returns
    -------
    ThurstonianResult
        As :func:`fit_thurstonian`; ``variance`` is NaN (the logistic model has no variance
        parameter).

    References
    ----------
    .. [1] Bradley, R. A. and Terry, M. E. (1952). Rank analysis of incomplete block
       designs: I. The method of paired comparisons. *Biometrika* 39(3/4), 324–345.
    .. [2] Hunter, D. R. (2004). MM algorithms for generalized Bradley–Terry models.
       *The Annals of Statistics* 32(1), 384–406.
    """
    return _fit(comparisons, model="bradley_terry", link="logit", free_variance=False, prior=prior,
                **_defaults(kwargs))


def _defaults(kwargs: dict) -> dict:
    out = dict(options=None, order_effect="auto", solver="auto", ci="wald", n_boot=200, alpha=0.05,
               n_jobs=1, seed=0, component_policy="raise", tol=1e-9, max_iter=None, max_se_options=2000,
               progress=True, init=None)
    if "components" in kwargs:
        kwargs = dict(kwargs)
        kwargs["component_policy"] = kwargs.pop("components")
    unknown = set(kwargs) - set(out)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {sorted(unknown)}")
    out.update(kwargs)
    return out
