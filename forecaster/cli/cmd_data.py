"""``forecast data``: fetch and cache series, and take a first look at them."""

from __future__ import annotations

from typing import Any

import click
import pandas as pd

from forecaster.cli import cli
from forecaster.cli.options import data_overrides, pop_series_kwargs, series_options
from forecaster.config import DataConfig, make_config
from forecaster.data import loader
from forecaster.data import sources as registry
from forecaster.data.series import TRADING_DAYS, Series, is_intraday, missing_steps
from forecaster.data.sources import openmeteo, snapshot, yahoo


def data_config(kw: dict[str, Any]) -> DataConfig:
    """The series flags on top of the shipped default config for the chosen source."""
    return make_config(overrides=data_overrides(pop_series_kwargs(kw))).data


@cli.group("data")
def data_group() -> None:
    """Fetch, cache and inspect series (stocks, weather, local files).

    \b
    Examples:
      forecast data show --ticker AAPL
      forecast data fetch --city greensboro
      forecast data cities
    """


# -- show ---------------------------------------------------------------------------------------------
def _stamp(stamp: pd.Timestamp, daily: bool) -> str:
    return f"{stamp:%Y-%m-%d}" if daily else f"{stamp:%Y-%m-%d %H:%M}"


def _frequency_text(series: Series) -> str:
    if series.freq == TRADING_DAYS and series.calendar:
        return f"B ({series.calendar} sessions; weekends and the exchange's holidays absent)"
    if series.freq == TRADING_DAYS:
        return "B (trading days; weekends and market holidays absent)"
    if is_intraday(series.freq) and series.calendar:
        return f"{series.freq} (bars inside {series.calendar} sessions only)"
    if is_intraday(series.freq) and set(yahoo.COLUMNS) <= set(series.frame.columns):
        return f"{series.freq} (bars during trading hours only)"
    return series.freq


def _missing_text(series: Series) -> str:
    if is_intraday(series.freq) and set(yahoo.COLUMNS) <= set(series.frame.columns):
        return "n/a (intraday bars cover trading hours only)"
    counts = series.session_counts()
    if counts:
        missing = counts["missing_sessions"]
        filled = " (filled, see notes)" if missing else ""
        return (
            f"{counts['holidays']:,} weekdays {series.calendar} is closed (holidays, not missing); "
            f"{missing:,} {'session' if missing == 1 else 'sessions'} missing from the data{filled}"
        )
    n = missing_steps(series.index, series.freq)
    if series.freq == TRADING_DAYS:
        return f"{n:,} weekdays without a session (market holidays)"
    return f"{n:,} steps"


def _filled_rows(series: Series) -> list[tuple[str, str]]:
    """A ``filled`` line when the NaN policy filled in target values (they are not data)."""
    filled, n = int(series.filled_mask().sum()), len(series)
    if not filled:
        return []
    return [
        (
            "filled",
            f"{filled:,} of {n:,} '{series.target}' values ({filled / n:.0%}) filled in, not "
            "observed",
        )
    ]


def _number(value: float, unit: str) -> str:
    return f"{value:,.6g}{' ' + unit if unit else ''}"


def _cleaning_text(cfg: DataConfig) -> str:
    fill = "none" if cfg.fill == "none" else f"{cfg.fill} (gaps up to {cfg.max_gap} steps)"
    return f"duplicates {cfg.duplicates}, fill {fill} — what was done is under notes"


def show_lines(loaded: loader.Loaded, key: str, cfg: DataConfig) -> list[str]:
    """What ``forecast data show`` prints: one ``label  value`` line per fact; the notes say what
    validation changed, with counts (duplicates resolved, values filled and how)."""
    s = loaded.series
    daily = not is_intraday(s.freq)
    unit = s.units.get(s.target, "")
    values = s.frame[s.target]
    rows = [
        ("source", f"{s.source} ({loaded.detail})"),
        ("symbol", s.symbol),
        ("key", key),
        ("span", f"{_stamp(s.start, daily)}..{_stamp(s.end, daily)} ({s.index.tz})"),
        ("rows", f"{len(s):,}"),
        ("frequency", _frequency_text(s)),
        ("missing", _missing_text(s)),
        *_filled_rows(s),
        (
            "target",
            f"{s.target}: first {_number(values.iloc[0], unit)} ({_stamp(s.start, daily)}), "
            f"last {_number(values.iloc[-1], unit)} ({_stamp(s.end, daily)})",
        ),
        (
            "columns",
            ", ".join(f"{c} [{s.units[c]}]" if s.units.get(c) else c for c in s.frame.columns),
        ),
    ]
    if loaded.cache_file is not None:
        rows.append(("cache", str(loaded.cache_file)))
    rows.append(("cleaning", _cleaning_text(cfg)))
    notes = list(s.notes) or ["none"]
    rows += [("notes" if i == 0 else "", note) for i, note in enumerate(notes)]
    return [f"{label:<10} {value}" for label, value in rows]


@data_group.command("show")
@series_options
def show(**kw: Any) -> None:
    """Print a first look at a series: source, span, rows, gaps, values.

    Shows where the data came from, its span, rows, frequency, missing steps, the first and last
    target values with units, the columns and what validation changed. Uses the live source (and updates the cache); when it is unreachable, the cache or the
    bundled snapshot, with a notice.

    \b
    Examples:
      forecast data show --ticker AAPL
      forecast data show --ticker AAPL --offline --start 2010-01-01
      forecast data show --city greensboro --interval 1d
      forecast data show --lat 35.07 --lon -79.79
      forecast data show --csv prices.csv --target close
      forecast data show --csv meter.csv --duplicates last --fill interpolate --max-gap 48
    """
    cfg = data_config(kw)
    loaded = loader.load(cfg)
    for line in show_lines(loaded, loader.series_key(cfg), cfg):
        click.echo(line)


# -- fetch --------------------------------------------------------------------------------------------
@data_group.command("fetch")
@series_options
def fetch(**kw: Any) -> None:
    """Fetch new data into the cache (only what is new).

    Asks Yahoo Finance or Open-Meteo for the rows after the cached ones. Prints one line: rows fetched, the cached span and the cache file. Exits with status 3 when
    the source is unreachable (saying which data offline runs would use), 2 for a bad request.

    \b
    Examples:
      forecast data fetch --ticker AAPL
      forecast data fetch --ticker MSFT --interval 1h
      forecast data fetch --city berlin --interval 1d --start 2015-01-01
    """
    cfg = data_config(kw)
    loaded = loader.fetch(cfg)
    s = loaded.series
    daily = not is_intraday(s.freq)
    name = registry.get(cfg.source).title
    plural = "row" if loaded.new_rows == 1 else "rows"
    where = f"cache {loaded.cache_file}" if loaded.cache_file else "not cached (write failed)"
    click.echo(
        f"{s.symbol} {cfg.interval}: {loaded.new_rows} new {plural} from {name}; "
        f"{len(s):,} rows {_stamp(s.start, daily)}..{_stamp(s.end, daily)}; {where}"
    )


# -- tables -------------------------------------------------------------------------------------------
@data_group.command("cities")
def cities() -> None:
    """List the built-in cities for --city, with coordinates and time zone.

    \b
    Examples:
      forecast data cities
      forecast data show --city tokyo
    """
    click.echo(f"{'city':<14} {'latitude':>9} {'longitude':>10}  time zone")
    for place in openmeteo.CITIES.values():
        click.echo(f"{place.name:<14} {place.latitude:>9.2f} {place.longitude:>10.2f}  {place.tz}")
    click.echo("Elsewhere: --lat/--lon in degrees, e.g. --lat 35.07 --lon -79.79.")


@data_group.command("snapshots")
def snapshots() -> None:
    """List the bundled real data used offline when nothing is cached.

    \b
    Examples:
      forecast data snapshots
      forecast data show --ticker MSFT --offline
    """
    click.echo(f"{'name':<11} {'stands in for':<32} {'span':<34} {'rows':>6}  columns")
    for snap in snapshot.SNAPSHOTS:
        s = snapshot.load(snap)
        daily = not is_intraday(s.freq)
        stands = f"{snap.flag} --interval {snap.interval}"
        span = f"{_stamp(s.start, daily)}..{_stamp(s.end, daily)}"
        click.echo(
            f"{snap.name:<11} {stands:<32} {span:<34} {len(s):>6,}  {', '.join(s.frame.columns)}"
        )
