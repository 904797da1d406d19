"""Issue 24, items 5, 6, 7, 10 and 11: data that is silently wrong becomes an error or a warning.

* infinite values in the target or a covariate are an error at load (so at ``fit``);
* a header that names one column twice is an error naming the column;
* an ``--interval`` that differs from a file's frequency, and an exchange ``--calendar`` on data
  that is not trading days or intraday bars, are errors, not ignored;
* a date column that mixes formats says so, with two examples, instead of "duplicate timestamps";
* rows filled by the NaN policy are recorded on the Series (kept through slicing), so scores can
  leave them out (:func:`~forecaster.data.series.mask_filled`), and heavy filling is warned about.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from forecaster.cli import cli
from forecaster.config import DataConfig
from forecaster.data import loader
from forecaster.data.series import HEAVY_FILL, mask_filled, validate
from forecaster.data.sources import local
from forecaster.errors import DataError


@pytest.fixture(autouse=True)
def logs_propagate(monkeypatch):
    monkeypatch.setattr(logging.getLogger("forecaster"), "propagate", True)


def daily_csv(path, n=60, freq="D", edit=None):
    idx = pd.date_range("2024-01-01", periods=n, freq=freq)
    frame = pd.DataFrame(
        {
            "time": idx.strftime("%Y-%m-%d %H:%M" if freq in ("h", "15min") else "%Y-%m-%d"),
            "sales": np.arange(n, dtype=float) + 100,
            "price": np.linspace(1, 2, n),
        }
    )
    if edit is not None:
        frame = edit(frame)
    text = frame if isinstance(frame, str) else frame.to_csv(index=False)
    path.write_text(text)
    return path


def load(path, **kw):
    return loader.load_series(DataConfig(source="csv", path=path, **kw))


def one_line(exc) -> str:
    msg = str(exc.value)
    assert "\n" not in msg, msg
    return msg


# -- item 5: infinities -------------------------------------------------------------------------------
@pytest.mark.parametrize("column", ["sales", "price"])
def test_infinite_values_are_an_error_naming_the_column(tmp_path, column):
    def spoil(f):
        f[column] = f[column].astype(object)
        f.loc[[5, 9], column] = ["inf", "-inf"]
        return f

    path = daily_csv(tmp_path / "a.csv", edit=spoil)
    with pytest.raises(DataError) as exc:
        load(path, target="sales")
    msg = one_line(exc)
    assert f"'{column}'" in msg and "2 infinite values" in msg and "2024-01-06" in msg


def test_fit_refuses_infinite_values_before_training(tmp_path):
    path = daily_csv(
        tmp_path / "a.csv", edit=lambda f: f.assign(price=f["price"].replace(2.0, np.inf))
    )
    args = ["fit", "--csv", str(path), "--target", "sales", "--epochs", "1", "--no-progress"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "infinite" in result.stderr, result.output
    assert result.stderr.count("\n") == 1


def test_validate_refuses_infinities_from_any_source():
    frame = pd.DataFrame(
        {"t": [1.0, np.inf, 3.0, 4.0]}, index=pd.date_range("2024-01-01", periods=4, freq="h")
    )
    with pytest.raises(DataError, match="'t' holds 1 infinite value"):
        validate(frame, "t")


# -- item 6: a column named twice ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "header", ["time,sales,price,sales", "time,sales,price, sales", "time,sales,sales,price"]
)
def test_a_header_that_names_a_column_twice_is_an_error(tmp_path, header):
    body = "\n".join(f"2024-01-{d:02d},{d},{d},{d}" for d in range(1, 29))
    (tmp_path / "a.csv").write_text(header + "\n" + body + "\n")
    with pytest.raises(DataError) as exc:
        local.read_table(tmp_path / "a.csv")
    msg = one_line(exc)
    assert "'sales' twice" in msg and "rename" in msg


# -- item 7: flags that do not apply -------------------------------------------------------------------
def test_an_interval_other_than_the_files_frequency_is_an_error(tmp_path):
    path = daily_csv(tmp_path / "a.csv")
    with pytest.raises(DataError) as exc:
        load(path, interval="1h")
    msg = one_line(exc)
    assert "--interval 1h" in msg and "'D'" in msg
    hourly = daily_csv(tmp_path / "h.csv", n=100, freq="h")
    with pytest.raises(DataError, match="--interval 15m"):
        load(hourly, interval="15m")


@pytest.mark.parametrize("n, freq, interval", [(60, "D", "1d"), (100, "h", "1h"), (100, "h", "1d")])
def test_an_interval_that_matches_or_is_the_default_still_loads(tmp_path, n, freq, interval):
    assert len(load(daily_csv(tmp_path / "a.csv", n=n, freq=freq), interval=interval)) == n


def test_trading_days_match_a_daily_interval(tmp_path):
    path = daily_csv(tmp_path / "b.csv", n=40, freq="B")
    assert load(path, interval="1d").freq == "B"


def test_an_exchange_calendar_on_seven_day_data_is_an_error(tmp_path):
    path = daily_csv(tmp_path / "a.csv")
    with pytest.raises(DataError) as exc:
        load(path, calendar="XNYS")
    msg = one_line(exc)
    assert "XNYS" in msg and "drop --calendar" in msg and "'D'" in msg


def test_an_exchange_calendar_on_trading_days_still_applies(tmp_path):
    path = daily_csv(tmp_path / "b.csv", n=40, freq="B")
    assert load(path, calendar="XNYS").calendar == "XNYS"


# -- item 10: mixed date formats -----------------------------------------------------------------------
def test_mixed_date_formats_are_named_with_two_examples(tmp_path):
    def mixed(f):
        f["time"] = [
            t if i % 2 else pd.Timestamp(t).strftime("%d/%m/%Y") for i, t in enumerate(f["time"])
        ]
        return f

    path = daily_csv(tmp_path / "a.csv", edit=mixed)
    with pytest.raises(DataError) as exc:
        load(path)
    msg = one_line(exc)
    assert "mixes date formats" in msg and "01/01/2024" in msg and "2024-01-02" in msg
    assert "--duplicates" not in msg


def test_dates_with_and_without_a_time_of_day_are_one_format(tmp_path):
    def some_times(f):
        f["time"] = [t + (" 00:00" if i % 3 == 0 else "") for i, t in enumerate(f["time"])]
        return f

    assert len(load(daily_csv(tmp_path / "a.csv", edit=some_times))) == 60


# -- item 11: filled rows --------------------------------------------------------------------------------
def gappy(n=100, missing=()):
    values = np.arange(n, dtype=float)
    values[list(missing)] = np.nan
    idx = pd.date_range("2024-01-01", periods=n, freq="h")
    return pd.DataFrame({"t": values, "c": np.ones(n)}, index=idx)


def test_the_series_records_which_rows_were_filled_and_keeps_them_through_slices():
    s = validate(gappy(missing=[10, 11, 50]), "t", fill="interpolate")
    assert list(np.flatnonzero(s.filled_mask())) == [10, 11, 50]
    assert s.filled_mask().shape == (100,)
    part = s.until(s.index[40])
    assert list(np.flatnonzero(part.filled_mask())) == [10, 11]
    later = s.between(s.index[30])
    assert list(np.flatnonzero(later.filled_mask())) == [20]
    assert not validate(gappy(), "t").filled_mask().any()


def test_filled_covariates_do_not_mark_the_target():
    frame = gappy()
    frame.iloc[20, 1] = np.nan
    assert not validate(frame, "t").filled_mask().any()


def test_mask_filled_blanks_actuals_that_were_filled():
    s = validate(gappy(missing=[10, 11, 50]), "t", fill="interpolate")
    origins = np.array([8, 12, 48])
    actual = np.stack([s.values[o : o + 4] for o in origins])
    masked = mask_filled(s, origins, 4, actual)
    assert masked.shape == (3, 4) and actual[0, 2] == 10.0  # the input is untouched
    assert np.isnan(masked[0]).tolist() == [False, False, True, True]
    assert not np.isnan(masked[1]).any()
    assert np.isnan(masked[2]).tolist() == [False, False, True, False]


def test_heavy_filling_is_warned_about(caplog):
    missing = [i for i in range(1, 99) if i % 4]  # 74% of the rows
    with caplog.at_level(logging.WARNING, logger="forecaster"):
        s = validate(gappy(missing=missing), "t", fill="interpolate", max_gap=1000)
    assert s.filled_mask().mean() > HEAVY_FILL
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "74%" in warning and "'t'" in warning and "not data" in warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="forecaster"):
        validate(gappy(missing=[10, 11]), "t")
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_data_show_says_how_many_target_values_were_filled(tmp_path):
    def holes(f):
        f.loc[[10, 11, 30], "sales"] = np.nan
        return f

    path = daily_csv(tmp_path / "a.csv", edit=holes)
    out = CliRunner().invoke(cli, ["data", "show", "--csv", str(path), "--target", "sales"]).output
    assert "filled     3 of 60 'sales' values (5%) filled in, not observed" in out, out
