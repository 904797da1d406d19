"""Flags shared by every command that reads a series, and their mapping onto config keys.

The flags that pick the series are the ones the sources declare (:mod:`forecaster.data.sources.flags`).
"""

from __future__ import annotations

from typing import Any

import click

from forecaster.data.sources import flags


def apply_options(func, options: list):
    """``func`` decorated with click ``options``, the first shown first in ``--help``."""
    for option in reversed(options):
        func = option(func)
    return func


_KINDS = {"text": None, "number": float, "file": click.Path(dir_okay=False)}
"""The click type of each kind of source option (:class:`~forecaster.data.sources.base.Option`)."""


def source_options() -> list:
    """A click option for every option of every source's flag (``--ticker``, ``--city``, ``--lat``,
    ``--lon``, ``--csv``), as the sources declare them, in order of precedence."""
    return [click.option(o.flag, o.name, type=_KINDS[o.kind], help=o.help) for o in flags.options()]


def series_options(func):
    """Add the sources' flags and --target/--interval/... to a command."""
    options = [
        *source_options(),
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
            "--future-covariates",
            help="Comma-separated columns of a --csv file known ahead (planned prices, a "
            "temperature forecast): inputs at every forecast step. Rows after the target's last "
            "value carry them for predict.",
        ),
        click.option(
            "--weather-forecasts",
            help="Comma-separated weather variables whose forecast is an input (--city/--lat/"
            "--lon), as issued before each origin: e.g. temperature_2m.",
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
    """Which source the flags select; exactly one of the flags the sources declare."""
    return flags.choose_one(kw).source


def data_overrides(kw: dict[str, Any]) -> dict[str, Any]:
    """Dotted config overrides (``data.*``) from the series flags; unset flags are left out
    (``None``). A comma-separated ``--ticker`` or ``--city`` names a group (``data.group``)."""
    columns = kw.get("columns")
    listed = {k: _listed(kw.get(k)) for k in ("future_covariates", "weather_forecasts")}
    series = {f"data.{f}": None for f in (*flags.series_fields(), "group")}
    return {
        **series,
        **flags.choose_one(kw).overrides(),
        "data.target": kw.get("target"),
        "data.time_column": kw.get("time_column"),
        "data.variables": _listed(columns),
        "data.future_covariates": listed["future_covariates"],
        "data.weather_forecasts": listed["weather_forecasts"],
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


def _listed(text: str | None) -> list[str] | None:
    """``"a, b"`` -> ``["a", "b"]``; an unset flag -> None (left to the config)."""
    return [c.strip() for c in text.split(",") if c.strip()] if text else None


def pop_series_kwargs(kw: dict[str, Any]) -> dict[str, Any]:
    """Remove the series flags from a command's kwargs and return them."""
    names = (
        *(o.name for o in flags.options()),
        "target",
        "time_column",
        "columns",
        "future_covariates",
        "weather_forecasts",
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
