"""Thurstonian utilities, their baselines and evaluation (Utility Engineering)."""

from .comparison import compare_fits
from .crossval import cross_validate
from .evaluate import TrainTestSplit, calibration_table, score_predictions, evaluate_fit, split_pairs
from .graph import DisconnectedGraphError
from .likelihood import Prior
from .results import ThurstonianResult
from .position import PositionBiasWarning, position_bias
from .simulate import (CoherentAgent, interval_coverage, random_pairs, sample_answers, simulate_attribute_voter, simulate_coherent_agent,
                       simulate_comparisons, simulate_utilities)
from .convergence import utility_correlations, utility_drift, utility_embedding, utility_matrix
from .discounting import fit_discounting
from .exchange import ExchangeRates, fit_exchange_rates
from .expected_utility import ExpectedUtilityResult, expected_utility
from .indecision import IndecisionResult, indecision
from .maximisation import MaximisationResult, utility_maximisation
from .transitivity import transitivity, triad_table
from .thurstonian import PooledGroupsWarning, ConvergenceWarning, fit_bradley_terry, fit_case_v, fit_thurstonian

__all__ = [
    "Prior",
    "ThurstonianResult",
    "ConvergenceWarning",
    "DisconnectedGraphError",
    "PooledGroupsWarning",
    "PositionBiasWarning",
    "position_bias",
    "fit_thurstonian",
    "fit_case_v",
    "fit_bradley_terry",
    "evaluate_fit",
    "score_predictions",
    "calibration_table",
    "split_pairs",
    "TrainTestSplit",
    "cross_validate",
    "compare_fits",
    "simulate_utilities",
    "random_pairs",
    "simulate_comparisons",
    "simulate_coherent_agent",
    "simulate_attribute_voter",
    "sample_answers",
    "interval_coverage",
    "CoherentAgent",
    "transitivity",
    "triad_table",
    "indecision",
    "IndecisionResult",
    "expected_utility",
    "ExpectedUtilityResult",
    "utility_maximisation",
    "MaximisationResult",
    "fit_exchange_rates",
    "ExchangeRates",
    "fit_discounting",
    "utility_matrix",
    "utility_correlations",
    "utility_embedding",
    "utility_drift",
]
