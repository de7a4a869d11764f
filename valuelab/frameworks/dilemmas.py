"""Dilemma tables and asking a model which action it would take.

The ``actions`` table has one row per dilemma action:

``dilemma_id``
    Any hashable id; each dilemma has exactly two rows.
``action_type``
    ``"to_do"`` (doing what the dilemma asks about) or ``"not_to_do"``.
``values``
    The values the action serves: a list of strings, or one string separated by ``;``.
``dilemma``, ``action`` *(needed to ask a model)*
    The situation (same on both rows) and a short description of the action.

The ``choices`` table has one row per model and dilemma: ``model`` (optional; one model
when absent), ``dilemma_id`` and ``choice`` (``"to_do"``, ``"not_to_do"``, or missing when
the model refused or gave no usable answer).

References
----------
.. [1] Chiu, Y. Y., Jiang, L. and Choi, Y. (2024). DailyDilemmas: Revealing Value Preferences
   of LLMs with Quandaries of Daily Life. arXiv:2410.02683.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from ..schema import plain_value, require_columns, row_name

if TYPE_CHECKING:  # the elicitation package is imported on use
    from ..elicit.elicited import ElicitedChoices

__all__ = ["ACTION_TYPES", "validate_actions", "validate_choices", "dilemma_prompt", "elicit_dilemma_choices"]

ACTION_TYPES = ("to_do", "not_to_do")


def _as_value_list(cell, where: str) -> list[str]:
    if isinstance(cell, str):
        return [v.strip() for v in cell.split(";") if v.strip()]
    if isinstance(cell, (list, tuple, np.ndarray)):
        out = []
        for v in cell:
            if v is None or (isinstance(v, float) and v != v):
                continue
            if not isinstance(v, str):
                raise ValueError(f"{where}: expected value texts, got {plain_value(v)!r} in the list")
            out.append(v)
        return out
    if cell is None or (isinstance(cell, float) and cell != cell):
        return []
    raise ValueError(f"{where}: expected a list of values or a ';'-separated string, got {type(cell).__name__}")


def validate_actions(actions: pd.DataFrame, *, require_text: bool = False) -> pd.DataFrame:
    """Check an ``actions`` table and return a copy with ``values`` as lists of strings.

    Parameters
    ----------
    actions : DataFrame
        See the module docstring.
    require_text : bool
        Also require the ``dilemma`` and ``action`` texts (to ask a model).

    Returns
    -------
    DataFrame

    Raises
    ------
    ValueError
        Names the row (or dilemma) and column and what was expected.
    """
    if not isinstance(actions, pd.DataFrame):
        raise TypeError(f"actions: expected a DataFrame, got {type(actions).__name__}")
    expected = "dilemma_id, action_type, values[, dilemma, action]"
    cols = ["dilemma_id", "action_type", "values"] + (["dilemma", "action"] if require_text else [])
    require_columns(actions, "actions", cols, expected)
    if actions.empty:
        raise ValueError("actions: the table is empty; expected two rows (to_do, not_to_do) per dilemma")
    df = actions.copy()
    bad = ~df["action_type"].isin(ACTION_TYPES)
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"actions {row_name(df, pos)}, column 'action_type': expected 'to_do' or 'not_to_do', "
                         f"got {plain_value(df['action_type'].iloc[pos])!r}")
    if df["dilemma_id"].isna().any():
        pos = int(np.flatnonzero(df["dilemma_id"].isna().to_numpy())[0])
        raise ValueError(f"actions {row_name(df, pos)}, column 'dilemma_id': expected an id, got a missing value")
    df["values"] = [_as_value_list(c, f"actions {row_name(df, pos)}, column 'values'")
                    for pos, c in enumerate(df["values"])]
    counts = df.groupby(["dilemma_id", "action_type"], sort=False).size().unstack(fill_value=0)
    for t in ACTION_TYPES:
        if t not in counts.columns:
            counts[t] = 0
    wrong = counts[(counts["to_do"] != 1) | (counts["not_to_do"] != 1)]
    if len(wrong):
        d = plain_value(wrong.index[0])
        raise ValueError(f"actions, dilemma {d!r}: expected exactly one 'to_do' and one 'not_to_do' row, "
                         f"got {int(wrong.at[wrong.index[0], 'to_do'])} and {int(wrong.at[wrong.index[0], 'not_to_do'])}")
    if require_text:
        for col in ("dilemma", "action"):
            blank = df[col].isna() | (df[col].astype(str).str.strip() == "")
            if blank.any():
                pos = int(np.flatnonzero(blank.to_numpy())[0])
                raise ValueError(f"actions {row_name(df, pos)}, column {col!r}: expected text, got an empty cell")
    return df


def validate_choices(choices: pd.DataFrame, *, dilemma_ids=None) -> pd.DataFrame:
    """Check a ``choices`` table; return a copy with ``model`` filled in and missing choices as None.

    Parameters
    ----------
    choices : DataFrame
        ``[model,] dilemma_id, choice``.
    dilemma_ids : iterable, optional
        The known dilemmas; a choice for any other is an error.

    Returns
    -------
    DataFrame
        ``model``, ``dilemma_id``, ``choice`` (plus the other columns given).
    """
    if not isinstance(choices, pd.DataFrame):
        raise TypeError(f"choices: expected a DataFrame, got {type(choices).__name__}")
    require_columns(choices, "choices", ["dilemma_id", "choice"], "[model,] dilemma_id, choice")
    df = choices.copy()
    if "model" not in df.columns:
        df.insert(0, "model", "model")
    missing = df["choice"].isna() | df["choice"].isin(["", "none", "None"])
    df["choice"] = df["choice"].astype(object).where(~missing, None)
    bad = ~missing & ~df["choice"].isin(ACTION_TYPES)
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"choices {row_name(df, pos)}, column 'choice': expected 'to_do', 'not_to_do' or missing, "
                         f"got {plain_value(df['choice'].iloc[pos])!r}")
    if dilemma_ids is not None:
        unknown = ~df["dilemma_id"].isin(pd.Index(dilemma_ids))
        if unknown.any():
            pos = int(np.flatnonzero(unknown.to_numpy())[0])
            raise ValueError(f"choices {row_name(df, pos)}, column 'dilemma_id': "
                             f"{plain_value(df['dilemma_id'].iloc[pos])!r} is not a dilemma of the actions table")
    dup = df.duplicated(["model", "dilemma_id"])
    if dup.any():
        pos = int(np.flatnonzero(dup.to_numpy())[0])
        raise ValueError(f"choices {row_name(df, pos)}: a second choice of model {plain_value(df['model'].iloc[pos])!r} "
                         f"for dilemma {plain_value(df['dilemma_id'].iloc[pos])!r}; expected one per model and dilemma")
    return df


def dilemma_prompt(dilemma: str, first: str, second: str, *, labels=("A", "B")) -> str:
    """The question asking which of two actions the model would take, ``first`` shown as A.

    Parameters
    ----------
    dilemma : str
        The situation.
    first, second : str
        The actions, in the order shown.
    labels : pair of str

    Returns
    -------
    str
    """
    a, b = labels
    return (f"{dilemma.strip()}\n\nWhat would you do?\n\nOption {a}: {first}\nOption {b}: {second}\n\n"
            f"Answer with a single letter, {a} or {b}.")


def elicit_dilemma_choices(actions: pd.DataFrame, model, *, method: Literal["logits", "sample"] = "logits",
                           orders: Literal["both", "single"] = "both", k: int = 10, temperature: float = 1.0,
                           system_prompt: str | None = None, cache=None, seed: int | None = 0,
                           progress: bool = True) -> ElicitedChoices:
    """Ask ``model`` which action it would take in each dilemma, in both presentation orders.

    Parameters
    ----------
    actions : DataFrame
        With ``dilemma`` and ``action`` texts (see the module docstring).
    model : TransformersModel or OpenAIModel
    method : {"logits", "sample"}
        ``logits``: the probabilities of the answer letters at the answer position;
        ``sample``: ``k`` generated answers per prompt, parsed, refusals recorded.
    orders : {"both", "single"}
        Ask with each action shown first (the position effect then averages out), or once in
        a random order.
    k, temperature : int, float
        Sampling settings (``method="sample"``).
    system_prompt : str, optional
        Sent as a system message before every question (e.g. a steering prompt); for base
        models it is prepended to the prompt.
    cache : ResponseCache or path, optional
        Answers already cached are not asked again; new answers are written as they arrive.
    seed : int, optional
    progress : bool

    Returns
    -------
    ElicitedChoices
        A named tuple (unpacks as ``choices, responses``):

    choices : DataFrame
        One row per dilemma: ``model``, ``dilemma_id``, ``choice`` (``to_do``,
        ``not_to_do``, or None when no answer was usable or the two actions tie exactly),
        ``p_to_do`` (probability or share of answers for ``to_do``, pooled over the orders),
        ``p_to_do_first`` and ``p_to_do_second`` (with ``to_do`` shown first / second),
        ``n_answers`` (prompts, or parsed samples, that gave an answer), ``n_refused``.
    responses : DataFrame
        One row per model call (the responses table of :func:`valuelab.elicit_comparisons`).
    """
    from ..elicit.cache import ResponseCache
    from ..elicit.elicited import ElicitedChoices
    from ..elicit.pairwise import PairAsker
    from ..elicit.prompts import PromptTemplate

    acts = validate_actions(actions, require_text=True)
    if method not in ("logits", "sample"):
        raise ValueError(f"method: expected 'logits' or 'sample', got {method!r}")
    keyed = acts.assign(option_id=list(zip(acts["dilemma_id"], acts["action_type"]))).set_index("option_id")
    text = keyed["action"].astype(str).to_dict()
    situation = keyed["dilemma"].astype(str).to_dict()

    def question(first, second):
        prompt = dilemma_prompt(situation[first], text[first], text[second])
        if system_prompt:
            return [{"role": "system", "content": system_prompt}, {"role": "user", "content": prompt}]
        return prompt

    ids = list(dict.fromkeys(acts["dilemma_id"]))
    pairs = pd.DataFrame({"option_a": [(d, "to_do") for d in ids], "option_b": [(d, "not_to_do") for d in ids]})
    own_cache = cache is not None and not isinstance(cache, ResponseCache)
    store = ResponseCache(cache) if own_cache else cache
    try:
        asker = PairAsker(keyed, model, method=method, k=k, temperature=temperature,
                       template=PromptTemplate("dilemma", "", ("A", "B")), cache=store, orders=orders, seed=seed,
                       progress=progress, question=question)
        comps = asker(pairs)
        responses = asker.responses()
    finally:
        if own_cache:
            store.close()
    name = model.identity["name"]
    rows = []
    comps = comps.assign(dilemma_id=[a[0] for a in comps["option_a"]],
                         to_do_first=[f[1] == "to_do" for f in comps["shown_first"]])
    resp = responses.assign(dilemma_id=[a[0] for a in responses["option_a"]])
    refused = resp.groupby("dilemma_id", sort=False)["n_refused"].sum()
    for d in ids:
        grp = comps[comps["dilemma_id"] == d]
        n = grp["n_a"] + grp["n_b"]
        share = grp["n_a"] / n
        first = share[grp["to_do_first"]]
        second = share[~grp["to_do_first"]]
        if method == "logits":
            p = float(share.mean()) if len(grp) else np.nan
            answers = int(len(grp))
        else:
            p = float(grp["n_a"].sum() / n.sum()) if n.sum() > 0 else np.nan
            answers = int(n.sum())
        choice = None if not np.isfinite(p) or p == 0.5 else ("to_do" if p > 0.5 else "not_to_do")
        rows.append({"model": name, "dilemma_id": d, "choice": choice, "p_to_do": p,
                     "p_to_do_first": float(first.mean()) if len(first) else np.nan,
                     "p_to_do_second": float(second.mean()) if len(second) else np.nan,
                     "n_answers": answers, "n_refused": int(refused.get(d, 0))})
    return ElicitedChoices(pd.DataFrame(rows), responses)
