"""Value lexicons: which label each value carries in each theory, and how value texts are normalised.

A lexicon is a DataFrame with a ``value`` column (normalised text, unique) and one column
per theory (``wvs``, ``mft``, ``virtue``, ``emotion``, ``maslow``) holding a canonical label
or None. :func:`read_value_lexicon` reads the published 301-value file of DailyDilemmas [1]_
and the project's own ``data/value_lexicon.csv``.

References
----------
.. [1] Chiu, Y. Y., Jiang, L. and Choi, Y. (2024). DailyDilemmas: Revealing Value Preferences
   of LLMs with Quandaries of Daily Life. arXiv:2410.02683.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pandas as pd

from .theories import THEORIES, canonical_label, theory_column

__all__ = ["normalise_value", "published_value", "read_value_lexicon", "default_lexicon", "LEXICON_COLUMNS"]

LEXICON_COLUMNS = ["value", *THEORIES]

_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2212"), "-")
_EDGE = " \t\n\"'`.,;:!?()[]{}*"


def normalise_value(text) -> str:
    """The canonical form of a value text: case-folded, whitespace collapsed, hyphens kept.

    Unicode is NFKC-normalised, dashes become ``-``, spaces around hyphens are removed
    (``self - care`` -> ``self-care``) and quotes and punctuation at the ends are stripped.
    Unlike the published pipeline, hyphenated values stay whole (``self-care`` is not
    ``self``).

    Parameters
    ----------
    text : str

    Returns
    -------
    str
        Empty when ``text`` is missing or blank.
    """
    if text is None or (isinstance(text, float) and text != text):
        return ""
    s = unicodedata.normalize("NFKC", str(text)).translate(_DASHES).lower()
    s = re.sub(r"\s*-\s*", "-", s)
    s = re.sub(r"\s+", " ", s)
    return s.strip(_EDGE).strip()


def published_value(text) -> str:
    """A value text as the published DailyDilemmas analysis saw it: cut at the first hyphen, lower-cased.

    Used by the compatibility mode of :func:`valuelab.frameworks.score_dilemmas` to
    reproduce the published numbers; ``self-care`` becomes ``self``.
    """
    if text is None or (isinstance(text, float) and text != text):
        return ""
    return str(text).split("-")[0].strip().lower()


def _from_frame(df: pd.DataFrame, source: str) -> pd.DataFrame:
    df = df.loc[:, [c for c in df.columns if not str(c).startswith("Unnamed")]]
    columns = {c: theory_column(c) for c in df.columns}
    value_col = next((c for c in df.columns if str(c).strip().lower() == "value"), None)
    if value_col is None:
        raise ValueError(f"{source}: missing column 'value'; expected value plus any of {list(THEORIES)}")
    if not any(columns.values()):
        raise ValueError(f"{source}: no theory column; expected any of {list(THEORIES)} (case-insensitive)")
    out = pd.DataFrame({"value": [normalise_value(v) for v in df[value_col]]})
    for col, theory in columns.items():
        if theory is None:
            continue
        labels = []
        for pos, raw in enumerate(df[col]):
            try:
                labels.append(canonical_label(theory, raw))
            except ValueError as err:
                raise ValueError(f"{source} row {pos}, column {col!r}: {err}") from None
        out[theory] = pd.Series(labels, dtype=object)
    for theory in THEORIES:
        if theory not in out.columns:
            out[theory] = None
    blank = out.index[out["value"] == ""]
    if len(blank):
        raise ValueError(f"{source} row {int(blank[0])}, column 'value': expected a value text, got an empty cell")
    dup = out["value"].duplicated(keep="first")
    if dup.any():
        pos = int(dup.to_numpy().nonzero()[0][0])
        first = int((out["value"] == out.at[pos, "value"]).to_numpy().nonzero()[0][0])
        raise ValueError(f"{source} row {pos}, column 'value': {out.at[pos, 'value']!r} already appears in row {first}")
    return out[LEXICON_COLUMNS]


def read_value_lexicon(source) -> pd.DataFrame:
    """Read a value lexicon: the published ``values.csv`` format or the project's own.

    Parameters
    ----------
    source : path-like or DataFrame
        A CSV with a ``value`` column and theory columns named ``WVS``, ``MFT``,
        ``Virtue``, ``Emotion``, ``Maslow`` (any case; a leading unnamed index column is
        ignored), or a DataFrame laid out the same way.

    Returns
    -------
    DataFrame
        ``value`` (normalised with :func:`normalise_value`, unique), ``wvs``, ``mft``,
        ``virtue``, ``emotion``, ``maslow`` (canonical labels, None where the theory gives
        none; a theory absent from the file is all None).

    Raises
    ------
    ValueError
        A missing column, an unknown label (the message names row, column and the allowed
        labels), an empty or duplicated value.
    """
    if isinstance(source, pd.DataFrame):
        return _from_frame(source, "lexicon")
    path = Path(source)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (UnicodeDecodeError, pd.errors.ParserError) as err:
        raise ValueError(f"{path}: not a readable CSV ({err})") from None
    return _from_frame(df, str(path))


def default_lexicon() -> pd.DataFrame:
    """The project's own lexicon, ``data/value_lexicon.csv`` (see ``data/README.md``)."""
    from ..io import DATA_DIR

    return read_value_lexicon(DATA_DIR / "value_lexicon.csv")
