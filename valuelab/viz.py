"""Plotly figures, gathered from the packages that draw them. Every ``plot_*`` function returns a
:class:`plotly.graph_objects.Figure` and never calls ``.show()``.

The figures live with what they draw (:mod:`valuelab.utility.plots`,
:mod:`valuelab.frameworks.plots`, :mod:`valuelab.survey.plots`); result objects draw themselves
through their ``plot()`` methods."""

from .frameworks.plots import plot_value_differences, plot_value_profile
from .survey.plots import plot_alignment, plot_leakage, plot_shift_heatmap
from .utility.plots import (plot_calibration, plot_coverage, plot_discounting, plot_drift, plot_exchange_curves,
                            plot_expected_utility, plot_indecision, plot_maximisation, plot_recovery,
                            plot_transitivity, plot_utilities)

__all__ = ["plot_utilities", "plot_calibration", "plot_recovery", "plot_exchange_curves", "plot_expected_utility",
           "plot_discounting", "plot_drift", "plot_value_profile", "plot_value_differences", "plot_shift_heatmap",
           "plot_leakage", "plot_alignment", "plot_coverage", "plot_transitivity", "plot_indecision",
           "plot_maximisation"]
