"""Refusal and evasion detection in free-text survey answers, in every supported language.

A text counts as refused when it contains a refusal or evasion phrase of its language (or of
English, which small models often fall back to), or when it names no valid option. Phrases
live in ``data/refusal_phrases.csv`` (written for valuelab, per language).

References
----------
.. [1] Röttger, P. et al. (2024). XSTest: A Test Suite for Identifying Exaggerated Safety
   Behaviours in Large Language Models. NAACL (refusal phrasing and string matching).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import pandas as pd

__all__ = ["refusal_phrases", "parse_option_number", "detect_refusal"]

# Arabic-Indic, Persian (Extended Arabic-Indic) and full-width digits -> ASCII
_DIGITS = {**{ord(c): str(i) for i, c in enumerate("٠١٢٣٤٥٦٧٨٩")},
           **{ord(c): str(i) for i, c in enumerate("۰۱۲۳۴۵۶۷۸۹")},
           **{ord(c): str(i) for i, c in enumerate("０１２３４５６７８９")}}
_DIACRITICS = re.compile("[\u064b-\u065f\u0670\u06d6-\u06ed]")


def _normalise(text: str, *, keep_lines: bool = False) -> str:
    text = unicodedata.normalize("NFKC", str(text)).translate(_DIGITS)
    text = _DIACRITICS.sub("", text).replace("\u200c", " ").replace("’", "'")
    return re.sub(r"[^\S\n]+" if keep_lines else r"\s+", " ", text.lower()).strip()


@lru_cache(maxsize=4)
def _phrases(path: str) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col in ("language", "phrase", "kind"):
        if col not in df.columns:
            raise ValueError(f"{path}: missing column {col!r}; expected language, phrase, kind")
    return df.assign(phrase=[_normalise(p) for p in df["phrase"]])


def _candidates(table: pd.DataFrame, language: str) -> list[tuple[str, str]]:
    """(phrase, kind) of ``language`` and English in a phrase table."""
    cand = table[table["language"].isin([language, "en"])]
    return list(zip(cand["phrase"], cand["kind"]))


@lru_cache(maxsize=16)
def _default_phrases(language: str) -> list[tuple[str, str]]:
    """:func:`_candidates` of the default list, looked up once per language."""
    return _candidates(refusal_phrases(), language)


def refusal_phrases(path: str | Path | None = None) -> pd.DataFrame:
    """The refusal and evasion phrases: ``language``, ``phrase`` (normalised), ``kind``."""
    from ..datasets import DATA_DIR

    return _phrases(str(Path(path) if path is not None else DATA_DIR / "refusal_phrases.csv")).copy()


_CUE = re.compile(r"(?:answer|الإجابة|الاجابة|پاسخ|答案|回答|ответ|respuesta|cevap|yanıt)"
                  r"(?:\s+(?:is|would be))?\s*[:：]?\s*(\d+(?:[.,]\d+)?)(?!\d)")


def parse_option_number(text: str, n_options: int | None = None, *, labels=None) -> int | None:
    """The option a text answers with, as a 1-based position, or None.

    Digits in any script count (``٣``, ``۳``, ``３``). In order:

    1. a number opening the text (``3``, ``3. Quite a lot``; a base model often goes on to
       write further questions and answers after its own), unless the text lists several
       numbered options (an echo of the question) or opens with a range (``2 or 3``);
    2. the number after the first answer cue (``Answer: 3``, ``the answer is 3``);
    3. the only valid number in the text.

    A fraction (``3.5``) or several different valid numbers (``2 or 3``) give no answer.

    Parameters
    ----------
    text : str
    n_options : int, optional
        The answers are ``1..n_options``.
    labels : sequence of str, optional
        The answer codes instead (``["0", "1", "2"]`` for an item coded from 0).
    """
    labels = [str(lab) for lab in labels] if labels is not None else [str(j) for j in range(1, int(n_options) + 1)]
    position = {lab: j + 1 for j, lab in enumerate(labels)}

    def lookup(number: str):
        if not number.isdigit():
            return None  # "3.5": between options, not one of them
        return position.get(str(int(number)))

    t = _normalise(text)
    enumerated = {int(x) for x in re.findall(r"(?m)^ ?(\d+) ?[.)] ", _normalise(text, keep_lines=True))}
    lead = re.match(r"^[^\w]*(\d+(?:[.,]\d+)?)(?!\d)", t)
    if lead and len(enumerated) <= 1:
        # "2 or 3", "2-3", "2/3", "2, 3": a range or a list is no single answer
        if re.match(r"^[^\w]*\d+\s*(?:or|to|and|-|–|/|,\s*\d|или|o|y|veya|ya da|أو|یا|或)\s*\d", t):
            return None
        return lookup(lead.group(1))
    cue = _CUE.search(t)
    if cue:
        return lookup(cue.group(1))
    numbers = re.findall(r"\d+(?:[.,]\d+)?", t)
    if any(not n.isdigit() for n in numbers):
        return None
    valid = {position[str(int(n))] for n in numbers if str(int(n)) in position}
    return valid.pop() if len(valid) == 1 else None


def detect_refusal(text: str, *, language: str = "en", n_options: int | None = None, labels=None,
                   require_option: bool = True, phrases: pd.DataFrame | None = None) -> dict:
    """Whether a survey answer refuses or evades, with the evidence.

    Parameters
    ----------
    text : str
    language : str
        The question's language; its phrases and the English ones are searched.
    n_options : int, optional
        When given, a text naming no valid option 1..n counts as refused (``no_option``).
    labels : sequence of str, optional
        The answer codes, instead of ``n_options``.
    require_option : bool
        Whether a text without a valid option counts as refused (False for reasoning texts,
        which may stop before their answer).
    phrases : DataFrame, optional
        Default :func:`refusal_phrases`.

    Returns
    -------
    dict
        ``refused`` (bool), ``kind`` (``refusal``, ``evasion``, ``no_option`` or None),
        ``phrase`` (the phrase found, or None), ``answer`` (the option named, or None),
        ``confidence`` (how sure the verdict is: 0.95 for a phrase and no option or for an
        empty text, 0.6 for a phrase next to an option or for a non-empty text without
        either, 0.9 for a clean answer).
    """
    t = _normalise(text)
    answer = parse_option_number(text, n_options, labels=labels) if (n_options or labels is not None) else None
    candidates = _default_phrases(language) if phrases is None else _candidates(phrases, language)
    hit = next(((p, k) for p, k in candidates if p and p in t), None)
    if hit is not None:
        phrase, kind = hit
        if answer is None:
            return {"refused": True, "kind": kind, "phrase": phrase, "answer": None, "confidence": 0.95}
        # a hedge next to a clear answer ("it depends, but 2"): answered, with less certainty
        return {"refused": False, "kind": None, "phrase": phrase, "answer": answer, "confidence": 0.6}
    if require_option and (n_options or labels is not None) and answer is None:
        return {"refused": True, "kind": "no_option", "phrase": None, "answer": None,
                "confidence": 0.95 if not t else 0.6}
    return {"refused": False, "kind": None, "phrase": None, "answer": answer, "confidence": 0.9}
