"""Flags shared by every command that reads a series, and their mapping onto config keys."""

from __future__ import annotations

from typing import Any

import click

from forecaster.config import group_of
from forecaster.errors import ConfigError


def apply_options(func, options: list):
    """``func`` decorated with click ``options``, the first shown first in ``--help``."""
    for option in reversed(options):
        func = option(func)
    return func


def series_options(func):
    """Add --ticker/--city/--lat/--lon/--csv/--target/... to a command."""
    options = [
        click.option("--ticker", help="Stock ticker on Yahoo Finance, e.g. AAPL."),
        click.option(
            "--city",
            help="Weather for a built-in city, e.g. greensboro, berlin (see `forecast data cities`).",
        ),
        click.option("--lat", type=float, help="Weather at this latitude (with --lon)."),
        click.option("--lon", type=float, help="Weather at this longitude (with --lat)."),
        click.option(
            "--csv",
            "csv_path",
            type=click.Path(dir_okay=False),
            help="A local CSV or Parquet file.",
        ),
        click.option(
            "--target",
            help="Column to forecast (default: close for stocks, temperature_2m for weather).",
        ),
        click.option(
            "--time-column",
            help="Time column of a --csv file (default: the first date-like column).",
        ),
        click.option(
            "--columns",
            help="Comma-separated value columns to keep (--csv) or weather variables to fetch.",
        ),
        click.option(
            "--interval", help="Sampling interval: 1d, 1h, 15m, ... (default from the config)."
        ),
        click.option("--start", help="First date to use, YYYY-MM-DD."),
        click.option("--end", help="Use data before this date, YYYY-MM-DD."),
        click.option(
            "--tz", help="Time zone for naive timestamps (--csv) or to request (weather)."
        ),
        click.option(
            "--max-gap",
            type=int,
            help="Fill gaps up to this many steps (see --fill); longer gaps are errors.",
        ),
        click.option(
            "--fill",
            type=click.Choice(["ffill", "interpolate", "none"]),
            help="How to fill gaps up to --max-gap steps: last value (default), straight line, "
            "or not at all.",
        ),
        click.option(
            "--duplicates",
            type=click.Choice(["error", "first", "last", "mean"]),
            help="One timestamp with rows that differ: an error (default), or keep the first or "
            "last row, or their mean.",
        ),
        click.option(
            "--calendar",
            help="Exchange calendar of the series' sessions, e.g. XNYS, XLON, XETR (default: "
            "from the ticker; none for --csv).",
        ),
        click.option(
            "--offline",
            is_flag=True,
            default=None,
            help="Do not touch the network: cache, then bundled snapshot.",
        ),
    ]
    return apply_options(func, options)


def source_of(kw: dict[str, Any]) -> str:
    """Which source the flags select; exactly one of --ticker, --city, --lat/--lon, --csv."""
    chosen = [
        name
        for name, present in (
            ("--ticker", kw.get("ticker")),
            ("--city", kw.get("city")),
            ("--lat/--lon", kw.get("lat") is not None or kw.get("lon") is not None),
            ("--csv", kw.get("csv_path")),
        )
        if present
    ]
    if len(chosen) > 1:
        raise ConfigError(f"choose one series: {' and '.join(chosen)} were both given")
    if not chosen:
        raise ConfigError(
            "no series given — pass --ticker AAPL, --city greensboro, --lat/--lon or --csv FILE"
        )
    return {
        "--ticker": "yahoo",
        "--city": "open-meteo",
        "--lat/--lon": "open-meteo",
        "--csv": "csv",
    }[chosen[0]]


def data_overrides(kw: dict[str, Any]) -> dict[str, Any]:
    """Dotted config overrides (``data.*``) from the series flags; unset flags are left out."""
    if (kw.get("lat") is None) != (kw.get("lon") is None):
        raise ConfigError("--lat and --lon must be given together")
    columns = kw.get("columns")
    symbol = kw.get("ticker") or kw.get("city")
    symbol = symbol.upper() if kw.get("ticker") else symbol
    group = group_of(symbol, bool(kw.get("ticker"))) if symbol else None
    if group is not None:  # --ticker AAPL,MSFT,IBM: a group (data.group)
        symbol = None
    out = {
        "data.source": source_of(kw),
        "data.symbol": symbol,
        "data.group": group,
        "data.latitude": kw.get("lat"),
        "data.longitude": kw.get("lon"),
        "data.path": kw.get("csv_path"),
        "data.target": kw.get("target"),
        "data.time_column": kw.get("time_column"),
        "data.variables": [c.strip() for c in columns.split(",") if c.strip()] if columns else None,
        "data.interval": kw.get("interval"),
        "data.start": kw.get("start"),
        "data.end": kw.get("end"),
        "data.timezone": kw.get("tz"),
        "data.max_gap": kw.get("max_gap"),
        "data.fill": kw.get("fill"),
        "data.duplicates": kw.get("duplicates"),
        "data.offline": kw.get("offline"),
        "data.calendar": kw.get("calendar"),
    }
    return out


def pop_series_kwargs(kw: dict[str, Any]) -> dict[str, Any]:
    """Remove the series flags from a command's kwargs and return them."""
    names = (
        "ticker",
        "city",
        "lat",
        "lon",
        "csv_path",
        "target",
        "time_column",
        "columns",
        "interval",
        "start",
        "end",
        "tz",
        "max_gap",
        "fill",
        "duplicates",
        "offline",
        "calendar",
    )
    return {n: kw.pop(n, None) for n in names}
