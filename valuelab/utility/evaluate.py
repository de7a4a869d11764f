"""Held-out evaluation of utility fits: log loss, accuracy, Brier score, calibration.

References
----------
.. [1] Mazeika, M. et al. (2025). Utility Engineering: Analyzing and Controlling Emergent
   Value Systems in AIs. arXiv:2502.08640 (held-out log loss and accuracy of utility fits).
.. [2] Brier, G. W. (1950). Verification of forecasts expressed in terms of probability.
   *Monthly Weather Review* 78(1), 1–3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from ..schema import combine_validated, validate_comparisons

if TYPE_CHECKING:  # annotations only: the results module imports this one
    from .results import ThurstonianResult

__all__ = ["score_predictions", "evaluate_fit", "calibration_table", "split_pairs", "TrainTestSplit"]

_EPS = 1e-12


def _pair_keys(df: pd.DataFrame) -> np.ndarray:
    codes, _ = pd.factorize(pd.concat([df["option_a"], df["option_b"]], ignore_index=True))
    a, b = codes[: len(df)], codes[len(df) :]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return pd.factorize(pd.Series(lo.astype(np.int64) * (codes.max() + 1) + hi))[0]


def _observed_and_predicted(result: ThurstonianResult, comparisons: pd.DataFrame):
    pooled = _pooled_with_order(comparisons, result)
    p = np.clip(result.predict_proba(pooled).to_numpy(), _EPS, 1 - _EPS)
    return pooled["n_a"].to_numpy(float), pooled["n_b"].to_numpy(float), p


def score_predictions(comparisons: pd.DataFrame, p_a) -> pd.Series:
    """Score predicted probabilities against observed comparison counts, row by row.

    Parameters
    ----------
    comparisons : DataFrame
        A comparisons table (counts or ``p_a`` with ``weight``).
    p_a : array-like
        Predicted probability that A is preferred, one per row (e.g. an oracle's true
        probabilities in a simulation).

    Returns
    -------
    Series
        ``log_loss``: mean negative log-likelihood per observation (binomial counts);
        ``log_loss_pairs``: mean binary cross-entropy per row against the observed share
        (every row weighted the same, as in the published procedure);
        ``accuracy``: share of rows whose predicted winner (p >= 0.5) matches the observed
        majority, excluding rows observed at exactly 0.5;
        ``accuracy_ties_as_a``: the published definition (observed p >= 0.5 counts as A);
        ``n_ties``: rows observed at exactly 0.5; ``brier``: mean squared error of p per
        observation; ``n_rows``, ``n_obs``.
    """
    df = validate_comparisons(comparisons)
    p = np.clip(np.asarray(p_a, dtype=float), _EPS, 1 - _EPS)
    if p.shape != (len(df),):
        raise ValueError(f"p_a: expected {len(df)} probabilities (one per row), got shape {p.shape}")
    n_a, n_b = df["n_a"].to_numpy(float), df["n_b"].to_numpy(float)
    n = n_a + n_b
    obs = n_a / n
    ll = n_a * np.log(p) + n_b * np.log1p(-p)
    bce = -(obs * np.log(p) + (1 - obs) * np.log1p(-p))
    ties = np.isclose(obs, 0.5, rtol=0, atol=1e-12)
    pred_a = p >= 0.5
    decided = ~ties
    accuracy = float(np.mean(pred_a[decided] == (obs[decided] > 0.5))) if decided.any() else np.nan
    return pd.Series(
        {
            "log_loss": float(-ll.sum() / n.sum()),
            "log_loss_pairs": float(bce.mean()),
            "accuracy": accuracy,
            "accuracy_ties_as_a": float(np.mean(pred_a == (obs >= 0.5))),
            "n_ties": int(ties.sum()),
            "brier": float(np.sum(n_a * (1 - p) ** 2 + n_b * p**2) / n.sum()),
            "n_rows": int(len(n)),
            "n_obs": float(n.sum()),
        }
    )


def evaluate_fit(comparisons: pd.DataFrame, *, fit: ThurstonianResult) -> pd.Series:
    """Score a fit on (held-out) comparisons.

    Rows of the same pair, orientation and presentation order are pooled first, then
    scored with :func:`score_predictions`.

    Parameters
    ----------
    comparisons : DataFrame
        Comparisons among options of the fit.
    fit : ThurstonianResult

    Returns
    -------
    Series
        The columns of :func:`score_predictions`.
    """
    pooled = _pooled_with_order(comparisons, fit)
    return score_predictions(pooled, fit.predict_proba(pooled).to_numpy())


def _pooled_with_order(comparisons: pd.DataFrame, result: ThurstonianResult) -> pd.DataFrame:
    checked = validate_comparisons(comparisons)
    result._option_codes(checked, comparisons, "comparisons")  # names the user's row, not a pooled one
    pooled = combine_validated(checked, keep_order=True)
    order = np.where(pooled["first"] > 0, "ab", np.where(pooled["first"] < 0, "ba", None))
    return pooled.drop(columns="first").assign(order=order)


def calibration_table(comparisons: pd.DataFrame, *, fit: ThurstonianResult, bins: int = 10) -> pd.DataFrame:
    """Predicted against observed preference rates in bins of the predicted probability.

    Parameters
    ----------
    comparisons : DataFrame
    fit : ThurstonianResult
    bins : int
        Equal-width bins on [0, 1].

    Returns
    -------
    DataFrame
        One row per non-empty bin: ``bin_low``, ``bin_high``, ``predicted`` (observation-
        weighted mean predicted p), ``observed`` (share of observations preferring A),
        ``n_obs``, ``n_rows``.
    """
    n_a, n_b, p = _observed_and_predicted(fit, comparisons)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    n = n_a + n_b
    df = pd.DataFrame({"bin": idx, "pn": p * n, "n_a": n_a, "n": n, "rows": 1})
    g = df.groupby("bin").sum()
    out = pd.DataFrame(
        {
            "bin_low": edges[g.index],
            "bin_high": edges[g.index + 1],
            "predicted": g["pn"] / g["n"],
            "observed": g["n_a"] / g["n"],
            "n_obs": g["n"],
            "n_rows": g["rows"],
        }
    )
    return out.reset_index(drop=True)


class TrainTestSplit(NamedTuple):
    """Comparisons split by pair: ``train`` and ``test`` (unpacks as ``train, test``)."""

    train: pd.DataFrame
    test: pd.DataFrame


def split_pairs(comparisons: pd.DataFrame, *, test_size: float = 0.2, seed: int | None = 0) -> TrainTestSplit:
    """Split comparisons into train and test sets by unordered pair.

    Both orientations and both presentation orders of a pair land on the same side, so the
    test set holds pairs never seen in training.

    Returns
    -------
    TrainTestSplit
        ``train`` and ``test`` (DataFrames; the result unpacks as ``train, test``).
    """
    if not 0 < test_size < 1:
        raise ValueError(f"test_size: expected a fraction in (0, 1), got {test_size!r}")
    validate_comparisons(comparisons)
    keys = _pair_keys(comparisons)
    rng = np.random.default_rng(seed)
    n_keys = keys.max() + 1
    if n_keys < 2:
        raise ValueError(f"comparisons: {n_keys} distinct pair; a train/test split needs at least 2")
    n_test = min(max(1, int(round(test_size * n_keys))), n_keys - 1)  # both sides keep a pair
    test_keys = rng.permutation(n_keys)[:n_test]
    is_test = np.isin(keys, test_keys)
    return TrainTestSplit(comparisons[~is_test], comparisons[is_test])
