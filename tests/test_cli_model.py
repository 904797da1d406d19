"""`forecast fit`, `predict` and `backtest` driven as a user would, offline on the bundled snapshots.

Models are tiny (1 layer x 8 units, 1-2 epochs) so each command runs in seconds; the code paths are
the real ones: loader -> DataModule -> Trainer -> registry -> backtest engine -> report.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from lead import lead_model

from forecaster import api
from forecaster.backtest.engine import run_backtest
from forecaster.cli import cli
from forecaster.config import BacktestConfig
from forecaster.fitted import FittedModel

TINY = ["--hidden-size", "8", "--layers", "1", "--epochs", "2", "--no-progress", "--offline"]


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


@pytest.fixture
def fitted_aapl(data_root):
    out = run("fit", "--ticker", "AAPL", *TINY)
    return out


def test_fit_prints_baselines_and_saves_everything(fitted_aapl, data_root):
    out = fitted_aapl
    assert "bundled snapshot AAPL" in out  # says where the data came from
    for row in ("gru", "naive", "seasonal_naive"):
        assert re.search(rf"^\s+{row}\s+\d", out, re.M), out
    assert "Saved yahoo-AAPL-1d version" in out and "now the champion" in out
    info = api.store().resolve("yahoo-AAPL-1d")
    assert {p.name for p in info.path.iterdir()} >= {
        "model.pt",
        "config.yaml",
        "normalization.json",
        "meta.json",
    }
    meta = json.loads((info.path / "meta.json").read_text())
    assert meta["data"]["start"].startswith("2000-03-01") and meta["data"]["rows"] == 3270
    assert len(meta["data"]["fingerprint"]) == 16
    assert {"val_mae", "val_naive_mae", "val_seasonal_naive_mae"} <= set(meta["metrics"])
    assert "lookback: 60" in (info.path / "config.yaml").read_text()


def test_predict_next_trading_days_and_files(fitted_aapl, data_root):
    out = run("predict", "--ticker", "AAPL", "--offline", "--plot")
    stamps = pd.to_datetime(re.findall(r"^\s+(\d{4}-\d\d-\d\d[ \d:+-]*?)\s{2,}", out, re.M))
    assert len(stamps) == 5
    assert stamps[0].date().isoformat() == "2013-03-04"  # the snapshot ends on Friday 2013-03-01
    assert all(t.dayofweek < 5 for t in stamps)
    files = dict(re.findall(r"^Wrote (\w+): (.+)$", out, re.M))
    payload = json.loads(Path(files["JSON"]).read_text())
    assert [f["time"][:10] for f in payload["forecast"]] == [t.date().isoformat() for t in stamps]
    assert np.isfinite([f["value"] for f in payload["forecast"]]).all()
    csv = pd.read_csv(files["CSV"])
    assert list(csv.columns) == [
        "time",
        "forecast",
        "median",
        "lo_80",
        "hi_80",
        "lo_95",
        "hi_95",
    ]
    assert len(csv) == 5
    # each interval is a real range, and the 95% one holds the 80% one
    assert (csv["lo_95"] <= csv["lo_80"]).all() and (csv["hi_80"] <= csv["hi_95"]).all()
    assert (csv["lo_80"] < csv["hi_80"]).all()
    assert payload["intervals"]["calibration_origins"] > 0 and payload["intervals"]["short"] == []
    assert re.search(r"80% interval\s+95% interval", out)
    assert "plotly" in Path(files["HTML"]).read_text().lower()


def test_backtest_table_and_report_on_identical_origins(fitted_aapl, data_root):
    out = run("backtest", "--ticker", "AAPL", "--offline", "--max-origins", "40")
    assert "40 origins" in out
    for name in ("gru", "naive", "seasonal_naive", "drift", "moving_average", "ridge"):
        assert re.search(rf"^\s+{name}\s", out, re.M), name
    assert "*" in out
    folder = re.search(r"^Html: (.+)report\.html$", out, re.M).group(1)
    metrics = json.loads(Path(folder, "metrics.json").read_text())
    text = json.dumps(metrics)
    for name in ("gru", "naive", "ridge"):
        assert name in text
    forecasts = pd.read_csv(folder + "forecasts.csv")
    assert forecasts["origin"].nunique() == 40
    assert {"gru", "naive", "seasonal_naive", "drift", "moving_average", "ridge", "actual"} <= set(
        forecasts.columns
    )
    assert forecasts[["gru", "naive", "ridge"]].notna().all().all()  # every method on every origin


def test_backtest_refuses_a_model_that_saw_the_span(fitted_aapl):
    out = run("backtest", "--ticker", "AAPL", "--offline", "--start", "2010-01-01", code=2)
    assert "leak" in out and "--refit-every" in out


def test_backtest_without_a_saved_model_trains_on_the_past(data_root):
    out = run(
        "backtest",
        "--ticker",
        "AAPL",
        "--offline",
        "--max-origins",
        "10",
        "--config",
        "stocks_daily",
    )
    assert "10 origins" in out and re.search(r"^\s+gru\s", out, re.M)
    (version,) = api.store().versions("yahoo-AAPL-1d")
    test_start = pd.Timestamp(re.search(r"origins, (\S+ \S+) \.\.", out).group(1))
    assert pd.Timestamp(version.meta["data"]["end"]).tz_localize(None) < test_start


def test_hourly_weather_fit_and_backtest(data_root):
    out = run("fit", "--city", "greensboro", *TINY)
    assert "seasonal_naive" in out and "season 24" in out
    out = run(
        "backtest", "--city", "greensboro", "--offline", "--max-origins", "5", "--stride", "24"
    )
    assert "5 origins" in out and "°C" in out


def test_gru_batched_and_one_by_one_agree():
    # A model whose learned correction is in use (tests/lead.py): an anchor's forecast would agree
    # batched or not whatever the network did. That the backtest never reads the future (this
    # test's second half before) is tested in test_leakage.py on the same model.
    model, series = lead_model()
    assert not model.meta.anchor.is_anchor and model.meta.anchor.blend == 1.0
    bcfg = BacktestConfig(max_origins=30)
    batched = run_backtest(series, model, cfg=bcfg, model_name="gru")
    single = run_backtest(series, model, cfg=bcfg, model_name="gru", batch_size=1)
    np.testing.assert_allclose(
        batched.forecasts["gru"], single.forecasts["gru"], rtol=1e-5, atol=1e-6
    )
    assert not np.allclose(batched.forecasts["gru"], batched.forecasts["naive"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["fit", "--ticker", "AAPL", "--offline", "--horizon", "5000"], "too short"),
        (["fit", "--ticker", "AAPL", "--offline", "--layers", "0"], "num_layers"),
        (["fit", "--csv", "no/such/file.csv", "--target", "x"], "no/such/file.csv"),
        (["fit", "--ticker", "AAPL", "--city", "berlin"], "choose one series"),
        (["predict", "--ticker", "AAPL", "--offline"], "train one first"),
        (
            ["backtest", "--ticker", "AAPL", "--offline", "--model", "no-such-version"],
            "no-such-version",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert "Traceback" not in result.output


def test_unknown_config_key_and_corrupt_model(tmp_path, fitted_aapl):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  lookbak: 10\n")
    out = run("fit", "--ticker", "AAPL", "--offline", "--config", str(bad), code=2)
    assert "unknown key 'model.lookbak'" in out
    info = api.store().resolve("yahoo-AAPL-1d")
    (info.path / "model.pt").write_bytes(b"not a model")
    out = run("predict", "--ticker", "AAPL", "--offline", code=2)
    assert "model.pt" in out and "corrupt" in out and "forecast models rollback" in out
    assert "weights_only" not in out  # PyTorch's advice to load it unsafely is not repeated
    with pytest.raises(Exception, match="model.pt"):
        FittedModel.load(info.path)


def test_models_show_prints_the_interval_calibration(fitted_aapl, data_root):
    out = run("models", "show", "yahoo-AAPL-1d")
    assert re.search(r"^calibration: \d+ origins x 5 steps", out, re.M), out[-500:]
    assert re.search(r"^  95%: step 1 \[-[\d.]+, \+[\d.]+\] x scale", out, re.M)
    folder = next((data_root / "models" / "yahoo-AAPL-1d" / "versions").iterdir())
    (folder / "calibration.json").write_text("{not json")
    assert "calibration.json is unreadable" in run("models", "show", "yahoo-AAPL-1d")
