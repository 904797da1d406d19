"""The backtest report: one self-contained HTML page plus ``metrics.json`` and ``forecasts.csv``.

The HTML embeds plotly.js, so it opens offline (no CDN); its figures come from
:func:`~forecaster.backtest.figures.build_figures` (also for notebooks). Times are shown as local
wall-clock time of the series' zone. The chart of a future forecast (:func:`forecast_chart`, a fan
chart when it has prediction intervals) lives in :mod:`forecaster.backtest.charts` and is
re-exported here.

With prediction intervals (``BacktestResult.intervals``) the report adds a fan chart over the origin
slider (the model and the best baseline side by side), coverage by horizon step against the nominal
levels, and a table of coverage, width, Winkler score and pinball loss per method and level.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd
from plotly.offline import get_plotlyjs

from forecaster.backtest.charts import (  # forecast_chart*: the API's import path
    forecast_chart,
    forecast_chart_figure,
)
from forecaster.backtest.figures import build_figures
from forecaster.backtest.metrics import INTERVAL_METRICS, METRICS, UNITS
from forecaster.backtest.result import BacktestResult
from forecaster.backtest.tables import (
    formatted,
    interval_frame,
    interval_rows,
    metric_headers,
    unit_suffix,
)
from forecaster.data.series import Series
from forecaster.intervals import level_name
from forecaster.io import atomic_path, write_json, write_text


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
        f"{result.symbol} · {result.target}{unit_suffix(result)} · test span {_span_text(result.test_span, result.freq)}"
        f" · {result.n_origins} origins every {result.config.get('stride', 1)} step(s) · horizon {result.horizon}"
        f" · {result.config.get('mode', 'fixed')} mode · training span {_span_text(result.train_span, result.freq)}"
    )
    table = formatted(result.metrics)
    table.columns = metric_headers(result.unit)
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
    rows = interval_rows(result)
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
