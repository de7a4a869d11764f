"""Respondent-level survey data: each respondent's answers, and the population distributions they make.

:func:`read_human_distributions` reads either kind of file: a table of shares or microdata.

Survey files such as the World Values Survey's come as **microdata**: one row per
respondent, a column per question holding an answer code or label, a country column and a
survey weight. :func:`microdata_answers` turns such a table into one tidy row per
respondent and item with the answer's option position; :func:`human_distributions_from_microdata`
weights those into the ``human_distributions`` table (``item_id, population, option,
share``) the alignment analyses take, with the number of respondents and the effective
sample size of the weights [1]_. Persona-matched analyses
(:func:`~valuelab.survey.persona_alignment`) compare a model answering as each respondent
with that respondent's own answers.

How a cell becomes an option, in order: the ``labels`` map given by the caller; the item's
answer codes (its ``labels`` column in ``survey_items``, default ``1..k``); the option
texts in any of the item's languages (ignoring case). Numbers are compared as codes
(``2``, ``2.0`` and ``"2"`` are the code ``"2"``). A ``labels`` entry that maps to None
marks an answer that is not on the item's options ("not applicable", "no answer"): it is
left out of the shares and reported as ``non_substantive_share``; options listed in
``survey_items.non_substantive`` ("Don't know" offered as an option) stay in the shares
and the analyses set them apart. An empty cell means the respondent was not asked. Any
other value is an error that names the item, the column and the values.

References
----------
.. [1] Kish, L. (1965). *Survey Sampling*, §11.7 (effective sample size of weighted data,
   ``(sum w)^2 / sum w^2``). Wiley.
.. [2] Argyle, L. P. et al. (2023). Out of One, Many: Using Language Models to Simulate
   Human Samples. *Political Analysis* 31(3), 337–351.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..io import read_table
from .items import validate_human_distributions, validate_survey_items

__all__ = ["microdata_answers", "human_distributions_from_microdata", "read_human_distributions"]

_ANSWER_COLUMNS = ["respondent_id", "population", "item_id", "option", "answer", "weight"]


def _norm(value) -> str:
    """A cell or map key as a comparable code: numbers without a trailing ``.0``, text stripped."""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    text = str(value).strip()
    try:
        x = float(text)
    except ValueError:
        return text
    return str(int(x)) if np.isfinite(x) and x.is_integer() else text


def _blank(value) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    return isinstance(value, str) and not value.strip()


class _ItemCodes:
    """How the answers to one item map to its options."""

    def __init__(self, item_id, rows: pd.DataFrame, user_map: dict | None):
        first = rows.iloc[0]
        self.item_id, self.k = item_id, len(first["options"])
        labels = first["labels"] if "labels" in rows.columns and first["labels"] is not None else None
        self.codes = {_norm(c): j + 1 for j, c in enumerate(labels if labels is not None else range(1, self.k + 1))}
        self.texts: dict[str, int] = {}
        for opts in rows["options"]:
            for j, o in enumerate(opts):
                self.texts.setdefault(o.strip().casefold(), j + 1)
        self.user: dict[str, int | None] = {}
        for key, target in (user_map or {}).items():
            self.user[_norm(key)] = self._target(key, target)

    def _target(self, key, target) -> int | None:
        if target is None or (isinstance(target, float) and np.isnan(target)):
            return None
        if isinstance(target, (int, np.integer)) and not isinstance(target, (bool, np.bool_)):
            if not 1 <= int(target) <= self.k:
                raise ValueError(f"labels, item {self.item_id!r}: {key!r} maps to option {int(target)}, outside the "
                                 f"item's options 1..{self.k}")
            return int(target)
        found = self.lookup(target, use_user=False)
        if found is None:
            raise ValueError(f"labels, item {self.item_id!r}: {key!r} maps to {target!r}, which is neither an option "
                             "position, an option text nor an answer code of the item (map to None for an answer "
                             "that is on no option)")
        return found

    def lookup(self, value, *, use_user: bool = True):
        """The option of ``value``: a position, None (on no option), or ``...`` when unknown."""
        key = _norm(value)
        if use_user and key in self.user:
            return self.user[key]
        if key in self.codes:
            return self.codes[key]
        text = str(value).strip().casefold()
        if text in self.texts:
            return self.texts[text]
        return ... if use_user else None


def _user_maps(labels, item_ids) -> dict:
    """``labels`` as ``{item_id: {value: target}}``: one map for every item, or one per item."""
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise ValueError(f"labels: expected a dict (value -> option, or item_id -> such a dict), got "
                         f"{type(labels).__name__}")
    if labels and all(isinstance(v, dict) for v in labels.values()):
        unknown = [k for k in labels if k not in item_ids]
        if unknown:
            raise ValueError(f"labels: {unknown[0]!r} is not a survey item (a dict of dicts maps each item's answers)")
        return dict(labels)
    return {item: labels for item in item_ids}


def _column(df: pd.DataFrame, name: str | None, default: str, what: str) -> str | None:
    if name is None:
        return default if default in df.columns else None
    if name not in df.columns:
        raise ValueError(f"{what}: the microdata has no column {name!r} (its columns: {list(df.columns)[:20]})")
    return name


def microdata_answers(microdata, *, items: pd.DataFrame, item_columns=None, population: str | None = None,
                      weight: str | None = None, labels: dict | None = None,
                      respondent: str | None = None) -> pd.DataFrame:
    """Each respondent's answer to each item, as an option position.

    Parameters
    ----------
    microdata : DataFrame or path-like
        One row per respondent with a column per item (the **wide** form), or one row per
        respondent and item with ``item_id`` and ``answer`` columns (the **long** form);
        optional population, weight and respondent-id columns.
    items : DataFrame
        ``survey_items``: the items, their options (texts in every language), answer codes
        (``labels``) and non-substantive options.
    item_columns : dict or sequence, optional
        Wide form: ``{column: item_id}``, or the columns to read (each named by its item
        id). Default: every column whose name is an item id of ``items``.
    population : str, optional
        The column naming each respondent's population (country, group). Default: the
        ``population`` column when present, else one population named ``"all"``.
    weight : str, optional
        The column of survey weights (finite, >= 0). Default: every respondent weighs 1.
    labels : dict, optional
        ``{value: target}`` for every item, or ``{item_id: {value: target}}``; a target is
        an option position (1-based int), an option text or code of the item, or None (an
        answer on no option: "not applicable", "no answer").
    respondent : str, optional
        The respondent-id column. Default: ``respondent_id`` when present, else the row
        label.

    Returns
    -------
    DataFrame
        One row per respondent and item answered (empty cells, i.e. not asked, have no
        row): ``respondent_id``, ``population``, ``item_id``, ``option`` (1-based position,
        ``Int64``; NA for an answer mapped to no option), ``answer`` (the cell as given),
        ``weight``.

    Raises
    ------
    ValueError
        Naming the item, the column and the values: answers that match no option, code or
        ``labels`` entry (up to five shown); a negative or missing weight (naming the row);
        no item column found; a named column that is absent.

    References
    ----------
    .. [1] Kish, L. (1965). *Survey Sampling*. Wiley.
    """
    df = microdata if isinstance(microdata, pd.DataFrame) else read_table(Path(microdata))
    its = validate_survey_items(items)
    item_ids = list(dict.fromkeys(its["item_id"]))
    maps = _user_maps(labels, set(item_ids))
    coders = {item: _ItemCodes(item, grp, maps.get(item)) for item, grp in its.groupby("item_id", sort=False)}
    pop_col = _column(df, population, "population", "population")
    w_col = _column(df, weight, "\0", "weight") if weight is not None else None
    id_col = _column(df, respondent, "respondent_id", "respondent")
    ids = pd.Series(df[id_col].to_numpy(object) if id_col is not None else df.index.to_numpy(object))
    df = df.reset_index(drop=True)
    pops = df[pop_col] if pop_col is not None else pd.Series("all", index=df.index)
    if w_col is not None:
        w = pd.to_numeric(df[w_col], errors="coerce")
        bad = w.isna() | ~np.isfinite(w) | (w < 0)
        if bad.any():
            pos = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(f"microdata row {pos}, column {w_col!r}: expected a weight >= 0, got "
                             f"{df[w_col].iat[pos]!r}")
        w = w.astype(float)
    else:
        w = pd.Series(1.0, index=df.index)
    long = "item_id" in df.columns and "answer" in df.columns and item_columns is None
    if long:
        unknown = ~df["item_id"].isin(item_ids)
        if unknown.any():
            pos = int(np.flatnonzero(unknown.to_numpy())[0])
            raise ValueError(f"microdata row {pos}, column 'item_id': {df['item_id'].iat[pos]!r} is not a survey item")
        parts = [(item, "answer", np.flatnonzero((df["item_id"] == item).to_numpy())) for item in item_ids]
    else:
        if item_columns is None:
            cols = {c: c for c in df.columns if c in set(item_ids)}
        elif isinstance(item_columns, dict):
            cols = dict(item_columns)
        else:
            cols = {c: c for c in item_columns}
        if not cols:
            raise ValueError("microdata: no column is named by an item id of items; pass item_columns={column: "
                             f"item_id}} (its columns: {list(df.columns)[:20]})")
        for col, item in cols.items():
            if col not in df.columns:
                raise ValueError(f"item_columns: the microdata has no column {col!r}")
            if item not in coders:
                raise ValueError(f"item_columns: column {col!r} maps to {item!r}, which is not a survey item")
        parts = [(item, col, np.arange(len(df))) for col, item in cols.items()]
    frames = []
    for item, col, rows in parts:
        cells = df[col].to_numpy(object)[rows]
        asked = np.array([not _blank(v) for v in cells], bool)
        rows, cells = rows[asked], cells[asked]
        coder = coders[item]
        options = [coder.lookup(v) for v in cells]
        unknown = list(dict.fromkeys(_norm(v) for v, o in zip(cells, options) if o is ...))
        if unknown:
            raise ValueError(f"microdata, item {item!r}, column {col!r}: answer(s) {unknown[:5]} match no option, "
                             f"answer code or labels entry (codes {list(coder.codes)}); map each in labels= to an "
                             "option or to None (an answer on no option)"[:400])
        frames.append(pd.DataFrame({"respondent_id": ids.to_numpy(object)[rows],
                                    "population": pops.to_numpy(object)[rows], "item_id": item,
                                    "option": pd.array(options, dtype="Int64"), "answer": cells,
                                    "weight": w.to_numpy(float)[rows]}))
    if not frames:
        return pd.DataFrame(columns=_ANSWER_COLUMNS)
    return pd.concat(frames, ignore_index=True)[_ANSWER_COLUMNS]


def human_distributions_from_microdata(microdata, *, items: pd.DataFrame, item_columns=None,
                                       population: str | None = None, weight: str | None = None,
                                       labels: dict | None = None, respondent: str | None = None) -> pd.DataFrame:
    """Each population's weighted answer distribution per item, from respondent-level data.

    The share of option j is ``sum(w over respondents answering j) / sum(w over respondents
    answering any option)``; answers mapped to no option (``labels`` entries mapping to
    None) are left out of the shares and reported as ``non_substantive_share`` (their
    weighted share of the answers given); unasked items (empty cells) do not count.

    Parameters
    ----------
    microdata, items, item_columns, population, weight, labels, respondent
        As for :func:`microdata_answers`.

    Returns
    -------
    DataFrame
        The ``human_distributions`` table, validated: ``item_id``, ``population``,
        ``option`` (every option 1..k, zeros included), ``share``, ``n_respondents``
        (respondents whose answer is an option), ``n_effective`` (Kish's effective sample
        size ``(sum w)^2 / sum w^2`` of those respondents; equal to ``n_respondents``
        without weights), ``non_substantive_share``. Populations with no answer on an
        option for an item have no rows for it.

    References
    ----------
    .. [1] Kish, L. (1965). *Survey Sampling*, §11.7. Wiley.
    """
    answers = microdata_answers(microdata, items=items, item_columns=item_columns, population=population,
                                weight=weight, labels=labels, respondent=respondent)
    k = validate_survey_items(items).drop_duplicates("item_id").set_index("item_id")["options"].map(len)
    rows = []
    for (item, pop), grp in answers.groupby(["item_id", "population"], sort=False, dropna=False):
        on = grp["option"].notna().to_numpy()
        w = grp["weight"].to_numpy(float)
        total, answered = w.sum(), w[on].sum()
        if answered <= 0:
            continue
        opts = grp["option"].to_numpy(dtype=float, na_value=np.nan)[on].astype(int)
        per = np.bincount(opts - 1, weights=w[on], minlength=int(k[item]))
        n_eff = answered ** 2 / np.sum(w[on] ** 2)
        for j, s in enumerate(per):
            rows.append({"item_id": item, "population": pop, "option": j + 1, "share": s / answered,
                         "n_respondents": int(on.sum()), "n_effective": float(n_eff),
                         "non_substantive_share": float(1 - answered / total) if total > 0 else 0.0})
    out = pd.DataFrame(rows, columns=["item_id", "population", "option", "share", "n_respondents", "n_effective",
                                      "non_substantive_share"])
    return validate_human_distributions(out, items=items)


def read_human_distributions(source, *, items: pd.DataFrame | None = None, format: str = "auto",
                             population: str | None = None, weight: str | None = None, labels=None,
                             item_columns=None, respondent: str | None = None) -> pd.DataFrame:
    """Human answer distributions from ready-made shares or from respondent-level microdata.

    Parameters
    ----------
    source : path-like or DataFrame
        A table (CSV, JSON, JSONL or Parquet, read with :func:`valuelab.read_table`) or a
        DataFrame, in one of two layouts:

        * ``"shares"``: the ``human_distributions`` table itself, ``item_id, population,
          option, share`` (one row per item, population and option);
        * ``"microdata"``: one row per respondent, a column per item holding the answer
          (a code, an option text, or a label mapped by ``labels``), optionally a
          population column and a weight column; or the long form, one row per respondent
          and item with ``item_id`` and ``answer`` columns. See
          :func:`valuelab.survey.human_distributions_from_microdata`.
    items : DataFrame, optional
        ``survey_items``: needed for microdata (which column is which item, and how answers
        map to options); for shares, every item must exist and options must lie in 1..k.
    format : {"auto", "shares", "microdata"}
        ``"auto"``: shares when the table has ``item_id``, ``population``, ``option`` and
        ``share``, microdata otherwise.
    population, weight, labels, item_columns, respondent
        Microdata only; see :func:`valuelab.survey.human_distributions_from_microdata`.

    Returns
    -------
    DataFrame
        ``item_id``, ``population``, ``option`` (1-based), ``share`` (summing to 1 per item
        and population), plus, from microdata, ``n_respondents`` (respondents whose answer is
        an option), ``n_effective`` (Kish's effective sample size of their weights) and
        ``non_substantive_share`` (answers mapped to no option, left out of ``share``), and
        any other columns of a shares table.

    Raises
    ------
    ValueError
        Naming the file, row and column: see :func:`validate_human_distributions` and
        :func:`valuelab.survey.human_distributions_from_microdata`.

    References
    ----------
    .. [1] Kish, L. (1965). *Survey Sampling*, §11.7 (the effective sample size of weighted
       data). Wiley.
    """
    if format not in ("auto", "shares", "microdata"):
        raise ValueError(f"format: expected 'auto', 'shares' or 'microdata', got {format!r}")
    name = "table" if isinstance(source, pd.DataFrame) else str(source)
    df = source if isinstance(source, pd.DataFrame) else read_table(Path(source))
    shares = {"item_id", "population", "option", "share"} <= set(df.columns)
    micro_kwargs = {"population": population, "weight": weight, "labels": labels, "item_columns": item_columns,
                    "respondent": respondent}
    if format == "shares" or (format == "auto" and shares):
        given = [k for k, v in micro_kwargs.items() if v is not None]
        if given:
            raise ValueError(f"{name}: {given[0]}= applies to microdata, but the table holds shares (item_id, "
                             "population, option, share); pass format='microdata' for respondent-level data")
        try:
            return validate_human_distributions(df, items=items)
        except ValueError as err:
            raise ValueError(f"{name}: {err}") from None
    if items is None:
        raise ValueError(f"{name}: microdata (one row per respondent) needs items= (the survey_items table) to tell "
                         "which column holds which item and how answers map to options"
                         + ("" if format == "microdata" else "; a table of shares needs the columns item_id, "
                            f"population, option, share (it has {list(df.columns)[:12]})"))
    try:
        return human_distributions_from_microdata(df, items=items, **micro_kwargs)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None
