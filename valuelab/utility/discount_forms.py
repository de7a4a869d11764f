"""The discount functions ``D(t; k)`` (``D(0) = 1``) that :func:`valuelab.fit_discounting`
fits, :func:`valuelab.simulate_coherent_agent` simulates and :func:`valuelab.viz.plot_discounting`
draws.

References
----------
.. [1] Samuelson, P. A. (1937). A note on measurement of utility. *Review of Economic
   Studies* 4(2), 155–161 (exponential discounting).
.. [2] Mazur, J. E. (1987). An adjustment procedure for studying delayed reinforcement. In
   *Quantitative Analyses of Behavior* 5, 55–73 (hyperbolic discounting).
"""

from __future__ import annotations

import numpy as np

__all__ = ["DISCOUNT_FORMS"]

#: Discount functions D(t; k), with D(0) = 1.
DISCOUNT_FORMS = {
    "exponential": lambda t, k: np.exp(-k * t),
    "hyperbolic": lambda t, k: 1.0 / (1.0 + k * t),
}
