"""The named steps of :func:`forecaster.data.series.validate`, each ``(frame, opts) -> (frame, notes)``.

A step takes the frame as the previous step left it and returns the frame it made plus the notes
(plain sentences, with counts) that say what it changed; a problem it cannot fix is a one-line
:class:`DataError` naming the fix. The order is part of the contract:

1. :func:`select_columns`: the value columns, target first.
2. :func:`parse_times`: a DatetimeIndex, no missing stamps.
3. :func:`localize`: naive stamps placed in ``opts.tz``; an autumn clock change is told apart by the
   rows' order (pandas ``ambiguous="infer"``) or rejected, a spring one rejected.
4. :func:`sort_times`: sorted by time (stable, so "first"/"last" keep meaning file order).
5. :func:`to_float`: float64 values; an infinite value is an error (a broken computation
   upstream, not a measurement: guessing a value for it would hide that).
6. :func:`resolve_duplicates`: exact duplicate rows dropped; differing ones per ``opts.duplicates``.
7. :func:`regular_grid`: every stamp on the frequency's grid; absent stamps inserted as gaps. For
   trading days with an exchange calendar (``opts.calendar``) the grid is the calendar's sessions:
   a session the data lacks is inserted as a gap (named in a note), a holiday is not missing.
8. :func:`trim_ends`: incomplete rows at the start and end dropped.
9. :func:`fill_gaps`: gaps of at most ``opts.max_gap`` steps filled per ``opts.fill``.
10. :func:`check_sessions`: no long run of missing trading sessions (without a calendar, where a
    missing session cannot be told from a holiday); at least 3 rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from forecaster.errors import DataError

TRADING_DAYS = "B"
#: A run of missing trading sessions longer than this is missing data, not a market holiday.
MAX_SESSION_GAP = 7

Duplicates = Literal["error", "first", "last", "mean"]
Fill = Literal["ffill", "interpolate", "none"]


class TimeProblem(DataError):
    """A problem with the timestamps themselves; ``detail`` is the finding without label and fix,
    so an adapter that knows the cause (mixed UTC offsets in a file) can say it instead."""

    def __init__(self, label: str, detail: str, fix: str):
        super().__init__(f"{label}: {detail} — {fix}")
        self.detail = detail


class OffGrid(TimeProblem):
    """Timestamps that do not sit on the series' regular grid."""


class DuplicateTimes(TimeProblem):
    """One timestamp with rows that disagree, and no policy to resolve them."""


@dataclass(frozen=True)
class Options:
    """What validation is asked to do; ``label`` (``source:symbol``) starts every message."""

    label: str
    target: str
    columns: list[str] | None = None
    tz: str | None = "UTC"
    freq: str | None = None
    sessions: bool = False
    calendar: str | None = None
    """An exchange calendar (``XNYS``) for trading-day series: its sessions are the grid."""
    max_gap: int = 3
    duplicates: Duplicates = "error"
    fill: Fill = "ffill"


def target_first(target: str | None, columns, available=None) -> list[str]:
    """``columns`` with ``target`` in front when it is missing (and, if given, in ``available``)."""
    cols = list(columns)
    if target and target not in cols and (available is None or target in available):
        cols = [target, *cols]
    return cols


# -- shape: columns and time index -------------------------------------------------------------------
def select_columns(frame: pd.DataFrame, o: Options) -> tuple[pd.DataFrame, list[str]]:
    if o.columns is not None:
        columns = target_first(o.target, o.columns, frame.columns)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(
                f"{o.label}: column(s) {missing} not found; available: "
                f"{list(map(str, frame.columns))}"
            )
        frame = frame[columns]
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    if o.target not in frame.columns:
        raise DataError(
            f"{o.label}: target column '{o.target}' not found; available: {list(frame.columns)} — "
            "choose one with --target"
        )
    return frame, []


def parse_times(frame: pd.DataFrame, o: Options) -> tuple[pd.DataFrame, list[str]]:
    if not isinstance(frame.index, pd.DatetimeIndex):
        try:
            frame.index = pd.DatetimeIndex(pd.to_datetime(frame.index))
        except (ValueError, TypeError) as exc:
            raise DataError(
                f"{o.label}: the time index does not parse as dates ({str(exc).splitlines()[0]}) — "
                "name the time column with --time-column"
            ) from None
    if frame.index.hasnans:
        raise DataError(
            f"{o.label}: {int(frame.index.isna().sum())} rows have no timestamp — remove them"
        )
    return frame, []


def localize(frame: pd.DataFrame, o: Options) -> tuple[pd.DataFrame, list[str]]:
    """Naive stamps are wall-clock times in ``o.tz``. Where the clock repeats an hour (autumn), the
    rows' order tells the two apart (a logger writes 01:00 EDT, then 01:00 EST); where it skips one
    (spring), or the order cannot tell, the stamps are not wall-clock times of that zone: reject."""
    index, notes = frame.index, []
    if index.tz is None:
        tz = o.tz or "UTC"
        try:
            index = index.tz_localize(tz)
        except ValueError:  # pandas raises ValueError subclasses for both clock changes
            index, notes = _localize_clock_change(index, tz, o.label)
    frame.index = index.as_unit("ns").rename("time")
    return frame, notes


def _localize_clock_change(index: pd.DatetimeIndex, tz: str, label: str):
    n = len(index)
    skipped = index.tz_localize(tz, ambiguous=np.ones(n, dtype=bool), nonexistent="NaT").isna()
    if skipped.any():
        k = int(skipped.sum())
        raise DataError(
            f"{label}: {k} time{' does' if k == 1 else 's do'} not exist in {tz} (the clock skips "
            f"{'it' if k == 1 else 'them'} in spring; first: {index[skipped][0]}) — these are not "
            f"{tz} wall-clock times; give the zone they were written in with --tz (e.g. --tz UTC, "
            "or a fixed offset such as Etc/GMT+5)"
        )
    repeated = index.tz_localize(tz, ambiguous="NaT").isna()
    k = int(repeated.sum())
    try:
        out = index.tz_localize(tz, ambiguous="infer")
    except ValueError:
        raise DataError(
            f"{label}: {k} time{' occurs' if k == 1 else 's occur'} twice in {tz} (the clock "
            f"repeats an hour in autumn; first: {index[repeated][0]}) and the rows' order cannot "
            "tell which is which — write the times in UTC (--tz UTC) or with their UTC offsets"
        ) from None
    return out, [
        f"{k} times in the hour repeated at the autumn clock change in {tz} told apart by their order"
    ]


def sort_times(frame: pd.DataFrame, o: Options) -> tuple[pd.DataFrame, list[str]]:
    if frame.index.is_monotonic_increasing:
        return frame, []
    return frame.sort_index(kind="stable"), ["rows were out of order and have been sorted by time"]


# -- values ------------------------------------------------------------------------------------------
def to_float(frame: pd.DataFrame, o: Options) -> tuple[pd.DataFrame, list[str]]:
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
            f"{o.label}: non-numeric column(s) {', '.join(bad)} — select numeric columns only "
            "(--columns)"
        )
    frame = frame.astype(np.float64)
    infinite = np.isinf(frame.to_numpy())
    if infinite.any():
        col = int(np.flatnonzero(infinite.any(axis=0))[0])
        rows = np.flatnonzero(infinite[:, col])
        k = len(rows)
        raise DataError(
            f"{o.label}: '{frame.columns[col]}' holds {k} infinite value{'s' if k > 1 else ''} "
            f"(first at {frame.index[rows[0]]}) — infinity is not a measurement: correct "
            f"{'them' if k > 1 else 'it'}, or leave the cells empty to make gaps (--fill, --max-gap)"
        )
    return frame, []


def resolve_duplicates(frame: pd.DataFrame, o: Options) -> tuple[pd.DataFrame, list[str]]:
    """Exact duplicate rows are dropped; rows of one stamp that differ follow ``o.duplicates``:
    ``error`` (say so), ``first``/``last`` (keep that row, in file order) or ``mean`` (average)."""
    extra = frame.index.duplicated(keep="first")
    if not extra.any():
        return frame, []
    rows = frame.loc[frame.index.duplicated(keep=False)]
    differ = rows.groupby(level=0).nunique(dropna=False).gt(1).any(axis=1)
    n_differ = int(differ.sum())
    if n_differ == 0:
        return frame.loc[~extra], [f"dropped {int(extra.sum())} exact duplicate rows"]
    if o.duplicates == "error":
        raise DuplicateTimes(
            o.label,
            f"{int(extra.sum())} duplicate timestamps with different values (first: "
            f"{differ.index[differ.to_numpy()][0]})",
            "keep one row per timestamp in the file, or choose how with --duplicates "
            "first|last|mean",
        )
    if o.duplicates == "mean":
        out, how = frame.groupby(level=0, sort=True).mean(), "averaging their rows"
    else:
        out = frame.loc[~frame.index.duplicated(keep=o.duplicates)]
        how = f"keeping the {o.duplicates} row"
    out.index.name = "time"
    dropped = int(extra.sum())
    return out, [
        f"resolved {n_differ} duplicate timestamp{'' if n_differ == 1 else 's'} with different "
        f"values by {how} ({dropped} row{'' if dropped == 1 else 's'} dropped; "
        f"--duplicates {o.duplicates})"
    ]


# -- the regular grid and missing values -------------------------------------------------------------
def regular_grid(frame: pd.DataFrame, o: Options) -> tuple[pd.DataFrame, list[str]]:
    """``"B"`` (trading sessions) and ``sessions`` (intraday bars of trading hours) have no grid to
    fill: closed days and hours are absent by design. Any other frequency is a regular grid."""
    if o.freq == TRADING_DAYS:
        if (frame.index.dayofweek >= 5).any():
            raise DataError(
                f"{o.label}: trading-day series has weekend rows — use freq 'D' for calendar days"
            )
        return (frame, []) if o.calendar is None else session_grid(frame, o)
    try:
        pd.tseries.frequencies.to_offset(o.freq)
        grid = None if o.sessions else pd.date_range(frame.index[0], frame.index[-1], freq=o.freq)
    except ValueError as exc:
        raise DataError(f"{o.label}: unknown frequency '{o.freq}' ({exc})") from None
    if grid is None:
        return frame, []
    off_grid = frame.index.difference(grid)
    if len(off_grid):
        raise OffGrid(
            o.label,
            f"{len(off_grid)} timestamps are off the {o.freq} grid (first: {off_grid[0]})",
            "resample the data to a regular frequency",
        )
    if len(grid) == len(frame):
        return frame, []
    out = frame.reindex(grid)
    out.index.name = "time"
    return out, [f"{len(grid) - len(frame)} missing {o.freq} steps inserted as gaps"]


def dates_text(days, limit: int = 4) -> str:
    """``2012-10-29, 2012-10-30`` (at most ``limit`` dates, then ``and N more``)."""
    shown = ", ".join(f"{d:%Y-%m-%d}" for d in days[:limit])
    return shown + (f" and {len(days) - limit} more" if len(days) > limit else "")


def session_grid(frame: pd.DataFrame, o: Options) -> tuple[pd.DataFrame, list[str]]:
    """Trading days on an exchange calendar: each session the data lacks is inserted as a gap
    (then filled or rejected by the NaN policy, like any gap); a weekday the calendar does not
    trade is a holiday, not missing. Rows on days the calendar has no session are kept (the data
    knows better than the rules), with a note. Days before the calendar's first session are not
    judged."""
    from forecaster.data import calendars  # exchange_calendars loads only for calendar series

    index = frame.index
    local = index.tz_localize(None) if index.tz is not None else index
    days = local.normalize()
    sessions = calendars.sessions(o.calendar, days[0], days[-1])
    notes = []
    extra = days[calendars.covered(o.calendar, days) & ~days.isin(sessions)]
    if len(extra):
        notes.append(
            f"{len(extra)} {'row' if len(extra) == 1 else 'rows'} on days {o.calendar} has no "
            f"session ({dates_text(extra)}) kept"
        )
    missing = sessions.difference(days)
    if len(missing) == 0:
        return frame, notes
    time_of_day = (local - days).value_counts().index[0]  # the rows' usual stamp (midnight)
    stamps = missing + time_of_day
    if index.tz is not None:
        stamps = stamps.tz_localize(index.tz, ambiguous=False, nonexistent="shift_forward")
    out = frame.reindex(index.union(stamps.as_unit(index.unit)))
    out.index.name = "time"
    notes.append(
        f"{len(missing)} {o.calendar} {'session' if len(missing) == 1 else 'sessions'} missing "
        f"from the data ({dates_text(missing)}) inserted as gaps"
    )
    return out, notes


def trim_ends(frame: pd.DataFrame, o: Options) -> tuple[pd.DataFrame, list[str]]:
    """Drop incomplete rows at the start and end (an archive API's newest hours are often empty)."""
    complete = frame.notna().all(axis=1).to_numpy()
    if not complete.any():
        raise DataError(
            f"{o.label}: every row has a missing value — check the columns and the span"
        )
    first, last = int(np.argmax(complete)), len(complete) - int(np.argmax(complete[::-1])) - 1
    if first == 0 and last == len(frame) - 1:
        return frame, []
    trimmed = first + (len(frame) - 1 - last)
    return frame.iloc[first : last + 1], [f"trimmed {trimmed} incomplete rows at the start/end"]


def nan_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of True in a boolean array."""
    if not mask.any():
        return []
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(s), int(e - s)) for s, e in zip(edges[::2], edges[1::2], strict=True)]


def _gap_text(index: pd.DatetimeIndex, start: int, length: int) -> str:
    return f"{index[start]} .. {index[start + length - 1]}"


def fill_gaps(frame: pd.DataFrame, o: Options) -> tuple[pd.DataFrame, list[str]]:
    """Fill runs of at most ``o.max_gap`` missing steps (``ffill``: the last value; ``interpolate``:
    a straight line between the neighbours); a longer run, or any run with ``fill="none"``, is an
    error. After :func:`trim_ends` every run has a value on both sides."""
    filled = 0
    steps = "sessions" if o.calendar and o.freq == TRADING_DAYS else "steps"
    for col in frame.columns:
        for start, length in nan_runs(frame[col].isna().to_numpy()):
            if o.fill == "none":
                raise DataError(
                    f"{o.label}: '{col}' has a gap of {length} missing {steps} "
                    f"({_gap_text(frame.index, start, length)}) and --fill is none — choose a span "
                    "without it (--start/--end) or fill gaps with --fill ffill or interpolate"
                )
            if length > o.max_gap:
                raise DataError(
                    f"{o.label}: '{col}' has a gap of {length} missing {steps} "
                    f"({_gap_text(frame.index, start, length)}), longer than max_gap={o.max_gap} — "
                    "choose a span without it (--start/--end) or raise --max-gap"
                    + (
                        f" (or check that {o.calendar} is its exchange: --calendar)"
                        if o.calendar
                        else ""
                    )
                )
            filled += length
    if not filled:
        return frame, []
    within = f"gaps of at most {o.max_gap} steps"
    if o.fill == "interpolate":
        out = frame.interpolate(method="linear", limit_area="inside")
        return out, [f"interpolated {filled} missing values linearly ({within})"]
    return frame.ffill(limit=o.max_gap), [f"forward-filled {filled} missing values ({within})"]


def check_sessions(frame: pd.DataFrame, o: Options) -> tuple[pd.DataFrame, list[str]]:
    """A trading-day series may miss holidays, not weeks; any series needs at least 3 rows. With
    a calendar a missing session is a gap, already handled by :func:`fill_gaps`."""
    if o.freq == TRADING_DAYS and o.calendar is None and len(frame):
        days = frame.index.tz_localize(None)
        sessions = pd.bdate_range(days[0], days[-1])
        absent = pd.Series(1, index=days).reindex(sessions).isna().to_numpy()
        long_runs = [(s, n) for s, n in nan_runs(absent) if n > MAX_SESSION_GAP]
        if long_runs:
            s, n = long_runs[0]
            raise DataError(
                f"{o.label}: {n} consecutive trading sessions missing ({sessions[s].date()} .. "
                f"{sessions[s + n - 1].date()}) — that is missing data, not a holiday; choose a "
                "span without it"
            )
    if len(frame) < 3:
        raise DataError(f"{o.label}: only {len(frame)} usable rows after cleaning — need more data")
    return frame, []


SHAPE_STEPS = (select_columns, parse_times, localize, sort_times, to_float, resolve_duplicates)
"""Steps that need no frequency; then the frequency is known (given or inferred) for the rest."""
GAP_STEPS = (regular_grid, trim_ends)
"""The grid with its gaps as NaN (what is missing is known here) ..."""
FILL_STEPS = (fill_gaps, check_sessions)
"""... and the gaps filled, or an error."""
GRID_STEPS = GAP_STEPS + FILL_STEPS


def run(frame: pd.DataFrame, o: Options, steps) -> tuple[pd.DataFrame, list[str]]:
    """Apply ``steps`` in order; the notes of all of them, in order."""
    notes: list[str] = []
    for step in steps:
        frame, said = step(frame, o)
        notes += said
    return frame, notes
