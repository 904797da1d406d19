"""The report's figures without a slider, and :func:`build_figures`, every figure of the report.

Coverage and MAE by horizon step, the residual distribution, the rolling MAE over origins, and the
metric and interval tables as Plotly tables; the slider figures are in
:mod:`~forecaster.backtest.origin_figures`. Times are local wall-clock time of the series' zone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from forecaster.backtest.charts import apply_layout, local_times, method_colors
from forecaster.backtest.metrics import mae
from forecaster.backtest.origin_figures import fan_figure, fan_methods, forecast_figure
from forecaster.backtest.result import BacktestResult
from forecaster.backtest.tables import formatted, interval_rows, metric_headers, unit_suffix
from forecaster.data.series import Series
from forecaster.intervals import level_name


def coverage_figure(result: BacktestResult) -> go.Figure:
    """Coverage (%) of each method's intervals at each horizon step: one line per method and level
    (colour = method, dash = level), dotted grey lines at the nominal levels. Methods other than
    those of the fan chart start hidden; a click on the legend shows them."""
    table = result.step_coverage
    steps = np.asarray(table.columns, dtype=int)
    colors, shown = method_colors(result.methods), set(fan_methods(result))
    dashes = ("solid", "dash", "dashdot", "longdash", "longdashdot")
    fig = go.Figure()
    for method in result.methods:
        for r, level in enumerate(result.levels):
            fig.add_trace(
                go.Scatter(
                    x=steps,
                    y=table.loc[(method, level)].to_numpy(dtype=float),
                    name=f"{method} {level_name(level)}%",
                    legendgroup=method,
                    mode="lines+markers",
                    marker={"size": 5},
                    line={"color": colors[method], "dash": dashes[r % len(dashes)]},
                    visible=True if method in shown else "legendonly",
                )
            )
    for level in result.levels:
        fig.add_trace(
            go.Scatter(
                x=[steps[0], steps[-1]],
                y=[level, level],
                name=f"nominal {level_name(level)}%",
                mode="lines",
                line={"color": "#888", "dash": "dot", "width": 1.5},
                hoverinfo="name",
            )
        )
    apply_layout(fig, "Interval coverage by horizon step", "steps ahead", "coverage (%)")
    # whole steps only: a horizon of 5 would otherwise get ticks at 1.5, 2.5, ...
    return fig.update_xaxes(tickmode="linear", tick0=1, dtick=max(1, len(steps) // 12))


def error_by_step_figure(result: BacktestResult) -> go.Figure:
    """MAE at each horizon step (1..H), one line per method."""
    colors = method_colors(result.methods)
    fig = go.Figure()
    for method in result.methods:
        per_step = result.step_metrics.loc[method, "mae"]
        fig.add_trace(
            go.Scatter(
                x=per_step.index.to_numpy(),
                y=per_step.to_numpy(),
                name=method,
                mode="lines+markers",
                line={"color": colors[method]},
            )
        )
    return apply_layout(fig, "MAE by horizon step", "steps ahead", f"MAE{unit_suffix(result)}")


def residual_figure(result: BacktestResult, bins: int = 50) -> go.Figure:
    """Histogram of residuals (actual - forecast) per method, as % of forecasts, on shared bins.

    Bins span the 0.5th..99.5th percentiles of all residuals; the tails are counted in the end bins.
    """
    scored = ~np.isnan(result.actuals).ravel()  # filled-in actuals are not residuals
    residuals = {m: (result.actuals - fc).ravel()[scored] for m, fc in result.forecasts.items()}
    pooled = np.concatenate(list(residuals.values()))
    lo, hi = np.percentile(pooled, [0.5, 99.5])
    if hi <= lo:
        lo, hi = lo - 1.0, hi + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    centers = 0.5 * (edges[:-1] + edges[1:])
    colors = method_colors(result.methods)
    fig = go.Figure()
    for method, res in residuals.items():
        counts, _ = np.histogram(np.clip(res, lo, hi), bins=edges)
        fig.add_trace(
            go.Scatter(
                x=centers,
                y=100.0 * counts / max(len(res), 1),
                name=method,
                mode="lines",
                line={"color": colors[method], "shape": "hvh"},
            )
        )
    return apply_layout(
        fig,
        "Residual distribution (actual − forecast)",
        f"residual{unit_suffix(result)}",
        "% of forecasts",
    )


def rolling_window(n_origins: int) -> int:
    """Origins per rolling-MAE window: about a twentieth of the origins, at least 1."""
    return max(1, n_origins // 20)


def rolling_error_figure(result: BacktestResult) -> go.Figure:
    """Rolling mean over origins of each origin's MAE (over its H steps), against the origin's time."""
    window = rolling_window(result.n_origins)
    times = local_times(result.origin_times)
    colors = method_colors(result.methods)
    fig = go.Figure()
    for method, fc in result.forecasts.items():
        per_origin = mae(result.actuals, fc, axis=1)  # observed actuals only
        rolling = pd.Series(per_origin).rolling(window, min_periods=1).mean().to_numpy()
        fig.add_trace(
            go.Scatter(
                x=times, y=rolling, name=method, mode="lines", line={"color": colors[method]}
            )
        )
    return apply_layout(
        fig, f"Rolling MAE over {window} origin(s)", "origin", f"MAE{unit_suffix(result)}"
    )


def metrics_figure(result: BacktestResult) -> go.Figure:
    """The overall metrics as a Plotly table (rows = methods)."""
    shown = formatted(result.metrics)
    fig = go.Figure(
        go.Table(
            header={"values": ["method", *metric_headers(result.unit)], "align": "left"},
            cells={
                "values": [list(shown.index), *(shown[c].tolist() for c in shown.columns)],
                "align": "left",
            },
        )
    )
    fig.update_layout(title="Metrics over all origins and steps", height=80 + 30 * (len(shown) + 2))
    return fig


def intervals_figure(result: BacktestResult) -> go.Figure:
    """The intervals table as a Plotly table (rows = method and level)."""
    shown = interval_rows(result)
    fig = go.Figure(
        go.Table(
            header={"values": list(shown.columns), "align": "left"},
            cells={"values": [shown[c].tolist() for c in shown.columns], "align": "left"},
        )
    )
    fig.update_layout(
        title="Prediction intervals over all origins and steps", height=80 + 30 * (len(shown) + 2)
    )
    return fig


def build_figures(
    result: BacktestResult, series: Series, tables: bool = True
) -> dict[str, go.Figure]:
    """Every figure of the report: forecasts, error_by_step, residuals, rolling_error, metrics; with
    prediction intervals also fan (:func:`fan_figure`), coverage (by step) and intervals (table).
    ``tables=False`` leaves out the two tables (metrics, intervals), which the HTML page writes as
    HTML tables instead."""
    figures = {"forecasts": forecast_figure(result, series)}
    if result.has_intervals:
        figures |= {"fan": fan_figure(result, series), "coverage": coverage_figure(result)}
    figures |= {
        "error_by_step": error_by_step_figure(result),
        "residuals": residual_figure(result),
        "rolling_error": rolling_error_figure(result),
    }
    if tables:
        figures["metrics"] = metrics_figure(result)
        if result.has_intervals:
            figures["intervals"] = intervals_figure(result)
    return figures
