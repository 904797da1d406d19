"""The one canonical series format, and the one validation step that produces it.

Every adapter ends in :func:`validate`; everything after the adapters trusts a :class:`Series`:

* ``frame``: a pandas DataFrame of float64 columns, indexed by a tz-aware ``DatetimeIndex`` named
  ``time``, sorted, unique, with no NaN or inf.
* ``freq``: a pandas offset alias. ``"B"`` means *trading sessions*: one row per session, weekends
  never present, market holidays simply absent (not filled). Every other frequency (``"h"``, ``"D"``,
  ``"15min"``, ...) is a regular grid: missing stamps are inserted and then handled by the NaN policy.
* ``target``: the column to forecast; the other columns are covariates.

NaN policy (documented in the README): leading and trailing rows with missing values are trimmed (an
archive API often has no data yet for the last hours); inside the span, runs of at most ``max_gap``
consecutive missing steps are forward-filled; a longer run is an error that names the column, the
span and the fix. What validation did is recorded in ``Series.notes``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from forecaster.errors import DataError

TRADING_DAYS = "B"
#: A run of missing trading sessions longer than this is missing data, not a market holiday.
MAX_SESSION_GAP = 7


@dataclass(frozen=True)
class Series:
    """A validated series: ``frame`` (T rows x C float64 columns), its ``target`` column and ``freq``.

    ``source`` names where it came from (``yahoo``, ``open-meteo``, ``csv``, ``snapshot``, or
    ``cache``), ``symbol`` what (``AAPL``, ``greensboro``, a file name). ``units`` maps columns to
    units (``"USD"``, ``"°C"``). ``notes`` lists what validation changed (filled gaps, sorted rows).
    """

    frame: pd.DataFrame
    target: str
    freq: str
    source: str = "unknown"
    symbol: str = "series"
    units: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

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

    def fingerprint(self) -> str:
        """SHA-256 (first 16 hex digits) of timestamps, column names and values: identifies the data."""
        h = hashlib.sha256()
        h.update(self.frame.index.asi8.tobytes())
        h.update("|".join(map(str, self.frame.columns)).encode())
        h.update(np.ascontiguousarray(self.frame.to_numpy(dtype=np.float64)).tobytes())
        return h.hexdigest()[:16]

    def with_frame(self, frame: pd.DataFrame) -> Series:
        """The same series metadata over another (already valid) frame, e.g. a slice."""
        return replace(self, frame=frame)

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
            "notes": list(self.notes),
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


def _nan_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of True in a boolean array."""
    if not mask.any():
        return []
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(s), int(e - s)) for s, e in zip(edges[::2], edges[1::2], strict=True)]


def _fmt_gap(index: pd.DatetimeIndex, start: int, length: int) -> str:
    return f"{index[start]} .. {index[start + length - 1]}"


def validate(
    frame: pd.DataFrame,
    target: str,
    *,
    freq: str | None = None,
    tz: str | None = "UTC",
    max_gap: int = 3,
    source: str = "unknown",
    symbol: str = "series",
    units: dict[str, str] | None = None,
    columns: Iterable[str] | None = None,
    sessions: bool = False,
) -> Series:
    """Turn a raw frame into a canonical :class:`Series`, or raise a one-line :class:`DataError`.

    ``frame`` must be indexed by time (a DatetimeIndex, or anything ``pd.to_datetime`` parses).
    Naive timestamps are taken to be in ``tz``; aware ones are kept in their own zone. ``columns``
    selects value columns (default: all). ``freq`` is inferred when not given.

    ``sessions=True`` marks intraday bars of an exchange's trading hours (``freq`` is the bar
    length, e.g. ``"5min"``): as with ``"B"`` for days, closed hours (nights, weekends, holidays)
    are absent by design, so no stamps are inserted; only the NaN policy applies.
    """
    label = f"{source}:{symbol}"
    if frame is None or len(frame) == 0:
        raise DataError(
            f"{label}: the series is empty — check the symbol, the span (--start/--end) or the file"
        )
    frame = frame.copy()
    notes: list[str] = []

    if columns is not None:
        columns = list(columns)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(
                f"{label}: column(s) {missing} not found; available: {list(map(str, frame.columns))}"
            )
        frame = frame[columns]
    frame.columns = [str(c) for c in frame.columns]
    if target not in frame.columns:
        raise DataError(
            f"{label}: target column '{target}' not found; available: {list(frame.columns)} — "
            "choose one with --target"
        )

    # -- time index: parse, time zone, order, uniqueness ------------------------------------------
    if not isinstance(frame.index, pd.DatetimeIndex):
        try:
            frame.index = pd.DatetimeIndex(pd.to_datetime(frame.index))
        except (ValueError, TypeError) as exc:
            raise DataError(
                f"{label}: the time index does not parse as dates ({str(exc).splitlines()[0]}) — "
                "name the time column with --time-column"
            ) from None
    if frame.index.hasnans:
        raise DataError(
            f"{label}: {int(frame.index.isna().sum())} rows have no timestamp — remove them"
        )
    if frame.index.tz is None:
        frame.index = frame.index.tz_localize(
            tz or "UTC", ambiguous="NaT", nonexistent="shift_forward"
        )
        if frame.index.hasnans:
            frame = frame.loc[frame.index.notna()]
            notes.append(f"dropped timestamps that are ambiguous in {tz} (clock change)")
    frame.index = frame.index.as_unit("ns")
    frame.index.name = "time"

    if not frame.index.is_monotonic_increasing:
        frame = frame.sort_index(kind="stable")
        notes.append("rows were out of order and have been sorted by time")
    dup = frame.index.duplicated(keep="first")
    if dup.any():
        dupes = frame.loc[frame.index.duplicated(keep=False)]
        conflicting = dupes.groupby(level=0).nunique(dropna=False).gt(1).any(axis=None)
        if conflicting:
            first = dupes.index[0]
            raise DataError(
                f"{label}: {int(dup.sum())} duplicate timestamps with different values (first: {first}) — "
                "deduplicate the data (keep one row per timestamp)"
            )
        frame = frame.loc[~dup]
        notes.append(f"dropped {int(dup.sum())} exact duplicate rows")

    # -- values: numeric float64, inf as missing ---------------------------------------------------
    bad = []
    for col in frame.columns:
        if pd.api.types.is_bool_dtype(frame[col]) or not pd.api.types.is_numeric_dtype(frame[col]):
            converted = pd.to_numeric(frame[col], errors="coerce")
            new_nans = converted.isna() & frame[col].notna()
            if new_nans.any():
                bad.append(f"{col} (e.g. {frame[col][new_nans].iloc[0]!r})")
                continue
            frame[col] = converted
    if bad:
        raise DataError(
            f"{label}: non-numeric column(s) {', '.join(bad)} — select numeric columns only (--columns)"
        )
    frame = frame.astype(np.float64)
    values = frame.to_numpy()
    if np.isinf(values).any():
        n_inf = int(np.isinf(values).sum())
        frame = frame.replace([np.inf, -np.inf], np.nan)
        notes.append(f"{n_inf} infinite values treated as missing")

    # -- frequency and the regular grid ------------------------------------------------------------
    freq = freq or infer_freq(frame.index)
    if freq == TRADING_DAYS:
        if (frame.index.dayofweek >= 5).any():
            raise DataError(
                f"{label}: trading-day series has weekend rows — use freq 'D' for calendar days"
            )
    elif sessions:
        try:
            pd.tseries.frequencies.to_offset(freq)
        except ValueError as exc:
            raise DataError(f"{label}: unknown frequency '{freq}' ({exc})") from None
    else:
        try:
            grid = pd.date_range(frame.index[0], frame.index[-1], freq=freq)
        except ValueError as exc:
            raise DataError(f"{label}: unknown frequency '{freq}' ({exc})") from None
        off_grid = frame.index.difference(grid)
        if len(off_grid):
            raise DataError(
                f"{label}: {len(off_grid)} timestamps are off the {freq} grid (first: {off_grid[0]}) — "
                "resample the data to a regular frequency"
            )
        if len(grid) > len(frame):
            notes.append(f"{len(grid) - len(frame)} missing {freq} steps inserted as gaps")
            frame = frame.reindex(grid)
            frame.index.name = "time"

    # -- NaN policy: trim the ends, fill short gaps, reject long ones -----------------------------
    valid_rows = frame.notna().all(axis=1).to_numpy()
    if not valid_rows.any():
        raise DataError(f"{label}: every row has a missing value — check the columns and the span")
    first, last = int(np.argmax(valid_rows)), len(valid_rows) - int(np.argmax(valid_rows[::-1])) - 1
    if first > 0 or last < len(frame) - 1:
        trimmed = first + (len(frame) - 1 - last)
        notes.append(f"trimmed {trimmed} incomplete rows at the start/end")
        frame = frame.iloc[first : last + 1]
    filled = 0
    for col in frame.columns:
        isna = frame[col].isna().to_numpy()
        for start, length in _nan_runs(isna):
            if length > max_gap:
                raise DataError(
                    f"{label}: '{col}' has a gap of {length} missing steps ({_fmt_gap(frame.index, start, length)}), "
                    f"longer than max_gap={max_gap} — choose a span without it (--start/--end) or raise --max-gap"
                )
            filled += length
    if filled:
        frame = frame.ffill(limit=max_gap)
        notes.append(f"forward-filled {filled} missing values (gaps of at most {max_gap} steps)")
    if freq == TRADING_DAYS:
        sessions = pd.bdate_range(
            frame.index[0].tz_localize(None), frame.index[-1].tz_localize(None)
        )
        present = (
            pd.Series(1, index=frame.index.tz_localize(None)).reindex(sessions).isna().to_numpy()
        )
        runs = _nan_runs(present)
        long_runs = [(s, n) for s, n in runs if n > MAX_SESSION_GAP]
        if long_runs:
            s, n = long_runs[0]
            raise DataError(
                f"{label}: {n} consecutive trading sessions missing ({sessions[s].date()} .. "
                f"{sessions[s + n - 1].date()}) — that is missing data, not a holiday; choose a span without it"
            )

    if len(frame) < 3:
        raise DataError(f"{label}: only {len(frame)} usable rows after cleaning — need more data")
    return Series(
        frame=frame,
        target=target,
        freq=freq,
        source=source,
        symbol=symbol,
        units=dict(units or {}),
        notes=tuple(notes),
    )


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
