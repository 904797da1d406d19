"""fit_model and FittedModel: one short fit, causal predictions, trending series, save/load, errors."""

from __future__ import annotations

import importlib.util
import json
import signal
from dataclasses import asdict

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import pytest

from forecaster.backtest.baselines import future_windows
from forecaster.config import Config, override, validate_config
from forecaster.data.series import validate
from forecaster.errors import ConfigError, DataError, ModelError
from forecaster.fitted import FittedModel, future_index
from forecaster.training import fit_model

L, H = 20, 3
TINY = {
    "model.lookback": L,
    "model.horizon": H,
    "model.hidden_size": 8,
    "model.num_layers": 1,
    "train.max_epochs": 1,
    "train.batch_size": 64,
    "train.progress_bar": False,
    "train.logger": "none",
}


def tiny(**over) -> Config:
    return override(Config(), TINY | over)


@pytest.fixture(scope="module")
def stock(aapl):
    return aapl.with_frame(aapl.frame.iloc[:400])


@pytest.fixture(scope="module")
def fitted(stock):
    return fit_model(stock, tiny(**{"model.num_layers": 2}))


def test_one_epoch_fit_records_what_it_learned_from(fitted, stock):
    meta = fitted.meta
    assert fitted.module.training is False
    assert meta.epochs_trained == 1 and meta.data.fingerprint == stock.fingerprint()
    assert asdict(meta.series) == {
        "source": "snapshot",
        "symbol": "AAPL",
        "freq": "B",
        "target": "close",
        "tz": "America/New_York",
        "unit": "USD",
        "calendar": "XNYS",
    }
    assert meta.data.rows == 400 and meta.splits["val"].rows == 60
    assert {"val_mae", "val_rmse", "val_loss", "test_mae"} <= set(fitted.metrics)
    assert np.isfinite(list(fitted.metrics.values())).all()
    assert fitted.config.data.covariates == [
        "log_return",
        "range",
        "log_volume",
    ]  # resolved defaults
    assert fitted.config.model.calendar == ["dayofweek", "dayofyear"]


def test_split_origins_are_the_validation_windows(fitted, stock):
    origins = fitted.split_origins("val")
    assert (
        len(origins) == 60 - L - H + 1 and origins[0] == 280 + L
    )  # the val split is rows 280..339
    assert origins[-1] + H == 340  # the last window ends with the split
    y = stock.values
    actuals = future_windows(y, origins, H)
    np.testing.assert_array_equal(actuals[0], y[origins[0] : origins[0] + H])
    mae = np.abs(fitted.predict_origins(stock, origins) - actuals).mean()
    assert mae == pytest.approx(fitted.metrics["val_mae"])


def test_predict_origins_shape_and_range(fitted, stock):
    # That forecasts never read rows at or after their origin is tested in test_leakage.py, on a
    # model whose learned correction is in use: this one ends as its anchor (naive), which no
    # covariate or network leak could move.
    origins = np.array([L, 100, 250, 399])
    before = fitted.predict_origins(stock, origins)
    assert before.shape == (4, H) and before.dtype == np.float64
    with pytest.raises(DataError, match="origins must lie in"):
        fitted.predict_origins(stock, np.array([L - 1]))


def test_predict_returns_the_next_trading_days(fitted, stock):
    friday = stock.until("2001-09-08")  # ends on Friday 2001-09-07
    out = fitted.predict(friday)
    assert list(out.columns) == ["forecast"] and len(out) == H
    # the NYSE's sessions (the snapshot's calendar, XNYS): closed from 9/11 to Friday 2001-09-14
    assert [d.strftime("%a %d") for d in out.index] == ["Mon 10", "Mon 17", "Tue 18"]
    weekdays = future_index(friday.end, "B", H)  # without a calendar: the next weekdays
    assert [d.strftime("%a %d") for d in weekdays] == ["Mon 10", "Tue 11", "Wed 12"]
    np.testing.assert_allclose(out["forecast"], fitted.predict_origins(friday, [len(friday)])[0])
    hourly = future_index(pd.Timestamp("2001-03-01 23:00", tz="Etc/GMT+5"), "h", 3)
    assert [t.hour for t in hourly] == [0, 1, 2] and hourly.tz == hourly[0].tz


def test_save_load_gives_identical_predictions(fitted, stock, tmp_path):
    fitted.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "calibration.json",
        "config.yaml",
        "meta.json",
        "model.pt",
        "normalization.json",
        "procedure.pt",
    ]
    norm = json.loads((tmp_path / "m" / "normalization.json").read_text())
    assert norm["feature_names"][0] == "close" and len(norm["mean"]) == 3
    loaded = FittedModel.load(tmp_path / "m")
    origins = np.arange(L, 400, 7)
    np.testing.assert_array_equal(
        loaded.predict_origins(stock, origins), fitted.predict_origins(stock, origins)
    )
    assert loaded.metrics == pytest.approx(fitted.metrics) and loaded.meta == fitted.meta
    assert list(loaded.split_origins("val", stock)) == list(fitted.split_origins("val"))
    # and so do the intervals, exactly
    before, after = fitted.predict(stock, [50, 90]), loaded.predict(stock, [50, 90])
    assert list(after.columns) == ["forecast", "median", "lo_50", "hi_50", "lo_90", "hi_90"]
    pd.testing.assert_frame_equal(before, after, check_exact=True)


def test_missing_or_corrupt_files_are_model_errors(fitted, tmp_path):
    folder = fitted.save(tmp_path / "m")
    (folder / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="model.pt is corrupt") as exc:
        FittedModel.load(folder)
    assert "\n" not in str(exc.value)
    (folder / "normalization.json").unlink()
    with pytest.raises(ModelError, match="has no normalization.json"):
        FittedModel.load(folder)


def test_trending_series_stays_near_naive():
    """Trained on a low price span, evaluated on prices far above it: the learned correction does
    not explode (per-window scaling). Checked on the network's whole correction (blend 1), kept
    from the last training step, so it is not the anchor's forecast under another name."""
    rng = np.random.default_rng(0)
    n = 1500
    log_price = np.log(20.0) + 0.002 * np.arange(n) + np.cumsum(rng.normal(0, 0.012, n))
    index = pd.bdate_range("2003-01-01", periods=n, tz="America/New_York")
    series = validate(pd.DataFrame({"close": np.exp(log_price)}, index=index), "close", freq="B")
    train = series.with_frame(series.frame.iloc[:800])
    # 10 steps end before any validation: the last weights are kept, correction and all
    over = {"train.max_steps": 10, "train.batch_size": 16, "train.learning_rate": 0.01}
    model = fit_model(train, tiny(**over))
    origins = np.arange(1200, n - H, 2)
    y = series.values
    actual = y[origins[:, None] + np.arange(H)]
    assert y[1200:].min() > 1.5 * y[:800].max()  # the evaluated span is above anything seen
    full, anchor = model.forecast_with_anchor(series, origins)
    naive_mae = np.abs(y[origins - 1][:, None] - actual).mean()
    assert np.abs(full - anchor).mean() > 0.05 * naive_mae  # the correction is in play
    assert np.abs(full - actual).mean() < 1.25 * naive_mae


def test_bad_hyperparameters_are_forecaster_errors(stock):
    with pytest.raises(ConfigError, match="model.lookback"):
        validate_config({"model": {"lookback": 0}})
    with pytest.raises(ConfigError, match="model.num_layers"):
        override(Config(), {"model.num_layers": 0})
    with pytest.raises(ConfigError, match="unknown key 'model.hiden_size'"):
        validate_config({"model": {"hiden_size": 64}})
    with pytest.raises(DataError, match="horizon 1000"):
        fit_model(stock, tiny(**{"model.horizon": 1000}))


def test_fast_dev_run_and_logger_options(stock, tmp_path):
    quick = fit_model(
        stock,
        tiny(**{"train.logger": "csv"}),
        out_dir=tmp_path,
        trainer_kwargs={"fast_dev_run": True},
    )
    assert quick.meta.best_epoch is None and np.isfinite(quick.metrics["val_mae"])
    if (
        importlib.util.find_spec("tensorboard") is None
        and importlib.util.find_spec("tensorboardX") is None
    ):
        with pytest.raises(ConfigError, match="needs TensorBoard"):
            fit_model(stock, tiny(**{"train.logger": "tensorboard"}))


def test_ctrl_c_raises_keyboard_interrupt_not_system_exit(stock):
    class CtrlC(pl.Callback):
        def on_train_batch_start(self, *args):
            raise KeyboardInterrupt

    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        fit_model(stock, tiny(), callbacks=[CtrlC()])
    assert signal.getsignal(signal.SIGINT) is handler


@pytest.mark.filterwarnings("ignore:.*could not find the monitored key.*")
def test_max_steps_ending_mid_epoch_keeps_the_last_weights(stock):
    # 400 rows give several batches per epoch at batch size 16; stopping after 3 steps skips validation.
    fitted = fit_model(stock, tiny(**{"train.max_steps": 3, "train.batch_size": 16}))
    assert fitted.meta.best_epoch is None
    out = fitted.predict(stock)
    assert out.shape == (fitted.horizon, 1) and np.isfinite(out["forecast"]).all()


def test_the_fit_forecasts_its_windows_on_the_fits_threads(stock, monkeypatch):
    """The forecast of the validation and test windows runs on the fit's CPU threads, as training
    does (torch's default of every core made it 5-20x slower on a shared 2-core box)."""
    import torch

    from forecaster import training
    from forecaster.loop import cpu_threads

    seen: list[int] = []
    real = training.evaluate_split

    def counting(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "evaluate_split", counting)
    before = torch.get_num_threads()
    torch.set_num_threads(cpu_threads() + 1)  # as a process starts: more than the fit uses
    try:
        want = cpu_threads()
        fit_model(stock, tiny())
    finally:
        torch.set_num_threads(before)
    assert seen and set(seen) == {want}
