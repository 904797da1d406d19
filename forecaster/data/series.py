"""The one canonical series format, and the one validation step that produces it.

Every adapter ends in :func:`validate`; everything after the adapters trusts a :class:`Series`:

* ``frame``: a pandas DataFrame of float64 columns, indexed by a tz-aware ``DatetimeIndex`` named
  ``time``, sorted, unique, with no NaN or inf.
* ``freq``: a pandas offset alias. ``"B"`` means *trading sessions*: one row per session, weekends
  never present, market holidays simply absent (not filled). Every other frequency (``"h"``, ``"D"``,
  ``"15min"``, ...) is a regular grid: missing stamps are inserted and then handled by the NaN policy.
* ``target``: the column to forecast; the other columns are covariates.
* ``calendar``: the exchange calendar of a trading-day or intraday series (``XNYS``; see
  :mod:`forecaster.data.calendars`), or ``None``. With one, validation knows the sessions (a
  holiday is not missing; a session the data lacks is a gap for the NaN policy, listed in
  ``missing_sessions``) and forecasts are stamped at real sessions. Without one, ``"B"`` means
  weekdays and a run of more than ``MAX_SESSION_GAP`` absent weekdays is an error.

NaN policy (documented in the README): leading and trailing rows with missing values are trimmed (an
archive API often has no data yet for the last hours); inside the span, runs of at most ``max_gap``
consecutive missing steps are filled (forward-filled by default, or interpolated; ``fill="none"``
fills nothing); a longer run is an error that names the column, the span and the fix. One
timestamp with differing rows is an error unless ``duplicates`` says which to keep. What
validation did is recorded in ``Series.notes``. The steps are in :mod:`forecaster.data.cleaning`.

Filled values are not data: ``Series.filled`` lists the rows whose target was filled (kept through
slicing), :func:`mask_filled` blanks them in actual windows so scores leave them out, and a series
whose values were more than :data:`HEAVY_FILL` filled in is warned about.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from forecaster.data import cleaning
from forecaster.data.cleaning import MAX_SESSION_GAP, TRADING_DAYS, Duplicates, Fill, target_first
from forecaster.errors import DataError

__all__ = [
    "HEAVY_FILL",
    "MAX_SESSION_GAP",
    "TRADING_DAYS",
    "Series",
    "infer_freq",
    "interval_matches",
    "is_intraday",
    "mask_filled",
    "missing_steps",
    "require_length",
    "target_first",
    "validate",
]
log = logging.getLogger(__name__)

HEAVY_FILL = 0.2
"""A column with more than this share of its values filled in by the NaN policy is warned about:
a fifth of a series drawn as lines (or repeated values) is no longer mostly data."""


def _no_stamps() -> pd.DatetimeIndex:
    return pd.DatetimeIndex([], tz="UTC", name="time")


@dataclass(frozen=True)
class Series:
    """A validated series: ``frame`` (T rows x C float64 columns), its ``target`` column and ``freq``.

    ``source`` names where it came from (``yahoo``, ``open-meteo``, ``csv``, ``snapshot``, or
    ``cache``), ``symbol`` what (``AAPL``, ``greensboro``, a file name). ``units`` maps columns to
    units (``"USD"``, ``"°C"``). ``notes`` lists what validation changed (filled gaps, sorted rows).
    ``calendar`` names the exchange calendar (``XNYS``) of trading-day and intraday series, else
    ``None``; ``missing_sessions`` are the calendar's sessions the raw data lacked (rows that
    validation inserted and the NaN policy filled). ``filled``: the stamps whose target value
    the NaN policy filled in (not data: see :meth:`filled_mask` and :func:`mask_filled`).
    """

    frame: pd.DataFrame
    target: str
    freq: str
    source: str = "unknown"
    symbol: str = "series"
    units: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    calendar: str | None = None
    missing_sessions: tuple[pd.Timestamp, ...] = ()
    filled: pd.DatetimeIndex = field(default_factory=_no_stamps)
    ahead: pd.DataFrame | None = field(default=None, repr=False)
    """Values known ahead for the stamps after the last row (float64 columns, same time zone),
    e.g. a CSV's rows beyond the target's last value or a weather forecast; None: none given.
    Not part of the data: :meth:`fingerprint` and slicing leave it out of the rows."""

    @property
    def index(self) -> pd.DatetimeIndex:
        return self.frame.index  # type: ignore[return-value]

    @property
    def covariates(self) -> list[str]:
        return [c for c in self.frame.columns if c != self.target]

    @property
    def start(self) -> pd.Timestamp:
        return self.frame.index[0]

    @property
    def end(self) -> pd.Timestamp:
        return self.frame.index[-1]

    @property
    def values(self) -> np.ndarray:
        """The target as a float64 array of shape (T,)."""
        return self.frame[self.target].to_numpy(dtype=np.float64)

    def __len__(self) -> int:
        return len(self.frame)

    def filled_mask(self) -> np.ndarray:
        """(T,) bool: True where the target value was filled in by the NaN policy, not observed."""
        if len(self.filled) == 0:
            return np.zeros(len(self.frame), dtype=bool)
        return self.frame.index.isin(self.filled)

    def fingerprint(self) -> str:
        """SHA-256 (first 16 hex digits) of timestamps, column names and values: identifies the data."""
        h = hashlib.sha256()
        h.update(self.frame.index.asi8.tobytes())
        h.update("|".join(map(str, self.frame.columns)).encode())
        h.update(np.ascontiguousarray(self.frame.to_numpy(dtype=np.float64)).tobytes())
        return h.hexdigest()[:16]

    def with_frame(self, frame: pd.DataFrame) -> Series:
        """The same series metadata over another (already valid) frame, e.g. a slice."""
        return replace(
            self, frame=frame, ahead=self.ahead if frame.index.equals(self.index) else None
        )

    def until(self, end: pd.Timestamp | str, inclusive: bool = False) -> Series:
        """Rows strictly before ``end`` (or up to and including it)."""
        end = _as_stamp(end, self.frame.index.tz)
        mask = self.frame.index <= end if inclusive else self.frame.index < end
        return self.with_frame(self.frame.loc[mask])

    def between(self, start=None, end=None) -> Series:
        """Rows with ``start <= time < end`` (either bound optional)."""
        mask = np.ones(len(self.frame), dtype=bool)
        tz = self.frame.index.tz
        if start is not None:
            mask &= self.frame.index >= _as_stamp(start, tz)
        if end is not None:
            mask &= self.frame.index < _as_stamp(end, tz)
        return self.with_frame(self.frame.loc[mask])

    def describe(self) -> dict:
        """Span, rows, frequency, gaps and first/last target values: a first look at the series."""
        first, last = self.frame[self.target].iloc[0], self.frame[self.target].iloc[-1]
        return {
            "source": self.source,
            "symbol": self.symbol,
            "target": self.target,
            "unit": self.units.get(self.target, ""),
            "columns": list(self.frame.columns),
            "rows": len(self.frame),
            "freq": self.freq,
            "start": str(self.start),
            "end": str(self.end),
            "first": float(first),
            "last": float(last),
            "missing_steps": missing_steps(self.frame.index, self.freq),
            "calendar": self.calendar,
            **self.session_counts(),
            "notes": list(self.notes),
        }

    def session_counts(self) -> dict[str, int]:
        """For trading days on a calendar: ``holidays`` (weekdays the calendar does not trade, not
        missing) and ``missing_sessions`` (sessions the raw data lacked, filled); else empty."""
        if self.calendar is None or self.freq != TRADING_DAYS or len(self) == 0:
            return {}
        from forecaster.data import calendars

        return {
            "holidays": calendars.closed_weekdays(self.calendar, self.start, self.end),
            "missing_sessions": len(self.missing_sessions),
        }


def _as_stamp(value, tz) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None and tz is not None:
        stamp = stamp.tz_localize(tz)
    elif stamp.tzinfo is not None and tz is not None:
        stamp = stamp.tz_convert(tz)
    return stamp


def infer_freq(index: pd.DatetimeIndex) -> str:
    """The series' step as a pandas alias: the most common spacing; daily weekday-only data is ``"B"``."""
    if len(index) < 3:
        raise DataError(
            f"cannot tell the frequency of a series with {len(index)} rows — need at least 3 timestamps"
        )
    # asi8 counts in the index's own unit (pandas 3 parses to microseconds): compare in ns
    deltas = pd.Series(np.diff(index.as_unit("ns").asi8)).value_counts()
    step = pd.Timedelta(int(deltas.index[0]), unit="ns")
    if step <= pd.Timedelta(0):
        raise DataError("timestamps do not advance — check the time column")
    if step == pd.Timedelta(days=1) or (
        pd.Timedelta(days=1) < step <= pd.Timedelta(days=3) and (index.dayofweek < 5).all()
    ):
        if (index.dayofweek < 5).all() and len(index) >= 10:
            return TRADING_DAYS
        return "D"
    return pd.tseries.frequencies.to_offset(step).freqstr


def missing_steps(index: pd.DatetimeIndex, freq: str) -> int:
    """How many stamps of the regular grid between first and last are absent (holidays for ``"B"``)."""
    if len(index) == 0:
        return 0
    naive = index.tz_localize(None) if index.tz is not None else index
    grid = pd.date_range(naive[0], naive[-1], freq=freq)
    return int(len(grid.difference(naive)))


def validate(
    frame: pd.DataFrame,
    target: str,
    *,
    freq: str | None = None,
    tz: str | None = "UTC",
    max_gap: int = 3,
    duplicates: Duplicates = "error",
    fill: Fill = "ffill",
    source: str = "unknown",
    symbol: str = "series",
    units: dict[str, str] | None = None,
    columns: Iterable[str] | None = None,
    sessions: bool = False,
    calendar: str | None = None,
) -> Series:
    """Turn a raw frame into a canonical :class:`Series`, or raise a one-line :class:`DataError`.

    ``frame`` is indexed by time (anything ``pd.to_datetime`` parses); naive stamps are wall-clock
    times in ``tz``, aware ones keep their zone. ``columns`` selects value columns (the target put
    first); ``freq`` is inferred when not given. ``duplicates`` (``error|first|last|mean``) and
    ``fill`` (``ffill|interpolate|none``, gaps of at most ``max_gap`` steps): see the module.
    ``sessions=True``: intraday bars of trading hours (closed hours absent by design, no stamps
    inserted). ``calendar``: an exchange calendar (``XNYS``) for trading days (its sessions are
    the grid, :func:`~forecaster.data.cleaning.session_grid`) or intraday bars (as ``sessions``);
    for any other frequency it is a DataError. The steps, and their notes (what each changed,
    with counts: ``Series.notes``), are in :mod:`forecaster.data.cleaning`.
    """
    label = f"{source}:{symbol}"
    if frame is None or len(frame) == 0:
        raise DataError(
            f"{label}: the series is empty — check the symbol, the span (--start/--end) or the file"
        )
    calendar = _canonical(calendar)
    cols = None if columns is None else list(columns)
    opts = cleaning.Options(
        label, target, cols, tz, freq, sessions, None, max_gap, duplicates, fill
    )
    frame, notes = cleaning.run(frame, opts, cleaning.SHAPE_STEPS)
    opts = _grid_options(opts, freq or infer_freq(frame.index), calendar)
    shaped = frame.index
    frame, more = cleaning.run(frame, opts, cleaning.GAP_STEPS)
    gaps = frame.isna()
    frame, filled_notes = cleaning.run(frame, opts, cleaning.FILL_STEPS)
    _warn_if_mostly_filled(gaps, opts)
    return Series(
        frame=frame,
        target=target,
        freq=opts.freq,
        source=source,
        symbol=symbol,
        units=dict(units or {}),
        notes=tuple(notes + more + filled_notes),
        calendar=calendar,
        missing_sessions=tuple(frame.index.difference(shaped)) if opts.calendar else (),
        filled=frame.index[gaps[target].to_numpy()],
    )


def _canonical(calendar: str | None) -> str | None:
    if calendar is None:
        return None
    from forecaster.data import calendars  # exchange_calendars loads only for calendar series

    return calendars.canonical(calendar)


def _grid_options(opts: cleaning.Options, freq: str, calendar: str | None) -> cleaning.Options:
    """The options of the grid steps: the frequency, and how an exchange calendar applies (the
    sessions of trading days; closed hours of intraday bars); on any other frequency it does not
    apply, and a calendar given for it is an error, never silently dropped."""
    opts = replace(opts, freq=freq)
    if calendar is None:
        return opts
    if freq == TRADING_DAYS:
        return replace(opts, calendar=calendar)
    if is_intraday(freq):
        return replace(opts, sessions=True)  # closed hours are absent, not gaps
    raise DataError(
        f"{opts.label}: the exchange calendar {calendar} applies to trading days and intraday "
        f"bars, and this series has '{freq}' steps"
        + (" (seven days a week)" if freq == "D" else "")
        + " — drop --calendar (data.calendar), or load the series at a trading-day interval"
    )


def _warn_if_mostly_filled(gaps: pd.DataFrame, opts: cleaning.Options) -> None:
    """Warn when the NaN policy filled in more than :data:`HEAVY_FILL` of a column's values
    (``gaps``: True where a value was missing before filling; the column filled most is named)."""
    if len(gaps) == 0:
        return
    shares = gaps.mean(axis=0)
    column = str(shares.idxmax())
    if shares[column] <= HEAVY_FILL:
        return
    how = "interpolation" if opts.fill == "interpolate" else "forward-filling"
    log.warning(
        "%s: %.0f%% of '%s' (%d of %d rows) was filled in by %s (max_gap %d) — filled values "
        "are not data, and a model trained or scored on them looks better than it is; choose a "
        "span with more real data (--start/--end) or a smaller --max-gap",
        opts.label,
        100 * shares[column],
        column,
        int(gaps[column].sum()),
        len(gaps),
        how,
        opts.max_gap,
    )


def mask_filled(
    series: Series, origins: np.ndarray, horizon: int, actuals: np.ndarray
) -> np.ndarray:
    """``actuals`` (n, H) with NaN where the row was filled in, not observed (a copy).

    Row ``i`` holds the target at rows ``[origins[i], origins[i] + H)`` of ``series`` (what
    :func:`~forecaster.backtest.baselines.future_windows` builds); a filled value there is no
    actual to score against, so NaN-aware metrics leave it out. ``origins``: (n,) int row
    positions with ``origins + horizon <= len(series)``.
    """
    out = np.array(actuals, dtype=np.float64, copy=True)
    mask = series.filled_mask()
    if not mask.any() or out.size == 0:
        return out
    rows = np.asarray(origins, dtype=np.int64).reshape(-1, 1) + np.arange(horizon)
    out[mask[rows]] = np.nan
    return out


def is_intraday(freq: str) -> bool:
    """Whether ``freq`` (a pandas alias) is shorter than a day (``"5min"``, ``"h"``)."""
    if freq == TRADING_DAYS:
        return False
    try:
        return pd.Timedelta(pd.tseries.frequencies.to_offset(freq)) < pd.Timedelta(days=1)
    except (ValueError, TypeError):
        return False  # calendar offsets such as "MS" (months)


_UNIT_MINUTES = {"m": 1, "h": 60, "d": 24 * 60, "wk": 7 * 24 * 60}
_MONTHS_PER = {"M": 1, "BM": 1, "Q": 3, "BQ": 3, "Y": 12, "BY": 12, "A": 12}


def interval_matches(interval: str, freq: str) -> bool:
    """Whether a config interval (``15m``, ``1h``, ``1d``, ``1wk``, ``3mo``) is the step of a
    series whose frequency is ``freq`` (a pandas alias; trading days ``"B"`` are daily)."""
    count, unit = int(interval.rstrip("mhdwko")), interval.lstrip("0123456789")
    offset = pd.tseries.frequencies.to_offset(freq)
    if unit == "mo":
        code = offset.rule_code.split("-")[0].rstrip("SE")
        return offset.n * _MONTHS_PER.get(code, 0) == count
    step = pd.Timedelta(minutes=count * _UNIT_MINUTES[unit])
    if freq == TRADING_DAYS:
        return step == pd.Timedelta(days=1)
    if isinstance(offset, pd.offsets.Week):
        return step == pd.Timedelta(weeks=offset.n)
    try:
        return pd.Timedelta(offset) == step
    except ValueError:  # a calendar offset (months) against a fixed step
        return False


def require_length(
    series: Series, lookback: int, horizon: int, *, windows: int = 1, what: str = ""
) -> None:
    """Raise a one-line DataError unless ``series`` holds ``windows`` full (lookback + horizon) windows."""
    needed = lookback + horizon + windows - 1
    if len(series) < needed:
        purpose = f" for {what}" if what else ""
        raise DataError(
            f"{series.source}:{series.symbol}: {len(series)} rows is too short{purpose} — lookback {lookback} + "
            f"horizon {horizon} needs at least {needed}; use a longer span or shorter --lookback/--horizon"
        )
