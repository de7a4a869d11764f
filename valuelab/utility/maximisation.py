"""Utility maximisation: does a model's free choice from a set pick its highest-utility option?

References
----------
.. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640 (utility maximisation in open-ended choices).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

from ..schema import plain_value, require_columns
from ..stats import poisson_binomial_sf, wilson_interval
from ..summary import Summary, SummaryDisplay
from .results import utility_table

__all__ = ["utility_maximisation", "MaximisationResult"]


@dataclass(repr=False)
class MaximisationResult(SummaryDisplay):
    """How often an agent's free choice from a set picks its highest-utility option.

    Attributes
    ----------
    sets : DataFrame
        Indexed by ``set_id``: ``chosen`` (option id), ``best`` (highest-utility option),
        ``maximised`` (bool), ``set_size``, ``chosen_rank`` (1 = highest utility),
        ``p_best`` (probability that an agent with these utilities and variances picks
        ``best``; NaN without variances).
    overall : Series
        ``rate`` (share of sets where the choice maximised utility), ``ci_low``, ``ci_high``
        (Wilson, for the probability that a choice from such a set maximises; sets are the
        sampling unit), ``chance`` (expected rate when choosing uniformly at random: mean of
        ``1 / set_size``), ``p_value`` (exact one-sided test of the rate against chance,
        Poisson-binomial over sets), ``expected_rate`` (mean of ``p_best``: the rate of an
        agent choosing by its fitted utilities), ``p_value_utilities`` (exact two-sided
        Poisson-binomial test of the rate against ``p_best``: small when the choices do not
        follow the utilities), ``n_sets``, ``mean_chosen_rank``.
    """

    sets: pd.DataFrame
    overall: pd.Series

    def summary(self) -> Summary:
        """The rate, its interval and both tests, as text, HTML or LaTeX."""
        return Summary("Utility maximisation", self.overall.to_dict())

    def plot(self, **kwargs):
        """How often the chosen option had each utility rank in its set (plotly Figure)."""
        from .plots import plot_maximisation

        return plot_maximisation(self, **kwargs)


@functools.lru_cache(maxsize=4)
def _hermite(n_nodes: int):
    return np.polynomial.hermite.hermgauss(n_nodes)


def max_probability(mean: np.ndarray, sd: np.ndarray, n_nodes: int = 128) -> np.ndarray:
    """P(the first of independent normal draws is the largest), one row per set.

    ``mean`` and ``sd`` are (sets x options) with the option of interest in column 0; the
    integral ``E[prod_j Phi((U_0 - mu_j) / sd_j)]`` over ``U_0 ~ N(mu_0, sd_0^2)`` is taken by
    Gauss–Hermite quadrature.
    """
    x, w = _hermite(n_nodes)
    u = mean[:, :1, None] + np.sqrt(2.0) * sd[:, :1, None] * x  # sets x 1 x nodes
    others = ndtr((u - mean[:, 1:, None]) / sd[:, 1:, None]).prod(axis=1)  # sets x nodes
    return np.clip(others @ w / np.sqrt(np.pi), 0.0, 1.0)


def utility_maximisation(choices: pd.DataFrame, *, fit, alpha: float = 0.05) -> MaximisationResult:
    """How often the chosen option is the one with the highest fitted utility in its set.

    Two tests go with the rate. Against *chance*: does the agent pick its best option more
    often than a uniform random choice would? And against *its own utilities*: a Thurstonian
    agent choosing from a set draws ``U_i ~ N(mean_i, variance_i)`` for each option and takes
    the largest, so it picks its highest-mean option only with probability ``P(U_best is the
    largest)``; a choice that maximises more (or less) often than that is not explained by
    the utilities its pairwise answers gave.

    Parameters
    ----------
    choices : DataFrame
        One row per option offered in a choice set: ``set_id``, ``option_id``, ``chosen``
        (True for exactly one option per set).
    fit : ThurstonianResult or DataFrame
        The fitted utilities: a fit, or a table indexed by option id with ``mean`` (and
        ``variance`` for the second test).
    alpha : float
        1 - confidence level of the rate's interval.

    Returns
    -------
    MaximisationResult
        ``sets`` (one row per choice set) and ``overall`` (the rate and its tests).

    Notes
    -----
    The probabilities ``p_best`` use the fitted utilities as if they were exact; with
    utilities from a few hundred pairs the test keeps its size (see the calibration tests),
    with very noisy fits it rejects a little too often.

    References
    ----------
    .. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling
       Emergent Value Systems in AIs. arXiv:2502.08640.
    .. [2] Thurstone, L. L. (1927). A law of comparative judgment. *Psychological Review*
       34(4), 273–286 (choice from a set as the largest of random utilities).
    .. [3] Hong, Y. (2013). On computing the distribution function for the Poisson binomial
       distribution. *Computational Statistics & Data Analysis* 59, 41–51.
    """
    table = utility_table(fit)
    require_columns(choices, "choices", ("set_id", "option_id", "chosen"), "set_id, option_id, chosen")
    missing = ~choices["option_id"].isin(table.index)
    if missing.any():
        row = int(np.flatnonzero(missing.to_numpy())[0])
        raise ValueError(f"choices row {row}: option {plain_value(choices['option_id'].iloc[row])!r} has no fitted utility")
    if choices["chosen"].dtype != bool:
        raise ValueError(f"choices: 'chosen' must be boolean, got dtype {choices['chosen'].dtype}")
    n_chosen = choices.groupby("set_id")["chosen"].sum()
    wrong = n_chosen[n_chosen != 1]
    if len(wrong):
        raise ValueError(f"choices: set {plain_value(wrong.index[0])!r} has {int(wrong.iloc[0])} chosen options; expected exactly 1")
    has_var = "variance" in table.columns and bool(np.isfinite(table["variance"]).all() and (table["variance"] > 0).all())
    df = choices.assign(utility=table["mean"].reindex(choices["option_id"]).to_numpy())
    df["sd"] = np.sqrt(table["variance"].reindex(choices["option_id"]).to_numpy()) if has_var else np.nan
    df["rank"] = df.groupby("set_id")["utility"].rank(ascending=False, method="min")
    # best first within each set (ties: the first listed), sets in order of first appearance
    df["_set"] = pd.factorize(df["set_id"])[0]
    df = df.iloc[np.lexsort((-df["utility"].to_numpy(), df["_set"].to_numpy()))]
    first = df.groupby("_set", sort=True)
    chosen = df[df["chosen"]].set_index("_set").sort_index()
    sets = pd.DataFrame({"chosen": chosen["option_id"].to_numpy(), "best": first["option_id"].first().to_numpy(),
                         "maximised": (chosen["rank"] == 1).to_numpy(), "set_size": first.size().to_numpy(),
                         "chosen_rank": chosen["rank"].astype(int).to_numpy(), "p_best": np.nan},
                        index=pd.Index(first["set_id"].first().to_numpy(), name="set_id"))
    if has_var:
        pos = first.cumcount().to_numpy()
        for size in np.unique(sets["set_size"]):  # sets of one size at once, best option in column 0
            rows = np.flatnonzero(sets["set_size"].to_numpy() == size)
            sel = np.isin(df["_set"].to_numpy(), rows)
            shape = (len(rows), size)
            mean = np.empty(shape)
            sd = np.empty(shape)
            r = np.searchsorted(rows, df["_set"].to_numpy()[sel])
            mean[r, pos[sel]] = df["utility"].to_numpy()[sel]
            sd[r, pos[sel]] = df["sd"].to_numpy()[sel]
            sets.iloc[rows, sets.columns.get_loc("p_best")] = max_probability(mean, sd)
    k, n = int(sets["maximised"].sum()), len(sets)
    lo, hi = wilson_interval(k, n, alpha=alpha)
    chance = 1.0 / sets["set_size"].to_numpy()
    p_util = np.nan
    if has_var:
        p_best = sets["p_best"].to_numpy()
        p_util = min(1.0, 2 * min(poisson_binomial_sf(k, p_best), 1.0 - poisson_binomial_sf(k + 1, p_best)))
    overall = pd.Series({"rate": k / n, "ci_low": lo, "ci_high": hi, "chance": float(chance.mean()),
                         "p_value": poisson_binomial_sf(k, chance),
                         "expected_rate": float(sets["p_best"].mean()) if has_var else np.nan,
                         "p_value_utilities": p_util, "n_sets": n,
                         "mean_chosen_rank": float(sets["chosen_rank"].mean())})
    return MaximisationResult(sets, overall)
