"""Bundled samples written by the project, and loaders for published option files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .io import DATA_DIR, parse_list_cell, read_table

__all__ = ["DATA_DIR", "load_outcomes", "read_options_json", "parse_list_cell", "read_dailydilemmas",
           "dailydilemmas_choices", "load_dilemmas"]



def load_outcomes(path: str | Path | None = None) -> pd.DataFrame:
    """The project's own outcome set (``data/outcomes.csv``) or a file in the same format.

    Returns
    -------
    DataFrame
        ``option_id``, ``text``, ``category``, ``quantity`` (float, NaN when none), ``unit``,
        ``good`` (what a quantity counts, for exchange rates: "money for you", "lives
        saved", ...; NaN for delayed and unquantified outcomes), ``reward`` (the reward a
        delayed outcome delays, shared with its immediate version: "$1,000 for you", "100
        lives saved"), ``delay_years`` (0 for the immediate version; NaN when not part of a
        discounting series).
    """
    path = Path(path) if path is not None else DATA_DIR / "outcomes.csv"
    df = pd.read_csv(path, dtype={"option_id": str, "text": str, "category": str, "unit": str, "good": str,
                                  "reward": str})
    missing = {"option_id", "text"} - set(df.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}; expected option_id, text[, category, quantity, unit]")
    for col in ("quantity", "delay_years"):
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    return df


def read_options_json(path: str | Path, *, prefix: str = "") -> pd.DataFrame:
    """Options from a JSON file shaped ``{category: [text, ...]}`` (or a plain list of texts).

    Parameters
    ----------
    path : path-like
    prefix : str
        Prepended to the generated ids (``f"{prefix}{i}"``, in file order).

    Returns
    -------
    DataFrame
        ``option_id``, ``text``, ``category``.

    Raises
    ------
    ValueError
        The file is not JSON, or a category does not hold a list of strings (the message
        names the category and position).
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    if isinstance(raw, list):
        raw = {None: raw}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected an object {{category: [text, ...]}} or a list of texts")
    rows = []
    for cat, items in raw.items():
        if not isinstance(items, list):
            raise ValueError(f"{path}: category {cat!r} holds {type(items).__name__}, expected a list of texts")
        for j, text in enumerate(items):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"{path}: category {cat!r}, item {j}: expected a non-empty string, got {text!r}")
            rows.append({"option_id": f"{prefix}{len(rows)}", "text": text.strip(), "category": cat})
    return pd.DataFrame(rows)


_DD_LISTS = ("values_direct", "values_indirect", "parties_direct", "parties_indirect", "values_names", "values_types",
             "wvs", "mft", "virtue", "emotion", "maslow")


def read_dailydilemmas(path: str | Path) -> pd.DataFrame:
    """Read DailyDilemmas' per-action file (``dilemmas_with_detail_by_action*.csv``).

    List cells are parsed with :func:`parse_list_cell` (never evaluated).

    Parameters
    ----------
    path : path-like

    Returns
    -------
    DataFrame
        One row per dilemma action: ``dilemma_id`` (the file's ``idx``), ``action_type``,
        ``dilemma`` (``dilemma_situation``), ``action``, ``values`` (``values_direct`` then
        ``values_indirect``, as written), and every other column of the file, list columns
        (``values_direct``, ``values_names``, ``wvs``, ``mft``, ``virtue``, ``emotion``,
        ``maslow``, ...) as Python lists with None for missing entries. Model-response
        columns (``model_resp_*``) are kept; see :func:`dailydilemmas_choices`.

    Raises
    ------
    ValueError
        A required column is missing, or a list cell is malformed (the message names the row
        and column).

    References
    ----------
    .. [1] Chiu, Y. Y., Jiang, L. and Choi, Y. (2024). DailyDilemmas: Revealing Value
       Preferences of LLMs with Quandaries of Daily Life. arXiv:2410.02683.
    """
    path = Path(path)
    raw = read_table(path)
    raw = raw.loc[:, [c for c in raw.columns if not str(c).startswith("Unnamed")]]
    for col in ("idx", "action_type", "action", "values_direct"):
        if col not in raw.columns:
            raise ValueError(f"{path}: missing column {col!r}; expected the DailyDilemmas per-action format "
                             "(idx, dilemma_situation, action_type, action, values_direct, values_indirect, ...)")
    df = raw.copy()
    for col in _DD_LISTS:
        if col in df.columns:
            df[col] = [parse_list_cell(c, where=f"{path} row {i}, column {col!r}") for i, c in enumerate(df[col])]
    indirect = df["values_indirect"] if "values_indirect" in df.columns else [[]] * len(df)
    values = [[v for v in a + b if v is not None] for a, b in zip(df["values_direct"], indirect)]
    front = pd.DataFrame({"dilemma_id": df["idx"], "action_type": df["action_type"],
                          "dilemma": df.get("dilemma_situation"), "action": df["action"], "values": values})
    return pd.concat([front, df.drop(columns=["idx", "action_type", "action"]
                                     + (["dilemma_situation"] if "dilemma_situation" in df.columns else []))],
                     axis=1)


def dailydilemmas_choices(actions: pd.DataFrame, *, prefix: str = "model_resp_", suffix: str = "_clean") -> pd.DataFrame:
    """The choices table from a DailyDilemmas file's model-response columns.

    Each ``{prefix}{model}{suffix}`` column holds the action the model chose (``to_do`` or
    ``not_to_do``), repeated on both rows of a dilemma; the ``to_do`` row's cell is used.

    Returns
    -------
    DataFrame
        ``model``, ``dilemma_id``, ``choice`` (None where the cell is empty or not an action
        type).
    """
    cols = [c for c in actions.columns if str(c).startswith(prefix) and str(c).endswith(suffix)]
    if not cols:
        raise ValueError(f"actions: no model-response column named {prefix}<model>{suffix}")
    rows = actions[actions["action_type"] == "to_do"]
    out = []
    for col in cols:
        model = str(col)[len(prefix): len(str(col)) - len(suffix)]
        choice = rows[col].where(rows[col].isin(["to_do", "not_to_do"]), None)
        out.append(pd.DataFrame({"model": model, "dilemma_id": rows["dilemma_id"].to_numpy(),
                                 "choice": choice.to_numpy(dtype=object)}))
    return pd.concat(out, ignore_index=True)


def load_dilemmas(path: str | Path | None = None) -> pd.DataFrame:
    """The project's own dilemmas (``data/dilemmas.csv``: 40 dilemmas, two actions each).

    Returns
    -------
    DataFrame
        One row per action: ``dilemma_id``, ``topic``, ``dilemma``, ``action_type``,
        ``action``, ``values`` (list of value texts).
    """
    from .frameworks.dilemmas import validate_actions

    path = Path(path) if path is not None else DATA_DIR / "dilemmas.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return validate_actions(df, require_text=True)
