"""Figures of utility fits and their coherence tests. Every ``plot_*`` function returns a
:class:`plotly.graph_objects.Figure` and never calls ``.show()``; :mod:`valuelab.viz` gathers
them all."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["plot_utilities", "plot_calibration", "plot_recovery", "plot_coverage", "plot_transitivity",
           "plot_exchange_curves", "plot_expected_utility", "plot_discounting", "plot_drift", "plot_indecision",
           "plot_maximisation"]


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
    from .discount_forms import DISCOUNT_FORMS

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


def plot_indecision(result, *, title: str = "Indecision against fitted variance") -> "go.Figure":
    """Each option's share of pairs near indifference against its fitted variance.

    Parameters
    ----------
    result : IndecisionResult
        From :func:`valuelab.indecision`.
    title : str

    Returns
    -------
    plotly.graph_objects.Figure
        One point per option: the model's share (all pairs) and, when comparisons were
        given, the observed share among the asked pairs.
    """
    go = _go()
    options = result.options
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=options["variance"], y=options["model_share"], mode="markers", name="model (all pairs)",
                             text=[str(i) for i in options.index]))
    if "observed_share" in options:
        fig.add_trace(go.Scatter(x=options["variance"], y=options["observed_share"], mode="markers",
                                 name="observed (asked pairs)", text=[str(i) for i in options.index]))
    fig.update_layout(title=title, xaxis_title="fitted variance", template="plotly_white",
                      yaxis_title=f"share of pairs with |p - 1/2| < {result.margin:g}")
    return fig


def plot_maximisation(result, *, title: str = "Rank of the chosen option in its set") -> "go.Figure":
    """How often the chosen option had each utility rank in its set (1 = highest utility).

    Parameters
    ----------
    result : MaximisationResult
        From :func:`valuelab.utility_maximisation`.
    title : str

    Returns
    -------
    plotly.graph_objects.Figure
        Bars: the share of sets whose choice had each rank; the text gives the rate with its
        interval and the chance rate.
    """
    go = _go()
    share = result.sets["chosen_rank"].value_counts(normalize=True).sort_index()
    o = result.overall
    fig = go.Figure(go.Bar(x=share.index.astype(int), y=share.to_numpy(), name="choices"))
    fig.update_layout(title=(f"{title}<br><sup>maximised in {o['rate']:.0%} of {int(o['n_sets'])} sets "
                             f"({o['ci_low']:.0%}-{o['ci_high']:.0%}); chance {o['chance']:.0%}</sup>"),
                      xaxis_title="utility rank of the chosen option", yaxis_title="share of sets",
                      template="plotly_white")
    return fig
