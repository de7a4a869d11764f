"""Refusals, evasions and answers in free-text survey answers, in every supported language.

:func:`detect_refusal` and :func:`parse_option_number` read a text with
:func:`valuelab.survey.read_answer` (see :mod:`valuelab.survey.reader` for how): numbers in
any script, the option's own words, hedges, cut-off texts and echoed option lists. A text
is *refused* when it refuses or evades (a phrase of its language or of English, which small
models often fall back to, and no committed answer); a text the reader cannot parse is not
refused but gets the verdict ``no_answer`` with a reason.

Phrases live in ``data/refusal_phrases.csv`` (``language, phrase, kind``; written for
valuelab) and are matched as whole words after the reader's normalisation, so spellings
without hamza or diacritics match. Add your own with ``extra_phrases=`` or replace the list
with ``phrases=``.

References
----------
.. [1] Röttger, P. et al. (2024). XSTest: A Test Suite for Identifying Exaggerated Safety
   Behaviours in Large Language Models. NAACL (refusal phrasing and string matching).
.. [2] Whistler, K. (ed.). Unicode Standard Annex #15: Unicode Normalization Forms (NFKC).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import pandas as pd

from .reader import PHRASE_KINDS, AnswerReading, _read_table, normalise_text, read_answer

__all__ = ["refusal_phrases", "parse_option_number", "detect_refusal"]


def refusal_phrases(path: str | Path | None = None) -> pd.DataFrame:
    """The refusal and evasion phrases: ``language``, ``phrase`` (normalised), ``kind``.

    ``kind`` is ``refusal`` (declining, apologising, disclaiming opinions or feelings: "as an
    AI", "I have no personal opinions", "عذرا", "我无法回答") or ``evasion`` (answering
    without choosing: "it depends", "there is no right answer", "因人而异"). A phrase's
    last word may end in ``*`` (any ending: ``одинаково важн*``) and ``~`` stands for up to
    two words (``не могу ~ ответить``).

    Parameters
    ----------
    path : str or Path, optional
        A CSV with the same columns; default ``data/refusal_phrases.csv``.
    """
    from ..io import DATA_DIR

    table = _read_table(str(Path(path) if path is not None else DATA_DIR / "refusal_phrases.csv"), PHRASE_KINDS)
    return table.assign(phrase=[normalise_text(p) for p in table["phrase"]])


def detect_refusal(text: str, *, language: str = "en", options: Sequence[str] | None = None,
                   n_options: int | None = None, labels: Sequence[str] | None = None, reasoning: bool = False,
                   question: str | None = None, fallback_options: Sequence[str] | None = None,
                   phrases: pd.DataFrame | None = None, extra_phrases: pd.DataFrame | None = None,
                   require_option: bool | None = None) -> AnswerReading:
    """Whether a survey answer refuses or evades, what it answers otherwise, and the evidence.

    The same reading as :func:`valuelab.survey.read_answer`.

    Parameters
    ----------
    text : str
    language : str
        ISO 639-1 code (``en``, ``ar``, ``fa``, ``zh``, ``ru``, ``es``, ``tr``); its phrases
        and the English ones are searched. Unknown codes raise ValueError listing the known.
    options : sequence of str, optional
        The item's option texts, so answers given in the option's words are read.
    n_options : int, optional
        The number of options when the texts are not at hand.
    labels : sequence of str, optional
        The answer codes instead of ``1..k``.
    reasoning : bool
        The text reasons first and may stop before its answer (see :func:`read_answer`).
    question : str, optional
        The question, so a restatement of it is not read as an answer.
    fallback_options : sequence of str, optional
        The same options in English, for models that answer in English.
    phrases : DataFrame, optional
        ``language, phrase, kind`` replacing the defaults (:func:`refusal_phrases`).
    extra_phrases : DataFrame or list of (language, phrase, kind), optional
        Added to the defaults.
    require_option : bool, optional
        Deprecated: a text without an option is now never counted as refused (its verdict is
        ``no_answer``). ``require_option=False`` (a reasoning text) means ``reasoning=True``.

    Returns
    -------
    AnswerReading
        ``refused`` (bool: a refusal or an evasion), ``verdict`` (``answer``, ``refusal``,
        ``evasion``, ``ambiguous``, ``no_answer``), ``answer`` (1-based option or None),
        ``evidence`` (the words behind the verdict), ``reason`` (why no answer), ``kind``
        (``refusal``, ``evasion`` or None), ``phrase`` (the phrase found, or None),
        ``confidence``. It also reads like the dict of earlier versions
        (``reading["refused"]``).

    References
    ----------
    .. [1] Röttger, P. et al. (2024). XSTest. NAACL.
    """
    if require_option is not None:
        warnings.warn("detect_refusal(require_option=...) is deprecated: a text naming no option is no longer "
                      "counted as refused; pass reasoning=True for reasoning texts", DeprecationWarning, stacklevel=2)
        reasoning = reasoning or not require_option
    return read_answer(text, options=options, n_options=n_options, labels=labels, language=language,
                       reasoning=reasoning, question=question, fallback_options=fallback_options, phrases=phrases,
                       extra_phrases=extra_phrases)


def parse_option_number(text: str, *, n_options: int | None = None, labels: Sequence[str] | None = None,
                        options: Sequence[str] | None = None, language: str = "en", reasoning: bool = False,
                        question: str | None = None, fallback_options: Sequence[str] | None = None) -> int | None:
    """The option a text answers with, as a 1-based position, or None.

    Digits in any script count (``٣``, ``۳``, ``３``), and with ``options`` also the option's
    words. A fraction (``3.5``), a range (``2 or 3``), a number that is not an option, two
    options that fit equally or an echoed option list give None; :func:`read_answer` says why.

    Parameters
    ----------
    text : str
    n_options : int, optional
        The answers are ``1..n_options``. Without it, ``labels`` or ``options``, any whole
        number from 1 is read as that option.
    labels : sequence of str, optional
        The answer codes instead (``["0", "1", "2"]`` for an item coded from 0).
    options : sequence of str, optional
        The option texts.
    language : str
    reasoning : bool
        See :func:`read_answer`.
    question : str, optional
        See :func:`read_answer`.
    fallback_options : sequence of str, optional
        The same options in English (see :func:`read_answer`).

    Returns
    -------
    int or None
    """
    return read_answer(text, options=options, n_options=n_options, labels=labels, language=language,
                       reasoning=reasoning, question=question, fallback_options=fallback_options).answer
