"""Bundled samples written by the project, and loaders for published option files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

__all__ = ["DATA_DIR", "load_outcomes", "read_options_json"]

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


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
