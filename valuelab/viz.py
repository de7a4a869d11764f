"""Plotly figures. Every ``plot_*`` function returns a :class:`plotly.graph_objects.Figure`
and never calls ``.show()``."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["plot_utilities", "plot_calibration", "plot_recovery"]


def _go():
    import plotly.graph_objects as go

    return go


def plot_utilities(utilities: pd.DataFrame, *, top: int | None = 40, color: str | None = None,
                   title: str = "Fitted utilities") -> "go.Figure":
    """Utilities with their confidence intervals, sorted from highest to lowest.

    Parameters
    ----------
    utilities : DataFrame
        ``ThurstonianResult.utilities`` (index: option id; ``mean``, ``ci_low``, ``ci_high``).
    top : int or None
        Show the ``top`` highest and ``top`` lowest options when there are more than
        ``2 * top``; None shows all.
    color : str, optional
        A column of ``utilities`` to colour points by (e.g. ``category``).
    title : str

    Returns
    -------
    plotly.graph_objects.Figure
    """
    go = _go()
    df = utilities.sort_values("mean", ascending=False)
    if top is not None and len(df) > 2 * top:
        df = pd.concat([df.head(top), df.tail(top)])
    labels = [str(i) for i in df.index]
    groups = [(None, df)] if color is None else list(df.groupby(color, sort=False))
    fig = go.Figure()
    for name, part in groups:
        has_ci = part[["ci_low", "ci_high"]].notna().all(axis=None) if "ci_low" in part else False
        err = dict(type="data", symmetric=False, array=(part["ci_high"] - part["mean"]).to_numpy(),
                   arrayminus=(part["mean"] - part["ci_low"]).to_numpy()) if has_ci else None
        fig.add_trace(go.Scatter(x=[str(i) for i in part.index], y=part["mean"], mode="markers",
                                 error_y=err, name=str(name) if name is not None else "utility",
                                 showlegend=name is not None))
    fig.update_layout(title=title, xaxis=dict(title="option", categoryorder="array", categoryarray=labels),
                      yaxis_title="utility (standardised)", template="plotly_white")
    return fig


def plot_calibration(table: pd.DataFrame, *, title: str = "Calibration") -> "go.Figure":
    """Observed against predicted preference rates (from :func:`valuelab.calibration_table`).

    Returns
    -------
    plotly.graph_objects.Figure
        Points sized by observations, and the diagonal of perfect calibration.
    """
    go = _go()
    size = 6 + 24 * np.sqrt(table["n_obs"] / table["n_obs"].max())
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color="grey"),
                             name="perfect calibration"))
    fig.add_trace(go.Scatter(x=table["predicted"], y=table["observed"], mode="markers+lines",
                             marker=dict(size=size), name="fit",
                             text=[f"n={int(n)}" for n in table["n_obs"]]))
    fig.update_layout(title=title, xaxis_title="predicted P(A preferred)", yaxis_title="observed share preferring A",
                      xaxis_range=[0, 1], yaxis_range=[0, 1], template="plotly_white")
    return fig


def plot_recovery(truth: pd.Series, estimate: pd.DataFrame, *, title: str = "Estimated against true utilities"
                  ) -> "go.Figure":
    """Estimated utilities (with intervals) against known true utilities.

    Parameters
    ----------
    truth : Series
        True utility per option id (standardised or not; it is standardised here).
    estimate : DataFrame
        ``ThurstonianResult.utilities``.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    go = _go()
    t = truth.reindex(estimate.index)
    t = (t - t.mean()) / t.std(ddof=0)
    has_ci = {"ci_low", "ci_high"} <= set(estimate.columns) and estimate["ci_low"].notna().all()
    err = dict(type="data", symmetric=False, array=estimate["ci_high"] - estimate["mean"],
               arrayminus=estimate["mean"] - estimate["ci_low"]) if has_ci else None
    lim = [float(min(t.min(), estimate["mean"].min())) - 0.2, float(max(t.max(), estimate["mean"].max())) + 0.2]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=lim, y=lim, mode="lines", line=dict(dash="dash", color="grey"), name="y = x"))
    fig.add_trace(go.Scatter(x=t, y=estimate["mean"], mode="markers", error_y=err, name="options",
                             text=[str(i) for i in estimate.index]))
    fig.update_layout(title=title, xaxis_title="true utility (standardised)",
                      yaxis_title="estimated utility", template="plotly_white")
    return fig
