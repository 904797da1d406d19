"""Plotly building blocks shared by the backtest report, ``forecast predict --plot`` and the nightly
overview page: colours and layout, prediction-interval bands, and the chart of a future forecast
after the recent history (a fan chart when it has intervals).

Times are shown as local wall-clock time of the series' zone. Pages that embed these figures inline
plotly.js themselves, so they open offline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from forecaster.data.series import Series
from forecaster.intervals import level_name
from forecaster.io import write_text

ACTUAL_COLOR = "#222222"
PALETTE = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
HEIGHT = 460
BAND_COLOR = "#1f77b4"
_TIME_COLUMNS = ("timestamp", "time", "date")


def method_colors(methods: list[str]) -> dict[str, str]:
    """A colour per method, in order (the model first: red)."""
    return {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(methods)}


def _rgba(color: str, alpha: float) -> str:
    """``#rrggbb`` -> ``rgba(r,g,b,alpha)`` (a band's fill)."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha:.2f})"


def band_alpha(rank: int) -> float:
    """Fill opacity of the ``rank``-th band from the widest (0): the widest is the lightest, and
    each narrower band drawn over it darkens the middle."""
    return min(0.14 * (rank + 1), 0.5)


def interval_label(level: float, short: bool = False) -> str:
    """The legend name of a band: ``80% interval``, marked when it rests on too few residuals."""
    return f"{level_name(level)}% interval" + (" (short: too few residuals)" if short else "")


def band_trace(times, lo, hi, color: str, alpha: float, name: str, **kw) -> go.Scatter:
    """One prediction-interval band as a closed, filled polygon (upper edge, then lower edge back).

    ``times``, ``lo``, ``hi``: (H,) forecast times and bounds in target units; steps without an
    interval (NaN bounds, e.g. no calibration yet) are left out.
    """
    times, lo, hi = np.asarray(times), np.asarray(lo, float), np.asarray(hi, float)
    ok = np.isfinite(lo) & np.isfinite(hi)
    times, lo, hi = times[ok], lo[ok], hi[ok]
    return go.Scatter(
        x=np.concatenate([times, times[::-1]]),
        y=np.concatenate([hi, lo[::-1]]),
        fill="toself",
        fillcolor=_rgba(color, alpha),
        line={"width": 0},
        mode="lines",
        name=name,
        hoverinfo="skip",
        **kw,
    )


def local_times(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Wall-clock time in the index's own zone, without the zone (what Plotly displays)."""
    return index.tz_localize(None) if index.tz is not None else index


def apply_layout(fig: go.Figure, title: str, xaxis: str, yaxis: str) -> go.Figure:
    """The common look: white template, titles, the legend below the plot."""
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


def bounds_hover(bounds: list[tuple[float, np.ndarray, np.ndarray]], name: str) -> dict:
    """customdata/hovertemplate that show a forecast with its bounds per level when hovered."""
    data = np.column_stack([b for _, lo, hi in bounds for b in (lo, hi)])
    rows = "".join(
        f"<br>{level_name(lv)}%: %{{customdata[{2 * k}]:.4g}} .. %{{customdata[{2 * k + 1}]:.4g}}"
        for k, (lv, _, _) in enumerate(bounds)
    )
    return {
        "customdata": data,
        "hovertemplate": f"%{{x}}<br>forecast %{{y:.4g}}{rows}<extra>{name}</extra>",
    }


# -- a future forecast ------------------------------------------------------------------------------


def _forecast_times(forecast: pd.DataFrame, tz) -> pd.DatetimeIndex:
    if isinstance(forecast.index, pd.DatetimeIndex):
        index = forecast.index
    else:
        column = next((c for c in _TIME_COLUMNS if c in forecast.columns), None)
        if column is None:
            raise ValueError("forecast needs a DatetimeIndex or a 'timestamp'/'time' column")
        index = pd.DatetimeIndex(pd.to_datetime(forecast[column]))
    if index.tz is not None and tz is not None:
        index = index.tz_convert(tz)
    return local_times(index)


def interval_columns(frame: pd.DataFrame) -> list[tuple[float, str, str]]:
    """``(level, lo column, hi column)`` for every ``lo_<level>``/``hi_<level>`` pair, by level."""
    pairs = []
    for column in frame.columns:
        if isinstance(column, str) and column.startswith("lo_") and f"hi_{column[3:]}" in frame:
            try:
                pairs.append((float(column[3:]), column, f"hi_{column[3:]}"))
            except ValueError:
                continue
    return sorted(pairs)


def _short_levels(frame: pd.DataFrame) -> set[float]:
    """Levels marked short: ``attrs["short_levels"]`` (predict) or ``short_<level>`` columns (its CSV)."""
    short = {float(lv) for lv in frame.attrs.get("short_levels", [])}
    for column in frame.columns:
        if isinstance(column, str) and column.startswith("short_"):
            try:
                if frame[column].astype(bool).any():
                    short.add(float(column[6:]))
            except ValueError:
                continue
    return short


def fan_chart(
    history_times,
    history_values,
    forecast: pd.DataFrame,
    times,
    *,
    title: str,
    yaxis: str,
    short_levels=(),
) -> go.Figure:
    """Recent history, then the forecast; a fan chart when ``forecast`` has interval columns.

    ``history_times``/``history_values``: the recent observations; ``forecast``: future rows at
    ``times`` (local wall-clock), values in target units. With ``lo_<level>``/``hi_<level>``
    columns: one filled band per level (the widest lightest; a level in ``short_levels`` is marked
    in the legend), ``median`` dashed and ``forecast`` as a line with markers (hovering shows the
    bounds). Every other numeric column is drawn as a line.
    """
    fig = go.Figure(
        go.Scatter(
            x=history_times,
            y=np.asarray(history_values, dtype=np.float64),
            name="history",
            mode="lines",
            line={"color": ACTUAL_COLOR},
        )
    )
    bands = interval_columns(forecast)
    short = {float(lv) for lv in short_levels} | _short_levels(forecast)
    for rank, (level, lo, hi) in enumerate(reversed(bands)):
        fig.add_trace(
            band_trace(
                times,
                forecast[lo].to_numpy(dtype=np.float64),
                forecast[hi].to_numpy(dtype=np.float64),
                BAND_COLOR,
                band_alpha(rank),
                interval_label(level, level in short),
            )
        )
    bounds = [
        (lv, forecast[lo].to_numpy(dtype=np.float64), forecast[hi].to_numpy(dtype=np.float64))
        for lv, lo, hi in bands
    ]
    for column, color in zip(_line_columns(forecast, bands), PALETTE, strict=False):
        fig.add_trace(
            go.Scatter(
                x=times,
                y=forecast[column].to_numpy(dtype=np.float64),
                name=str(column),
                **_line_style(column, color, bounds),
            )
        )
    return apply_layout(fig, title, "time", yaxis)


def _line_columns(forecast: pd.DataFrame, bands: list[tuple[float, str, str]]) -> list:
    """The columns drawn as lines: every numeric one but the bounds, the times and the flags."""
    skip = {c for _, lo, hi in bands for c in (lo, hi)} | set(_TIME_COLUMNS)
    return [
        c
        for c in forecast.columns
        if c not in skip
        and not (isinstance(c, str) and c.startswith("short_"))
        and pd.api.types.is_numeric_dtype(forecast[c])
        and not pd.api.types.is_bool_dtype(forecast[c])
    ]


def _line_style(column, color: str, bounds: list[tuple[float, np.ndarray, np.ndarray]]) -> dict:
    """How a column's line looks: with intervals (``bounds``), ``median`` dashed in the band's
    colour and ``forecast`` thick, showing the bounds when hovered; otherwise ``color`` with markers."""
    style: dict = {"mode": "lines+markers", "line": {"color": color}}
    if bounds and column == "median":
        style = {"mode": "lines", "line": {"color": BAND_COLOR, "dash": "dash"}}
    elif bounds and column == "forecast":
        style["line"] = {"color": PALETTE[0], "width": 2.5}
        style |= bounds_hover(bounds, "forecast")
    return style


def forecast_chart_figure(
    history: Series, forecast: pd.DataFrame, title: str | None = None, context: int | None = None
) -> go.Figure:
    """The last ``context`` observations (default max(5 x forecast length, 100)) and the forecast.

    ``forecast``: future rows indexed by time (or with a ``timestamp``/``time`` column), in target
    units, e.g. what ``FittedModel.predict`` returns. With ``lo_<level>``/``hi_<level>`` columns it
    is a fan chart (:func:`fan_chart`); otherwise every numeric column is drawn as a line.
    """
    context = context or max(5 * len(forecast), 100)
    recent = history.frame[history.target].iloc[-context:]
    unit = history.units.get(history.target, "")
    default = f"{history.symbol} {history.target}: forecast of the next {len(forecast)} steps"
    return fan_chart(
        local_times(recent.index),
        recent.to_numpy(),
        forecast,
        _forecast_times(forecast, history.index.tz),
        title=title or default,
        yaxis=f"{history.target}{f' ({unit})' if unit else ''}",
    )


def forecast_chart(
    history: Series,
    forecast: pd.DataFrame,
    path: Path,
    title: str | None = None,
    context: int | None = None,
) -> Path:
    """Write :func:`forecast_chart_figure` (a fan chart when the forecast has intervals) as one
    self-contained HTML file (plotly.js inlined), atomically."""
    fig = forecast_chart_figure(history, forecast, title=title, context=context)
    return write_text(path, fig.to_html(include_plotlyjs=True, full_html=True))
