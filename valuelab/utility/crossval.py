"""K-fold cross-validation of utility fits over pairs.

References
----------
.. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640 (held-out log loss and accuracy of utility fits).
"""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
import pandas as pd

from ..schema import validate_comparisons
from .evaluate import _pair_keys, evaluate_fit
from .results import ThurstonianResult
from .thurstonian import fit_thurstonian

__all__ = ["cross_validate"]


def _drop_unseen(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    seen = pd.Index(pd.unique(pd.concat([train["option_a"], train["option_b"]])))
    ok = test["option_a"].isin(seen) & test["option_b"].isin(seen)
    return test[ok.to_numpy()], int((~ok).sum())


def cross_validate(comparisons: pd.DataFrame, *, fit: Callable[..., ThurstonianResult] | None = None,
                   k: int = 5, seed: int | None = 0, **fit_kwargs) -> pd.DataFrame:
    """K-fold cross-validation over pairs.

    Parameters
    ----------
    comparisons : DataFrame
    fit : callable, default :func:`valuelab.fit_thurstonian`
        Any of the fit functions; ``fit_kwargs`` are passed to it.
    k : int
        Number of folds: pairs are dealt to folds at random, balanced by their rows
        (scikit-learn's ``GroupKFold`` with the pair as the group).
    seed : int or None

    Returns
    -------
    DataFrame
        One row per fold: ``fold``, the columns of :func:`evaluate_fit`, and ``n_dropped``
        (test rows whose options were absent from that fold's training data).
    """
    fit = fit or fit_thurstonian
    if k < 2:
        raise ValueError(f"k: expected at least 2 folds, got {k!r}")
    validate_comparisons(comparisons)
    keys = _pair_keys(comparisons)
    if keys.max() + 1 < k:
        raise ValueError(f"k: {k} folds need at least {k} distinct pairs; the comparisons have {keys.max() + 1}")
    from sklearn.model_selection import GroupKFold

    # the pair is the group: both orientations and orders of a pair fall in one fold
    splitter = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
    fold = np.empty(len(keys), dtype=int)
    for f, (_, test_rows) in enumerate(splitter.split(keys, groups=keys)):
        fold[test_rows] = f
    fit_kwargs.setdefault("uncertainty", None)
    rows = []
    for f in range(k):
        train, test = comparisons[fold != f], comparisons[fold == f]
        test, dropped = _drop_unseen(train, test)
        if dropped:
            warnings.warn(f"fold {f}: {dropped} test rows involve options absent from training; skipped",
                          stacklevel=2)
        res = fit(train, **fit_kwargs)
        scores = evaluate_fit(test, fit=res)
        rows.append({"fold": f, **scores.to_dict(), "n_dropped": dropped})
    return pd.DataFrame(rows)
