"""The result of a backtest: every method's forecasts on the same origins, their actuals and metrics.

:func:`build_result` turns the walk's forecasts into a :class:`BacktestResult`; the interval bounds
are added to it afterwards (``dataclasses.replace``) when levels were asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from forecaster.backtest import baselines as bl
from forecaster.backtest.metrics import (
    interval_table,
    metric_table,
    naive_scale,
    step_coverage_table,
    step_metric_table,
)
from forecaster.backtest.walk import Plan
from forecaster.config import BacktestConfig
from forecaster.data.series import Series, mask_filled
from forecaster.errors import DataError
from forecaster.intervals import level_name


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
    """(n, H) observed values; NaN where the NaN policy filled the value in (not scored)."""
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


def build_result(
    series: Series,
    cfg: BacktestConfig,
    plan: Plan,
    forecasts: dict[str, np.ndarray],
    refits: int,
    test_fraction: float,
) -> BacktestResult:
    """Actuals, timestamps and metrics around the forecasts: the :class:`BacktestResult`.

    An actual the NaN policy filled in is NaN (:func:`~forecaster.data.series.mask_filled`), so
    every score leaves it out; a test span with no observed actual is a one-line DataError."""
    start, end, origins, horizon = plan.start, plan.end, plan.origins, plan.horizon
    y, index = series.values, series.index
    positions = origins[:, None] + np.arange(horizon)[None, :]
    actuals = mask_filled(series, origins, horizon, bl.future_windows(y, origins, horizon))
    if not np.isfinite(actuals).any():
        raise DataError(
            f"{series.source}:{series.symbol}: every value of the backtest span was filled in by "
            "the NaN policy, none observed, so there is nothing to score — use a span with "
            "observed values (backtest start/end, --start/--end) or a smaller --max-gap "
            "(data.max_gap)"
        )
    last = y[origins - 1]
    scale = naive_scale(y[:start])
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
        model_name=plan.model_name if plan.model_name in forecasts else None,
        train_span=(index[0], index[start - 1]),
        test_span=(index[start], index[end - 1]),
        train_naive_mae=scale,
        metrics=metric_table(actuals, forecasts, last, scale),
        step_metrics=step_metric_table(actuals, forecasts, last, scale),
        config=run_config(cfg, (start, end), plan.season, refits, test_fraction),
    )


def run_config(
    cfg: BacktestConfig, span: tuple[int, int], season: int, refits: int, test_fraction: float
) -> dict:
    """How the backtest ran (``BacktestResult.config``): mode, stride, season, refit settings and
    refits, baseline settings, training/test rows, how drift's slope was taken."""
    start, end = span
    sliding = cfg.refit_every > 0 and cfg.window == "sliding"
    return {
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
    }


def with_intervals(
    result: BacktestResult,
    bounds: dict[str, dict[float, tuple[np.ndarray, np.ndarray]]],
    short: dict[str, dict[float, np.ndarray]],
    info: dict,
) -> BacktestResult:
    """``result`` with interval ``bounds`` per method and level, their ``short`` origins, their
    scores (overall and per step) and ``info`` (how they were calibrated) added to its config."""
    return replace(
        result,
        intervals=bounds,
        interval_short=short,
        interval_metrics=interval_table(result.actuals, bounds),
        step_coverage=step_coverage_table(result.actuals, bounds),
        config=result.config | info,
    )
