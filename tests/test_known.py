"""Features known ahead (forecaster.data.known): calendar, exchange sessions, the sun."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.config import DataConfig
from forecaster.data import calendars
from forecaster.data.features import calendar_features
from forecaster.data.known import (
    CALENDAR_STEPS,
    KNOWN_FEATURES,
    SESSION_FEATURES,
    SUN_FEATURES,
    Site,
    candidates,
    check_known,
    column_names,
    known_features,
    site_of,
    width,
)
from forecaster.errors import ConfigError

GREENSBORO = Site(36.07, -79.79)
NY = "America/New_York"


def _frame(index, names, **kw) -> pd.DataFrame:
    return pd.DataFrame(
        known_features(index, names, **kw), index=index, columns=column_names(names)
    )


def test_widths_and_column_names():
    assert [width(n) for n in KNOWN_FEATURES] == [2, 2, 2, 1, 1, 1, 1, 1, 1, 1]
    assert column_names(["hour", "month_end", "sun_elevation"]) == [
        "hour_sin",
        "hour_cos",
        "month_end",
        "sun_elevation",
    ]


def test_shape_order_and_range():
    index = pd.date_range("2024-03-01", periods=500, freq="h", tz=NY)
    names = ["dayofyear", "sun_elevation", "hour", "clearsky_ghi", "month_end"]
    x = known_features(index, names, freq="h", site=GREENSBORO)
    assert x.shape == (500, sum(width(n) for n in names)) == (500, 7)
    assert x.dtype == np.float64 and np.isfinite(x).all()
    assert np.abs(x).max() <= 1.2
    assert known_features(index[:0], names, freq="h", site=GREENSBORO).shape == (0, 7)


def test_calendar_steps_are_the_past_calendar_features():
    index = pd.date_range("2023-10-28", periods=300, freq="h", tz="Europe/Berlin")  # across DST
    x = known_features(index, list(CALENDAR_STEPS), freq="h")
    np.testing.assert_array_equal(x, calendar_features(index, list(CALENDAR_STEPS)))


def test_xnys_sessions_2013():
    index = pd.DatetimeIndex(calendars.sessions("XNYS", "2013-01-01", "2013-12-31"))
    f = _frame(index, SESSION_FEATURES, freq="B", calendar="XNYS")
    assert f.loc["2013-11-27", "pre_holiday"] == 1  # Thanksgiving 2013-11-28
    assert f.loc["2013-11-29", "post_holiday"] == 1
    assert f.loc["2013-11-26", "pre_holiday"] == 0 and f.loc["2013-12-02", "post_holiday"] == 0
    assert f.loc["2013-03-15", "third_friday"] == 1
    assert f.loc["2013-06-28", ["month_end", "quarter_end"]].tolist() == [1, 1]
    assert f.loc["2013-05-31", ["month_end", "quarter_end"]].tolist() == [1, 0]
    assert f["third_friday"].sum() == 12 and f["quarter_end"].sum() == 4
    assert f.loc["2013-03-28", "month_end"] == 1  # Good Friday 2013-03-29 closed
    assert f.loc["2013-07-03", "pre_holiday"] == 1 and f.loc["2013-07-05", "post_holiday"] == 1


def test_third_friday_on_a_holiday_moves_to_the_session_before():
    index = pd.DatetimeIndex(calendars.sessions("XNYS", "2019-04-15", "2019-04-26"))
    f = _frame(index, ["third_friday", "pre_holiday"], freq="B", calendar="XNYS")
    # 2019-04-19: Good Friday and the third Friday of April
    assert f.index[f["third_friday"] == 1].tolist() == [pd.Timestamp("2019-04-18")]
    assert f.loc["2019-04-18", "pre_holiday"] == 1


def test_future_sessions_know_the_holiday_after_them():
    last = pd.Timestamp("2013-11-13", tz=NY)
    future = calendars.next_sessions("XNYS", last, 10)
    assert future[-1] == pd.Timestamp("2013-11-27", tz=NY)
    f = _frame(future, SESSION_FEATURES, freq="B", calendar="XNYS")
    assert f["pre_holiday"].tolist() == [0] * 9 + [1]
    assert f["post_holiday"].sum() == 0
    assert f.loc[future[1], "third_friday"] == 1  # 2013-11-15
    # without the calendar the index alone cannot know Thanksgiving
    assert _frame(future, ["pre_holiday"], freq="B")["pre_holiday"].sum() == 0


def test_sessions_without_a_calendar():
    days = pd.bdate_range("2024-05-20", "2024-06-07").drop(pd.Timestamp("2024-05-27"))
    f = _frame(days, SESSION_FEATURES, freq="B")
    assert f.index[f["pre_holiday"] == 1].tolist() == [pd.Timestamp("2024-05-24")]
    assert f.index[f["post_holiday"] == 1].tolist() == [pd.Timestamp("2024-05-28")]
    assert f.loc["2024-05-31", "month_end"] == 1 and f.loc["2024-06-07", "pre_holiday"] == 0
    hourly = pd.date_range("2024-06-29", periods=72, freq="h", tz=NY)
    g = _frame(hourly, SESSION_FEATURES, freq="h")
    assert g["month_end"].sum() == 24 and g["quarter_end"].sum() == 24  # all of June 30
    assert g[["pre_holiday", "post_holiday", "third_friday"]].to_numpy().sum() == 0


def test_sun_at_greensboro_hourly():
    june = pd.date_range("2024-06-21", periods=24, freq="h", tz=NY)
    december = pd.date_range("2024-12-21", periods=24, freq="h", tz=NY)
    f = _frame(june, SUN_FEATURES, freq="h", site=GREENSBORO)
    g = _frame(december, SUN_FEATURES, freq="h", site=GREENSBORO)
    assert f["sun_elevation"].max() * 90 == pytest.approx(77, abs=2)
    assert g["sun_elevation"].max() * 90 == pytest.approx(30, abs=2)
    assert f.loc[june[0], "clearsky_ghi"] == 0 and f.loc[june[0], "sun_elevation"] < 0
    assert f.loc[june[13], "clearsky_ghi"] * 1000 > 700  # 13:00 EDT, about solar noon
    assert g.loc[december[0], "clearsky_ghi"] == 0


def test_sun_daily_is_the_days_noon_and_mean():
    days = pd.date_range("2024-01-01", "2024-12-31", freq="D", tz=NY)
    f = _frame(days, SUN_FEATURES, freq="D", site=GREENSBORO)
    assert f.loc["2024-06-21", "sun_elevation"] * 90 == pytest.approx(90 - 36.07 + 23.44, abs=0.3)
    assert f.loc["2024-12-21", "sun_elevation"] * 90 == pytest.approx(90 - 36.07 - 23.44, abs=0.3)
    hours = pd.date_range("2024-06-21", periods=24 * 60, freq="min", tz=NY)[::1]
    minute = _frame(hours, ["clearsky_ghi"], freq="min", site=GREENSBORO)["clearsky_ghi"].mean()
    assert f.loc["2024-06-21", "clearsky_ghi"] == pytest.approx(minute, rel=0.02)
    assert 0.25 < f.loc["2024-06-21", "clearsky_ghi"] < 0.4  # W/m² / 1000, night included
    assert f["clearsky_ghi"].idxmax().month in (5, 6, 7) and f["sun_elevation"].idxmin().month in (
        12,
        1,
    )


def test_naive_stamps_are_utc():
    naive = pd.date_range("2024-06-21", periods=24, freq="h")
    aware = naive.tz_localize("UTC").tz_convert(NY)
    a = known_features(naive, SUN_FEATURES, freq="h", site=GREENSBORO)
    np.testing.assert_allclose(a, known_features(aware, SUN_FEATURES, freq="h", site=GREENSBORO))


def test_check_known_errors():
    with pytest.raises(ConfigError, match="unknown known-ahead feature 'moon'.*dayofweek"):
        check_known(["hour", "moon"], freq="h", site=None)
    with pytest.raises(ConfigError, match="sun position needs a place") as exc:
        known_features(pd.date_range("2024-01-01", periods=3, freq="h"), ["clearsky_ghi"], freq="h")
    assert "\n" not in str(exc.value)
    with pytest.raises(ConfigError, match="listed twice"):
        check_known(["month_end", "month_end"], freq="B", site=None)
    with pytest.raises(ConfigError, match="'hour' is constant"):
        check_known(["hour"], freq="D", site=None)
    check_known(list(KNOWN_FEATURES[2:]), freq="D", site=GREENSBORO)


def test_default_known():
    assert candidates("h", stock=False, site=GREENSBORO) == ["hour", "dayofyear", *SUN_FEATURES]
    assert candidates("h", stock=False, site=None) == ["hour", "dayofyear"]
    assert candidates("D", stock=False, site=GREENSBORO) == [
        "dayofweek",
        "dayofyear",
        *SUN_FEATURES,
    ]
    assert candidates("B", stock=True, site=None) == ["dayofweek", *SESSION_FEATURES]
    assert candidates("5min", stock=True, site=None)[:2] == ["hour", "dayofweek"]
    assert candidates("W-SUN", stock=False, site=None) == ["dayofyear"]
    for freq in ("h", "D", "B", "MS"):
        check_known(
            candidates(freq, stock=freq == "B", site=GREENSBORO), freq=freq, site=GREENSBORO
        )


def test_site_of():
    city = DataConfig(source="open-meteo", symbol="Greensboro", interval="1h")
    assert site_of(city) == Site(36.07, -79.79)
    coords = DataConfig(source="open-meteo", latitude=35.5, longitude=-80.25, interval="1d")
    assert site_of(coords) == Site(35.5, -80.25)
    assert site_of(DataConfig(source="yahoo", symbol="AAPL")) is None
