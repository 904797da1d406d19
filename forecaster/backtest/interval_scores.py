"""Prediction intervals of every method in a backtest: calibration forecasts, scales, conformal bounds.

Split-conformal, walk-forward (see :mod:`forecaster.intervals`): calibration origins run from
``cal_start`` to the last origin whose horizon ends before the test span, so every one was fully
observed before the first backtest origin; inside the span each origin also uses the residuals of
every earlier origin whose horizon was already observed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecaster import intervals as iv
from forecaster.backtest import baselines as bl
from forecaster.backtest.walk import Plan, WindowForecaster, check_model, predict
from forecaster.config import BacktestConfig
from forecaster.data.series import Series, mask_filled

#: Method -> level (percent) -> (lo (n, H), hi (n, H)) in target units.
Bounds = dict[str, dict[float, tuple[np.ndarray, np.ndarray]]]
#: Method -> level -> (n,) bool: origins whose interval had too few calibration residuals.
Short = dict[str, dict[float, np.ndarray]]


@dataclass(frozen=True)
class IntervalSettings:
    """How a backtest's intervals are calibrated and scaled."""

    levels: tuple[float, ...]
    """Levels in percent."""
    cal_start: int
    """The first calibration origin (raised to the scale window when that is longer)."""
    scale_lookback: int | None
    """Steps before each origin whose spread scales its residuals (None: the model's lookback,
    or without a model the larger of the season and the Ridge lags)."""
    mode: str
    """How the spread is measured: ``diff``, ``level`` or ``none`` (:func:`~forecaster.intervals.window_scale`)."""
    lag: int
    """The run's lag of the changes measured (the model's); a baseline may use its own
    (:attr:`~forecaster.backtest.baselines.Baseline.interval_lag`)."""


@dataclass(frozen=True)
class IntervalBounds:
    """Interval bounds of every method on the backtest's origins, and how they were calibrated."""

    bounds: Bounds
    short: Short
    info: dict
    """levels, calibration_origins, calibration_span, interval_scale, interval_window."""


def _scale_lookback(
    settings: IntervalSettings, model: WindowForecaster | None, season: int, cfg: BacktestConfig
) -> int:
    lookback = settings.scale_lookback
    if lookback is None:
        lookback = model.lookback if model is not None else max(season, cfg.ridge_lags)
    return max(lookback, 2)


def calibration_forecasts(
    series: Series,
    model: WindowForecaster | None,
    cfg: BacktestConfig,
    plan: Plan,
    cal_origins: np.ndarray,
    batch_size: int | None,
) -> dict[str, np.ndarray]:
    """``{method: (k, H)}`` at the calibration origins (none when there are none).

    The model forecasts them as it is (it did not train on them); baselines fitted on training
    rows are refitted on the rows before the first calibration origin, so their residuals are out
    of sample too. ``model=None`` (refit mode) leaves the model out: it is calibrated walk-forward
    inside the span only.
    """
    if not len(cal_origins):
        return {}
    y, horizon, cal_start = series.values, plan.horizon, int(cal_origins[0])
    cal = bl.baseline_forecasts(
        y, cal_origins, horizon, cfg, plan.season, plan.baselines, (0, cal_start), None
    )
    if model is not None:
        check_model(model, horizon, cal_start)
        cal[plan.model_name] = predict(model, series, cal_origins, batch_size)
    return cal


def interval_bounds(
    series: Series,
    model: WindowForecaster | None,
    cfg: BacktestConfig,
    plan: Plan,
    forecasts: dict[str, np.ndarray],
    span_actual: np.ndarray,
    settings: IntervalSettings,
    batch_size: int | None,
) -> IntervalBounds:
    """Conformal intervals of every method in ``forecasts`` ``{method: (n, H)}`` at the plan's origins.

    ``span_actual`` (n, H): the actuals of the origins (NaN where filled in). A window with an
    actual the NaN policy filled in gives no residual (the walks leave non-finite ones out). Residuals are scaled by the spread of the
    ``scale_lookback`` steps before each origin, with the run's lag for the model and each
    baseline's own :class:`~forecaster.backtest.baselines.IntervalLag`.
    """
    y, horizon, origins = series.values, plan.horizon, plan.origins
    lookback = _scale_lookback(settings, model, plan.season, cfg)
    cal_start = max(settings.cal_start, lookback)
    cal_origins = np.arange(cal_start, plan.start - horizon + 1, dtype=np.int64)
    cal = calibration_forecasts(series, model, cfg, plan, cal_origins, batch_size)
    cal_actual = mask_filled(
        series, cal_origins, horizon, bl.future_windows(y, cal_origins, horizon)
    )
    lags = {
        b.name: b.interval_lag.lag(settings.lag, plan.season) for b in bl.lookup(plan.baselines)
    }
    scales: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    bounds: Bounds = {}
    short: Short = {}
    for name, fc in forecasts.items():
        lag = lags.get(name, settings.lag)
        if lag not in scales:
            scales[lag] = tuple(
                iv.window_scale(y, o, lookback, settings.mode, lag) for o in (origins, cal_origins)
            )
        span_scale, cal_scale = scales[lag]
        has_cal = name in cal
        q, short[name] = iv.walk_forward_by(
            cfg.interval_method,
            iv.scores(cal_actual, cal[name], cal_scale) if has_cal else np.zeros((0, horizon)),
            cal_origins if has_cal else np.zeros(0, dtype=np.int64),
            iv.scores(span_actual, fc, span_scale),
            origins,
            horizon,
            settings.levels,
            cfg.interval_window,
        )
        s = span_scale[:, None]
        bounds[name] = {lv: (fc + s * lo, fc + s * hi) for lv, (lo, hi) in q.items()}
    return IntervalBounds(bounds, short, _info(series, cfg, settings, cal_origins, lookback))


def _info(
    series: Series,
    cfg: BacktestConfig,
    settings: IntervalSettings,
    cal_origins: np.ndarray,
    lookback: int,
) -> dict:
    """How the intervals were calibrated, for ``BacktestResult.config`` (and the report)."""
    span = None
    if len(cal_origins):
        span = [str(series.index[cal_origins[0]]), str(series.index[cal_origins[-1]])]
    return {
        "levels": [float(lv) for lv in settings.levels],
        "calibration_origins": len(cal_origins),
        "calibration_span": span,
        "interval_scale": f"{settings.mode} spread (lag {settings.lag}) of the last {lookback} steps",
        "interval_window": cfg.interval_window,
        "interval_method": cfg.interval_method,
    }
