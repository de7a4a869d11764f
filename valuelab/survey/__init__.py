"""Survey probes: logit leakage, cross-lingual and framing shifts, alignment with human answers.

The analyses take the model's answers as logits (:func:`elicit_survey`) or as texts generated
anywhere (one row per completion with the option it names), pool several responses per item
and context into one distribution (:func:`answer_distributions`), set non-substantive options
("Don't know") apart, read human answers as shares or respondent-level microdata, and report
every alignment beside a chance baseline. The columns of every survey table are described in
one place, ``docs/survey_tables.md``.

References
----------
.. [1] MENAValues (2025). Benchmarking LLM values on Middle East and North Africa survey items.
.. [2] Durmus, E. et al. (2024). Towards Measuring the Representation of Subjective Global
   Opinions in Language Models. COLM (GlobalOpinionQA).
"""

from .alignment import closest_population, human_alignment, reasoning_effect
from .completions import COMPLETION_DEFAULTS, responses_from_completions
from .ask import (FRAMINGS, elicit_survey, generate_completions, option_labels, survey_countries, survey_prompt,
                  survey_prompt_pieces)
from .items import (SCALES, PublishedSurvey, load_survey_items, read_globalopinionqa, read_menavalues,
                    read_survey_items, validate_human_distributions, validate_survey_items)
from .leakage import detect_leakage, leakage_rates
from .metrics import (cliffs_delta, consistency_score, distribution_distance, expected_answer, js_distance,
                      ordinal_emd, paired_cliffs_delta)
from .reader import VERDICTS, AnswerReading, answer_cues, known_languages, normalise_text, read_answer
from .refusal import detect_refusal, parse_option_number, refusal_phrases
from .shifts import condition_shifts, shift_matrix, compare_conditions
from .distributions import CONTEXT, CONTEXT_DEFAULTS, answer_distributions
from .microdata import human_distributions_from_microdata, microdata_answers, read_human_distributions
from .alignment import persona_agreement, persona_alignment
from .metrics import normalised_entropy

__all__ = [
    "closest_population", "human_alignment", "reasoning_effect",
    "COMPLETION_DEFAULTS", "responses_from_completions",
    "FRAMINGS", "elicit_survey", "generate_completions", "option_labels", "survey_countries", "survey_prompt", "survey_prompt_pieces",
    "SCALES", "PublishedSurvey", "load_survey_items", "read_globalopinionqa", "read_human_distributions", "read_menavalues",
    "read_survey_items", "validate_human_distributions", "validate_survey_items",
    "detect_leakage", "leakage_rates",
    "cliffs_delta", "consistency_score", "distribution_distance", "expected_answer", "js_distance", "ordinal_emd",
    "paired_cliffs_delta",
    "VERDICTS", "AnswerReading", "answer_cues", "known_languages", "normalise_text", "read_answer",
    "detect_refusal", "parse_option_number", "refusal_phrases",
    "condition_shifts", "shift_matrix", "compare_conditions",
    "CONTEXT", "CONTEXT_DEFAULTS", "answer_distributions",
    "human_distributions_from_microdata", "microdata_answers",
    "persona_agreement", "persona_alignment",
    "normalised_entropy",
]
