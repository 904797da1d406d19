"""Plotly report of a backtest: one self-contained HTML file plus ``metrics.json`` and ``forecasts.csv``.

The HTML embeds plotly.js, so it opens offline (no CDN). Its figures are also available as Plotly
``Figure`` objects (:func:`build_figures`) for notebooks. Times are shown as local wall-clock time of
the series' zone. The chart of a future forecast (:func:`forecast_chart`, a fan chart when it has
prediction intervals) lives in :mod:`forecaster.backtest.charts` and is re-exported here.

With prediction intervals (``BacktestResult.intervals``) the report adds a fan chart over the origin
slider (the model and the best baseline side by side), coverage by horizon step against the nominal
levels, and a table of coverage, width, Winkler score and pinball loss per method and level.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from forecaster.backtest import baselines as bl
from forecaster.backtest.charts import (  # forecast_chart*: the API's import path
    ACTUAL_COLOR,
    HEIGHT,
    apply_layout,
    band_alpha,
    band_trace,
    bounds_hover,
    forecast_chart,
    forecast_chart_figure,
    interval_label,
    local_times,
    method_colors,
)
from forecaster.backtest.metrics import INTERVAL_METRICS, METRICS, UNITS
from forecaster.backtest.result import BacktestResult
from forecaster.data.series import Series
from forecaster.intervals import level_name
from forecaster.io import atomic_path, write_json, write_text

#: Origins offered by the forecast slider, evenly spaced over the test span.
MAX_CHOICES = 30


def _horizon_times(result: BacktestResult) -> np.ndarray:
    """(n, H) local wall-clock forecast times."""
    return local_times(result.horizon_index).to_numpy().reshape(result.actuals.shape)


def _unit(result: BacktestResult) -> str:
    return f" ({result.unit})" if result.unit else ""


# -- the figures ----------------------------------------------------------------------------------


def _picks(n: int, max_choices: int) -> np.ndarray:
    """Positions of the origins the slider offers: up to ``max_choices``, evenly spaced, in order."""
    return np.unique(np.linspace(0, n - 1, min(max_choices, n)).round().astype(int))


def _context(horizon: int) -> int:
    """Steps of history shown before an origin."""
    return max(4 * horizon, 30)


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
    lo = max(0, int(result.origins[picks[0]]) - context)
    hi = min(len(series), int(result.origins[-1]) + horizon)
    times = local_times(series.index)
    values = series.values
    colors = method_colors(result.methods)
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
    _add_origin_slider(fig, steps)
    apply_layout(
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


def fan_methods(result: BacktestResult) -> list[str]:
    """The methods the fan chart shows: the model (if any), then the baseline with the lowest MAE."""
    mae = result.metrics["mae"].astype(float)
    best = bl.best_baseline({m: mae[m] for m in result.intervals if m != result.model_name})
    model = [result.model_name] if result.model_name in result.intervals else []
    return model + ([best] if best else [])


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
    best = [m for m in methods if m != result.model_name]
    titles = [
        m if m != (best[0] if best else None) else f"{m} (best baseline by MAE)" for m in methods
    ]
    fig = make_subplots(
        rows=1, cols=len(methods), shared_yaxes=True, horizontal_spacing=0.04, subplot_titles=titles
    )
    lo = max(0, int(result.origins[picks[0]]) - context)
    hi = min(len(series), int(result.origins[-1]) + horizon)
    times, values = local_times(series.index), series.values
    for k in range(len(methods)):
        fig.add_trace(
            go.Scatter(
                x=times[lo:hi],
                y=values[lo:hi],
                name="actual",
                legendgroup="actual",
                showlegend=k == 0,
                mode="lines",
                line={"color": ACTUAL_COLOR, "width": 1.5},
            ),
            row=1,
            col=k + 1,
        )
    fc_times, colors = _horizon_times(result), method_colors(result.methods)
    per_origin = len(methods) * (len(levels) + 1)
    axes = tuple("" if k == 0 else str(k + 1) for k in range(len(methods)))
    steps = []
    for j, i in enumerate(picks):
        origin, last = int(result.origins[i]), j == len(picks) - 1
        shown: list[np.ndarray] = []
        for k, method in enumerate(methods):
            bounds = [(lv, *(b[i] for b in result.intervals[method][lv])) for lv in levels]
            for rank, (level, lo_b, hi_b) in enumerate(bounds):
                short = bool(result.interval_short[method][level][i])
                band = band_trace(
                    fc_times[i],
                    lo_b,
                    hi_b,
                    colors[method],
                    band_alpha(rank),
                    f"{method} {interval_label(level, short)}",
                    visible=last,
                    meta=origin,
                )
                fig.add_trace(band, row=1, col=k + 1)
                shown += [lo_b, hi_b]
            fc = result.forecasts[method][i]
            fig.add_trace(
                go.Scatter(
                    x=fc_times[i],
                    y=fc,
                    name=f"{method} forecast",
                    mode="lines+markers",
                    marker={"size": 4},
                    line={"color": colors[method], "width": 2},
                    visible=last,
                    meta=origin,
                    **bounds_hover(bounds, method),
                ),
                row=1,
                col=k + 1,
            )
            shown.append(fc)
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
        f"{result.target}{_unit(result)}",
    )
    fig.update_layout(height=HEIGHT + 80, legend={"y": -0.45}, margin={"t": 90})
    last_args = steps[-1]["args"][1]
    fig.update_layout(last_args)
    return fig


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
    return apply_layout(fig, "MAE by horizon step", "steps ahead", f"MAE{_unit(result)}")


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
        f"residual{_unit(result)}",
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
        per_origin = np.abs(result.actuals - fc).mean(axis=1)
        rolling = pd.Series(per_origin).rolling(window, min_periods=1).mean().to_numpy()
        fig.add_trace(
            go.Scatter(
                x=times, y=rolling, name=method, mode="lines", line={"color": colors[method]}
            )
        )
    return apply_layout(
        fig, f"Rolling MAE over {window} origin(s)", "origin", f"MAE{_unit(result)}"
    )


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


def interval_frame(result: BacktestResult) -> pd.DataFrame:
    """The intervals table: index (method, level); coverage (%), width, winkler, pinball (target
    units), and ``short origins``: how many origins had too few calibration residuals."""
    table = result.interval_metrics.copy()
    table["short origins"] = [int(result.interval_short[m][lv].sum()) for m, lv in table.index]
    return table


def _interval_headers(unit: str) -> list[str]:
    u = f" ({unit})" if unit else ""
    return ["coverage (%)", f"width{u}", f"Winkler{u}", f"pinball{u}", "short origins"]


def _interval_rows(result: BacktestResult) -> pd.DataFrame:
    """The intervals table formatted for people: method, level, then :func:`_interval_headers`."""
    table = interval_frame(result)
    shown = _formatted(table[list(INTERVAL_METRICS)])
    shown["short origins"] = table["short origins"].astype(str)
    shown.columns = _interval_headers(result.unit)
    shown.insert(0, "level", [f"{level_name(lv)}%" for _, lv in table.index])
    shown.insert(0, "method", [m for m, _ in table.index])
    return shown.reset_index(drop=True)


def intervals_figure(result: BacktestResult) -> go.Figure:
    """The intervals table as a Plotly table (rows = method and level)."""
    shown = _interval_rows(result)
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


# -- files ----------------------------------------------------------------------------------------


def _span_text(span: tuple[pd.Timestamp, pd.Timestamp], freq: str) -> str:
    fmt = "%Y-%m-%d" if freq in ("B", "D") else "%Y-%m-%d %H:%M"
    return f"{span[0].strftime(fmt)} .. {span[1].strftime(fmt)}"


def _json_number(value):
    value = float(value)
    return value if math.isfinite(value) else None


def metrics_document(result: BacktestResult, title: str = "") -> dict:
    """What ``metrics.json`` holds: overall and per-step metrics per method, the span, origins, config,
    and ``intervals`` (coverage, width, Winkler, pinball per method and level, coverage per step)."""
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
        "intervals": _intervals_document(result),
    }


def _intervals_document(result: BacktestResult) -> dict | None:
    """The interval part of ``metrics.json`` (None without intervals): per method and level
    (``"80"``) the overall coverage (%), width, Winkler, pinball (units) and short origins, and the
    coverage (%) per horizon step."""
    if not result.has_intervals:
        return None
    table = interval_frame(result)
    metrics: dict = {}
    per_step: dict = {}
    for (method, level), row in table.iterrows():
        name = level_name(level)
        metrics.setdefault(method, {})[name] = {
            m: _json_number(row[m]) for m in INTERVAL_METRICS
        } | {"short_origins": int(row["short origins"])}
        per_step.setdefault(method, {})[name] = [
            _json_number(v) for v in result.step_coverage.loc[(method, level)]
        ]
    return {
        "levels": [float(lv) for lv in result.levels],
        "units": {"coverage": "%"}
        | {m: result.unit or "target units" for m in INTERVAL_METRICS[1:]},
        "calibration_origins": result.config.get("calibration_origins"),
        "calibration_span": result.config.get("calibration_span"),
        "metrics": metrics,
        "per_step_coverage": per_step,
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
    figures = build_figures(result, series, tables=False)
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
        for fig in figures.values()
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
            *_intervals_html(result),
            *divs,
            "</body></html>",
        ]
    )


def _intervals_html(result: BacktestResult) -> list[str]:
    """The intervals table and how the intervals were calibrated (nothing without intervals)."""
    if not result.has_intervals:
        return []
    rows = _interval_rows(result)
    table = rows.to_html(classes="metrics", border=0, escape=True, index=False)
    cfg = result.config
    span = cfg.get("calibration_span")
    calibrated = (
        f"{cfg.get('calibration_origins', 0)} origins before the test span"
        + (f" ({span[0]} .. {span[1]})" if span else "")
        + " and, walking forward, every earlier test origin whose horizon was already observed"
    )
    return [
        "<h2>Prediction intervals</h2>",
        table,
        '<p class="sub">'
        + html.escape(
            "Coverage: % of actuals inside the interval, to compare with the level. Width: mean "
            "hi − lo. Winkler: width plus 2/α times each miss's distance; pinball: the mean "
            "quantile loss of the two bounds (lower is better for both, at similar coverage). "
            f"Split-conformal intervals calibrated on {calibrated}; residuals scaled by the "
            f"{cfg.get('interval_scale', 'window spread')}. Short origins had too few residuals "
            "for an exact interval at that level."
        )
        + "</p>",
    ]


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


__all__ = [
    "build_figures",
    "forecast_chart",
    "forecast_chart_figure",
    "metrics_document",
    "report_html",
    "write_report",
]
