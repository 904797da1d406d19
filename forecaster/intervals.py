"""Prediction intervals: split-conformal calibration of scaled residuals, per horizon step.

Why this method (measured with ``benchmarks/bench_intervals.py``; figures in benchmarks/README.md):

* **Model-agnostic and cheap.** It needs only out-of-sample forecasts and their actuals, so the GRU
  and every baseline get intervals the same way and their widths can be compared at equal coverage.
  Nothing is retrained; a quantile head (conformalised quantile regression) would need a second
  loss and still a conformal step, and most of our models end as their anchor anyway.
* **Scaled by the window's own variability.** A residual is divided by the spread of the changes
  over the lookback before its origin: one-step changes (the volatility the GRU normalises with),
  or season-on-season changes for a seasonal-naive model (how much a day differs from the day
  before: the error scale of seasonal naive). One calibration then serves any price level, and calm
  and turbulent weeks get narrow and wide intervals. Unscaled residuals calibrated on 2009-2011
  AAPL covered 78% instead of 95% in 2011-2013; scaled ones 93%. On Greensboro, one-step scaling
  covered 71% instead of 80% in winter after an autumn calibration; day-to-day scaling 84%.
* **Signed, per step.** Quantiles of the signed scaled residual are taken separately for each step
  h = 1..H (errors grow with the step) and for the lower and upper tail, so a biased forecast or
  skewed errors give an asymmetric interval with the right coverage.
* **Walk-forward, all earlier residuals.** In a backtest the calibration set of origin ``o`` holds
  the residuals of the calibration origins before the span plus every backtest origin whose whole
  horizon was observed before ``o`` (``o' + H <= o``): strictly earlier data only. Keeping only the
  most recent 250 (``backtest.interval_window``) helped the stocks a little and hurt Greensboro, so
  all are kept by default.
* **Adaptive levels when the errors change** (``backtest.interval_method: adaptive``, see
  :mod:`forecaster.intervals_adaptive`). Fixed quantiles calibrated in one season under-cover in
  the next (Greensboro calibrated in autumn: 73% at 80% in early winter, 67% at step 24); the
  adaptive method moves each step's quantile levels with the misses it observes, and its state
  is saved with the calibration so ``predict`` starts where the calibration ended.

For a level ``l`` (percent), with ``alpha = 1 - l/100`` and ``n`` calibration residuals per step,
the interval is ``[f + s * r_(k_lo), f + s * r_(k_hi)]``: ``f`` the point forecast, ``s`` the
window's scale, ``r_(k)`` the k-th smallest residual, ``k_hi = ceil((n + 1)(1 - alpha/2))`` and
``k_lo = floor((n + 1) alpha/2)``; the finite-sample conformal ranks. When ``k_hi > n`` there are too
few residuals for that level (``n < 2/alpha - 1``, e.g. 39 for 95%): the interval is the widest the
residuals give and it is marked ``short`` (a warning names how many are needed).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from forecaster import intervals_adaptive as adaptive
from forecaster.errors import ConfigError
from forecaster.intervals_adaptive import AdaptiveState
from forecaster.models.floors import ABS_FLOOR, REL_FLOOR

DEFAULT_LEVELS: tuple[float, ...] = (80.0, 95.0)
MAX_LEVELS = 9


def parse_levels(levels: str | Iterable[float] | None) -> tuple[float, ...]:
    """Levels in percent, sorted: ``"50,80,95"`` or ``[80, 95]``; one-line ConfigError when invalid.

    A level of 1 or less is a fraction written where a percentage belongs (``0.8,0.95`` for
    80% and 95%): an error suggesting the percentages, never a 0.8% interval.
    """
    if levels is None:
        return DEFAULT_LEVELS
    items = [p.strip() for p in levels.split(",")] if isinstance(levels, str) else list(levels)
    try:
        if any(isinstance(v, bool) for v in items):
            raise ValueError("true/false")
        values = [
            float(v.rstrip("%")) if isinstance(v, str) else float(v) for v in items if v != ""
        ]
    except (ValueError, TypeError):
        raise ConfigError(
            f"interval levels must be numbers in percent, got {str(levels)[:60]!r} — e.g. "
            "--levels 80,95"
        ) from None
    if not values:
        raise ConfigError("no interval levels given — e.g. --levels 80,95")
    fractions = [v for v in values if 0 < v < 1]
    if fractions:
        shown = ",".join(f"{v:g}" for v in values)
        percent = ",".join(f"{v * 100:g}" if 0 < v < 1 else f"{v:g}" for v in values)
        raise ConfigError(
            f"interval levels are in percent, and {shown} "
            + ("looks like a fraction" if len(fractions) == 1 else "look like fractions")
            + f" — use {percent} (e.g. --levels {percent})"
        )
    bad = [v for v in values if not 0 < v < 100 or not math.isfinite(v)]
    if bad:
        raise ConfigError(
            f"interval levels must lie strictly between 0 and 100 (percent), got {bad} — e.g. 80,95"
        )
    if len(set(values)) != len(values):
        raise ConfigError(f"interval levels repeat: {values} — give each level once")
    if len(values) > MAX_LEVELS:
        raise ConfigError(
            f"{len(values)} interval levels is too many (at most {MAX_LEVELS}) — e.g. 50,80,95"
        )
    return tuple(sorted(values))


def level_name(level: float) -> str:
    """``80.0`` -> ``"80"``, ``97.5`` -> ``"97.5"`` (column suffixes: ``lo_80``, ``hi_97.5``)."""
    return f"{level:g}"


def needed(level: float) -> int:
    """Calibration residuals per step needed for an exact conformal interval at ``level`` percent."""
    alpha = 1.0 - level / 100.0
    return math.ceil(2.0 / alpha - 1.0 - 1e-9)


def _ranks(n: int, level: float) -> tuple[int, int, bool]:
    """0-based ranks (lo, hi) of the conformal quantiles among ``n`` sorted residuals; short?"""
    alpha = 1.0 - level / 100.0
    k_hi = math.ceil((n + 1) * (1.0 - alpha / 2.0) - 1e-9)
    k_lo = math.floor((n + 1) * (alpha / 2.0) + 1e-9)
    short = k_hi > n or k_lo < 1
    return max(k_lo, 1) - 1, min(k_hi, n) - 1, short


# -- scale -------------------------------------------------------------------------------------------
def window_scale(
    y: np.ndarray, origins: np.ndarray, lookback: int, mode: str = "diff", lag: int = 1
) -> np.ndarray:
    """(n,) the spread of the ``lookback`` values before each origin, in units.

    ``diff``: std of the ``lag``-step changes ``y[t] - y[t - lag]`` inside the window (lag 1: the
    GRU's own scale; lag = the season for a seasonal anchor: how much a day differs from the day
    before, the error scale of seasonal naive); ``level``: std of the values. Floored at 1e-3 of the
    last value's magnitude (and 1e-6) so a flat window never divides by zero. ``none``: 1 (raw
    residuals in units; for comparison).
    """
    y = np.asarray(y, dtype=np.float64)
    origins = np.asarray(origins, dtype=np.int64)
    if len(origins) == 0:
        return np.zeros(0)
    if mode == "none":
        return np.ones(len(origins))
    hist = sliding_window_view(y, lookback)[origins - lookback]
    lag = lag if 1 <= lag < lookback - 1 else 1
    if mode == "diff" and lookback > 1:
        spread = (hist[:, lag:] - hist[:, :-lag]).std(axis=1)
    else:
        spread = hist.std(axis=1)
    return np.maximum(np.maximum(spread, REL_FLOOR * np.abs(hist[:, -1])), ABS_FLOOR)


def scores(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Signed scaled residuals ``(actual - forecast) / scale``: (n, H), dimensionless."""
    return (np.asarray(actual) - np.asarray(forecast)) / np.asarray(scale)[:, None]


def _float32(s: np.ndarray) -> np.ndarray:
    """float32 precision as float64: plenty for a quantile, and it round-trips through JSON exactly."""
    return np.asarray(s, dtype=np.float32).astype(np.float64)


# -- a calibration -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Calibration:
    """Sorted signed scaled residuals per horizon step, and how they were scaled.

    ``residuals``: (n, H), each column sorted ascending. ``lookback``, ``mode`` and ``lag`` say
    how a window's scale is measured (:func:`window_scale`); ``span`` the first and last
    calibration origin's time (provenance).
    """

    residuals: np.ndarray
    lookback: int
    mode: str = "diff"
    span: tuple[str, str] | None = None
    lag: int = 1
    adaptive: AdaptiveState | None = None
    """Where the adaptive method's levels stand after the calibration windows (None: split only,
    or a file saved before adaptive intervals)."""

    @classmethod
    def from_scores(
        cls,
        s: np.ndarray,
        lookback: int,
        mode: str = "diff",
        span: tuple[str, str] | None = None,
        lag: int = 1,
    ) -> Calibration:
        s = _float32(s)
        s = s[np.isfinite(s).all(axis=1)]
        return cls(np.sort(s, axis=0), lookback, mode, span, lag)

    @classmethod
    def from_windows(
        cls,
        s: np.ndarray,
        issue: np.ndarray,
        ready: np.ndarray,
        levels: Sequence[float],
        **how: Any,
    ) -> Calibration:
        """The residuals ``s`` (n, H) of windows issued at ``issue`` and observed by ``ready`` (n,)
        (one clock, e.g. nanoseconds), with the adaptive state at ``levels`` after walking them in
        order (:func:`forecaster.intervals_adaptive.walk`). ``how``: ``from_scores``' keywords."""
        cal = cls.from_scores(s, **how)
        if not levels or cal.n == 0:
            return cal
        start = AdaptiveState.start(levels, cal.horizon)
        walked = adaptive.walk(_float32(s), issue, ready, start)
        return replace(cal, residuals=walked.pool, adaptive=walked.state)

    @property
    def n(self) -> int:
        return int(self.residuals.shape[0])

    @property
    def horizon(self) -> int:
        return int(self.residuals.shape[1])

    def bounds(self, level: float) -> tuple[np.ndarray, np.ndarray, bool]:
        """Scaled residual quantiles (lo (H,), hi (H,)) for ``level`` percent, and whether short."""
        if self.n == 0:
            nan = np.full(self.horizon, np.nan)
            return nan, nan, True
        lo, hi, short = _ranks(self.n, level)
        return self.residuals[lo], self.residuals[hi], short

    def median(self) -> np.ndarray:
        """(H,) the median scaled residual per step (the bias of the point forecast, in scale units)."""
        if self.n == 0:
            return np.zeros(self.horizon)
        return np.median(self.residuals, axis=0)

    def adaptive_bounds(self, level: float) -> tuple[np.ndarray, np.ndarray, bool] | None:
        """:meth:`bounds` at the adaptive state's levels; None when it has no state for ``level``."""
        i = self.adaptive.index(level) if self.adaptive is not None else None
        if i is None:
            return None
        lo, hi = adaptive.bounds(self.residuals.T, self.adaptive)
        return lo[i], hi[i], self.n < needed(level)

    def intervals(
        self,
        forecast: np.ndarray,
        scale: np.ndarray,
        levels: Sequence[float],
        method: str = "split",
    ) -> Intervals:
        """Intervals around ``forecast`` (m, H) with window scales ``scale`` (m,), per level.

        ``method``: ``split``, or ``adaptive`` (the adaptive state's levels; split-conformal for a
        level the state does not hold, e.g. one asked of ``predict`` but not calibrated)."""
        forecast = np.asarray(forecast, dtype=np.float64)
        s = np.asarray(scale, dtype=np.float64)[:, None]
        out: dict[float, tuple[np.ndarray, np.ndarray]] = {}
        short: list[float] = []
        for level in levels:
            moved = self.adaptive_bounds(level) if method == "adaptive" else None
            lo, hi, is_short = moved if moved is not None else self.bounds(level)
            out[level] = (forecast + s * lo, forecast + s * hi)
            if is_short:
                short.append(level)
        median = forecast + s * self.median()
        return Intervals(out, median, tuple(short))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable (``calibration.json`` beside a model): never pickle."""
        return {
            "method": "split-conformal, signed residuals scaled by the window spread, per step",
            "mode": self.mode,
            "lookback": self.lookback,
            "lag": self.lag,
            "n": self.n,
            "horizon": self.horizon,
            "span": list(self.span) if self.span else None,
            # the shortest text that reads back as the same float32
            "residuals": [
                [float(str(v)) for v in col.astype(np.float32)] for col in self.residuals.T
            ],
        } | ({"adaptive": self.adaptive.to_dict()} if self.adaptive is not None else {})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        cols = [np.asarray(c, dtype=np.float32).astype(np.float64) for c in d["residuals"]]
        if not cols or len({len(c) for c in cols}) != 1:
            raise ValueError("residuals must be one equally long list per step")
        span = tuple(d["span"]) if d.get("span") else None
        mode, lag = str(d.get("mode", "diff")), int(d.get("lag", 1))
        state = AdaptiveState.from_dict(d["adaptive"]) if d.get("adaptive") else None
        if state is not None and state.horizon != len(cols):
            raise ValueError("the adaptive state's horizon differs from the residuals'")
        return cls(np.stack(cols, axis=1), int(d["lookback"]), mode, span, lag, state)

    def summary(self, levels: Sequence[float] = DEFAULT_LEVELS) -> list[str]:
        """Lines for people: residuals, span, and the scaled half-widths at the first/last step."""
        lines = [
            f"calibration: {self.n} origins x {self.horizon} steps"
            + (f", {self.span[0]} .. {self.span[1]}" if self.span else "")
            + f"; residuals scaled by the spread of the {self.lag}-step changes over the last "
            f"{self.lookback} steps"
            if self.mode == "diff"
            else f"; residuals scaled by the {self.mode} spread of the last {self.lookback} steps"
        ]
        for level in levels:
            lo, hi, short = self.bounds(level)
            mark = f"  (short: needs {needed(level)})" if short else ""
            lines.append(
                f"  {level_name(level)}%: step 1 [{lo[0]:+.3g}, {hi[0]:+.3g}] x scale, "
                f"step {self.horizon} [{lo[-1]:+.3g}, {hi[-1]:+.3g}] x scale{mark}"
            )
        if self.adaptive is not None:
            lines.append(_adaptive_line(self.adaptive))
        return lines


def _adaptive_line(state: AdaptiveState) -> str:
    """The adaptive offsets in use at the first and last step, per tail (for people)."""
    u = state.offsets()
    unit = "x split half-width" if state.space == "score" else "(minus the tail level)"
    parts = [
        f"{level_name(level)}% lo/hi {u[i, 0, 0]:+.3f}/{u[i, 1, 0]:+.3f} (step 1), "
        f"{u[i, 0, -1]:+.3f}/{u[i, 1, -1]:+.3f} (step {state.horizon})"
        for i, level in enumerate(state.levels)
    ]
    return f"  adaptive offsets {unit} after {state.windows} windows: " + "; ".join(parts)


@dataclass(frozen=True)
class Intervals:
    """Interval bounds per level for m forecasts: ``bounds[level] = (lo (m, H), hi (m, H))``."""

    bounds: dict[float, tuple[np.ndarray, np.ndarray]]
    median: np.ndarray
    """(m, H) the point forecast shifted by the median residual."""
    short: tuple[float, ...]
    """Levels with too few calibration residuals (the interval is as wide as they go, not exact)."""


# -- walk-forward -------------------------------------------------------------------------------------
def walk_forward(
    calib_scores: np.ndarray,
    calib_origins: np.ndarray,
    span_scores: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    levels: Sequence[float],
    window: int | None = None,
) -> tuple[dict[float, tuple[np.ndarray, np.ndarray]], dict[float, np.ndarray]]:
    """Scaled residual quantiles for every origin from strictly earlier residuals only.

    ``calib_scores`` (k, H) at ``calib_origins`` (k,) before the span; ``span_scores`` (n, H) at
    ``origins`` (n,), the backtest's own. Origin ``o`` uses the residuals of every origin ``o'`` with
    ``o' + horizon <= o`` (its targets were observed before ``o``), the most recent ``window`` of them
    when given. Returns per level ``(lo (n, H), hi (n, H))`` in scale units, and per level a bool
    (n,) marking origins with too few residuals. Only the ranks the levels need are ordered (a
    partial sort per origin), which gives the same values as sorting the whole pool.
    """
    all_scores = np.concatenate([calib_scores, span_scores])
    all_origins = np.concatenate([calib_origins, origins])
    order = np.argsort(all_origins, kind="stable")
    all_scores, all_origins = all_scores[order], all_origins[order]
    finite = np.isfinite(all_scores).all(axis=1)
    all_scores, all_origins = all_scores[finite], all_origins[finite]
    available = np.searchsorted(all_origins, origins - horizon, side="right")  # o' <= o - H
    n, H = len(origins), all_scores.shape[1] if all_scores.ndim == 2 else horizon
    lo = {lv: np.full((n, H), np.nan) for lv in levels}
    hi = {lv: np.full((n, H), np.nan) for lv in levels}
    short = {lv: np.ones(n, dtype=bool) for lv in levels}
    for i, end in enumerate(available):
        begin = max(0, end - window) if window else 0
        if end - begin == 0:
            continue
        ranks = {lv: _ranks(end - begin, lv) for lv in levels}
        kth = sorted({r for a, b, _ in ranks.values() for r in (a, b)})
        pool = np.partition(all_scores[begin:end], kth, axis=0)
        for lv, (a, b, is_short) in ranks.items():
            lo[lv][i], hi[lv][i], short[lv][i] = pool[a], pool[b], is_short
    return {lv: (lo[lv], hi[lv]) for lv in levels}, short


def walk_forward_by(
    method: str,
    calib_scores: np.ndarray,
    calib_origins: np.ndarray,
    span_scores: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    levels: Sequence[float],
    window: int | None = None,
) -> tuple[dict[float, tuple[np.ndarray, np.ndarray]], dict[float, np.ndarray]]:
    """:func:`walk_forward` (``split``) or its adaptive form (``adaptive``), with the same result."""
    if method == "split":
        return walk_forward(
            calib_scores, calib_origins, span_scores, origins, horizon, levels, window
        )
    if method != "adaptive":
        raise ConfigError(f"interval method {method!r} is unknown — choose from {adaptive.METHODS}")
    q, sizes = adaptive.walk_forward(
        calib_scores, calib_origins, span_scores, origins, horizon, levels, window
    )
    return q, {lv: sizes < needed(lv) for lv in levels}


def observe(cal: Calibration, model: Any, members: Sequence[Any]) -> Calibration:
    """``cal`` with every window of ``members`` observed since its span ended folded in
    (:func:`forecaster.intervals_adaptive.update_state`): what the nightly job keeps a served
    model's intervals current with.

    ``model``: forecasts with ``predict_origins(series, origins)`` and has ``lookback``/``horizon``
    (a :class:`~forecaster.fitted.FittedModel`); ``members``: its series (one, or a group's). A
    window is new when its origin is after ``cal.span``'s end and its whole horizon is observed.
    """
    L, H = model.lookback, model.horizon
    after = pd.Timestamp(cal.span[1]) if cal.span else None
    parts, issue, ready, newest = [], [], [], []
    for series in members:
        origins = np.arange(max(L, cal.lookback), len(series) - H + 1, dtype=np.int64)
        if after is not None:
            origins = origins[series.index[origins] > after]
        if not len(origins):
            continue
        y = series.values
        actual = y[origins[:, None] + np.arange(H)]
        scale = window_scale(y, origins, cal.lookback, cal.mode, cal.lag)
        parts.append(scores(actual, model.predict_origins(series, origins), scale))
        stamps = series.index.as_unit("ns").asi8
        issue.append(stamps[origins])
        ready.append(stamps[origins + H - 1])
        newest.append(series.index[origins[-1]])
    if not parts:
        return cal
    return adaptive.update_state(
        cal,
        np.concatenate(parts),
        np.concatenate(issue),
        np.concatenate(ready),
        levels=cal.adaptive.levels if cal.adaptive is not None else DEFAULT_LEVELS,
        span_end=str(max(newest)),
    )
