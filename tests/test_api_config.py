"""make_config and the command line: defaults by source, flags over files, one place at a time,
all read from what each registered source declares."""

from __future__ import annotations

import pytest

from forecaster import api
from forecaster.cli.options import data_overrides
from forecaster.config import default_config_for, load_config
from forecaster.data.sources import SOURCES, flags
from forecaster.errors import ConfigError


def test_defaults_follow_the_source():
    stocks = api.make_config(ticker="aapl")
    assert (stocks.data.source, stocks.data.symbol, stocks.model.lookback) == ("yahoo", "AAPL", 60)
    weather = api.make_config(city="greensboro")
    assert (weather.model.lookback, weather.model.horizon) == (168, 24)


def test_overrides_win_and_are_validated():
    cfg = api.make_config(ticker="AAPL", overrides={"model.lookback": 30, "train.max_epochs": 2})
    assert (cfg.model.lookback, cfg.train.max_epochs) == (30, 2)
    with pytest.raises(ConfigError, match="model.lookback"):
        api.make_config(ticker="AAPL", overrides={"model.lookback": -1})


def test_coordinates_replace_a_named_place_and_vice_versa():
    named = api.make_config(city="greensboro")
    by_coords = api.make_config(named, lat=52.52, lon=13.41)
    assert (by_coords.data.symbol, by_coords.data.latitude) == (None, 52.52)
    back = api.make_config(by_coords, city="berlin")
    assert (back.data.symbol, back.data.latitude, back.data.longitude) == ("berlin", None, None)


def test_no_series_is_a_clear_error():
    with pytest.raises(ConfigError, match="no series given"):
        api.make_config()
    with pytest.raises(ConfigError, match="no ticker given"):
        api.make_config("stocks_daily")


# -- what each registered source declares, through make_config and the command line ---------------
FLAGS = {
    "yahoo": ["--ticker"],
    "open-meteo": ["--city", "--lat/--lon"],
    "csv": ["--csv"],
    "snapshot": [],
}
DEFAULTS = [  # source, interval -> the shipped config a run without one starts from
    ("yahoo", None, "stocks_daily"),
    ("yahoo", "1h", "stocks_daily"),
    ("open-meteo", None, "weather_hourly"),
    ("open-meteo", "1h", "weather_hourly"),
    ("open-meteo", "1d", "weather_daily"),
    ("csv", None, "default"),
    ("snapshot", "1d", "default"),
    ("no-such-source", None, "default"),  # the loader names the registered ones
]
MISSING = {  # a config naming the source but no series
    "yahoo": "no ticker given — pass --ticker SYMBOL or set data.symbol in the config",
    "open-meteo": "no place given — pass --city NAME or --lat/--lon",
    "csv": "no file given — pass --csv PATH",
}


def test_every_registered_source_declares_its_flags():
    assert {
        name: [f.label for f in src.declaration.flags] for name, src in SOURCES.items()
    } == FLAGS
    # one order of precedence for the API and the help text
    assert [o.name for o in flags.options()] == ["ticker", "city", "lat", "lon", "csv"]


@pytest.mark.parametrize("source, interval, name", DEFAULTS)
def test_the_default_config_follows_the_source_and_interval(source, interval, name):
    assert default_config_for(source, interval) == load_config(name)
    over = {"data.source": source, "data.interval": interval, "data.symbol": "x", "data.path": "x"}
    cfg = api.make_config(overrides=over)
    assert cfg.model == load_config(name).model


@pytest.mark.parametrize("source", list(SOURCES))
def test_a_config_that_names_no_series_is_the_sources_own_error(tmp_path, source):
    path = tmp_path / "c.yaml"
    path.write_text(f"data:\n  source: {source}\n")
    if source not in MISSING:  # a snapshot's name is checked when it is read
        assert api.make_config(path).data.source == source
        return
    with pytest.raises(ConfigError) as exc:
        api.make_config(path)
    assert str(exc.value) == MISSING[source]


@pytest.mark.parametrize(
    "kw, source, data",
    [
        ({"ticker": "aapl"}, "yahoo", {"symbol": "AAPL"}),
        ({"city": "Berlin"}, "open-meteo", {"symbol": "Berlin", "latitude": None}),
        ({"lat": 0.0, "lon": -79.5}, "open-meteo", {"latitude": 0.0, "longitude": -79.5}),
        ({"csv": "prices.csv"}, "csv", {"path": "prices.csv"}),
        # the first flag given wins: ticker, city, lat/lon, csv
        ({"csv": "p.csv", "lat": 1.0, "lon": 2.0}, "open-meteo", {"path": None, "latitude": 1.0}),
        ({"city": "paris", "ticker": "ibm"}, "yahoo", {"symbol": "IBM"}),
    ],
)
def test_each_flag_selects_its_source_and_fields(kw, source, data):
    cfg = api.make_config(**kw)
    assert cfg.data.source == source
    got = {k: (str(v) if k == "path" and v else v) for k, v in cfg.data}
    assert {k: got[k] for k in data} == data


@pytest.mark.parametrize(
    "kw, source, fields",
    [
        ({"ticker": "aapl"}, "yahoo", {"data.symbol": "AAPL"}),
        ({"ticker": "aapl,msft"}, "yahoo", {"data.group": {"name": None, "symbols": ["AAPL", "MSFT"]}}),
        ({"city": "berlin,Paris"}, "open-meteo", {"data.group": {"name": None, "symbols": ["berlin", "Paris"]}}),
        ({"lat": 1.5, "lon": 2.5}, "open-meteo", {"data.latitude": 1.5, "data.longitude": 2.5}),
        ({"csv": "f.csv"}, "csv", {"data.path": "f.csv"}),
    ],
)  # fmt: skip
def test_the_command_line_maps_each_flag_onto_its_sources_fields(kw, source, fields):
    over = data_overrides(kw)
    named = {"data.symbol", "data.group", "data.latitude", "data.longitude", "data.path"}
    assert over["data.source"] == source
    assert {k: v for k, v in over.items() if k in named and v is not None} == fields


@pytest.mark.parametrize(
    "kw, message",
    [
        ({}, "no series given — pass --ticker AAPL, --city greensboro, --lat/--lon or --csv FILE"),
        ({"ticker": "A", "city": "b"}, "choose one series: --ticker and --city were both given"),
        (
            {"lat": 1, "lon": 2, "csv": "f"},
            "choose one series: --lat/--lon and --csv were both given",
        ),
        ({"lat": 1.0}, "--lat and --lon must be given together"),
        ({"ticker": "A,a"}, "--ticker lists A twice (A, A) — name each member once"),
    ],
)
def test_the_command_line_takes_exactly_one_flag(kw, message):
    with pytest.raises(ConfigError) as exc:
        data_overrides(kw)
    assert str(exc.value) == message
