"""The model's input matrix, built from a :class:`Series`: target, covariates, calendar.

Columns of the (T, F) float32 matrix, in order:

* column 0: the target in its own units (never globally scaled: the model normalises it per window);
* covariates, standardised with a mean/std fitted on the training rows only;
* calendar features as sin/cos pairs (hour of day, day of week, day of year).

Stock covariates are derived from OHLCV columns by name: ``log_return`` (log close_t / close_{t-1}),
``log_return_{n}`` (log close_t / close_{t-n}), ``range`` ((high - low) / close), ``log_volume``
(log1p volume). Any other name is a column of the series, used as it is. Every feature at row t
uses only rows <= t; a return whose earlier price does not exist yet is 0.

The fitted state is a :class:`FeatureSpec`: plain names and floats that round-trip through JSON,
so a saved model rebuilds exactly the features it was trained on, without refitting.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecaster.data.series import TRADING_DAYS, Series
from forecaster.errors import DataError

OHLCV = ("open", "high", "low", "close", "volume")
STOCK_COVARIATES = ("log_return", "range", "log_volume")
CALENDAR = ("hour", "dayofweek", "dayofyear")
_LOG_RETURN_N = re.compile(r"^log_return_(\d+)$")


@dataclass(frozen=True)
class FeatureSpec:
    """Which features, in which order, and the covariate scaler fitted on the training rows."""

    target: str
    covariates: tuple[str, ...]
    calendar: tuple[str, ...]
    mean: tuple[float, ...]
    """Per covariate, fitted on the training rows (units of the raw covariate)."""
    std: tuple[float, ...]

    @property
    def names(self) -> list[str]:
        """Column names of the feature matrix (target first)."""
        cal = [f"{c}_{fn}" for c in self.calendar for fn in ("sin", "cos")]
        return [self.target, *self.covariates, *cal]

    @property
    def n_features(self) -> int:
        return 1 + len(self.covariates) + 2 * len(self.calendar)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (the "normalisation state" saved beside a model)."""
        return {**asdict(self), "feature_names": self.names}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        spec = cls(
            target=str(d["target"]),
            covariates=tuple(str(c) for c in d["covariates"]),
            calendar=tuple(str(c) for c in d["calendar"]),
            mean=tuple(float(v) for v in d["mean"]),
            std=tuple(float(v) for v in d["std"]),
        )
        if not (len(spec.mean) == len(spec.std) == len(spec.covariates)):
            raise ValueError("mean/std do not match the covariates")
        return spec


# -- defaults ---------------------------------------------------------------------------------------
def is_stock_frame(series: Series) -> bool:
    """True for OHLCV price frames (covariates are then derived, not taken as they are)."""
    return set(OHLCV) <= set(series.frame.columns)


def default_covariates(series: Series) -> list[str]:
    """``[log_return, range, log_volume]`` for OHLCV frames, else every column but the target."""
    if is_stock_frame(series):
        return list(STOCK_COVARIATES)
    return series.covariates


def default_calendar(freq: str) -> list[str]:
    """Hour + day of year below daily steps, day of week + day of year for days, else day of year."""
    if freq in (TRADING_DAYS, "D"):
        return ["dayofweek", "dayofyear"]
    try:
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    except (ValueError, TypeError):
        return ["dayofyear"]
    if step < pd.Timedelta(days=1):
        return ["hour", "dayofyear"]
    if step == pd.Timedelta(days=1):
        return ["dayofweek", "dayofyear"]
    return ["dayofyear"]


# -- raw features -----------------------------------------------------------------------------------
def _column(series: Series, name: str, why: str) -> np.ndarray:
    if name not in series.frame.columns:
        raise DataError(
            f"{series.source}:{series.symbol}: covariate '{why}' needs column '{name}', which the series "
            f"lacks (columns: {list(series.frame.columns)}) — choose other covariates (data.covariates)"
        )
    return series.frame[name].to_numpy(dtype=np.float64)


def _price(series: Series, why: str) -> np.ndarray:
    """The price that returns are taken of: ``close`` when present, else the target; must be > 0."""
    name = "close" if "close" in series.frame.columns else series.target
    price = _column(series, name, why)
    if (price <= 0).any():
        raise DataError(
            f"{series.source}:{series.symbol}: '{why}' needs positive prices but '{name}' has values <= 0 "
            "— drop it from data.covariates"
        )
    return price


def _log_return(price: np.ndarray, n: int) -> np.ndarray:
    """log(p_t / p_{t-n}); 0 for the first n rows (no earlier price: causal, nothing from the future)."""
    out = np.zeros_like(price)
    if len(price) > n:
        out[n:] = np.log(price[n:] / price[:-n])
    return out


def raw_covariate(series: Series, name: str) -> np.ndarray:
    """One covariate column (T,) in its raw units; a column of the series wins over a derived name."""
    if name in series.frame.columns:
        return series.frame[name].to_numpy(dtype=np.float64)
    if name == "log_return":
        return _log_return(_price(series, name), 1)
    if m := _LOG_RETURN_N.match(name):
        n = int(m.group(1))
        if n < 1:
            raise DataError(f"covariate '{name}': the return lag must be >= 1 — e.g. log_return_5")
        return _log_return(_price(series, name), n)
    if name == "range":
        high, low = _column(series, "high", name), _column(series, "low", name)
        close = _price(series, name)
        return (high - low) / close
    if name == "log_volume":
        volume = _column(series, "volume", name)
        return np.log1p(np.clip(volume, 0.0, None))
    derived = "log_return, log_return_<n>, range, log_volume"
    raise DataError(
        f"{series.source}:{series.symbol}: unknown covariate '{name}' — use a column "
        f"({', '.join(series.covariates) or 'none besides the target'}) or one of: {derived}"
    )


def check_covariates(series: Series, names) -> Series:
    """``series`` if every name (besides the target) is a column or derivable from them; else the
    DataError of :func:`raw_covariate` naming the unknown one."""
    for name in names or ():
        if name != series.target:
            raw_covariate(series, name)
    return series


def raw_covariates(series: Series, names: tuple[str, ...] | list[str]) -> np.ndarray:
    """Covariates (T, C) float64 in raw units, in the order of ``names``."""
    if not names:
        return np.zeros((len(series), 0), dtype=np.float64)
    return np.stack([raw_covariate(series, n) for n in names], axis=1)


def calendar_features(index: pd.DatetimeIndex, names: tuple[str, ...] | list[str]) -> np.ndarray:
    """(T, 2 * len(names)) sin/cos pairs of the position in the day / week / year, in local time."""
    cols = []
    for name in names:
        if name == "hour":
            phase = (index.hour + index.minute / 60.0) / 24.0
        elif name == "dayofweek":
            phase = index.dayofweek / 7.0
        elif name == "dayofyear":
            phase = (index.dayofyear - 1) / 365.25
        else:
            raise DataError(f"unknown calendar feature '{name}' — use one of {', '.join(CALENDAR)}")
        angle = 2.0 * np.pi * np.asarray(phase, dtype=np.float64)
        cols += [np.sin(angle), np.cos(angle)]
    if not cols:
        return np.zeros((len(index), 0), dtype=np.float64)
    return np.stack(cols, axis=1)


# -- fit and apply ---------------------------------------------------------------------------------
def resolve_covariates(series: Series, covariates: list[str] | None) -> list[str]:
    """``None`` -> the source default; the target is always column 0, so it is never a covariate."""
    names = default_covariates(series) if covariates is None else list(covariates)
    seen: list[str] = []
    for name in names:
        if name != series.target and name not in seen:
            seen.append(name)
    return seen


def fit_spec(
    series: Series,
    covariates: list[str] | None,
    calendar: list[str] | None,
    train_rows: int,
) -> FeatureSpec:
    """Choose the features and fit the covariate scaler on rows ``[0, train_rows)`` only."""
    return fit_group_spec([series], covariates, calendar, [train_rows])


def fit_group_spec(
    members: Sequence[Series],
    covariates: list[str] | None,
    calendar: list[str] | None,
    train_rows: Sequence[int],
) -> FeatureSpec:
    """One spec for a group (or a series, a group of one): the features the first member resolves
    to (every member must have them), the covariate scaler fitted on rows ``[0, train_rows[i])`` of
    every member i, so one saved spec serves every member (and a series that was not in the group)."""
    first = members[0]
    names = tuple(resolve_covariates(first, covariates))
    for m in members[1:]:
        if m.target != first.target or tuple(resolve_covariates(m, covariates)) != names:
            raise DataError(
                f"group member {m.symbol} has other columns than {first.symbol} (target "
                f"{m.target} vs {first.target}) — members need the same target and covariates"
            )
    cal = tuple(default_calendar(first.freq) if calendar is None else calendar)
    raw = np.concatenate(
        [raw_covariates(m, names)[:rows] for m, rows in zip(members, train_rows, strict=True)]
    )
    if len(raw) < 2:
        across = " across the group" if len(members) > 1 else ""
        raise DataError(f"need at least 2 training rows{across} to fit the scaler, got {len(raw)}")
    return spec_from_rows(first.target, names, cal, raw)


def spec_from_rows(
    target: str, names: tuple[str, ...], calendar: tuple[str, ...], raw: np.ndarray
) -> FeatureSpec:
    """The spec whose covariate scaler is the mean/std of ``raw`` (rows x covariates, raw units):
    the training rows of one series, or of every member of a group."""
    mean = raw.mean(axis=0)
    std = raw.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)  # a constant covariate is centred, not blown up
    return FeatureSpec(
        target=target,
        covariates=names,
        calendar=calendar,
        mean=tuple(float(v) for v in mean),
        std=tuple(float(v) for v in std),
    )


def build_features(series: Series, spec: FeatureSpec) -> np.ndarray:
    """The input matrix (T, F) float32: target in units, standardised covariates, calendar sin/cos."""
    if spec.target not in series.frame.columns:
        raise DataError(
            f"{series.source}:{series.symbol}: the model forecasts '{spec.target}', which the series lacks "
            f"(columns: {list(series.frame.columns)}) — load the series with that target"
        )
    target = series.frame[spec.target].to_numpy(dtype=np.float64)[:, None]
    cov = (raw_covariates(series, spec.covariates) - np.asarray(spec.mean)) / np.asarray(spec.std)
    cal = calendar_features(series.index, spec.calendar)
    return np.concatenate([target, cov, cal], axis=1).astype(np.float32)
