"""The model's input matrix, built from a :class:`Series`: target, covariates, calendar.

Columns of the (T, F) float32 matrix, in order:

* column 0: the target in its own units (never globally scaled: the model normalises it per window);
* covariates, standardised with a mean/std fitted on the training rows only;
* calendar features as sin/cos pairs (hour of day, day of week, day of year);
* the *known-ahead* block, K columns last: columns whose value at a row is known before that row
  (``future``: a CSV's planned prices or promotions, a weather forecast as issued; standardised like
  covariates) and built-in features of the row's timestamp (``known``: calendar of the step,
  exchange sessions, sun position; see :mod:`forecaster.data.known`). A window reads these K
  columns over its horizon rows too: the inputs known at the origin for each forecast step.

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
    future: tuple[str, ...] = ()
    """Columns known ahead (``data.future_covariates``): an input at every forecast step."""
    future_mean: tuple[float, ...] = ()
    """Per future column, fitted on the training rows (its raw units)."""
    future_std: tuple[float, ...] = ()
    known: tuple[str, ...] = ()
    """Built-in features of each step's timestamp (``model.known``; :mod:`forecaster.data.known`)."""
    site: tuple[float, float] | None = None
    """(latitude, longitude) in degrees that sun-position features are computed for."""

    @property
    def known_names(self) -> list[str]:
        """Column names of the known-ahead block (the last :attr:`n_known` columns)."""
        from forecaster.data import known  # it reuses calendar_features below

        builtin = known.column_names(self.known) if self.known else []
        return [*self.future, *builtin]

    @property
    def target_like(self) -> tuple[tuple[int, float, float], ...]:
        """The known-ahead columns in the target's units -- a weather forecast of the target
        (``forecast_<target>``) -- as (position in the block, mean, std): the model also reads
        them normalised like the target's window."""
        like = FORECAST_PREFIX + self.target
        return tuple(
            (i, self.future_mean[i], self.future_std[i])
            for i, name in enumerate(self.future)
            if name == like
        )

    @property
    def n_known(self) -> int:
        """K: columns of the known-ahead block, read over the lookback and the horizon."""
        return len(self.known_names)

    @property
    def names(self) -> list[str]:
        """Column names of the feature matrix (target first, the known-ahead block last)."""
        cal = [f"{c}_{fn}" for c in self.calendar for fn in ("sin", "cos")]
        return [self.target, *self.covariates, *cal, *self.known_names]

    @property
    def n_features(self) -> int:
        return 1 + len(self.covariates) + 2 * len(self.calendar) + self.n_known

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (the "normalisation state" saved beside a model)."""
        d = {**asdict(self), "feature_names": self.names}
        d["site"] = None if self.site is None else list(self.site)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        """The spec of a saved model (a model saved before known-ahead inputs has none)."""
        floats = lambda key: tuple(float(v) for v in d.get(key, ()))  # noqa: E731
        site = d.get("site")
        spec = cls(
            target=str(d["target"]),
            covariates=tuple(str(c) for c in d["covariates"]),
            calendar=tuple(str(c) for c in d["calendar"]),
            mean=floats("mean"),
            std=floats("std"),
            future=tuple(str(c) for c in d.get("future", ())),
            future_mean=floats("future_mean"),
            future_std=floats("future_std"),
            known=tuple(str(c) for c in d.get("known", ())),
            site=None if site is None else (float(site[0]), float(site[1])),
        )
        if not (len(spec.mean) == len(spec.std) == len(spec.covariates)):
            raise ValueError("mean/std do not match the covariates")
        if not (len(spec.future_mean) == len(spec.future_std) == len(spec.future)):
            raise ValueError("future_mean/future_std do not match the future covariates")
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


FORECAST_PREFIX = "forecast_"
"""Columns a loader attaches with weather forecasts as issued (``forecast_temperature_2m``)."""


def forecast_columns(series: Series) -> list[str]:
    """The weather-forecast columns the loader attached to ``series`` (known ahead by nature)."""
    return [c for c in series.frame.columns if str(c).startswith(FORECAST_PREFIX)]


DEFAULT_KNOWN: tuple[str, ...] = ()
"""The built-in known-ahead features a fit uses unless ``model.known`` names them: none.
Measured with ``benchmarks/bench_known.py`` on every bundled and synthetic series (skill against
the best baseline, none -> all candidates of :func:`forecaster.data.known.candidates`): stocks
unchanged (the fits stay at their anchors), Greensboro 0.158 -> 0.131, Seattle 0.146 -> 0.103,
ar2 0.030 -> 0.015 (calendar only). They are opt-in (``--known``) where a user knows they matter."""


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
def resolve_covariates(
    series: Series, covariates: list[str] | None, future: Sequence[str] = ()
) -> list[str]:
    """``None`` -> the source default; the target is always column 0, so it is never a covariate,
    and a column known ahead (``future``) is read in the known-ahead block, not here."""
    names = default_covariates(series) if covariates is None else list(covariates)
    seen: list[str] = []
    for name in names:
        if name != series.target and name not in seen and name not in future:
            seen.append(name)
    return seen


@dataclass(frozen=True)
class Inputs:
    """What the model reads besides the target, as the config names it: past covariates (None:
    the source default), calendar (None: by frequency), columns known ahead, built-in known-ahead
    features and the site their sun position is computed for."""

    covariates: list[str] | None = None
    calendar: list[str] | None = None
    future: tuple[str, ...] = ()
    known: tuple[str, ...] = ()
    site: tuple[float, float] | None = None


def fit_spec(
    series: Series,
    covariates: list[str] | None,
    calendar: list[str] | None,
    train_rows: int,
    **known: Any,
) -> FeatureSpec:
    """Choose the features and fit the scalers on rows ``[0, train_rows)`` only (``known``: the
    other fields of :class:`Inputs`)."""
    return fit_group_spec([series], Inputs(covariates, calendar, **known), [train_rows])


def fit_group_spec(
    members: Sequence[Series], inputs: Inputs, train_rows: Sequence[int]
) -> FeatureSpec:
    """One spec for a group (or a series, a group of one): the features the first member resolves
    to (every member must have them), the scalers fitted on rows ``[0, train_rows[i])`` of every
    member i, so one saved spec serves every member (and a series that was not in the group)."""
    first = members[0]
    future = tuple(inputs.future)
    names = tuple(resolve_covariates(first, inputs.covariates, future))
    for m in members[1:]:
        if (
            m.target != first.target
            or tuple(resolve_covariates(m, inputs.covariates, future)) != names
        ):
            raise DataError(
                f"group member {m.symbol} has other columns than {first.symbol} (target "
                f"{m.target} vs {first.target}) — members need the same target and covariates"
            )
    for m in members:
        check_future(m, future)
    cal = tuple(default_calendar(first.freq) if inputs.calendar is None else inputs.calendar)
    rows = list(zip(members, train_rows, strict=True))
    raw = np.concatenate([raw_covariates(m, names)[:n] for m, n in rows])
    ahead = np.concatenate([raw_covariates(m, future)[:n] for m, n in rows])
    if len(raw) < 2:
        across = " across the group" if len(members) > 1 else ""
        raise DataError(f"need at least 2 training rows{across} to fit the scaler, got {len(raw)}")
    mean, std = _scaler(raw)
    future_mean, future_std = _scaler(ahead)
    return FeatureSpec(
        target=first.target,
        covariates=names,
        calendar=cal,
        mean=mean,
        std=std,
        future=future,
        future_mean=future_mean,
        future_std=future_std,
        known=tuple(inputs.known),
        site=inputs.site,
    )


def _scaler(raw: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per column of ``raw`` (rows x columns, raw units): the mean and std of the training rows."""
    mean = raw.mean(axis=0)
    std = raw.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)  # a constant covariate is centred, not blown up
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def check_future(series: Series, future: Sequence[str]) -> None:
    """A DataError unless every column known ahead is a column of the series (not the target)."""
    for name in future:
        if name == series.target:
            raise DataError(
                f"{series.source}:{series.symbol}: '{name}' is the target — its future is what "
                "the model forecasts, so it cannot be known ahead; drop it from --future-covariates"
            )
        if name not in series.frame.columns and name.startswith(FORECAST_PREFIX):
            variable = name[len(FORECAST_PREFIX) :]
            raise DataError(
                f"{series.source}:{series.symbol}: the model reads the weather forecast of "
                f"{variable}, which was not loaded — pass --weather-forecasts {variable}"
            )
        if name not in series.frame.columns:
            raise DataError(
                f"{series.source}:{series.symbol}: future covariate '{name}' is not a column of "
                f"the series (columns: {list(series.frame.columns)}) — name a column of the file"
            )


def build_features(series: Series, spec: FeatureSpec) -> np.ndarray:
    """The input matrix (T, F) float32: target in units, standardised covariates, calendar sin/cos,
    and the known-ahead block (standardised future columns, built-in known features)."""
    if spec.target not in series.frame.columns:
        raise DataError(
            f"{series.source}:{series.symbol}: the model forecasts '{spec.target}', which the series lacks "
            f"(columns: {list(series.frame.columns)}) — load the series with that target"
        )
    target = series.frame[spec.target].to_numpy(dtype=np.float64)[:, None]
    cov = (raw_covariates(series, spec.covariates) - np.asarray(spec.mean)) / np.asarray(spec.std)
    cal = calendar_features(series.index, spec.calendar)
    check_future(series, spec.future)
    ahead = series.frame[list(spec.future)].to_numpy(dtype=np.float64)
    block = known_block(ahead, series.index, series, spec)
    return np.concatenate([target, cov, cal, block], axis=1).astype(np.float32)


def known_block(
    future: np.ndarray, stamps: pd.DatetimeIndex, series: Series, spec: FeatureSpec
) -> np.ndarray:
    """The known-ahead block (len(stamps), K) float64 at ``stamps`` (the series' rows, or the
    steps after its end): ``future`` (len(stamps), len(spec.future)) in raw units standardised
    with the training scaler, then the built-in features of each stamp."""
    scaled = (future - np.asarray(spec.future_mean)) / np.asarray(spec.future_std)
    scaled = scaled.reshape(len(stamps), len(spec.future))
    if not spec.known:
        return scaled
    from forecaster.data import known  # it reuses calendar_features below

    site = None if spec.site is None else known.Site(*spec.site)
    builtin = known.known_features(
        stamps, spec.known, freq=series.freq, calendar=series.calendar, site=site
    )
    return np.concatenate([scaled, builtin], axis=1)


def ahead_values(series: Series, spec: FeatureSpec, stamps: pd.DatetimeIndex) -> np.ndarray:
    """The known-ahead block (H, K) of the forecast steps ``stamps`` after the series' last row:
    the future columns from ``series.ahead`` (every step needs a value: else a one-line DataError
    naming the columns and the first missing time) and the built-in features of the stamps."""
    given = series.ahead if series.ahead is not None else pd.DataFrame(index=stamps[:0])
    cols = list(spec.future)
    have = given.reindex(index=stamps, columns=cols)
    missing = have.isna()
    if missing.to_numpy().any():
        lacking = [c for c in cols if missing[c].any()]
        first = stamps[missing.any(axis=1).to_numpy()][0]
        raise DataError(
            f"{series.source}:{series.symbol}: the model needs the values known ahead of "
            f"{', '.join(lacking)} for every forecast step, and they are missing from {first} "
            f"on ({len(stamps)} steps after {series.end}) — add rows for them after the "
            "target's last value in the file"
        )
    return known_block(have.to_numpy(dtype=np.float64), stamps, series, spec)
