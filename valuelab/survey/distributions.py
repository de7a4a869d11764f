"""One answer distribution per item and context, from logits or from generated texts.

Every survey analysis (:func:`~valuelab.survey.condition_shifts`,
:func:`~valuelab.survey.human_alignment`, :func:`~valuelab.survey.persona_alignment`)
compares *distributions*, while models answer in *responses*: one row per call, several per
item and context when answers are sampled, or asked of many personas or paraphrases.
:func:`answer_distributions` turns the responses of one item and context into one
distribution, and says how many responses it rests on; the analyses call it, so they take
either table. The columns of every survey table, with their defaults, are documented in one
place: ``docs/survey_tables.md``.

* **From logits** (a ``probs`` cell: the option distribution read at the answer position,
  as :func:`~valuelab.survey.elicit_survey` returns): the mean of the responses'
  distributions, each renormalised, so every response weighs the same.
* **From texts** (``text_answer``: the 1-based option the text names, as
  ``responses_from_completions`` returns): the shares of the options among the responses
  that answered (not refused, an option named). Refusals, evasions and texts naming no
  option are counted beside the distribution, never in it.
* A sampled answer given as a one-hot ``probs`` row counts as a text answer would: such a
  distribution is the **empirical** distribution of whole answers (``sampled``), which
  matters for baselines (see :func:`~valuelab.survey.human_alignment`).

**Non-substantive options** ("Don't know", "Refuse"; the ``non_substantive`` column of
``survey_items``) stay in the distribution, and their share is reported
(``non_substantive_share``); every distance, expected answer and entropy is computed over
the substantive options, renormalised, on positions ``1..n_substantive`` [1]_.

References
----------
.. [1] Krosnick, J. A. et al. (2002). The impact of "no opinion" response options on data
   quality. *Public Opinion Quarterly* 66(3), 371–403.
.. [2] Durmus, E. et al. (2024). Towards Measuring the Representation of Subjective Global
   Opinions in Language Models. COLM (model distributions from sampled answers).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd

from ..schema import require_columns
from .items import validate_survey_items

__all__ = ["CONTEXT", "CONTEXT_DEFAULTS", "answer_distributions"]

#: The columns that make a context: who answered, in which language, framing, for which country, how.
CONTEXT = ("model", "language", "framing", "country", "reasoning")
#: Defaults for context columns a table lacks (a completion asked plainly, zero-shot).
CONTEXT_DEFAULTS = {"framing": "neutral", "country": None, "reasoning": False}
_SOURCES = ("auto", "probs", "text")
_DIST_COLUMNS = ["scale", "n_options", "n_substantive", "non_substantive", "source", "sampled", "probs", "counts",
                 "non_substantive_share", "n_asked", "n_responses", "n_answered", "n_refused", "refusal_rate"]


# ---------------------------------------------------------------- shared helpers
def _plain(value):
    return value.item() if isinstance(value, np.generic) else (None if value is pd.NA else value)


def _missing(value) -> bool:
    """None, NaN, pd.NA (a scalar; lists and arrays are never missing)."""
    if value is None or value is pd.NA:
        return True
    return isinstance(value, (float, np.floating)) and bool(np.isnan(value))


def _describe(row: dict, keys) -> str:
    """``item 'i1' (model='m', language='en')``: where a response or distribution sits, for messages."""
    ctx = ", ".join(f"{k}={_plain(row[k])!r}" for k in keys if k != "item_id" and k in row)
    return f"item {_plain(row['item_id'])!r}" + (f" ({ctx})" if ctx else "")


def _by_columns(table: pd.DataFrame, by, name: str) -> list[str]:
    """The caller's extra grouping columns (``by``: None, a column name or a sequence), checked present."""
    cols = [] if by is None else ([by] if isinstance(by, str) else list(by))
    for c in cols:
        if c not in table.columns:
            raise ValueError(f"by: {name} has no column {c!r} (its columns: {list(table.columns)})")
        if c in CONTEXT or c in ("item_id", "population"):
            raise ValueError(f"by: {c!r} is already a grouping column; name only extra columns")
    return cols


def _with_defaults(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``framing``, ``country`` and ``reasoning`` added at their defaults when absent."""
    missing = {c: v for c, v in CONTEXT_DEFAULTS.items() if c not in table.columns}
    if not missing:
        return table
    out = table.copy()
    for c, v in missing.items():
        out[c] = pd.Series([v] * len(out), index=out.index, dtype=object if v is None else None)
    return out


def _context_columns(table: pd.DataFrame, extra=()) -> list[str]:
    return [c for c in CONTEXT if c in table.columns] + list(extra)


def _positions(cell, where: str) -> tuple:
    """A normalised ``non_substantive`` cell (positions, 1-based) from a table: () when missing."""
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return ()
    if isinstance(cell, str):
        text = cell.strip().strip("[]()")
        cell = [t for t in text.replace(";", ",").split(",") if t.strip()] if text else []
    try:
        values = [int(float(v)) for v in (cell if isinstance(cell, (list, tuple, np.ndarray)) else [cell])]
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected option positions (1-based), got {cell!r}") from None
    return tuple(sorted(set(values)))


def _split(p: np.ndarray, ns: tuple) -> tuple[np.ndarray | None, float]:
    """``(substantive distribution renormalised or None, non-substantive share)`` of ``p`` over all options."""
    p = np.asarray(p, float)
    total = p.sum()
    if not ns:
        return (p / total if total > 0 else None), 0.0
    mask = np.ones(p.size, bool)
    mask[np.asarray(ns, int) - 1] = False
    sub = p[mask].sum()
    share = float(1 - sub / total) if total > 0 else np.nan
    return (p[mask] / sub if sub > 0 else None), share


def _item_info(items: pd.DataFrame | None) -> pd.DataFrame | None:
    """Per item: ``scale``, ``n_options``, ``non_substantive`` (positions), from a ``survey_items`` table."""
    if items is None:
        return None
    its = validate_survey_items(items).drop_duplicates("item_id").set_index("item_id")
    info = pd.DataFrame({"scale": its["scale"], "n_options": its["options"].map(len)})
    info["non_substantive"] = its["non_substantive"] if "non_substantive" in its.columns else [()] * len(info)
    return info


def _invalid_reason(p: np.ndarray, n_options) -> str | None:
    if p.ndim != 1 or p.size < 2:
        return "fewer than two option probabilities"
    if not np.isfinite(p).all():
        return "probabilities not finite (NaN or inf; e.g. no option was read)"
    if (p < 0).any():
        return "negative probabilities"
    if p.sum() <= 0:
        return "probabilities summing to 0"
    if n_options is not None and not _missing(n_options) and p.size != int(n_options):
        return f"{p.size} probabilities for {int(n_options)} options"
    return None


def _prepare(responses: pd.DataFrame, items, caller: str) -> pd.DataFrame:
    """Responses with context defaults, ``scale``, ``n_options`` and ``non_substantive`` filled and checked."""
    if not isinstance(responses, pd.DataFrame):
        raise TypeError(f"{caller}: responses: expected a DataFrame, got {type(responses).__name__}")
    require_columns(responses, "responses", ["item_id"], "item_id and probs or text_answer (docs/survey_tables.md)")
    if "probs" not in responses.columns and "text_answer" not in responses.columns:
        raise ValueError(f"{caller}: responses needs a 'probs' column (option distributions read from logits) or a "
                         "'text_answer' column (the option a generated text names); it has neither "
                         f"(columns: {list(responses.columns)})")
    df = _with_defaults(responses.reset_index(drop=True))
    info = _item_info(items)
    if info is not None:
        unknown = ~df["item_id"].isin(info.index)
        if unknown.any():
            pos = int(np.flatnonzero(unknown.to_numpy())[0])
            raise ValueError(f"{caller}: responses row {pos}: item {_plain(df['item_id'].iat[pos])!r} is not in items")
        if "n_options" in df.columns:
            k = pd.to_numeric(df["n_options"], errors="coerce").to_numpy(float)
            want = info["n_options"].reindex(df["item_id"]).to_numpy(float)
            off = np.isfinite(k) & (k != want)
            if off.any():
                pos = int(np.flatnonzero(off)[0])
                raise ValueError(f"{caller}: responses row {pos}, {_describe(df.iloc[pos].to_dict(), CONTEXT)}: "
                                 f"n_options {int(k[pos])} but the item has {int(want[pos])} options")
    for col in ("scale", "n_options", "non_substantive"):
        present = col in df.columns
        if present and not df[col].map(_missing).any():
            continue
        old = list(df[col]) if present else [None] * len(df)
        if info is not None:
            filled = info[col].reindex(df["item_id"]).tolist()
        elif col == "scale":
            if not present:
                raise ValueError(f"{caller}: responses: missing column 'scale'; add it or pass items= (the "
                                 "survey_items table) so each item's scale is known")
            filled = old
        elif col == "n_options" and "labels" in df.columns:
            filled = [len(v) if isinstance(v, (list, tuple, np.ndarray)) else np.nan for v in df["labels"]]
        else:
            filled = [np.nan if col == "n_options" else ()] * len(df)
        df[col] = pd.Series([f if _missing(v) else v for v, f in zip(old, filled)], index=df.index, dtype=object)
    df["n_options"] = pd.to_numeric(df["n_options"], errors="coerce")
    df["non_substantive"] = [_positions(c, f"responses row {i}, column 'non_substantive'")
                             for i, c in enumerate(df["non_substantive"])]
    bad = ~df["scale"].isin(("ordinal", "categorical"))
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{caller}: responses row {pos}, column 'scale': expected 'ordinal' or 'categorical', got "
                         f"{_plain(df['scale'].iat[pos])!r}")
    return df


def _has_probs(cell) -> bool:
    return not _missing(cell) and not (isinstance(cell, str) and not cell.strip())


def _as_array(cell) -> np.ndarray:
    try:
        a = np.asarray(cell, dtype=float)
    except (TypeError, ValueError):
        a = np.array([np.nan])
    return a.reshape(1) if a.ndim == 0 else a


def _refused(df: pd.DataFrame) -> np.ndarray | None:
    """Per row, refused (a refusal or an evasion); None when the table says nothing about refusals."""
    if "refused" in df.columns:
        return np.array([False if _missing(v) else bool(v) for v in df["refused"]])
    if "verdict" in df.columns:
        return df["verdict"].isin(("refusal", "evasion")).to_numpy()
    return None


def _text_answers(df: pd.DataFrame, keys: list[str], caller: str) -> np.ndarray:
    """``text_answer`` as floats (NaN: no option named), each checked to be an option of its item."""
    if "text_answer" not in df.columns:
        return np.full(len(df), np.nan)
    out = np.full(len(df), np.nan)
    k = pd.to_numeric(df["n_options"], errors="coerce").to_numpy(float)
    for i, v in enumerate(df["text_answer"]):
        if _missing(v):
            continue
        try:
            a = float(v)
        except (TypeError, ValueError):
            a = np.nan
        if not (np.isfinite(a) and a.is_integer() and a >= 1 and (np.isnan(k[i]) or a <= k[i])):
            raise ValueError(f"{caller}: responses row {i}, {_describe(df.iloc[i].to_dict(), keys)}, column "
                             f"'text_answer': expected a 1-based option number"
                             f"{'' if np.isnan(k[i]) else f' in 1..{int(k[i])}'} or missing, got {_plain(v)!r}")
        out[i] = a
    return out


# ---------------------------------------------------------------- the aggregation
def _distributions(responses: pd.DataFrame, *, items=None, by=None, source: str = "auto",
                   caller: str = "answer_distributions") -> pd.DataFrame:
    if source not in _SOURCES:
        raise ValueError(f"source: expected 'auto', 'probs' or 'text', got {source!r}")
    df = _prepare(responses, items, caller)
    extra = _by_columns(df, by, "responses")
    keys = _context_columns(df, extra) + ["item_id"]
    if source == "probs" and "probs" not in df.columns:
        raise ValueError(f"{caller}: source='probs' but responses has no 'probs' column (option distributions read "
                         "from logits); use source='text' for generated texts")
    if source == "text" and "text_answer" not in df.columns:
        raise ValueError(f"{caller}: source='text' but responses has no 'text_answer' column")
    has_probs = (np.array([_has_probs(c) for c in df["probs"]]) if "probs" in df.columns
                 else np.zeros(len(df), bool))
    refused = _refused(df)
    answers = _text_answers(df, keys, caller)
    codes = df.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    group_rows = [[] for _ in range(n_groups)]
    for i, g in enumerate(codes):
        group_rows[g].append(i)
    if source == "auto":
        use_probs = np.array([has_probs[rows].any() for rows in group_rows], bool)
        if "text_answer" not in df.columns and (~use_probs).any():
            use_probs[:] = True  # no text either: the rows without a distribution are reported as unusable
    else:
        use_probs = np.full(n_groups, source == "probs")
    # logit distributions: check each row of the groups that use them
    arrays: dict[int, np.ndarray] = {}
    bad: list[tuple[int, str]] = []
    for g in np.flatnonzero(use_probs):
        for i in group_rows[g]:
            a = _as_array(df["probs"].iat[i]) if has_probs[i] else np.array([np.nan])
            reason = _invalid_reason(a, df["n_options"].iat[i])
            if reason is None:
                arrays[i] = a
            else:
                bad.append((i, reason if has_probs[i] else "no option distribution (probs missing)"))
    if bad:
        shown = "; ".join(f"row {_plain(responses.index[i])!r}, {_describe(df.iloc[i].to_dict(), keys)}: {r}"
                          for i, r in bad[:5])
        more = f"; and {len(bad) - 5} more" if len(bad) > 5 else ""
        warnings.warn(f"{caller}: dropped {len(bad)} of {len(df)} responses whose option distribution cannot be "
                      f"used: {shown}{more}", UserWarning, stacklevel=3)
    records = []
    scale_arr, k_arr = df["scale"].to_numpy(object), df["n_options"].to_numpy(float)
    ns_arr = df["non_substantive"].to_numpy(object)
    key_rows = df[keys].iloc[[rows[0] for rows in group_rows]].to_dict("records") if group_rows else []
    for g, rows in enumerate(group_rows):
        rec = key_rows[g]
        ns = ns_arr[rows[0]]
        ks = k_arr[rows]
        scales = set(scale_arr[rows])
        k_known = ks[np.isfinite(ks)]
        if len(scales) > 1 or len(set(k_known)) > 1:
            raise ValueError(f"{caller}: {_describe(rec, keys)}: its responses differ in scale or number of options "
                             f"({sorted(scales)}, {sorted(set(k_known.astype(int)))}); they cannot be pooled")
        k_col = pd.Series(ks)
        n_refused = int(refused[rows].sum()) if refused is not None else pd.NA
        text_ok = np.isfinite(answers[rows]) & (~refused[rows] if refused is not None else True)
        probs = counts = None
        sampled = True
        if use_probs[g]:
            good = [arrays[i] for i in rows if i in arrays]
            sizes = {a.size for a in good}
            if len(sizes) > 1:
                raise ValueError(f"{caller}: {_describe(rec, keys)}: its responses have different numbers of options "
                                 f"{sorted(sizes)}; they cannot be averaged")
            k = sizes.pop() if sizes else (None if k_col.isna().all() else int(k_col.iloc[0]))
            if good:
                mat = np.vstack(good)
                mat = mat / mat.sum(1, keepdims=True)
                probs = mat.mean(0)
                sampled = bool(np.all((mat == 0) | (mat == 1)))
                counts = mat.sum(0).round().astype(int) if sampled else None
            n_used = len(good)
            src = "probs"
        else:
            if k_col.isna().all():
                raise ValueError(f"{caller}: {_describe(rec, keys)}: the number of options is unknown; add an "
                                 "'n_options' (or 'labels') column or pass items=")
            k = int(k_col.iloc[0])
            picked = answers[rows][text_ok].astype(int)
            counts = np.bincount(picked - 1, minlength=k)
            probs = counts / counts.sum() if counts.sum() else None
            n_used = int(text_ok.sum())
            src = "text"
        if ns and k is not None and (max(ns) > k or k - len(ns) < 2):
            raise ValueError(f"{caller}: {_describe(rec, keys)}: non-substantive options {list(ns)} do not leave two "
                             f"substantive options among the item's {k}")
        share = _split(probs, ns)[1] if probs is not None else np.nan
        records.append({**rec, "scale": scale_arr[rows[0]], "n_options": k, "n_substantive": None if k is None else
                        k - len(ns), "non_substantive": ns, "source": src, "sampled": sampled,
                        "probs": None if probs is None else probs.tolist(),
                        "counts": None if counts is None else counts.tolist(), "non_substantive_share": share,
                        "n_asked": len(rows), "n_responses": n_used,
                        "n_answered": int(text_ok.sum()) if "text_answer" in df.columns else pd.NA,
                        "n_refused": n_refused,
                        "refusal_rate": n_refused / len(rows) if refused is not None else np.nan})
    out = pd.DataFrame(records, columns=keys + _DIST_COLUMNS)
    for c in ("n_answered", "n_refused"):
        out[c] = out[c].astype("Int64")
    return out


def answer_distributions(responses: pd.DataFrame, *, items: pd.DataFrame | None = None, by=None,
                         source: str = "auto") -> pd.DataFrame:
    """One answer distribution per item and context, from per-response answers.

    The responses of one item and context (the columns ``model``, ``language``,
    ``framing``, ``country``, ``reasoning`` present, and the ``by`` columns) are pooled into
    one distribution over the item's options; every other column (``persona_id``,
    ``sample``, ``template`` ... not named in ``by``) is pooled over, and ``n_responses``
    says how many responses the distribution rests on. Nothing is dropped silently: a
    context where no response answered (every sample refused) gets a row with ``probs``
    None and its counts.

    Parameters
    ----------
    responses : DataFrame
        One row per response: ``item_id``, ``scale`` and either ``probs`` (option
        distribution from logits) or ``text_answer`` (1-based option named by the text, or
        missing) with ``n_options`` (or ``labels``); optionally ``refused`` (bool) or
        ``verdict`` (``'refusal'`` and ``'evasion'`` count as refused), the context columns
        (``framing`` defaults to ``"neutral"``, ``country`` to None, ``reasoning`` to False)
        and ``non_substantive``. See ``docs/survey_tables.md``.
    items : DataFrame, optional
        ``survey_items``: fills ``scale``, ``n_options`` and ``non_substantive`` for
        responses that lack them, and checks ``n_options``.
    by : str or sequence of str, optional
        Extra grouping columns (``persona_id``, ``template`` ...) kept apart and carried to
        the output.
    source : {"auto", "probs", "text"}
        Where a distribution comes from. ``"auto"``: from ``probs`` for a context where any
        response has a ``probs`` cell, from ``text_answer`` otherwise (a table that joins
        logit rows and completion rows is split context by context). ``"text"`` reads the
        texts of an :func:`~valuelab.survey.elicit_survey` table instead of its logits.

    Returns
    -------
    DataFrame
        One row per item and context: the context and ``by`` columns, ``item_id``,
        ``scale``, ``n_options``, ``n_substantive`` (options that are not
        non-substantive), ``non_substantive`` (their positions, a tuple), ``source``
        (``"probs"`` or ``"text"``), ``sampled`` (True when the distribution is the
        empirical distribution of whole answers: text answers, or one-hot ``probs``),
        ``probs`` (list over all ``n_options`` options summing to 1; None when no response
        answered), ``counts`` (answers per option, for sampled distributions; else None),
        ``non_substantive_share`` (share of the distribution on non-substantive options),
        ``n_asked`` (responses of the context), ``n_responses`` (responses the distribution
        rests on: usable ``probs`` rows, or answered texts), ``n_answered`` (texts that
        named an option and were not refused; NA without ``text_answer``), ``n_refused``
        (NA without ``refused`` or ``verdict``), ``refusal_rate`` (``n_refused /
        n_asked``).

    Raises
    ------
    ValueError
        Naming the row, item and context: a ``text_answer`` outside ``1..n_options``,
        responses of one context with different numbers of options, an unknown number of
        options.

    Warns
    -----
    UserWarning
        Responses whose ``probs`` cannot be used (NaN, negative, the wrong length) are left
        out, counted and named.

    References
    ----------
    .. [1] Durmus, E. et al. (2024). Towards Measuring the Representation of Subjective
       Global Opinions in Language Models. COLM.

    Examples
    --------
    >>> import pandas as pd, valuelab.survey as sv
    >>> rows = pd.DataFrame({"model": "m", "item_id": "q1", "language": "en", "scale": "ordinal",
    ...                      "n_options": 3, "text_answer": [1, 2, 2, None],
    ...                      "refused": [False, False, False, True]})
    >>> d = sv.answer_distributions(rows).iloc[0]
    >>> d["probs"], int(d["n_responses"]), int(d["n_refused"])
    ([0.3333333333333333, 0.6666666666666666, 0.0], 3, 1)
    """
    return _distributions(responses, items=items, by=by, source=source, caller="answer_distributions")


def _is_distributions(table: pd.DataFrame) -> bool:
    """A table :func:`answer_distributions` returned (one row per item and context)."""
    return {"n_asked", "probs", "source", "sampled", "n_substantive"} <= set(table.columns)


def _to_distributions(table: pd.DataFrame, *, items, by, source: str, caller: str) -> tuple[pd.DataFrame, list]:
    """``(distributions, extra)``: the table pooled by :func:`answer_distributions`, or itself when it is one."""
    if _is_distributions(table):
        df = _with_defaults(table.reset_index(drop=True))
        extra = _by_columns(df, by, "distributions")
        keys = _context_columns(df, extra) + ["item_id"]
        dup = df.duplicated(keys)
        if dup.any():
            pos = int(np.flatnonzero(dup.to_numpy())[0])
            raise ValueError(f"{caller}: distributions row {pos}, {_describe(df.iloc[pos].to_dict(), keys)}: a second "
                             "distribution for the same item and context; name the column that tells them apart in "
                             "by=")
        df["non_substantive"] = [_positions(c, f"distributions row {i}, column 'non_substantive'")
                                 for i, c in enumerate(df["non_substantive"])]
        return df, extra
    dists = _distributions(table, items=items, by=by, source=source, caller=caller)
    return dists, _by_columns(dists, by, "responses")


def _answered(dists: pd.DataFrame, keys: list[str], caller: str) -> pd.DataFrame:
    """The distributions with a substantive answer; the others left out with one warning naming them."""
    empty = []
    for i, (p, ns) in enumerate(zip(dists["probs"], dists["non_substantive"])):
        if p is None or (not isinstance(p, (list, tuple, np.ndarray)) and _missing(p)) or _split(p, ns)[0] is None:
            empty.append(i)
    if empty:
        def why(r):
            n_ref = r.get("n_refused")
            if r["probs"] is None or (not isinstance(r["probs"], (list, tuple, np.ndarray))):
                n = int(r["n_asked"]) if "n_asked" in r else None
                ref = "" if n_ref is None or n_ref is pd.NA else f", {int(n_ref)} refused"
                return f"no answer among its {n} response(s){ref}" if n is not None else "no answer"
            return "only non-substantive answers"

        recs = dists.iloc[empty[:5]].to_dict("records")
        shown = "; ".join(f"{_describe(r, keys)}: {why(r)}" for r in recs)
        more = f"; and {len(empty) - 5} more" if len(empty) > 5 else ""
        warnings.warn(f"{caller}: left out {len(empty)} item and context(s) with no substantive answer to compare: "
                      f"{shown}{more}", UserWarning, stacklevel=3)
    keep = np.setdiff1d(np.arange(len(dists)), empty)
    return dists.iloc[keep].reset_index(drop=True)


def _compositions(n: int, k: int, *, limit: int = 20_000, n_resamples: int = 2000, seed=0):
    """Outcomes of ``n`` uniform answers over ``k`` options: ``(counts, weights)``.

    Every composition with its multinomial probability when there are at most ``limit``;
    otherwise ``n_resamples`` Monte Carlo draws with equal weights.
    """
    from math import comb

    from scipy.special import gammaln

    if comb(n + k - 1, k - 1) <= limit:
        counts = np.array([np.bincount(c, minlength=k) for c in itertools.combinations_with_replacement(range(k), n)])
        logw = gammaln(n + 1) - gammaln(counts + 1).sum(1) - n * np.log(k)
        return counts, np.exp(logw)
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(k, 1 / k), size=n_resamples), np.full(n_resamples, 1 / n_resamples)
