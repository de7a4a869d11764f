"""valuelab: study the values of large language models.

Elicit preferences from models, fit Thurstonian utilities with their uncertainty, test how
coherent they are, and map choices onto value theories. Tidy DataFrames in and out.

``import valuelab`` is light: torch and transformers are imported only by the elicitation
backends that use them.
"""

from ._version import __version__
from .schema import combine_orientations, validate_comparisons, validate_options
from . import utility as _utility
from .utility import *  # noqa: F401,F403  (the flat public API)

_LAZY = {"plot_utilities": "viz", "plot_calibration": "viz", "plot_recovery": "viz",
         "plot_exchange_curves": "viz", "plot_expected_utility": "viz", "plot_discounting": "viz", "plot_drift": "viz",
         "plot_value_profile": "viz", "plot_value_differences": "viz", "plot_shift_heatmap": "viz",
         "plot_leakage": "viz", "plot_alignment": "viz", "plot_coverage": "viz", "plot_transitivity": "viz",
         "plot_indecision": "viz", "plot_maximisation": "viz",
         "read_table": "io", "write_table": "io",
         "elicit_comparisons": "elicit", "elicit_utilities": "elicit", "TransformersModel": "elicit",
         "ResponseCache": "elicit",
         "score_dilemmas": "frameworks", "score_differences": "frameworks", "steerability": "frameworks",
         "elicit_dilemma_choices": "frameworks", "ValueMapper": "frameworks", "read_value_lexicon": "frameworks",
         "load_dilemmas": "datasets", "read_dailydilemmas": "datasets", "SentenceEncoder": "encoder",
         "elicit_survey": "survey", "load_survey_items": "survey", "read_menavalues": "survey",
         "read_globalopinionqa": "survey", "detect_leakage": "survey", "leakage_rates": "survey",
         "condition_shifts": "survey", "compare_conditions": "survey", "human_alignment": "survey",
         "answer_distributions": "survey", "read_human_distributions": "survey", "persona_alignment": "survey",
         "responses_from_completions": "survey", "read_answer": "survey"}

__all__ = [
    "__version__",
    "validate_comparisons",
    "validate_options",
    "combine_orientations",
    *_utility.__all__,
    *_LAZY,
]


#: subpackages reachable as attributes (``vl.elicit.OpenAIModel``, ``vl.survey.elicit_survey``) without
#: their own import statement; imported on first use
_SUBMODULES = ("elicit", "survey", "frameworks", "datasets", "viz", "io", "encoder", "stats", "summary", "report")


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'valuelab' has no attribute {name!r}")


def __dir__():
    # Tab completion and dir(valuelab) list the lazily imported names too.
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))
