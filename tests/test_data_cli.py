"""``forecast data ...`` driven as a user would, with click's CliRunner (network faked at yfinance/requests)."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
import requests
import yfinance
from click.testing import CliRunner

from forecaster.cli import cli
from forecaster.data.sources import http
from forecaster.settings import paths

NY = "America/New_York"


@pytest.fixture(autouse=True)
def _isolate(monkeypatch):
    """No back-off sleeps; and give the "forecaster" logger back as the CLI found it."""
    monkeypatch.setattr(http, "sleep", lambda s: None)
    logger = logging.getLogger("forecaster")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


class FakeTicker:
    """``yfinance.Ticker``: ``answer`` is a frame to return or an exception to raise."""

    answer: object = None
    calls = 0

    def __init__(self, symbol):
        self.symbol = symbol

    def history(self, **kwargs):
        type(self).calls += 1
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer.copy()

    def get_history_metadata(self):
        return {"currency": "USD", "exchangeTimezoneName": NY}


def yahoo_answers(monkeypatch, answer):
    monkeypatch.setattr(FakeTicker, "answer", answer)
    monkeypatch.setattr(FakeTicker, "calls", 0)
    monkeypatch.setattr(yfinance, "Ticker", FakeTicker)


def week() -> pd.DataFrame:
    idx = pd.bdate_range("2024-03-04", "2024-03-15", name="Date").tz_localize(NY)
    close = [174.33, 169.52, 168.95, 168.04, 169.72, 172.49, 171.13, 173.0, 172.62, 173.72]
    return pd.DataFrame(
        {"Open": close, "High": close, "Low": close, "Close": close, "Volume": 6e7}, index=idx
    )


def run(*args):
    result = CliRunner().invoke(cli, ["data", *args])
    assert "Traceback" not in result.output, result.output
    return result


def test_show_offline_prints_the_snapshot_span():
    result = run("show", "--ticker", "AAPL", "--offline")
    assert result.exit_code == 0, result.output
    assert "span       2000-03-01..2013-03-01 (America/New_York)" in result.stdout
    assert "source     snapshot" in result.stdout
    assert "rows       3,270" in result.stdout
    assert "target     close: first " in result.stdout and "USD" in result.stdout
    assert "key        yahoo-AAPL-1d" in result.stdout


def test_show_with_yahoo_down_says_so_and_uses_the_snapshot(monkeypatch):
    yahoo_answers(
        monkeypatch, requests.ConnectionError("Failed to resolve 'query2.finance.yahoo.com'")
    )
    result = run("show", "--ticker", "AAPL")
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == (
        "warning: Yahoo Finance unreachable (ConnectionError: Failed to resolve "
        "'query2.finance.yahoo.com'); no cached AAPL data; using the bundled snapshot AAPL "
        "2000-03-01..2013-03-01"
    )
    assert "2000-03-01..2013-03-01" in result.stdout and FakeTicker.calls == 3


def test_fetch_unknown_ticker_is_one_line_and_exit_2(monkeypatch):
    yahoo_answers(monkeypatch, pd.DataFrame(columns=["Open", "High", "Low", "Close", "Volume"]))
    result = run("fetch", "--ticker", "NOSUCHTICKER")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: Yahoo Finance has no data for ticker 'NOSUCHTICKER' — check the symbol (e.g. AAPL) "
        "or whether it is delisted\n"
    )


def test_fetch_with_yahoo_down_says_unreachable_and_which_data_is_used(monkeypatch):
    yahoo_answers(monkeypatch, TimeoutError("timed out"))
    result = run("fetch", "--ticker", "AAPL")
    assert result.exit_code == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "error: Yahoo Finance unreachable (TimeoutError: timed out) after 3 tries"
    )
    assert "offline runs use the bundled snapshot AAPL 2000-03-01..2013-03-01" in lines[0]


def test_fetch_then_show_from_the_cache(monkeypatch):
    yahoo_answers(monkeypatch, week())
    result = run("fetch", "--ticker", "aapl")
    assert result.exit_code == 0, result.output
    path = paths().cache / "yahoo" / "AAPL_1d.parquet"
    assert result.stdout == (
        f"AAPL 1d: 10 new rows from Yahoo Finance; 10 rows 2024-03-04..2024-03-15; cache {path}\n"
    )
    assert path.is_file()
    shown = run("show", "--ticker", "AAPL", "--offline")
    assert "source     cache" in shown.stdout and "2024-03-04..2024-03-15" in shown.stdout
    assert "offline: using cached AAPL data up to 2024-03-15, fetched just now" in shown.stderr


def test_show_weather_and_csv(tmp_path):
    result = run("show", "--city", "greensboro", "--offline")
    assert result.exit_code == 0, result.output
    assert "temperature_2m [°C]" in result.stdout and "rows       8,760" in result.stdout
    csv = tmp_path / "load.csv"
    idx = pd.date_range("2024-01-01", periods=48, freq="h")
    pd.DataFrame({"time": idx, "mw": range(48)}).to_csv(csv, index=False)
    result = run("show", "--csv", str(csv))
    assert result.exit_code == 0, result.output
    assert (
        "source     csv" in result.stdout
        and "2024-01-01 00:00..2024-01-02 23:00 (UTC)" in result.stdout
    )


def test_unknown_city_and_no_series_are_one_line_errors():
    result = run("show", "--city", "atlantis")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "built-in cities: greensboro" in result.stderr
    result = run("show")
    assert result.exit_code == 2 and "no series given" in result.stderr


def test_tables():
    cities = run("cities")
    assert cities.exit_code == 0
    assert any(
        line.split()[:3] == ["greensboro", "36.07", "-79.79"] for line in cities.stdout.splitlines()
    )
    snaps = run("snapshots")
    assert snaps.exit_code == 0
    assert (
        "2000-03-01..2013-03-01" in snaps.stdout and "--city seattle --interval 1d" in snaps.stdout
    )


@pytest.mark.parametrize("command", [[], ["show"], ["fetch"], ["cities"], ["snapshots"]])
def test_every_command_has_help_with_an_example(command):
    result = run(*command, "--help")
    assert (
        result.exit_code == 0 and "Examples:" in result.stdout and "forecast data" in result.stdout
    )


def test_data_commands_start_without_torch(tmp_path):
    """`forecast data ...` resolves its config (levels validated through forecaster.intervals) and
    shows a bundled series without importing torch, so it starts in well under a second."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from forecaster.cli import cli\n"
        "r = CliRunner().invoke(cli, ['data', 'show', '--ticker', 'AAPL', '--offline'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('torch' in sys.modules)\n"
    )
    env = {"FORECASTER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"
