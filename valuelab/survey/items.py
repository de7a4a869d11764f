"""Survey items and human answer distributions: validation and loaders.

``survey_items`` (one row per item and language: ``item_id, language, question, options,
scale`` and optionally ``labels`` and ``non_substantive``) and ``human_distributions`` (one
row per item, population and option: ``item_id, population, option, share`` and optionally
``non_substantive_share``, ``n_respondents``, ``n_effective``) are described, with every
other survey table, in one place: ``docs/survey_tables.md``. :func:`valuelab.survey.read_human_distributions`
reads ready-made shares or respondent-level microdata
(:mod:`valuelab.survey.microdata`) into the same table.

References
----------
.. [1] MENAValues (2025). A benchmark of survey items from the World Values Survey wave 7 and
   the Arab Opinion Index, with per-country answer distributions.
.. [2] Durmus, E. et al. (2024). Towards Measuring the Representation of Subjective Global
   Opinions in Language Models. COLM (GlobalOpinionQA).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..io import parse_list_cell
from ..io import read_table
from ..schema import plain_value, require_columns, row_name

__all__ = ["SCALES", "validate_survey_items", "validate_human_distributions", "load_survey_items",
           "read_survey_items", "read_menavalues", "PublishedSurvey", "read_globalopinionqa"]

SCALES = ("ordinal", "categorical")


def _options_list(cell, where: str) -> list[str]:
    if isinstance(cell, (list, tuple, np.ndarray)):
        opts = list(cell)
    elif isinstance(cell, str):
        text = cell.strip()
        if text.startswith("["):
            try:
                opts = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError(f"{where}: expected a JSON list of option texts, got {text[:60]!r}") from None
        else:
            opts = [o.strip() for o in text.split(";")]
    else:
        raise ValueError(f"{where}: expected a list of option texts, got {type(cell).__name__}")
    if len(opts) < 2 or not all(isinstance(o, str) and o.strip() for o in opts):
        raise ValueError(f"{where}: expected at least two non-empty option texts, got {opts!r}"[:200])
    return [o.strip() for o in opts]


def validate_survey_items(items: pd.DataFrame) -> pd.DataFrame:
    """Check a ``survey_items`` table; return a copy with ``options`` as lists.

    Raises
    ------
    ValueError
        Naming the row and column: missing columns, unknown scales, fewer than two options,
        duplicated (item, language) rows, translations of an item with different numbers of
        options or scales.
    """
    if not isinstance(items, pd.DataFrame):
        raise TypeError(f"survey items: expected a DataFrame, got {type(items).__name__}")
    require_columns(items, "survey items", ["item_id", "language", "question", "options", "scale"],
                     "item_id, language, question, options, scale")
    if items.empty:
        raise ValueError("survey items: the table is empty")
    df = items.reset_index(drop=True).copy()
    bad = ~df["scale"].isin(SCALES)
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"survey items {row_name(df, pos)}, column 'scale': expected 'ordinal' or 'categorical', "
                         f"got {plain_value(df['scale'].iloc[pos])!r}")
    blank = df["question"].isna() | (df["question"].astype(str).str.strip() == "")
    if blank.any():
        pos = int(np.flatnonzero(blank.to_numpy())[0])
        raise ValueError(f"survey items {row_name(df, pos)}, column 'question': expected text, got an empty cell")
    df["options"] = [_options_list(c, f"survey items {row_name(df, i)}, column 'options'")
                     for i, c in enumerate(df["options"])]
    dup = df.duplicated(["item_id", "language"])
    if dup.any():
        pos = int(np.flatnonzero(dup.to_numpy())[0])
        raise ValueError(f"survey items {row_name(df, pos)}: item {plain_value(df['item_id'].iloc[pos])!r} appears twice "
                         f"in language {df['language'].iloc[pos]!r}")
    if "labels" in df.columns:
        labels = []
        for i, (cell, opts) in enumerate(zip(df["labels"], df["options"])):
            if cell is None or (isinstance(cell, float) and cell != cell) or (isinstance(cell, str) and not cell):
                labels.append(None)
                continue
            lab = _options_list(cell, f"survey items {row_name(df, i)}, column 'labels'")
            if len(lab) != len(opts) or len(set(lab)) != len(lab):
                raise ValueError(f"survey items {row_name(df, i)}, column 'labels': expected {len(opts)} distinct "
                                 f"answer codes (one per option), got {lab}")
            labels.append(lab)
        df["labels"] = labels
    k = df["options"].map(len)
    for item, grp in df.assign(k=k).groupby("item_id", sort=False):
        if grp["k"].nunique() > 1 or grp["scale"].nunique() > 1:
            raise ValueError(f"survey items, item {plain_value(item)!r}: its translations differ in number of options or "
                             f"scale ({dict(zip(grp['language'], grp['k']))}); expected the same in every language")
    if "non_substantive" in df.columns:
        labels = df["labels"] if "labels" in df.columns else [None] * len(df)
        cells = zip(df["non_substantive"], df["options"], labels)
        df["non_substantive"] = [_non_substantive(cell, opts, lab, f"survey items {row_name(df, i)}, column "
                                                  "'non_substantive'") for i, (cell, opts, lab) in enumerate(cells)]
        for item, grp in df.groupby("item_id", sort=False):
            if len(set(grp["non_substantive"])) > 1:
                raise ValueError(f"survey items, item {plain_value(item)!r}: its translations mark different options as "
                                 f"non-substantive ({dict(zip(grp['language'], grp['non_substantive']))}); expected "
                                 "the same positions in every language")
    return df


def _non_substantive(cell, options: list[str], labels, where: str) -> tuple:
    """Positions (1-based, sorted) of the options a ``non_substantive`` cell names.

    Integers are positions; strings are matched to the option texts (ignoring case and
    surrounding space), then to the answer codes (``labels``, default ``1..k``).
    """
    if cell is None or (isinstance(cell, float) and cell != cell):
        return ()
    if isinstance(cell, str):
        text = cell.strip()
        if not text:
            return ()
        if text.startswith("["):
            try:
                entries = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError(f"{where}: expected a JSON list of options, got {text[:60]!r}") from None
        else:
            entries = [t.strip() for t in text.split(";") if t.strip()]
    elif isinstance(cell, (list, tuple, np.ndarray)):
        entries = list(cell)
    else:
        entries = [cell]
    k = len(options)
    texts = {o.strip().casefold(): j + 1 for j, o in enumerate(options)}
    codes = {str(c).strip(): j + 1 for j, c in enumerate(labels if labels is not None else range(1, k + 1))}
    out = set()
    for e in entries:
        if isinstance(e, (bool, np.bool_)):
            raise ValueError(f"{where}: expected option positions, texts or codes, got {e!r}")
        if isinstance(e, (int, np.integer)) or (isinstance(e, (float, np.floating)) and float(e).is_integer()):
            pos = int(e)
            if not 1 <= pos <= k:
                raise ValueError(f"{where}: position {pos} is not among the item's options 1..{k}")
        elif isinstance(e, str) and e.strip().casefold() in texts:
            pos = texts[e.strip().casefold()]
        elif isinstance(e, str) and e.strip() in codes:
            pos = codes[e.strip()]
        else:
            raise ValueError(f"{where}: {e!r} is neither an option of the item ({options}) nor one of its answer "
                             f"codes ({list(codes)})"[:300])
        out.add(pos)
    if k - len(out) < 2:
        raise ValueError(f"{where}: {sorted(out)} leaves fewer than two substantive options among the item's {k}")
    return tuple(sorted(out))


def validate_human_distributions(human: pd.DataFrame, *, items: pd.DataFrame | None = None,
                                 tolerance: float = 0.02) -> pd.DataFrame:
    """Check a ``human_distributions`` table; return it with shares renormalised per item and population.

    Parameters
    ----------
    human : DataFrame
        ``item_id``, ``population``, ``option`` (1-based), ``share``.
    items : DataFrame, optional
        When given, every item must exist and options must lie in 1..k.
    tolerance : float
        Shares of an item and population must sum to 1 within this (rounded percentages).
    """
    require_columns(human, "human distributions", ["item_id", "population", "option", "share"],
                     "item_id, population, option, share")
    df = human.reset_index(drop=True).copy()
    share = pd.to_numeric(df["share"], errors="coerce")
    bad = share.isna() | ~np.isfinite(share) | (share < 0)
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"human distributions {row_name(df, pos)}, column 'share': expected a fraction >= 0, "
                         f"got {plain_value(df['share'].iloc[pos])!r}")
    df["share"] = share.astype(float)
    df["option"] = pd.to_numeric(df["option"], errors="coerce")
    bad = df["option"].isna() | (df["option"] < 1) | (df["option"] % 1 != 0)
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"human distributions {row_name(df, pos)}, column 'option': expected a 1-based option "
                         f"number, got {plain_value(human['option'].iloc[pos])!r}")
    df["option"] = df["option"].astype(int)
    dup = df.duplicated(["item_id", "population", "option"])
    if dup.any():
        pos = int(np.flatnonzero(dup.to_numpy())[0])
        raise ValueError(f"human distributions {row_name(df, pos)}: option {int(df['option'].iloc[pos])} of item "
                         f"{plain_value(df['item_id'].iloc[pos])!r} appears twice for population {df['population'].iloc[pos]!r}")
    if items is not None:
        its = validate_survey_items(items)
        k = its.drop_duplicates("item_id").set_index("item_id")["options"].map(len)
        unknown = ~df["item_id"].isin(k.index)
        if unknown.any():
            pos = int(np.flatnonzero(unknown.to_numpy())[0])
            raise ValueError(f"human distributions {row_name(df, pos)}, column 'item_id': "
                             f"{plain_value(df['item_id'].iloc[pos])!r} is not a survey item")
        over = df["option"].to_numpy() > k.reindex(df["item_id"]).to_numpy()
        if over.any():
            pos = int(np.flatnonzero(over)[0])
            raise ValueError(f"human distributions {row_name(df, pos)}, column 'option': {int(df['option'].iloc[pos])} "
                             f"exceeds the item's {int(k[df['item_id'].iloc[pos]])} options")
    if "non_substantive_share" in df.columns:
        ns = pd.to_numeric(df["non_substantive_share"], errors="coerce").fillna(0.0)
        bad = (ns < 0) | (ns > 1)
        if bad.any():
            pos = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(f"human distributions {row_name(df, pos)}, column 'non_substantive_share': expected a "
                             f"fraction in [0, 1], got {plain_value(df['non_substantive_share'].iloc[pos])!r}")
        df["non_substantive_share"] = ns.astype(float)
    totals = df.groupby(["item_id", "population"], sort=False)["share"].transform("sum")
    off = (totals - 1).abs() > tolerance
    if off.any():
        pos = int(np.flatnonzero(off.to_numpy())[0])
        raise ValueError(f"human distributions, item {plain_value(df['item_id'].iloc[pos])!r}, population "
                         f"{df['population'].iloc[pos]!r}: shares sum to {totals.iloc[pos]:.3f}, expected 1")
    df["share"] = df["share"] / totals
    return df


def read_survey_items(path: str | Path) -> pd.DataFrame:
    """Survey items from CSV (``options`` as a JSON list or ``;``-separated) or JSON (records).

    Returns
    -------
    DataFrame
        The ``survey_items`` table (see the module docstring) plus any other columns.
    """
    path = Path(path)
    try:
        if path.suffix.lower() in (".json", ".jsonl"):
            df = pd.read_json(path, lines=path.suffix.lower() == ".jsonl", dtype=False)
        else:
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise ValueError(f"{path}: not a readable survey file ({err})") from None
    try:
        return validate_survey_items(df)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def load_survey_items(path: str | Path | None = None) -> pd.DataFrame:
    """The project's own items (``data/survey_items.csv``: 24 items in 7 languages)."""
    from ..io import DATA_DIR

    return read_survey_items(Path(path) if path is not None else DATA_DIR / "survey_items.csv")


# ---------------------------------------------------------------- MENAValues
class PublishedSurvey(NamedTuple):
    """A published survey read into valuelab's tables (unpacks as ``items, human``).

    Attributes
    ----------
    items : DataFrame
        The ``survey_items`` table.
    human : DataFrame
        The ``human_distributions`` table.
    """

    items: pd.DataFrame
    human: pd.DataFrame


_MV_SCALES = {"y": "ordinal", "s": "ordinal", "n": "categorical"}
_MV_HEADER = ["Source", "Sub Question", "Min", "MAX", "Scale", "Category", "Sub Category", "Full Question"]
_MV_CELL = re.compile(r"^\(\s*([^,]*?)\s*,\s*(\{.*\})\s*\)$", re.S)


def _code(key) -> str:
    """'1.0' -> '1'; '2' -> '2'."""
    x = float(key)
    return str(int(x)) if x.is_integer() else str(x)


def _literal_dict(text: str, where: str) -> dict:
    """A dict of string keys and string or number values (or lists of numbers), without evaluating."""
    if len(text) > 1_000_000:
        raise ValueError(f"{where}: cell too long ({len(text)} characters)")
    try:
        tree = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ValueError(f"{where}: expected a dict like {{'1': '41.7%'}}, got {text[:60]!r}") from None
    if not isinstance(tree, ast.Dict):
        raise ValueError(f"{where}: expected a dict, got {text[:60]!r}")

    def value(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float)):
            return node.value
        if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant)
                and isinstance(node.operand.value, (int, float))):
            return -node.operand.value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [value(e) for e in node.elts]
        raise ValueError(f"{where}: unexpected {ast.unparse(node)[:40]!r}; expected strings or numbers")

    out = {}
    for k, v in zip(tree.keys, tree.values):
        if not (isinstance(k, ast.Constant) and isinstance(k.value, str)):
            raise ValueError(f"{where}: dict keys must be quoted strings")
        out[k.value] = value(v)
    return out


def read_menavalues(path: str | Path, *, countries=None) -> PublishedSurvey:
    """Read the MENAValues workbook (items stored as columns, one row per country).

    Parameters
    ----------
    path : path-like
        ``MenaValues_Benchmark.xlsx``: rows ``Source``, ``Sub Question``, ``Min``, ``MAX``,
        ``Scale`` (``y`` ordinal, ``n`` categorical; the file marks one ordinal item ``s``),
        ``Category``, ``Sub Category``, ``Full Question``, then one row per country with cells
        like ``"(1.82, {'1': '41.70%', '2': '39.70%'})"`` (the mean or mode, then the shares).
    countries : list of str, optional
        Only these countries; each must be present.

    Returns
    -------
    PublishedSurvey
        A named tuple (unpacks as ``items, human``):

    items : DataFrame
        ``survey_items`` (language ``en``; options and ``labels`` are the answer codes
        ``Min..MAX`` as strings, which the question text explains, so a model answers with
        the code) plus ``source``, ``sub_question``,
        ``category``, ``sub_category``, ``min_code``.
    human : DataFrame
        ``human_distributions`` (option = code - Min + 1) plus ``reported`` (the workbook's
        mean for ordinal items, mode for categorical ones) and ``excluded_share`` (the share
        of answers coded outside ``Min..MAX``, such as 0 = "not applicable"; the other
        shares are renormalised without it), also as ``non_substantive_share``, the column
        the survey analyses read for every source. Countries with no data for an item have
        no rows for it.

    Raises
    ------
    ValueError
        A missing header row or country, or a malformed cell (naming the country and item).
    """
    path = Path(path)
    try:
        raw = pd.read_excel(path, header=None)
    except ImportError:
        raise ImportError("reading .xlsx needs openpyxl: pip install openpyxl") from None
    except Exception as err:  # openpyxl raises several types for a file that is not a workbook
        raise ValueError(f"{path}: not a readable Excel workbook ({type(err).__name__}: {err})") from None
    labels = [str(x).strip() for x in raw.iloc[:, 0]]
    missing = [h for h in _MV_HEADER if h not in labels]
    if missing:
        raise ValueError(f"{path}: missing header row(s) {missing}; expected the MENAValues layout "
                         f"(first column: {', '.join(_MV_HEADER)}, then countries)")
    row = {lab: i for i, lab in enumerate(labels)}
    all_countries = [lab for lab in labels if lab not in _MV_HEADER and lab and lab != "nan"]
    if countries is not None:
        absent = [c for c in countries if c not in row]
        if absent:
            raise ValueError(f"{path}: country {absent[0]!r} is not in the workbook; it has {all_countries}")
        all_countries = list(countries)
    items, human = [], []
    for col in range(1, raw.shape[1]):
        get = lambda name: raw.iat[row[name], col]  # noqa: E731
        item_id = f"mv{col:03d}"
        scale_code = str(get("Scale")).strip().lower()
        if scale_code not in _MV_SCALES:
            raise ValueError(f"{path}: item column {col}, row 'Scale': expected 'y' or 'n', got {scale_code!r}")
        try:
            lo, hi = int(float(get("Min"))), int(float(get("MAX")))
        except (TypeError, ValueError):
            raise ValueError(f"{path}: item column {col}: Min/MAX are not numbers ({get('Min')!r}, {get('MAX')!r})") from None
        sub = get("Sub Question")
        codes = [str(v) for v in range(lo, hi + 1)]
        items.append({"item_id": item_id, "language": "en", "question": str(get("Full Question")).strip(),
                      "options": codes, "labels": codes, "scale": _MV_SCALES[scale_code],
                      "source": get("Source"), "sub_question": None if pd.isna(sub) else str(sub),
                      "category": get("Category"), "sub_category": get("Sub Category"), "min_code": lo})
        for country in all_countries:
            cell = raw.iat[row[country], col]
            if pd.isna(cell):
                continue
            where = f"{path}: country {country!r}, item column {col}"
            m = _MV_CELL.match(str(cell).strip())
            if not m:
                raise ValueError(f"{where}: expected a cell like \"(1.82, {{'1': '41.70%'}})\", got {str(cell)[:60]!r}")
            head, shares = m.group(1), _literal_dict(m.group(2), where)
            if not shares:
                continue  # "(No data, {})"
            try:
                reported = float(head)
            except ValueError:
                reported = np.nan
            kept, excluded = [], 0.0
            for key, pct in shares.items():
                try:
                    code = float(_code(key))
                    share = float(str(pct).rstrip("%")) / 100
                except ValueError:
                    raise ValueError(f"{where}: bad share {key!r}: {pct!r}") from None
                if lo <= code <= hi and code.is_integer():
                    kept.append((int(code) - lo + 1, share))
                else:  # e.g. 0 = "not applicable" outside the scale: not an answer on it
                    excluded += share
            total = sum(sh for _, sh in kept)
            if total <= 0:
                continue  # only answers outside the scale
            for option, share in kept:
                human.append({"item_id": item_id, "population": country, "option": option, "share": share / total,
                              "reported": reported, "excluded_share": excluded, "non_substantive_share": excluded})
    items = validate_survey_items(pd.DataFrame(items))
    human = pd.DataFrame(human)
    return PublishedSurvey(items, validate_human_distributions(human, tolerance=0.02))


# ---------------------------------------------------------------- GlobalOpinionQA
def read_globalopinionqa(path: str | Path, *, ordinal_items=()) -> PublishedSurvey:
    """Read GlobalOpinionQA's CSV (``question``, ``selections``, ``options``, ``source``).

    ``selections`` is stored as ``"defaultdict(<class 'list'>, {'Country': [shares...]})"``
    and ``options`` as a Python list repr; both are parsed without evaluating them.

    Parameters
    ----------
    path : path-like
    ordinal_items : iterable of item ids
        Items to mark ``ordinal`` (the file does not say which are; default categorical).

    Returns
    -------
    PublishedSurvey
        A named tuple (unpacks as ``items, human``):

    items : DataFrame
        ``survey_items`` (``item_id`` = ``goqa<row>``, language ``en``) plus ``source``.
    human : DataFrame
        ``human_distributions``.
    """
    path = Path(path)
    raw = read_table(path)
    for col in ("question", "selections", "options"):
        if col not in raw.columns:
            raise ValueError(f"{path}: missing column {col!r}; expected question, selections, options[, source]")
    ordinal = set(ordinal_items)
    items, human = [], []
    for i, r in raw.iterrows():
        where = f"{path} row {i}"
        opts = parse_list_cell(str(r["options"]), where=f"{where}, column 'options'")
        if not opts or any(o is None for o in opts):
            raise ValueError(f"{where}, column 'options': expected a list of quoted option texts, got {r['options']!r}"[:200])
        sel = str(r["selections"]).strip()
        m = re.match(r"^defaultdict\(\s*<class '\w+'>\s*,\s*(\{.*\})\s*\)$", sel, re.S)
        body = m.group(1) if m else sel
        shares = _literal_dict(body, f"{where}, column 'selections'")
        item_id = f"goqa{i}"
        items.append({"item_id": item_id, "language": "en", "question": str(r["question"]), "options": opts,
                      "scale": "ordinal" if item_id in ordinal else "categorical", "source": r.get("source")})
        for country, dist in shares.items():
            if not isinstance(dist, list) or len(dist) != len(opts):
                raise ValueError(f"{where}, column 'selections', {country!r}: expected {len(opts)} shares, got {dist!r}"[:200])
            total = float(sum(dist))
            if total <= 0:
                continue
            for j, s in enumerate(dist):
                human.append({"item_id": item_id, "population": country, "option": j + 1, "share": float(s) / total})
    return PublishedSurvey(validate_survey_items(pd.DataFrame(items)),
                           validate_human_distributions(pd.DataFrame(human)))
