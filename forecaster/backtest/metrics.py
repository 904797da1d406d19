"""Forecast error metrics: pure functions, arrays in, numbers out.

Every metric takes ``actual`` and ``forecast`` of the same shape, usually ``(n_origins, horizon)``,
and an ``axis``: ``None`` (default) gives one number over all entries, ``axis=0`` gives one number per
horizon step (an array of length ``horizon``). Units:

* ``mae``, ``rmse``: target units (USD, °C, ...).
* ``mape``, ``smape``, ``directional_accuracy``: percent (0..100; sMAPE 0..200).
* ``mase``, ``skill``: unitless. MASE < 1 beats the training span's one-step naive forecast;
  skill > 0 beats the naive (last value) forecast on the same origins.

MAPE is meaningless for series that cross zero (temperatures in °C); prefer sMAPE or MASE there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

#: Columns of :func:`metric_table`, in order.
METRICS = ("mae", "rmse", "mape", "smape", "mase", "directional_accuracy", "skill")
#: Units of each metric, for tables and reports.
UNITS = {
    "mae": "target units",
    "rmse": "target units",
    "mape": "%",
    "smape": "%",
    "mase": "ratio",
    "directional_accuracy": "%",
    "skill": "1 - MAE/MAE_naive",
}


def _pair(actual, forecast) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(actual, dtype=np.float64)
    f = np.asarray(forecast, dtype=np.float64)
    if a.shape != f.shape:
        raise ValueError(f"actual {a.shape} and forecast {f.shape} must have the same shape")
    return a, f


def _masked_mean(values: np.ndarray, mask: np.ndarray, axis: int | None):
    """Mean of ``values`` where ``mask`` is True; NaN where nothing is counted."""
    count = mask.sum(axis=axis)
    total = np.where(mask, values, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / count
    return float(out) if axis is None else out


def mae(actual, forecast, axis: int | None = None):
    """Mean absolute error, in target units."""
    a, f = _pair(actual, forecast)
    out = np.abs(a - f).mean(axis=axis)
    return float(out) if axis is None else out


def rmse(actual, forecast, axis: int | None = None):
    """Root mean squared error, in target units."""
    a, f = _pair(actual, forecast)
    out = np.sqrt(np.square(a - f).mean(axis=axis))
    return float(out) if axis is None else out


def mape(actual, forecast, axis: int | None = None, eps: float = 1e-8):
    """Mean absolute percentage error, in %; entries with ``|actual| <= eps`` are left out (NaN if all)."""
    a, f = _pair(actual, forecast)
    keep = np.abs(a) > eps
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.abs(a - f) / np.abs(a)
    return 100.0 * _masked_mean(ratio, keep, axis)


def smape(actual, forecast, axis: int | None = None):
    """Symmetric MAPE, in % (0..200): mean of ``2|a - f| / (|a| + |f|)``; a 0/0 term counts as 0."""
    a, f = _pair(actual, forecast)
    denom = np.abs(a) + np.abs(f)
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(denom > 0, 2.0 * np.abs(a - f) / denom, 0.0)
    out = 100.0 * terms.mean(axis=axis)
    return float(out) if axis is None else out


def naive_scale(train) -> float:
    """In-sample one-step naive MAE of a training series ``(T,)``: ``mean |y[t] - y[t-1]|`` (MASE's scale)."""
    y = np.asarray(train, dtype=np.float64)
    if y.size < 2:
        return float("nan")
    return float(np.abs(np.diff(y)).mean())


def mase(actual, forecast, scale: float, axis: int | None = None):
    """Mean absolute scaled error: MAE / ``scale`` (see :func:`naive_scale`); NaN when scale <= 0."""
    err = mae(actual, forecast, axis=axis)
    if not np.isfinite(scale) or scale <= 0:
        return float("nan") if axis is None else np.full(np.shape(err), np.nan)
    return err / scale


def directional_accuracy(actual, forecast, last, axis: int | None = None):
    """Percent of entries where the forecast moves the same way as the actual, from the last observation.

    ``last``: ``(n_origins,)`` last observed value before each origin. Per entry, the direction is
    ``sign(value - last)``; entries where the actual did not move (``actual == last``) have no
    direction to call and are left out. A forecast that stays flat never counts as right.
    """
    a, f = _pair(actual, forecast)
    base = np.asarray(last, dtype=np.float64)
    if a.ndim == 2:
        base = base.reshape(-1, 1)
    true_dir = np.sign(a - base)
    hit = (np.sign(f - base) == true_dir).astype(np.float64)
    return 100.0 * _masked_mean(hit, true_dir != 0, axis)


def skill(actual, forecast, reference, axis: int | None = None):
    """Skill against a reference forecast (the naive one): ``1 - MAE(forecast) / MAE(reference)``.

    1 is perfect, 0 is no better than the reference, negative is worse; NaN if the reference is exact.
    """
    ref = np.asarray(mae(actual, reference, axis=axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 1.0 - np.asarray(mae(actual, forecast, axis=axis)) / np.where(ref > 0, ref, np.nan)
    return float(out) if axis is None else out


def diebold_mariano(actual, forecast, reference, lag: int) -> tuple[float, float]:
    """One-sided Diebold-Mariano test that ``forecast`` has a lower MAE than ``reference``.

    ``actual``, ``forecast``, ``reference``: ``(n_origins, horizon)`` over consecutive origins. The
    loss differential per origin is ``d_i = mean_h |e_forecast| - mean_h |e_reference|`` (units); its
    mean's variance is the Newey-West (Bartlett) estimate with ``lag`` lags, which covers the
    overlap of neighbouring multi-step forecasts (use ``lag >= horizon - 1``).

    Returns ``(t, p)``: the statistic (negative when ``forecast`` is better) and the p-value of "no
    better than the reference" (``Phi(t)``); a small p means the gain is unlikely to be luck.
    Identical forecasts give ``(0, 0.5)``.
    """
    a, f = _pair(actual, forecast)
    _, r = _pair(actual, reference)
    d = np.abs(a - f).reshape(len(a), -1).mean(axis=1) - np.abs(a - r).reshape(len(a), -1).mean(
        axis=1
    )
    n = len(d)
    if n < 2:
        return 0.0, 0.5
    dc = d - d.mean()
    var = dc @ dc / n
    for k in range(1, min(lag, n - 1) + 1):
        var += 2.0 * (1.0 - k / (lag + 1)) * (dc[k:] @ dc[:-k]) / n
    if not np.isfinite(var):
        return 0.0, 0.5
    if var <= 0:  # a constant differential: certain either way
        mean = float(d.mean())
        return (0.0, 0.5) if mean == 0 else (math.copysign(math.inf, mean), float(mean > 0))
    t = float(d.mean() / np.sqrt(var / n))
    return t, float(0.5 * math.erfc(-t / math.sqrt(2.0)))


def all_metrics(actual, forecast, last, scale: float, axis: int | None = None) -> dict:
    """Every metric of :data:`METRICS` for one method: numbers (``axis=None``) or per-step arrays."""
    a, f = _pair(actual, forecast)
    base = np.asarray(last, dtype=np.float64)
    naive_fc = (
        np.broadcast_to(base.reshape(-1, 1), a.shape)
        if a.ndim == 2
        else np.broadcast_to(base, a.shape)
    )
    return {
        "mae": mae(a, f, axis),
        "rmse": rmse(a, f, axis),
        "mape": mape(a, f, axis),
        "smape": smape(a, f, axis),
        "mase": mase(a, f, scale, axis),
        "directional_accuracy": directional_accuracy(a, f, base, axis),
        "skill": skill(a, f, naive_fc, axis),
    }


def metric_table(actual, forecasts: Mapping[str, np.ndarray], last, scale: float) -> pd.DataFrame:
    """Overall metrics: one row per method (in the order given), one column per metric of :data:`METRICS`.

    ``actual`` and each forecast: ``(n_origins, horizon)``; ``last``: ``(n_origins,)`` last observed
    values (directional accuracy, and the naive reference for skill); ``scale``: MASE's scale.
    """
    rows = {name: all_metrics(actual, fc, last, scale) for name, fc in forecasts.items()}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(METRICS))
    table.index.name = "method"
    return table


def step_metric_table(
    actual, forecasts: Mapping[str, np.ndarray], last, scale: float
) -> pd.DataFrame:
    """Per-horizon-step metrics: index (method, step) with steps 1..horizon, one column per metric."""
    frames = []
    for name, fc in forecasts.items():
        per_step = all_metrics(actual, fc, last, scale, axis=0)
        frame = pd.DataFrame(per_step, columns=list(METRICS))
        frame.insert(0, "step", np.arange(1, len(frame) + 1))
        frame.insert(0, "method", name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).set_index(["method", "step"])
