"""Turning generated text into a choice, and recognising refusals."""

from __future__ import annotations

import re

import numpy as np
from typing import Sequence

__all__ = ["parse_choice", "is_refusal", "renormalise", "label_frequencies", "REFUSAL_PATTERNS"]

REFUSAL_PATTERNS = (
    r"\bI (?:can(?:no|')t|am not able to|'m not able to|won'?t|will not|do not|don'?t) (?:choose|pick|answer|"
    r"express|have|make|decide|provide|state)",
    r"\bas an ai\b",
    r"\bI don'?t have (?:personal )?(?:preferences|opinions|feelings)",
    r"\bI(?: am|'m) (?:just |only )?(?:a|an) (?:language model|ai\b|assistant)",
    r"\b(?:cannot|can't|unable to) (?:make (?:that|this|a) (?:choice|decision)|choose|pick)",
    r"\bit(?:'s| is) not (?:appropriate|possible) for me",
    r"\bI(?:'d| would) rather not\b",
    r"\bneither\b",
)
_REFUSAL = re.compile("|".join(REFUSAL_PATTERNS), re.IGNORECASE)


def is_refusal(text: str) -> bool:
    """True when the text declines to choose (English phrases; see :data:`REFUSAL_PATTERNS`)."""
    return bool(_REFUSAL.search(text or ""))


def parse_choice(text: str, *, labels: Sequence[str] = ("A", "B")) -> str | None:
    """The label a free-text answer picks, or None when it picks none or several.

    Accepts a bare label (``"A"``, ``"B."``, ``"(B)"``), ``"Option A"``, ``"answer: B"`` and
    answers that begin with the label. A text naming both labels as choices is ambiguous
    and returns None, as does a refusal.
    """
    if text is None:
        return None
    t = text.strip()
    if not t or is_refusal(t):
        return None
    alts = "|".join(re.escape(lab) for lab in labels)
    # a model that echoes the question ("Option A: ... Option B: ...") has not chosen
    echoed = {_canonical(m, labels) for m in re.findall(rf"option\s+({alts})\s*:", t, re.IGNORECASE)}
    if len(echoed) > 1:
        return None
    first = re.match(rf"^[\s\"'(\[*]*(?:option\s+)?({alts})(?![\w])", t, re.IGNORECASE)
    if first:
        return _canonical(first.group(1), labels)
    cue = r"(?:option|answer|choice|choose|pick|prefer|select|go with)"
    verb = r"(?:\s+(?:is|would be|will be|would have to be))?"
    found = {_canonical(m, labels) for m in re.findall(rf"{cue}{verb}\s*:?\s*\(?({alts})\b", t, re.IGNORECASE)}
    if len(found) == 1:
        return found.pop()
    return None


def _canonical(found: str, labels: Sequence[str]) -> str:
    for lab in labels:
        if lab.lower() == found.lower():
            return lab
    return found


def renormalise(raw: np.ndarray):
    """Split raw label probabilities (prompts x labels) into the distribution over the
    labels and the total mass on them (NaN rows where the mass is 0)."""
    raw = np.asarray(raw, dtype=float)
    mass = raw.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return raw / mass[:, None], mass


def label_spellings(label) -> tuple[str, ...]:
    """The spellings of an answer label: ``"A"`` -> ``("A",)``; a tuple lists alternatives."""
    return (label,) if isinstance(label, str) else tuple(label)


def label_frequencies(groups, labels: Sequence[str]) -> np.ndarray:
    """Share of each prompt's sampled answers that spell each label (any of its spellings).

    Parameters
    ----------
    groups : sequence of sequences of str
        The sampled answers, one sequence per prompt.
    labels : sequence of str

    Returns
    -------
    ndarray (n_prompts x n_labels)
        Not renormalised: a row sums to the share of answers that were a label.
    """
    spelled = [set(label_spellings(lab)) for lab in labels]
    rows = np.zeros((len(groups), len(labels)))
    for i, answers in enumerate(groups):
        for answer in answers:
            token = answer.strip()
            for j, spellings in enumerate(spelled):
                if token and token in spellings:
                    rows[i, j] += 1
        rows[i] /= max(1, len(answers))
    return rows
