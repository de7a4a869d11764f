"""Texts generated anywhere, read into the per-response table the survey analyses take.

A ``completions`` table holds answers to survey items that were generated outside valuelab
(another toolkit, a hosted API, a published dump): one row per generated text with
``model, item_id, language, text`` and any grouping columns (``country, framing,
persona_id, sample, reasoning``, ...). :func:`responses_from_completions` joins it to the
``survey_items`` and reads every text with :func:`valuelab.survey.read_answer`, using the
item's option texts in that language (and in English, when the item has an English version:
small models often answer in English), so answers given in the option's words count.

The result has the columns :func:`valuelab.survey.elicit_survey` uses where the two
overlap, without the logit columns (``probs``, ``option_mass``): text-only rows.

References
----------
.. [1] Durmus, E. et al. (2024). Towards Measuring the Representation of Subjective Global
   Opinions in Language Models. COLM (GlobalOpinionQA: free-text answers mapped to options).
.. [2] Röttger, P. et al. (2024). XSTest. NAACL (refusals recognised by string matching).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ..schema import plain_value, require_columns, row_name
from .items import validate_survey_items
from .reader import _check_table, _lexicon, _option_spec, _read, known_languages, PHRASE_KINDS

__all__ = ["responses_from_completions", "COMPLETION_DEFAULTS"]

#: Grouping columns that get a default when a completions table lacks them.
COMPLETION_DEFAULTS = {"framing": "neutral", "country": None, "reasoning": False}
_REQUIRED = ["model", "item_id", "language", "text"]
_READ = ["scale", "n_options", "labels", "text_answer", "refused", "refusal_kind", "verdict", "evidence", "reason"]
_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n", ""}


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT


def _as_bool(value, where: str) -> bool:
    if _missing(value):
        return False
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"{where}: expected True or False, got {plain_value(value)!r}")


def responses_from_completions(completions: pd.DataFrame | str | os.PathLike, items: pd.DataFrame, *,
                               phrases: pd.DataFrame | None = None,
                               extra_phrases: pd.DataFrame | None = None) -> pd.DataFrame:
    """Read generated answers to survey items into a per-response table.

    Parameters
    ----------
    completions : DataFrame or path
        One row per generated text: ``model``, ``item_id``, ``language`` (ISO 639-1),
        ``text``, and optionally ``framing`` (default ``"neutral"``), ``country`` (default
        None), ``reasoning`` (bool, default False: True for texts that reason before their
        answer and may stop short of it) and any other columns (``persona_id``, ``sample``,
        ...), which are carried through unchanged. A path is read with
        :func:`valuelab.read_table` (CSV, JSON, JSONL, Parquet).
    items : DataFrame
        ``survey_items`` (:func:`valuelab.survey.validate_survey_items`): every
        (``item_id``, ``language``) of the completions must be there.
    phrases, extra_phrases : DataFrame, optional
        Refusal and evasion phrases replacing / added to the defaults
        (:func:`valuelab.survey.read_answer`).

    Returns
    -------
    DataFrame
        One row per completion, in order: ``model``, ``item_id``, ``language``,
        ``framing``, ``country``, ``reasoning``, the other columns of ``completions``,
        ``scale``, ``n_options``, ``labels`` (tuple of answer codes), ``text``,
        ``text_answer`` (1-based option, nullable ``Int64``: NA when the text gives none),
        ``refused`` (bool: a refusal or an evasion; a text that cannot be read is not
        refused), ``refusal_kind`` (``refusal``, ``evasion`` or None), ``verdict``
        (``answer``, ``refusal``, ``evasion``, ``ambiguous``, ``no_answer``), ``evidence``
        (the words behind the verdict) and ``reason`` (why there is no answer). No
        ``probs`` or ``option_mass``: there are no logits.

    Raises
    ------
    TypeError
        ``completions`` is not a table.
    ValueError
        Naming the row and column: a missing column, a text that is not a string, an
        unknown language code, an item not found in that language, a ``reasoning`` that is
        not boolean, or a column that would be overwritten.
    """
    if isinstance(completions, (str, os.PathLike)):
        from ..io import read_table

        completions = read_table(completions)
    if not isinstance(completions, pd.DataFrame):
        raise TypeError(f"completions: expected a DataFrame or a path, got {type(completions).__name__}")
    require_columns(completions, "completions", _REQUIRED, "model, item_id, language, text plus any grouping "
                     "columns (framing, country, reasoning, persona_id, sample, ...)")
    clash = [c for c in _READ if c in completions.columns]
    if clash:
        raise ValueError(f"completions: column {clash[0]!r} would be overwritten by the reading; rename or drop it "
                         f"(the reading adds {', '.join(_READ)})")
    its = validate_survey_items(items)
    df = completions.reset_index(drop=True)
    table = None if phrases is None else _check_table(phrases, "phrases", PHRASE_KINDS)
    extra = None if extra_phrases is None else _check_table(extra_phrases, "extra_phrases", PHRASE_KINDS)
    known = sorted(set(known_languages(table)) | (set(extra["language"]) if extra is not None else set()))

    for pos, value in enumerate(df["text"]):
        if not isinstance(value, str):
            what = "a missing value" if _missing(value) else f"{type(value).__name__} {plain_value(value)!r}"
            raise ValueError(f"completions {row_name(df, pos)}, column 'text': expected the generated text (a "
                             f"string), got {what}")
    for pos, value in enumerate(df["language"]):
        if not isinstance(value, str) or value not in known:
            raise ValueError(f"completions {row_name(df, pos)}, column 'language': expected an ISO 639-1 code the "
                             f"phrase tables know ({', '.join(known)}), got {plain_value(value)!r}")

    lookup = {(str(i), lang): r for i, lang, r in zip(its["item_id"], its["language"], its.to_dict("records"))}
    has_labels = "labels" in its.columns
    reasoning = ([_as_bool(v, f"completions {row_name(df, pos)}, column 'reasoning'")
                  for pos, v in enumerate(df["reasoning"])] if "reasoning" in df.columns
                 else [COMPLETION_DEFAULTS["reasoning"]] * len(df))
    lexicons = {lang: _lexicon(lang, table, extra) for lang in dict.fromkeys(df["language"])}
    rows = []
    for pos, (item, lang, text, think) in enumerate(zip(df["item_id"], df["language"], df["text"], reasoning)):
        item_row = lookup.get((str(plain_value(item)), lang))
        if item_row is None:
            there = sorted(l for i, l in lookup if i == str(plain_value(item)))
            hint = f"; it exists in {there}" if there else "; no item has that id"
            raise ValueError(f"completions {row_name(df, pos)}: item {plain_value(item)!r} in language {lang!r} is not "
                             f"among the survey items{hint}")
        codes = item_row["labels"] if has_labels and item_row.get("labels") is not None else None
        english = lookup.get((str(plain_value(item)), "en")) if lang != "en" else None
        opts = _option_spec(item_row["options"], None, codes, english["options"] if english else None)
        reading = _read(text, opts, lexicons[lang], lang, reasoning=think, question=item_row["question"])
        rows.append({"scale": item_row["scale"], "n_options": len(item_row["options"]),
                     "labels": tuple(codes) if codes is not None else tuple(str(j + 1) for j in
                                                                          range(len(item_row["options"]))),
                     "text_answer": reading.answer, "refused": reading.refused, "refusal_kind": reading.kind,
                     "verdict": reading.verdict, "evidence": reading.evidence, "reason": reading.reason})
    read = pd.DataFrame(rows, index=df.index, columns=_READ)
    out = df.copy()
    for col in ("framing", "country"):
        default = COMPLETION_DEFAULTS[col]
        values = [default] * len(out) if col not in out.columns else [default if _missing(v) else v for v in out[col]]
        out[col] = pd.Series(values, index=out.index, dtype=object)
    out["reasoning"] = pd.Series(reasoning, index=out.index, dtype=bool)
    read["text_answer"] = pd.array(read["text_answer"].tolist(), dtype="Int64")
    read["refused"] = read["refused"].astype(bool)
    for col in ("refusal_kind", "evidence", "reason"):
        read[col] = pd.Series([None if _missing(v) else v for v in read[col]], index=read.index, dtype=object)
    lead = ["model", "item_id", "language", "framing", "country", "reasoning"]
    others = [c for c in df.columns if c not in lead and c != "text"]
    result = pd.concat([out[lead + others], read[["scale", "n_options", "labels"]], out[["text"]],
                        read[["text_answer", "refused", "refusal_kind", "verdict", "evidence", "reason"]]], axis=1)
    return result.reset_index(drop=True)
