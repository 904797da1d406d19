"""Local CSV/Parquet files (source ``csv``), read through the loader as a user would."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.config import DataConfig
from forecaster.data import loader
from forecaster.data.sources import local
from forecaster.errors import DataError


def weather_csv(path, n=72, **edits):
    """An hourly export with a timestamp column, two numeric columns and a text label."""
    idx = pd.date_range("2024-01-01", periods=n, freq="h")
    frame = pd.DataFrame(
        {
            "timestamp": idx.strftime("%Y-%m-%d %H:%M"),
            "temp_c": np.round(5 + 3 * np.sin(np.arange(n) / 24 * 2 * np.pi), 2),
            "humidity": np.linspace(60, 90, n).round(1),
            "sky": ["clear"] * n,
        }
    )
    for fn in edits.values():
        frame = fn(frame)
    frame.to_csv(path, index=False)
    return path


def load(path, **kw):
    return loader.load_series(DataConfig(source="csv", path=path, **kw))


def test_good_csv_defaults(tmp_path, caplog):
    path = weather_csv(tmp_path / "station.csv")
    with caplog.at_level("INFO", logger="forecaster"):
        s = load(path)
    assert s.source == "csv" and s.symbol == "station"
    assert list(s.frame.columns) == ["temp_c", "humidity"]  # text column left out
    assert s.target == "temp_c" and s.freq == "h" and str(s.index.tz) == "UTC"
    assert "left out non-numeric column(s) sky" in caplog.text
    assert len(s) == 72


def test_time_column_found_anywhere_and_naive_times_localised(tmp_path):
    path = tmp_path / "x.csv"
    pd.DataFrame(
        {
            "value": [1.0, 2.0, 3.0, 4.0],
            "date": ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"],
        }
    ).to_csv(path, index=False)
    s = load(path, timezone="Europe/Berlin")
    assert s.start == pd.Timestamp("2024-01-01", tz="Europe/Berlin") and s.freq == "D"
    s = load(path, time_column="date", target="value", start="2024-01-02")
    assert len(s) == 3


def test_times_with_offsets_keep_them(tmp_path):
    path = tmp_path / "x.csv"
    times = [f"2024-01-01T{h:02d}:00:00+01:00" for h in range(6)]
    pd.DataFrame({"t": times, "v": range(6)}).to_csv(path, index=False)
    s = load(path, timezone="America/New_York")
    assert s.start == pd.Timestamp("2023-12-31 23:00", tz="UTC")


def test_parquet_with_datetime_index(tmp_path):
    idx = pd.date_range("2024-01-01", periods=30, freq="D", name="day")
    path = tmp_path / "sales.parquet"
    pd.DataFrame({"units": np.arange(30.0), "price": 2.5}, index=idx).to_parquet(path)
    s = load(path, target="price", variables=["units", "price"])
    assert s.target == "price" and list(s.frame.columns) == ["units", "price"] and s.freq == "D"


def test_missing_target(tmp_path):
    with pytest.raises(DataError, match="target column 'temperature' not found.*humidity"):
        load(weather_csv(tmp_path / "w.csv"), target="temperature")


def test_non_numeric_value_is_named(tmp_path):
    def stray(f):
        f["humidity"] = f["humidity"].astype(object)
        f.loc[7, "humidity"] = "sensor error"
        return f

    with pytest.raises(
        DataError, match=r"non-numeric column\(s\) humidity \(e.g. 'sensor error'\)"
    ):
        load(weather_csv(tmp_path / "w.csv", stray=stray))


def test_unsorted_rows_are_sorted_and_exact_duplicates_dropped(tmp_path):
    def shuffle(f):
        return pd.concat([f.iloc[::-1], f.iloc[[5]]])

    s = load(weather_csv(tmp_path / "w.csv", shuffle=shuffle))
    assert s.index.is_monotonic_increasing and len(s) == 72
    assert any("sorted" in n for n in s.notes) and any("duplicate" in n for n in s.notes)


def test_conflicting_duplicates_are_an_error(tmp_path):
    def conflict(f):
        extra = f.iloc[[5]].copy()
        extra["temp_c"] = 99.0
        return pd.concat([f, extra])

    with pytest.raises(DataError, match="duplicate timestamps with different values"):
        load(weather_csv(tmp_path / "w.csv", conflict=conflict))


def test_gaps_short_filled_long_rejected_unless_outside_the_span(tmp_path):
    def short(f):
        f.loc[10:11, "temp_c"] = np.nan
        return f

    s = load(weather_csv(tmp_path / "a.csv", short=short), max_gap=3)
    assert any("forward-filled 2" in n for n in s.notes)

    def long(f):
        f.loc[10:19, "temp_c"] = np.nan
        return f

    path = weather_csv(tmp_path / "b.csv", long=long)
    with pytest.raises(DataError, match="gap of 10 missing steps"):
        load(path, max_gap=3)
    s = load(path, max_gap=3, start="2024-01-02")  # the gap is on Jan 1: the span avoids it
    assert s.start == pd.Timestamp("2024-01-02", tz="UTC")


def test_corrupt_unreadable_and_missing_files(tmp_path):
    real = tmp_path / "real.parquet"
    pd.DataFrame({"v": np.arange(50.0)}, index=pd.date_range("2024-01-01", periods=50)).to_parquet(
        real
    )
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(real.read_bytes()[:100])
    with pytest.raises(DataError, match="cannot read .*truncated.parquet") as exc:
        load(truncated)
    assert "\n" not in str(exc.value)
    garbage = tmp_path / "garbage.csv"
    garbage.write_text('a,b\n1,2\n3,"4\n5,6,7,8\n')
    with pytest.raises(DataError, match="cannot read .*garbage.csv"):
        load(garbage)
    with pytest.raises(DataError, match="not found — check the path"):
        load(tmp_path / "nope.csv")
    nodates = tmp_path / "nodates.csv"
    pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}).to_csv(nodates, index=False)
    with pytest.raises(DataError, match="no column parses as dates.*--time-column"):
        load(nodates)


def test_read_frame_keeps_requested_columns_only(tmp_path):
    frame = local.read_frame(
        weather_csv(tmp_path / "w.csv"), variables=["humidity"], target="temp_c"
    )
    assert list(frame.columns) == ["temp_c", "humidity"]
