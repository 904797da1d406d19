"""Plotly report of a backtest: one self-contained HTML file plus ``metrics.json`` and ``forecasts.csv``.

The HTML embeds plotly.js, so it opens offline (no CDN). Its figures are also available as Plotly
``Figure`` objects (:func:`build_figures`) for notebooks. Times are shown as local wall-clock time of
the series' zone. :func:`forecast_chart` draws a future forecast after the recent history.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from forecaster.backtest.engine import BacktestResult
from forecaster.backtest.metrics import METRICS, UNITS
from forecaster.data.series import Series
from forecaster.io import atomic_path, write_json, write_text

ACTUAL_COLOR = "#222222"
PALETTE = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
HEIGHT = 460
#: Origins offered by the forecast slider, evenly spaced over the test span.
MAX_CHOICES = 30


def _colors(methods: list[str]) -> dict[str, str]:
    return {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(methods)}


def _local(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Wall-clock time in the index's own zone, without the zone (what Plotly displays)."""
    return index.tz_localize(None) if index.tz is not None else index


def _horizon_times(result: BacktestResult) -> np.ndarray:
    """(n, H) local wall-clock forecast times."""
    return _local(result.horizon_index).to_numpy().reshape(result.actuals.shape)


def _unit(result: BacktestResult) -> str:
    return f" ({result.unit})" if result.unit else ""


def _layout(fig: go.Figure, title: str, xaxis: str, yaxis: str) -> go.Figure:
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=HEIGHT,
        xaxis_title=xaxis,
        yaxis_title=yaxis,
        legend={"orientation": "h", "y": -0.18},
        margin={"l": 60, "r": 20, "t": 60, "b": 60},
    )
    return fig


# -- the figures ----------------------------------------------------------------------------------


def forecast_figure(
    result: BacktestResult, series: Series, max_choices: int = MAX_CHOICES
) -> go.Figure:
    """History and every method's forecast from one origin at a time; a slider picks the origin.

    Trace 0 is the actual series; then, for each offered origin in time order, one trace per method
    (``meta`` = the origin's row position). Up to ``max_choices`` evenly spaced origins are offered.
    """
    n, horizon = result.actuals.shape
    picks = np.unique(np.linspace(0, n - 1, min(max_choices, n)).round().astype(int))
    context = max(4 * horizon, 30)
    lo = max(0, int(result.origins[picks[0]]) - context)
    hi = min(len(series), int(result.origins[-1]) + horizon)
    times = _local(series.index)
    values = series.values
    colors = _colors(result.methods)
    fig = go.Figure(
        go.Scatter(
            x=times[lo:hi],
            y=values[lo:hi],
            name="actual",
            mode="lines",
            line={"color": ACTUAL_COLOR, "width": 1.5},
        )
    )
    fc_times = _horizon_times(result)
    steps = []
    for j, i in enumerate(picks):
        origin = int(result.origins[i])
        for method, fc in result.forecasts.items():
            fig.add_trace(
                go.Scatter(
                    x=fc_times[i],
                    y=fc[i],
                    name=method,
                    legendgroup=method,
                    mode="lines+markers",
                    marker={"size": 4},
                    line={
                        "color": colors[method],
                        "width": 2.5 if method == result.model_name else 1.5,
                    },
                    visible=j == len(picks) - 1,
                    meta=origin,
                )
            )
        visible = [True] + [k == j for k in range(len(picks)) for _ in result.forecasts]
        steps.append(_slider_step(result, series, i, visible, context, fc_times[i][-1]))
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
    _layout(
        fig,
        f"Forecasts against actuals, {len(picks)} of {n} origins",
        "time",
        f"{result.target}{_unit(result)}",
    )
    fig.update_layout(height=HEIGHT + 80, legend={"y": -0.45})
    last_args = steps[-1]["args"][1]
    fig.update_layout(
        xaxis_range=last_args["xaxis.range"],
        yaxis_range=last_args["yaxis.range"],
        shapes=last_args["shapes"],
    )
    return fig


def _slider_step(
    result: BacktestResult, series: Series, i: int, visible: list[bool], context: int, end
) -> dict:
    """One slider position: show origin ``i``'s traces, zoom to its context up to ``end``, mark the origin."""
    origin, horizon = int(result.origins[i]), result.horizon
    times, values = _local(series.index), series.values
    start = max(0, origin - context)
    shown = np.concatenate(
        [values[start : origin + horizon], *(fc[i] for fc in result.forecasts.values())]
    )
    pad = 0.05 * (shown.max() - shown.min()) or 1.0
    issued = str(times[origin - 1])  # the last observation the forecast could see
    marker = {"type": "line", "x0": issued, "x1": issued, "yref": "paper", "y0": 0, "y1": 1}
    marker["line"] = {"dash": "dot", "color": "#888", "width": 1}
    label = times[origin].date() if series.freq in ("B", "D") else times[origin]
    return {
        "method": "update",
        "label": str(label),
        "args": [
            {"visible": visible},
            {
                "xaxis.range": [str(times[start]), str(pd.Timestamp(end))],
                "yaxis.range": [float(shown.min() - pad), float(shown.max() + pad)],
                "shapes": [marker],
            },
        ],
    }


def error_by_step_figure(result: BacktestResult) -> go.Figure:
    """MAE at each horizon step (1..H), one line per method."""
    colors = _colors(result.methods)
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
    return _layout(fig, "MAE by horizon step", "steps ahead", f"MAE{_unit(result)}")


def residual_figure(result: BacktestResult, bins: int = 50) -> go.Figure:
    """Histogram of residuals (actual - forecast) per method, as % of forecasts, on shared bins.

    Bins span the 0.5th..99.5th percentiles of all residuals; the tails are counted in the end bins.
    """
    residuals = {m: (result.actuals - fc).ravel() for m, fc in result.forecasts.items()}
    pooled = np.concatenate(list(residuals.values()))
    lo, hi = np.percentile(pooled, [0.5, 99.5])
    if hi <= lo:
        lo, hi = lo - 1.0, hi + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    centers = 0.5 * (edges[:-1] + edges[1:])
    colors = _colors(result.methods)
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
    return _layout(
        fig,
        "Residual distribution (actual − forecast)",
        f"residual{_unit(result)}",
        "% of forecasts",
    )


def rolling_window(n_origins: int) -> int:
    """Origins per rolling-MAE window: about a twentieth of the origins, at least 1."""
    return max(1, n_origins // 20)


def rolling_error_figure(result: BacktestResult) -> go.Figure:
    """Rolling mean over origins of each origin's MAE (over its H steps), against the origin's time."""
    window = rolling_window(result.n_origins)
    times = _local(result.origin_times)
    colors = _colors(result.methods)
    fig = go.Figure()
    for method, fc in result.forecasts.items():
        per_origin = np.abs(result.actuals - fc).mean(axis=1)
        rolling = pd.Series(per_origin).rolling(window, min_periods=1).mean().to_numpy()
        fig.add_trace(
            go.Scatter(
                x=times, y=rolling, name=method, mode="lines", line={"color": colors[method]}
            )
        )
    return _layout(fig, f"Rolling MAE over {window} origin(s)", "origin", f"MAE{_unit(result)}")


def _formatted(table: pd.DataFrame) -> pd.DataFrame:
    return table.map(lambda v: "–" if v is None or not np.isfinite(v) else f"{v:,.3f}")


def _headers(unit: str) -> list[str]:
    """Column titles with units: target units become the series' own (``mae (°C)``)."""
    units = {m: (unit if u == "target units" else u) for m, u in UNITS.items()}
    return [f"{m} ({units[m]})" if units[m] and units[m] != "ratio" else m for m in METRICS]


def metrics_figure(result: BacktestResult) -> go.Figure:
    """The overall metrics as a Plotly table (rows = methods)."""
    shown = _formatted(result.metrics)
    fig = go.Figure(
        go.Table(
            header={"values": ["method", *_headers(result.unit)], "align": "left"},
            cells={
                "values": [list(shown.index), *(shown[c].tolist() for c in shown.columns)],
                "align": "left",
            },
        )
    )
    fig.update_layout(title="Metrics over all origins and steps", height=80 + 30 * (len(shown) + 2))
    return fig


def build_figures(result: BacktestResult, series: Series) -> dict[str, go.Figure]:
    """Every figure of the report: forecasts, error_by_step, residuals, rolling_error, metrics."""
    return {
        "forecasts": forecast_figure(result, series),
        "error_by_step": error_by_step_figure(result),
        "residuals": residual_figure(result),
        "rolling_error": rolling_error_figure(result),
        "metrics": metrics_figure(result),
    }


# -- files ----------------------------------------------------------------------------------------


def _span_text(span: tuple[pd.Timestamp, pd.Timestamp], freq: str) -> str:
    fmt = "%Y-%m-%d" if freq in ("B", "D") else "%Y-%m-%d %H:%M"
    return f"{span[0].strftime(fmt)} .. {span[1].strftime(fmt)}"


def _json_number(value):
    value = float(value)
    return value if math.isfinite(value) else None


def metrics_document(result: BacktestResult, title: str = "") -> dict:
    """What ``metrics.json`` holds: overall and per-step metrics per method, the span, origins, config."""
    per_step = {
        method: {m: [_json_number(v) for v in result.step_metrics.loc[method, m]] for m in METRICS}
        for method in result.methods
    }
    return {
        "title": title,
        "series": {
            "symbol": result.symbol,
            "target": result.target,
            "freq": result.freq,
            "unit": result.unit,
        },
        "train_span": {"start": str(result.train_span[0]), "end": str(result.train_span[1])},
        "test_span": {"start": str(result.test_span[0]), "end": str(result.test_span[1])},
        "origins": result.n_origins,
        "first_origin": str(result.origin_times[0]),
        "last_origin": str(result.origin_times[-1]),
        "horizon": result.horizon,
        "model": result.model_name,
        "methods": result.methods,
        "train_naive_mae": _json_number(result.train_naive_mae),
        "units": {m: (result.unit or u) if u == "target units" else u for m, u in UNITS.items()},
        "config": result.config,
        "metrics": {
            method: {m: _json_number(result.metrics.loc[method, m]) for m in METRICS}
            for method in result.methods
        },
        "per_step": per_step,
    }


_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 24px auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } p.sub { color: #555; margin-top: 0; }
table.metrics { border-collapse: collapse; margin: 12px 0 24px; font-size: 0.92em; }
table.metrics th, table.metrics td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }
table.metrics th:first-child, table.metrics td:first-child { text-align: left; }
.figure { margin: 12px 0 28px; }
"""


def report_html(result: BacktestResult, series: Series, title: str) -> str:
    """The whole report page as one HTML string, plotly.js inlined."""
    figures = build_figures(result, series)
    subtitle = (
        f"{result.symbol} · {result.target}{_unit(result)} · test span {_span_text(result.test_span, result.freq)}"
        f" · {result.n_origins} origins every {result.config.get('stride', 1)} step(s) · horizon {result.horizon}"
        f" · {result.config.get('mode', 'fixed')} mode · training span {_span_text(result.train_span, result.freq)}"
    )
    table = _formatted(result.metrics)
    table.columns = _headers(result.unit)
    table_html = table.reset_index().to_html(classes="metrics", border=0, escape=True, index=False)
    divs = [
        f'<div class="figure">{fig.to_html(include_plotlyjs=False, full_html=False, default_height=f"{fig.layout.height}px")}</div>'
        for name, fig in figures.items()
        if name != "metrics"
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{_CSS}</style>",
            f'<script type="text/javascript">{get_plotlyjs()}</script>',
            "</head><body>",
            f"<h1>{html.escape(title)}</h1>",
            f'<p class="sub">{html.escape(subtitle)}</p>',
            "<h2>Metrics over all origins and steps</h2>",
            table_html,
            f'<p class="sub">MASE is scaled by the training span\'s one-step naive MAE '
            f"({result.train_naive_mae:.4g} {html.escape(result.unit)}); skill = 1 − MAE / MAE(naive).</p>",
            *divs,
            "</body></html>",
        ]
    )


def write_report(
    result: BacktestResult, series: Series, out_dir: Path, title: str
) -> dict[str, Path]:
    """Write ``report.html``, ``metrics.json`` and ``forecasts.csv`` into ``out_dir``, each atomically.

    Returns their paths under the keys ``html``, ``metrics``, ``forecasts``.
    """
    out_dir = Path(out_dir)
    paths = {
        "html": out_dir / "report.html",
        "metrics": out_dir / "metrics.json",
        "forecasts": out_dir / "forecasts.csv",
    }
    write_text(paths["html"], report_html(result, series, title))
    write_json(paths["metrics"], metrics_document(result, title))
    with atomic_path(paths["forecasts"]) as tmp:
        result.to_frame().to_csv(tmp, index=False)
    return paths


# -- future forecast chart ------------------------------------------------------------------------


def _forecast_times(forecast: pd.DataFrame, tz) -> pd.DatetimeIndex:
    if isinstance(forecast.index, pd.DatetimeIndex):
        index = forecast.index
    else:
        column = next((c for c in ("timestamp", "time", "date") if c in forecast.columns), None)
        if column is None:
            raise ValueError("forecast needs a DatetimeIndex or a 'timestamp'/'time' column")
        index = pd.DatetimeIndex(pd.to_datetime(forecast[column]))
    if index.tz is not None and tz is not None:
        index = index.tz_convert(tz)
    return _local(index)


def forecast_chart_figure(
    history: Series, forecast: pd.DataFrame, title: str | None = None, context: int | None = None
) -> go.Figure:
    """The last ``context`` observations (default max(5 x forecast length, 100)) and each forecast column.

    ``forecast``: future rows indexed by time (or with a ``timestamp``/``time`` column); every other
    numeric column is drawn as a line, in target units.
    """
    context = context or max(5 * len(forecast), 100)
    recent = history.frame[history.target].iloc[-context:]
    times = _forecast_times(forecast, history.index.tz)
    columns = [
        c
        for c in forecast.columns
        if c not in ("timestamp", "time", "date") and pd.api.types.is_numeric_dtype(forecast[c])
    ]
    fig = go.Figure(
        go.Scatter(
            x=_local(recent.index),
            y=recent.to_numpy(),
            name="history",
            mode="lines",
            line={"color": ACTUAL_COLOR},
        )
    )
    for column, color in zip(columns, PALETTE, strict=False):
        fig.add_trace(
            go.Scatter(
                x=times,
                y=forecast[column].to_numpy(dtype=np.float64),
                name=str(column),
                mode="lines+markers",
                line={"color": color},
            )
        )
    unit = history.units.get(history.target, "")
    default = f"{history.symbol} {history.target}: forecast of the next {len(forecast)} steps"
    return _layout(fig, title or default, "time", f"{history.target}{f' ({unit})' if unit else ''}")


def forecast_chart(
    history: Series,
    forecast: pd.DataFrame,
    path: Path,
    title: str | None = None,
    context: int | None = None,
) -> Path:
    """Write :func:`forecast_chart_figure` as one self-contained HTML file (plotly.js inlined), atomically."""
    fig = forecast_chart_figure(history, forecast, title=title, context=context)
    return write_text(path, fig.to_html(include_plotlyjs=True, full_html=True))
