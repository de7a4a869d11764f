"""Utility maximisation: does a model's free choice from a set pick its highest-utility option?

References
----------
.. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640 (utility maximisation in open-ended choices).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..schema import _plain, _require_columns
from ..stats import poisson_binomial_sf, wilson_interval
from .results import utility_table

__all__ = ["utility_maximisation"]


def utility_maximisation(utilities, choices: pd.DataFrame, *, alpha: float = 0.05):
    """How often the chosen option is the one with the highest fitted utility in its set.

    Parameters
    ----------
    utilities : ThurstonianResult or DataFrame
        Indexed by option id with ``mean``.
    choices : DataFrame
        One row per option offered in a choice set: ``set_id``, ``option_id``, ``chosen``
        (True for exactly one option per set).
    alpha : float

    Returns
    -------
    sets : DataFrame
        Indexed by ``set_id``: ``chosen`` (option id), ``best`` (highest-utility option),
        ``maximised`` (bool), ``set_size``, ``chosen_rank`` (1 = highest utility).
    summary : Series
        ``rate`` (share of sets where the choice maximised utility), ``ci_low``, ``ci_high``
        (Wilson), ``chance`` (expected rate when choosing uniformly at random: mean of
        ``1 / set_size``), ``p_value`` (exact one-sided test against chance, Poisson-binomial
        over sets), ``n_sets``, ``mean_chosen_rank``.

    References
    ----------
    .. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling
       Emergent Value Systems in AIs. arXiv:2502.08640.
    """
    table = utility_table(utilities)
    _require_columns(choices, "choices", ("set_id", "option_id", "chosen"), "set_id, option_id, chosen")
    missing = ~choices["option_id"].isin(table.index)
    if missing.any():
        row = int(np.flatnonzero(missing.to_numpy())[0])
        raise ValueError(f"choices row {row}: option {_plain(choices['option_id'].iloc[row])!r} has no fitted utility")
    if choices["chosen"].dtype != bool:
        raise ValueError(f"choices: 'chosen' must be boolean, got dtype {choices['chosen'].dtype}")
    n_chosen = choices.groupby("set_id")["chosen"].sum()
    wrong = n_chosen[n_chosen != 1]
    if len(wrong):
        raise ValueError(f"choices: set {_plain(wrong.index[0])!r} has {int(wrong.iloc[0])} chosen options; expected exactly 1")
    df = choices.assign(utility=table["mean"].reindex(choices["option_id"]).to_numpy())
    df["rank"] = df.groupby("set_id")["utility"].rank(ascending=False, method="min")
    rows = {}
    for set_id, grp in df.groupby("set_id", sort=False):
        chosen = grp.loc[grp["chosen"]].iloc[0]
        best = grp.loc[grp["utility"].idxmax()]
        rows[set_id] = {"chosen": chosen["option_id"], "best": best["option_id"],
                        "maximised": bool(chosen["rank"] == 1), "set_size": len(grp),
                        "chosen_rank": int(chosen["rank"])}
    sets = pd.DataFrame.from_dict(rows, orient="index")
    sets.index.name = "set_id"
    k, n = int(sets["maximised"].sum()), len(sets)
    lo, hi = wilson_interval(k, n, alpha=alpha)
    chance = 1.0 / sets["set_size"].to_numpy()
    summary = pd.Series({"rate": k / n, "ci_low": lo, "ci_high": hi, "chance": float(chance.mean()),
                         "p_value": poisson_binomial_sf(k, chance), "n_sets": n,
                         "mean_chosen_rank": float(sets["chosen_rank"].mean())})
    return sets, summary
