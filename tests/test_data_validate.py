"""series.validate: every rule of the one validation step, on small real-shaped frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.data.series import infer_freq, missing_steps, require_length, validate
from forecaster.errors import DataError


def hourly(n=48, start="2024-01-01", tz=None, **cols):
    idx = pd.date_range(start, periods=n, freq="h", tz=tz)
    data = cols or {"temperature_2m": np.linspace(0.0, 10.0, n)}
    return pd.DataFrame(data, index=idx)


def test_clean_frame_becomes_a_series_with_utc_default():
    s = validate(hourly(), "temperature_2m", source="test", symbol="x")
    assert s.freq == "h"
    assert str(s.index.tz) == "UTC"
    assert s.frame.dtypes.eq(np.float64).all()
    assert s.index.name == "time"
    assert s.notes == ()


def test_naive_times_are_localised_in_the_given_zone_and_aware_ones_kept():
    s = validate(hourly(), "temperature_2m", tz="America/New_York")
    assert str(s.index.tz) == "America/New_York"
    assert s.start == pd.Timestamp("2024-01-01 00:00", tz="America/New_York")
    aware = validate(hourly(tz="Asia/Tokyo"), "temperature_2m", tz="America/New_York")
    assert str(aware.index.tz) == "Asia/Tokyo"


def test_autumn_repeated_hour_is_told_apart_by_row_order():
    # a logger on New York wall-clock time writes 01:00 twice on 2024-11-03 (EDT, then EST); the
    # old rule (ambiguous="NaT") dropped both and forward-fill invented them (issue 12 item 11)
    naive = pd.date_range("2024-11-02 20:00", periods=24, freq="h")
    naive = naive.insert(6, pd.Timestamp("2024-11-03 01:00"))  # the repeated hour
    values = np.arange(25, dtype=float)
    s = validate(pd.DataFrame({"t": values}, index=naive), "t", tz="America/New_York")
    assert len(s) == 25 and s.index.is_unique and s.freq == "h"
    assert s.values.tolist() == values.tolist()  # every value is the file's, none invented
    utc = s.index.tz_convert("UTC")
    assert (np.diff(utc.asi8) == 3_600_000_000_000).all()
    assert any("told apart by their order" in n for n in s.notes)


def test_ambiguous_hour_the_rows_cannot_resolve_is_rejected():
    # 01:00 appears once: EDT or EST? The rows cannot say; guessing would shift data by an hour.
    frame = hourly(n=24, start="2024-11-02 20:00")
    with pytest.raises(DataError, match=r"occurs? twice in America/New_York .*--tz UTC") as exc:
        validate(frame, "temperature_2m", tz="America/New_York")
    assert "\n" not in str(exc.value)


def test_spring_forward_time_that_does_not_exist_is_rejected():
    # 02:00 on 2024-03-10 does not exist in New York: these are not wall-clock times there
    frame = hourly(n=12, start="2024-03-09 20:00")
    with pytest.raises(DataError, match=r"(does|do) not exist in America/New_York .*--tz") as exc:
        validate(frame, "temperature_2m", tz="America/New_York")
    assert "\n" not in str(exc.value)
    wall_clock = frame.drop(index=pd.Timestamp("2024-03-10 02:00"))  # a logger skips the hour
    s = validate(wall_clock, "temperature_2m", tz="America/New_York")
    assert len(s) == 11 and s.notes == ()


def test_unsorted_rows_are_sorted_with_a_note():
    frame = hourly().iloc[::-1]
    s = validate(frame, "temperature_2m")
    assert s.index.is_monotonic_increasing
    assert any("sorted" in n for n in s.notes)


def test_exact_duplicates_dropped_conflicting_duplicates_rejected():
    frame = hourly(n=10)
    dup = pd.concat([frame, frame.iloc[[3]]])
    s = validate(dup, "temperature_2m")
    assert len(s) == 10 and any("duplicate" in n for n in s.notes)
    bad = dup.copy()
    bad.iloc[-1, 0] = 99.0
    with pytest.raises(DataError, match="duplicate timestamps with different values"):
        validate(bad, "temperature_2m")


def test_short_gap_is_forward_filled_long_gap_is_an_error():
    frame = hourly(n=30)
    frame.iloc[10:13, 0] = np.nan
    s = validate(frame, "temperature_2m", max_gap=3)
    assert s.frame["temperature_2m"].iloc[10:13].eq(frame["temperature_2m"].iloc[9]).all()
    assert any("forward-filled 3" in n for n in s.notes)
    frame.iloc[10:14, 0] = np.nan
    with pytest.raises(DataError, match=r"gap of 4 missing steps .* max_gap=3") as exc:
        validate(frame, "temperature_2m", max_gap=3)
    assert "\n" not in str(exc.value)


def test_leading_and_trailing_missing_rows_are_trimmed():
    frame = hourly(n=30)
    frame.iloc[:2, 0] = np.nan
    frame.iloc[-5:, 0] = np.nan  # an archive API's newest hours, not yet available
    s = validate(frame, "temperature_2m", max_gap=1)
    assert len(s) == 23
    assert any("trimmed 7" in n for n in s.notes)


def test_missing_grid_stamps_are_inserted_then_filled():
    frame = hourly(n=30).drop(index=pd.Timestamp("2024-01-01 05:00"))
    s = validate(frame, "temperature_2m")
    assert len(s) == 30
    assert any("missing h steps inserted" in n for n in s.notes)


def test_off_grid_stamps_are_rejected():
    frame = hourly(n=30)
    frame.index = frame.index.where(
        frame.index != frame.index[7], frame.index[7] + pd.Timedelta("7min")
    )
    with pytest.raises(DataError, match="off the h grid"):
        validate(frame, "temperature_2m")


def test_non_numeric_values_are_named_numeric_strings_converted():
    frame = hourly(n=10)
    frame["wind"] = [str(v) for v in range(10)]
    s = validate(frame, "temperature_2m")
    assert s.frame["wind"].iloc[3] == 3.0
    frame.loc[frame.index[4], "wind"] = "calm"
    with pytest.raises(DataError, match=r"non-numeric column\(s\) wind \(e.g. 'calm'\)"):
        validate(frame, "temperature_2m")


def test_infinite_values_are_an_error_not_missing_values():
    # issue 24 item 5: an infinity is a broken computation, not a gap to fill in
    frame = hourly(n=10)
    frame.iloc[4, 0] = np.inf
    with pytest.raises(DataError, match=r"'temperature_2m' holds 1 infinite value \(first at"):
        validate(frame, "temperature_2m")


def test_missing_target_and_missing_columns_are_errors():
    with pytest.raises(DataError, match="target column 'close' not found.*--target"):
        validate(hourly(), "close")
    with pytest.raises(DataError, match=r"column\(s\) \['nope'\] not found"):
        validate(hourly(), "temperature_2m", columns=["temperature_2m", "nope"])


def test_empty_and_all_missing_frames_are_errors():
    with pytest.raises(DataError, match="empty"):
        validate(hourly().iloc[:0], "temperature_2m")
    frame = hourly(n=10)
    frame[:] = np.nan
    with pytest.raises(DataError, match="every row has a missing value"):
        validate(frame, "temperature_2m")


def test_trading_days_allow_holidays_but_not_weekends_or_long_holes():
    days = pd.bdate_range("2024-01-02", "2024-03-29")
    days = days.drop(pd.Timestamp("2024-01-15"))  # MLK day: absent, not a gap
    frame = pd.DataFrame({"close": np.arange(len(days), dtype=float) + 100}, index=days)
    s = validate(frame, "close", freq="B", tz="America/New_York")
    assert len(s) == len(days)
    assert missing_steps(s.index, s.freq) == 1
    weekend = frame.copy()
    weekend.index = weekend.index.where(weekend.index != days[3], pd.Timestamp("2024-01-06"))
    with pytest.raises(DataError, match="weekend rows"):
        validate(weekend.sort_index(), "close", freq="B")
    holed = frame.drop(index=days[10:20])
    with pytest.raises(DataError, match="consecutive trading sessions missing"):
        validate(holed, "close", freq="B")


def test_intraday_sessions_keep_closed_hours_absent():
    day1 = pd.date_range("2024-03-04 09:30", "2024-03-04 15:55", freq="5min")
    day2 = pd.date_range("2024-03-05 09:30", "2024-03-05 15:55", freq="5min")
    idx = day1.append(day2).tz_localize("America/New_York")
    frame = pd.DataFrame({"close": np.linspace(100, 101, len(idx))}, index=idx)
    s = validate(frame, "close", freq="5min", sessions=True)
    assert len(s) == len(idx) == 156  # nothing inserted overnight
    with pytest.raises(DataError, match="gap of"):
        validate(frame, "close", freq="5min")  # as a regular grid the night is a long gap


def test_infer_freq():
    assert infer_freq(pd.date_range("2024-01-01", periods=10, freq="h")) == "h"
    assert infer_freq(pd.bdate_range("2024-01-01", periods=20)) == "B"
    assert infer_freq(pd.date_range("2024-01-01", periods=20, freq="D")) == "D"
    with pytest.raises(DataError, match="at least 3"):
        infer_freq(pd.date_range("2024-01-01", periods=2, freq="D"))


def test_require_length_names_lookback_horizon_and_need():
    s = validate(hourly(n=48), "temperature_2m", source="open-meteo", symbol="greensboro")
    require_length(s, lookback=40, horizon=8)  # exactly one window fits
    with pytest.raises(
        DataError,
        match=r"48 rows is too short for training — lookback 40 \+ horizon 8 needs at least 50",
    ):
        require_length(s, lookback=40, horizon=8, windows=3, what="training")
