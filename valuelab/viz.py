"""Plotly figures. Every ``plot_*`` function returns a :class:`plotly.graph_objects.Figure`
and never calls ``.show()``."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["plot_utilities", "plot_calibration", "plot_recovery", "plot_exchange_curves", "plot_expected_utility",
           "plot_discounting", "plot_drift", "plot_value_profile", "plot_value_differences", "plot_shift_heatmap",
           "plot_leakage", "plot_alignment", "plot_coverage", "plot_transitivity"]


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


def plot_coverage(coverage: pd.DataFrame, *, color: str | None = None,
                  title: str = "Interval coverage: nominal against actual") -> "go.Figure":
    """Actual coverage of intervals against their nominal level, with binomial error bars.

    Parameters
    ----------
    coverage : DataFrame
        From :func:`valuelab.interval_coverage` (``level``, ``coverage``, ``se_coverage``).
    color : str, optional
        Column separating methods (one line each).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    go = _go()
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0.45, 1.0], y=[0.45, 1.0], mode="lines", line=dict(dash="dash", color="grey"),
                             name="nominal = actual"))
    groups = coverage.groupby(color, sort=False) if color else [("intervals", coverage)]
    for name, grp in groups:
        fig.add_trace(go.Scatter(x=grp["level"], y=grp["coverage"], mode="lines+markers", name=str(name),
                                 error_y=dict(type="data", array=1.96 * grp["se_coverage"])))
    fig.update_layout(title=title, xaxis_title="nominal level", yaxis_title="share of intervals containing the truth",
                      template="plotly_white")
    return fig


def plot_transitivity(tables: dict, *, title: str = "Transitivity beyond answer noise") -> "go.Figure":
    """Transitivity statistics of several agents side by side, with their intervals.

    Parameters
    ----------
    tables : dict of name -> DataFrame
        :func:`valuelab.transitivity` results (its ``observed`` rows are drawn).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    go = _go()
    labels = {"cycle_probability": "cycle probability", "wst_violation_rate": "WST violations",
              "sst_violation_rate": "SST violations"}
    fig = go.Figure()
    for name, table in tables.items():
        obs = table[table["source"] == "observed"]
        est = obs["estimate"].to_numpy()
        fig.add_trace(go.Bar(x=[labels.get(s, s) for s in obs["statistic"]], y=est, name=str(name),
                             error_y=dict(type="data", symmetric=False, array=obs["ci_high"].to_numpy() - est,
                                          arrayminus=est - obs["ci_low"].to_numpy())))
    fig.update_layout(title=title, barmode="group", yaxis_title="share of triads (agent's own probabilities)",
                      template="plotly_white")
    return fig


def plot_exchange_curves(rates, *, title: str = "Utility against quantity, with fitted log curves") -> "go.Figure":
    """Observed utilities (with 95% intervals) and the fitted ``a + b ln N`` curve per good.

    Parameters
    ----------
    rates : ExchangeRates
        From :func:`valuelab.fit_exchange_rates`.
    title : str

    Returns
    -------
    plotly.graph_objects.Figure
    """
    from plotly.colors import qualitative

    go = _go()
    fig = go.Figure()
    palette = qualitative.Plotly
    for i, (good, pts) in enumerate(rates.points.groupby("good", sort=True)):
        c = rates.curves.loc[good]
        colour = palette[i % len(palette)]  # a good's curve and its points share a colour
        grid = np.exp(np.linspace(np.log(pts["quantity"].min()), np.log(pts["quantity"].max()), 50))
        fig.add_trace(go.Scatter(x=grid, y=c["a"] + c["b"] * np.log(grid), mode="lines", name=str(good),
                                 legendgroup=str(good), line={"color": colour}))
        fig.add_trace(go.Scatter(x=pts["quantity"], y=pts["mean"], mode="markers", legendgroup=str(good),
                                 showlegend=False, marker={"color": colour},
                                 error_y={"type": "data", "array": 1.96 * pts["se"].to_numpy()},
                                 text=pts.index.astype(str), hovertemplate="%{text}: N=%{x}, U=%{y:.2f}"))
    fig.update_layout(title=title, xaxis={"type": "log", "title": "quantity (log scale)"},
                      yaxis={"title": "utility"}, template="plotly_white")
    return fig


def plot_expected_utility(result, *, title: str = "Lottery utility against expected utility") -> "go.Figure":
    """Each lottery's fitted utility against the probability-weighted utility of its outcomes.

    Points on the dashed identity line are what an expected-utility maximiser gives.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    go = _go()
    df = result.lotteries
    fig = go.Figure()
    for kind, grp in df.groupby("kind", sort=True):
        fig.add_trace(go.Scatter(x=grp["expected_utility"], y=grp["utility"], mode="markers", name=str(kind),
                                 error_y={"type": "data", "array": 1.96 * grp["se_difference"].to_numpy()},
                                 text=grp.index.astype(str), hovertemplate="%{text}: EU=%{x:.2f}, U=%{y:.2f}"))
    lo = float(min(df["expected_utility"].min(), df["utility"].min()))
    hi = float(max(df["expected_utility"].max(), df["utility"].max()))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"dash": "dash", "color": "grey"},
                             name="U = EU"))
    fig.update_layout(title=title, xaxis_title="expected utility of the outcomes", yaxis_title="utility of the lottery",
                      template="plotly_white")
    return fig


def plot_discounting(fits: pd.DataFrame, utilities: pd.DataFrame, *, reward: str = "reward",
                     delay: str = "delay_years", title: str = "Utility of delayed rewards") -> "go.Figure":
    """Utilities of delayed rewards (with 95% intervals) and the fitted discount curves.

    Parameters
    ----------
    fits : DataFrame
        From :func:`valuelab.fit_discounting`.
    utilities : DataFrame
        The utilities it was fitted to (``mean``, ``se_mean``, ``reward``, ``delay``).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    from .utility.discounting import DISCOUNT_FORMS

    go = _go()
    fig = go.Figure()
    pts = utilities.dropna(subset=[reward, delay])
    for name, grp in pts.groupby(reward, sort=True):
        t = grp[delay].astype(float)
        fig.add_trace(go.Scatter(x=t, y=grp["mean"], mode="markers", name=f"{name}",
                                 error_y={"type": "data", "array": 1.96 * grp["se_mean"].to_numpy()}))
        grid = np.linspace(0, float(t.max()), 200)
        for row in fits[fits["reward"] == name].itertuples():
            fig.add_trace(go.Scatter(x=grid, y=row.c + row.s * DISCOUNT_FORMS[row.form](grid, row.k), mode="lines",
                                     name=f"{name}: {row.form} (k={row.k:.3g}{', preferred' if row.preferred else ''})",
                                     line={"dash": "solid" if row.preferred else "dot"}))
    fig.update_layout(title=title, xaxis_title=delay, yaxis_title="utility", template="plotly_white")
    return fig


def plot_drift(drift: pd.DataFrame, *, title: str = "Utility drift across checkpoints") -> "go.Figure":
    """Correlation with the final fit and step-to-step drift along a series of fits.

    Parameters
    ----------
    drift : DataFrame
        From :func:`valuelab.utility_drift`.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    go = _go()
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=drift["fit"], y=drift["corr_final"], mode="lines+markers", name="correlation with final"))
    fig.add_trace(go.Bar(x=drift["fit"], y=drift["drift"], name="drift since previous", opacity=0.5))
    settled = drift.loc[drift["settled"], "fit"]
    if len(settled):
        fig.add_vline(x=list(drift["fit"]).index(settled.iloc[0]), line_dash="dash", line_color="grey",
                      annotation_text="settled")
    fig.update_layout(title=title, yaxis_title="correlation / RMS change (sd units)", template="plotly_white")
    return fig


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

    from .frameworks.theories import THEORIES, THEORY_NAMES

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
    from .frameworks.theories import THEORIES

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