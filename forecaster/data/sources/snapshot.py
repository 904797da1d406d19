"""Real data bundled with the package (``data/snapshots``, see its SOURCES.md), source ``snapshot``.

Used when a live source is unreachable and nothing is cached, and by tests and notebooks. Each
bundled series is one row of :data:`SNAPSHOTS`: its file, the file's columns mapped onto the
canonical columns the live source produces, their units, time zone and frequency. Reading a file
is the same code for every row; nothing depends on a file's name.

* stocks (Quandl WIKI daily prices, AAPL/MSFT/IBM/GOOG/FB, 2000-03-01 .. 2013-03-01): ``open high low
  close`` adjusted for splits and dividends (raw OHLC x Adj Close / Close, as yfinance's
  ``auto_adjust=True``), ``volume`` as published. Trading days, America/New_York.
* greensboro (NREL TMY3 hourly, one typical year mapped onto 2001, hour-ending stamps, fixed UTC-5):
  ``temperature_2m relative_humidity_2m dew_point_2m surface_pressure wind_speed_10m
  wind_direction_10m shortwave_radiation`` in Open-Meteo's names and units (°C, %, °C, hPa, m/s, °, W/m²).
* seattle (NOAA daily, 2012 .. 2015): ``temperature_2m_max temperature_2m_min precipitation_sum
  wind_speed_10m_mean``; the text label column is left out.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecaster.config import DataConfig
from forecaster.data import cache
from forecaster.data.series import TRADING_DAYS, Series, validate
from forecaster.data.sources import base, openmeteo, tickers, yahoo
from forecaster.errors import ConfigError, DataError
from forecaster.resources import snapshots_dir


@dataclass(frozen=True)
class Adjust:
    """Columns scaled by ``adjusted / raw`` (Adj Close / Close), as yfinance's ``auto_adjust`` does."""

    adjusted: str
    raw: str
    scale: tuple[str, ...]


@dataclass(frozen=True)
class Snapshot:
    """One bundled series: the request it stands in for, and how to read its file."""

    name: str
    source: str
    """The live source it stands in for: ``yahoo`` or ``open-meteo``."""
    symbol: str
    interval: str
    flag: str
    """The flags of the request it stands in for: ``--ticker AAPL``, ``--city seattle``."""
    file: str
    time_column: str
    columns: dict[str, str]
    """File column -> canonical column, in the canonical order."""
    units: dict[str, str]
    """Canonical column -> unit."""
    tz: str
    target: str
    freq: str | None = None
    """``None``: inferred (hourly, daily)."""
    time_format: str | None = None
    rows: tuple[str, str] | None = None
    """``(column, value)``: the file holds several series; keep the rows with this value."""
    adjust: Adjust | None = field(default=None)
    calendar: str | None = None
    """The exchange calendar of a stock snapshot (``XNYS``); ``data.calendar`` overrides it."""


_STOCK_COLUMNS = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Adj Close": "close",
    "Volume": "volume",
}
STOCK_TICKERS = ("AAPL", "MSFT", "IBM", "GOOG", "FB")
_GREENSBORO_COLUMNS = {
    "temp_c": "temperature_2m",
    "rel_humidity_pct": "relative_humidity_2m",
    "dewpoint_c": "dew_point_2m",
    "pressure_mbar": "surface_pressure",
    "wind_speed_ms": "wind_speed_10m",
    "wind_dir_deg": "wind_direction_10m",
    "ghi_wm2": "shortwave_radiation",
}
_SEATTLE_COLUMNS = {
    "temp_max": "temperature_2m_max",
    "temp_min": "temperature_2m_min",
    "precipitation": "precipitation_sum",
    "wind": "wind_speed_10m_mean",
}
# Units and calendars come from the live sources the snapshots stand in for, so a bundled series
# and a fetched one always say the same.

SNAPSHOTS: tuple[Snapshot, ...] = (
    *(
        Snapshot(
            name=t,
            source="yahoo",
            symbol=t,
            interval="1d",
            flag=f"--ticker {t}",
            file="stocks_daily.csv",
            time_column="Date",
            columns=_STOCK_COLUMNS,
            units=yahoo.units_for(_STOCK_COLUMNS.values()),
            tz="America/New_York",
            target="close",
            freq=TRADING_DAYS,
            rows=("Ticker", t),
            adjust=Adjust("Adj Close", "Close", ("Open", "High", "Low")),
            calendar=tickers.calendar_for(t),
        )
        for t in STOCK_TICKERS
    ),
    Snapshot(
        name="greensboro",
        source="open-meteo",
        symbol="greensboro",
        interval="1h",
        flag="--city greensboro",
        file="greensboro_tmy3_hourly.csv",
        time_column="time",
        columns=_GREENSBORO_COLUMNS,
        units=openmeteo.units_of(_GREENSBORO_COLUMNS.values()),
        tz="Etc/GMT+5",
        target="temperature_2m",
    ),
    Snapshot(
        name="seattle",
        source="open-meteo",
        symbol="seattle",
        interval="1d",
        flag="--city seattle",
        file="seattle_weather_daily.csv",
        time_column="date",
        time_format="%Y/%m/%d",
        columns=_SEATTLE_COLUMNS,
        units=openmeteo.units_of(_SEATTLE_COLUMNS.values()),
        tz="America/Los_Angeles",
        target="temperature_2m_max",
    ),
)


def named(name: str | None) -> Snapshot:
    """A snapshot by name (``AAPL``, ``greensboro``, ``seattle``, ...), any case."""
    for snap in SNAPSHOTS:
        if name and snap.name.lower() == name.lower():
            return snap
    names = ", ".join(s.name for s in SNAPSHOTS)
    raise ConfigError(
        f"no bundled snapshot named '{base.shorten(name or '')}' — available: {names}"
    )


def find(source: str, symbol: str | None, interval: str) -> Snapshot | None:
    """The snapshot standing in for ``source``/``symbol``/``interval``, or None."""
    for snap in SNAPSHOTS:
        if (
            symbol
            and snap.source == source
            and snap.symbol.lower() == symbol.lower()
            and snap.interval == interval
        ):
            return snap
    return None


@functools.lru_cache(maxsize=4)
def _read_csv(file: str) -> pd.DataFrame:
    path = snapshots_dir() / file
    try:
        return pd.read_csv(path)
    except (OSError, pd.errors.ParserError) as exc:
        raise DataError(
            f"bundled snapshot {path} cannot be read ({exc}) — reinstall forecaster"
        ) from None


def raw_frame(snap: Snapshot) -> pd.DataFrame:
    """The snapshot as a raw frame in canonical columns (float64), indexed by naive local times."""
    df = _read_csv(snap.file)
    if snap.rows is not None:
        df = df[df[snap.rows[0]] == snap.rows[1]]
    out = pd.DataFrame({new: df[old] for old, new in snap.columns.items()}).astype(np.float64)
    if snap.adjust is not None:
        factor = df[snap.adjust.adjusted] / df[snap.adjust.raw]
        for old in snap.adjust.scale:
            out[snap.columns[old]] = df[old] * factor
    times = pd.to_datetime(df[snap.time_column], format=snap.time_format)
    out.index = pd.DatetimeIndex(times, name="time")
    return out


def load(
    snap: Snapshot,
    *,
    target: str | None = None,
    columns: list[str] | None = None,
    raw: pd.DataFrame | None = None,
    calendar: str | None = None,
    **clean,
) -> Series:
    """A snapshot as a validated :class:`Series` (source ``snapshot``). ``calendar`` overrides the
    snapshot's own. ``clean``: ``max_gap``, ``fill``, ``duplicates`` for
    :func:`~forecaster.data.series.validate`."""
    raw = raw_frame(snap) if raw is None else raw
    cols = columns or list(raw.columns)
    return validate(
        raw,
        target or snap.target,
        freq=snap.freq,
        tz=snap.tz,
        source="snapshot",
        symbol=snap.symbol,
        units={c: u for c, u in snap.units.items() if c in cols or c == (target or snap.target)},
        columns=cols,
        calendar=calendar or snap.calendar,
        **clean,
    )


def load_named(name: str, **kwargs) -> Series:
    """Load a snapshot by name (``AAPL``, ``greensboro``, ``seattle``, ...)."""
    return load(named(name), **kwargs)


@functools.lru_cache(maxsize=16)
def _span(name: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    s = load(named(name))
    return s.start, s.end


def span(snap: Snapshot) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last timestamps of a snapshot (for notices)."""
    return _span(snap.name)


def span_text(snap: Snapshot) -> str:
    start, end = span(snap)
    return f"{base.day(start)}..{base.day(end)}"


def stand_in(
    snap: Snapshot, req: base.Request, cfg: DataConfig, raw: pd.DataFrame | None = None
) -> Series:
    """The snapshot as the series ``req`` asks for: its columns narrowed to what the snapshot has,
    ``cfg``'s span and cleaning settings, and a note saying it is bundled data."""
    what = f"the bundled snapshot {snap.name}"
    narrowed, lacking = base.narrow(req, snap.columns.values(), what)
    full = load(
        snap,
        target=narrowed.target,
        columns=narrowed.columns,
        raw=raw,
        calendar=cfg.calendar,
        **base.clean_options(cfg),
    )
    series = full
    if cfg.start or cfg.end:
        series = full.between(cfg.start, cfg.end)
        if len(series) < 3:
            raise DataError(
                f"{what} covers {base.day(full.start)}..{base.day(full.end)}; the requested span "
                f"{base.span_text(cfg)} leaves {len(series)} rows — adjust --start/--end"
            )
    note = f"bundled snapshot {snap.name} ({span_text(snap)}), not live data"
    return base.with_note(series, note + base.lacking_text(lacking, "the snapshot"))


class SnapshotSource:
    """A bundled series named directly (``data.source: snapshot``, ``data.symbol: seattle``)."""

    name = "snapshot"
    title = "bundled snapshot"
    live = False
    declaration = base.Declaration()
    """No flag selects it and the default config is the generic one; :func:`named` checks the name."""

    def resolve(self, cfg: DataConfig) -> base.Request:
        snap = named(cfg.symbol)
        name = cache.safe_key(snap.name)
        return base.Request(
            source=self.name,
            name=name,
            label=snap.name,
            interval=snap.interval,
            key=base.series_key(self.name, name, snap.interval),
            target=cfg.target or snap.target,
            columns=list(cfg.variables) or None,
            flag=snap.flag,
            detail=snap,
        )

    def covers(self, cached, req, cfg, *, need_end: bool) -> bool:
        return False  # read directly, never cached

    def fetch(self, req: base.Request, cfg: DataConfig, cached) -> base.Fetched:
        snap: Snapshot = req.detail
        frame = raw_frame(snap)
        detail = f"bundled snapshot {snap.name} {span_text(snap)}"
        return base.Fetched(frame, {}, len(frame), origin="snapshot", detail=detail)

    def to_series(self, frame, meta, req: base.Request, cfg: DataConfig, *, origin: str) -> Series:
        return stand_in(req.detail, req, cfg, raw=frame)


SOURCE = SnapshotSource()
