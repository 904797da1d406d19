"""Exchange trading calendars: the days an exchange trades and its hours (holidays, early closes).

A series may name a calendar (``Series.calendar``: an ISO MIC code such as ``XNYS``, ``XLON``,
``XETR``, ``XTKS``). Then

* future timestamps are real sessions (:func:`next_sessions` for trading days, :func:`next_bars`
  for intraday bars, which lie inside each session's open/close, early closes included);
* validation tells a holiday (the calendar is closed: not missing) from a missing session (the
  calendar trades, the data has no row: a gap for the fill/max_gap policy), see :func:`sessions`.

Library: ``exchange_calendars`` (Apache-2.0), chosen over ``pandas_market_calendars`` (MIT):

* pandas_market_calendars is a layer over exchange_calendars (it depends on it and re-exports its
  calendars), so it brings the same data plus a second API; exchange_calendars alone is the
  smaller dependency and the one that holds the rules.
* Names are ISO MIC codes (``XNYS``), with the common aliases (``NYSE``, ``NASDAQ``, ``LSE``);
  pandas_market_calendars uses its own names (``NYSE``) for its native calendars.
* Both are maintained (releases in 2026), rule-based and offline (holiday rules and special
  closes ship as code: nothing is downloaded), and know early closes (NYSE 13:00 on the day
  after Thanksgiving and on Christmas Eve), ad-hoc closures (9/11, Hurricane Sandy, national
  days of mourning) and lunch breaks.
* Under pandas 3.1 both work but emit pandas deprecation warnings (exchange_calendars when a
  calendar is built, pandas_market_calendars on every schedule call); they are silenced here.
  exchange_calendars works with pandas 3 from 4.13 (older versions fail to build a calendar).
* Import takes about 0.4 s for either; building one calendar over 1990 .. today + 2 years about
  0.1 s. Both are imported only when a series names a calendar, so ``forecast --help`` stays fast.
* How far ahead sessions are known: both project the rules forward for any span asked for
  (here: at least two years past today); closures decided later (a day of mourning) are only known
  once a release adds them. exchange_calendars builds a calendar for a span (here from 1990, or the
  data's start, to at least two years ahead; some calendars start later, e.g. XTKS in 1997).

Session labels are naive dates (midnight); opens and closes are UTC instants.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from forecaster.errors import ConfigError

FIRST_YEAR = 1990
"""Calendars are built from this year (or the data's start, if earlier) ..."""
YEARS_AHEAD = 2
"""... to this many years after today (or further when a forecast needs it)."""
COMMON = ("XNYS", "XNAS", "XLON", "XETR", "XPAR", "XTKS", "XHKG", "XTSE", "XASX", "XSWX")
"""Named in error messages as examples."""


@contextmanager
def _quiet() -> Iterator[None]:
    """exchange_calendars 4.13 trips pandas 3.1 deprecation warnings when it builds a calendar."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def _xc():
    import exchange_calendars  # ~0.4 s: only when a series names a calendar

    return exchange_calendars


@functools.lru_cache(maxsize=1)
def names() -> tuple[str, ...]:
    """Every calendar name the library knows, aliases included (``XNYS``, ``NYSE``, ``24/7``...)."""
    return tuple(_xc().get_calendar_names(include_aliases=True))


def canonical(name: str) -> str:
    """The calendar's own name for ``name`` (any case; aliases resolved: ``nyse`` -> ``XNYS``).

    An unknown name is a one-line ConfigError listing a few valid names.
    """
    text = str(name).strip()
    by_upper = {n.upper(): n for n in names()}
    found = by_upper.get(text.upper())
    if found is None:
        close = difflib.get_close_matches(text.upper(), list(by_upper), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(by_upper[c] for c in close)}? " if close else ""
        raise ConfigError(
            f"unknown exchange calendar '{text[:40]}' — {hint}use an ISO MIC code such as "
            f"{', '.join(COMMON)} ({len(names())} names, e.g. NYSE, LSE, 24/7)"
        )
    return _xc().resolve_alias(found)


def _year(value: Any) -> int | None:
    return None if value is None else pd.Timestamp(value).year


@functools.lru_cache(maxsize=32)
def _build(name: str, first_year: int, last_year: int):
    xc = _xc()
    start, end = pd.Timestamp(first_year, 1, 1), pd.Timestamp(last_year, 12, 31)
    with _quiet():
        try:
            return xc.get_calendar(name, start=start, end=end)
        except ValueError:  # a calendar that cannot be evaluated that early (XTKS: from 1997)
            kind = type(xc.get_calendar(name))
            lo, hi = kind.bound_min(), kind.bound_max()
            start = max(start, lo) if lo is not None else start
            end = min(end, hi) if hi is not None else end
            return xc.get_calendar(name, start=start, end=end)


def get(name: str, start: Any = None, end: Any = None):
    """The ``exchange_calendars`` calendar ``name`` over at least ``start`` .. ``end``.

    Built once per span (cached): from :data:`FIRST_YEAR` (or ``start``'s year, if earlier) to
    :data:`YEARS_AHEAD` years after today (or a year past ``end``, if later), clipped to what the
    calendar supports.
    """
    name = canonical(name)
    this_year = dt.date.today().year
    first = min(FIRST_YEAR, _year(start) or FIRST_YEAR)
    last = max(this_year + YEARS_AHEAD, (_year(end) or this_year) + 1)
    return _build(name, first, last)


def timezone(name: str) -> str:
    """The exchange's time zone (IANA name): ``XNYS`` -> ``America/New_York``."""
    return str(get(name).tz)


def _day(stamp: Any) -> pd.Timestamp:
    """The calendar date of ``stamp`` in its own time zone, as a naive midnight."""
    stamp = pd.Timestamp(stamp)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    return stamp.normalize()


def sessions(name: str, start: Any, end: Any) -> pd.DatetimeIndex:
    """Session dates (naive midnights) from ``start``'s date to ``end``'s date, both included,
    within the span the calendar covers (dates before its first session are not judged)."""
    lo, hi = _day(start), _day(end)
    cal = get(name, lo, hi)
    lo, hi = max(lo, cal.first_session), min(hi, cal.last_session)
    if lo > hi:
        return pd.DatetimeIndex([], name="time")
    with _quiet():
        return pd.DatetimeIndex(cal.sessions_in_range(lo, hi), name="time")


def covered(name: str, days: pd.DatetimeIndex) -> np.ndarray:
    """Boolean mask: which of ``days`` (naive dates) lie in the span the calendar can judge."""
    if len(days) == 0:
        return np.zeros(0, dtype=bool)
    cal = get(name, days[0], days[-1])
    return np.asarray((days >= cal.first_session) & (days <= cal.last_session))


def closed_weekdays(name: str, start: Any, end: Any) -> int:
    """Weekdays from ``start``'s to ``end``'s date that the calendar does not trade (its holidays,
    for a Monday-to-Friday exchange)."""
    lo, hi = _day(start), _day(end)
    cal = get(name, lo, hi)
    lo, hi = max(lo, cal.first_session), min(hi, cal.last_session)
    if lo > hi:
        return 0
    weekdays = pd.bdate_range(lo, hi)
    return int((~weekdays.isin(sessions(name, lo, hi))).sum())


def _stamps(days: pd.DatetimeIndex, like: pd.Timestamp) -> pd.DatetimeIndex:
    """``days`` (naive dates) at ``like``'s time of day, in ``like``'s time zone."""
    wall = days + (_naive(like) - _day(like))
    if like.tzinfo is None:
        return pd.DatetimeIndex(wall, name="time")
    local = wall.tz_localize(like.tzinfo, ambiguous=False, nonexistent="shift_forward")
    return pd.DatetimeIndex(local, name="time")


def _naive(stamp: pd.Timestamp) -> pd.Timestamp:
    return stamp.tz_localize(None) if stamp.tzinfo is not None else stamp


def next_sessions(name: str, last: pd.Timestamp, horizon: int) -> pd.DatetimeIndex:
    """The ``horizon`` sessions after ``last``'s date, at ``last``'s time of day and time zone
    (a daily bar stamped at midnight New York time gives the next sessions at midnight there)."""
    last = pd.Timestamp(last)
    after = _day(last) + pd.Timedelta(days=1)
    span = pd.Timedelta(days=7 + 2 * horizon)  # a week has at least 2 sessions (5, less holidays)
    days = sessions(name, after, after + span)
    while len(days) < horizon:  # a calendar with unusually few sessions: look further
        span *= 2
        days = sessions(name, after, after + span)
    return _stamps(days[:horizon], last)


def session_times(name: str, days: pd.DatetimeIndex) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """Open and close (UTC instants) of each session in ``days`` (early closes included)."""
    if len(days) == 0:
        empty = pd.DatetimeIndex([], tz="UTC")
        return empty, empty
    cal = get(name, days[0], days[-1])
    with _quiet():
        rows = cal.schedule.loc[days]
    return pd.DatetimeIndex(rows["open"]), pd.DatetimeIndex(rows["close"])


def next_bars(name: str, last: pd.Timestamp, step: str, horizon: int) -> pd.DatetimeIndex:
    """The ``horizon`` bar starts after ``last``, inside sessions only, in ``last``'s time zone.

    ``step``: the bar length (a pandas alias below a day, e.g. ``"5min"``, ``"h"``). In the session
    of ``last`` the bars go on every ``step`` while they start before the close; each later
    session's bars start at its open, every ``step``, before its close (so a 13:00 early close ends
    the day's bars early, and nights, weekends and holidays have none).
    """
    last = pd.Timestamp(last)
    delta = pd.Timedelta(pd.tseries.frequencies.to_offset(step))
    if delta <= pd.Timedelta(0) or delta >= pd.Timedelta(days=1):
        raise ValueError(f"intraday bars need a step below one day, got {step!r}")
    tz = last.tzinfo
    last_utc = last.tz_convert("UTC") if tz is not None else last.tz_localize(timezone(name))
    last_utc = last_utc.tz_convert("UTC")
    out: list[pd.Timestamp] = []
    # the session holding `last` may have started the calendar day before (overnight markets)
    day = _day(last_utc.tz_convert(timezone(name))) - pd.Timedelta(days=1)
    span = pd.Timedelta(days=7 + 2 * int(np.ceil(horizon * delta / pd.Timedelta(hours=1))))
    while len(out) < horizon:
        days = sessions(name, day, day + span)
        opens, closes = session_times(name, days)
        for open_, close in zip(opens, closes, strict=True):
            if close <= last_utc:
                continue
            first = open_ if open_ > last_utc else last_utc + delta
            bars = pd.date_range(first, close, freq=delta, inclusive="left")
            out.extend(bars[: horizon - len(out)])
            if len(out) >= horizon:
                break
        day = day + span + pd.Timedelta(days=1)
    index = pd.DatetimeIndex(out, name="time")
    if tz is not None:
        return index.tz_convert(tz)
    return index.tz_convert(timezone(name)).tz_localize(None)
