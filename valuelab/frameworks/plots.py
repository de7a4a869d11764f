"""Figures of value-theory scores. Every ``plot_*`` function returns a
:class:`plotly.graph_objects.Figure` and never calls ``.show()``; :mod:`valuelab.viz` gathers
them all."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["plot_value_profile", "plot_value_differences"]


def _go():
    import plotly.graph_objects as go

    return go


def plot_value_profile(scores: pd.DataFrame, *, theories=None, title: str = "Value profile") -> "go.Figure":
    """Label scores with their confidence intervals, one panel per theory, bars coloured by model.

    Parameters
    ----------
    scores : DataFrame
        From :func:`valuelab.frameworks.score_dilemmas` (``model``, ``theory``, ``label``,
        ``score``, ``ci_low``, ``ci_high``; ``q_value`` marks labels with q < .05 by a
        darker outline).
    theories : list of str, optional
        Panels to draw, in order (default: every theory present).
    title : str

    Returns
    -------
    plotly.graph_objects.Figure
        Horizontal bars (score from -100, always rejected, to +100, always chosen); labels
        that never occur in the dilemmas are left out.
    """
    go = _go()
    from plotly.subplots import make_subplots

    from .theories import THEORIES, THEORY_NAMES

    df = scores[scores["score"].notna()]
    present = list(dict.fromkeys(df["theory"]))
    theories = [t for t in (theories or THEORIES) if t in present]
    if not theories:
        raise ValueError("scores: no label with a score to plot")
    heights = [max(1, df.loc[df["theory"] == t, "label"].nunique()) for t in theories]
    fig = make_subplots(rows=len(theories), cols=1, shared_xaxes=True, row_heights=heights, vertical_spacing=0.04,
                        subplot_titles=[THEORY_NAMES.get(t, t) for t in theories])
    models = list(dict.fromkeys(df["model"]))
    palette = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D"]
    for r, theory in enumerate(theories, start=1):
        part = df[df["theory"] == theory]
        order = [lab for lab in THEORIES.get(theory, part["label"].unique()) if lab in set(part["label"])]
        for m, model in enumerate(models):
            rows = part[part["model"] == model].set_index("label").reindex(order)
            significant = rows["q_value"] < 0.05 if "q_value" in rows else np.zeros(len(rows), bool)
            fig.add_trace(go.Bar(
                y=order, x=rows["score"], orientation="h", name=str(model), legendgroup=str(model),
                showlegend=r == 1, marker=dict(color=palette[m % len(palette)],
                                               line=dict(width=np.where(significant, 2, 0), color="black")),
                error_x=dict(type="data", symmetric=False, array=(rows["ci_high"] - rows["score"]).to_numpy(),
                             arrayminus=(rows["score"] - rows["ci_low"]).to_numpy()),
                customdata=np.stack([rows["selected"], rows["neglected"], rows.get("q_value", rows["score"] * np.nan)],
                                    axis=-1) if "selected" in rows else None,
                hovertemplate="%{y}: %{x:.1f}<br>selected %{customdata[0]:.0f}, neglected %{customdata[1]:.0f}"
                              "<br>q = %{customdata[2]:.3f}<extra>%{fullData.name}</extra>"), row=r, col=1)
        fig.update_yaxes(autorange="reversed", row=r, col=1)
    fig.update_xaxes(range=[-105, 105], zeroline=True, zerolinecolor="grey")
    fig.update_xaxes(title_text="score: 100 (selected - neglected) / (selected + neglected)", row=len(theories), col=1)
    fig.update_layout(title=title, barmode="group", template="plotly_white", height=160 + 28 * sum(heights) * len(models))
    return fig


def plot_value_differences(differences: pd.DataFrame, *, title: str = "Score differences between models"
                           ) -> "go.Figure":
    """Each model's label scores minus the reference model's, with paired intervals.

    Parameters
    ----------
    differences : DataFrame
        From :func:`valuelab.frameworks.score_differences`.
    title : str

    Returns
    -------
    plotly.graph_objects.Figure
        One point per theory label and model; labels without a difference are left out.
    """
    go = _go()
    from .theories import THEORIES

    df = differences[differences["difference"].notna()]
    if df.empty:
        raise ValueError("differences: no label with a difference to plot")
    rank = {(t, lab): i for i, (t, lab) in enumerate((t, lab) for t, labs in THEORIES.items() for lab in labs)}
    keys = sorted(set(zip(df["theory"], df["label"])), key=lambda k: rank.get(k, len(rank)))
    names = [f"{t}: {lab}" for t, lab in keys]
    fig = go.Figure()
    for model, part in df.groupby("model", sort=False):
        part = part.set_index(["theory", "label"]).reindex(keys)
        fig.add_trace(go.Scatter(
            x=part["difference"], y=names, mode="markers", name=f"{model} - {part['reference'].dropna().iat[0]}",
            error_x=dict(type="data", symmetric=False, array=(part["ci_high"] - part["difference"]).to_numpy(),
                         arrayminus=(part["difference"] - part["ci_low"]).to_numpy())))
    fig.add_vline(x=0, line_color="grey", line_dash="dash")
    fig.update_layout(title=title, xaxis_title="score difference (points)", template="plotly_white",
                      yaxis=dict(autorange="reversed"), height=200 + 22 * len(keys))
    return fig
