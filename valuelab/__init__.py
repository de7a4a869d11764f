"""valuelab: study the values of large language models.

Elicit preferences from models, fit Thurstonian utilities with their uncertainty, test how
coherent they are, and map choices onto value theories. Tidy DataFrames in and out.

``import valuelab`` is light: torch and transformers are imported only by the elicitation
backends that use them.
"""

from ._version import __version__
from .schema import combine_orientations, validate_comparisons, validate_options
from .utility import (
    ConvergenceWarning,
    DisconnectedGraphError,
    Prior,
    ThurstonianResult,
    calibration_table,
    compare_fits,
    cross_validate,
    evaluate_fit,
    score_predictions,
    fit_bradley_terry,
    fit_case_v,
    fit_thurstonian,
    random_pairs,
    simulate_comparisons,
    simulate_utilities,
    split_pairs,
)

_LAZY = {"plot_utilities": "viz", "plot_calibration": "viz", "plot_recovery": "viz",
         "read_table": "io", "write_table": "io"}

__all__ = [
    "__version__",
    "validate_comparisons",
    "validate_options",
    "combine_orientations",
    "Prior",
    "ThurstonianResult",
    "ConvergenceWarning",
    "DisconnectedGraphError",
    "fit_thurstonian",
    "fit_case_v",
    "fit_bradley_terry",
    "evaluate_fit",
    "score_predictions",
    "calibration_table",
    "split_pairs",
    "cross_validate",
    "compare_fits",
    "simulate_utilities",
    "random_pairs",
    "simulate_comparisons",
    *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'valuelab' has no attribute {name!r}")
