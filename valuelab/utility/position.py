"""Position bias: how much the order of presentation, not the options, drives a model's answers.

A chooser that reads the options answers the same pair the same way in both orders; a model
that picks whatever is shown first (small chat models often do) gives answers whose fitted
utilities are noise, however many prompts were asked. :func:`position_bias` measures it,
:func:`position_bias_note` turns the measure into advice, and :func:`warn_position_bias` says
so once, as a :class:`PositionBiasWarning`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..schema import combine_validated, validate_comparisons

__all__ = ["PositionBiasWarning", "position_bias", "position_bias_note", "warn_position_bias",
           "CONSISTENT_BELOW", "FIRST_SHARE_ABOVE"]

#: warn when fewer than this share of pairs asked in both orders keep their winner
CONSISTENT_BELOW = 0.10
#: warn (for answers in one order only) when more than this share goes to one position
FIRST_SHARE_ABOVE = 0.90
_MIN_PAIRS = 5
_MIN_ROWS = 10


class PositionBiasWarning(UserWarning):
    """A model's answers follow where an option is shown rather than what it is."""


def position_bias(comparisons: pd.DataFrame) -> pd.Series:
    """How much the presentation order drives a model's answers.

    Parameters
    ----------
    comparisons : DataFrame
        With ``shown_first`` (as returned by :func:`valuelab.elicit_comparisons`).

    Returns
    -------
    Series
        ``p_first``: mean share of answers (or probability) going to the option shown first
        (0.5 without position bias); ``consistent_pairs``: share of pairs asked in both
        orders whose preferred option is the same in both (1 for an order-blind chooser,
        0 when the first-shown option always wins); ``n_pairs_both_orders``; ``n_rows``.
    """
    df = validate_comparisons(comparisons)
    if not (df["first"] != 0).any():
        raise ValueError("comparisons: no 'shown_first' or 'order' column; position bias needs the order shown")
    known = df[df["first"] != 0]
    n = known["n_a"] + known["n_b"]
    first_share = np.where(known["first"] > 0, known["n_a"], known["n_b"]) / n
    pooled = combine_validated(known, keep_order=True)
    share = pooled["n_a"] / (pooled["n_a"] + pooled["n_b"])
    key = list(zip(pooled["option_a"], pooled["option_b"]))
    wide = pd.DataFrame({"key": key, "first": pooled["first"], "share": share}).pivot_table(
        index="key", columns="first", values="share", aggfunc="mean")
    both = wide.dropna() if {1, -1} <= set(wide.columns) else wide.iloc[:0]
    consistent = ((both[1] > 0.5) == (both[-1] > 0.5)).mean() if len(both) else np.nan
    return pd.Series({"p_first": float(np.mean(first_share)), "consistent_pairs": float(consistent),
                      "n_pairs_both_orders": int(len(both)), "n_rows": int(len(known))})


def position_bias_note(stats: pd.Series) -> str | None:
    """Advice when :func:`position_bias` says the answers follow the position; else None.

    The answers count as following the position when fewer than 10% of at least 5 pairs
    asked in both orders keep their winner across the orders (``CONSISTENT_BELOW``), or,
    without such pairs, when more than 90% of the answers in at least 10 rows go to the
    option shown first, or to the one shown second (``FIRST_SHARE_ABOVE``).

    Parameters
    ----------
    stats : Series
        What :func:`position_bias` returns.

    Returns
    -------
    str or None
    """
    p_first, consistent = float(stats["p_first"]), float(stats["consistent_pairs"])
    n_both, n_rows = int(stats["n_pairs_both_orders"]), int(stats["n_rows"])
    advice = ("The utilities fitted to these answers are mostly noise: try another template (template=...), a "
              "larger model, or option-order controls (orders='both', kept in the fit as the order effect).")
    if n_both >= _MIN_PAIRS and np.isfinite(consistent) and consistent < CONSISTENT_BELOW:
        which, share = ("first", p_first) if p_first >= 0.5 else ("second", 1 - p_first)
        return (f"the answers follow the presentation position, not the options: only {consistent:.0%} of the "
                f"{n_both} pairs asked in both orders keep their winner when the order is swapped (the option "
                f"shown {which} wins; it gets {share:.0%} of the answer mass on average). " + advice)
    if n_both < _MIN_PAIRS and n_rows >= _MIN_ROWS and max(p_first, 1 - p_first) > FIRST_SHARE_ABOVE:
        which = "first" if p_first > 0.5 else "second"
        return (f"the answers follow the presentation position: {max(p_first, 1 - p_first):.0%} of the answer "
                f"mass in {n_rows} prompts goes to the option shown {which}. " + advice)
    return None


def warn_position_bias(comparisons: pd.DataFrame, *, where: str, stacklevel: int = 3) -> pd.Series | None:
    """Warn once (:class:`PositionBiasWarning`) when the answers follow the presentation position.

    Parameters
    ----------
    comparisons : DataFrame
        With ``shown_first``; tables without a known order are not checked.
    where : str
        The calling function's name, which starts the message.
    stacklevel : int
        Passed to ``warnings.warn`` (3: the caller's caller).

    Returns
    -------
    Series or None
        The :func:`position_bias` measures, or None when the order is unknown.
    """
    if comparisons is None or len(comparisons) == 0 or "shown_first" not in comparisons:
        return None
    try:
        stats = position_bias(comparisons)
    except ValueError:
        return None
    note = position_bias_note(stats)
    if note:
        warnings.warn(f"{where}: {note}", PositionBiasWarning, stacklevel=stacklevel)
    return stats
