"""The report's figures with an origin slider: every method's forecast, and the fan chart of intervals.

A slider offers up to ``max_choices`` evenly spaced origins of the test span; each position shows
that origin's traces, zooms to the history before it and marks the last observation the forecast
could see. Times are local wall-clock time of the series' zone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from forecaster.backtest import baselines as bl
from forecaster.backtest.charts import (
    ACTUAL_COLOR,
    HEIGHT,
    apply_layout,
    band_alpha,
    band_trace,
    bounds_hover,
    interval_label,
    local_times,
    method_colors,
)
from forecaster.backtest.result import BacktestResult
from forecaster.backtest.tables import unit_suffix
from forecaster.data.series import Series
from forecaster.intervals import level_name

#: Origins offered by the forecast slider, evenly spaced over the test span.
MAX_CHOICES = 30


def _horizon_times(result: BacktestResult) -> np.ndarray:
    """(n, H) local wall-clock forecast times."""
    return local_times(result.horizon_index).to_numpy().reshape(result.actuals.shape)


def _picks(n: int, max_choices: int) -> np.ndarray:
    """Positions of the origins the slider offers: up to ``max_choices``, evenly spaced, in order."""
    return np.unique(np.linspace(0, n - 1, min(max_choices, n)).round().astype(int))


def _context(horizon: int) -> int:
    """Steps of history shown before an origin."""
    return max(4 * horizon, 30)


def _history_rows(result: BacktestResult, series: Series, picks: np.ndarray, context: int) -> slice:
    """The rows of the actual series drawn: from ``context`` before the first offered origin to
    the end of the last origin's horizon."""
    lo = max(0, int(result.origins[picks[0]]) - context)
    hi = min(len(series), int(result.origins[-1]) + result.horizon)
    return slice(lo, hi)


def _add_origin_slider(fig: go.Figure, steps: list[dict]) -> None:
    """One slider over the origins, starting at the newest."""
    fig.update_layout(
        sliders=[
            {
                "active": len(steps) - 1,
                "steps": steps,
                "currentvalue": {"prefix": "origin: "},
                "pad": {"t": 50},
            }
        ]
    )


def _slider_step(
    result: BacktestResult,
    series: Series,
    i: int,
    visible: list[bool],
    context: int,
    end,
    shown: list[np.ndarray] | None = None,
    axes: tuple[str, ...] = ("",),
) -> dict:
    """One slider position: show origin ``i``'s traces, zoom to its context up to ``end``, mark the origin.

    ``shown``: the values the y range must hold besides the history (default: every method's
    forecast from this origin); ``axes``: the x axes to zoom and mark (``""``, ``"2"``, ...).
    """
    origin, horizon = int(result.origins[i]), result.horizon
    times, values = local_times(series.index), series.values
    start = max(0, origin - context)
    if shown is None:
        shown = [fc[i] for fc in result.forecasts.values()]
    shown_all = np.concatenate([values[start : origin + horizon], *shown])
    shown_all = shown_all[np.isfinite(shown_all)]
    pad = 0.05 * (shown_all.max() - shown_all.min()) or 1.0
    issued = str(times[origin - 1])  # the last observation the forecast could see
    markers = []
    for axis in axes:
        marker = {"type": "line", "x0": issued, "x1": issued, "yref": "paper", "y0": 0, "y1": 1}
        marker["xref"] = f"x{axis}"
        marker["line"] = {"dash": "dot", "color": "#888", "width": 1}
        markers.append(marker)
    label = times[origin].date() if series.freq in ("B", "D") else times[origin]
    zoom: dict = {f"xaxis{a}.range": [str(times[start]), str(pd.Timestamp(end))] for a in axes}
    zoom["yaxis.range"] = [float(shown_all.min() - pad), float(shown_all.max() + pad)]
    return {
        "method": "update",
        "label": str(label),
        "args": [{"visible": visible}, zoom | {"shapes": markers}],
    }


# -- every method's forecast ----------------------------------------------------------------------


def forecast_figure(
    result: BacktestResult, series: Series, max_choices: int = MAX_CHOICES
) -> go.Figure:
    """History and every method's forecast from one origin at a time; a slider picks the origin.

    Trace 0 is the actual series; then, for each offered origin in time order, one trace per method
    (``meta`` = the origin's row position). Up to ``max_choices`` evenly spaced origins are offered.
    """
    n, horizon = result.actuals.shape
    picks = _picks(n, max_choices)
    context = _context(horizon)
    rows = _history_rows(result, series, picks, context)
    fig = go.Figure(
        go.Scatter(
            x=local_times(series.index)[rows],
            y=series.values[rows],
            name="actual",
            mode="lines",
            line={"color": ACTUAL_COLOR, "width": 1.5},
        )
    )
    fc_times, colors = _horizon_times(result), method_colors(result.methods)
    steps = []
    for j, i in enumerate(picks):
        last = j == len(picks) - 1
        for method in result.forecasts:
            fig.add_trace(_forecast_trace(result, i, method, fc_times[i], colors[method], last))
        visible = [True] + [k == j for k in range(len(picks)) for _ in result.forecasts]
        steps.append(_slider_step(result, series, i, visible, context, fc_times[i][-1]))
    _add_origin_slider(fig, steps)
    apply_layout(
        fig,
        f"Forecasts against actuals, {len(picks)} of {n} origins",
        "time",
        f"{result.target}{unit_suffix(result)}",
    )
    fig.update_layout(height=HEIGHT + 80, legend={"y": -0.45})
    last_args = steps[-1]["args"][1]
    fig.update_layout(
        xaxis_range=last_args["xaxis.range"],
        yaxis_range=last_args["yaxis.range"],
        shapes=last_args["shapes"],
    )
    return fig


def _forecast_trace(
    result: BacktestResult, i: int, method: str, times: np.ndarray, color: str, visible: bool
) -> go.Scatter:
    """``method``'s forecast (H,) from origin ``i`` at ``times``; the model's line is thicker."""
    return go.Scatter(
        x=times,
        y=result.forecasts[method][i],
        name=method,
        legendgroup=method,
        mode="lines+markers",
        marker={"size": 4},
        line={"color": color, "width": 2.5 if method == result.model_name else 1.5},
        visible=visible,
        meta=int(result.origins[i]),
    )


# -- the fan chart --------------------------------------------------------------------------------


def fan_methods(result: BacktestResult) -> list[str]:
    """The methods the fan chart shows: the model (if any), then the baseline with the lowest MAE."""
    mae = result.metrics["mae"].astype(float)
    best = bl.best_baseline({m: mae[m] for m in result.intervals if m != result.model_name})
    model = [result.model_name] if result.model_name in result.intervals else []
    return model + ([best] if best else [])


def _fan_titles(result: BacktestResult, methods: list[str]) -> list[str]:
    """Panel titles: the method's name, and for the baseline ``(best baseline by MAE)``."""
    best = [m for m in methods if m != result.model_name]
    return [
        m if m != (best[0] if best else None) else f"{m} (best baseline by MAE)" for m in methods
    ]


def fan_figure(result: BacktestResult, series: Series, max_choices: int = MAX_CHOICES) -> go.Figure:
    """Prediction intervals from one origin at a time, for the model and the best baseline side by side.

    Each panel (:func:`fan_methods`) shows the actual series and, for the origin the slider picks
    (the same origins as :func:`forecast_figure`), the method's point forecast and one band per
    level, the widest lightest; a band rests on too few residuals is marked ``short`` in the
    legend. Traces: one ``actual`` per panel; then, for each offered origin in time order and each
    panel, the bands (widest first) and the forecast, all with ``meta`` = the origin's row position.
    """
    methods = fan_methods(result)
    levels = sorted(result.levels, reverse=True)
    n, horizon = result.actuals.shape
    picks, context = _picks(n, max_choices), _context(horizon)
    fig = make_subplots(
        rows=1,
        cols=len(methods),
        shared_yaxes=True,
        horizontal_spacing=0.04,
        subplot_titles=_fan_titles(result, methods),
    )
    _add_actual_panels(fig, series, _history_rows(result, series, picks, context), len(methods))
    fc_times, colors = _horizon_times(result), method_colors(result.methods)
    per_origin = len(methods) * (len(levels) + 1)
    axes = tuple("" if k == 0 else str(k + 1) for k in range(len(methods)))
    steps = []
    for j, i in enumerate(picks):
        shown: list[np.ndarray] = []
        for k, method in enumerate(methods):
            panel = (k + 1, colors[method], j == len(picks) - 1)
            shown += _add_fan_panel(fig, result, i, method, levels, fc_times[i], panel)
        visible = [True] * len(methods) + [
            q == j for q in range(len(picks)) for _ in range(per_origin)
        ]
        steps.append(
            _slider_step(result, series, i, visible, context, fc_times[i][-1], shown, axes)
        )
    _add_origin_slider(fig, steps)
    apply_layout(
        fig,
        f"Prediction intervals ({', '.join(level_name(lv) + '%' for lv in sorted(levels))}), "
        f"{len(picks)} of {n} origins",
        "",
        f"{result.target}{unit_suffix(result)}",
    )
    fig.update_layout(height=HEIGHT + 80, legend={"y": -0.45}, margin={"t": 90})
    fig.update_layout(steps[-1]["args"][1])
    return fig


def _add_actual_panels(fig: go.Figure, series: Series, rows: slice, panels: int) -> None:
    """The actual series in each of ``panels`` panels, one legend entry for all."""
    times, values = local_times(series.index), series.values
    for k in range(panels):
        fig.add_trace(
            go.Scatter(
                x=times[rows],
                y=values[rows],
                name="actual",
                legendgroup="actual",
                showlegend=k == 0,
                mode="lines",
                line={"color": ACTUAL_COLOR, "width": 1.5},
            ),
            row=1,
            col=k + 1,
        )


def _add_fan_panel(
    fig: go.Figure,
    result: BacktestResult,
    i: int,
    method: str,
    levels: list[float],
    times: np.ndarray,
    panel: tuple[int, str, bool],
) -> list[np.ndarray]:
    """``method``'s bands (``levels``, widest first) and forecast from origin ``i`` in one panel
    (``panel``: its column, the method's colour, whether visible); returns the values drawn
    (each band's lo and hi (H,), then the forecast (H,)) for the y range."""
    col, color, visible = panel
    origin = int(result.origins[i])
    bounds = [(lv, *(b[i] for b in result.intervals[method][lv])) for lv in levels]
    shown: list[np.ndarray] = []
    for rank, (level, lo_b, hi_b) in enumerate(bounds):
        short = bool(result.interval_short[method][level][i])
        name = f"{method} {interval_label(level, short)}"
        band = band_trace(
            times, lo_b, hi_b, color, band_alpha(rank), name, visible=visible, meta=origin
        )
        fig.add_trace(band, row=1, col=col)
        shown += [lo_b, hi_b]
    fc = result.forecasts[method][i]
    fig.add_trace(
        go.Scatter(
            x=times,
            y=fc,
            name=f"{method} forecast",
            mode="lines+markers",
            marker={"size": 4},
            line={"color": color, "width": 2},
            visible=visible,
            meta=origin,
            **bounds_hover(bounds, method),
        ),
        row=1,
        col=col,
    )
    return [*shown, fc]
