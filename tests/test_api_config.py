"""make_config: defaults by source, flags over files, one place at a time."""

from __future__ import annotations

import pytest

from forecaster import api
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
