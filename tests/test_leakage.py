"""No forecast, interval or fit reads the future: tests on a model whose learned correction is in
use (``tests/lead.py``), so a leak through the network or the covariates would show.

Each test rewrites the target or a covariate from a row ``cut`` on and checks that everything made
from origins ``<= cut`` (which may read rows ``< cut`` only) is unchanged, and that what later
origins forecast does change (so the rewrite was seen at all).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from lead import H, lead_config, lead_model, rewritten

from forecaster.backtest.engine import run_backtest
from forecaster.config import BacktestConfig
from forecaster.intervals import window_scale
from forecaster.training import fit_model

COLUMNS = ["y", "x"]  # the target, the covariate


@pytest.fixture(scope="module")
def lead():
    return lead_model()


def test_the_model_forecasts_through_its_learned_correction(lead):
    fitted, series = lead
    anchor = fitted.meta.anchor
    assert not anchor.is_anchor and anchor.blend == 1.0, anchor
    assert fitted.meta.best_epoch and fitted.meta.best_epoch > 0
    origins = fitted.split_origins("test", series)
    full, base = fitted.forecast_with_anchor(series, origins)
    np.testing.assert_array_equal(fitted.predict_origins(series, origins), full)
    # the correction is most of the forecast: it reads the covariate the anchor cannot
    assert np.abs(full - base).mean() > 1.0
    actual = series.values[origins[:, None] + np.arange(H)]
    assert np.abs(full - actual).mean() < 0.5 * np.abs(base - actual).mean()


@pytest.mark.parametrize("column", COLUMNS)
def test_forecasts_never_read_rows_after_the_origin(lead, column):
    fitted, series = lead
    cut = 1000
    origins = np.arange(fitted.lookback, len(series) + 1, 7)
    origins = np.union1d(origins, [cut - 1, cut, cut + 1])
    before = fitted.predict_origins(series, origins)
    after = fitted.predict_origins(rewritten(series, column, cut), origins)
    keep = origins <= cut
    np.testing.assert_array_equal(before[keep], after[keep])
    assert not np.allclose(before[~keep], after[~keep])


@pytest.mark.parametrize("column", COLUMNS)
def test_predict_and_its_intervals_never_read_rows_after_the_last(lead, column):
    fitted, series = lead
    cut = 1000
    changed = rewritten(series, column, cut)
    served = fitted.predict(changed.until(changed.index[cut]), levels=[80, 95])
    # the same forecast and intervals from the full (rewritten) series at origin `cut`
    forecast = fitted.predict_origins(changed, [cut])
    np.testing.assert_array_equal(served["forecast"].to_numpy(), forecast[0])
    cal = fitted.calibration
    scale = window_scale(changed.values, np.array([cut]), cal.lookback, cal.mode, cal.lag)
    method = fitted.config.backtest.interval_method
    bounds = cal.intervals(forecast, scale, [80, 95], method).bounds
    for level in (80, 95):
        np.testing.assert_array_equal(served[f"lo_{level}"].to_numpy(), bounds[level][0][0])
        np.testing.assert_array_equal(served[f"hi_{level}"].to_numpy(), bounds[level][1][0])


@pytest.mark.parametrize("method", ["adaptive", "split"])
@pytest.mark.parametrize("column", COLUMNS)
def test_backtest_forecasts_and_intervals_never_read_the_future(lead, column, method):
    fitted, series = lead
    cfg = BacktestConfig(interval_method=method)
    # the span after the model's validation split; calibration from its test windows on
    start = int(series.index.searchsorted(pd.Timestamp(fitted.meta.splits["test"].start)))
    kwargs = dict(cfg=cfg, model_name="gru", levels=[80, 95], calibration_start=start)
    before = run_backtest(series, fitted, test_fraction=0.1, **kwargs)
    cut = int(before.origins[40])
    after = run_backtest(rewritten(series, column, cut), fitted, test_fraction=0.1, **kwargs)
    keep = before.origins <= cut
    for name in before.methods:
        np.testing.assert_array_equal(before.forecasts[name][keep], after.forecasts[name][keep])
    assert not np.allclose(before.forecasts["gru"][~keep], after.forecasts["gru"][~keep])
    for level in (80.0, 95.0):
        for a, b in zip(before.intervals["gru"][level], after.intervals["gru"][level], strict=True):
            np.testing.assert_array_equal(a[keep], b[keep])
            assert not np.allclose(a[~keep], b[~keep])


def test_a_fit_never_reads_past_its_validation_split(lead):
    fitted, series = lead
    test_start = int(series.index.searchsorted(pd.Timestamp(fitted.meta.splits["test"].start)))
    changed = rewritten(rewritten(series, "y", test_start), "x", test_start)
    again = fit_model(changed, lead_config())
    # the procedure's weights (the served ones train through the last row by design)
    mine = fitted.procedure().module.state_dict()
    theirs = again.procedure().module.state_dict()
    assert mine.keys() == theirs.keys()
    for key in mine:
        assert torch.equal(mine[key], theirs[key]), key
    assert again.meta.anchor == fitted.meta.anchor and again.spec == fitted.spec
    assert again.metrics["val_mae"] == fitted.metrics["val_mae"]
    # only what the test windows feed changed: the test scores and the interval calibration
    assert again.metrics["test_mae"] != fitted.metrics["test_mae"]
    assert not np.array_equal(again.calibration.residuals, fitted.calibration.residuals)
