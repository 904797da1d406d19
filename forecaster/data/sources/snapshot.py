"""Real data bundled with the package (``data/snapshots``, see its SOURCES.md).

Used when a live source is unreachable and nothing is cached, and by tests and notebooks. The
snapshots are mapped onto the same canonical columns the live sources produce:

* stocks (Quandl WIKI daily prices, AAPL/MSFT/IBM/GOOG/FB, 2000-03-01 .. 2013-03-01): ``open high low
  close`` adjusted for splits and dividends (raw OHLC x Adj Close / Close, as yfinance's
  ``auto_adjust=True``), ``volume`` as published. Trading days, America/New_York.
* greensboro (NREL TMY3 hourly, one typical year mapped onto 2001, hour-ending stamps, fixed UTC-5):
  ``temperature_2m relative_humidity_2m dew_point_2m surface_pressure wind_speed_10m
  wind_direction_10m shortwave_radiation`` in Open-Meteo's names and units (°C, %, °C, hPa, m/s, °, W/m²).
* seattle (NOAA daily, 2012 .. 2015): ``temperature_2m_max temperature_2m_min precipitation_sum
  wind_speed_10m_mean``; the text label column is dropped.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pandas as pd

from forecaster.data.series import Series, validate
from forecaster.errors import DataError
from forecaster.resources import snapshots_dir

STOCK_UNITS = {"open": "USD", "high": "USD", "low": "USD", "close": "USD", "volume": "shares"}
WEATHER_UNITS = {
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
}


@dataclass(frozen=True)
class Snapshot:
    """One bundled series: which request it stands in for, and its file."""

    name: str
    source: str  # the live source it stands in for: "yahoo" or "open-meteo"
    symbol: str  # ticker or city
    interval: str
    file: str
    tz: str
    target: str


STOCK_TICKERS = ("AAPL", "MSFT", "IBM", "GOOG", "FB")
SNAPSHOTS: tuple[Snapshot, ...] = tuple(
    Snapshot(t, "yahoo", t, "1d", "stocks_daily.csv", "America/New_York", "close")
    for t in STOCK_TICKERS
) + (
    Snapshot(
        "greensboro",
        "open-meteo",
        "greensboro",
        "1h",
        "greensboro_tmy3_hourly.csv",
        "Etc/GMT+5",
        "temperature_2m",
    ),
    Snapshot(
        "seattle",
        "open-meteo",
        "seattle",
        "1d",
        "seattle_weather_daily.csv",
        "America/Los_Angeles",
        "temperature_2m_max",
    ),
)


def find(source: str, symbol: str | None, interval: str) -> Snapshot | None:
    """The snapshot standing in for ``source``/``symbol``/``interval``, or None."""
    if not symbol:
        return None
    for snap in SNAPSHOTS:
        if (
            snap.source == source
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
    """The snapshot as a raw frame in canonical columns, indexed by naive local timestamps."""
    df = _read_csv(snap.file)
    if snap.file == "stocks_daily.csv":
        df = df[df["Ticker"] == snap.symbol]
        factor = df["Adj Close"] / df["Close"]
        out = pd.DataFrame(
            {
                "open": df["Open"] * factor,
                "high": df["High"] * factor,
                "low": df["Low"] * factor,
                "close": df["Adj Close"],
                "volume": df["Volume"].astype("float64"),
            }
        )
        out.index = pd.DatetimeIndex(pd.to_datetime(df["Date"]), name="time")
        return out
    if snap.file == "greensboro_tmy3_hourly.csv":
        out = df.rename(
            columns={
                "temp_c": "temperature_2m",
                "rel_humidity_pct": "relative_humidity_2m",
                "dewpoint_c": "dew_point_2m",
                "pressure_mbar": "surface_pressure",
                "wind_speed_ms": "wind_speed_10m",
                "wind_dir_deg": "wind_direction_10m",
                "ghi_wm2": "shortwave_radiation",
            }
        )
        out.index = pd.DatetimeIndex(pd.to_datetime(out.pop("time")), name="time")
        return out[[c for c in WEATHER_UNITS if c in out.columns]]
    out = df.rename(
        columns={
            "temp_max": "temperature_2m_max",
            "temp_min": "temperature_2m_min",
            "precipitation": "precipitation_sum",
            "wind": "wind_speed_10m_mean",
        }
    )
    out.index = pd.DatetimeIndex(pd.to_datetime(out.pop("date"), format="%Y/%m/%d"), name="time")
    return out[
        ["temperature_2m_max", "temperature_2m_min", "precipitation_sum", "wind_speed_10m_mean"]
    ]


def load(
    snap: Snapshot, *, target: str | None = None, columns: list[str] | None = None, max_gap: int = 3
) -> Series:
    """Load a snapshot as a validated :class:`Series` (source ``snapshot``)."""
    raw = raw_frame(snap)
    units = STOCK_UNITS if snap.source == "yahoo" else WEATHER_UNITS
    cols = columns or list(raw.columns)
    target = target or snap.target
    if target not in cols and target in raw.columns:
        cols = [target, *cols]
    return validate(
        raw,
        target,
        freq="B" if snap.source == "yahoo" else None,
        tz=snap.tz,
        max_gap=max_gap,
        source="snapshot",
        symbol=snap.symbol,
        units={c: u for c, u in units.items() if c in cols},
        columns=cols,
    )


def load_named(name: str, **kwargs) -> Series:
    """Load a snapshot by name (``AAPL``, ``greensboro``, ``seattle``, ...)."""
    for snap in SNAPSHOTS:
        if snap.name.lower() == name.lower():
            return load(snap, **kwargs)
    names = ", ".join(s.name for s in SNAPSHOTS)
    raise DataError(f"no bundled snapshot named '{name}' — available: {names}")


def span(snap: Snapshot) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last timestamps of a snapshot (for notices)."""
    s = load(snap)
    return s.start, s.end
