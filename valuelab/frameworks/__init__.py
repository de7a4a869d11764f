"""Map dilemma choices and free-text values onto value theories (DailyDilemmas, done with uncertainty).

Five theories (:data:`THEORIES`): the World Values Survey cultural map, Moral Foundations,
Aristotle's virtues, Plutchik's emotions and Maslow's needs.

References
----------
.. [1] Chiu, Y. Y., Jiang, L. and Choi, Y. (2024). DailyDilemmas: Revealing Value Preferences
   of LLMs with Quandaries of Daily Life. arXiv:2410.02683.
"""

from .dilemmas import ACTION_TYPES, dilemma_prompt, elicit_dilemma_choices, validate_actions, validate_choices
from .lexicon import default_lexicon, normalise_value, published_value, read_value_lexicon
from .mapping import ValueMapper, evaluate_value_mapping
from .scoring import label_actions, score_differences, score_dilemmas, steerability
from .theories import THEORIES, THEORY_NAMES, canonical_label, theory_labels

__all__ = [
    "ACTION_TYPES", "dilemma_prompt", "elicit_dilemma_choices", "validate_actions", "validate_choices",
    "default_lexicon", "normalise_value", "published_value", "read_value_lexicon",
    "ValueMapper", "evaluate_value_mapping",
    "label_actions", "score_differences", "score_dilemmas", "steerability",
    "THEORIES", "THEORY_NAMES", "canonical_label", "theory_labels",
]
