"""The served weights learn from every row; every evaluation scores the procedure's weights.

A fit saves two sets of weights: ``model.pt`` (served: trained through the last row with the
procedure's choices) and ``procedure.pt`` (what the fit evaluated on validation and test). These
tests hold the line between them: meta.json says the served weights reach the last row, a
backtest and a nightly-style holdout score the procedure's weights only, and a folder saved before
serving loads with its ``model.pt`` as the procedure.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster import api
from forecaster.backtest.engine import run_backtest
from forecaster.backtesting import _check_no_overlap
from forecaster.config import BacktestConfig, Config, override
from forecaster.data.group import store_key
from forecaster.data.series import Series
from forecaster.data.splits import first_test_row
from forecaster.data.windows import WindowDataModule
from forecaster.epochs import batches_per_epoch, epoch_share
from forecaster.errors import ModelError
from forecaster.fitted import PROCEDURE_FILE, FittedModel, build_module
from forecaster.meta import ModelMeta, ServedMeta, ServeMethod
from forecaster.registry import VersionInfo
from forecaster.served import Procedure, choose_method, recipe
from forecaster.training import _warm_start, fit_model

L, H = 20, 3
TINY = {
    "model.lookback": L,
    "model.horizon": H,
    "model.hidden_size": 8,
    "model.num_layers": 1,
    "train.max_epochs": 3,
    "train.patience": 3,
    "train.batch_size": 64,
    "train.confidence": 0.0,  # keep any gain: these fits must end with a trained correction
    "train.progress_bar": False,
    "train.logger": "none",
    "backtest.levels": [],
}


def ar2_frame(n: int = 700, seed: int = 0) -> pd.DataFrame:
    """A damped oscillation a trained network forecasts far better than naive (it learns)."""
    rng = np.random.default_rng(seed)
    y = np.zeros(n)
    for t in range(2, n):
        y[t] = 1.5 * y[t - 1] - 0.75 * y[t - 2] + rng.normal()
    index = pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC")
    return pd.DataFrame({"time": index, "y": y})


@pytest.fixture(scope="module")
def ar2_cfg(tmp_path_factory) -> Config:
    path = tmp_path_factory.mktemp("ar2") / "ar2.csv"
    ar2_frame().to_csv(path, index=False)
    return api.make_config(csv=path, overrides=TINY | {"data.target": "y"})


@pytest.fixture(scope="module")
def trained(ar2_cfg) -> tuple[FittedModel, Series]:
    """One fit of the AR(2) CSV (in memory) and its series."""
    series = api.load_data(ar2_cfg)
    return fit_model(series, ar2_cfg), series


@pytest.fixture
def saved(trained, ar2_cfg) -> VersionInfo:
    """``trained`` saved in this test's store as the champion of its series."""
    st, key = api.store(), store_key(ar2_cfg.data)
    info = st.save(key, trained[0].save)
    st.promote(key, info.version, reason="test")
    return info


def _weights_differ(a: FittedModel, b: FittedModel) -> bool:
    sa, sb = a.module.state_dict(), b.module.state_dict()
    return any(not torch.equal(sa[k], sb[k]) for k in sa)


def test_fit_saves_served_weights_trained_through_the_last_row(ar2_cfg):
    result = api.fit(ar2_cfg)
    model, series = result.model, result.series
    meta = json.loads((result.version.path / "meta.json").read_text())
    served = meta["served"]
    assert served["method"] == "retrain"
    assert pd.Timestamp(served["end"]) == series.end  # the served weights saw the last row
    assert pd.Timestamp(served["start"]) == series.start and served["rows"] == len(series)
    assert served["steps"] > 0 and served["windows"] > meta["splits"]["train"]["windows"]
    # the evaluation describes the procedure: trained before the validation rows
    assert pd.Timestamp(meta["splits"]["train"]["end"]) < pd.Timestamp(
        meta["splits"]["val"]["start"]
    )
    assert not model.meta.anchor.is_anchor and model.meta.anchor.blend > 0
    assert _weights_differ(model, model.procedure())
    assert (result.version.path / PROCEDURE_FILE).is_file()
    # the procedure's validation forecasts are what the fit stored
    origins = model.split_origins("val", series)
    stored = model.validation.members[series.symbol].forecasts[model.name]
    np.testing.assert_allclose(
        model.procedure().predict_origins(series, origins), stored, atol=1e-5
    )
    # the served weights kept the blend the procedure chose
    assert float(model.module.blend) == pytest.approx(model.meta.anchor.blend)


def test_both_weights_load_and_old_folders_load_as_their_procedure(trained, saved, tmp_path):
    (model, series), folder = trained, saved.path
    origins = np.array([len(series) - 5, len(series)])
    served = FittedModel.load(folder)
    procedure = FittedModel.load(folder, weights="procedure")
    want_served = model.predict_origins(series, origins)
    want_procedure = model.procedure().predict_origins(series, origins)
    np.testing.assert_allclose(served.predict_origins(series, origins), want_served, atol=1e-6)
    np.testing.assert_allclose(
        procedure.predict_origins(series, origins), want_procedure, atol=1e-6
    )
    np.testing.assert_allclose(
        served.procedure().predict_origins(series, origins), want_procedure, atol=1e-6
    )
    assert served.meta.served == model.meta.served
    # a folder written before serving: model.pt is the procedure, and procedure() is itself
    old = tmp_path / "old"
    old.mkdir()
    for f in folder.iterdir():
        if f.name != PROCEDURE_FILE:
            (old / f.name).write_bytes(f.read_bytes())
    legacy = FittedModel.load(old)
    assert legacy.procedure() is legacy
    np.testing.assert_allclose(
        FittedModel.load(old, weights="procedure").predict_origins(series, origins),
        want_served,
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="weights must be one of"):
        FittedModel.load(folder, weights="newest")


def test_backtest_scores_the_procedure_never_weights_that_saw_the_span(trained, saved, ar2_cfg):
    model, series = trained
    report = api.backtest(ar2_cfg, model="champion", write=False)
    result = report.result
    assert result.test_span[0] > pd.Timestamp(model.meta.splits["val"].end)
    gru = result.forecasts["gru"]
    np.testing.assert_allclose(
        gru, model.procedure().predict_origins(series, result.origins), atol=1e-6
    )
    # the served weights trained on the span: their forecasts there are other numbers
    served = model.predict_origins(series, result.origins)
    assert np.abs(served - gru).max() > 1e-4


def test_a_nightly_promotion_serves_the_weights_that_saw_the_last_row(trained, ar2_cfg):
    """The nightly pieces: the challenger is scored on the holdout with its procedure's weights;
    what is promoted (and then loaded and served) is the saved version, trained through the end."""
    challenger, series = trained
    st, key = api.store(), store_key(ar2_cfg.data)
    version = st.save(key, challenger.save).version  # saved, not promoted (as the nightly job)
    holdout = BacktestConfig(max_origins=50, levels=[])
    scored = run_backtest(
        series, challenger.procedure(), cfg=holdout, test_fraction=0.1, model_name="gru"
    )
    leaked = run_backtest(series, challenger, cfg=holdout, test_fraction=0.1, model_name="gru")
    assert scored.test_span[0] > pd.Timestamp(challenger.meta.splits["train"].end)
    assert not np.allclose(scored.forecasts["gru"], leaked.forecasts["gru"])
    st.promote(key, version, reason="nightly")
    champion, info = api.load_model(ar2_cfg, "champion")
    assert info.version == version
    assert pd.Timestamp(champion.meta.served.end) == series.end
    forecast = champion.predict(series)["forecast"].to_numpy()
    np.testing.assert_allclose(forecast, challenger.predict(series)["forecast"], atol=1e-6)


def test_a_model_that_is_its_anchor_needs_no_serving_run(aapl):
    """A random walk ends at naive: the served model is the anchor, through every row."""
    series = aapl.with_frame(aapl.frame.iloc[-500:])
    cfg = override(Config(), TINY | {"train.confidence": 0.99, "train.max_epochs": 1})
    model = fit_model(series, cfg)
    assert model.meta.anchor.is_anchor
    served = model.meta.served
    assert served.method == ServeMethod.ANCHOR and served.steps == 0
    assert pd.Timestamp(served.end) == series.end and served.rows == len(series)
    assert model.procedure() is model


def test_warm_start_copies_the_procedures_weights(trained):
    model = trained[0]
    fresh = build_module(model.config, model.spec.n_features)
    assert _warm_start(fresh, model, model.spec)
    want = model.procedure().module.state_dict()
    for key, value in fresh.state_dict().items():
        if key != "blend":
            assert torch.equal(value, want[key]), key


def _proc(**over) -> Procedure:
    base = dict(best_epoch=2, lrs=(0.002, 0.002, 0.001), warm=False, precision="32-true")
    return Procedure(**(base | {"rank": 0, "is_anchor": False} | over))


@pytest.mark.parametrize(
    ("over", "wanted", "method"),
    [
        ({}, None, ServeMethod.RETRAIN),
        ({}, ServeMethod.FINETUNE, ServeMethod.FINETUNE),
        ({}, ServeMethod.PROCEDURE, ServeMethod.PROCEDURE),
        ({"is_anchor": True}, ServeMethod.RETRAIN, ServeMethod.ANCHOR),
        ({"best_epoch": None}, None, ServeMethod.PROCEDURE),
        ({"rank": 1}, None, ServeMethod.PROCEDURE),
        ({"best_epoch": 0, "warm": True, "lrs": ()}, None, ServeMethod.FINETUNE),
    ],
)
def test_how_the_served_weights_are_made(over, wanted, method):
    chosen, reason = choose_method(_proc(**over), wanted)
    assert chosen == method and reason


def test_served_meta_round_trips_and_old_meta_has_none(trained):
    meta = trained[0].meta
    again = ModelMeta.from_dict(json.loads(json.dumps(meta.to_dict())))
    assert again.served == meta.served and isinstance(again.served, ServedMeta)
    raw = meta.to_dict()
    raw.pop("served")
    assert ModelMeta.from_dict(raw).served is None


def test_the_overlap_check_reads_the_weights_it_is_given(trained):
    """Served weights trained on the span are refused; the procedure's are not."""
    model, series = trained
    start = series.index[first_test_row(series.index, model.config.train.test_fraction)]
    _check_no_overlap(model.procedure(), series, start, None)
    with pytest.raises(ModelError, match="would leak the future"):
        _check_no_overlap(model, series, start, None)


@pytest.mark.parametrize(
    ("largest", "stride", "share"),
    [(900, 1, 1), (2227, 1, 1), (2971, 2, 1), (5953, 1, 4), (3100, 1, 2)],
)
def test_an_epoch_of_many_windows_reads_a_share_of_them(largest, stride, share):
    """Daily series read every window each epoch; a year of hourly windows at stride 1 a quarter;
    a config with its own stride (the hourly weather's 2) keeps its windows."""
    assert epoch_share(largest, stride) == share
    t = Config().train
    batches = batches_per_epoch(largest, -(-largest // t.batch_size), t, share)
    assert batches == math.ceil(largest / share / t.batch_size)


def test_the_retrain_takes_as_many_epochs_over_every_row(trained, ar2_cfg):
    """The served retrain repeats the procedure's best epochs over the windows of every row, and
    replays the learning rate each epoch had."""
    model, series = trained
    cfg = model.config
    dm = WindowDataModule(series, cfg, spec=model.spec)
    dm.setup()
    proc = Procedure.from_history(
        model.meta.history, 2, warm=False, precision="32-true", rank=0, is_anchor=False
    )
    plan = recipe(ServeMethod.RETRAIN, proc, dm, cfg)
    every_row = len(series) - L - H + 1
    assert plan.fresh and plan.per_epoch == -(-every_row // cfg.train.batch_size)
    assert plan.steps == 2 * plan.per_epoch
    assert [plan.lr(s) for s in (0, plan.steps - 1)] == [proc.lrs[0], proc.lrs[1]]
    tune = recipe(ServeMethod.FINETUNE, proc, dm, cfg)
    assert not tune.fresh and tune.first_origin == (dm.bounds[0]["train"][1],)
