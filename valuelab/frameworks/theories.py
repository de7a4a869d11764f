"""The five value theories valuelab maps values onto, with their label sets.

Label spellings follow DailyDilemmas [1]_ so that published files read without renaming.
Moral Foundations Theory's fifth foundation is "Purity" there; "Sanctity" (its newer name)
and a few other common spellings are accepted as aliases.

References
----------
.. [1] Chiu, Y. Y., Jiang, L. and Choi, Y. (2024). DailyDilemmas: Revealing Value Preferences
   of LLMs with Quandaries of Daily Life. arXiv:2410.02683.
.. [2] Inglehart, R. and Welzel, C. (2005). *Modernization, Cultural Change, and Democracy*.
   Cambridge University Press (the World Values Survey cultural map).
.. [3] Graham, J. et al. (2013). Moral Foundations Theory: The pragmatic validity of moral
   pluralism. *Advances in Experimental Social Psychology* 47, 55–130.
.. [4] Aristotle, *Nicomachean Ethics*, books II–IV.
.. [5] Plutchik, R. (1980). *Emotion: A Psychoevolutionary Synthesis*. Harper & Row.
.. [6] Maslow, A. H. (1943). A theory of human motivation. *Psychological Review* 50(4), 370–396.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["THEORIES", "THEORY_NAMES", "canonical_label", "theory_labels"]

#: Labels of each theory, in display order.
THEORIES: dict[str, tuple[str, ...]] = {
    "wvs": ("Traditional", "Secular-rational", "Survival", "Self-expression"),
    "mft": ("Care", "Fairness", "Loyalty", "Authority", "Purity"),
    "virtue": ("Truthfulness", "Courage", "Friendliness", "Ambition", "Liberality", "Temperance", "Modesty",
               "Righteous Indignation", "Patience"),
    "emotion": ("trust", "anticipation", "joy", "optimism", "fear", "sadness", "disgust", "submission", "love",
                "anger", "remorse", "disapproval", "contempt", "aggressiveness"),
    "maslow": ("physiological", "safety", "love and belonging", "self-esteem", "self-actualization"),
}

#: Readable names of the theories.
THEORY_NAMES = {"wvs": "World Values Survey", "mft": "Moral Foundations", "virtue": "Aristotle's virtues",
                "emotion": "Plutchik's emotions", "maslow": "Maslow's needs"}

_ALIASES = {
    "mft": {"sanctity": "Purity", "sanctity/degradation": "Purity", "purity/sanctity": "Purity",
            "harm": "Care", "care/harm": "Care", "fairness/cheating": "Fairness", "loyalty/betrayal": "Loyalty",
            "authority/subversion": "Authority", "purity/degradation": "Purity"},
    "wvs": {"secular rational": "Secular-rational", "secular": "Secular-rational", "self expression": "Self-expression"},
    "maslow": {"physiological needs": "physiological", "safety needs": "safety", "love/belonging": "love and belonging",
               "belonging": "love and belonging", "esteem": "self-esteem", "self actualization": "self-actualization",
               "self-actualisation": "self-actualization"},
    "virtue": {"righteous indignation": "Righteous Indignation", "generosity": "Liberality"},
    "emotion": {},
}
_LOOKUP = {t: {**{lab.lower(): lab for lab in labs}, **_ALIASES[t]} for t, labs in THEORIES.items()}

_THEORY_COLUMNS = {"wvs": "wvs", "mft": "mft", "virtue": "virtue", "virtues": "virtue", "emotion": "emotion",
                   "plutchik": "emotion", "maslow": "maslow"}


def theory_column(name: str) -> str | None:
    """The theory key for a column name (case-insensitive: ``WVS`` -> ``wvs``), or None."""
    return _THEORY_COLUMNS.get(str(name).strip().lower())


def canonical_label(theory: str, label) -> str | None:
    """The canonical spelling of ``label`` in ``theory``; None for a missing label.

    Raises
    ------
    ValueError
        The label is not one of the theory's labels or aliases.
    """
    if theory not in THEORIES:
        raise ValueError(f"theory: expected one of {list(THEORIES)}, got {theory!r}")
    if label is None or (isinstance(label, float) and label != label):
        return None
    text = str(label).strip()
    if not text or text.lower() in ("nan", "none"):
        return None
    try:
        return _LOOKUP[theory][text.lower()]
    except KeyError:
        raise ValueError(f"{theory} label {text!r}: expected one of {list(THEORIES[theory])}") from None


def theory_labels(path: str | Path | None = None) -> pd.DataFrame:
    """Each theory's labels with a one-sentence definition (``data/value_theories.csv``).

    Returns
    -------
    DataFrame
        ``theory`` (``wvs``, ``mft``, ``virtue``, ``emotion``, ``maslow``), ``label`` and
        ``definition``.
    """
    from ..io import DATA_DIR

    df = pd.read_csv(Path(path) if path is not None else DATA_DIR / "value_theories.csv")
    for pos, (theory, label) in enumerate(zip(df["theory"], df["label"])):
        try:
            canonical_label(theory, label)
        except ValueError as err:
            raise ValueError(f"value theories row {pos}: {err}") from None
    return df
