"""Reading a survey answer out of generated text: the option it commits to, or why there is none.

A model answers a survey item in many shapes: a number (``3``, ``٣``, ``３``, ``Answer: 3``),
the option's own words (``Not at all.``, ``(أوافق بشدة)``, ``I'd say I trust them
somewhat.``), a hedge (``I would rate it a 3, leaning towards 2``), a text cut off inside the
option's words (``Neither agree nor``), an echo of the option list (``(1) ... (2) ...``), a
refusal (``As an AI I have no feelings``) or an evasion (``It depends on the person``).
:func:`read_answer` tells these apart and returns an :class:`AnswerReading`.

How a text is read
------------------
1. **Normalisation** (:func:`normalise_text`): Unicode NFKC [2]_, case folding, combining
   marks removed (Arabic diacritics, hamza above or below its carrier: ``أإآ`` -> ``ا``,
   ``ؤ`` -> ``و``, ``ئ`` -> ``ي``; Latin and Cyrillic accents: ``ё`` -> ``е``,
   ``ş`` -> ``s``), tatweel removed, ``ٱ`` -> ``ا``, ``ة`` -> ``ه``, ``ى`` -> ``ي``, the Persian
   letters ``ی`` / ``ک`` read as ``ي`` / ``ك``, Turkish ``ı`` as ``i``, Arabic-Indic and
   Persian digits as ASCII. Texts, option words, answer cues and refusal phrases all pass
   through the same normalisation, so ``لا استطيع الاجابة`` matches ``لا أستطيع الإجابة``.
   Persian is matched without regard to spaces and zero-width non-joiners (``نمی‌توانم``,
   ``نمی توانم`` and ``نمیتوانم`` are one word).
2. **What is set aside**: echoed option lists (two or more consecutive markers in one style,
   ``(1) (2)``, ``1. 2.``, ``1) 2)``, ``1- 2-``, ``a) b)``, ``١. ٢.``, with the text after each),
   sentences ending in a question mark (a restated question) and, when ``question`` is given,
   runs of four or more of its words.
3. **Evidence**: numbers (a range ``2 or 3`` or a fraction ``3.5`` is no single answer) and
   option words. Option words are matched as whole words; when one option's words contain
   another's (``Agree`` inside ``Strongly agree``, ``Very important`` inside ``Not very
   important``) only the longest match counts. In Arabic, Russian, Spanish and Turkish a word
   also matches its inflected forms (``согласна`` for ``согласен``, ``سعيدة`` for ``سعيد``).
   With ``fallback_options`` the options' English words count too (small models often
   answer an Arabic question in English). Ordinals next to an option noun count as numbers
   (``the second option``, ``الخيار الثاني``, ``üçüncü seçenek``).
   Words after a negation (``I don't agree``) or a contrast (``more than security``) are
   set aside.
4. **Commitment**: evidence is *committed* when it opens the text as a clause of its own
   (``Not at all.``, ``3, because ...``), follows an answer cue in the same sentence
   (``Answer:``, ``I'd say``, ``أختار``, ``我选``, ``выбираю``, ``elijo``, ``bence``), is
   followed by a closing cue (``... را انتخاب می‌کنم``, ``... seçiyorum``), pairs a number
   with its option's words (``3. Quite a lot``), or is the start of an option's words at the
   very end of a text that was cut off (``Neither agree nor``). The first committed evidence
   is the answer; a second one in the same answer naming another option makes the text
   ``ambiguous`` unless a hedge introduces it (``leaning towards``, ``maybe``, ``ربما``,
   ``也许``). Text after a new ``Question:`` line or a blank line is a continuation and is
   not read. Without committed evidence, option words met in passing answer only when they
   name a single option and no refusal or evasion phrase is present.
5. **Refusals and evasions**: phrases of the text's language and of English
   (:func:`valuelab.survey.refusal_phrases`), matched as whole words after normalisation.
   A phrase next to a committed answer leaves the answer standing (``As an AI I have no
   opinions, but I would say 2``).

The reader never guesses: when two options fit equally, the number is not an option, or the
text stops before its answer, ``answer`` is None and ``reason`` says why.

References
----------
.. [1] Röttger, P. et al. (2024). XSTest: A Test Suite for Identifying Exaggerated Safety
   Behaviours in Large Language Models. NAACL (refusals recognised by string matching).
.. [2] Whistler, K. (ed.). Unicode Standard Annex #15: Unicode Normalization Forms (NFKC).
.. [3] Durmus, E. et al. (2024). Towards Measuring the Representation of Subjective Global
   Opinions in Language Models. COLM (free-text survey answers mapped to options).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import pandas as pd

__all__ = ["AnswerReading", "VERDICTS", "read_answer", "normalise_text", "answer_cues", "known_languages"]

VERDICTS = ("answer", "refusal", "evasion", "ambiguous", "no_answer")
PHRASE_KINDS = ("refusal", "evasion")
CUE_KINDS = ("cue", "post_cue", "hedge", "contrast", "post_contrast", "negation", "post_negation", "option_noun",
             "continuation", "several", "ordinal", "cardinal")

# ---------------------------------------------------------------- normalisation
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_LETTER = rf"(?:(?![{_CJK}])[^\W\d_])"
_TOKEN = re.compile(rf"\d+|[{_CJK}]|{_LETTER}+(?:'{_LETTER}+)*")
_FA = "fa"
_FUZZY = frozenset({"ar", "ru", "es", "tr"})  # languages whose option words inflect (gender, case, possession)
_CLITICS = {"ar": "وفبلك"}  # one-letter prefixes an Arabic option word may carry ("والأمن")
_PHRASE_CLITICS = {"ar": "وف"}  # ... and a phrase or cue ("ولا أستطيع")
_SEP = {True: "\x1f", False: " "}
_LETTERS = {"ٱ": "ا", "ة": "ه", "ى": "ي", "ی": "ي", "ک": "ك", "ۀ": "ه", "ە": "ه", "ı": "i", "ـ": "",
            "’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'",
            "“": '"', "”": '"', "«": '"', "»": '"', "„": '"'}
_LETTERS.update({d: str(i) for i, d in enumerate("٠١٢٣٤٥٦٧٨٩")})
_LETTERS.update({d: str(i) for i, d in enumerate("۰۱۲۳۴۵۶۷۸۹")})
_SENTENCE_END = ".!?\n;。؟؛"
_CLAUSE_END = _SENTENCE_END + ",:،、()[]\"*-–—"


@lru_cache(maxsize=8192)
def _fold_char(c: str) -> str:
    out = []
    for ch in unicodedata.normalize("NFD", unicodedata.normalize("NFKC", c).casefold()):
        if ch in _LETTERS:
            out.append(_LETTERS[ch])
            continue
        cat = unicodedata.category(ch)
        if cat == "Mn" or cat == "Cf":
            continue
        out.append(ch)
    return "".join(out)


def _fold(text: str) -> tuple[str, list[int]]:
    """The normalised text and, for each of its characters, the position it came from."""
    parts, origin = [], []
    for i, c in enumerate(text):
        f = _fold_char(c)
        parts.append(f)
        origin.extend([i] * len(f))
    return "".join(parts), origin


def normalise_text(text: str) -> str:
    """A text as the reader compares it: NFKC, case-folded, marks and letter variants unified.

    Arabic and Persian letter variants (alef forms, hamza carriers, taa marbuta, alef
    maksura, Persian kaf and yeh), diacritics, tatweel and zero-width non-joiners are unified;
    digits of every script become ASCII; runs of spaces become one (line breaks are kept).

    Parameters
    ----------
    text : str

    Returns
    -------
    str

    References
    ----------
    .. [1] Whistler, K. (ed.). Unicode Standard Annex #15: Unicode Normalization Forms.
    """
    _check_text(text)
    return re.sub(r"[^\S\n]+", " ", _fold(text)[0]).strip()


def _words(text: str) -> list[str]:
    return [m.group().replace("'", "") for m in _TOKEN.finditer(_fold(text)[0])]


# ---------------------------------------------------------------- lexicons
@lru_cache(maxsize=8)
def _read_table(path: str, kinds: tuple[str, ...]) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return _check_table(df, path, kinds)


def _check_table(df, where: str, kinds: tuple[str, ...]) -> pd.DataFrame:
    if isinstance(df, (list, tuple)):
        rows = [tuple(r) for r in df]
        if any(len(r) != 3 for r in rows):
            raise ValueError(f"{where}: expected (language, phrase, kind) rows or a DataFrame with those columns")
        df = pd.DataFrame(rows, columns=["language", "phrase", "kind"])
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{where}: expected a DataFrame with columns language, phrase, kind, got {type(df).__name__}")
    for col in ("language", "phrase", "kind"):
        if col not in df.columns:
            raise ValueError(f"{where}: missing column {col!r}; expected language, phrase, kind")
    cols = ["language", "phrase", "kind"] + (["value"] if "value" in df.columns else [])
    out = df[cols].astype(str).reset_index(drop=True)
    bad = ~out["kind"].isin(kinds)
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise ValueError(f"{where} row {i}, column 'kind': expected one of {kinds}, got {out.at[i, 'kind']!r}")
    return out


def answer_cues(path: str | Path | None = None) -> pd.DataFrame:
    """The words that place an answer: ``language``, ``phrase``, ``kind``.

    Kinds: ``cue`` (an answer follows: ``Answer:``, ``I'd say``, ``أختار``), ``post_cue``
    (closes an answer or prefers the option before it: ``... seçiyorum``, ``... matters
    more``), ``hedge`` (a second, weaker option follows: ``leaning towards``), ``contrast`` /
    ``post_contrast`` (the option after / before is rejected: ``rather than``, ``yerine``),
    ``negation`` / ``post_negation`` (``not``, ``değil``), ``option_noun`` (a number next to
    it names an option: ``option 3``, ``вариант 2``), ``ordinal`` and ``cardinal`` (number
    words, with their ``value``, read next to an option noun: ``the second option``,
    ``الخيار الثاني``, ``option two``; ``-1`` is the last option), ``several`` (the options
    after it are named together: ``both``, ``ambos``) and ``continuation`` (a line starting
    with it begins text that is not the answer: ``Question:``). Columns ``language, phrase,
    kind, value``; ``data/answer_cues.csv`` by default (written for valuelab). A phrase's
    last word may end in ``*`` (any ending) and ``~`` stands for up to two words.
    """
    from ..io import DATA_DIR

    return _read_table(str(Path(path) if path is not None else DATA_DIR / "answer_cues.csv"), CUE_KINDS).copy()


def _default_phrases() -> pd.DataFrame:
    from ..io import DATA_DIR

    return _read_table(str(DATA_DIR / "refusal_phrases.csv"), PHRASE_KINDS)


def _default_cues() -> pd.DataFrame:
    from ..io import DATA_DIR

    return _read_table(str(DATA_DIR / "answer_cues.csv"), CUE_KINDS)


def known_languages(phrases: pd.DataFrame | None = None) -> list[str]:
    """The ISO 639-1 codes the reader knows: those of the phrase and cue tables (sorted)."""
    langs = set(_default_cues()["language"]) | set((_default_phrases() if phrases is None else phrases)["language"])
    return sorted(langs)


def _check_language(language, known: Sequence[str]) -> str:
    if not isinstance(language, str):
        raise TypeError(f"language: expected an ISO 639-1 code such as 'en' or 'ar', got {type(language).__name__}")
    code = language.strip().lower().replace("_", "-").split("-")[0]
    if code not in known:
        raise ValueError(f"language {language!r}: expected an ISO 639-1 code the phrase tables know: "
                         f"{', '.join(known)}")
    return code


def _check_text(text) -> None:
    if not isinstance(text, str):
        raise TypeError(f"text: expected a string, got {type(text).__name__}"
                        + (" (a missing generation? drop or fill such rows first)" if text is None or text != text
                           else ""))


def _pattern(phrase: str, fa: bool, clitics: str = "") -> re.Pattern | None:
    """A regex for a phrase over the joined words of a text (see :class:`_Text`)."""
    sep = _SEP[fa]
    pieces: list[str] = []
    for chunk in str(phrase).split():
        if chunk == "~":
            pieces.append("GAP")
            continue
        star = chunk.endswith("*")
        words = _words(chunk.rstrip("*"))
        for j, w in enumerate(words):
            body = ("\x1f?".join(re.escape(ch) for ch in w)) if fa else re.escape(w)
            if star and j == len(words) - 1:
                body += f"[^{sep}]*"
            pieces.append(body)
    if not pieces or all(p == "GAP" for p in pieces):
        return None
    between = "\x1f?" if fa else " "
    gap = f"(?:{sep}[^{sep}]+){{0,2}}"
    regex = ""
    for j, p in enumerate(pieces):
        if p == "GAP":
            regex += gap
            continue
        if j:
            regex += between
        regex += p
    lead = f"(?:[{clitics}])?" if clitics else ""
    return re.compile(f"(?:^|(?<={sep})){lead}{regex}(?={sep}|$)")


class _Lexicon:
    """Compiled phrases and cues for one language (plus English, which models fall back to)."""

    def __init__(self, language: str, phrases: pd.DataFrame, cues: pd.DataFrame):
        self.language = language
        fa = language == _FA
        clitics = _PHRASE_CLITICS.get(language, "")
        langs = {language, "en"}
        self.phrases = []
        for lang, phrase, kind in phrases[phrases["language"].isin(langs)].itertuples(index=False):
            pat = _pattern(phrase, fa, clitics)
            if pat is not None:
                self.phrases.append((pat, kind, normalise_text(phrase)))
        self.cues: dict[str, list[re.Pattern]] = {k: [] for k in CUE_KINDS}
        self.values: dict[re.Pattern, int] = {}
        table = cues if "value" in cues.columns else cues.assign(value="")
        for lang, phrase, kind, value in table[table["language"].isin(langs)][
                ["language", "phrase", "kind", "value"]].itertuples(index=False):
            pat = _pattern(phrase, fa, clitics)
            if pat is None:
                continue
            self.cues[kind].append(pat)
            if kind in ("ordinal", "cardinal"):
                self.values[pat] = int(value)


@lru_cache(maxsize=32)
def _default_lexicon(language: str) -> _Lexicon:
    return _Lexicon(language, _default_phrases(), _default_cues())


def _lexicon(language: str, phrases=None, extra_phrases=None) -> _Lexicon:
    if phrases is None and extra_phrases is None:
        return _default_lexicon(language)
    table = _default_phrases() if phrases is None else _check_table(phrases, "phrases", PHRASE_KINDS)
    if extra_phrases is not None:
        table = pd.concat([table, _check_table(extra_phrases, "extra_phrases", PHRASE_KINDS)], ignore_index=True)
    return _Lexicon(language, table, _default_cues())


# ---------------------------------------------------------------- the text, tokenised
class _Text:
    """A text's words with their places, sentences and clauses."""

    def __init__(self, raw: str, language: str):
        self.raw = raw
        self.folded, self.origin = _fold(raw)
        self.fa = language == _FA
        self.words, self.starts, self.ends = [], [], []
        for m in _TOKEN.finditer(self.folded):
            self.words.append(m.group().replace("'", ""))
            self.starts.append(m.start())
            self.ends.append(m.end())
        sep = _SEP[self.fa]
        self.joined = sep.join(self.words)
        self.jstarts, self.jends, pos = [], [], 0
        for w in self.words:
            self.jstarts.append(pos)
            self.jends.append(pos + len(w))
            pos += len(w) + 1
        self.sentence = self._sentences()
        self.masked = [0] * len(self.words)  # 2: set aside (echo, a question); 1: the question's words

    def hidden(self, i: int, j: int) -> bool:
        """Whether words [i, j) are set aside: any of them echoed or asked, or all of them inside a
        restatement of the question that began before them ("do you agree that", not "I agree that")."""
        part = self.masked[i:j]
        return any(m == 2 for m in part) or (bool(part) and all(part) and i > 0 and self.masked[i - 1] > 0)

    def _sentences(self) -> list[int]:
        ids, current = [], 0
        for k, s in enumerate(self.starts):
            if k and self._boundary(self.ends[k - 1], s, _SENTENCE_END):
                current += 1
            ids.append(current)
        return ids

    def _boundary(self, a: int, b: int, chars: str) -> bool:
        """Whether folded[a:b] holds a sentence (or clause) end, not counting decimals or list markers."""
        for k in range(a, b):
            c = self.folded[k]
            if c not in chars:
                continue
            f = self.folded
            if c in ".," and 0 < k < len(f) - 1 and f[k - 1].isdigit() and f[k + 1].isdigit():
                continue  # "3.5"
            if c == "." and k > 0 and self.folded[k - 1].isdigit() and (k < 2 or not self.folded[k - 2].isalnum()):
                continue  # "3. Quite a lot": a number's marker, not a full stop
            return True
        return False

    def between(self, i: int, j: int, chars: str = _CLAUSE_END) -> bool:
        """Whether a clause (or sentence) ends between the end of word i and the start of word j."""
        return self._boundary(self.ends[i], self.starts[j], chars)

    def find(self, pattern: re.Pattern) -> list[tuple[int, int]]:
        """Word spans [i, j) matched by a compiled phrase."""
        out = []
        for m in pattern.finditer(self.joined):
            i = bisect.bisect_right(self.jstarts, m.start()) - 1
            j = bisect.bisect_left(self.jends, m.end())
            if 0 <= i <= j < len(self.words):
                out.append((i, j + 1))
        return out

    def original(self, a: int, b: int) -> str:
        """The raw text behind folded characters [a, b)."""
        if b <= a:
            return ""
        return self.raw[self.origin[a]: self.origin[b - 1] + 1]

    def span_text(self, i: int, j: int) -> str:
        return self.original(self.starts[i], self.ends[j - 1])


# ---------------------------------------------------------------- the item's options
@dataclass(frozen=True)
class _Options:
    codes: tuple[str, ...] | None  # answer codes, in option order; None: any whole number from 1
    words: tuple[tuple[str, ...], ...]  # each option's normalised words (empty for an option that is its code)
    texts: tuple[str, ...]
    fallback: tuple[tuple[str, ...], ...] = ()  # the same options in a language models fall back to (English)

    @property
    def k(self) -> int | None:
        return None if self.codes is None else len(self.codes)

    def position(self, number: str) -> int | None:
        if self.codes is None:
            value = int(number)
            return value if value >= 1 else None
        for j, code in enumerate(self.codes):
            if code.isdigit() and int(code) == int(number):
                return j + 1
        return None

    def describe(self) -> str:
        if self.codes is None:
            return "a whole number from 1"
        if all(c.isdigit() for c in self.codes) and [int(c) for c in self.codes] == list(
                range(int(self.codes[0]), int(self.codes[0]) + len(self.codes))):
            return f"{self.codes[0]}..{self.codes[-1]}"
        return ", ".join(self.codes)


def _option_words(texts: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    words = []
    for text in texts:
        w = tuple(_words(text))
        # an option that is only its answer code ("3", or "0" coded 0) is read as a number
        words.append(() if not w or all(x.isdigit() for x in w) else w)
    return tuple(words)


@lru_cache(maxsize=4096)
def _options(options: tuple[str, ...] | None, n_options: int | None, labels: tuple[str, ...] | None,
             fallback: tuple[str, ...] | None = None) -> _Options:
    sizes = {name: n for name, n in (("options", None if options is None else len(options)), ("n_options", n_options),
                                     ("labels", None if labels is None else len(labels))) if n is not None}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"options, n_options and labels disagree on the number of options: {sizes}")
    k = next(iter(sizes.values()), None)
    if k is not None and k < 1:
        raise ValueError(f"n_options: expected at least 1 option, got {k}")
    codes = labels if labels is not None else (tuple(str(j) for j in range(1, k + 1)) if k is not None else None)
    texts = tuple(str(o) for o in options) if options is not None else ()
    extra = ()
    if fallback is not None:
        if options is None or len(fallback) != len(options):
            raise ValueError(f"fallback_options: expected {len(texts)} option texts, one per option (the same options "
                             f"in another language), got {len(fallback)}")
        extra = _option_words(fallback)
    return _Options(codes, _option_words(texts), texts, extra)


def _texts(value, name: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name}: expected a list of option texts, got {type(value).__name__}")
    value = tuple(value)
    bad = [o for o in value if not isinstance(o, str)]
    if bad:
        raise TypeError(f"{name}: expected option texts (str), got {bad[0]!r}")
    return value


def _option_spec(options, n_options, labels, fallback=None) -> _Options:
    options = _texts(options, "options")
    fallback = _texts(fallback, "fallback_options")
    if n_options is not None:
        if isinstance(n_options, bool) or not float(n_options).is_integer():
            raise TypeError(f"n_options: expected a whole number, got {n_options!r}")
        n_options = int(n_options)
    if labels is not None:
        labels = tuple(str(x).strip() for x in labels)
    return _options(options, n_options, labels, fallback)


# ---------------------------------------------------------------- the reading
@dataclass(frozen=True)
class AnswerReading:
    """What a survey answer says: its verdict, the option it names, and the evidence.

    Attributes
    ----------
    verdict : {"answer", "refusal", "evasion", "ambiguous", "no_answer"}
        ``answer``: the text commits to one option. ``refusal``: it declines or disclaims
        opinions ("As an AI I have no feelings"). ``evasion``: it answers without choosing
        ("It depends on the person"). ``ambiguous``: two options fit equally ("2 or 3",
        "Agree or disagree", a cut-off "Strongly"). ``no_answer``: none of these (empty, cut
        off before the answer, off-topic, a restated question or an echoed option list).
    answer : int or None
        The option, 1-based in the item's order (whatever its answer codes), or None.
    refused : bool
        ``verdict`` is ``refusal`` or ``evasion``. A text the reader cannot parse is not
        refused.
    evidence : str or None
        The words of the text behind the verdict, as written: the number or option words
        (``"Agree | Disagree"`` when ambiguous) or the refusal phrase.
    reason : str or None
        Why there is no answer (None when there is one).
    kind : str or None
        ``refusal`` or ``evasion`` when refused (as in earlier versions), else None.
    phrase : str or None
        The refusal or evasion phrase found (as listed, normalised), also when the text
        answers anyway ("As an AI ..., but I would say 2").
    confidence : float
        A rough score of how clear the verdict is: 0.9 for a committed answer, 0.7 for
        option words met in passing, 0.6 for an answer next to a refusal phrase, 0.95 for a
        refusal phrase with no option, 0.8 for ambiguity.

    Notes
    -----
    Earlier versions returned a dict; ``reading["refused"]`` and :meth:`as_dict` still work.
    """

    verdict: str
    answer: int | None
    refused: bool
    evidence: str | None
    reason: str | None
    kind: str | None
    phrase: str | None
    confidence: float

    def __getitem__(self, key: str):
        """Dict-style access to a field (``reading["refused"]``), as in earlier versions."""
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def as_dict(self) -> dict:
        """The fields as a dict."""
        return asdict(self)


@dataclass
class _Evidence:
    start: int  # word span [start, end)
    end: int
    option: int | None
    what: str  # "number" or "words" or "prefix"
    problem: str | None = None  # "range", "between", "invalid", "conflict", "cut"
    detail: str = ""
    passing: bool = False  # may answer on its own when nothing is committed (words; "option 3"; "(3)")
    strong: bool = False
    hedged: bool = False


_RANGE = re.compile(r"\s*(?:-|–|—|/|~|,|\bor\b|\bto\b|\band\b|или|\bи\b|\bдо\b|\bo\b|\by\b|\bu\b|\ba\b|hasta|"
                    r"veya|ya da|"
                    r"\bile\b|\bve\b|او|الي|و|يا|تا|或|到|至|和|、)\s*(\d+)(?![.,]\d)")
_OUT_OF = re.compile(r"\s*(?:/|out of|\bof\b|из|\bde\b|sobre|من|از)\s*(\d+)")
_MARKER = re.compile(r"(?:^|(?<=[\s\"'*(]))"
                     r"(?:\((\d{1,2}|[a-h])\)|\[(\d{1,2}|[a-h])\]|(\d{1,2}|[a-h]|[ابجد])\s?([.)\-–:、]))"
                     rf"(?=\s*(?:[^\W\d_]|[{_CJK}]|$))", re.M)
_ABJAD = {"ا": 1, "ب": 2, "ج": 3, "د": 4}
# what stands between two options listed side by side ("Agree, disagree", "2 or 3", "أوافق أو أعارض")
_LISTED = re.compile(r"^[\s,/、;]*(?:or|and|or maybe not|или|и|o|y|u|veya|ya da|ve|او|و|يا|或|和|或者|还是)?[\s,/、]*$")


def _same_word(a: str, b: str) -> bool:
    """Whether text word b is option word a or an inflected form of it."""
    if a == b:
        return True
    if a.isdigit() or b.isdigit() or abs(len(a) - len(b)) > 2 or min(len(a), len(b)) < 4:
        return False
    common = 0
    for x, y in zip(a, b):
        if x != y:
            break
        common += 1
    shorter, longer = min(len(a), len(b)), max(len(a), len(b))
    if common == shorter and shorter >= 4:
        return True  # an added ending: "سعيد" / "سعيدة"
    # a changed ending of at most two letters: "согласен" / "согласна", "каждый" / "каждом"
    return common >= max(4, longer - 2) and shorter >= 5


def _match_option(words: tuple[str, ...], text: _Text, fuzzy: bool, clitics: str) -> list[tuple[int, int, int]]:
    """Spans [i, j) of the text holding an option's words, with the number matched exactly."""
    n, out = len(words), []
    for i in range(len(text.words) - n + 1):
        exact = 0
        for k, a in enumerate(words):
            b = text.words[i + k]
            if a == b:
                exact += 1
            elif k == 0 and clitics and len(b) == len(a) + 1 and b[0] in clitics and b[1:] == a and len(a) >= 3:
                exact += 1
            elif not (fuzzy and _same_word(a, b)):
                break
        else:
            out.append((i, i + n, exact))
    return out


def _mentions(opts: _Options, text: _Text, language: str) -> list[tuple[int, int, int, int]]:
    """(start, end, option, exact words) for every place an option's words appear, longest first."""
    found = []
    for j, words in list(enumerate(opts.words)) + list(enumerate(opts.fallback)):
        if not words:
            continue
        if text.fa:
            pat = _persian_pattern(words)
            found += [(a, b, j + 1, b - a) for a, b in text.find(pat)]
        else:
            found += [(a, b, j + 1, e) for a, b, e in _match_option(words, text, language in _FUZZY,
                                                                    _CLITICS.get(language, ""))]
    keep = []
    for m in found:
        covered = any(o is not m and o[0] <= m[0] and m[1] <= o[1] and
                      ((o[1] - o[0]) > (m[1] - m[0]) or ((o[0], o[1]) == (m[0], m[1]) and o[3] > m[3]))
                      for o in found)
        if not covered:
            keep.append(m)
    return sorted(keep)


@lru_cache(maxsize=4096)
def _persian_pattern(words: tuple[str, ...]) -> re.Pattern:
    return _pattern(" ".join(words), True)


def _echo_spans(text: _Text, mentions) -> list[tuple[int, int]]:
    """Folded-character spans of echoed option lists: two or more consecutive markers in one style."""
    marks = []
    for m in _MARKER.finditer(text.folded):
        label = m.group(1) or m.group(2) or m.group(3)
        style = "(" if m.group(1) else "[" if m.group(2) else m.group(4)
        rank = int(label) if label.isdigit() else _ABJAD.get(label, ord(label) - ord("a") + 1)
        marks.append((m.start(), m.end(), rank, style))
    runs, run = [], []
    for mk in marks:
        if run and mk[3] == run[-1][3] and mk[2] == run[-1][2] + 1:
            run.append(mk)
            continue
        if len(run) >= 2:
            runs.append(run)
        run = [mk]
    if len(run) >= 2:
        runs.append(run)
    spans = []
    for run in runs:
        if not _looks_like_a_list(run, text, mentions):
            continue
        last_end = run[-1][1]
        # the last item: its option's words, or up to the end of its sentence
        end = None
        for a, b, _, _ in mentions:
            if text.starts[a] >= last_end and not text.folded[last_end: text.starts[a]].strip():
                end = text.ends[b - 1]
                while end < len(text.folded) and text.folded[end] in " )]*\"'":
                    end += 1
                break
        if end is None:
            stop = re.compile(r"[.!?\n;。؟؛]").search(text.folded, last_end)
            end = stop.start() if stop else len(text.folded)
        spans.append((run[0][0], end))
    return spans


def _looks_like_a_list(run, text: _Text, mentions) -> bool:
    """Markers in a run list options: each opens a line, they are bracketed ("(1)"), or an item
    begins with an option's words; not "I'd say 2. Then I'd say 3." """
    if run[0][3] in "([":
        return True
    if all(not text.folded[: mk[0]].split("\n")[-1].strip(" \t-*•") for mk in run):
        return True
    starts = {text.starts[a] for a, _, _, _ in mentions}
    return any(any(st >= mk[1] and not text.folded[mk[1]: st].strip() for st in starts) for mk in run)


def _mask(text: _Text, spans, question: str | None) -> None:
    for i, s in enumerate(text.starts):
        if any(a <= s < b for a, b in spans):
            text.masked[i] = 2
    # sentences that ask rather than answer (a restated question)
    sentence_end = {}
    for k in range(len(text.words)):
        sid = text.sentence[k]
        nxt = next((n for n in range(k + 1, len(text.words)) if text.sentence[n] != sid), None)
        stop = text.starts[nxt] if nxt is not None else len(text.folded)
        sentence_end[sid] = text.folded[text.ends[k]: stop]
    for k in range(len(text.words)):
        tail = sentence_end[text.sentence[k]]
        if "?" in tail or "؟" in tail:
            text.masked[k] = 2
    if question:
        q = _words(question)
        n = 6 if any(re.match(f"[{_CJK}]", w) for w in q) else 4
        grams = {tuple(q[i: i + n]) for i in range(len(q) - n + 1)}
        for i in range(len(text.words) - n + 1):
            if tuple(text.words[i: i + n]) in grams:
                for k in range(i, i + n):
                    text.masked[k] = max(text.masked[k], 1)


def _spans(text: _Text, patterns) -> list[tuple[int, int]]:
    out = []
    for pat in patterns:
        out += text.find(pat)
    return sorted(set(out))


def _following_number(text: _Text, i: int, pattern: re.Pattern) -> int | None:
    """The word index of the number that ``pattern`` finds right after number i ("2 or 3", "3 out of 4")."""
    m = pattern.match(text.folded, text.ends[i])
    if not m:
        return None
    return next((k for k in range(i + 1, min(i + 4, len(text.words))) if text.words[k] == m.group(1)), None)


def _numbers(text: _Text, opts: _Options) -> list[_Evidence]:
    """Every number outside echoes: an option, or why not (a fraction, a range, not an option)."""
    out, skip, f = [], set(), text.folded
    for i, w in enumerate(text.words):
        if not w.isdigit() or i in skip or text.masked[i]:
            continue
        e = text.ends[i]
        if e < len(f) - 1 and f[e] in ".," and f[e + 1].isdigit() and i + 1 < len(text.words):
            skip.add(i + 1)
            out.append(_Evidence(i, i + 2, None, "number", "between",
                                 f"{text.span_text(i, i + 2)} lies between options"))
            continue
        if e < len(f) and f[e] == "%":
            continue
        of = _following_number(text, i, _OUT_OF)
        # "3 out of 4", "3/4" on a 4-point scale: the number is 3; "2/3" on a 4-point scale is a range
        if of is not None and (opts.k is None or "/" not in f[e: text.starts[of]] or int(text.words[of]) == opts.k):
            skip.add(of)
        else:
            to = _following_number(text, i, _RANGE)
            if to is not None:
                skip.add(to)
                out.append(_Evidence(i, to + 1, None, "number", "range",
                                     f"{text.span_text(i, to + 1)} names more than one option"))
                continue
        pos = opts.position(w)
        if pos is None:
            out.append(_Evidence(i, i + 1, None, "number", "invalid", f"{w} is not an option ({opts.describe()})"))
        else:
            out.append(_Evidence(i, i + 1, pos, "number"))
    return out


def _number_words(text: _Text, lex: _Lexicon, nouns, opts: _Options) -> list[_Evidence]:
    """Ordinals next to an option noun (``the second option``, ``الخيار الثاني``, ``第二个``) and
    cardinals after one (``option two``), as numbers naming an option."""
    out = []
    for kind in ("ordinal", "cardinal"):
        for pat in lex.cues[kind]:
            value = lex.values[pat]
            for a, b in text.find(pat):
                if text.hidden(a, b):
                    continue
                noun_before = any(y == a or (y == a - 1 and text.words[a - 1] in ("the", "la", "el")) for x, y in nouns
                                  if (x, y) != (a, b))
                noun_after = kind == "ordinal" and any(x in (b, b + 1) and (x, y) != (a, b) for x, y in nouns)
                if not (noun_before or noun_after):
                    continue
                k = opts.k
                if value == -1:
                    pos = k
                elif kind == "ordinal" or opts.codes is None:
                    pos = value if k is None or value <= k else None
                else:
                    pos = opts.position(str(value))
                ev = _Evidence(a, b, pos, "number", passing=True)
                if pos is None:
                    ev.problem, ev.detail = "invalid", f"{text.span_text(a, b)} is not an option ({opts.describe()})"
                out.append(ev)
    return out


def _near(spans, i: int, text: _Text, before: bool, reach: int = 3) -> bool:
    """Whether a phrase ends within ``reach`` words before word i (or starts right after), same clause."""
    for a, b in spans:
        if before and b <= i and i - b < reach and not text.between(b - 1, i):
            return True
        if not before and a >= i and a - i < 2 and not text.between(i - 1, a):
            return True
    return False


def read_answer(text: str, *, options: Sequence[str] | None = None, n_options: int | None = None,
                labels: Sequence[str] | None = None, language: str = "en", reasoning: bool = False,
                question: str | None = None, fallback_options: Sequence[str] | None = None,
                phrases: pd.DataFrame | None = None, extra_phrases: pd.DataFrame | None = None) -> AnswerReading:
    """Read a survey answer: the option a text commits to, a refusal or evasion, or why neither.

    Parameters
    ----------
    text : str
        The generated answer.
    options : sequence of str, optional
        The item's option texts in order, in the text's language. With them, answers given
        as the option's words are read (``Not at all.``, ``(أوافق بشدة)``).
    n_options : int, optional
        The number of options, when the texts are not at hand (answers ``1..n_options``).
    labels : sequence of str, optional
        The answer codes when they are not ``1..k`` (``["0", "1", "2"]``).
        Without ``options``, ``n_options`` and ``labels`` any whole number from 1 is read as
        that option.
    language : str
        ISO 639-1 code of the text (``en``, ``ar``, ``fa``, ``zh``, ``ru``, ``es``, ``tr``; see
        :func:`known_languages`). Its phrases and cues and the English ones are used.
    reasoning : bool
        The text reasons before its answer and may stop before it (a token budget): option
        words met while reasoning do not count as the answer, only committed evidence does,
        and an opening option or a cut-off option prefix at the very start is not read.
    question : str, optional
        The question, so that a restatement of it is not read as an answer.
    fallback_options : sequence of str, optional
        The same options in a language a model may fall back to (English), read like
        ``options``: an Arabic item answered with "Strongly agree".
    phrases : DataFrame, optional
        Refusal and evasion phrases (``language``, ``phrase``, ``kind``) replacing the
        defaults (:func:`valuelab.survey.refusal_phrases`).
    extra_phrases : DataFrame, optional
        Phrases added to the defaults (or to ``phrases``), same columns.

    Returns
    -------
    AnswerReading
        ``verdict``, ``answer`` (1-based or None), ``refused``, ``evidence``, ``reason``,
        ``kind``, ``phrase``, ``confidence``.

    Raises
    ------
    TypeError
        ``text`` is not a string (None, NaN, a number).
    ValueError
        An unknown language code (the message lists the known ones); ``options``,
        ``n_options`` and ``labels`` of different lengths.

    References
    ----------
    .. [1] Röttger, P. et al. (2024). XSTest. NAACL (refusal string matching).
    .. [2] Unicode Standard Annex #15: Unicode Normalization Forms (NFKC).
    """
    _check_text(text)
    extra = None if extra_phrases is None else _check_table(extra_phrases, "extra_phrases", PHRASE_KINDS)
    table = None if phrases is None else _check_table(phrases, "phrases", PHRASE_KINDS)
    known = sorted(set(known_languages(table)) | (set(extra["language"]) if extra is not None else set()))
    lang = _check_language(language, known)
    opts = _option_spec(options, n_options, labels, fallback_options)
    lex = _lexicon(lang, table, extra)
    return _read(text, opts, lex, lang, reasoning=bool(reasoning), question=question)


def _reading(verdict, answer=None, evidence=None, reason=None, phrase=None, confidence=0.9) -> AnswerReading:
    refused = verdict in PHRASE_KINDS
    return AnswerReading(verdict=verdict, answer=answer, refused=refused, evidence=evidence or None, reason=reason,
                         kind=verdict if refused else None, phrase=phrase, confidence=confidence)


def _read(raw: str, opts: _Options, lex: _Lexicon, language: str, *, reasoning: bool,
          question: str | None) -> AnswerReading:
    text = _Text(raw, language)
    if not text.words:
        return _reading("no_answer", reason="empty text" if not raw.strip() else "no words or numbers in the text",
                        confidence=0.95)
    mentions = _mentions(opts, text, language)
    _mask(text, _echo_spans(text, mentions), question)
    marks = {kind: _spans(text, pats) for kind, pats in lex.cues.items()}
    evidence, set_aside = _word_evidence(text, mentions, marks)
    evidence += [e for e in _numbers(text, opts) + _number_words(text, lex, marks["option_noun"], opts)
                 if not any(x.start <= e.start < x.end for x in evidence)]
    evidence.sort(key=lambda e: (e.start, -e.end))
    _flag_numbers(text, evidence, marks)
    evidence = _before_continuation(text, _link_numbers_and_words(evidence, text), marks["continuation"])
    first_word = next((k for k in range(len(text.words)) if text.masked[k] < 2), None)
    _commit(text, evidence, marks, first_word, reasoning)
    prefix = _cut_prefix(text, opts, marks["cue"], first_word, reasoning)
    if prefix is not None:
        evidence = sorted(evidence + [prefix], key=lambda e: (e.start, -e.end))
    return _verdict(text, evidence, _phrase(text, lex, mentions), reasoning, set_aside)


def _word_evidence(text: _Text, mentions, marks) -> tuple[list[_Evidence], list[str]]:
    """Option words that may answer, and why others were set aside (negated, rejected)."""
    evidence, set_aside = [], []
    for a, b, option, _ in mentions:
        if text.hidden(a, b):
            continue

        def outside(kind):  # "not" inside "Not at all" is the option's own word
            return [(x, y) for x, y in marks[kind] if not (a <= x and y <= b)]

        if _near(outside("negation"), a, text, True) or _near(outside("post_negation"), b, text, False):
            set_aside.append(f"{text.span_text(a, b)!r} is negated")
            continue
        if _near(outside("contrast"), a, text, True, reach=2) or _near(outside("post_contrast"), b, text, False):
            set_aside.append(f"{text.span_text(a, b)!r} is what the text sets against its choice")
            continue
        ev = _Evidence(a, b, option, "words", passing=True)
        if _near(outside("several"), a, text, True):
            ev.passing = False
            ev.problem, ev.detail = "several", f"{text.span_text(a, b)!r} is named together with other options"
        evidence.append(ev)
    return evidence, set_aside


def _flag_numbers(text: _Text, evidence: list[_Evidence], marks) -> None:
    """Hedged evidence; numbers that name an option ("option 3", "(3)") or are negated ("not 3")."""
    for ev in evidence:
        ev.hedged = _near(marks["hedge"], ev.start, text, True)
        if ev.what != "number" or ev.problem is not None:
            continue
        nouns = marks["option_noun"]
        if _near(nouns, ev.start, text, True, reach=2) or _near(nouns, ev.end, text, False):
            ev.passing = True
        s, e = text.starts[ev.start], text.ends[ev.end - 1]
        if s > 0 and text.folded[s - 1] in "([*\"#" and e < len(text.folded) and text.folded[e] in ")]*\"":
            ev.passing = True
        if _near(marks["negation"], ev.start, text, True, reach=2) or _near(marks["contrast"], ev.start, text, True,
                                                                            reach=2):
            ev.problem, ev.detail = "set_aside", f"{text.span_text(ev.start, ev.end)} is negated or rejected"


def _before_continuation(text: _Text, evidence: list[_Evidence], continuations) -> list[_Evidence]:
    """Drop evidence after a line opening with "Question:" (and the like) that follows the first evidence."""
    lines = [a for a, b in continuations if a > 0 and "\n" in text.folded[text.ends[a - 1]: text.starts[a]]]
    first = min((e.start for e in evidence), default=None)
    stop = min((c for c in lines if first is not None and c > first), default=None)
    return evidence if stop is None else [e for e in evidence if e.start < stop]


def _commit(text: _Text, evidence: list[_Evidence], marks, first_word, reasoning: bool) -> None:
    """Mark evidence the text commits to: it opens the text, follows a cue, precedes a closing cue,
    or is a number labelled with a colon."""
    for ev in evidence:
        if ev.start == first_word and not reasoning and _lead_commits(ev, text):
            ev.strong = True
        if any(a >= ev.end and a - ev.end < 3 and text.sentence[a] == text.sentence[ev.end - 1]
               for a, _ in marks["post_cue"]):
            ev.strong = True
        if ev.what == "number" and ev.problem is None and _labelled(text, ev):
            ev.strong = True
    for a, b in marks["cue"]:
        if text.hidden(a, b):
            continue
        after = [e for e in evidence if e.start >= b and e.problem != "set_aside"]
        if after and _same_answer_slot(text, b, after[0].start):
            after[0].strong = True


def _lead_commits(ev: _Evidence, text: _Text) -> bool:
    """Evidence that opens a text commits when it stands as a clause of its own ("Not at all.", "3, because")."""
    if ev.what == "number":
        return True
    e = text.ends[ev.end - 1]
    rest = text.folded[e:]
    stripped = rest.lstrip(" \t")
    return not stripped or stripped[0] in _CLAUSE_END or stripped[0] in ")]'\"*"


def _labelled(text: _Text, ev: _Evidence) -> bool:
    """A number after a colon that ends its line ("Answer: 3", "الإجابة: ٣", in any language)."""
    before = text.folded[: text.starts[ev.start]].rstrip(" \t*_")
    after = text.folded[text.ends[ev.end - 1]:].lstrip(" \t*_)")
    return before.endswith((":", "=")) and (not after or after[0] in "\n.!。")


def _same_answer_slot(text: _Text, cue_end: int, start: int) -> bool:
    """Whether evidence at word ``start`` answers the cue ending before word ``cue_end`` (same sentence)."""
    a = text.ends[cue_end - 1]
    gap = text.folded[a: text.starts[start]]
    head = len(gap) - len(gap.lstrip(" :：*_\n\t-–—=>→\"'"))
    return not text._boundary(a + head, text.starts[start], _SENTENCE_END)


def _link_numbers_and_words(evidence: list[_Evidence], text: _Text) -> list[_Evidence]:
    """Pair a number with option words right next to it ("3. Quite a lot", "Agree (2)")."""
    out, used = [], set()
    for n, ev in enumerate(evidence):
        if n in used:
            continue
        if ev.what == "number" and ev.problem is None:
            for m, other in enumerate(evidence):
                if m == n or m in used or other.what != "words":
                    continue
                adjacent = (other.start == ev.end or other.end == ev.start)
                if not adjacent:
                    continue
                lo, hi = (ev, other) if ev.end == other.start else (other, ev)
                gap = text.folded[text.ends[lo.end - 1]: text.starts[hi.start]]
                if gap.strip(" .)(:-–—*[]\"'、") or "\n" in gap:
                    continue
                used.update({n, m})
                merged = _Evidence(min(ev.start, other.start), max(ev.end, other.end), ev.option, "number",
                                   strong=True, passing=True)
                if other.option != ev.option:
                    merged.problem = "conflict"
                    merged.detail = (f"the number {text.words[ev.start]} and the words "
                                     f"{text.span_text(other.start, other.end)!r} name different options")
                out.append(merged)
                break
            else:
                out.append(ev)
        else:
            out.append(ev)
    return sorted(out, key=lambda e: (e.start, -e.end))


def _cut_prefix(text: _Text, opts: _Options, cues, first_word, reasoning) -> _Evidence | None:
    """The start of an option's words at the very end of a cut-off text, at the answer's place."""
    if not opts.words or first_word is None or text.folded.rstrip()[-1:] in ".!?。؟":
        return None
    starts = [] if reasoning else [first_word]
    starts += [b for a, b in cues if b < len(text.words) and _same_answer_slot(text, b, b)]
    for s in starts:
        if any(m == 2 for m in text.masked[s:]) or any(w.isdigit() for w in text.words[s:]):
            continue
        tail = "".join(text.words[s:])
        cjk = re.match(f"[{_CJK}]", tail) is not None
        if len(tail) < (2 if cjk else 3):
            continue
        fits = [j + 1 for j, w in enumerate(opts.words) if w and "".join(w).startswith(tail) and "".join(w) != tail]
        full = [j + 1 for j, w in enumerate(opts.words) if w and "".join(w) == tail]
        if full or not fits:
            continue
        ev = _Evidence(s, len(text.words), fits[0] if len(fits) == 1 else None, "prefix", strong=True)
        if len(fits) > 1:
            ev.problem = "cut"
            ev.detail = (f"cut off: {text.span_text(s, len(text.words))!r} begins options "
                         f"{', '.join(map(str, fits))}")
        return ev
    return None


def _phrase(text: _Text, lex: _Lexicon, mentions) -> tuple[str, str, int, int] | None:
    """The first refusal or evasion phrase that is not part of an option's words (kind, phrase, span)."""
    best = None
    for pat, kind, phrase in lex.phrases:
        for a, b in text.find(pat):
            if any(x <= a and b <= y for x, y, _, _ in mentions):
                continue  # "Don't know" as an option's words
            if best is None or a < best[2] or (a == best[2] and b > best[3]):
                best = (kind, phrase, a, b)
    return best


def _verdict(text: _Text, evidence: list[_Evidence], phrase_hit, reasoning: bool, set_aside) -> AnswerReading:
    """The verdict from the evidence: the first committed option, else a refusal phrase, else
    option words met in passing, else no answer with its reason."""
    echoed = any(m == 2 for m in text.masked)
    phrase = phrase_hit[1] if phrase_hit else None
    phrase_text = text.span_text(phrase_hit[2], phrase_hit[3]) if phrase_hit else None

    def refusal(confidence=0.95):
        return _reading(phrase_hit[0], evidence=phrase_text, phrase=phrase, confidence=confidence)

    strong = [e for e in evidence if e.strong and e.problem != "set_aside"]
    if strong:
        first = strong[0]
        rivals = [e for e in strong[1:] if not e.hedged and e.option != first.option
                  and not _continued(text, first, e)]
        rivals += [e for e in evidence if e.start >= first.end and not e.strong and not e.hedged and e.problem is None
                   and e.option != first.option and _LISTED.match(text.folded[text.ends[first.end - 1]:
                                                                               text.starts[e.start]])]
        if first.problem or rivals:
            if phrase_hit:
                return refusal(0.8)
            if first.problem == "invalid":
                return _reading("no_answer", evidence=text.span_text(first.start, first.end), reason=first.detail,
                                confidence=0.8)
            if first.problem:
                return _reading("ambiguous", evidence=text.span_text(first.start, first.end), reason=first.detail,
                                confidence=0.8)
            other = rivals[0]
            return _reading("ambiguous",
                            evidence=f"{text.span_text(first.start, first.end)} | "
                                     f"{text.span_text(other.start, other.end)}",
                            reason=f"two options fit equally: {first.option} and {other.option}", confidence=0.8)
        return _reading("answer", first.option, text.span_text(first.start, first.end), phrase=phrase,
                        confidence=0.6 if phrase_hit else 0.9)

    passing = [e for e in evidence if e.passing and e.problem is None]
    if phrase_hit:
        return refusal(0.8 if passing else 0.95)
    if passing and reasoning:
        return _reading("no_answer", evidence=text.span_text(passing[0].start, passing[0].end),
                        reason="the reasoning mentions an option without committing to it", confidence=0.6)
    plain = [e for e in passing if not e.hedged] or passing
    named = list(dict.fromkeys(e.option for e in plain))
    if len(named) == 1:
        e = plain[0]
        return _reading("answer", e.option, text.span_text(e.start, e.end), confidence=0.6 if e.hedged else 0.7)
    if len(named) == 2:
        a = plain[0]
        b = next(e for e in plain if e.option != a.option)
        return _reading("ambiguous", evidence=f"{text.span_text(a.start, a.end)} | {text.span_text(b.start, b.end)}",
                        reason=f"two options fit equally: {a.option} and {b.option}", confidence=0.8)
    if len(named) > 2:
        return _reading("no_answer", reason=f"the text names {len(named)} options without choosing one",
                        confidence=0.8)
    problems = [e for e in evidence if e.problem and e.problem != "set_aside"]
    if reasoning and not text.folded.rstrip()[-1:] in ".!?。؟":
        reason = "the reasoning stopped before its answer"
    elif echoed and all(m == 2 for m in text.masked):
        reason = "the text repeats the question or the option list without choosing"
    elif set_aside:
        reason = set_aside[0]
    elif problems:
        reason = problems[0].detail
    elif echoed:
        reason = "the text repeats the question or the option list without choosing"
    else:
        reason = "no option number or option words"
    return _reading("no_answer", reason=reason, confidence=0.6)


def _continued(text: _Text, first: _Evidence, later: _Evidence) -> bool:
    """Whether ``later`` comes after a blank line following ``first`` (a model writing on)."""
    gap = text.folded[text.ends[first.end - 1]: text.starts[later.start]]
    return "\n\n" in re.sub(r"[^\S\n]+", "", gap)
