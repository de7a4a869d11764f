"""The tidy tables valuelab works with, and their validation.

Every public function takes and returns :class:`pandas.DataFrame` objects whose columns
are documented here. Validation turns a user's table into a canonical one, or raises a
:class:`ValueError` that names the offending row and column and says what was expected.

The ``comparisons`` table
-------------------------
One row per asked pair (or per pair and presentation order):

``option_a``, ``option_b``
    Option ids: any hashable labels (strings, integers, tuples...). An option may not be
    compared with itself.
``n_a``, ``n_b``
    How often A (B) was preferred. Non-negative; fractional values are allowed (they arise
    when counts come from probabilities); ``n_a + n_b`` must be positive.
``p_a``, ``weight``
    Alternative to ``n_a``/``n_b``: probability that A is preferred, in [0, 1], and the
    number of observations it stands for (default 1). Internally ``n_a = p_a * weight``.
``shown_first`` *(optional)*
    The option id that was presented first, or missing when unknown or when the row pools
    both orders.
``order`` *(optional)*
    Alternative to ``shown_first``: ``"ab"`` when A was shown first, ``"ba"`` when B was.

Any other columns (``model``, ``language``, ``template`` ...) are grouping columns.

The ``options`` table
---------------------
``option_id`` plus any attributes (``text``, ``category``, ``quantity``, ``unit`` ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Iterable

import numpy as np
import pandas as pd

__all__ = [
    "ComparisonData",
    "validate_comparisons",
    "validate_options",
    "combine_orientations",
    "prepare_comparisons",
]

_ORDER_CODES = {"ab": 1, "ba": -1}


def plain_value(value):
    """A numpy scalar as the Python value it holds, so messages read ``12``, not ``np.int64(12)``."""
    return value.item() if isinstance(value, np.generic) else value


def require_columns(df: pd.DataFrame, table: str, columns, expected: str) -> None:
    """Raise naming the first of ``columns`` missing from ``df`` and the table's expected layout."""
    for col in columns:
        if col not in df.columns:
            raise ValueError(f"{table}: missing column {col!r}; expected {expected}")


def row_name(df: pd.DataFrame, pos: int) -> str:
    label = plain_value(df.index[pos])
    if isinstance(df.index, pd.RangeIndex) and label == pos:
        return f"row {pos}"
    return f"row {pos} (index {label!r})"


def _fail(df: pd.DataFrame, mask: np.ndarray, column: str, expected: str, what: str = "") -> None:
    bad = np.flatnonzero(mask)
    if bad.size == 0:
        return
    pos = int(bad[0])
    value = plain_value(df[column].iloc[pos]) if column in df.columns else None
    more = f" ({bad.size - 1} more rows also fail)" if bad.size > 1 else ""
    raise ValueError(
        f"comparisons {row_name(df, pos)}, column {column!r}: expected {expected}, "
        f"got {value!r}{what}{more}"
    )


def _numeric(df: pd.DataFrame, column: str) -> np.ndarray:
    series = df[column]
    if pd.api.types.is_bool_dtype(series.dtype) or series.dtype == object:
        is_bool = series.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy(dtype=bool)
        _fail(df, is_bool, column, "a number (True/False are not counts: use 1/0)")
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        _fail(df, np.isnan(values), column, "a number, not missing")
        _fail(df, ~np.isfinite(values), column, "a finite number")
        return values
    try:
        values = pd.to_numeric(df[column], errors="raise").to_numpy(dtype=float)
    except (ValueError, TypeError):
        coerced = pd.to_numeric(df[column], errors="coerce")
        _fail(df, (coerced.isna() & df[column].notna()).to_numpy(), column, "a number")
        raise
    _fail(df, np.isnan(values), column, "a number, not missing")
    _fail(df, ~np.isfinite(values), column, "a finite number")
    return values


def _missing(values: pd.Series) -> np.ndarray:
    return values.isna().to_numpy()


def validate_options(options: pd.DataFrame) -> pd.DataFrame:
    """Check an ``options`` table and return it indexed by ``option_id``.

    Parameters
    ----------
    options : DataFrame
        Must have an ``option_id`` column (or be indexed by option id, with the index named
        ``option_id``) with unique, non-missing values.

    Returns
    -------
    DataFrame
        The same rows, indexed by ``option_id``; all other columns are kept as attributes.
    """
    if not isinstance(options, pd.DataFrame):
        raise TypeError(f"options must be a pandas DataFrame, got {type(options).__name__}")
    if "option_id" not in options.columns:
        if options.index.name == "option_id":
            options = options.reset_index()
        else:
            raise ValueError(
                "options table: missing column 'option_id' (the id each comparison uses); "
                f"columns are {list(options.columns)}"
            )
    ids = options["option_id"]
    miss = _missing(ids)
    if miss.any():
        pos = int(np.flatnonzero(miss)[0])
        raise ValueError(f"options {row_name(options, pos)}, column 'option_id': expected an id, got missing")
    dup = ids.duplicated().to_numpy()
    if dup.any():
        pos = int(np.flatnonzero(dup)[0])
        raise ValueError(
            f"options {row_name(options, pos)}, column 'option_id': id {plain_value(ids.iloc[pos])!r} appears more than once"
        )
    return options.set_index("option_id")


def validate_comparisons(comparisons: pd.DataFrame, *, options: pd.DataFrame | None = None,
                         _arrays_only: bool = False) -> pd.DataFrame:
    """Check a ``comparisons`` table and return its canonical form.

    Parameters
    ----------
    comparisons : DataFrame
        See the module docstring for the columns. Either ``n_a`` and ``n_b``, or ``p_a``
        (with an optional ``weight``) must be present.
    options : DataFrame, optional
        When given, every option id in the comparisons must appear in its ``option_id``.

    Returns
    -------
    DataFrame
        One row per input row, in input order, with columns ``option_a``, ``option_b``,
        ``n_a``, ``n_b`` (float), ``first`` (int8: +1 when A was shown first, -1 when B was,
        0 when unknown or pooled) followed by every other input column (grouping columns).

    Raises
    ------
    ValueError
        Naming the first offending row and column: missing columns, empty table, missing or
        non-finite numbers, negative counts, a zero total, ``p_a`` outside [0, 1], a
        non-positive weight, an option compared with itself, an unknown option id, or a
        ``shown_first`` that is neither option.
    """
    if not isinstance(comparisons, pd.DataFrame):
        raise TypeError(f"comparisons: expected a DataFrame, got {type(comparisons).__name__}")
    if not isinstance(comparisons, pd.DataFrame):
        raise TypeError(f"comparisons must be a pandas DataFrame, got {type(comparisons).__name__}")
    df = comparisons
    missing = [c for c in ("option_a", "option_b") if c not in df.columns]
    if missing:
        raise ValueError(
            f"comparisons: missing column(s) {missing}; expected 'option_a' and 'option_b' "
            f"plus either 'n_a' and 'n_b' or 'p_a' (columns are {list(df.columns)})"
        )
    has_counts = "n_a" in df.columns or "n_b" in df.columns
    if has_counts and not ("n_a" in df.columns and "n_b" in df.columns):
        raise ValueError("comparisons: 'n_a' and 'n_b' go together; one of them is missing")
    if has_counts and ("p_a" in df.columns or "weight" in df.columns):
        extra = [c for c in ("p_a", "weight") if c in df.columns]
        raise ValueError(
            f"comparisons: both counts ('n_a', 'n_b') and {extra} are given; use counts, or 'p_a' with "
            "'weight', not both (one of them would be ignored)"
        )
    if "first" in df.columns:
        raise ValueError(
            "comparisons: column 'first' is reserved for valuelab's order code; give the order as "
            "'shown_first' (option id) or 'order' ('ab'/'ba'), and rename any other 'first' column"
        )
    if not has_counts and "p_a" not in df.columns:
        raise ValueError(
            "comparisons: no outcome columns; expected 'n_a' and 'n_b' (counts) or 'p_a' "
            f"(probability that A is preferred, with optional 'weight'); columns are {list(df.columns)}"
        )
    if len(df) == 0:
        raise ValueError("comparisons: the table is empty; at least one compared pair is needed")

    for col in ("option_a", "option_b"):
        _fail(df, _missing(df[col]), col, "an option id, not missing")
        if df[col].dtype == object:
            unhashable = df[col].map(lambda v: not isinstance(v, Hashable)).to_numpy()
            _fail(df, unhashable, col, "a hashable option id (a string, number or tuple; lists are not allowed)")
    # One hashing pass codes the ids and, when given, 'shown_first' alike. Every valid
    # 'shown_first' is option_a or option_b, so the uniques are the options in order of first
    # appearance; an invalid one is rejected below, before the uniques are used.
    shown_is_a = shown_is_b = None
    columns = [df["option_a"], df["option_b"]]
    if "shown_first" in df.columns:
        try:  # a vectorised comparison where the dtypes allow it (half the hashing)
            shown_is_a = np.asarray(df["shown_first"] == df["option_a"], dtype=bool)
            shown_is_b = np.asarray(df["shown_first"] == df["option_b"], dtype=bool)
        except (TypeError, ValueError):
            columns.append(df["shown_first"])
    all_codes, uniques = pd.factorize(pd.concat(columns, ignore_index=True))
    code_a, code_b = all_codes[: len(df)], all_codes[len(df) : 2 * len(df)]
    codes = (all_codes[: 2 * len(df)], uniques)
    same = code_a == code_b
    _fail(df, same, "option_b", "an option different from option_a", " (an option compared with itself)")

    if options is not None:
        known = validate_options(options).index
        for col in ("option_a", "option_b"):
            unknown = ~df[col].isin(known).to_numpy()
            _fail(df, unknown, col, "an option_id listed in the options table", " (unknown option)")

    if has_counts:
        n_a = _numeric(df, "n_a")
        n_b = _numeric(df, "n_b")
        _fail(df, n_a < 0, "n_a", "a non-negative count")
        _fail(df, n_b < 0, "n_b", "a non-negative count")
        _fail(df, (n_a + n_b) <= 0, "n_b", "n_a + n_b > 0", " (zero total: this pair has no observations)")
    else:
        p_a = _numeric(df, "p_a")
        _fail(df, (p_a < 0) | (p_a > 1), "p_a", "a probability in [0, 1]")
        weight = _numeric(df, "weight") if "weight" in df.columns else np.ones(len(df))
        _fail(df, weight <= 0, "weight", "a positive weight")
        n_a, n_b = p_a * weight, (1.0 - p_a) * weight

    first = np.zeros(len(df), dtype=np.int8)
    if "shown_first" in df.columns and "order" in df.columns:
        raise ValueError("comparisons: give either 'shown_first' or 'order', not both")
    if "shown_first" in df.columns:
        known_first = ~_missing(df["shown_first"])
        if shown_is_a is None:
            code_first = all_codes[2 * len(df) :]
            shown_is_a, shown_is_b = code_first == code_a, code_first == code_b
        is_a = known_first & shown_is_a
        is_b = known_first & shown_is_b
        _fail(df, known_first & ~is_a & ~is_b, "shown_first", "option_a, option_b or missing")
        first[is_a] = 1
        first[is_b] = -1
    elif "order" in df.columns:
        order = df["order"]
        known_order = ~_missing(order)
        codes = order.map(lambda v: _ORDER_CODES.get(str(v).lower()) if isinstance(v, str) else None)
        _fail(df, known_order & codes.isna().to_numpy(), "order", "'ab', 'ba' or missing")
        first = codes.fillna(0).to_numpy(dtype=np.int8)

    if _arrays_only:  # (the labels of each row are not needed: the codes name them)
        return _Checked(None, None, code_a, code_b, codes, n_a.astype(float), n_b.astype(float), first)
    a = df["option_a"].to_numpy(dtype=object)
    b = df["option_b"].to_numpy(dtype=object)
    skip = {"option_a", "option_b", "n_a", "n_b", "p_a", "weight", "shown_first", "order"}
    out = pd.DataFrame(
        {"option_a": a, "option_b": b, "n_a": n_a.astype(float), "n_b": n_b.astype(float), "first": first}
    )
    for col in df.columns:
        if col not in skip:
            out[col] = df[col].to_numpy()
    return out


@dataclass(frozen=True)
class _Checked:
    a: np.ndarray
    b: np.ndarray
    code_a: np.ndarray
    code_b: np.ndarray
    codes: object
    n_a: np.ndarray
    n_b: np.ndarray
    first: np.ndarray


def combine_orientations(comparisons: pd.DataFrame, *, by: Iterable[str] = (), keep_order: bool = True) -> pd.DataFrame:
    """Pool rows that describe the same pair, in either orientation.

    ``(A, B, n_a=3, n_b=1)`` and ``(B, A, n_a=2, n_b=2)`` become one row
    ``(A, B, n_a=5, n_b=3)``. The orientation kept is that of the first occurrence.

    Parameters
    ----------
    comparisons : DataFrame
        A comparisons table (validated first).
    by : list of str
        Grouping columns kept apart (for example ``["model"]``).
    keep_order : bool, default True
        Keep rows of different presentation order apart (``first`` column); when False the
        orders are pooled and ``first`` is 0.

    Returns
    -------
    DataFrame
        Columns ``*by, option_a, option_b, first, n_a, n_b``.
    """
    return combine_validated(validate_comparisons(comparisons), by=by, keep_order=keep_order)


def combine_validated(df: pd.DataFrame, *, by: Iterable[str] = (), keep_order: bool = True) -> pd.DataFrame:
    """:func:`combine_orientations` on an already validated table."""
    by = list(by)
    codes, _ = pd.factorize(pd.concat([df["option_a"], df["option_b"]], ignore_index=True))
    ca, cb = codes[: len(df)], codes[len(df) :]
    if not by:
        first = df["first"].to_numpy(dtype=np.int8) if keep_order else np.zeros(len(df), np.int8)
        pos, first_out, na, nb = _pool(ca, cb, first, df["n_a"].to_numpy(float), df["n_b"].to_numpy(float))
        return pd.DataFrame({"option_a": df["option_a"].to_numpy()[pos], "option_b": df["option_b"].to_numpy()[pos],
                             "first": first_out, "n_a": na, "n_b": nb})
    first_pos = _first_occurrence(ca, cb)
    flip = ca != ca[first_pos]
    na = np.where(flip, df["n_b"], df["n_a"])
    nb = np.where(flip, df["n_a"], df["n_b"])
    first = np.where(flip, -df["first"].to_numpy(), df["first"].to_numpy()) if keep_order else 0
    work = pd.DataFrame(
        {
            **{c: df[c].to_numpy() for c in by},
            "_pos": first_pos,
            "first": np.asarray(first, dtype=np.int8) * np.ones(len(df), dtype=np.int8),
            "n_a": na,
            "n_b": nb,
        }
    )
    grouped = work.groupby(by + ["_pos", "first"], sort=False, dropna=False)[["n_a", "n_b"]].sum().reset_index()
    pos = grouped["_pos"].to_numpy()
    grouped.insert(len(by), "option_a", df["option_a"].to_numpy()[pos])
    grouped.insert(len(by) + 1, "option_b", df["option_b"].to_numpy()[pos])
    return grouped.drop(columns="_pos")[by + ["option_a", "option_b", "first", "n_a", "n_b"]]


def appearance_codes(key: np.ndarray, *, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the non-negative integer ``key`` in order of first appearance, and the row of
    each code's first appearance: ``pd.factorize`` for small key ranges without hashing.

    Parameters
    ----------
    key : ndarray of int
        Non-negative integer keys.
    size : int, optional
        An upper bound on the keys (all lie in ``[0, size)``). Where it is at most a few times
        the number of keys, a table indexed by key replaces the hash table (several times
        faster); otherwise, and without it, ``pandas.factorize`` does the work.

    Returns
    -------
    codes : ndarray of int
        ``codes[r]`` numbers the distinct keys in order of first appearance, as
        ``pandas.factorize`` does.
    starts : ndarray of int
        The row of each code's first appearance (``key[starts]`` are the distinct keys).
    """
    rows = np.arange(len(key))
    if size is not None and size <= 8 * len(key) + (1 << 22):
        first = np.empty(size, dtype=np.int64)  # only the entries of present keys are written and read
        first[key[::-1]] = rows[::-1]  # the last write, the first row, wins
        first_row = first[key]
        starts = np.flatnonzero(first_row == rows)
        rank = np.empty(len(key), dtype=np.int64)
        rank[starts] = np.arange(len(starts))
        return rank[first_row], starts
    codes, uniques = pd.factorize(key)  # hashing, in order of first appearance (no sort)
    starts = np.empty(len(uniques), dtype=np.int64)
    starts[codes[::-1]] = rows[::-1]
    return codes, starts


def _first_occurrence(ca: np.ndarray, cb: np.ndarray) -> np.ndarray:
    """Row position of the first occurrence of each row's unordered pair."""
    m = int(max(ca.max(initial=0), cb.max(initial=0))) + 1
    lo, hi = np.minimum(ca, cb).astype(np.int64), np.maximum(ca, cb).astype(np.int64)
    codes, starts = appearance_codes(lo * m + hi, size=m * m)
    return starts[codes]


def _pool(ca, cb, first, n_a, n_b):
    """Pool rows of the same unordered pair (oriented like its first occurrence) and order.

    Returns the row position that names each pooled row, its order code and summed counts,
    in order of first appearance.
    """
    first_pos = _first_occurrence(ca, cb)
    flip = ca != ca[first_pos]
    na = np.where(flip, n_b, n_a)
    nb = np.where(flip, n_a, n_b)
    f = np.where(flip, -first, first).astype(np.int64)
    key = first_pos.astype(np.int64) * 3 + (f + 1)
    group, starts = appearance_codes(key, size=3 * len(key))  # groups in order of first appearance
    uniq = key[starts]
    k = len(uniq)
    pos = (uniq // 3).astype(np.int64)
    first_out = (uniq % 3 - 1).astype(np.int8)
    return pos, first_out, np.bincount(group, na, k), np.bincount(group, nb, k)


@dataclass(frozen=True)
class ComparisonData:
    """Comparisons as integer arrays, ready for the likelihood.

    Attributes
    ----------
    options : pandas.Index
        Option labels; position ``i`` is option code ``i``.
    a, b : ndarray of int
        Option codes of each row.
    n_a, n_b : ndarray of float
        Counts of A and B preferred.
    first : ndarray of int8
        +1 when A was shown first, -1 when B was, 0 when unknown or pooled.
    """

    options: pd.Index
    a: np.ndarray
    b: np.ndarray
    n_a: np.ndarray
    n_b: np.ndarray
    first: np.ndarray

    @property
    def n_options(self) -> int:
        return len(self.options)

    @property
    def n_rows(self) -> int:
        return len(self.a)

    @property
    def n_obs(self) -> float:
        return float(self.n_a.sum() + self.n_b.sum())

    @property
    def has_order(self) -> bool:
        return bool(np.any(self.first != 0))

    def subset(self, rows: np.ndarray) -> "ComparisonData":
        """The same data restricted to ``rows`` (an index array or boolean mask)."""
        return ComparisonData(self.options, self.a[rows], self.b[rows], self.n_a[rows], self.n_b[rows], self.first[rows])

    def reweight(self, weights: np.ndarray) -> "ComparisonData":
        """The same data with each row's counts multiplied by ``weights`` (bootstrap resamples)."""
        return ComparisonData(self.options, self.a, self.b, self.n_a * weights, self.n_b * weights, self.first)


def prepare_comparisons(
    comparisons: pd.DataFrame,
    *,
    options: pd.DataFrame | None = None,
    option_order: Iterable[Hashable] | None = None,
) -> ComparisonData:
    """Validate, pool orientations, and encode a comparisons table as arrays.

    Parameters
    ----------
    comparisons : DataFrame
        The comparisons table.
    options : DataFrame, optional
        Options table; ids are checked against it and, when given, it fixes the option
        order (options never compared are dropped).
    option_order : iterable, optional
        Explicit option order (used internally to keep codes stable across folds).

    Returns
    -------
    ComparisonData
    """
    checked = validate_comparisons(comparisons, options=options, _arrays_only=True)
    ca, cb = checked.code_a, checked.code_b
    uniques = checked.codes[1]
    pos, first, n_a, n_b = _pool(ca, cb, checked.first, checked.n_a, checked.n_b)
    ca, cb = ca[pos], cb[pos]
    seen = pd.Index(uniques)
    if option_order is not None:
        labels = pd.Index(list(option_order))
        absent = ~seen.isin(labels)
        if absent.any():
            raise ValueError(f"comparisons: option {seen[absent][0]!r} is not among the fitted options")
    elif options is not None:
        ids = validate_options(options).index
        labels = ids[ids.isin(seen)]
    else:
        labels = seen
    remap = labels.get_indexer(seen)
    return ComparisonData(
        options=labels,
        a=remap[ca].astype(np.int64),
        b=remap[cb].astype(np.int64),
        n_a=n_a,
        n_b=n_b,
        first=first,
    )
