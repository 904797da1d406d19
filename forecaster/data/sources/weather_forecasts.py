"""Weather forecasts as inputs known ahead: issued forecasts for training, the live one for predicting.

For a weather target the numerical weather forecast of the forecast hours is the best predictor.
Training and backtests must see it *as it was issued before each forecast origin* (never observed
values, never a forecast made later), so the history comes from Open-Meteo's **Previous Runs API**;
at predict time the live **Forecast API** gives the values of the stamps after the last row.

Sources (read August 2026):

* Previous Runs API, https://open-meteo.com/en/docs/previous-runs-api — ``GET`` :data:`PREVIOUS_RUNS_URL`
  with the Forecast API's parameters (``latitude``, ``longitude``, ``hourly=``, ``start_date``/
  ``end_date`` or ``past_days``/``forecast_days``, ``timezone``, ``wind_speed_unit``) and the
  Forecast API's JSON answer (``utc_offset_seconds``, ``timezone``, ``hourly_units``, ``hourly``:
  ``time`` plus one list per variable, ``null`` where there is no value). Variables take a suffix:
  "``_previous_day0`` is the current model run (equivalent to the live Forecast API).
  ``_previous_day1`` is the value that was predicted 24 hours before valid time, ``_previous_day2``
  48 hours before, and so on up to day 7." The server code says precisely which run
  (github open-meteo/open-meteo, ``Sources/App/Helper/OmFileSplitter.swift``,
  ``updateFromTimeOrientedStreaming3D``, commit ba13de1c): each new run writes its values into the
  ``_previous_dayN`` series only from ``N * 24 h`` after its initialisation on (``skip = previousDay
  * 86400 / dt``), over the older runs' values, for N = 1..7. So the ``previous_dayN`` value at
  valid time *t* comes from the **newest run initialised at or before t - 24·N hours**.
* History (same page, "Data Availability"): "Most models are archived from January 2024. Some
  models were added to the archive later in 2024 or 2025 [...] GFS 2 m temperature — available from
  March 2021; JMA GSM and MSM — available from 2018." The server accepts dates from 2016-01-01
  (``ForecastapiController.swift``, ``historyStartDate`` of ``.previousRuns``) and answers
  ``null`` where its archive has nothing: those rows are NaN here, and :func:`attach` trims them
  off the start of a series (a 2-year hourly series keeps about its part since January 2024).
* Daily variables: the API's ``daily=`` variables carry no ``_previous_dayN`` (the server's daily
  reader always reads day 0: ``ForecastapiController.swift``, ``daily(variables:)``; the docs list
  hourly variables only). **Daily forecast inputs are therefore derived from hourly issued
  values** per local day of the series, the way the daily variables are defined: ``X_max`` / ``X_min``
  / ``X_mean`` of hourly ``X``, ``X_sum`` (precipitation, rain, showers, snowfall) their sum,
  ``shortwave_radiation_sum`` the hourly mean W/m² summed to MJ/m² (see :data:`DAILY_FROM_HOURLY`).
  The live forecast of daily inputs is derived from the Forecast API's hourly values the same way.
* Forecast API, https://open-meteo.com/en/docs — ``GET`` :data:`FORECAST_URL`, same parameters;
  dates from 93 days ago to 16 days ahead (``forecastDaysMax = 16``).
* The Historical Forecast API (https://historical-forecast-api.open-meteo.com/v1/forecast) is not
  used: it stitches together the *first hours* of each run (lead times of a few hours), which at a
  forecast origin were not yet issued for the later steps of a horizon.

Places: ``place`` is what the archive source resolves a city or --lat/--lon to, a
:class:`~forecaster.data.sources.places.Place` (its ``name`` keys the cache), or a
``(latitude, longitude, tz)`` tuple (named by its coordinates). Requests ask for ``timezone=GMT``
(no daylight-saving offsets to undo); the values are then aligned to the series' own stamps.

Cache: ``<data root>/cache/open-meteo-forecasts/<place>_day<N>_<hourly variables>_1h.parquet``
holds the hourly issued values of one place, lead and variable set (UTC stamps, NaN kept); hourly
and daily series share it (daily inputs are derived after reading). ``covers_from``/``final_to``
say which UTC dates it holds; a later call fetches only the dates before or after them. Dates from
the day of a fetch on are re-fetched next time (a newer run may still overwrite them).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd

from forecaster.data import cache, cleaning
from forecaster.data.features import FORECAST_PREFIX
from forecaster.data.series import Series
from forecaster.data.sources import base, openmeteo
from forecaster.data.sources.places import Place, coords_name
from forecaster.errors import ConfigError, DataError, SourceUnavailable

log = logging.getLogger(__name__)

PREVIOUS_RUNS_URL = "https://previous-runs-api.open-meteo.com/v1/forecast"
FORECAST_URL = "https://api.open-meteo.com/v1/forecast"
PREVIOUS_RUNS_API = "Open-Meteo Previous Runs API"
FORECAST_API = "Open-Meteo Forecast API"
CACHE_SOURCE = "open-meteo-forecasts"
MAX_LEAD_DAYS = 7
"""The docs' ``_previous_dayN`` goes up to day 7 (the server keeps ``1..<8``)."""
EARLIEST = dt.date(2016, 1, 1)
"""The first date the Previous Runs API accepts; earlier rows are NaN without a request."""
CHUNK_DAYS = 183
"""Days per request (a few thousand hourly values per variable, well inside one attempt's timeout)."""
REQUEST_TZ = "GMT"
HOURS_PER_DAY = 24

DAILY_FROM_HOURLY: dict[str, tuple[str, str]] = {
    "precipitation_sum": ("precipitation", "sum"),
    "rain_sum": ("rain", "sum"),
    "showers_sum": ("showers", "sum"),
    "snowfall_sum": ("snowfall", "sum"),
    "shortwave_radiation_sum": ("shortwave_radiation", "energy"),
}
"""Daily variables whose name is not ``<hourly>_max|_min|_mean`` (which are derived by that rule)."""
_SUFFIX_HOW = {"_max": "max", "_min": "min", "_mean": "mean"}


class NotCached(SourceUnavailable):
    """:func:`issued` was told not to fetch (``refresh=False``) and there is no cache file."""


def forecast_column(variable: str) -> str:
    """The column of a variable's forecast: ``"forecast_" + variable`` (the prefix by which
    :mod:`forecaster.data.features` knows such a column is known ahead)."""
    return FORECAST_PREFIX + variable


def _interval(freq: str) -> str:
    if freq in ("h", "1h"):
        return "1h"
    if freq in ("D", "1d"):
        return "1d"
    raise ConfigError(
        f"weather forecasts are for hourly or daily weather series, not '{freq}' steps — "
        "load the series at --interval 1h or 1d"
    )


def lead_days(horizon: int, freq: str, *, margin_hours: int = 0) -> int:
    """The smallest N such that the ``previous_dayN`` value of every step of a ``horizon``-step
    forecast was issued (its run initialised) no later than the forecast origin ``o``.

    By the docs and the server code (module docstring) the ``previous_dayN`` value at valid time
    ``t`` comes from a run initialised at or before ``t - 24·N h``. Hourly (``"h"``): step ``k`` is
    valid at ``o + k h``, so all of steps 1..H are covered when ``24·N >= H``: ``N = ceil(H / 24)``
    (24 steps -> 1, 25 -> 2, 48 -> 2). Daily (``"D"``): the origin is the end of the last observed
    day (its value is known only then), and step ``k`` is local day ``k`` after it, hours
    ``o + 24(k-1) h .. o + (24k - 1) h``; its last hour needs ``24·N >= 24·H - 1``: ``N = H``
    (1 step -> 1, 3 -> 3).

    A run is published some hours after its initialisation (at most a few hours for the models
    Open-Meteo serves, more for ECMWF); ``margin_hours`` adds that to the rule for a stricter
    "published before the origin" (e.g. 6: 24 hourly steps -> 2). Raises a ConfigError past day 7.
    """
    if horizon < 1:
        raise ConfigError(f"the horizon must be at least 1 step, not {horizon}")
    last = horizon if _interval(freq) == "1h" else HOURS_PER_DAY * horizon - 1
    n = max(1, math.ceil((last + max(0, margin_hours)) / HOURS_PER_DAY))
    if n > MAX_LEAD_DAYS:
        raise ConfigError(
            f"a {horizon}-step forecast would need weather forecasts issued {n} days ahead; the "
            f"Previous Runs API keeps them up to {MAX_LEAD_DAYS} days — use a shorter --horizon "
            "or drop --weather-forecasts"
        )
    return n


def _place(place) -> Place:
    if isinstance(place, Place):
        return place
    try:
        latitude, longitude, tz = place
    except (TypeError, ValueError):
        raise ConfigError(
            f"a place is a Place or a (latitude, longitude, tz) tuple, not {place!r:.60}"
        ) from None
    return Place(
        coords_name(float(latitude), float(longitude)), float(latitude), float(longitude), tz
    )


def _hourly_sources(variables: list[str], interval: str) -> dict[str, tuple[str, str]]:
    """``variable -> (hourly variable, how)``; ``how``: ``"value"`` (hourly series) or a daily
    aggregation. A daily variable that cannot be derived from hourly values is a ConfigError."""
    if not variables:
        raise ConfigError("no weather forecast variables given — e.g. temperature_2m")
    out = {}
    for v in variables:
        if interval == "1h":
            out[v] = (v, "value")
            continue
        if v in DAILY_FROM_HOURLY:
            out[v] = DAILY_FROM_HOURLY[v]
            continue
        suffix = next((s for s in _SUFFIX_HOW if v.endswith(s)), None)
        if suffix is None:
            raise ConfigError(
                f"daily weather forecast '{v}' cannot be derived from hourly forecasts (the "
                "Previous Runs API has hourly variables only) — use a daily <variable>_max, _min, "
                f"_mean or one of {', '.join(DAILY_FROM_HOURLY)}"
            )
        out[v] = (v[: -len(suffix)], _SUFFIX_HOW[suffix])
    return out


# -- requests and the cache --------------------------------------------------------------------------
def _fetch_hourly(
    place: Place,
    hourly: list[str],
    start: dt.date,
    end: dt.date,
    *,
    suffix: str,
    url: str,
    what: str,
    session,
    sleep_fn: Callable[[float], None] | None,
) -> pd.DataFrame:
    """Hourly ``hourly`` variables (with ``suffix``) over ``start .. end`` (UTC dates), in requests
    of at most :data:`CHUNK_DAYS` days; columns renamed to the plain variable names, UTC index."""
    names = {f"{v}{suffix}": v for v in hourly}
    parts = []
    day = start
    while day <= end:
        last = min(end, day + dt.timedelta(days=CHUNK_DAYS - 1))
        frame = openmeteo.fetch_frame(
            place,
            "1h",
            list(names),
            start_date=day,
            end_date=last,
            timezone=REQUEST_TZ,
            session=session,
            sleep_fn=sleep_fn,
            url=url,
            what=what,
            malformed=DataError,
        )
        units = frame.attrs.get("units", {})
        frame = frame.rename(columns=names)
        frame.index = frame.index.tz_convert("UTC")
        frame.attrs["units"] = {names[k]: u for k, u in units.items()}
        parts.append(frame)
        day = last + dt.timedelta(days=1)
    out = pd.concat(parts).sort_index()
    out = out[~out.index.duplicated(keep="last")]
    out.attrs["units"] = parts[-1].attrs["units"]
    return out


def _cache_file(place: Place, hourly: list[str], lead: int):
    name = cache.safe_key(f"{place.name}_day{lead}_{'-'.join(hourly)}")
    return cache.cache_path(CACHE_SOURCE, name, "1h")


def _identity(place: Place, lead: int) -> dict:
    return {
        "symbol": place.name,
        "latitude": place.latitude,
        "longitude": place.longitude,
        "lead": lead,
    }


def _issued_hourly(
    place: Place,
    hourly: list[str],
    lead: int,
    first: dt.date,
    last: dt.date,
    *,
    session,
    refresh: bool,
    sleep_fn,
) -> tuple[pd.DataFrame, dict]:
    """The hourly issued values over ``first .. last`` (UTC dates) from the cache, fetching the
    dates it lacks (unless ``refresh`` is False); returns (UTC frame, units)."""
    path = _cache_file(place, hourly, lead)
    cached = cache.read(path, identity=_identity(place, lead))
    if not refresh and cached is None:
        raise NotCached(f"no cached issued weather forecasts for {place.name} (day {lead})")
    frame = cached.frame if cached is not None else None
    meta = dict(cached.meta) if cached is not None else {}
    units = dict(meta.get("units") or {})
    if refresh:
        today = pd.Timestamp.now(tz="UTC").date()
        have_from = _date(meta.get("covers_from"))
        have_to = _date(meta.get("final_to"))
        spans = []
        if frame is None or have_from is None or have_to is None:
            spans.append((first, last))
        else:
            if first < have_from:
                spans.append((first, have_from - dt.timedelta(days=1)))
            if last > have_to:
                spans.append((have_to + dt.timedelta(days=1), last))
        fetched = False
        for a, b in spans:
            a = max(a, EARLIEST)
            if a > b:
                continue
            new = _fetch_hourly(
                place,
                hourly,
                a,
                b,
                suffix=f"_previous_day{lead}",
                url=PREVIOUS_RUNS_URL,
                what=PREVIOUS_RUNS_API,
                session=session,
                sleep_fn=sleep_fn,
            )
            units.update(new.attrs.get("units", {}))
            frame = new if frame is None else cache.merge(frame, new)
            fetched = True
        if fetched and frame is not None:
            covers = min(first, have_from) if have_from else first
            final = min(max(last, have_to) if have_to else last, today - dt.timedelta(days=1))
            meta = {
                **_identity(place, lead),
                "source": CACHE_SOURCE,
                "interval": "1h",
                "api": PREVIOUS_RUNS_URL,
                "covers_from": base.utc(covers).isoformat(),
                "final_to": final.isoformat(),
                "units": units,
            }
            cache.write_or_warn(path, frame[hourly].astype(np.float64), meta)
    elif cached is not None:
        log.warning(
            "weather forecasts: using the cached issued forecasts for %s fetched %s (%s); they "
            "may be stale or not reach the series' last rows",
            place.name,
            cached.age(),
            cached.when(),
        )
    if frame is None:
        frame = pd.DataFrame(columns=hourly, index=pd.DatetimeIndex([], tz="UTC"), dtype=float)
    missing = [v for v in hourly if v not in frame.columns]
    for v in missing:
        frame[v] = np.nan
    return frame[hourly], units


def _date(value) -> dt.date | None:
    if not value:
        return None
    try:
        return pd.Timestamp(value).date()
    except (ValueError, TypeError):
        return None


# -- from hourly values to the series' stamps ----------------------------------------------------------
def _utc_dates(stamps: pd.DatetimeIndex, interval: str) -> tuple[dt.date, dt.date]:
    """The UTC dates whose hours cover ``stamps`` (for daily stamps: their whole local days)."""
    first = stamps[0].tz_convert("UTC")
    last = stamps[-1]
    if interval == "1d":
        last = last + pd.offsets.Day(1) - pd.Timedelta(hours=1)
    return first.date(), last.tz_convert("UTC").date()


def _align(
    hourly: pd.DataFrame,
    stamps: pd.DatetimeIndex,
    sources: dict[str, tuple[str, str]],
    interval: str,
) -> pd.DataFrame:
    """Hourly UTC values -> one ``forecast_<var>`` column per variable at ``stamps`` (NaN where
    there is none; a day with a missing hour has no daily value)."""
    out = {}
    if interval == "1h":
        at = hourly.reindex(stamps.tz_convert("UTC"))
        for v, (h, _) in sources.items():
            out[forecast_column(v)] = at[h].to_numpy(dtype=np.float64)
        return pd.DataFrame(out, index=stamps)
    local = hourly.tz_convert(stamps.tz) if len(hourly) else hourly
    days = local.index.normalize() if len(local) else local.index
    groups = local.groupby(days)
    complete = (groups.count() == groups.size().to_numpy()[:, None]) & (
        groups.size().to_numpy()[:, None] >= HOURS_PER_DAY - 1
    )
    for v, (h, how) in sources.items():
        if how == "energy":  # hourly mean W/m² -> daily MJ/m²
            values = groups[h].sum() * 3600 / 1e6
        else:
            values = getattr(groups[h], how)()
        values = values.where(complete[h])
        out[forecast_column(v)] = values.reindex(stamps).to_numpy(dtype=np.float64)
    return pd.DataFrame(out, index=stamps)


def _units(sources: dict[str, tuple[str, str]], hourly_units: dict) -> dict[str, str]:
    units = {}
    for v, (h, how) in sources.items():
        unit = openmeteo.UNITS.get(v) if how != "value" else None
        unit = unit or hourly_units.get(h) or openmeteo.UNITS.get(h)
        if how == "energy":
            unit = "MJ/m²"
        if unit:
            units[forecast_column(v)] = unit
    return units


# -- the public functions --------------------------------------------------------------------------------
def issued(
    series: Series,
    place,
    variables: list[str],
    lead: int,
    *,
    session=None,
    refresh: bool = True,
    sleep_fn: Callable[[float], None] | None = None,
) -> pd.DataFrame:
    """The forecasts of ``variables`` as issued ``lead`` days before, for every row of ``series``.

    Same index (and time zone) as the series, one float64 column ``forecast_<var>`` each; NaN where
    the Previous Runs API has no value (before its archive begins, see the module). Fetched in
    requests of :data:`CHUNK_DAYS` days with :func:`~forecaster.data.sources.http.retry`, cached
    (only the dates the cache lacks are fetched). ``refresh=False``: the cache alone (a
    :class:`NotCached` error when there is none). Unreachable: ``http.Unreachable``; an error
    body: SourceError; an answer of the wrong shape: a one-line DataError naming the API.
    """
    if not 1 <= lead <= MAX_LEAD_DAYS:
        raise ConfigError(f"the lead must be 1..{MAX_LEAD_DAYS} days, not {lead}")
    place = _place(place)
    interval = _interval(series.freq)
    sources = _hourly_sources(list(variables), interval)
    hourly = sorted({h for h, _ in sources.values()})
    first, last = _utc_dates(series.index, interval)
    raw, units = _issued_hourly(
        place, hourly, lead, first, last, session=session, refresh=refresh, sleep_fn=sleep_fn
    )
    out = _align(raw, series.index, sources, interval)
    out.attrs["units"] = _units(sources, units)
    out.attrs["lead"] = lead
    return out


def upcoming(
    series: Series,
    place,
    variables: list[str],
    steps: int,
    *,
    session=None,
    sleep_fn: Callable[[float], None] | None = None,
) -> pd.DataFrame:
    """The live forecast of ``variables`` for the ``steps`` stamps after ``series.end`` (the index,
    in the series' zone), columns ``forecast_<var>``, from the Forecast API (daily variables
    derived from its hourly values, as for :func:`issued`). Unreachable: ``http.Unreachable`` (a
    SourceUnavailable); a stamp the answer has no value for: a one-line DataError."""
    place = _place(place)
    interval = _interval(series.freq)
    sources = _hourly_sources(list(variables), interval)
    hourly = sorted({h for h, _ in sources.values()})
    offset = pd.tseries.frequencies.to_offset(series.freq)
    stamps = pd.date_range(series.end + offset, periods=steps, freq=offset, name="time")
    first, last = _utc_dates(stamps, interval)
    raw = _fetch_hourly(
        place,
        hourly,
        first,
        last,
        suffix="",
        url=FORECAST_URL,
        what=FORECAST_API,
        session=session,
        sleep_fn=sleep_fn,
    )
    out = _align(raw, stamps, sources, interval)
    empty = out.columns[out.isna().any()].tolist()
    if empty:
        raise DataError(
            f"{FORECAST_API} answered no value of {empty} for some of the {steps} stamps after "
            f"{series.end} — the forecast reaches 16 days ahead; retry later or shorten --horizon"
        )
    out.attrs["units"] = _units(sources, raw.attrs.get("units", {}))
    return out


def attach(
    series: Series,
    place,
    variables: list[str],
    horizon: int,
    *,
    predict: bool,
    session=None,
    offline: bool = False,
    max_gap: int = 3,
    fill: cleaning.Fill = "ffill",
    margin_hours: int = 0,
    sleep_fn: Callable[[float], None] | None = None,
) -> tuple[Series, list[str]]:
    """``series`` with issued-forecast columns ``forecast_<var>`` (lead :func:`lead_days`) added to
    its frame, and with ``predict=True`` its ``ahead`` set to :func:`upcoming` (joined to any
    ``ahead`` it had). Returns (series, the column names added).

    Rows without an issued value: a leading run (before the API's archive begins) is trimmed off
    the series with a note; gaps inside go through validation's rule (runs of at most ``max_gap``
    steps filled by ``fill``, longer ones a one-line DataError). No issued value at all: DataError.

    The Previous Runs API unreachable (or ``offline``): the cache, with a warning that it may be
    stale; no cache either: a WARNING "weather forecasts unavailable (<reason>) — fitting without
    forecast inputs" and (series unchanged, []). With ``predict=True`` the live forecast is
    required: an unreachable Forecast API raises its SourceUnavailable.
    """
    lead = lead_days(horizon, series.freq, margin_hours=margin_hours)
    try:
        frame = _issued_or_cached(series, place, variables, lead, session, offline, sleep_fn)
    except NotCached as exc:
        log.warning(
            "weather forecasts unavailable (%s) — fitting without forecast inputs", exc.args[0]
        )
        return series, []
    columns, units = list(frame.columns), dict(frame.attrs.get("units", {}))
    label = f"{series.source}:{series.symbol}"
    has = frame.notna().all(axis=1).to_numpy()
    if not has.any():
        raise DataError(
            f"{label}: no issued weather forecasts of {', '.join(variables)} for "
            f"{series.start:%Y-%m-%d} .. {series.end:%Y-%m-%d} — the Previous Runs API archive "
            "starts in January 2024 for most models (GFS temperature_2m: March 2021); choose a "
            "later --start"
        )
    notes = list(series.notes)
    first = int(np.argmax(has))
    if first:
        notes.append(
            f"trimmed {first} leading rows without issued weather forecasts (the Previous Runs "
            f"archive begins {frame.index[first]:%Y-%m-%d %H:%M})"
        )
        log.info("%s: %s", label, notes[-1])
        frame = frame.iloc[first:]
    tail = int(np.argmax(has[::-1]))  # rows after the last one with every forecast
    if tail and (tail > max_gap or fill == "none"):
        raise DataError(
            f"{label}: the issued weather forecasts end at {frame.index[-1 - tail]}, {tail} rows "
            f"before the series' last row {series.end} — connect to fetch them (a cache may be "
            "stale), or end the series earlier (--end)"
        )
    if tail:
        frame = frame.ffill(limit=tail)
        notes.append(f"weather forecasts: forward-filled the last {tail} rows")
    opts = cleaning.Options(
        label, columns[0], columns, freq=series.freq, max_gap=max_gap, fill=fill
    )
    frame, filled = cleaning.fill_gaps(frame, opts)
    notes += [f"weather forecasts: {n}" for n in filled]
    data = series.frame.iloc[first:].copy()
    for c in columns:
        data[c] = frame[c].to_numpy(dtype=np.float64)
    out = replace(
        series,
        frame=data,
        notes=tuple(notes),
        units={**series.units, **units},
        filled=series.filled[series.filled >= data.index[0]],
    )
    if predict:
        ahead = upcoming(out, place, variables, horizon, session=session, sleep_fn=sleep_fn)
        if series.ahead is not None:
            ahead = series.ahead.join(ahead, how="outer")
        out = replace(out, ahead=ahead.astype(np.float64))
    return out, columns


def _issued_or_cached(series, place, variables, lead, session, offline, sleep_fn) -> pd.DataFrame:
    """:func:`issued`, else (unreachable, or ``offline``) the cache with a warning; neither: a
    :class:`NotCached` whose message is the reason."""
    if offline:
        try:
            return issued(series, place, variables, lead, refresh=False)
        except NotCached:
            raise NotCached("offline, and no cached forecasts") from None
    try:
        return issued(series, place, variables, lead, session=session, sleep_fn=sleep_fn)
    except SourceUnavailable as exc:
        reason = f"{PREVIOUS_RUNS_API} unreachable: {getattr(exc, 'reason', None) or exc}"
    try:
        return issued(series, place, variables, lead, refresh=False)
    except NotCached:
        raise NotCached(f"{reason}; no cached forecasts") from None
