"""Real-world CSV handling: what to do with duplicated timestamps and gaps (``data.duplicates``,
``data.fill`` + ``max_gap``; ``--duplicates``, ``--fill``, ``--max-gap``), and the report of what
was done, on the file a new user brought: a 30-minute meter export with one timestamp written twice
with different values and a 23-step outage."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from forecaster import api
from forecaster.cli import cli
from forecaster.config import DataConfig, make_config
from forecaster.data import cleaning, loader
from forecaster.data.file_key import file_key_name
from forecaster.data.series import validate
from forecaster.errors import ConfigError, DataError

N = 600
DUPLICATE_ROW = 100  # 2024-01-03 02:00: written twice, the second time 99.0
OUTAGE = range(300, 323)  # 23 steps of 30 minutes missing from the file


@pytest.fixture(autouse=True)
def _restore_logging():
    logger = logging.getLogger("forecaster")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


def meter_values() -> np.ndarray:
    return np.round(20 + 5 * np.sin(np.arange(N) / 48 * 2 * np.pi), 2)


@pytest.fixture
def meter(tmp_path):
    idx = pd.date_range("2024-01-01", periods=N, freq="30min")
    frame = pd.DataFrame({"time": idx.strftime("%Y-%m-%d %H:%M"), "x": meter_values()})
    frame = frame.drop(index=list(OUTAGE))
    again = frame.loc[[DUPLICATE_ROW]].assign(x=99.0)
    frame = pd.concat([frame.loc[:DUPLICATE_ROW], again, frame.loc[DUPLICATE_ROW + 1 :]])
    path = tmp_path / "meter.csv"
    frame.to_csv(path, index=False)
    return path


def csv(path, **kw) -> DataConfig:
    return DataConfig(source="csv", path=path, target="x", **kw)


# -- the defaults stay as they were: both problems are one-line errors naming the new options --------
def test_defaults_reject_both_and_name_the_options(meter):
    with pytest.raises(DataError, match="duplicate timestamps with different values") as exc:
        loader.load_series(csv(meter))
    assert "--duplicates first|last|mean" in str(exc.value)
    with pytest.raises(DataError, match=r"gap of 23 missing steps .* raise --max-gap"):
        loader.load_series(csv(meter, duplicates="last"))


@pytest.mark.parametrize("policy", ["first", "last", "mean"])
def test_duplicates_policy(meter, policy):
    s = loader.load_series(csv(meter, duplicates=policy, max_gap=23))
    stamp = pd.Timestamp("2024-01-03 02:00", tz="UTC")
    written = meter_values()[DUPLICATE_ROW]  # 22.5, then 99.0 in the repeated row
    expected = {"first": written, "last": 99.0, "mean": (written + 99.0) / 2}[policy]
    assert s.frame.loc[stamp, "x"] == pytest.approx(expected)
    assert s.index.is_unique and len(s) == N
    (note,) = [n for n in s.notes if "duplicate" in n]
    assert note.startswith("resolved 1 duplicate timestamp with different values by ")
    assert f"--duplicates {policy}" in note


def test_interpolate_fills_the_outage_with_a_straight_line(meter):
    s = loader.load_series(csv(meter, duplicates="last", fill="interpolate", max_gap=48))
    before, after = meter_values()[OUTAGE.start - 1], meter_values()[OUTAGE.stop]
    filled = s.frame["x"].iloc[OUTAGE.start : OUTAGE.stop].to_numpy()
    expected = before + (after - before) * np.arange(1, 24) / 24
    assert np.allclose(filled, expected)
    assert "interpolated 23 missing values linearly (gaps of at most 48 steps)" in s.notes
    assert "23 missing 30min steps inserted as gaps" in s.notes


def test_ffill_repeats_the_last_value_and_none_fills_nothing(meter):
    s = loader.load_series(csv(meter, duplicates="last", fill="ffill", max_gap=48))
    filled = s.frame["x"].iloc[OUTAGE.start : OUTAGE.stop]
    assert (filled == meter_values()[OUTAGE.start - 1]).all()
    assert "forward-filled 23 missing values (gaps of at most 48 steps)" in s.notes
    with pytest.raises(DataError, match="gap of 23 missing steps .* and --fill is none"):
        loader.load_series(csv(meter, duplicates="last", fill="none", max_gap=48))
    s = loader.load_series(csv(meter, duplicates="last", fill="none", start="2024-01-08"))
    assert s.start == pd.Timestamp("2024-01-08", tz="UTC")  # no gap in the span: nothing to fill


def test_the_policies_are_validation_steps_for_every_source():
    idx = pd.date_range("2024-01-01", periods=10, freq="D")
    frame = pd.DataFrame({"v": [1.0, 2.0, np.nan, np.nan, 5.0, 6, 7, 8, 9, 10]}, index=idx)
    frame = pd.concat([frame, frame.iloc[[0]] + 1])
    s = validate(frame, "v", duplicates="mean", fill="interpolate", max_gap=2)
    assert s.values[:5].tolist() == [1.5, 2.0, 3.0, 4.0, 5.0]
    o = cleaning.Options(label="t:v", target="v", duplicates="first")
    out, notes = cleaning.resolve_duplicates(frame.sort_index(kind="stable"), o)
    assert out["v"].iloc[0] == 1.0 and notes and notes[0].startswith("resolved 1 duplicate")


def test_config_accepts_only_known_policies():
    cfg = make_config(csv="x.csv", overrides={"data.duplicates": "mean", "data.fill": "none"})
    assert (cfg.data.duplicates, cfg.data.fill) == ("mean", "none")
    with pytest.raises(ConfigError, match="data.duplicates='newest'"):
        make_config(csv="x.csv", overrides={"data.duplicates": "newest"})
    with pytest.raises(ConfigError, match="data.fill='spline'"):
        make_config(csv="x.csv", overrides={"data.fill": "spline"})


# -- the command line, end to end --------------------------------------------------------------------
def run(*args, code=0):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result


def test_data_show_reports_what_was_done(meter):
    flags = ["--csv", str(meter), "--target", "x"]
    shown = run("data", "show", *flags, "--duplicates", "last", "--fill", "interpolate",
                "--max-gap", "48")  # fmt: skip
    out = shown.stdout
    assert "rows       600" in out
    assert "cleaning   duplicates last, fill interpolate (gaps up to 48 steps)" in out
    assert "resolved 1 duplicate timestamp with different values by keeping the last row" in out
    assert "interpolated 23 missing values linearly (gaps of at most 48 steps)" in out
    failed = run("data", "show", *flags, code=2)
    assert failed.stderr.count("\n") == 1 and "--duplicates first|last|mean" in failed.stderr
    bad = run("data", "show", *flags, "--fill", "spline", code=2)
    assert "'spline' is not one of 'ffill', 'interpolate', 'none'" in bad.stderr


def test_fit_on_the_meter_file_with_the_new_flags(meter, data_root):
    out = run(
        "fit", "--csv", str(meter), "--target", "x",
        "--duplicates", "last", "--fill", "interpolate", "--max-gap", "48",
        "--epochs", "1", "--lookback", "24", "--horizon", "4", "--hidden-size", "8",
        "--layers", "1", "--no-progress",
    ).output  # fmt: skip
    key = f"csv-{file_key_name(meter)}"
    assert "on csv:meter 'x'" in out and "600 rows" in out and f"Saved {key} version" in out
    info = api.store().resolve(key)
    saved = yaml.safe_load((info.path / "config.yaml").read_text())["data"]
    # saved with the model, so the run can be repeated from its config.yaml
    assert (saved["duplicates"], saved["fill"], saved["max_gap"]) == ("last", "interpolate", 48)
    predicted = run(
        "predict", "--csv", str(meter), "--target", "x",
        "--duplicates", "last", "--fill", "interpolate", "--max-gap", "48",
    ).output  # fmt: skip
    assert "Wrote CSV:" in predicted
