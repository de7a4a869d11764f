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
from dataclasses import dataclass, fields, replace
from typing import Literal

import numpy as np
import pandas as pd

from ..schema import ComparisonData, prepare_comparisons, validate_options
from .graph import check_connected, components as graph_components, strongly_connected_sizes
from .likelihood import PairwiseLikelihood, Prior
from .optimize import lbfgs, newton_cg
from .results import ThurstonianResult
from .uncertainty import METHODS, BootstrapDraws, counts_are_whole, pair_clusters, se_route, standardise

__all__ = ["Prior", "fit_thurstonian", "fit_case_v", "fit_bradley_terry", "ConvergenceWarning"]

DEFAULT_PRIOR = Prior()
LOG_VARIANCE_BOUND = 7.0


class ConvergenceWarning(UserWarning):
    """The optimiser stopped before meeting its convergence criterion."""


def _variance_bounds(lik: PairwiseLikelihood):
    """Lower bounds on the log-variances of a maximum-likelihood fit (None when not needed).

    Variances of an MLE can run to 0. The optimiser fixes the scale so that log-variances
    average 0; a log-variance below ``-LOG_VARIANCE_BOUND`` (a variance under 1e-3 of the
    typical one, an sd of 3%) changes the choice probabilities by less than 0.1%, so the fit
    stops there and the result reports the option as on the boundary.
    """
    if not (lik.free_variance and lik.prior is None):
        return None
    n = lik.n_options
    lower = np.full(lik.n_params, -np.inf)
    lower[n : 2 * n] = -LOG_VARIANCE_BOUND
    return lower


class _ScaleFixed:
    """An unpenalised free-variance likelihood with its scale gauge fixed for the optimiser.

    The likelihood is unchanged when every mean (and the order effect) is multiplied by
    ``c`` and every variance by ``c^2``. Adding ``kappa / 2 * mean(log variance)^2`` picks the
    one point of each such orbit whose log-variances average 0, so the optimum is the same
    likelihood maximum; without it an MLE whose variance runs to its bound keeps improving by
    rescaling all the others, and never stops. Means keep their (flat, deflated) location.
    """

    def __init__(self, lik: PairwiseLikelihood):
        self.lik = lik
        n = lik.n_options
        self._a = np.zeros(lik.n_params)
        self._a[n : 2 * n] = 1.0 / n
        self._kappa = lik.data.n_obs / n
        self.exact_is_convex = False

    def value_and_grad(self, theta):
        f, g = self.lik.value_and_grad(theta)
        m = float(self._a @ theta)
        return f + 0.5 * self._kappa * m * m, g + self._kappa * m * self._a

    def newton_system(self, theta):
        exact, fisher, precond = self.lik.newton_system(theta)
        a, k = self._a, self._kappa
        return (lambda v: exact(v) + k * (a @ v) * a), (lambda v: fisher(v) + k * (a @ v) * a), precond

    def gauge_directions(self, theta):
        return self.lik.gauge_directions(theta)[:, :1]  # the location only

    def gauge_eigenvalues(self, theta):
        return self.lik.gauge_eigenvalues(theta)[:1]  # the penalty on mean(log variance) ignores the location


def _fit_once(lik: PairwiseLikelihood, theta0, solver: str, tol: float, max_iter: int | None):
    scale = lik.data.n_obs
    lower = _variance_bounds(lik)
    objective = lik if lower is None else _ScaleFixed(lik)
    if solver == "auto":
        solver = "newton"
    if solver == "newton":
        theta, info = newton_cg(objective, theta0, tol=tol, max_iter=max_iter or 200, scale=scale, lower=lower)
    elif solver == "lbfgs":
        bounds = None if lower is None else [(lo if np.isfinite(lo) else None, None) for lo in lower]
        theta, info = lbfgs(objective, theta0, tol=tol * 1e-2, max_iter=max_iter or 20000, scale=scale,
                            bounds=bounds)
    else:
        raise ValueError(f"solver: expected 'newton' or 'lbfgs', got {solver!r}")
    if lower is not None:
        info.grad_norm = float(np.max(np.abs(lik.value_and_grad(theta)[1])))
    return theta, info


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


@dataclass(frozen=True)
class FitSpec:
    """What is fitted and how: the settings every refit of a model repeats (bootstrap
    replicates, parametric-bootstrap tests, cross-validation folds)."""

    model: str
    link: str
    free_variance: bool
    order_effect: bool | str = "auto"
    prior: Prior | None = DEFAULT_PRIOR
    solver: str = "auto"
    tol: float = 1e-9
    max_iter: int | None = None

    def likelihood(self, data: ComparisonData) -> PairwiseLikelihood:
        order = data.has_order if self.order_effect == "auto" else bool(self.order_effect)
        return PairwiseLikelihood(data, link=self.link, free_variance=self.free_variance, order_effect=order,
                                  prior=self.prior)

    def fit(self, data: ComparisonData, theta0: np.ndarray | None = None):
        """Fit ``data``; returns ``(likelihood, theta, info)``."""
        lik = self.likelihood(data)
        theta, info = _fit_once(lik, lik.initial() if theta0 is None else theta0, self.solver, self.tol,
                                self.max_iter)
        return lik, theta, info


def _bootstrap_one(spec: FitSpec, data: ComparisonData, cluster, theta0, seed):
    """One Bayesian-bootstrap replicate: Exp(1) weights per pair, standardised over all options."""
    rng = np.random.default_rng(seed)
    w = rng.exponential(size=int(cluster.max()) + 1)
    w *= len(w) / w.sum()
    lik, theta, info = spec.fit(data.reweight(w[cluster]), theta0)
    return standardise(lik, theta).vector(lik), bool(info.converged)


def _bootstrap(spec: FitSpec, data: ComparisonData, lik: PairwiseLikelihood, theta: np.ndarray, *,
               n_resamples: int, n_jobs: int, seed, progress: bool) -> BootstrapDraws:
    """Bayesian-bootstrap replicates, warm-started at the estimate, run in parallel by joblib
    (results are collected as they finish, so the progress bar counts finished replicates)."""
    from joblib import Parallel, delayed

    cluster = pair_clusters(data)
    seeds = np.random.SeedSequence(seed).spawn(n_resamples)
    tasks = (delayed(_bootstrap_one)(spec, data, cluster, theta, s) for s in seeds)
    out = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
    if progress:
        from tqdm.auto import tqdm

        out = tqdm(out, total=n_resamples, desc="bootstrap")
    out = list(out)
    ok = np.array([c for _, c in out], bool)
    boot = BootstrapDraws(np.array([v for v, _ in out])[ok], n_resamples, int((~ok).sum()),
                          n_clusters=int(cluster.max()) + 1,
                          n_free=lik.n_params - (2 if lik.free_variance else 1))
    if boot.n_failed:
        warnings.warn(f"bootstrap: {boot.n_failed} of {n_resamples} replicates did not converge and were "
                      "discarded", ConvergenceWarning, stacklevel=4)
    return boot


def _standard_errors(lik: PairwiseLikelihood, theta: np.ndarray, method: str, route: str):
    """``(provider, variances, note)`` by ``route``. A scalable route whose belief propagation
    fails (no convergence, or a variance that is not positive) falls back to the dense one
    within its memory guard, and says so in the note."""
    from .sparse_covariance import DenseCovariance, ScalableCovariance
    from .uncertainty import MAX_DENSE_PARAMETERS

    not_pd = "the information matrix is not positive definite; standard errors are unavailable"

    def valid(v):
        return v is not None and np.all(np.isfinite(v)) and np.all(v >= 0)

    note = None
    if route == "scalable":
        try:
            provider = ScalableCovariance(lik, theta, method)
            variances = provider.variances()
            if provider.cav.converged and valid(variances):
                return provider, variances, None
        except np.linalg.LinAlgError:
            pass
        if lik.n_params > MAX_DENSE_PARAMETERS:
            return None, None, ("belief propagation did not converge on this comparison graph and the dense "
                                f"route is refused above MAX_DENSE_PARAMETERS = {MAX_DENSE_PARAMETERS} parameters; "
                                "standard errors are unavailable (try uncertainty='bootstrap')")
        note = ("belief propagation did not converge on this comparison graph; the standard errors come from "
                "the dense information matrix")
    try:
        provider = DenseCovariance(lik, theta, method)
        variances = provider.variances()
    except np.linalg.LinAlgError:
        return None, None, not_pd
    return (provider, variances, note) if valid(variances) else (None, None, not_pd)


def _resolve_uncertainty(uncertainty, data: ComparisonData) -> str | None:
    if uncertainty not in ("auto", None, *METHODS):
        raise ValueError(f"uncertainty: expected 'auto', 'wald', 'sandwich', 'bootstrap' or None, got {uncertainty!r}")
    if uncertainty != "auto":
        return uncertainty
    return "wald" if counts_are_whole(np.concatenate([data.n_a, data.n_b])) else "sandwich"


@dataclass(frozen=True)
class FitRun:
    """How one fit is run and reported, beside what is fitted (:class:`FitSpec`): the
    settings :func:`fit_thurstonian` and its siblings pass down to every component fit."""

    options: pd.DataFrame | None = None
    uncertainty: str | None = "auto"
    n_resamples: int = 200
    alpha: float = 0.05
    n_jobs: int = 1
    seed: int | None = 0
    components: str = "raise"
    se_method: str = "auto"
    progress: bool = True
    init: object = None


def _fit(comparisons: pd.DataFrame, spec: FitSpec, run: FitRun):
    options, uncertainty, n_resamples, alpha = run.options, run.uncertainty, run.n_resamples, run.alpha
    n_jobs, seed, component_policy, se_method = run.n_jobs, run.seed, run.components, run.se_method
    progress, init = run.progress, run.init
    if spec.prior is not None and not isinstance(spec.prior, Prior):
        raise TypeError(f"prior: expected a valuelab Prior, 'default' or None, got {type(spec.prior).__name__}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: expected a level in (0, 1), got {alpha!r}")
    if uncertainty == "bootstrap" and not (isinstance(n_resamples, (int, np.integer)) and n_resamples >= 2):
        raise ValueError(f"n_resamples: expected an integer >= 2 bootstrap replicates, got {n_resamples!r}")
    _warn_pooled_groups(comparisons)
    data = prepare_comparisons(comparisons, options=options)
    if spec.order_effect is True and not data.has_order:
        raise ValueError(
            "order_effect=True needs to know which option was shown first: add a 'shown_first' "
            "(option id) or 'order' ('ab'/'ba') column to the comparisons"
        )
    method = _resolve_uncertainty(uncertainty, data)
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
                    _fit(sub, spec, replace(run, options=sub_opts, components="raise"))
                )
        return results
    elif component_policy != "raise":
        raise ValueError(f"components: expected 'raise' or 'separate', got {component_policy!r}")
    check_connected(data)

    lik = spec.likelihood(data)
    theta0 = lik.initial() if init is None else _warm_start(lik, init, spec.model)
    lik, theta, info = spec.fit(data, theta0)
    if spec.prior is None:
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
            f"{spec.model} fit did not converge after {info.iterations} iterations ({info.message}; "
            f"gradient max-norm {info.grad_norm:.3g}). With prior=None, options that win or lose "
            "every comparison have no finite MLE; use the default prior.",
            ConvergenceWarning,
            stacklevel=3,
        )

    cov, boot, se_note, scalable, variances = None, None, None, None, None
    if method in ("wald", "sandwich"):
        route = se_route(se_method, lik)
        if route in ("dense", "scalable"):
            scalable, variances, se_note = _standard_errors(lik, theta, method, route)
        else:
            se_note = route
    elif method == "bootstrap":
        boot = _bootstrap(spec, data, lik, theta, n_resamples=n_resamples, n_jobs=n_jobs, seed=seed,
                          progress=progress)
        cov = boot.covariance()
        if cov is None:
            se_note = f"only {len(boot.draws)} bootstrap replicates converged; standard errors are unavailable"

    option_table = validate_options(options) if options is not None else None
    return ThurstonianResult(
        likelihood=lik, theta=theta, info=info, spec=spec, covariance=cov, bootstrap=boot,
        alpha=alpha, uncertainty=method, option_table=option_table, se_note=se_note, scalable=scalable,
        variances=variances,
    )


def fit_thurstonian(
    comparisons: pd.DataFrame,
    *,
    options: pd.DataFrame | None = None,
    order_effect: bool | Literal["auto"] = "auto",
    prior: Prior | None | Literal["default"] = "default",
    solver: Literal["auto", "newton", "lbfgs"] = "auto",
    uncertainty: Literal["auto", "wald", "sandwich", "bootstrap"] | None = "auto",
    n_resamples: int = 200,
    alpha: float = 0.05,
    n_jobs: int = 1,
    seed: int | None = 0,
    components: Literal["raise", "separate"] = "raise",
    tol: float = 1e-9,
    max_iter: int | None = None,
    se_method: Literal["auto", "dense", "scalable"] = "auto",
    progress: bool = True,
    init: ThurstonianResult | None = None,
) -> ThurstonianResult:
    """Fit a Thurstonian utility model: a mean and a variance per option, probit link.

    Each option ``i`` has a random utility ``U_i ~ N(mu_i, sigma_i^2)`` and

    ``P(A preferred to B) = Phi((mu_A - mu_B + gamma * s) / sqrt(sigma_A^2 + sigma_B^2))``

    where ``s`` is +1 when A was shown first and -1 when B was, and ``gamma`` is the
    position bias in utility units (estimated only when the comparisons say which option
    came first). A row of unknown order (it pools both orders) is then a binomial whose
    probability is the average over the two orders. The likelihood is binomial in the
    counts, so a pair asked 20 times weighs 20 times a pair asked once.

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
    uncertainty : {"auto", "wald", "sandwich", "bootstrap"} or None
        Where every standard error, interval and the covariance come from (see
        :mod:`valuelab.utility.uncertainty`): "wald", the observed information, right for
        counts of sampled answers; "sandwich", a covariance robust to how the answers vary
        within a pair (clustered by pair), right for probabilities read from logits, where
        the uncertainty is in which pairs were asked; "bootstrap", a Bayesian bootstrap over
        pairs (``n_resamples`` refits). "auto" takes "wald" when every count is a whole
        number and "sandwich" otherwise. None skips them.
    n_resamples : int
        Bootstrap replicates (``uncertainty="bootstrap"``).
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
    se_method : {"auto", "dense", "scalable"}
        How "wald" and "sandwich" standard errors are computed. "dense" inverts the
        information matrix (exact; memory and time grow as the square and the cube of the
        number of parameters, so it is refused above
        :data:`~valuelab.utility.uncertainty.MAX_DENSE_PARAMETERS`); "scalable" never forms
        it (:mod:`valuelab.utility.sparse_covariance`: cost and memory grow with the number
        of pairs; needs a prior). "auto" takes "dense" up to
        :data:`~valuelab.utility.uncertainty.DENSE_PARAMETERS` parameters and for
        maximum-likelihood fits, "scalable" above. Either way ``covariance`` and
        ``covariance_of`` give covariances on demand.
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
        ``at_boundary`` says whether a variance went to 0 (maximum-likelihood fits).

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
    .. [4] Huber, P. J. (1967). The behavior of maximum likelihood estimates under
       nonstandard conditions. *Proc. Fifth Berkeley Symposium* 1, 221–233.
    .. [5] Rubin, D. B. (1981). The Bayesian bootstrap. *Annals of Statistics* 9(1), 130–134.

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
    return _public_fit(comparisons, "thurstonian", "probit", True, dict(
        options=options, order_effect=order_effect, prior=prior, solver=solver, uncertainty=uncertainty,
        n_resamples=n_resamples, alpha=alpha, n_jobs=n_jobs, seed=seed, components=components, tol=tol,
        max_iter=max_iter, se_method=se_method, progress=progress, init=init))


def _public_fit(comparisons, model: str, link: str, free_variance: bool, kwargs: dict):
    settings = {f.name for f in fields(FitRun)} | {"order_effect", "prior", "solver", "tol", "max_iter"}
    unknown = set(kwargs) - settings
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {sorted(unknown)}")
    order_effect = kwargs.pop("order_effect", "auto")
    if order_effect not in (True, False, "auto"):
        raise ValueError(f"order_effect: expected True, False or 'auto', got {order_effect!r}")
    prior = kwargs.pop("prior", "default")
    prior = DEFAULT_PRIOR if isinstance(prior, str) and prior == "default" else prior
    spec = FitSpec(model, link, free_variance, order_effect, prior, kwargs.pop("solver", "auto"),
                   kwargs.pop("tol", 1e-9), kwargs.pop("max_iter", None))
    return _fit(comparisons, spec, FitRun(**kwargs))


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
    return _public_fit(comparisons, "case_v", "probit", False, dict(prior=prior, **kwargs))


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
    return _public_fit(comparisons, "bradley_terry", "logit", False, dict(prior=prior, **kwargs))
