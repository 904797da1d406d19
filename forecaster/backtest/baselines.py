"""Baseline forecasts: pure, vectorised over all forecast origins at once.

Every baseline has the form ``f(y, origins, horizon, ...) -> (n_origins, horizon)``:

* ``y``: the target, shape ``(T,)``, in target units.
* ``origins``: integer row positions, shape ``(n_origins,)``. Origin ``o`` forecasts rows
  ``[o, o + horizon)`` and reads only rows ``< o`` of ``y`` (no leakage, by construction).
* ``horizon``: steps of the series' frequency.

History windows are views or fancy-indexed gathers on the one array ``y`` (no per-origin Python loop),
so a thousand origins cost a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.linear_model import Ridge

#: Baselines the engine knows, in report order.
BASELINES = ("naive", "seasonal_naive", "drift", "moving_average", "ridge")


def best_baseline(errors: Mapping[str, float]) -> str | None:
    """The baseline with the lowest error among ``errors`` (method -> error; names that are not
    baselines, such as ``gru`` or ``challenger``, are ignored). Non-finite errors rank last, ties
    go to the report order; ``None`` when no baseline is there."""
    have = [b for b in BASELINES if b in errors]
    return min(have, key=lambda b: errors[b] if np.isfinite(errors[b]) else np.inf, default=None)


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
