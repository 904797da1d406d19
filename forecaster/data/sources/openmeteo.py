"""Historical weather from the Open-Meteo archive API (ERA5 reanalysis), hourly or daily.

``GET https://archive-api.open-meteo.com/v1/archive`` with ``latitude``, ``longitude``,
``start_date``/``end_date`` (YYYY-MM-DD, inclusive), ``hourly=`` or ``daily=`` (comma lists),
``timezone`` and ``wind_speed_unit=ms``. Columns keep Open-Meteo's variable names and units:
temperature_2m °C, relative_humidity_2m %, dew_point_2m °C, surface_pressure hPa, wind_speed_10m m/s,
wind_direction_10m °, shortwave_radiation W/m², precipitation mm; daily variants such as
temperature_2m_max °C, precipitation_sum mm, wind_speed_10m_max m/s.

Time: the API answers naive local times on a fixed offset (``utc_offset_seconds``, the offset valid
*now*, even across a daylight-saving change); hourly stamps are therefore shifted back to UTC with
that offset and shown in the response's IANA ``timezone`` (what ``timezone=auto`` resolved to).
Daily rows are dates, stamped at local midnight. ``null`` values become NaN and are handled by
:func:`forecaster.data.series.validate` (trailing ones trimmed, short gaps filled, long gaps rejected).

Default span: ``end`` = today (UTC) minus 2 days (the archive's lag); ``start`` = 2 years before
the end for hourly data, 10 years for daily data.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
import requests

from forecaster.config import DataConfig
from forecaster.data import cache
from forecaster.data.series import Series, target_first, validate
from forecaster.data.sources import base, http
from forecaster.data.sources.places import CITIES, Place, resolve_place
from forecaster.errors import ConfigError, ForecasterError, SourceError

log = logging.getLogger(__name__)

NAME = "Open-Meteo"
ARCHIVE_URL = "https://archive-api.open-meteo.com/v1/archive"
INTERVALS = {"1h": "hourly", "1d": "daily"}
ARCHIVE_LAG_DAYS = 2
DEFAULT_SPAN_DAYS = {"1h": 2 * 365, "1d": 10 * 365}
HOURLY_DEFAULT = (
    "temperature_2m",
    "relative_humidity_2m",
    "dew_point_2m",
    "surface_pressure",
    "wind_speed_10m",
    "wind_direction_10m",
    "shortwave_radiation",
)
DAILY_DEFAULT = (
    "temperature_2m_max",
    "temperature_2m_min",
    "precipitation_sum",
    "wind_speed_10m_max",
)
DEFAULT_TARGET = {"1h": "temperature_2m", "1d": "temperature_2m_max"}
OVERLAP_DAYS = 7
"""Days re-requested before the last complete cached row (the archive revises its newest days)."""
UNITS = {
    "temperature_2m": "°C",
    "relative_humidity_2m": "%",
    "dew_point_2m": "°C",
    "surface_pressure": "hPa",
    "wind_speed_10m": "m/s",
    "wind_direction_10m": "°",
    "shortwave_radiation": "W/m²",
    "temperature_2m_max": "°C",
    "temperature_2m_min": "°C",
    "precipitation_sum": "mm",
    "wind_speed_10m_mean": "m/s",
    "precipitation": "mm",
    "rain": "mm",
    "snowfall": "cm",
    "pressure_msl": "hPa",
    "cloud_cover": "%",
    "apparent_temperature": "°C",
    "wind_gusts_10m": "m/s",
    "temperature_2m_mean": "°C",
    "wind_speed_10m_max": "m/s",
    "wind_gusts_10m_max": "m/s",
    "shortwave_radiation_sum": "MJ/m²",
    "rain_sum": "mm",
    "precipitation_hours": "h",
}
"""Fallback units when a response carries no ``hourly_units``/``daily_units``."""


def units_of(columns) -> dict[str, str]:
    """The units of these canonical Open-Meteo columns (a column without one is left out)."""
    return {c: UNITS[c] for c in columns if c in UNITS}


def check_interval(interval: str) -> str:
    if interval not in INTERVALS:
        raise ConfigError(
            f"Open-Meteo archive has no interval '{interval}' — use 1h (hourly) or 1d (daily)"
        )
    return interval


def default_variables(interval: str) -> list[str]:
    return list(HOURLY_DEFAULT if interval == "1h" else DAILY_DEFAULT)


def default_span(
    interval: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    today: dt.date | None = None,
) -> tuple[dt.date, dt.date]:
    """Inclusive (start_date, end_date) to request; ``end`` is exclusive as in the config."""
    today = today or pd.Timestamp.now(tz="UTC").date()
    last = today - dt.timedelta(days=ARCHIVE_LAG_DAYS)
    end_date = min(end - dt.timedelta(days=1), last) if end else last
    start_date = start or end_date - dt.timedelta(days=DEFAULT_SPAN_DAYS[interval])
    if start_date > end_date:
        raise SourceError(
            f"the Open-Meteo archive has data up to {last} (about {ARCHIVE_LAG_DAYS} days ago); "
            f"the requested start {start_date} is later — choose an earlier --start"
        )
    return start_date, end_date


# -- the HTTP call -------------------------------------------------------------------------------------
_NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,  # the body was cut off mid-transfer
    requests.exceptions.ContentDecodingError,  # a garbled compressed body
)


def _get(params: dict, timeout: float, session, url: str = ARCHIVE_URL, what: str = NAME) -> dict:
    """One request to ``url`` (``what`` names it in messages); network failures, HTTP 5xx/429 and a
    body that is not JSON are Transient, an error body or any other failed request a SourceError."""
    try:
        response = (session or requests).get(
            url, params=params, timeout=(min(5.0, timeout), timeout)
        )
    except _NETWORK_ERRORS as exc:
        raise http.Transient(http.short_reason(exc)) from None
    except requests.RequestException as exc:
        raise SourceError(
            f"{what} request failed ({http.short_reason(exc)}) — retry later"
        ) from None
    status = response.status_code
    if status == 429 or status >= 500:
        raise http.Transient(f"HTTP {status} from {what}")
    try:
        body = response.json()
    except ValueError:
        if status >= 400:
            raise SourceError(f"{what} answered HTTP {status} without a reason") from None
        raise http.Transient(f"{what} answered with something that is not JSON") from None
    if not isinstance(body, dict):
        raise http.Transient(f"{what} answered with an unexpected JSON value")
    if body.get("error") or status >= 400:
        reason = " ".join(str(body.get("reason") or f"HTTP {status}").split())
        raise SourceError(f"{what} rejected the request: {base.shorten(reason, 200)}")
    return body


def fetch_frame(
    place: Place,
    interval: str = "1h",
    variables: list[str] | None = None,
    *,
    start_date: dt.date,
    end_date: dt.date,
    timezone: str | None = None,
    session=None,
    sleep_fn: Callable[[float], None] | None = None,
    url: str = ARCHIVE_URL,
    what: str = NAME,
    malformed: type[ForecasterError] = SourceError,
) -> pd.DataFrame:
    """Fetch ``variables`` for ``place`` over ``start_date .. end_date`` (inclusive).

    Returns the canonical raw frame: one float64 column per variable (Open-Meteo's name and unit),
    indexed by tz-aware stamps in the resolved time zone; NaN where the API sent ``null``.
    ``frame.attrs``: ``timezone`` (resolved IANA name), ``units`` (column -> unit),
    ``latitude``/``longitude`` (the grid cell the API used).

    ``url``/``what``: another Open-Meteo endpoint with the same parameters and answer (the
    Forecast and Previous Runs APIs, :mod:`~forecaster.data.sources.weather_forecasts`) and its
    name in messages; ``malformed``: the error class of an answer of the wrong shape.
    """
    check_interval(interval)
    variables = list(variables or default_variables(interval))
    params = {
        "latitude": f"{place.latitude:.4f}",
        "longitude": f"{place.longitude:.4f}",
        "start_date": start_date.isoformat(),
        "end_date": end_date.isoformat(),
        INTERVALS[interval]: ",".join(variables),
        "timezone": timezone or place.tz or "auto",
        "wind_speed_unit": "ms",
    }
    body = http.retry(lambda t: _get(params, t, session, url, what), what=what, sleep_fn=sleep_fn)
    return parse_response(body, interval, variables, what=what, malformed=malformed)


def parse_response(
    body: dict,
    interval: str,
    variables: list[str],
    *,
    what: str = NAME,
    malformed: type[ForecasterError] = SourceError,
) -> pd.DataFrame:
    """The archive's JSON -> canonical raw frame (see :func:`fetch_frame`); an answer of the wrong
    shape (missing blocks, times that do not parse, values that are not numbers) is a ``malformed``
    error (SourceError unless told) naming ``what``."""
    key = INTERVALS[interval]
    block = body.get(key)
    if not isinstance(block, dict) or not isinstance(block.get("time"), list):
        raise malformed(f"{what} answered without '{key}' data — check the variable names")
    missing = [v for v in variables if v not in block]
    if missing:
        raise malformed(f"{what} answered without variable(s) {missing} — check their names")
    tz = str(body.get("timezone") or "UTC")
    try:
        offset = pd.Timedelta(seconds=int(body.get("utc_offset_seconds") or 0))
        naive = pd.DatetimeIndex(pd.to_datetime(block["time"]))
    except (ValueError, TypeError, OverflowError) as exc:
        raise malformed(
            f"{what} answered times that do not parse ({base.first_line(exc)}) — retry later"
        ) from None
    try:
        if interval == "1h":
            index = (naive - offset).tz_localize("UTC").tz_convert(tz)
        else:
            # a midnight that occurs twice (a clock change at 00:00) is taken as the first one
            first = np.ones(len(naive), dtype=bool)
            index = naive.normalize().tz_localize(tz, ambiguous=first, nonexistent="shift_forward")
    except Exception as exc:  # an unknown zone name from the API
        raise malformed(f"{what} answered an unusable time zone '{tz}' ({exc})") from None
    data = {}
    for v in variables:
        values = block[v]
        if not isinstance(values, list) or len(values) != len(naive):
            n = len(values) if isinstance(values, list) else type(values).__name__
            raise malformed(f"{what} answered {n} values of '{v}' for {len(naive)} times")
        data[v] = _numbers(values, v, what, malformed)
    frame = pd.DataFrame(data, index=index.as_unit("ns").rename("time"))
    units = body.get(f"{key}_units")
    units = units if isinstance(units, dict) else {}
    frame.attrs.update(
        timezone=tz,
        units={v: str(units.get(v) or UNITS.get(v, "")) for v in variables},
        latitude=body.get("latitude"),
        longitude=body.get("longitude"),
    )
    return frame


def _numbers(
    values: list,
    name: str,
    what: str = NAME,
    malformed: type[ForecasterError] = SourceError,
) -> np.ndarray:
    """JSON numbers (``null`` -> NaN) as float64; anything else is a ``malformed`` error naming it."""
    try:
        return np.array([np.nan if x is None else x for x in values], dtype=np.float64)
    except (ValueError, TypeError):
        bad = next((x for x in values if x is not None and not _is_number(x)), values[:3])
    raise malformed(
        f"{what} answered a value that is not a number for '{name}' "
        f"({base.shorten(repr(bad))}) — retry later"
    )


def _is_number(x) -> bool:
    try:
        float(x)
    except (ValueError, TypeError):
        return False
    return True


def to_series(
    frame: pd.DataFrame,
    name: str,
    interval: str,
    *,
    target: str | None = None,
    columns: list[str] | None = None,
    source: str = "open-meteo",
    units: dict[str, str] | None = None,
    **clean,
) -> Series:
    """Validate a canonical raw weather frame (hourly ``"h"`` or daily ``"D"`` grid). ``clean``:
    ``max_gap``, ``fill``, ``duplicates`` for :func:`~forecaster.data.series.validate`."""
    target = target or DEFAULT_TARGET[interval]
    cols = target_first(target, columns or frame.columns)
    units = {**UNITS, **(units or {})}
    return validate(
        frame,
        target,
        freq="h" if interval == "1h" else "D",
        source=source,
        symbol=name,
        units={c: units[c] for c in cols if units.get(c)},
        columns=cols,
        **clean,
    )


# -- the source: places, units, the archive's lag and revisions ----------------------------------------
DECLARATION = base.Declaration(
    flags=(
        base.Flag(
            (
                base.Option(
                    "city",
                    "symbol",
                    "Weather for a built-in city, e.g. greensboro, berlin (see `forecast data "
                    "cities`).",
                ),
            ),
            example="--city greensboro",
            noun="city",
            group=True,
        ),
        base.Flag(
            (
                base.Option("lat", "latitude", "Weather at this latitude (with --lon).", "number"),
                base.Option(
                    "lon", "longitude", "Weather at this longitude (with --lat).", "number"
                ),
            ),
            example="--lat/--lon",
            noun="lat/lon",
        ),
    ),
    config="weather_hourly",
    config_by_interval={"1d": "weather_daily"},
    names=(("symbol",), ("latitude", "longitude")),
    missing="no place given — pass --city NAME or --lat/--lon",
)


class OpenMeteoSource:
    """Weather from the archive, cached; new rows resume a week before the last complete one."""

    name = "open-meteo"
    title = NAME
    live = True
    declaration = DECLARATION

    def place_of(self, cfg: DataConfig) -> Place:
        """The place a config names (a built-in city, or --lat/--lon); no network."""
        return resolve_place(cfg.symbol, cfg.latitude, cfg.longitude)

    def resolve(self, cfg: DataConfig) -> base.Request:
        if cfg.calendar:
            raise ConfigError(
                f"weather has no exchange calendar ({cfg.calendar}) — drop --calendar; it is for "
                "trading days and intraday bars of stocks"
            )
        interval = check_interval(cfg.interval)
        place = resolve_place(cfg.symbol, cfg.latitude, cfg.longitude)
        target = cfg.target or DEFAULT_TARGET[interval]
        variables = target_first(target, cfg.variables or default_variables(interval))
        name = cache.safe_key(place.name)
        coords = f"--lat {place.latitude:g} --lon {place.longitude:g}"
        return base.Request(
            source=self.name,
            name=name,
            label=place.name if cfg.symbol else f"{place.latitude:g},{place.longitude:g}",
            interval=interval,
            key=base.series_key(self.name, name, interval),
            target=target,
            columns=variables,
            flag=f"--city {place.name}" if place.name in CITIES else coords,
            identity={
                "source": self.name,
                "symbol": place.name,
                "interval": interval,
                "latitude": place.latitude,
                "longitude": place.longitude,
            },
            settings={"requested_tz": cfg.timezone or place.tz or "auto"},
            fetch_columns=tuple(variables),
            detail=place,
        )

    def covers(self, cached: cache.Cached, req, cfg: DataConfig, *, need_end: bool) -> bool:
        if not base.reaches_back(cached, base.utc(cfg.start), whole=False):
            return False
        last = cached.last_complete
        if not need_end:
            return True
        if cfg.end is None or last is None:
            return False
        step = pd.Timedelta(hours=1) if req.interval == "1h" else pd.Timedelta(days=1)
        return last >= pd.Timestamp(cfg.end).tz_localize(last.tz) - step

    def fetch(
        self, req: base.Request, cfg: DataConfig, cached: cache.Cached | None
    ) -> base.Fetched:
        """The requested span (default: the archive's last 2 or 10 years), merged into ``cached``:
        resumed a week before its last complete row when it reaches back far enough, else fetched
        up to where it begins so the cached span stays one piece."""
        start_date, end_date = default_span(req.interval, cfg.start, cfg.end)
        variables = list(req.columns or ())
        covers_from = base.utc(start_date).isoformat()
        if cached is not None:
            # every cached column, so the new rows are complete (and the next resume point advances)
            variables = list(dict.fromkeys([*variables, *cached.frame.columns]))
            if base.resumable(cached, base.utc(start_date)):
                start_date = (cached.last_complete - pd.Timedelta(days=OVERLAP_DAYS)).date()
                covers_from = cached.meta.get("covers_from")
            else:
                end_date = max(end_date, cached.frame.index[0].date())
        new = None
        if start_date <= end_date:
            new = fetch_frame(
                req.detail,
                req.interval,
                variables,
                start_date=start_date,
                end_date=end_date,
                timezone=req.settings["requested_tz"],
            )
        units = dict(cached.meta.get("units", {})) if cached is not None else {}
        meta = {"covers_from": covers_from, "timezone": None, "units": units}
        if new is not None:
            units.update(new.attrs.get("units", {}))
            meta["timezone"] = new.attrs.get("timezone")
        elif cached is not None:
            meta["timezone"] = cached.meta.get("timezone")
        if cached is None:
            assert new is not None  # default_span never returns an empty span
            return base.Fetched(new, meta, base.new_rows(None, new))
        merged = cache.merge(cached.frame, new) if new is not None else cached.frame
        return base.Fetched(merged, meta, base.new_rows(cached.frame, merged))

    def to_series(self, frame, meta: dict, req: base.Request, cfg: DataConfig, *, origin: str):
        return to_series(
            base.slice_span(frame, cfg, f"{req.label} data"),
            req.detail.name,
            req.interval,
            target=req.target,
            columns=req.columns,
            source=origin,
            units=meta.get("units") or {},
            **base.clean_options(cfg),
        )


SOURCE = OpenMeteoSource()
