"""Walk-forward (rolling-origin) backtest of a window model and the baselines on identical origins.

Positions, not dates, drive everything: origin ``o`` is a row position; its forecast covers rows
``[o, o + horizon)`` and may read only rows ``< o``. The series splits into a *training span*
(rows ``[0, test_start)``) and a *test span* (rows ``[test_start, test_end)``); origins run every
``stride`` steps from ``test_start`` to the last origin whose whole horizon lies in the test span.

Two modes (``BacktestConfig.refit_every``):

* **fixed** (0): one model, trained before the test span, forecasts every origin in a few batched
  ``predict_origins`` calls. Ridge is fitted once on the training span.
* **refit** (k > 0): at every k-th origin the model (and Ridge) is retrained on the rows before that
  origin — all of them (``expanding``) or the most recent ``test_start`` rows (``sliding``, the
  initial training length) — and forecasts the origins up to the next refit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from forecaster import intervals as iv
from forecaster.backtest import baselines as bl
from forecaster.backtest.metrics import (
    interval_table,
    metric_table,
    naive_scale,
    step_coverage_table,
    step_metric_table,
)
from forecaster.config import BacktestConfig
from forecaster.data.series import Series
from forecaster.data.splits import first_test_row
from forecaster.errors import ConfigError, DataError
from forecaster.intervals import level_name


@runtime_checkable
class WindowForecaster(Protocol):
    """What the engine needs of a model: window shape and batched forecasts from given origins."""

    lookback: int
    """Input window length L, in steps."""
    horizon: int
    """Forecast length H, in steps."""

    def predict_origins(self, series: Series, origins: np.ndarray) -> np.ndarray:
        """``(n_origins, H)`` forecasts in target units; origin o forecasts rows [o, o+H) from rows < o."""
        ...


Refit = Callable[[Series], WindowForecaster]


@dataclass(frozen=True)
class BacktestResult:
    """Forecasts of every method on the same origins, their actuals, and the metrics.

    Shapes: n = number of origins, H = horizon. Values are in the target's units.
    """

    symbol: str
    target: str
    freq: str
    unit: str
    horizon: int
    origins: np.ndarray
    """(n,) row positions; origin o forecasts rows [o, o + H)."""
    origin_times: pd.DatetimeIndex
    """(n,) timestamp of row o (the first forecast step), tz-aware in the series' zone."""
    timestamps: np.ndarray
    """(n, H) datetime64[ns] UTC instants of the forecast rows (``horizon_index`` gives them tz-aware)."""
    tz: str
    actuals: np.ndarray
    """(n, H) observed values."""
    last_observed: np.ndarray
    """(n,) the value at row o - 1, the last one each forecast could see."""
    forecasts: dict[str, np.ndarray]
    """Method name -> (n, H) forecasts; the model first (if any), then the baselines."""
    model_name: str | None
    train_span: tuple[pd.Timestamp, pd.Timestamp]
    """First and last timestamps of the training span (rows before the test span)."""
    test_span: tuple[pd.Timestamp, pd.Timestamp]
    """First and last timestamps of the test span."""
    train_naive_mae: float
    """In-sample one-step naive MAE over the training span, target units (MASE's scale)."""
    metrics: pd.DataFrame
    """Overall metrics: rows = methods, columns = :data:`forecaster.backtest.metrics.METRICS`."""
    step_metrics: pd.DataFrame
    """Per-step metrics: index (method, step) with steps 1..H, same columns."""
    config: dict = field(default_factory=dict)
    """How it ran: mode, stride, season, refit settings, refits (retraining points of the model and
    Ridge; 0 in fixed mode), training/test rows, how drift's slope was taken, how intervals were
    calibrated."""
    intervals: dict[str, dict[float, tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    """Method -> level (percent) -> (lo (n, H), hi (n, H)) in units; NaN where no calibration yet."""
    interval_short: dict[str, dict[float, np.ndarray]] = field(default_factory=dict)
    """Method -> level -> (n,) bool: origins whose interval had too few calibration residuals."""
    interval_metrics: pd.DataFrame | None = None
    """Index (method, level); columns coverage (%), width, winkler, pinball (units)."""
    step_coverage: pd.DataFrame | None = None
    """Index (method, level); columns steps 1..H: coverage (%) per horizon step."""

    @property
    def levels(self) -> list[float]:
        first = next(iter(self.intervals.values()), {})
        return list(first)

    @property
    def methods(self) -> list[str]:
        return list(self.forecasts)

    @property
    def has_intervals(self) -> bool:
        """Whether the backtest scored prediction intervals (``levels`` were asked for)."""
        return bool(self.intervals) and self.interval_metrics is not None

    @property
    def n_origins(self) -> int:
        return len(self.origins)

    @property
    def horizon_index(self) -> pd.DatetimeIndex:
        """The (n * H) forecast timestamps, flattened row by row, tz-aware."""
        return pd.DatetimeIndex(self.timestamps.ravel()).tz_localize("UTC").tz_convert(self.tz)

    def to_frame(self) -> pd.DataFrame:
        """Long table, one row per (origin, step): origin, step (1..H), timestamp, actual, each method
        (and its interval bounds ``<method>_lo_<level>``, ``<method>_hi_<level>``)."""
        n, h = self.actuals.shape
        frame = pd.DataFrame(
            {
                "origin": np.repeat(self.origin_times, h),
                "step": np.tile(np.arange(1, h + 1), n),
                "timestamp": self.horizon_index,
                "actual": self.actuals.ravel(),
            }
        )
        for name, fc in self.forecasts.items():
            frame[name] = fc.ravel()
            for level, (lo, hi) in self.intervals.get(name, {}).items():
                frame[f"{name}_lo_{level_name(level)}"] = lo.ravel()
                frame[f"{name}_hi_{level_name(level)}"] = hi.ravel()
        return frame


# -- spans and origins ----------------------------------------------------------------------------


def _position(index: pd.DatetimeIndex, day: dt.date) -> int:
    stamp = pd.Timestamp(day)
    stamp = stamp.tz_localize(index.tz) if index.tz is not None else stamp
    return int(index.searchsorted(stamp, side="left"))


def backtest_span(
    series: Series, cfg: BacktestConfig, test_fraction: float = 0.15
) -> tuple[int, int]:
    """Rows ``[start, end)`` of the test span.

    By dates when ``cfg.start``/``cfg.end`` are set (``start <= time < end``, dates in the series'
    zone); a missing ``start`` then means the last ``test_fraction`` of the rows before ``end``.
    Otherwise the last ``test_fraction`` of the series.
    """
    total = len(series)
    end = _position(series.index, cfg.end) if cfg.end else total
    if cfg.start:
        start = _position(series.index, cfg.start)
    else:  # the fit's test cut of the rows before ``end`` (the one split rule)
        start = first_test_row(series.index[:end], test_fraction)
    if end - start <= 0:
        raise DataError(
            f"{series.source}:{series.symbol}: the backtest span holds no rows ({series.start} .. {series.end}) "
            "— choose backtest start/end dates inside the series"
        )
    return start, end


def make_origins(
    start: int, end: int, horizon: int, stride: int = 1, max_origins: int | None = None
) -> np.ndarray:
    """Origins every ``stride`` rows from ``start`` whose horizon ends by ``end``; keep the last ``max_origins``."""
    origins = np.arange(start, end - horizon + 1, stride, dtype=np.int64)
    if max_origins is not None:
        origins = origins[-max_origins:]
    return origins


def _history_needs(cfg: BacktestConfig, season: int, horizon: int) -> dict[str, int]:
    """Rows of history each baseline needs before its first origin (Ridge: training rows)."""
    return {
        "naive": 1,
        "seasonal_naive": season,
        "drift": 2,
        "moving_average": cfg.moving_average,
        "ridge": cfg.ridge_lags + horizon,
    }


def _required_history(
    cfg: BacktestConfig, season: int, horizon: int, lookback: int, methods: Sequence[str]
) -> int:
    need = _history_needs(cfg, season, horizon)
    return max([lookback, 2, *(need[m] for m in methods)])


def usable_baselines(cfg: BacktestConfig, season: int, horizon: int, history: int) -> list[str]:
    """The baselines that ``history`` rows before the first origin are enough for, in report order."""
    need = _history_needs(cfg, season, horizon)
    return [m for m in bl.BASELINES if need[m] <= history]


# -- forecasting ----------------------------------------------------------------------------------


def _predict(
    model: WindowForecaster, series: Series, origins: np.ndarray, batch_size: int | None
) -> np.ndarray:
    """Model forecasts for ``origins`` in batched calls of at most ``batch_size`` origins (None: one call)."""
    step = batch_size or max(len(origins), 1)
    parts = []
    for i in range(0, len(origins), step):
        batch = origins[i : i + step]
        out = np.asarray(model.predict_origins(series, batch), dtype=np.float64)
        if out.shape != (len(batch), model.horizon):
            raise ValueError(
                f"predict_origins returned shape {out.shape}, expected {(len(batch), model.horizon)}"
            )
        parts.append(out)
    return np.concatenate(parts) if parts else np.empty((0, model.horizon))


def _check_model(model: WindowForecaster, horizon: int, first_origin: int) -> None:
    if model.horizon != horizon:
        raise ValueError(
            f"model horizon {model.horizon} differs from the backtest horizon {horizon}"
        )
    if first_origin < model.lookback:
        raise DataError(
            f"the first backtest origin has {first_origin} rows of history, fewer than the model's lookback "
            f"{model.lookback} — start the backtest later or use a shorter --lookback"
        )


def baseline_forecasts(
    y: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    cfg: BacktestConfig,
    season: int,
    methods: Sequence[str],
    ridge_train: tuple[int, int],
    drift_window: int | None,
) -> dict[str, np.ndarray]:
    """Baselines for one group of origins; Ridge is fitted on ``y[ridge_train[0]:ridge_train[1]]``."""
    out: dict[str, np.ndarray] = {}
    for name in methods:
        if name == "naive":
            out[name] = bl.naive(y, origins, horizon)
        elif name == "seasonal_naive":
            out[name] = bl.seasonal_naive(y, origins, horizon, season)
        elif name == "drift":
            out[name] = bl.drift(y, origins, horizon, window=drift_window)
        elif name == "moving_average":
            out[name] = bl.moving_average(y, origins, horizon, cfg.moving_average)
        elif name == "ridge":
            fitted = bl.ridge_fit(
                y[ridge_train[0] : ridge_train[1]], cfg.ridge_lags, horizon, cfg.ridge_alpha
            )
            out[name] = bl.ridge_predict(fitted, y, origins)
    return out


def run_backtest(
    series: Series,
    model: WindowForecaster | None = None,
    *,
    cfg: BacktestConfig | None = None,
    horizon: int | None = None,
    test_fraction: float = 0.15,
    refit: Refit | None = None,
    model_name: str = "model",
    baselines: Sequence[str] = bl.BASELINES,
    batch_size: int | None = None,
    levels: Sequence[float] = (),
    calibration_start: int | None = None,
    scale_lookback: int | None = None,
    interval_scale: str | None = None,
    interval_lag: int | None = None,
) -> BacktestResult:
    """Walk forward over the test span and score the model (if any) and ``baselines`` on the same origins.

    ``model``: a trained :class:`WindowForecaster` (fixed mode), or None for baselines only.
    ``refit``: trains a model on a training :class:`Series`; required when ``cfg.refit_every > 0``;
    in fixed mode with ``model=None`` it trains the one model on the training span. ``horizon``:
    steps to forecast (default: the model's). ``test_fraction``: the test span when ``cfg`` gives no
    dates. ``batch_size``: origins per ``predict_origins`` call (None: all in one call).

    In refit mode a given ``model`` is not used: the first origin is itself a refit point.

    ``levels`` (percent): prediction intervals for every method (:func:`_interval_bounds`),
    calibrated on the origins from ``calibration_start`` (a row the model did not train on; default
    as many rows before the span as the span holds, at most half of them) up to the span, and
    walk-forward inside it;
    residuals are scaled by the spread of the ``scale_lookback`` steps before each origin
    (``interval_scale``: ``diff``, ``level`` or ``none``; default the model's scale mode;
    ``interval_lag``: the lag of the changes measured, default the model's).
    """
    cfg = cfg or BacktestConfig()
    unknown = [m for m in baselines if m not in bl.BASELINES]
    if unknown:
        raise ConfigError(f"unknown baseline(s) {unknown} — choose from {list(bl.BASELINES)}")
    if model_name in baselines:
        raise ValueError(f"model name '{model_name}' clashes with a baseline")
    refitting = cfg.refit_every > 0
    if refitting and refit is None and model is not None:
        raise ConfigError(
            f"backtest refit_every={cfg.refit_every} needs a way to retrain the model — "
            "set refit_every: 0 to evaluate the trained model as is"
        )
    if horizon is None:
        if model is None:
            raise ValueError("give horizon= when there is no model to take it from")
        horizon = model.horizon
    season = cfg.season or bl.season_for(series.freq)
    label = f"{series.source}:{series.symbol}"
    start, end = backtest_span(series, cfg, test_fraction)
    origins = make_origins(start, end, horizon, cfg.stride, cfg.max_origins)
    if len(origins) == 0:
        raise DataError(
            f"{label}: the test span holds {end - start} rows, fewer than horizon {horizon} — "
            "widen the span (backtest start/end, test_fraction) or shorten the horizon"
        )
    lookback = model.lookback if model is not None and not refitting else 0
    need = _required_history(cfg, season, horizon, lookback, baselines)
    if start < need:
        raise DataError(
            f"{label}: only {start} rows before the test span; the backtest needs at least {need} "
            "(lookback, season, moving average, ridge lags + horizon) — start the test span later"
        )
    forecasts, refits = _walk(
        series,
        model,
        refit,
        cfg,
        origins,
        start,
        horizon,
        season,
        baselines,
        model_name,
        batch_size,
    )
    result = _result(
        series,
        cfg,
        origins,
        (start, end),
        horizon,
        season,
        forecasts,
        model_name,
        refits,
        test_fraction,
    )
    if not levels:
        return result
    # By default as many rows before the span as it holds, but at most half of them, so the Ridge
    # fitted on the rows before the calibration origins (to keep its residuals out of sample)
    # still sees at least half the training data.
    cal_start = (
        calibration_start if calibration_start is not None else start - min(end - start, start // 2)
    )
    bounds, short, info = _interval_bounds(
        series,
        None if refitting else model,
        cfg,
        forecasts,
        origins,
        result.actuals,
        start=start,
        horizon=horizon,
        season=season,
        baselines=list(baselines),
        model_name=model_name,
        levels=levels,
        cal_start=max(cal_start, need),
        batch_size=batch_size,
        scale_lookback=scale_lookback,
        mode=interval_scale or getattr(model, "scale_mode", "diff"),
        lag=interval_lag or getattr(model, "interval_lag", 1),
    )
    return replace(
        result,
        intervals=bounds,
        interval_short=short,
        interval_metrics=interval_table(result.actuals, bounds),
        step_coverage=step_coverage_table(result.actuals, bounds),
        config=result.config | info,
    )


def _walk(
    series: Series,
    model: WindowForecaster | None,
    refit: Refit | None,
    cfg: BacktestConfig,
    origins: np.ndarray,
    start: int,
    horizon: int,
    season: int,
    baselines: Sequence[str],
    model_name: str,
    batch_size: int | None,
) -> tuple[dict[str, np.ndarray], int]:
    """Forecasts ``{method: (n, H)}`` over all origins and the number of refits (0 in fixed mode).

    Origins go in groups of ``refit_every`` (one group in fixed mode); before each group the model
    and Ridge are (re)trained on the rows ``[train_from, first)`` ending at the group's first origin
    (fixed mode: the training span).
    """
    y = series.values
    fit_model = refit is not None and (cfg.refit_every > 0 or model is None)
    forecasts: dict[str, list[np.ndarray]] = (
        {model_name: []} if model is not None or fit_model else {}
    )
    forecasts.update({name: [] for name in baselines})
    if cfg.refit_every > 0:
        step = cfg.refit_every
        groups = [origins[i : i + step] for i in range(0, len(origins), step)]
        firsts = [int(g[0]) for g in groups]
    else:
        groups, firsts = [origins], [start]
    window = start if cfg.refit_every > 0 and cfg.window == "sliding" else None
    for group, first in zip(groups, firsts, strict=True):
        train_from = max(0, first - window) if window else 0
        if fit_model:
            model = refit(series.with_frame(series.frame.iloc[train_from:first]))
        if model is not None:
            _check_model(model, horizon, int(group[0]))
            forecasts[model_name].append(_predict(model, series, group, batch_size))
        base = baseline_forecasts(
            y, group, horizon, cfg, season, baselines, (train_from, first), window
        )
        for name, values in base.items():
            forecasts[name].append(values)
    stacked = {name: np.concatenate(parts) for name, parts in forecasts.items()}
    return stacked, (len(groups) if cfg.refit_every > 0 else 0)


def _interval_bounds(
    series: Series,
    model: WindowForecaster | None,
    cfg: BacktestConfig,
    forecasts: dict[str, np.ndarray],
    origins: np.ndarray,
    span_actual: np.ndarray,
    *,
    start: int,
    horizon: int,
    season: int,
    baselines: list[str],
    model_name: str,
    levels: Sequence[float],
    cal_start: int,
    batch_size: int | None,
    scale_lookback: int | None,
    mode: str,
    lag: int,
) -> tuple[dict, dict, dict]:
    """Conformal intervals of every method (see :mod:`forecaster.intervals`).

    Calibration origins run from ``cal_start`` to the last origin whose horizon ends before the
    span, so every one was fully observed before the first backtest origin. The model forecasts
    them as it is (it did not train on them); Ridge is refitted on the rows before ``cal_start`` so
    its calibration residuals are out of sample too. ``model=None`` with a model in ``forecasts``
    (refit mode) calibrates the model walk-forward only. ``span_actual`` (n, H): the actuals of
    ``origins``, as the result already holds them. Residuals are scaled by the spread of the
    ``scale_lookback`` steps before each origin (default the model's lookback, or the larger of the
    season and the Ridge lags without a model).
    """
    y = series.values
    if scale_lookback is None:
        scale_lookback = model.lookback if model is not None else max(season, cfg.ridge_lags)
    scale_lookback = max(scale_lookback, 2)
    cal_start = max(cal_start, scale_lookback)
    cal_origins = np.arange(cal_start, start - horizon + 1, dtype=np.int64)
    cal: dict[str, np.ndarray] = {}
    if len(cal_origins):
        cal = baseline_forecasts(
            y, cal_origins, horizon, cfg, season, baselines, (0, cal_start), None
        )
        if model is not None:
            _check_model(model, horizon, int(cal_origins[0]))
            cal[model_name] = _predict(model, series, cal_origins, batch_size)
    cal_actual = bl.future_windows(y, cal_origins, horizon)
    span_scale = iv.window_scale(y, origins, scale_lookback, mode, lag)
    cal_scale = iv.window_scale(y, cal_origins, scale_lookback, mode, lag)
    bounds: dict[str, dict[float, tuple[np.ndarray, np.ndarray]]] = {}
    short: dict[str, dict[float, np.ndarray]] = {}
    empty = np.zeros((0, horizon))
    for name, fc in forecasts.items():
        has_cal = name in cal
        q, is_short = iv.walk_forward_by(
            cfg.interval_method,
            iv.scores(cal_actual, cal[name], cal_scale) if has_cal else empty,
            cal_origins if has_cal else np.zeros(0, dtype=np.int64),
            iv.scores(span_actual, fc, span_scale),
            origins,
            horizon,
            levels,
            cfg.interval_window,
        )
        s = span_scale[:, None]
        bounds[name] = {lv: (fc + s * lo, fc + s * hi) for lv, (lo, hi) in q.items()}
        short[name] = is_short
    info = {
        "levels": [float(lv) for lv in levels],
        "calibration_origins": len(cal_origins),
        "calibration_span": [str(series.index[cal_origins[0]]), str(series.index[cal_origins[-1]])]
        if len(cal_origins)
        else None,
        "interval_scale": f"{mode} spread (lag {lag}) of the last {scale_lookback} steps",
        "interval_window": cfg.interval_window,
        "interval_method": cfg.interval_method,
    }
    return bounds, short, info


def _result(
    series: Series,
    cfg: BacktestConfig,
    origins: np.ndarray,
    span: tuple[int, int],
    horizon: int,
    season: int,
    forecasts: dict[str, np.ndarray],
    model_name: str,
    refits: int,
    test_fraction: float,
) -> BacktestResult:
    """Actuals, timestamps and metrics around the forecasts: the :class:`BacktestResult`."""
    start, end = span
    y, index = series.values, series.index
    positions = origins[:, None] + np.arange(horizon)[None, :]
    actuals, last = bl.future_windows(y, origins, horizon), y[origins - 1]
    scale = naive_scale(y[:start])
    sliding = cfg.refit_every > 0 and cfg.window == "sliding"
    return BacktestResult(
        symbol=series.symbol,
        target=series.target,
        freq=series.freq,
        unit=series.units.get(series.target, ""),
        horizon=horizon,
        origins=origins,
        origin_times=index[origins],
        timestamps=index.tz_convert("UTC").tz_localize(None).to_numpy()[positions],
        tz=str(index.tz),
        actuals=actuals,
        last_observed=last,
        forecasts=forecasts,
        model_name=model_name if model_name in forecasts else None,
        train_span=(index[0], index[start - 1]),
        test_span=(index[start], index[end - 1]),
        train_naive_mae=scale,
        metrics=metric_table(actuals, forecasts, last, scale),
        step_metrics=step_metric_table(actuals, forecasts, last, scale),
        config={
            "mode": "refit" if cfg.refit_every > 0 else "fixed",
            "stride": cfg.stride,
            "season": season,
            "refit_every": cfg.refit_every,
            "window": cfg.window,
            "refits": refits,
            "moving_average": cfg.moving_average,
            "ridge_lags": cfg.ridge_lags,
            "ridge_alpha": cfg.ridge_alpha,
            "max_origins": cfg.max_origins,
            "test_fraction": None if cfg.start else test_fraction,
            "train_rows": start,
            "test_rows": end - start,
            "drift": f"over the last {start} rows" if sliding else "from the series start",
        },
    )
