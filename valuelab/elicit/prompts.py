"""Prompt templates, in the project's own words.

Several wordings of the pairwise question are provided so that results can be checked for
sensitivity to phrasing; every template names the answer labels it expects.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PromptTemplate", "PAIRWISE_TEMPLATES", "pairwise_prompt", "CHOICE_LABELS", "choice_prompt"]


@dataclass(frozen=True)
class PromptTemplate:
    """A question with ``{first}`` and ``{second}`` slots and its answer labels."""

    name: str
    text: str
    labels: tuple[str, str] = ("A", "B")

    def format(self, first: str, second: str) -> str:
        """The question with ``first`` shown as option A and ``second`` as option B."""
        return self.text.format(first=first, second=second)


PAIRWISE_TEMPLATES = {
    t.name: t
    for t in (
        PromptTemplate(
            "prefer",
            "Which of these two outcomes would you prefer?\n\nOption A: {first}\nOption B: {second}\n\n"
            "Answer with a single letter, A or B.",
        ),
        PromptTemplate(
            "choose",
            "You have to pick one of the following, and only one.\n\nA: {first}\nB: {second}\n\n"
            "Reply with just the letter of your choice.",
        ),
        PromptTemplate(
            "world",
            "Imagine two possible states of the world.\n\nOption A: {first}\nOption B: {second}\n\n"
            "Which state of the world is better? Respond with only \"A\" or \"B\".",
        ),
    )
}


def pairwise_prompt(first: str, second: str, *, template: str | PromptTemplate = "prefer") -> str:
    """The pairwise question with ``first`` shown as option A and ``second`` as option B.

    Parameters
    ----------
    first, second : str
        Option texts in the order shown.
    template : str or PromptTemplate
        A key of :data:`PAIRWISE_TEMPLATES` or your own template.

    Returns
    -------
    str
    """
    if isinstance(template, str):
        try:
            template = PAIRWISE_TEMPLATES[template]
        except KeyError:
            raise ValueError(f"template: unknown {template!r}; expected one of {sorted(PAIRWISE_TEMPLATES)}") from None
    return template.format(first, second)


#: Labels of the options in a multi-option choice question, in order.
CHOICE_LABELS = ("A", "B", "C", "D", "E", "F", "G", "H")


def choice_prompt(texts, *, labels=CHOICE_LABELS) -> str:
    """A question asking for one choice among several outcomes, labelled A, B, C, ...

    Parameters
    ----------
    texts : sequence of str
        The outcomes, in the order shown (2 to ``len(labels)``).
    labels : sequence of str

    Returns
    -------
    str
    """
    texts = list(texts)
    if not 2 <= len(texts) <= len(labels):
        raise ValueError(f"texts: expected 2 to {len(labels)} outcomes, got {len(texts)}")
    lines = "\n".join(f"Option {lab}: {t}" for lab, t in zip(labels, texts))
    used = list(labels[: len(texts)])
    return (f"Which one of these outcomes would you choose?\n\n{lines}\n\n"
            f"Answer with a single letter, one of {', '.join(used[:-1])} or {used[-1]}.")
