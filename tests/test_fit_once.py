"""The fit's one path: the validation windows are forecast once, and models saved before the
meta.json schema existed (single series and group, kept as fixtures) still load and forecast."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest

from forecaster import api
from forecaster.backtest.evaluate import evaluate_split, pooled
from forecaster.config import Config, override
from forecaster.data.splits import first_test_row
from forecaster.data.windows import WindowDataModule
from forecaster.fitted import FittedModel
from forecaster.meta import SCHEMA_VERSION, ModelMeta
from forecaster.models.gru import GRURegressor
from forecaster.training import fit_model

FIXTURES = Path(__file__).parent / "fixtures"


TINY = {
    "model.lookback": 20,
    "model.horizon": 5,
    "model.hidden_size": 8,
    "model.num_layers": 1,
    "train.max_epochs": 2,
    "train.patience": 5,
}


def tiny(**over) -> Config:
    return override(Config(), TINY | over)


def test_the_validation_windows_are_forecast_once_per_fit(aapl, monkeypatch):
    """After training, the model forecasts each validation and test window exactly once: the
    blend choice, the validation table, the meta and the calibration all read that forecast."""
    series = aapl.with_frame(aapl.frame.iloc[-600:])
    seen: list[int] = []
    real_forward = GRURegressor.forward

    def counting(self, x, member=None, future=None):
        seen.append(len(x))
        return real_forward(self, x, member, future)

    real_fit = pl.Trainer.fit

    def fit_then_count(self, *args, **kwargs):
        out = real_fit(self, *args, **kwargs)
        seen.clear()  # what the Trainer's own validation epochs forecast is training, not scoring
        return out

    monkeypatch.setattr(GRURegressor, "forward", counting)
    monkeypatch.setattr(pl.Trainer, "fit", fit_then_count)
    cfg = api.make_config(ticker="AAPL", overrides=TINY | {"data.offline": True})
    model = api.fit(cfg, series=series, save=False).model
    n_val, n_test = (len(model.split_origins(s)) for s in ("val", "test"))
    assert sum(seen) == n_val + n_test, (sum(seen), n_val, n_test)
    table = model.validation.table()
    assert table.loc["gru", "mae"] == pytest.approx(model.metrics["val_mae"])
    assert "val_gru_mae" not in model.metrics  # stored once


@pytest.mark.parametrize("name", ["single", "group"])
def test_models_saved_before_the_schema_still_load_and_forecast(name, aapl, tmp_path):
    folder = tmp_path / name
    shutil.copytree(FIXTURES / f"model_v1_{name}", folder)
    raw = json.loads((folder / "meta.json").read_text())
    assert "schema_version" not in raw  # written by the code before the redesign
    model = FittedModel.load(folder)
    assert model.meta.schema_version == SCHEMA_VERSION
    assert model.meta.anchor.name == raw["anchor"]["name"]
    assert model.metrics["val_mae"] == raw["metrics"]["val_mae"]
    if name == "group":
        assert model.members == ["AAPL", "MSFT"] and model.cuts.val_end is not None
        assert model.cuts.to_dict() == raw["group"]["cuts"]
    else:
        assert model.cuts is None  # a one-series model cut by its config's fractions
    series = aapl.until("2013-01-01")
    frame = model.predict(series, levels=[80])
    assert len(frame) == 5 and np.isfinite(frame.to_numpy()).all()
    model.save(tmp_path / "again")  # written back with the schema, and read again the same
    again = FittedModel.load(tmp_path / "again")
    assert again.meta == model.meta
    assert json.loads((tmp_path / "again" / "meta.json").read_text())["schema_version"] == 2


def test_meta_is_a_typed_record_without_string_nones(aapl):
    model = fit_model(aapl.with_frame(aapl.frame.iloc[-400:]), tiny(**{"train.max_epochs": 1}))
    raw = model.meta.to_dict()
    assert raw["schema_version"] == SCHEMA_VERSION and "None" not in json.dumps(raw)
    assert ModelMeta.from_dict(json.loads(json.dumps(raw))) == model.meta
    with pytest.raises(ValueError, match="newer than this program"):
        ModelMeta.from_dict(raw | {"schema_version": SCHEMA_VERSION + 1})


def test_one_split_rule_for_fit_backtest_and_holdout(aapl):
    """The backtest/holdout start is the fit's test cut: the same row for every test fraction."""
    index = aapl.index
    for fraction in (0.1, 0.15, 0.3):
        cfg = override(Config(), {"train.test_fraction": fraction, "train.val_fraction": 0.15})
        dm = WindowDataModule(aapl, cfg)
        dm.setup()
        assert dm.bounds[0]["test"][0] == first_test_row(index, fraction)


def test_a_group_pools_its_members_relative_to_naive():
    per_member = {
        "A": {
            "naive": {"mae": 2.0, "rmse": 4.0, "windows": 3},
            "gru": {"mae": 1.0, "rmse": 2.0, "windows": 3},
        },
        "B": {
            "naive": {"mae": 100.0, "rmse": 100.0, "windows": 5},
            "gru": {"mae": 150.0, "rmse": 100.0, "windows": 5},
        },
    }
    out = pooled(per_member, ["gru", "naive"])
    assert out["naive"] == {"mae": 1.0, "rmse": 1.0, "windows": 8}
    assert out["gru"]["mae"] == pytest.approx((0.5 + 1.5) / 2) and out["gru"]["rmse"] == 0.75


def test_evaluate_split_scores_the_model_and_baselines_on_the_same_windows(aapl):
    series = aapl.with_frame(aapl.frame.iloc[-500:])
    model = fit_model(series, tiny(**{"train.max_epochs": 1}))
    ev = evaluate_split(model, [series], "val", model.config.backtest)
    member = ev.members[series.symbol]
    np.testing.assert_array_equal(member.origins, model.split_origins("val"))
    assert set(ev.methods) >= {"gru", "naive", "drift"}
    np.testing.assert_allclose(
        ev.with_blend(0.0).members[series.symbol].forecasts["gru"], member.anchor
    )
    np.testing.assert_allclose(
        member.forecasts["naive"], np.repeat(series.values[member.origins - 1][:, None], 5, 1)
    )
    assert api.fit_model is fit_model


def test_the_test_scores_are_those_of_the_saved_blend(monkeypatch):
    """meta's test_mae is the saved model's (its kept share of the correction), not the full
    correction's: a fit that keeps half of it scores the half on the test windows."""
    from lead import lead_config, lead_series

    from forecaster import training
    from forecaster.backtest import metrics

    monkeypatch.setattr(training, "select_correction", lambda *a, **k: (0.5, {"forced": True}))
    series = lead_series()
    fitted = fit_model(series, lead_config())
    assert fitted.meta.anchor.blend == 0.5 and float(fitted.procedure().module.blend) == 0.5
    model = fitted.procedure()
    origins = model.split_origins("test", series)
    forecast = model.predict_origins(series, origins)
    actual = np.stack([series.values[o : o + model.horizon] for o in origins])
    assert fitted.metrics["test_mae"] == pytest.approx(metrics.mae(actual, forecast), rel=1e-6)
