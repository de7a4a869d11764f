"""Figures of survey answers: shifts between conditions, logit leakage, alignment with people. Every ``plot_*`` function returns a
:class:`plotly.graph_objects.Figure` and never calls ``.show()``; :mod:`valuelab.viz` gathers
them all."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["plot_shift_heatmap", "plot_leakage", "plot_alignment"]


def _go():
    import plotly.graph_objects as go

    return go


def plot_shift_heatmap(matrix: pd.DataFrame, *, title: str = "Mean shift between languages",
                       label: str = "distance") -> "go.Figure":
    """A square table of mean shifts (from :func:`valuelab.survey.shift_matrix`) as a heatmap.

    Returns
    -------
    plotly.graph_objects.Figure
        One cell per pair of conditions, annotated with its value.
    """
    go = _go()
    z = matrix.to_numpy(float)
    fig = go.Figure(go.Heatmap(z=z, x=[str(c) for c in matrix.columns], y=[str(i) for i in matrix.index],
                               colorscale="Viridis", colorbar=dict(title=label), zmin=0,
                               text=np.round(z, 3).astype(str), texttemplate="%{text}",
                               hovertemplate="%{y} vs %{x}: %{z:.3f}<extra></extra>"))
    fig.update_layout(title=title, template="plotly_white", yaxis=dict(autorange="reversed"),
                      width=140 + 60 * len(matrix.columns), height=120 + 55 * len(matrix.index))
    return fig


def plot_leakage(rates: pd.DataFrame, *, x: str = "language", color: str = "framing",
                 title: str = "Logit leakage: refused in text, answered in the logits") -> "go.Figure":
    """Leakage rates with Wilson intervals (from :func:`valuelab.survey.leakage_rates`).

    Parameters
    ----------
    rates : DataFrame
    x, color : str
        Columns for the bar positions and the bar colours (``color`` may be absent).
    title : str

    Returns
    -------
    plotly.graph_objects.Figure
        Grouped bars of ``leakage_rate`` with error bars; hover shows the counts.
    """
    go = _go()
    keys = [x] + ([color] if color in rates.columns else [])
    if rates.duplicated(keys).any():
        raise ValueError(f"rates: several rows share {keys}; filter to one model, country and reasoning mode "
                         "(or group leakage_rates by fewer columns) so each bar is one rate")
    groups = list(rates.groupby(color, sort=False)) if color in rates.columns else [("all", rates)]
    fig = go.Figure()
    for name, part in groups:
        fig.add_trace(go.Bar(
            x=part[x].astype(str), y=part["leakage_rate"], name=str(name),
            error_y=dict(type="data", symmetric=False, array=(part["ci_high"] - part["leakage_rate"]).to_numpy(),
                         arrayminus=(part["leakage_rate"] - part["ci_low"]).to_numpy()),
            customdata=np.stack([part["n_leaked"], part["n_refused"], part["n_responses"]], axis=-1),
            hovertemplate="%{x}: %{y:.2f}<br>%{customdata[0]} leaked of %{customdata[1]} refused "
                          "(%{customdata[2]} responses)<extra>%{fullData.name}</extra>"))
    fig.update_layout(title=title, barmode="group", template="plotly_white", yaxis=dict(range=[0, 1.05]),
                      yaxis_title="share of refusals whose logits answer", xaxis_title=x)
    return fig


def plot_alignment(alignment: pd.DataFrame, *, value: str = "similarity", row: str = "language",
                   baseline: bool = True, title: str = "Similarity to each population") -> "go.Figure":
    """Mean similarity of the model to each population, per ``row`` condition, beside the uniform answerer.

    Every other column is averaged over: filter ``alignment`` to one model (and framing,
    reasoning mode) first, or put the condition you want to see on ``row``.

    Parameters
    ----------
    alignment : DataFrame
        From :func:`valuelab.survey.human_alignment`.
    value : str
        ``similarity`` (1 - JSD), ``similarity_emd`` or ``nvas``.
    row : str
        The condition on the vertical axis (``language``, ``framing``, ...).
    baseline : bool
        When ``alignment`` has the ``uniform_<value>`` column: add a last row, ``uniform
        answerer``, with the uniform answerer's mean per population, and mark with ``*``
        every cell that is not above its own uniform baseline (the same rows' mean). A
        spread-out model scores high against spread-out populations whatever its values;
        the baseline row shows which populations chance alone is close to.
    title : str

    Returns
    -------
    plotly.graph_objects.Figure
        One heatmap: rows are the ``row`` conditions (and the baseline row), columns the
        populations; each cell is annotated with its value.
    """
    mat = alignment.pivot_table(index=row, columns="population", values=value, aggfunc="mean")
    uniform_col = f"uniform_{value}"
    marks = None
    if baseline and uniform_col in alignment.columns:
        base = alignment.pivot_table(index=row, columns="population", values=uniform_col, aggfunc="mean")
        base = base.reindex(index=mat.index, columns=mat.columns)
        marks = (mat <= base) & mat.notna()
        uniform_row = alignment.groupby("population")[uniform_col].mean().reindex(mat.columns)
        mat.loc["uniform answerer"] = uniform_row.to_numpy()
        marks.loc["uniform answerer"] = False
        title = f"{title} (* not above the uniform answerer)"
    fig = plot_shift_heatmap(mat, title=title, label=value)
    fig.data[0].update(colorscale="Blues", zmin=None)
    if marks is not None:
        z = mat.to_numpy(float)
        text = np.where(marks.to_numpy(bool), np.char.add(np.round(z, 3).astype(str), "*"), np.round(z, 3).astype(str))
        fig.data[0].update(text=text)
    fig.update_layout(width=200 + 55 * len(mat.columns))
    return fig