"""The result of a utility fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..schema import ComparisonData, plain_value, row_name, validate_comparisons
from ..summary import Summary, SummaryDisplay
from .likelihood import PairwiseLikelihood
from .optimize import SolverInfo
from .position import position_bias, position_bias_note
from .uncertainty import standardise

#: A variance below this fraction of the median variance counts as on the boundary (0).
BOUNDARY_RATIO = 1e-3

_UNCERTAINTY_NAMES = {
    "wald": "Wald (observed information)",
    "sandwich": "sandwich (robust, clustered by pair)",
    "bootstrap": "Bayesian bootstrap over pairs",
    None: "none",
}

_MODEL_NAMES = {
    "thurstonian": "Thurstonian (free variances, probit)",
    "case_v": "Thurstone case V (shared variance, probit)",
    "bradley_terry": "Bradley-Terry (logit)",
}


class ThurstonianResult(SummaryDisplay):
    """Fitted utilities with their uncertainty.

    Attributes
    ----------
    utilities : DataFrame
        Indexed by option id. ``mean``: utility, standardised to mean 0 and sd 1 across
        options; ``variance``: the option's utility variance on that scale (NaN for
        Bradley–Terry); ``se_mean``, ``ci_low``, ``ci_high``: standard error and confidence
        interval of ``mean``; ``se_variance``; ``n_obs``: observations involving the option;
        then the attributes of the options table, if one was given.
    uncertainty : {"wald", "sandwich", "bootstrap"} or None
        The one method every uncertainty column and the covariance come from (see
        :mod:`valuelab.utility.uncertainty`). With "bootstrap", ``ci_low``/``ci_high`` and the
        order effect's interval are percentile intervals of the replicates and the standard
        errors and covariance are those of the replicates; ``bootstrap`` holds the draws.
        Intervals are ``estimate +- z se`` for every method (with the bootstrap, percentile
        intervals from a few hundred replicates are too narrow at 95%: their 2.5% quantile
        sits among the few most extreme draws).
    covariance : ndarray or None
        Covariance of the standardised parameters, in the order: means, variances (probit
        models), order effect (when estimated); None without standard errors.
        ``covariance_mean`` is its means block as a DataFrame labelled by option. Both are
        computed on first use when the standard errors came from the scalable route (large
        fits, see :mod:`valuelab.utility.sparse_covariance`); a fit too large for a dense
        matrix raises ``MemoryError`` there: use :meth:`covariance_of` for the options a
        contrast needs.
    boundary_options, at_boundary : Index, bool
        Options whose variance went to 0 (a maximum-likelihood fit on the boundary).
    n_pooled_rows : int
        Rows of unknown presentation order, fitted as a mixture of the two orders.
    order_effect : float
        Position bias: utility added to the option shown first (standardised units; 0 when
        not estimated). ``order_effect_se`` and ``order_effect_ci`` go with it (with free
        variances and the default prior, which favours equal variances, the Wald interval
        is conservative: 98.5% coverage measured for a nominal 95%).
    loglike : float
        Log-likelihood at the estimate (without the prior).
    n_obs : float
        Number of observations (sum of counts).
    n_params : int
        Free parameters net of the gauge (location, and scale for free variances).
    converged : bool
    iterations, grad_norm : solver diagnostics (see ``info`` for all).
    model : str
        "thurstonian", "case_v" or "bradley_terry".
    prior : Prior or None
    """

    def __init__(self, *, likelihood: PairwiseLikelihood, theta: np.ndarray, info: SolverInfo, spec,
                 covariance: np.ndarray | None, bootstrap, alpha: float, uncertainty, option_table, se_note,
                 scalable=None, variances: np.ndarray | None = None):
        self._lik = likelihood
        self._theta = theta
        self._spec = spec
        self.info = info
        self.model = spec.model
        self.prior = likelihood.prior
        self.alpha = alpha
        self.uncertainty = uncertainty
        self.se_note = se_note
        data = likelihood.data
        self.options = data.options
        n = data.n_options
        std = standardise(likelihood, theta)
        mu_s, var_s, gamma_s = std.mean, std.variance, std.order_effect
        self._shift, self._scale = std.shift, std.scale
        if likelihood.link == "logit":
            var_s = np.full(n, np.nan)
        z = norm.ppf(1 - alpha / 2)
        se_mu = np.full(n, np.nan)
        se_var = np.full(n, np.nan)
        se_gamma = np.nan
        self._covariance = covariance
        self._scalable = scalable
        if covariance is not None:
            variances = np.diag(covariance)
        if variances is not None:
            d = np.sqrt(np.clip(variances, 0, None))
            se_mu = d[:n]
            if likelihood.link == "probit":
                se_var = d[n : 2 * n]
            if likelihood.order_effect:
                se_gamma = d[-1]
        lo, hi = mu_s - z * se_mu, mu_s + z * se_mu
        g_lo, g_hi = gamma_s - z * se_gamma, gamma_s + z * se_gamma
        self.bootstrap = bootstrap
        self.bootstrap_means = None
        if bootstrap is not None and len(bootstrap.draws) >= 2:
            self.bootstrap_means = pd.DataFrame(bootstrap.draws[:, :n], columns=data.options)
        n_obs_opt = np.bincount(data.a, data.n_a + data.n_b, n) + np.bincount(data.b, data.n_a + data.n_b, n)
        table = pd.DataFrame(
            {"mean": mu_s, "variance": var_s, "se_mean": se_mu, "ci_low": lo, "ci_high": hi,
             "se_variance": se_var, "n_obs": n_obs_opt},
            index=pd.Index(data.options, name="option_id"),
        )
        if option_table is not None:
            # attributes that share a result column's name keep their values under "option_<name>"
            clash = {c: f"option_{c}" for c in option_table.columns if c in table.columns}
            table = table.join(option_table.rename(columns=clash), how="left")
        self.utilities = table
        self.order_effect = float(gamma_s) if likelihood.order_effect else 0.0
        self.order_effect_se = float(se_gamma) if likelihood.order_effect else np.nan
        self.order_effect_ci = (float(g_lo), float(g_hi)) if likelihood.order_effect else (np.nan, np.nan)
        self.loglike = likelihood.loglike(theta)
        self.n_obs = data.n_obs
        self.n_pairs = likelihood.source.n_rows
        self.n_pooled_rows = likelihood.n_pooled_rows
        gauge = 2 if likelihood.free_variance else 1
        self.n_params = likelihood.n_params - gauge
        self.converged = info.converged
        self.iterations = info.iterations
        self.grad_norm = info.grad_norm
        self.boundary_options = self._boundary(var_s)

    # ------------------------------------------------------------------ covariance
    @property
    def covariance(self) -> np.ndarray | None:
        """Covariance of the standardised parameters (means, variances, order effect)."""
        if self._covariance is None and self._scalable is not None:
            self._covariance = self._scalable.dense()
        return self._covariance

    @property
    def covariance_mean(self) -> pd.DataFrame | None:
        """The means block of :attr:`covariance`, labelled by option."""
        cov = self.covariance
        if cov is None:
            return None
        n = len(self.options)
        return pd.DataFrame(cov[:n, :n], index=self.options, columns=self.options)

    def _rows(self, options, parameters) -> tuple[np.ndarray, pd.Index]:
        n = len(self.options)
        ids = self.options if options is None else pd.Index(options)
        pos = self.options.get_indexer(ids)
        if (pos < 0).any():
            raise ValueError(f"options: {plain_value(ids[np.flatnonzero(pos < 0)[0]])!r} was not in the fit")
        names = (parameters,) if isinstance(parameters, str) else tuple(parameters)
        offsets = {"mean": 0}
        if self._lik.link == "probit":
            offsets["variance"] = n
        bad = [p for p in names if p not in offsets]
        if bad:
            raise ValueError(f"parameters: expected some of {sorted(offsets)}, got {bad[0]!r}")
        rows = np.concatenate([pos + offsets[p] for p in names])
        if len(names) == 1:
            return rows, pd.Index(ids)
        return rows, pd.MultiIndex.from_product([names, ids], names=["parameter", "option_id"])

    def covariance_of(self, options=None, *, parameters="mean") -> pd.DataFrame:
        """Covariance of the standardised parameters of some options, computed as needed.

        The covariance a contrast needs (a difference of two utilities, an exchange rate
        from a few options' utilities) without the covariance of all options. For a fit whose
        standard errors took the scalable route it is exact (one conjugate-gradient solve
        per option and parameter; the sandwich's leverage correction uses the approximate
        leverages of :mod:`valuelab.utility.sparse_covariance`); otherwise it is a block of
        :attr:`covariance`.

        Parameters
        ----------
        options : list-like, optional
            Option ids (default: all options).
        parameters : {"mean", "variance"} or a list of them
            Which standardised parameters; with several, rows and columns are a
            ``(parameter, option_id)`` MultiIndex.

        Returns
        -------
        DataFrame
            Square, labelled by option id on both axes.

        Raises
        ------
        ValueError
            The fit has no standard errors, or an option was not in the fit.
        """
        if self.uncertainty is None or (self._covariance is None and self._scalable is None):
            raise ValueError("the fit has no covariance; fit with uncertainty='auto' (or 'wald', 'sandwich', "
                             "'bootstrap')")
        rows, labels = self._rows(options, parameters)
        if self._covariance is not None:
            block = self._covariance[np.ix_(rows, rows)]
        else:
            block = self._scalable.rows_covariance(rows)
        return pd.DataFrame(block, index=labels, columns=labels)

    def _boundary(self, var_s: np.ndarray) -> pd.Index:
        """Options whose variance collapsed towards 0 (a maximum-likelihood fit on the boundary)."""
        if not self._lik.free_variance:
            return self.options[:0]
        ref = np.median(var_s)
        return self.options[var_s < BOUNDARY_RATIO * ref]

    @property
    def at_boundary(self) -> bool:
        """True when some variance lies on the boundary of the parameter space (0).

        Then the estimate is a maximum on the boundary: the gradient need not vanish there,
        Wald intervals for those options are meaningless and a chi-square reference for a
        likelihood-ratio test does not hold (:func:`valuelab.compare_fits` uses a
        parametric bootstrap). It happens with ``prior=None`` when a variance is poorly
        identified; the default prior keeps variances inside.
        """
        return len(self.boundary_options) > 0

    # ------------------------------------------------------------------ derived
    @property
    def aic(self) -> float:
        """Akaike information criterion, ``2 k - 2 loglike``."""
        return 2 * self.n_params - 2 * self.loglike

    @property
    def bic(self) -> float:
        """Bayesian information criterion, ``k log n - 2 loglike`` (n = observations)."""
        return self.n_params * np.log(self.n_obs) - 2 * self.loglike

    def _option_codes(self, checked: pd.DataFrame, source: pd.DataFrame, table: str):
        """Codes of ``checked``'s options among the fitted ones; an unfitted option raises,
        naming the row of ``source`` (the user's table, row for row like ``checked``)."""
        codes = []
        for col in ("option_a", "option_b"):
            code = self.options.get_indexer(checked[col])
            bad = np.flatnonzero(code < 0)
            if bad.size:
                raise ValueError(
                    f"{table} {row_name(source, int(bad[0]))}, column {col!r}: option "
                    f"{plain_value(checked[col].iat[bad[0]])!r} was not in the fit"
                )
            codes.append(code)
        return codes

    def _encode(self, pairs: pd.DataFrame) -> ComparisonData:
        if not isinstance(pairs, pd.DataFrame):
            raise TypeError(f"pairs must be a DataFrame with option_a and option_b, got {type(pairs).__name__}")
        # only the options and the order matter for a prediction; outcome columns are ignored
        keep = [c for c in ("option_a", "option_b", "shown_first", "order") if c in pairs.columns]
        df = validate_comparisons(pairs[keep].assign(n_a=1.0, n_b=0.0))
        a, b = self._option_codes(df, pairs, "pairs")
        return ComparisonData(self.options, a, b, df["n_a"].to_numpy(), df["n_b"].to_numpy(),
                              df["first"].to_numpy(dtype=np.int8))

    def predict_proba(self, pairs: pd.DataFrame) -> pd.Series:
        """Probability that ``option_a`` is preferred, for each row of ``pairs``.

        Parameters
        ----------
        pairs : DataFrame
            ``option_a``, ``option_b`` and optionally ``shown_first``/``order`` (used when
            the fit has an order effect; a row without it gets the average of the
            probabilities in the two orders).

        Returns
        -------
        Series
            ``p_a``, aligned with ``pairs.index``.
        """
        data = self._encode(pairs)
        p = self._lik.predict(self._theta, data)
        return pd.Series(p, index=pairs.index, name="p_a")

    # ------------------------------------------------------------------ display
    def summary(self, top: int = 10) -> Summary:
        """Model facts, the order effect and the highest and lowest utilities.

        Returns
        -------
        Summary
            Renders as HTML in Jupyter; ``as_text()``, ``as_latex()``.
        """
        facts = {
            "Model": _MODEL_NAMES[self.model],
            "Estimation": "MAP (weak Gaussian priors)" if self.prior is not None else "maximum likelihood",
            "Options": len(self.options),
            "Pairs (rows)": self.n_pairs,
            "Observations": self.n_obs,
            "Log-likelihood": self.loglike,
            "AIC": self.aic,
            "Converged": self.converged,
            "Iterations": self.iterations,
            "Gradient max-norm": self.grad_norm,
            "Uncertainty": _UNCERTAINTY_NAMES[self.uncertainty] + (f", {100 * (1 - self.alpha):.0f}% intervals"
                                                                   if self.uncertainty else ""),
        }
        if self._scalable is not None and type(self._scalable).__name__ == "ScalableCovariance":
            facts["Standard errors"] = ("scalable route: belief propagation for each option's own block, exact "
                                        "solves for the rest (valuelab.utility.sparse_covariance)")
        if self.n_pooled_rows:
            facts["Rows pooling both orders"] = f"{self.n_pooled_rows} (fitted as a mixture of the two orders)"
        if self.at_boundary:
            facts["Boundary"] = (f"{len(self.boundary_options)} variance(s) at 0: the maximum lies on the boundary; "
                                 "Wald intervals and chi-square tests do not apply")
        if self._lik.order_effect:
            lo, hi = self.order_effect_ci
            facts["Order effect (first shown)"] = (
                f"{self.order_effect:.4f} (se {self.order_effect_se:.4f}; CI {lo:.4f} to {hi:.4f})"
            )
        position_note = self._position_note()
        if position_note:
            facts["Position bias"] = "the answers follow the order shown (see the note)"
        cols = ["mean", "se_mean", "ci_low", "ci_high", "variance", "n_obs"]
        ranked = self.utilities.sort_values("mean", ascending=False)[cols]
        table = ranked if len(ranked) <= 2 * top else pd.concat([ranked.head(top), ranked.tail(top)])
        notes = [self.se_note] if self.se_note else []
        if position_note:
            notes.insert(0, f"Position bias: {position_note}")
        if self.bootstrap is not None:
            b = self.bootstrap
            notes.append(f"{len(b.draws)} of {b.n_requested} bootstrap replicates converged"
                         + (f" ({b.n_failed} discarded)" if b.n_failed else ""))
        return Summary("Utility fit", facts, {"Utilities (highest and lowest)": table}, notes)

    def _position_note(self) -> str | None:
        """Advice when the fitted answers follow the presentation order (rows with a known order)."""
        if not hasattr(self, "_position_cache"):
            d = self._lik.source
            first = np.asarray(d.first)
            known = first != 0
            note = None
            if known.sum():
                labels = np.asarray(d.options, dtype=object)
                a, b = labels[np.asarray(d.a)[known]], labels[np.asarray(d.b)[known]]
                table = pd.DataFrame({"option_a": a, "option_b": b,
                                      "shown_first": np.where(first[known] > 0, a, b),
                                      "n_a": np.asarray(d.n_a, float)[known], "n_b": np.asarray(d.n_b, float)[known]})
                try:
                    note = position_bias_note(position_bias(table))
                except ValueError:
                    note = None
            self._position_cache = note
        return self._position_cache

    # print(fit), fit at a Python prompt and Jupyter show the summary (SummaryDisplay).

    def plot(self, kind: str = "utilities", **kwargs):
        """Plot the fit.

        Parameters
        ----------
        kind : {"utilities", "calibration"}
            "utilities": means with intervals, sorted. "calibration": predicted against
            observed preference rates; needs ``comparisons=`` (e.g. held-out data).
        **kwargs
            Passed to :func:`valuelab.viz.plot_utilities` or
            :func:`valuelab.viz.plot_calibration`.

        Returns
        -------
        plotly.graph_objects.Figure
        """
        from . import plots as viz

        if kind == "utilities":
            return viz.plot_utilities(self.utilities, **kwargs)
        if kind == "calibration":
            from .evaluate import calibration_table

            comparisons = kwargs.pop("comparisons", None)
            if comparisons is None:
                raise ValueError("plot(kind='calibration') needs comparisons=... (the pairs to check)")
            return viz.plot_calibration(calibration_table(comparisons, fit=self, bins=kwargs.pop("bins", 10)), **kwargs)
        raise ValueError(f"kind: expected 'utilities' or 'calibration', got {kind!r}")


def means_covariance(fit: ThurstonianResult, ids) -> pd.DataFrame | None:
    """Covariance of the standardised means of the options ``ids`` that ``fit`` has (None
    without standard errors), computed for those options only (:meth:`ThurstonianResult.covariance_of`)."""
    if fit.uncertainty is None or (fit._covariance is None and fit._scalable is None):
        return None
    ids = pd.Index(ids)
    return fit.covariance_of(ids[ids.isin(fit.options)].unique())


def utility_table(utilities, columns=("mean",)) -> pd.DataFrame:
    """The utilities table of a fit, or a utilities DataFrame as given, with ``columns`` checked.

    The coherence analyses take either a :class:`ThurstonianResult` (its ``utilities``, with
    the options' attributes when the fit was given ``options=``) or a DataFrame indexed by
    option id.
    """
    table = utilities.utilities if isinstance(utilities, ThurstonianResult) else utilities
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"utilities: expected a fit or a DataFrame, got {type(utilities).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"utilities: missing column(s) {missing}; pass a fit (made with options=... for the "
                         f"options' attributes) or a table indexed by option id with {', '.join(columns)}")
    return table


def named_fits(fits, more=(), *, minimum: int = 1) -> dict:
    """The fits an analysis of several fits was given, as an ordered dict of name -> fit.

    Accepts what a reader is likely to pass: a dict of name -> fit, a list of ``(name, fit)``
    pairs, a list of fits, or several fits one after another (``more``). Unnamed fits are
    named by their model (``"thurstonian"``, ``"case_v"``, ...) when those differ, else
    ``"fit 1"``, ``"fit 2"``, ...

    Parameters
    ----------
    fits : dict, list or a fit
    more : sequence
        Further fits given as positional arguments.
    minimum : int
        The fewest fits the analysis needs.

    Returns
    -------
    dict

    Raises
    ------
    TypeError
        When a dict is mixed with further positional fits.
    ValueError
        When fewer than ``minimum`` fits are given.
    """
    more = list(more)
    if isinstance(fits, dict):
        if more:
            raise TypeError("fits: give either one dict of name -> fit or the fits one after another "
                            "(e.g. compare_fits({'a': fit_a, 'b': fit_b}) or compare_fits(fit_a, fit_b)), not both")
        named = dict(fits)
    else:
        items = [fits, *more] if more or not isinstance(fits, (list, tuple)) else list(fits)
        pairs = all(isinstance(i, tuple) and len(i) == 2 and isinstance(i[0], str) for i in items)
        if pairs and items:
            named = dict(items)
        else:
            models = [getattr(f, "model", None) if isinstance(f, ThurstonianResult) else None for f in items]
            if all(m is not None for m in models) and len(set(models)) == len(models):
                named = dict(zip(models, items))
            else:
                named = {f"fit {i + 1}": f for i, f in enumerate(items)}
    if len(named) < minimum:
        raise ValueError(f"fits: expected at least {minimum} fit{'s' if minimum > 1 else ''}, got {len(named)} "
                         "(a dict of name -> fit, a list of fits, or the fits one after another)")
    return named
