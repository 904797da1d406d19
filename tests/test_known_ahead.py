"""Inputs known ahead: a window reads each forecast step's known inputs, the network uses them,
and nothing after the horizon (or any target after the origin) reaches a forecast.

The model of ``tests/known_lead.py`` forecasts through its learned correction, so a leak through
the known-ahead block, the network or the scaler would show.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from known_lead import H, L, known_config, known_frame, known_model, known_series
from lead import rewritten

from forecaster.backtest.engine import run_backtest
from forecaster.data.windows import WindowDataModule
from forecaster.errors import DataError
from forecaster.fitted import FittedModel, module_for


@pytest.fixture(scope="module")
def known():
    return known_model(True)


def test_windows_carry_the_known_inputs_of_their_horizon_rows():
    series = known_series(300)
    dm = WindowDataModule(series, known_config())
    dm.setup()
    ds = dm.datasets["train"]
    x, y, future = ds[[0, 5]]
    assert x.shape == (2, L, 2) and y.shape == (2, H) and future.shape == (2, H, 1)
    spec = dm.spec
    raw = series.frame["x"].to_numpy()
    start = int(ds.starts[5])
    expected = (raw[start + L : start + L + H] - spec.future_mean[0]) / spec.future_std[0]
    np.testing.assert_allclose(future[1, :, 0].numpy(), expected, rtol=1e-5)
    # x is known ahead, not a past covariate too
    assert spec.covariates == () and spec.future == ("x",)


def test_an_untrained_model_with_known_inputs_is_exactly_its_anchor():
    series = known_series(300)
    dm = WindowDataModule(series, known_config())
    dm.setup()
    module = module_for(known_config(**{"model.anchor": "naive"}), dm.spec).eval()
    x, _, future = dm.datasets["val"][list(range(8))]
    with torch.no_grad():
        torch.testing.assert_close(module(x, None, future), module.forward_anchor(x))
    with pytest.raises(ValueError, match="known ahead"):
        module(x)


def test_the_known_input_is_used_and_beats_the_best_baseline_by_half(known):
    fitted, series = known
    assert not fitted.meta.anchor.is_anchor and fitted.meta.anchor.blend > 0.5
    procedure = fitted.procedure()
    result = run_backtest(series, procedure, test_fraction=0.15, model_name="gru")
    maes = result.metrics["mae"].to_dict()
    best = min(v for k, v in maes.items() if k != "gru")
    assert maes["gru"] <= 0.5 * best, maes


def test_without_the_input_declared_the_model_cannot_beat_the_baselines_by_much():
    fitted, series = known_model(False)
    result = run_backtest(series, fitted.procedure(), test_fraction=0.15, model_name="gru")
    maes = result.metrics["mae"].to_dict()
    best = min(v for k, v in maes.items() if k != "gru")
    assert maes["gru"] >= 0.85 * best, maes


def test_the_target_after_the_origin_never_changes_a_forecast(known):
    fitted, series = known
    model = fitted.procedure()
    cut = 800
    origins = np.arange(L, len(series) - H + 1, 3)
    origins = np.union1d(origins, [cut - 1, cut, cut + 1])
    before = model.predict_origins(series, origins)
    after = model.predict_origins(rewritten(series, "y", cut), origins)
    keep = origins <= cut
    np.testing.assert_array_equal(before[keep], after[keep])
    assert not np.allclose(before[~keep], after[~keep])


def test_a_known_input_counts_inside_the_horizon_and_never_beyond_it(known):
    fitted, series = known
    model = fitted.procedure()
    cut = 800
    origins = np.arange(cut - H - 10, cut + 3)
    before = model.predict_origins(series, origins)
    after = model.predict_origins(rewritten(series, "x", cut), origins)
    beyond = origins + H <= cut  # the change starts after these origins' last step
    inside = (origins <= cut) & (origins + H > cut)
    np.testing.assert_array_equal(before[beyond], after[beyond])
    # inside the horizon the change is read: the steps from `cut` on move, the earlier ones not
    for i in np.flatnonzero(inside):
        step = cut - origins[i]
        np.testing.assert_array_equal(before[i, :step], after[i, :step])
        assert np.abs(after[i, step:] - before[i, step:]).min() > 0.5


def test_predict_reads_the_known_inputs_of_the_steps_after_the_last_row(known, tmp_path):
    fitted, series = known
    full = known_series(len(series) + H, seed=1)
    last = full.until(full.index[len(series)])
    ahead = full.frame[["x"]].iloc[len(series) :]
    served = fitted.predict(replace(last, ahead=ahead))
    assert list(served.index) == list(ahead.index)
    # the same as the forecast from the full series' rows, which carry those inputs
    again = fitted.predict_origins(full, [len(series)])
    np.testing.assert_allclose(served["forecast"].to_numpy(), again[0], rtol=1e-6)
    # saved and loaded, the spec keeps the column known ahead
    fitted.save(tmp_path / "m")
    loaded = FittedModel.load(tmp_path / "m")
    assert loaded.spec.future == ("x",) and loaded.spec.n_known == 1
    np.testing.assert_array_equal(loaded.predict(replace(last, ahead=ahead)), served)


def test_predict_without_the_known_inputs_of_every_step_is_a_one_line_error(known):
    fitted, series = known
    full = known_series(len(series) + H, seed=1)
    last = full.until(full.index[len(series)])
    for ahead, first in ((full.frame[["x"]].iloc[len(series) : len(series) + 2], 2), (None, 0)):
        with pytest.raises(DataError) as info:
            fitted.predict(replace(last, ahead=ahead))
        text = str(info.value)
        assert "\n" not in text and "x" in text
        assert str(full.index[len(series) + first]) in text


def test_a_csv_with_rows_beyond_the_target_carries_them_ahead(tmp_path):
    from forecaster.config import override
    from forecaster.data.loader import load_series

    frame = known_frame(120).reset_index()
    frame["time"] = frame["time"].dt.tz_localize(None)
    frame.loc[115:, "y"] = np.nan
    path = tmp_path / "sales.csv"
    frame.to_csv(path, index=False)
    cfg = known_config(**{"data.source": "csv", "data.path": str(path), "data.target": "y"})
    series = load_series(cfg.data)
    assert len(series) == 115 and series.ahead is not None
    assert list(series.ahead.columns) == ["x"] and len(series.ahead) == 5
    assert series.ahead.index[0] == series.end + pd.Timedelta(days=1)
    bad = override(cfg, {"data.future_covariates": ["price"]})
    with pytest.raises(DataError, match="price"):
        load_series(bad.data)
