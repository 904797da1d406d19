"""Baseline forecasts, pure and vectorised over all forecast origins at once, and their registry.

Every baseline function has the form ``f(y, origins, horizon, ...) -> (n_origins, horizon)``:

* ``y``: the target, shape ``(T,)``, in target units.
* ``origins``: integer row positions, shape ``(n_origins,)``. Origin ``o`` forecasts rows
  ``[o, o + horizon)`` and reads only rows ``< o`` of ``y`` (no leakage, by construction).
* ``horizon``: steps of the series' frequency.

History windows are views or fancy-indexed gathers on the one array ``y`` (no per-origin Python loop),
so a thousand origins cost a few milliseconds.

:data:`REGISTRY` holds one :class:`Baseline` record per baseline, in report order: its forecast,
the history it needs, whether it reads the season or is fitted on training rows, and how its
interval residuals are scaled. The engine, the report and the interval code dispatch through the
record, so a new baseline is one new record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.linear_model import Ridge

from forecaster.errors import ConfigError

if TYPE_CHECKING:
    from forecaster.config import BacktestConfig

_LEGACY = {"H": "h", "M": "ME", "Q": "QE", "BM": "BME", "T": "min"}


def season_for(freq: str) -> int:
    """Season length in steps for a pandas frequency alias.

    ``"B"`` (trading sessions) 5, ``"D"`` 7, sub-daily steps of 15 minutes or more that divide a
    day: steps per day (``"h"`` 24, ``"15min"`` 96), monthly 12, quarterly 4; anything else 1 (no
    season). Legacy aliases (``"H"``, ``"M"``, ``"Q"``) are understood.
    """
    freq = _LEGACY.get(freq, freq)
    if freq == "B":
        return 5
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except ValueError:
        return 1
    name = offset.name
    if name in ("B", "C"):
        return 5
    if name == "D" and offset.n == 1:
        return 7
    if name.startswith(("M", "BM", "SM", "CBM")) and offset.n == 1:
        return 12
    if name.startswith(("Q", "BQ")) and offset.n == 1:
        return 4
    try:
        step = pd.Timedelta(offset)
    except (ValueError, TypeError):
        return 1
    day = pd.Timedelta(days=1)
    if pd.Timedelta(minutes=15) <= step < day and day % step == pd.Timedelta(0):
        return int(day // step)
    return 1


def _check(y: np.ndarray, origins: np.ndarray, history: int) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64)
    origins = np.asarray(origins, dtype=np.int64)
    if origins.size and origins.min() < history:
        raise ValueError(
            f"origin {int(origins.min())} has fewer than the {history} rows of history needed"
        )
    return y, origins


def history_windows(y: np.ndarray, origins: np.ndarray, length: int) -> np.ndarray:
    """The ``length`` values before each origin: ``(n_origins, length)``, row i = ``y[o_i - length : o_i]``."""
    y, origins = _check(y, origins, length)
    return sliding_window_view(y, length)[origins - length]


def future_windows(y: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """The ``horizon`` values from each origin on: ``(n_origins, horizon)``, row i = ``y[o_i : o_i + H]``.

    What a forecast from origin ``o_i`` is scored against (the actuals); origins must leave room.
    """
    y = np.asarray(y)
    origins = np.asarray(origins, dtype=np.int64)
    return y[origins[:, None] + np.arange(horizon)[None, :]]


def naive(y: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """Last value carried forward: ``y_hat[o + h] = y[o - 1]``."""
    y, origins = _check(y, origins, 1)
    return np.repeat(y[origins - 1][:, None], horizon, axis=1)


def seasonal_naive(y: np.ndarray, origins: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The last season repeated: ``y_hat[o + h] = y[o + h - season * ceil((h + 1) / season)]``, h = 0..H-1.

    That is ``y[o - season + h % season]``: hourly data with season 24 forecasts each hour as the same
    hour of the last observed day. ``season=1`` is the naive forecast.
    """
    y, origins = _check(y, origins, season)
    offsets = np.arange(horizon) % season - season
    return y[origins[:, None] + offsets[None, :]]


def drift(
    y: np.ndarray, origins: np.ndarray, horizon: int, window: int | None = None
) -> np.ndarray:
    """Random walk with drift: ``y_hat[o + h] = y[o - 1] + (h + 1) * slope``, h = 0..H-1.

    ``slope`` is the mean step over the history before the origin: ``(y[o-1] - y[s]) / (o-1 - s)``
    with ``s = 0`` (the training start: all history, Hyndman's drift method) or, with ``window``, the
    start of the last ``window`` rows (``s = max(0, o - window)``; the engine passes its sliding
    training window).
    """
    y, origins = _check(y, origins, 2)
    last = y[origins - 1]
    first_pos = np.zeros_like(origins) if window is None else np.maximum(0, origins - window)
    span = origins - 1 - first_pos
    if (span < 1).any():
        raise ValueError("drift needs at least 2 rows of history (window >= 2)")
    slope = (last - y[first_pos]) / span
    steps = np.arange(1, horizon + 1)
    return last[:, None] + slope[:, None] * steps[None, :]


def moving_average(y: np.ndarray, origins: np.ndarray, horizon: int, window: int) -> np.ndarray:
    """Mean of the last ``window`` values, flat over the horizon."""
    level = history_windows(y, origins, window).mean(axis=1)
    return np.repeat(level[:, None], horizon, axis=1)


# -- Ridge on lagged differences ------------------------------------------------------------------


@dataclass(frozen=True)
class RidgeBaseline:
    """A fitted multi-output Ridge: ``lags`` inputs -> ``horizon`` outputs, all relative to the last value.

    Inputs are the last ``lags`` values minus the last one; outputs are the next ``horizon`` values
    minus the last one. Working in differences from the last value keeps it valid on trending
    prices far outside the training range (per-window normalisation).
    """

    model: Ridge
    lags: int
    horizon: int
    n_train: int
    """Training windows it was fitted on."""


def ridge_fit(train: np.ndarray, lags: int, horizon: int, alpha: float = 1.0) -> RidgeBaseline:
    """Fit on every (lags + horizon) window of ``train`` ``(T_train,)`` — nothing outside it is seen."""
    train = np.asarray(train, dtype=np.float64)
    if train.size < lags + horizon:
        raise ValueError(
            f"ridge needs at least lags + horizon = {lags + horizon} training rows, got {train.size}"
        )
    windows = sliding_window_view(train, lags + horizon)
    last = windows[:, lags - 1 : lags]
    x, target = windows[:, :lags] - last, windows[:, lags:] - last
    model = Ridge(alpha=alpha).fit(x, target)
    return RidgeBaseline(model=model, lags=lags, horizon=horizon, n_train=len(windows))


def ridge_predict(fitted: RidgeBaseline, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
    """Forecast ``(n_origins, horizon)`` from the ``lags`` rows before each origin."""
    if len(origins) == 0:
        return np.empty((0, fitted.horizon))
    hist = history_windows(y, origins, fitted.lags)
    last = hist[:, -1:]
    pred = fitted.model.predict(hist - last).reshape(len(hist), fitted.horizon)
    return last + pred


def ridge(
    y: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    lags: int,
    alpha: float = 1.0,
    train_end: int | None = None,
) -> np.ndarray:
    """Fit :func:`ridge_fit` on ``y[:train_end]`` (default: rows before the first origin), then forecast.

    ``train_end`` must not exceed the first origin, so no forecast sees its own future.
    """
    origins = np.asarray(origins, dtype=np.int64)
    end = int(origins.min()) if train_end is None else train_end
    if origins.size and end > origins.min():
        raise ValueError(
            f"train_end {end} is after the first origin {int(origins.min())}: that would leak"
        )
    fitted = ridge_fit(np.asarray(y, dtype=np.float64)[:end], lags, horizon, alpha)
    return ridge_predict(fitted, y, origins)


# -- the registry ---------------------------------------------------------------------------------


class IntervalLag(Enum):
    """How a baseline's interval residuals are scaled: the lag of the changes whose spread over the
    window before each origin divides them (see :func:`forecaster.intervals.window_scale`)."""

    RUN = "run"
    """The run's lag (the model's: the season for a seasonal anchor, else 1), the same for every
    method, so their interval widths compare at equal coverage."""
    SEASON = "season"
    """Season-on-season changes: how much a season differs from the one before."""

    def lag(self, run_lag: int, season: int) -> int:
        """The lag in steps, given the run's lag and the season (steps)."""
        return season if self is IntervalLag.SEASON else run_lag


@dataclass(frozen=True)
class BaselineInputs:
    """What a baseline may read besides the target, the origins and the horizon."""

    cfg: BacktestConfig
    """Backtest settings (``moving_average`` window, ``ridge_lags``, ``ridge_alpha``)."""
    season: int
    """Season length in steps (1: none)."""
    train: tuple[int, int]
    """Rows ``[a, b)`` a baseline fitted on training data is fitted on; ``b`` <= the first origin."""
    drift_window: int | None
    """Rows before each origin drift's slope is taken over (None: from row 0)."""


#: ``forecast(y (T,), origins (n,), horizon, inputs) -> (n, horizon)`` in target units.
Forecast = Callable[[np.ndarray, np.ndarray, int, BaselineInputs], np.ndarray]
#: ``history(cfg, season, horizon) -> rows`` needed before the first origin.
History = Callable[["BacktestConfig", int, int], int]


@dataclass(frozen=True)
class Baseline:
    """One baseline: its name in tables, how it forecasts, and what it needs."""

    name: str
    """Its row in the metrics tables and its column in ``forecasts.csv``."""
    label: str
    """Its name in words, for people (``seasonal naive``)."""
    forecast: Forecast
    history: History
    """Rows of history it needs before its first origin (a fitted one: its training rows)."""
    needs_season: bool = False
    """Whether its forecast reads ``BaselineInputs.season``."""
    interval_lag: IntervalLag = IntervalLag.RUN
    """How its interval residuals are scaled (every built-in one: like the run's model)."""
    fitted_on_train: bool = False
    """Whether it is fitted on ``BaselineInputs.train``: refitted at every refit point of a
    backtest and, for interval calibration, on the rows before the calibration origins."""


def _naive(y: np.ndarray, origins: np.ndarray, horizon: int, inputs: BaselineInputs) -> np.ndarray:
    return naive(y, origins, horizon)


def _seasonal_naive(
    y: np.ndarray, origins: np.ndarray, horizon: int, inputs: BaselineInputs
) -> np.ndarray:
    return seasonal_naive(y, origins, horizon, inputs.season)


def _drift(y: np.ndarray, origins: np.ndarray, horizon: int, inputs: BaselineInputs) -> np.ndarray:
    return drift(y, origins, horizon, window=inputs.drift_window)


def _moving_average(
    y: np.ndarray, origins: np.ndarray, horizon: int, inputs: BaselineInputs
) -> np.ndarray:
    return moving_average(y, origins, horizon, inputs.cfg.moving_average)


def _ridge(y: np.ndarray, origins: np.ndarray, horizon: int, inputs: BaselineInputs) -> np.ndarray:
    cfg, (a, b) = inputs.cfg, inputs.train
    return ridge_predict(ridge_fit(y[a:b], cfg.ridge_lags, horizon, cfg.ridge_alpha), y, origins)


#: Every baseline the engine knows, by name, in report order. A new baseline is one new record.
REGISTRY: dict[str, Baseline] = {
    b.name: b
    for b in (
        Baseline("naive", "naive", _naive, lambda cfg, season, horizon: 1),
        Baseline(
            "seasonal_naive",
            "seasonal naive",
            _seasonal_naive,
            lambda cfg, season, horizon: season,
            needs_season=True,
        ),
        Baseline("drift", "drift", _drift, lambda cfg, season, horizon: 2),
        Baseline(
            "moving_average",
            "moving average",
            _moving_average,
            lambda cfg, season, horizon: cfg.moving_average,
        ),
        Baseline(
            "ridge",
            "Ridge",
            _ridge,
            lambda cfg, season, horizon: cfg.ridge_lags + horizon,
            fitted_on_train=True,
        ),
    )
}

#: The names of the built-in baselines, in report order.
BASELINES: tuple[str, ...] = tuple(REGISTRY)


def names() -> tuple[str, ...]:
    """The names of every registered baseline, in report order."""
    return tuple(REGISTRY)


def lookup(methods: Iterable[str]) -> list[Baseline]:
    """The records of ``methods``, in the given order; a one-line ConfigError names unknown ones."""
    methods = list(methods)
    unknown = [m for m in methods if m not in REGISTRY]
    if unknown:
        raise ConfigError(f"unknown baseline(s) {unknown} — choose from {list(REGISTRY)}")
    return [REGISTRY[m] for m in methods]


def best_baseline(errors: Mapping[str, float]) -> str | None:
    """The baseline with the lowest error among ``errors`` (method -> error; names that are not
    baselines, such as the model's or ``challenger``, are ignored). Non-finite errors rank last,
    ties go to the report order; ``None`` when no baseline is there."""
    have = [b for b in REGISTRY if b in errors]
    return min(have, key=lambda b: errors[b] if np.isfinite(errors[b]) else np.inf, default=None)


def usable_baselines(cfg: BacktestConfig, season: int, horizon: int, history: int) -> list[str]:
    """The baselines that ``history`` rows before the first origin are enough for, in report order."""
    return [b.name for b in REGISTRY.values() if b.history(cfg, season, horizon) <= history]


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
    """``{method: (n_origins, horizon)}`` for ``methods`` (in their order) from the same origins.

    Baselines fitted on training rows (Ridge) are fitted on ``y[ridge_train[0]:ridge_train[1]]``;
    drift's slope is taken over the last ``drift_window`` rows (None: from row 0).
    """
    inputs = BaselineInputs(cfg, season, ridge_train, drift_window)
    return {b.name: b.forecast(y, origins, horizon, inputs) for b in lookup(methods)}
