"""Forecast error metrics: pure functions, arrays in, numbers out.

Every metric takes ``actual`` and ``forecast`` of the same shape, usually ``(n_origins, horizon)``,
and an ``axis``: ``None`` (default) gives one number over all entries, ``axis=0`` gives one number per
horizon step (an array of length ``horizon``). Units:

* ``mae``, ``rmse``: target units (USD, °C, ...).
* ``mape``, ``smape``, ``directional_accuracy``: percent (0..100; sMAPE 0..200).
* ``mase``, ``skill``: unitless. MASE < 1 beats the training span's one-step naive forecast;
  skill > 0 beats the naive (last value) forecast on the same origins.

MAPE is meaningless for series that cross zero (temperatures in °C); prefer sMAPE or MASE there.

An actual may be NaN: a value the NaN policy filled in, not observed
(:func:`~forecaster.data.series.mask_filled`). Every metric leaves such entries out and counts only
observed actuals (NaN where none is left); with none missing the plain means are used, so the
figures are exactly those of fully observed data.
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


def observed(actual) -> np.ndarray:
    """Bool mask shaped like ``actual``: True where the actual was observed (not NaN: filled)."""
    return ~np.isnan(np.asarray(actual, dtype=np.float64))


def _observed_mean(values: np.ndarray, a: np.ndarray, axis: int | None):
    """Mean of ``values`` over the entries whose actual ``a`` was observed (same shape); the plain
    mean when every actual was (bit-identical figures); NaN where none was."""
    keep = observed(a)
    if keep.all():
        out = values.mean(axis=axis)
        return float(out) if axis is None else out
    return _masked_mean(values, keep, axis)


def scored(actual, axis: int | None = None):
    """How many actuals a metric counts: the observed ones (int, or per ``axis`` an int array)."""
    out = observed(actual).sum(axis=axis)
    return int(out) if axis is None else out


def mae(actual, forecast, axis: int | None = None):
    """Mean absolute error over the observed actuals, in target units."""
    a, f = _pair(actual, forecast)
    return _observed_mean(np.abs(a - f), a, axis)


def rmse(actual, forecast, axis: int | None = None):
    """Root mean squared error over the observed actuals, in target units."""
    a, f = _pair(actual, forecast)
    out = np.sqrt(_observed_mean(np.square(a - f), a, axis))
    return float(out) if axis is None else out


def mape(actual, forecast, axis: int | None = None, eps: float = 1e-8):
    """Mean absolute percentage error, in %; entries with ``|actual| <= eps`` (or not observed) are
    left out (NaN if all)."""
    a, f = _pair(actual, forecast)
    keep = np.abs(a) > eps  # False for a NaN actual
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.abs(a - f) / np.abs(a)
    return 100.0 * _masked_mean(ratio, keep, axis)


def smape(actual, forecast, axis: int | None = None):
    """Symmetric MAPE, in % (0..200): mean of ``2|a - f| / (|a| + |f|)``; a 0/0 term counts as 0."""
    a, f = _pair(actual, forecast)
    denom = np.abs(a) + np.abs(f)
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(denom > 0, 2.0 * np.abs(a - f) / denom, 0.0)
    return 100.0 * _observed_mean(terms, a, axis)


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
    direction to call and are left out, as are actuals not observed. A forecast that stays flat
    never counts as right.
    """
    a, f = _pair(actual, forecast)
    base = np.asarray(last, dtype=np.float64)
    if a.ndim == 2:
        base = base.reshape(-1, 1)
    true_dir = np.sign(a - base)
    hit = (np.sign(f - base) == true_dir).astype(np.float64)
    return 100.0 * _masked_mean(hit, (true_dir != 0) & observed(a), axis)


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
    Identical forecasts give ``(0, 0.5)``. A NaN actual (not observed) is left out of its origin's
    means, and an origin with no observed actual drops out of the test.
    """
    a, f = _pair(actual, forecast)
    _, r = _pair(actual, reference)
    a, f, r = (x.reshape(len(a), -1) for x in (a, f, r))
    d = _observed_mean(np.abs(a - f), a, 1) - _observed_mean(np.abs(a - r), a, 1)
    d = d[~np.isnan(d)] if np.isnan(a).any() else d
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


# -- intervals ---------------------------------------------------------------------------------------
#: Columns of :func:`interval_table`, in order.
INTERVAL_METRICS = ("coverage", "width", "winkler", "pinball")


def _bounds(actual, lo, hi) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The arrays as float64 and the mask of the entries scored: the interval exists (finite
    bounds) and the actual was observed (not NaN)."""
    a, lo_ = _pair(actual, lo)
    _, hi_ = _pair(actual, hi)
    return a, lo_, hi_, np.isfinite(lo_) & np.isfinite(hi_) & observed(a)


def coverage(actual, lo, hi, axis: int | None = None):
    """Percent of actuals inside ``[lo, hi]`` (entries without an interval or an observed actual
    are left out)."""
    a, lo_, hi_, ok = _bounds(actual, lo, hi)
    return 100.0 * _masked_mean(((a >= lo_) & (a <= hi_)).astype(np.float64), ok, axis)


def width(actual, lo, hi, axis: int | None = None):
    """Mean interval width ``hi - lo``, in target units (``actual`` only marks the entries: those
    observed)."""
    _, lo_, hi_, ok = _bounds(actual, lo, hi)
    return _masked_mean(hi_ - lo_, ok, axis)


def winkler(actual, lo, hi, level: float, axis: int | None = None):
    """Interval (Winkler) score at ``level`` percent, target units; lower is better.

    ``(hi - lo) + (2/alpha)(lo - y) if y < lo, + (2/alpha)(y - hi) if y > hi``, alpha = 1 - level/100:
    the width, plus a penalty for every miss that grows with its distance.
    """
    a, lo_, hi_, ok = _bounds(actual, lo, hi)
    alpha = 1.0 - level / 100.0
    with np.errstate(invalid="ignore"):
        score = (hi_ - lo_) + (2.0 / alpha) * (
            np.clip(lo_ - a, 0.0, None) + np.clip(a - hi_, 0.0, None)
        )
    return _masked_mean(score, ok, axis)


def pinball(actual, quantile_forecast, q: float, axis: int | None = None):
    """Pinball (quantile) loss of a forecast of the ``q`` quantile (0 < q < 1), target units."""
    a, f = _pair(actual, quantile_forecast)
    diff = a - f
    with np.errstate(invalid="ignore"):
        loss = np.maximum(q * diff, (q - 1.0) * diff)
    return _masked_mean(loss, np.isfinite(f) & observed(a), axis)


def interval_metrics(actual, lo, hi, level: float, axis: int | None = None) -> dict:
    """Coverage (%), mean width and Winkler score (units), and the mean pinball loss of the two
    bounds as the ``alpha/2`` and ``1 - alpha/2`` quantiles (units), for one method and level."""
    alpha = 1.0 - level / 100.0
    return {
        "coverage": coverage(actual, lo, hi, axis),
        "width": width(actual, lo, hi, axis),
        "winkler": winkler(actual, lo, hi, level, axis),
        "pinball": 0.5
        * (pinball(actual, lo, alpha / 2, axis) + pinball(actual, hi, 1 - alpha / 2, axis)),
    }


def interval_table(actual, intervals: Mapping[str, Mapping[float, tuple]]) -> pd.DataFrame:
    """Interval metrics, index (method, level), columns :data:`INTERVAL_METRICS`.

    ``intervals[method][level] = (lo, hi)``, each shaped like ``actual`` ``(n_origins, horizon)``.
    """
    rows = {
        (name, float(level)): interval_metrics(actual, lo, hi, level)
        for name, by_level in intervals.items()
        for level, (lo, hi) in by_level.items()
    }
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(INTERVAL_METRICS))
    table.index = pd.MultiIndex.from_tuples(list(rows), names=["method", "level"])
    return table


def step_coverage_table(actual, intervals: Mapping[str, Mapping[float, tuple]]) -> pd.DataFrame:
    """Coverage (%) per horizon step: index (method, level), columns steps 1..H."""
    rows = {
        (name, float(level)): coverage(actual, lo, hi, axis=0)
        for name, by_level in intervals.items()
        for level, (lo, hi) in by_level.items()
    }
    h = np.shape(actual)[1]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(range(1, h + 1)))
    table.index = pd.MultiIndex.from_tuples(list(rows), names=["method", "level"])
    return table


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
