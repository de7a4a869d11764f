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


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", str(text)).translate(_DIGITS)
    text = _DIACRITICS.sub("", text).replace("\u200c", " ").replace("’", "'")
    return re.sub(r"\s+", " ", text.lower()).strip()


@lru_cache(maxsize=4)
def _phrases(path: str) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col in ("language", "phrase", "kind"):
        if col not in df.columns:
            raise ValueError(f"{path}: missing column {col!r}; expected language, phrase, kind")
    return df.assign(phrase=[_normalise(p) for p in df["phrase"]])


def refusal_phrases(path: str | Path | None = None) -> pd.DataFrame:
    """The refusal and evasion phrases: ``language``, ``phrase`` (normalised), ``kind``."""
    from ..datasets import DATA_DIR

    return _phrases(str(Path(path) if path is not None else DATA_DIR / "refusal_phrases.csv")).copy()


def parse_option_number(text: str, n_options: int) -> int | None:
    """The option (1..n) a text answers with, or None.

    Digits in any script count (``٣``, ``۳``, ``３``). The answer is the number after the
    last answer cue (``answer:``) when there is one, else the only valid number in the text;
    a text naming several different valid numbers ("2 or 3") or a fraction ("3.5") has no
    answer.
    """
    t = _normalise(text)
    numbers = re.findall(r"\d+(?:[.,]\d+)?", t)
    cue = list(re.finditer(r"(answer|الإجابة|الاجابة|پاسخ|答案|回答|ответ|respuesta|cevap|yanıt)\s*[:：]?\s*(\d{1,2})", t))
    if cue:
        x = int(cue[-1].group(2))
        return x if 1 <= x <= n_options else None
    if any(not n.isdigit() for n in numbers):
        return None  # "3.5": between options, not one of them
    valid = {int(n) for n in numbers if 1 <= int(n) <= n_options}
    return valid.pop() if len(valid) == 1 else None


def detect_refusal(text: str, *, language: str = "en", n_options: int | None = None,
                   phrases: pd.DataFrame | None = None) -> dict:
    """Whether a survey answer refuses or evades, with the evidence.

    Parameters
    ----------
    text : str
    language : str
        The question's language; its phrases and the English ones are searched.
    n_options : int, optional
        When given, a text naming no valid option 1..n counts as refused (``no_option``).
    phrases : DataFrame, optional
        Default :func:`refusal_phrases`.

    Returns
    -------
    dict
        ``refused`` (bool), ``kind`` (``refusal``, ``evasion``, ``no_option`` or None),
        ``phrase`` (the phrase found, or None), ``answer`` (the option named, or None),
        ``confidence`` (how sure the verdict is: 0.95 for a phrase and no option, 0.6 for a
        phrase next to an option or for a text without either, 0.9 for a clean answer).
    """
    table = refusal_phrases() if phrases is None else phrases
    t = _normalise(text)
    answer = parse_option_number(text, n_options) if n_options else None
    cand = table[table["language"].isin([language, "en"])]
    hit = next(((p, k) for p, k in zip(cand["phrase"], cand["kind"]) if p and p in t), None)
    if hit is not None:
        phrase, kind = hit
        if answer is None:
            return {"refused": True, "kind": kind, "phrase": phrase, "answer": None, "confidence": 0.95}
        # a hedge next to a clear answer ("it depends, but 2"): answered, with less certainty
        return {"refused": False, "kind": None, "phrase": phrase, "answer": answer, "confidence": 0.6}
    if n_options and answer is None:
        return {"refused": True, "kind": "no_option", "phrase": None, "answer": None,
                "confidence": 0.95 if not t else 0.6}
    return {"refused": False, "kind": None, "phrase": None, "answer": answer, "confidence": 0.9}
