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

This module plans the run and puts it together: the walk is in :mod:`~forecaster.backtest.walk`,
the intervals in :mod:`~forecaster.backtest.interval_scores`, the result in
:mod:`~forecaster.backtest.result`, the baselines in :mod:`~forecaster.backtest.baselines`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecaster.backtest import baselines as bl
from forecaster.backtest.baselines import baseline_forecasts, usable_baselines  # the API's path
from forecaster.backtest.interval_scores import IntervalSettings, interval_bounds
from forecaster.backtest.result import BacktestResult, build_result, with_intervals
from forecaster.backtest.walk import Plan, Refit, WindowForecaster, walk_forward
from forecaster.config import BacktestConfig
from forecaster.data.series import Series
from forecaster.data.splits import first_test_row
from forecaster.errors import ConfigError, DataError

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


def _plan(
    series: Series,
    cfg: BacktestConfig,
    model: WindowForecaster | None,
    horizon: int,
    test_fraction: float,
    baselines: tuple[str, ...],
    model_name: str,
) -> Plan:
    """The span, origins and history need; a one-line DataError when the series is too short."""
    season = cfg.season or bl.season_for(series.freq)
    label = f"{series.source}:{series.symbol}"
    start, end = backtest_span(series, cfg, test_fraction)
    origins = make_origins(start, end, horizon, cfg.stride, cfg.max_origins)
    if len(origins) == 0:
        raise DataError(
            f"{label}: the test span holds {end - start} rows, fewer than horizon {horizon} — "
            "widen the span (backtest start/end, test_fraction) or shorten the horizon"
        )
    lookback = model.lookback if model is not None and cfg.refit_every <= 0 else 0
    needs = (b.history(cfg, season, horizon) for b in bl.lookup(baselines))
    need = max([lookback, 2, *needs])
    if start < need:
        raise DataError(
            f"{label}: only {start} rows before the test span; the backtest needs at least {need} "
            "(lookback, season, moving average, ridge lags + horizon) — start the test span later"
        )
    return Plan(start, end, origins, horizon, season, need, baselines, model_name)


def _checked_methods(
    cfg: BacktestConfig,
    model: WindowForecaster | None,
    refit: Refit | None,
    model_name: str,
    baselines: Sequence[str] | None,
) -> tuple[str, ...]:
    """The baselines to run (None: every registered one); one-line errors for unknown baselines,
    a model name that clashes with one, and refit mode without a way to retrain the model."""
    baselines = tuple(bl.names() if baselines is None else baselines)
    bl.lookup(baselines)
    if model_name in baselines:
        raise ValueError(f"model name '{model_name}' clashes with a baseline")
    if cfg.refit_every > 0 and refit is None and model is not None:
        raise ConfigError(
            f"backtest refit_every={cfg.refit_every} needs a way to retrain the model — "
            "set refit_every: 0 to evaluate the trained model as is"
        )
    return baselines


def run_backtest(
    series: Series,
    model: WindowForecaster | None = None,
    *,
    cfg: BacktestConfig | None = None,
    horizon: int | None = None,
    test_fraction: float = 0.15,
    refit: Refit | None = None,
    model_name: str = "model",
    baselines: Sequence[str] | None = None,
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
    dates. ``baselines``: names in the registry (default every one, in report order).
    ``batch_size``: origins per ``predict_origins`` call (None: all in one call).

    In refit mode a given ``model`` is not used: the first origin is itself a refit point.

    ``levels`` (percent): prediction intervals for every method
    (:func:`~forecaster.backtest.interval_scores.interval_bounds`), calibrated on the origins from
    ``calibration_start`` (a row the model did not train on; default as many rows before the span
    as the span holds, at most half of them) up to the span, and walk-forward inside it;
    residuals are scaled by the spread of the ``scale_lookback`` steps before each origin
    (``interval_scale``: ``diff``, ``level`` or ``none``; default the model's scale mode;
    ``interval_lag``: the lag of the changes measured, default the model's).
    """
    cfg = cfg or BacktestConfig()
    baselines = _checked_methods(cfg, model, refit, model_name, baselines)
    if horizon is None:
        if model is None:
            raise ValueError("give horizon= when there is no model to take it from")
        horizon = model.horizon
    plan = _plan(series, cfg, model, horizon, test_fraction, baselines, model_name)
    forecasts, refits = walk_forward(series, model, refit, cfg, plan, batch_size)
    result = build_result(series, cfg, plan, forecasts, refits, test_fraction)
    if not levels:
        return result
    settings = IntervalSettings(
        levels=tuple(levels),
        cal_start=_calibration_start(plan, calibration_start),
        scale_lookback=scale_lookback,
        mode=interval_scale or getattr(model, "scale_mode", "diff"),
        lag=interval_lag or getattr(model, "interval_lag", 1),
    )
    fixed = None if cfg.refit_every > 0 else model  # refit mode: calibrated walk-forward only
    bounds = interval_bounds(
        series, fixed, cfg, plan, forecasts, result.actuals, settings, batch_size
    )
    return with_intervals(result, bounds.bounds, bounds.short, bounds.info)


def _calibration_start(plan: Plan, calibration_start: int | None) -> int:
    """The first calibration origin: ``calibration_start``, by default as many rows before the span
    as it holds but at most half of them, so the Ridge fitted on the rows before the calibration
    origins (to keep its residuals out of sample) still sees at least half the training data;
    never before the history the backtest needs."""
    start, end = plan.start, plan.end
    cal_start = (
        calibration_start if calibration_start is not None else start - min(end - start, start // 2)
    )
    return max(cal_start, plan.need)


__all__ = [
    "BacktestResult",
    "WindowForecaster",
    "backtest_span",
    "baseline_forecasts",
    "make_origins",
    "run_backtest",
    "usable_baselines",
]
