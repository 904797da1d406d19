"""Exchange calendars: forecasts stamped at real sessions, intraday bars inside sessions (early
closes included), validation that tells a missing session from a holiday, and the names a ticker
or a --calendar flag gives. Everything runs offline: the calendar rules ship with the package."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from forecaster.cli import cli
from forecaster.config import DataConfig, override, validate_config
from forecaster.data import calendars, loader
from forecaster.data.series import missing_steps, validate
from forecaster.data.sources import yahoo
from forecaster.errors import ConfigError, DataError
from forecaster.fitted import FittedModel, build_module, future_index
from forecaster.meta import ModelMeta

NY = "America/New_York"


def days(stamps) -> list[str]:
    return [f"{t:%Y-%m-%d}" for t in stamps]


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


# -- future timestamps -----------------------------------------------------------------------------
def test_next_sessions_skip_christmas_and_the_weekend():
    friday = pd.Timestamp("2012-12-21", tz=NY)
    stamps = future_index(friday, "B", 5, "XNYS")
    assert days(stamps) == ["2012-12-24", "2012-12-26", "2012-12-27", "2012-12-28", "2012-12-31"]
    assert stamps.tz == friday.tz and (stamps.hour == 0).all()  # midnight New York, as the data
    # without a calendar: the next weekdays, Christmas Day included (the old behaviour)
    assert "2012-12-25" in days(future_index(friday, "B", 5))


def test_intraday_bars_lie_inside_sessions_and_stop_at_an_early_close():
    # the day after Thanksgiving 2012 the NYSE closed at 13:00; Thanksgiving and the weekend: closed
    last = pd.Timestamp("2012-11-21 15:30", tz=NY)
    bars = future_index(last, "5min", 60, "XNYS")
    assert len(bars) == 60 and bars.is_monotonic_increasing and bars.tz == last.tz
    assert [f"{t:%H:%M}" for t in bars[:5]] == ["15:35", "15:40", "15:45", "15:50", "15:55"]
    assert bars[5] == pd.Timestamp("2012-11-23 09:30", tz=NY)  # not 16:00, not Thanksgiving
    on_friday = bars[bars.normalize() == pd.Timestamp("2012-11-23", tz=NY)]
    assert len(on_friday) == 42 and on_friday[-1] == pd.Timestamp("2012-11-23 12:55", tz=NY)
    assert bars[47] == pd.Timestamp("2012-11-26 09:30", tz=NY)
    opens, closes = calendars.session_times("XNYS", bars.tz_localize(None).normalize())
    utc = bars.tz_convert("UTC")
    assert ((utc >= opens) & (utc < closes)).all()  # every bar starts inside its session
    hourly = future_index(pd.Timestamp("2012-11-23 11:30", tz=NY), "h", 3, "XNYS")
    assert [f"{t:%d %H:%M}" for t in hourly] == ["23 12:30", "26 09:30", "26 10:30"]
    # a bar in the middle of a session continues that session first (in UTC too)
    mid = future_index(pd.Timestamp("2012-12-24 16:00", tz="UTC"), "30min", 3, "XNYS")
    assert [f"{t:%d %H:%M}" for t in mid] == ["24 16:30", "24 17:00", "24 17:30"]
    assert future_index(mid[-1], "30min", 1, "XNYS")[0] == pd.Timestamp(
        "2012-12-26 14:30", tz="UTC"
    )


def _untrained(series, lookback=20, horizon=5) -> FittedModel:
    """A model that forecasts as its anchor (naive): enough to exercise predict's stamps."""
    from forecaster.data.features import fit_spec

    cfg = override(
        validate_config({}),
        {"model.lookback": lookback, "model.horizon": horizon, "model.anchor": "naive"},
    )
    spec = fit_spec(series, None, None, len(series))
    raw = {"series": {"freq": series.freq}, "data": {"fingerprint": "x"}, "metrics": {}}
    raw["series"] |= {"source": series.source, "symbol": series.symbol, "target": series.target}
    meta = ModelMeta.from_dict(raw)
    return FittedModel(build_module(cfg, spec.n_features), cfg, spec, meta)


def test_the_aapl_snapshot_cut_before_christmas_forecasts_real_sessions():
    cfg = DataConfig(source="yahoo", symbol="AAPL", offline=True, end="2012-12-22")
    series = loader.load_series(cfg)
    assert series.calendar == "XNYS" and f"{series.end:%Y-%m-%d}" == "2012-12-21"
    out = _untrained(series).predict(series)
    assert days(out.index) == ["2012-12-24", "2012-12-26", "2012-12-27", "2012-12-28", "2012-12-31"]
    assert np.allclose(out["forecast"], series.values[-1])  # the naive anchor: last close


def test_a_loaded_model_stamps_its_forecasts_with_the_calendar_it_was_trained_with(tmp_path, aapl):
    series = aapl.until("2012-12-22")
    model = _untrained(series)
    model.meta.series = replace(
        model.meta.series, calendar="XNYS"
    )  # what training records (meta.json)
    model.save(tmp_path / "m")
    loaded = FittedModel.load(tmp_path / "m")
    plain = replace(series, calendar=None)  # e.g. a CSV of the same prices, no --calendar
    assert days(loaded.predict(plain).index)[:2] == ["2012-12-24", "2012-12-26"]


def test_forecast_predict_with_end_prints_real_sessions(data_root):
    tiny = ["--hidden-size", "8", "--layers", "1", "--epochs", "1", "--no-progress", "--offline"]
    span = ["--start", "2011-06-01", "--end", "2012-12-22"]
    run("fit", "--ticker", "AAPL", *span, "--lookback", "20", *tiny)
    out = run("predict", "--ticker", "AAPL", "--offline", *span)
    printed = re.findall(r"^\s*(\d{4}-\d\d-\d\d)", out, re.M)
    assert printed == ["2012-12-24", "2012-12-26", "2012-12-27", "2012-12-28", "2012-12-31"], out


# -- validation: holidays vs missing sessions -------------------------------------------------------
def _closes(index) -> pd.DataFrame:
    return pd.DataFrame({"close": np.arange(len(index), dtype=float) + 100.0}, index=index)


def test_a_missing_session_is_a_filled_gap_and_a_holiday_is_not_missing():
    weekdays = pd.bdate_range("2012-11-01", "2012-12-31")
    sessions = weekdays.drop(pd.to_datetime(["2012-11-22", "2012-12-25"]))  # NYSE holidays
    frame = _closes(sessions.drop(pd.Timestamp("2012-11-27")))  # a session the data lacks
    s = validate(frame, "close", tz=NY, calendar="xnys")
    assert s.calendar == "XNYS" and s.freq == "B"
    assert days(s.missing_sessions) == ["2012-11-27"]
    assert pd.Timestamp("2012-11-27", tz=NY) in s.index  # inserted, then forward-filled
    assert s.frame.loc["2012-11-27", "close"].item() == s.frame.loc["2012-11-26", "close"].item()
    assert pd.Timestamp("2012-11-22", tz=NY) not in s.index  # a holiday stays absent
    assert any("2012-11-27" in n and "missing" in n for n in s.notes)
    assert s.session_counts() == {"holidays": 2, "missing_sessions": 1}
    # without a calendar both absences look alike: nothing is filled, three "missing" weekdays
    plain = validate(frame, "close", tz=NY)
    assert plain.calendar is None and len(plain) == len(frame)
    assert missing_steps(plain.index, "B") == 3 and plain.session_counts() == {}


def test_missing_sessions_longer_than_max_gap_are_an_error_naming_them():
    sessions = pd.DatetimeIndex(calendars.sessions("XNYS", "2012-09-01", "2012-12-31"))
    frame = _closes(sessions.drop(sessions[40:44]))  # four sessions in a row
    with pytest.raises(DataError, match=r"gap of 4 missing sessions .*max_gap=3 .*XNYS") as exc:
        validate(frame, "close", tz=NY, calendar="XNYS")
    assert "\n" not in str(exc.value)
    validate(frame, "close", tz=NY)  # weekdays only: 4 absent weekdays pass as a closure


def test_the_snapshot_knows_hurricane_sandy_and_9_11_were_closures(aapl):
    counts = aapl.session_counts()
    assert counts["missing_sessions"] == 0 and aapl.notes == ()
    # every weekday the data lacks is a day the NYSE was closed, ad-hoc closures included
    assert counts["holidays"] == missing_steps(aapl.index, "B")
    assert pd.Timestamp("2012-10-29", tz=NY) not in aapl.index


def test_rows_on_a_closed_day_are_kept_with_a_note():
    index = pd.bdate_range("2012-12-17", "2012-12-31")  # Christmas Day included
    s = validate(_closes(index), "close", tz=NY, calendar="XNYS")
    assert len(s) == len(index)
    assert any("1 row on days XNYS has no session (2012-12-25) kept" in n for n in s.notes)


def test_a_calendar_applies_to_trading_days_and_intraday_bars_only():
    hours = pd.date_range("2012-11-26 09:30", periods=14, freq="30min")
    bars = hours.append(pd.date_range("2012-11-27 09:30", periods=14, freq="30min"))
    s = validate(_closes(bars), "close", tz=NY, calendar="XNYS")
    assert s.calendar == "XNYS" and len(s) == 28 and s.freq == "30min"  # nights are not gaps
    # on 7-day data a calendar does not apply: an error, never silently dropped (issue 24 item 7)
    with pytest.raises(DataError, match=r"XNYS applies to trading days .* drop --calendar"):
        validate(_closes(pd.date_range("2012-01-01", periods=30)), "close", calendar="XNYS")


# -- names: tickers, --calendar, config ------------------------------------------------------------
def test_each_ticker_knows_its_exchange():
    assert yahoo.calendar_for("AAPL") == "XNYS" and yahoo.calendar_for("brk-b") == "XNYS"
    assert yahoo.calendar_for("VOD.L") == "XLON" and yahoo.calendar_for("SAP.DE") == "XETR"
    assert yahoo.calendar_for("7203.T") == "XTKS" and yahoo.calendar_for("MC.PA") == "XPAR"
    assert yahoo.calendar_for("RY.TO") == "XTSE" and yahoo.calendar_for("^GSPC") == "XNYS"
    for none in ("BTC-USD", "EURUSD=X", "ES=F", "^XYZ", "ABC.ZZ"):
        assert yahoo.calendar_for(none) is None, none
    mapped = {*yahoo.SUFFIX_CALENDARS.values(), *yahoo.INDEX_CALENDARS.values()}
    assert all(calendars.canonical(name) == name for name in mapped)  # names the library knows
    assert calendars.timezone("XTKS") == "Asia/Tokyo"


def test_unknown_calendar_is_one_line_listing_valid_names(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown exchange calendar 'XNYZ' .*XNYS.*XLON") as exc:
        calendars.canonical("XNYZ")
    assert "\n" not in str(exc.value)
    assert calendars.canonical("nyse") == "XNYS"  # aliases, any case
    with pytest.raises(ConfigError, match=r"data\.calendar='Mars'.*unknown exchange calendar"):
        validate_config({"data": {"calendar": "Mars"}})
    path = tmp_path / "p.csv"
    _closes(pd.bdate_range("2012-11-01", periods=20)).rename_axis("time").to_csv(path)
    out = run("data", "show", "--csv", str(path), "--calendar", "XNYZ", code=2)
    assert len(out.strip().splitlines()) == 1 and "XNYS" in out
    out = run("data", "show", "--city", "greensboro", "--offline", "--calendar", "XNYS", code=2)
    assert "weather has no exchange calendar" in out


def test_data_show_counts_holidays_and_missing_sessions_of_a_csv(tmp_path):
    sessions = pd.DatetimeIndex(calendars.sessions("XNYS", "2012-11-01", "2012-12-31"))
    path = tmp_path / "prices.csv"
    _closes(sessions.drop(pd.Timestamp("2012-12-03"))).rename_axis("time").to_csv(path)
    out = run("data", "show", "--csv", str(path), "--calendar", "XNYS")
    assert "B (XNYS sessions" in out
    assert re.search(
        r"missing\s+2 weekdays XNYS is closed .*; 1 session missing from the data", out
    )
    assert "2012-12-03" in out  # the note names the missing session
    plain = run("data", "show", "--csv", str(path))
    assert re.search(r"missing\s+3 weekdays without a session", plain)
