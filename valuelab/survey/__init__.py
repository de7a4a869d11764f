"""Survey probes: logit leakage, cross-lingual and framing shifts, alignment with human answers.

References
----------
.. [1] MENAValues (2025). Benchmarking LLM values on Middle East and North Africa survey items.
.. [2] Durmus, E. et al. (2024). Towards Measuring the Representation of Subjective Global
   Opinions in Language Models. COLM (GlobalOpinionQA).
"""

from .alignment import closest_population, human_alignment, reasoning_effect
from .completions import COMPLETION_DEFAULTS, responses_from_completions
from .ask import FRAMINGS, elicit_survey, option_labels, survey_countries, survey_prompt, survey_prompt_pieces
from .items import (SCALES, load_survey_items, read_globalopinionqa, read_human_distributions, read_menavalues,
                    read_survey_items, validate_human_distributions, validate_survey_items)
from .leakage import detect_leakage, leakage_rates
from .metrics import (cliffs_delta, consistency_score, distribution_distance, expected_answer, js_distance,
                      ordinal_emd, paired_cliffs_delta)
from .reader import VERDICTS, AnswerReading, answer_cues, known_languages, normalise_text, read_answer
from .refusal import detect_refusal, parse_option_number, refusal_phrases
from .shifts import condition_shifts, shift_matrix, compare_conditions

__all__ = [
    "closest_population", "human_alignment", "reasoning_effect",
    "COMPLETION_DEFAULTS", "responses_from_completions",
    "FRAMINGS", "elicit_survey", "option_labels", "survey_countries", "survey_prompt", "survey_prompt_pieces",
    "SCALES", "load_survey_items", "read_globalopinionqa", "read_human_distributions", "read_menavalues",
    "read_survey_items", "validate_human_distributions", "validate_survey_items",
    "detect_leakage", "leakage_rates",
    "cliffs_delta", "consistency_score", "distribution_distance", "expected_answer", "js_distance", "ordinal_emd",
    "paired_cliffs_delta",
    "VERDICTS", "AnswerReading", "answer_cues", "known_languages", "normalise_text", "read_answer",
    "detect_refusal", "parse_option_number", "refusal_phrases",
    "condition_shifts", "shift_matrix", "compare_conditions",
]
