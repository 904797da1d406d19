"""Groups of series: `--ticker AAPL,MSFT,IBM` and `data.group` -> a typed SeriesGroup, each member
loaded through the loader (its own cache and fallback), one-line errors for bad groups."""

from __future__ import annotations

import pytest
import yfinance
from click.testing import CliRunner
from fakes import FakeYahoo

from forecaster.cli import cli
from forecaster.config import make_config, parse_symbols, validate_config
from forecaster.data import loader
from forecaster.data.group import from_series, load_group, store_key
from forecaster.errors import ConfigError, DataError, SourceUnavailable


def group_cfg(tickers: str, **over):
    return make_config(ticker=tickers, overrides={"data.offline": True, **over}).data


def test_a_ticker_list_loads_each_member_in_order():
    cfg = group_cfg("aapl, msft,IBM")
    assert cfg.group is not None and cfg.group.symbols == ["AAPL", "MSFT", "IBM"]
    assert cfg.symbol is None and cfg.source == "yahoo"
    group = load_group(cfg)
    assert group.symbols == ("AAPL", "MSFT", "IBM") and len(group) == 3
    assert group.freq == "B" and group.calendars == ("XNYS",) * 3
    assert group.name == "AAPL_MSFT_IBM" and group.key == "group-AAPL_MSFT_IBM-1d"
    assert store_key(cfg) == group.key  # the model store's key for the group
    assert [got.origin for got in group.loaded] == ["snapshot"] * 3
    assert group.member("msft") is group.members[1]
    with pytest.raises(ConfigError, match="GOOG is not a member of group AAPL_MSFT_IBM"):
        group.member("GOOG")


def test_each_member_keeps_its_own_cache_and_fallback(monkeypatch):
    fake = FakeYahoo(today="2024-03-08")
    monkeypatch.setattr(yfinance, "Ticker", fake.Ticker)
    loader.fetch(make_config(ticker="MSFT").data)  # MSFT is cached; AAPL is not
    group = load_group(group_cfg("AAPL,MSFT"))
    aapl, msft = group.loaded
    assert aapl.origin == "snapshot" and msft.origin == "cache"
    assert f"{msft.series.end:%Y-%m-%d}" == "2024-03-08" and f"{aapl.series.end:%Y}" == "2013"
    assert len(fake.calls) == 1  # offline: no member touched the network again


def test_a_named_group_in_a_config_and_its_key():
    cfg = validate_config(
        {"data": {"source": "yahoo", "group": {"name": "big tech/US", "symbols": ["AAPL", "IBM"]}}}
    ).data
    key = store_key(cfg)
    assert key.startswith("group-big_tech_US~") and key.endswith("-1d") and "/" not in key
    named = make_config(ticker="AAPL,IBM", overrides={"data.group.name": "big_tech"}).data
    assert store_key(named) == "group-big_tech-1d"
    # one series on the command line replaces the config's group, and a group its series
    assert (
        make_config(validate_config({"data": cfg.model_dump()}), ticker="MSFT").data.group is None
    )
    single = validate_config({"data": {"source": "yahoo", "symbol": "AAPL"}})
    assert make_config(single, ticker="AAPL,IBM").data.symbol is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"symbols": ["AAPL"]}, r"at least 2 members, data\.group\.symbols gives AAPL"),
        ({"symbols": ["AAPL", "aapl"]}, r"lists aapl twice"),
        ({"symbols": ["AAPL", "A,B"]}, r"one non-empty symbol"),
        ({"symbols": ["AAPL", "IBM"], "extra": 1}, r"unknown key 'data\.group\.extra'"),
    ],
)
def test_bad_groups_in_a_config_are_one_line(raw, message):
    with pytest.raises(ConfigError, match=message) as exc:
        validate_config({"data": {"source": "yahoo", "group": raw}})
    assert "\n" not in str(exc.value)


def test_a_group_and_a_symbol_or_a_file_is_one_line():
    both = {"source": "yahoo", "symbol": "AAPL", "group": {"symbols": ["AAPL", "IBM"]}}
    with pytest.raises(ConfigError, match=r"leave data\.symbol unset"):
        validate_config({"data": both})
    files = {"source": "csv", "group": {"symbols": ["a", "b"]}}
    with pytest.raises(ConfigError, match=r"not files"):
        validate_config({"data": files})


def test_command_line_lists():
    assert parse_symbols("AAPL, MSFT ,IBM,") == ["AAPL", "MSFT", "IBM"]
    with pytest.raises(ConfigError, match=r"at least 2 members, --ticker gives AAPL"):
        parse_symbols("AAPL,")
    with pytest.raises(ConfigError, match=r"--city lists Berlin twice"):
        make_config(city="berlin,Berlin")


def test_an_unknown_member_is_named_with_its_own_error_and_exit_code():
    with pytest.raises(SourceUnavailable) as exc:
        load_group(group_cfg("AAPL,ZZZZ"))
    text = str(exc.value)
    assert text.startswith("group AAPL_ZZZZ: member ZZZZ: offline") and "\n" not in text
    assert exc.value.exit_code == 3
    out = CliRunner().invoke(cli, ["data", "show", "--ticker", "AAPL,MSFT"])
    assert out.exit_code == 2 and "AAPL,MSFT is a group of 2 series" in out.output


def test_skip_failed_loads_the_rest_and_says_which_failed():
    group = load_group(group_cfg("AAPL,ZZZZ,MSFT"), skip_failed=True)
    assert group.symbols == ("AAPL", "MSFT")
    ((symbol, why),) = group.skipped
    assert symbol == "ZZZZ" and "no usable cached or bundled ZZZZ" in why
    with pytest.raises(DataError, match=r"1 of 2 members loaded \(ZZZZ: offline"):
        load_group(group_cfg("AAPL,ZZZZ"), skip_failed=True)


def test_members_with_different_frequencies_are_refused(aapl, seattle, greensboro):
    with pytest.raises(DataError, match=r"different frequencies \(AAPL B, seattle D\)") as exc:
        from_series("mixed", [aapl, seattle])
    assert "\n" not in str(exc.value)
    cfg = make_config(
        overrides={"data.source": "snapshot", "data.group": {"symbols": ["AAPL", "greensboro"]}}
    ).data
    with pytest.raises(DataError, match=r"group AAPL_greensboro: members have different"):
        load_group(cfg)
    with pytest.raises(ConfigError, match=r"at least 2 members"):
        from_series("one", [aapl])
    with pytest.raises(ConfigError, match=r"New York and new-york are the same series"):
        load_group(group_cfg_cities("New York,new-york"))


def group_cfg_cities(cities: str):
    return make_config(city=cities, overrides={"data.offline": True}).data


def test_single_series_loading_refuses_a_group():
    with pytest.raises(ConfigError, match=r"AAPL,IBM is a group of 2 series and this reads one"):
        loader.load(group_cfg("AAPL,IBM"))
