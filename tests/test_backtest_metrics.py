"""Metrics against values worked out by hand on a 2 origins x 2 steps example."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forecaster.backtest import metrics as m

# Two origins, horizon 2. Errors (actual - forecast): [[-1, 0], [2, -1]].
ACTUAL = np.array([[1.0, 2.0], [3.0, 4.0]])
FORECAST = np.array([[2.0, 2.0], [1.0, 5.0]])
LAST = np.array([1.5, 3.5])


def test_mae_overall_and_per_step():
    assert m.mae(ACTUAL, FORECAST) == pytest.approx((1 + 0 + 2 + 1) / 4)
    np.testing.assert_allclose(m.mae(ACTUAL, FORECAST, axis=0), [(1 + 2) / 2, (0 + 1) / 2])


def test_rmse_overall_and_per_step():
    assert m.rmse(ACTUAL, FORECAST) == pytest.approx(math.sqrt((1 + 0 + 4 + 1) / 4))
    np.testing.assert_allclose(m.rmse(ACTUAL, FORECAST, axis=0), [math.sqrt(2.5), math.sqrt(0.5)])


def test_mape_is_percent_and_skips_zero_actuals():
    # |e| / |a| = [[1/1, 0/2], [2/3, 1/4]]
    assert m.mape(ACTUAL, FORECAST) == pytest.approx(100 * (1 + 0 + 2 / 3 + 1 / 4) / 4)
    np.testing.assert_allclose(
        m.mape(ACTUAL, FORECAST, axis=0), [100 * (1 + 2 / 3) / 2, 100 * (0 + 1 / 4) / 2]
    )
    assert m.mape([0.0, 2.0], [1.0, 1.0]) == pytest.approx(50.0)
    assert math.isnan(m.mape([0.0, 0.0], [1.0, 1.0]))


def test_smape():
    # 2|e| / (|a| + |f|) = [[2/3, 0], [4/4, 2/9]]
    assert m.smape(ACTUAL, FORECAST) == pytest.approx(100 * (2 / 3 + 0 + 1 + 2 / 9) / 4)
    assert m.smape([0.0, 1.0], [0.0, 1.0]) == 0.0  # 0/0 counts as a perfect forecast


def test_mase_scales_by_the_given_naive_mae():
    assert m.naive_scale([1.0, 3.0, 2.0, 2.0]) == pytest.approx((2 + 1 + 0) / 3)
    assert m.mase(ACTUAL, FORECAST, scale=0.5) == pytest.approx(2.0)
    np.testing.assert_allclose(m.mase(ACTUAL, FORECAST, scale=0.5, axis=0), [3.0, 1.0])
    assert math.isnan(m.mase(ACTUAL, FORECAST, scale=0.0))


def test_directional_accuracy():
    # actual - last: [[-.5, .5], [-.5, .5]]; forecast - last: [[.5, .5], [-2.5, 1.5]] -> hits [[0, 1], [1, 1]]
    assert m.directional_accuracy(ACTUAL, FORECAST, LAST) == pytest.approx(75.0)
    np.testing.assert_allclose(
        m.directional_accuracy(ACTUAL, FORECAST, LAST, axis=0), [50.0, 100.0]
    )
    # actual unchanged from the last value at step 1: no direction to call, left out
    per_step = m.directional_accuracy(ACTUAL, FORECAST, [1.0, 3.0], axis=0)
    assert math.isnan(per_step[0]) and per_step[1] == 100.0


def test_skill_against_naive():
    naive = np.repeat(LAST[:, None], 2, axis=1)  # MAE 0.5
    assert m.skill(ACTUAL, FORECAST, naive) == pytest.approx(1 - 1.0 / 0.5)
    assert m.skill(ACTUAL, naive, naive) == 0.0
    assert m.skill(ACTUAL, ACTUAL, naive) == 1.0


def test_metric_tables():
    forecasts = {"model": FORECAST, "naive": np.repeat(LAST[:, None], 2, axis=1)}
    table = m.metric_table(ACTUAL, forecasts, LAST, scale=0.5)
    assert list(table.index) == ["model", "naive"]
    assert list(table.columns) == list(m.METRICS)
    assert table.loc["model", "mae"] == pytest.approx(1.0)
    assert table.loc["model", "mase"] == pytest.approx(2.0)
    assert table.loc["model", "skill"] == pytest.approx(-1.0)
    assert table.loc["naive", "skill"] == 0.0
    steps = m.step_metric_table(ACTUAL, forecasts, LAST, scale=0.5)
    assert list(steps.index.names) == ["method", "step"]
    np.testing.assert_allclose(steps.loc["model", "mae"].to_numpy(), [1.5, 0.5])
    assert list(steps.loc["naive"].index) == [1, 2]


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="same shape"):
        m.mae(ACTUAL, FORECAST[:1])
