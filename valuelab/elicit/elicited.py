"""What an elicitation returns: its tidy table and the responses behind it, by name.

Each result is a named tuple, so ``comparisons, responses = elicit_comparisons(...)`` keeps
working, and ``result.comparisons`` reads better in a notebook; ``summary()`` counts what
was asked, answered, refused and read from the cache.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pandas as pd

from ..summary import Summary
from ..utility.position import position_bias, position_bias_note

__all__ = ["ElicitedComparisons", "ElicitedChoices", "ElicitedUtilities", "responses_summary"]


def responses_summary(title: str, responses: pd.DataFrame, facts: dict | None = None) -> Summary:
    """Counts over a responses table: prompts, cached answers, refusals and unparsed answers.

    Parameters
    ----------
    title : str
    responses : DataFrame
        One row per model call (the responses table of the elicitation functions).
    facts : dict, optional
        Further facts listed first.

    Returns
    -------
    Summary
    """
    out = dict(facts or {})
    out["prompts"] = len(responses)
    for col, name in (("cached", "read from the cache"), ("n_refused", "refused answers"),
                      ("n_unparsed", "unparsed answers")):
        if col in responses:
            out[name] = int(responses[col].sum())
    if "model" in responses and len(responses):
        out["model"] = ", ".join(map(str, pd.unique(responses["model"])))
    return Summary(title, out)


class ElicitedComparisons(NamedTuple):
    """Pairwise comparisons from :func:`valuelab.elicit_comparisons`.

    Attributes
    ----------
    comparisons : DataFrame
        One row per prompt with a usable answer (the comparisons table).
    responses : DataFrame
        One row per prompt (the responses table).
    """

    comparisons: pd.DataFrame
    responses: pd.DataFrame

    def summary(self) -> Summary:
        """Counts of prompts, comparisons, cached answers and refusals, and the position bias."""
        facts = {"comparison rows": len(self.comparisons)}
        notes = []
        if "shown_first" in self.comparisons and len(self.comparisons):
            try:
                stats = position_bias(self.comparisons)
            except ValueError:
                stats = None
            if stats is not None:
                if stats["n_pairs_both_orders"]:
                    facts["pairs keeping their winner across orders"] = (
                        f"{stats['consistent_pairs']:.0%} of {int(stats['n_pairs_both_orders'])}")
                facts["answer mass on the option shown first"] = f"{stats['p_first']:.0%}"
                note = position_bias_note(stats)
                if note:
                    notes.append(f"Position bias: {note}")
        out = responses_summary("Elicited comparisons", self.responses, facts)
        out.notes.extend(notes)
        return out

    def __str__(self) -> str:
        return self.summary().as_text()

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return self.summary().as_html()


class ElicitedChoices(NamedTuple):
    """Dilemma choices from :func:`valuelab.frameworks.elicit_dilemma_choices`.

    Attributes
    ----------
    choices : DataFrame
        One row per dilemma (the choices table).
    responses : DataFrame
        One row per model call (the responses table).
    """

    choices: pd.DataFrame
    responses: pd.DataFrame

    def summary(self) -> Summary:
        """Counts of dilemmas, undecided dilemmas, prompts, cached answers and refusals."""
        undecided = int(self.choices["choice"].isna().sum()) if "choice" in self.choices else 0
        return responses_summary("Elicited dilemma choices", self.responses,
                                 {"dilemmas": len(self.choices), "no usable answer or a tie": undecided})

    def __str__(self) -> str:
        return self.summary().as_text()

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return self.summary().as_html()


class ElicitedUtilities(NamedTuple):
    """Utilities fitted to elicited comparisons, from :func:`valuelab.elicit_utilities`.

    Attributes
    ----------
    fit : ThurstonianResult
    comparisons : DataFrame
    responses : DataFrame
    """

    fit: Any
    comparisons: pd.DataFrame
    responses: pd.DataFrame

    def summary(self) -> Summary:
        """The fit's summary (the elicitation's counts are in ``ElicitedComparisons.summary``)."""
        return self.fit.summary()

    def __str__(self) -> str:
        return self.summary().as_text()

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return self.summary().as_html()
