"""Baselines on toy series where the right answer is known exactly, and their no-leakage contract."""

from __future__ import annotations

import numpy as np
import pytest

from forecaster.backtest import baselines as bl

ORIGINS = np.array([30, 31, 45, 60])


def test_season_for_frequencies():
    assert [
        bl.season_for(f) for f in ("h", "H", "B", "D", "ME", "MS", "QE", "15min", "W", "2D")
    ] == [
        24,
        24,
        5,
        7,
        12,
        12,
        4,
        96,
        1,
        1,
    ]


def test_history_windows_are_the_rows_before_each_origin():
    y = np.arange(20.0)
    np.testing.assert_array_equal(
        bl.history_windows(y, np.array([3, 10]), 3), [[0, 1, 2], [7, 8, 9]]
    )
    with pytest.raises(ValueError, match="history"):
        bl.history_windows(y, np.array([2]), 3)


def test_naive_and_moving_average_by_hand():
    y = np.arange(20.0)  # value == position
    np.testing.assert_array_equal(bl.naive(y, np.array([10]), 3), [[9, 9, 9]])
    np.testing.assert_array_equal(bl.moving_average(y, np.array([10]), 2, window=4), [[7.5, 7.5]])


def test_seasonal_naive_repeats_the_last_season():
    y = np.arange(20.0)
    # y[o - 3 + h % 3] for h = 0..6
    np.testing.assert_array_equal(
        bl.seasonal_naive(y, np.array([10]), 7, season=3), [[7, 8, 9, 7, 8, 9, 7]]
    )


def test_seasonal_naive_is_exact_on_a_periodic_series():
    t = np.arange(200)
    y = 10 + 5 * np.sin(2 * np.pi * t / 24) + (t % 24 == 3)
    fc = bl.seasonal_naive(y, ORIGINS, 30, season=24)
    actual = y[ORIGINS[:, None] + np.arange(30)]
    np.testing.assert_allclose(fc, actual, atol=1e-12)


@pytest.mark.parametrize("window", [None, 10])
def test_drift_is_exact_on_a_ramp(window):
    y = 2.0 + 0.5 * np.arange(100)
    fc = bl.drift(y, ORIGINS, 7, window=window)
    np.testing.assert_allclose(fc, y[ORIGINS[:, None] + np.arange(7)])


def test_drift_uses_the_history_from_the_start_or_the_window():
    y = np.array([0.0, 0.0, 0.0, 1.0, 3.0])  # slope from start: 3/4; over the last 3 rows: 3/2
    np.testing.assert_allclose(bl.drift(y, np.array([5]), 2), [[3.75, 4.5]])
    np.testing.assert_allclose(bl.drift(y, np.array([5]), 2, window=3), [[4.5, 6.0]])


def test_every_baseline_is_exact_on_a_constant():
    y = np.full(120, 7.25)
    expected = np.full((len(ORIGINS), 5), 7.25)
    for fc in (
        bl.naive(y, ORIGINS, 5),
        bl.seasonal_naive(y, ORIGINS, 5, season=7),
        bl.drift(y, ORIGINS, 5),
        bl.moving_average(y, ORIGINS, 5, window=20),
        bl.ridge(y, ORIGINS, 5, lags=8),
    ):
        np.testing.assert_allclose(fc, expected, atol=1e-12)


def test_ridge_is_exact_on_a_ramp_and_moves_with_the_level():
    y = 2.0 + 0.5 * np.arange(100)
    np.testing.assert_allclose(
        bl.ridge(y, ORIGINS, 4, lags=5), y[ORIGINS[:, None] + np.arange(4)], atol=1e-9
    )
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.normal(size=400))
    fitted = bl.ridge_fit(walk[:200], lags=10, horizon=3)
    origins = np.arange(250, 390, 7)
    # fitted on differences from the last value: shifting the level shifts the forecast, nothing else
    np.testing.assert_allclose(
        bl.ridge_predict(fitted, walk + 1000.0, origins),
        bl.ridge_predict(fitted, walk, origins) + 1000.0,
    )


def test_ridge_refuses_to_train_past_the_first_origin():
    y = np.arange(100.0)
    with pytest.raises(ValueError, match="leak"):
        bl.ridge(y, ORIGINS, 3, lags=5, train_end=int(ORIGINS[0]) + 1)


def test_baselines_never_read_values_at_or_after_the_origin():
    rng = np.random.default_rng(1)
    y = np.cumsum(rng.normal(size=150)) + 10 * np.sin(np.arange(150) / 3)
    origins = np.arange(40, 140, 3)

    def everything(values):
        return {
            "naive": bl.naive(values, origins, 6),
            "seasonal_naive": bl.seasonal_naive(values, origins, 6, season=5),
            "drift": bl.drift(values, origins, 6),
            "drift_window": bl.drift(values, origins, 6, window=12),
            "moving_average": bl.moving_average(values, origins, 6, window=9),
            "ridge": bl.ridge(values, origins, 6, lags=8, train_end=40),
        }

    before = everything(y)
    for cut in (40, 77, 139):
        changed = y.copy()
        changed[cut:] = rng.normal(scale=100, size=len(y) - cut)
        after = everything(changed)
        keep = origins <= cut
        for name in before:
            np.testing.assert_array_equal(after[name][keep], before[name][keep], err_msg=name)


def test_best_baseline_ignores_other_methods_and_ranks_non_finite_last():
    from forecaster.backtest.baselines import best_baseline

    assert best_baseline({"gru": 0.1, "challenger": 0.2, "drift": 1.1, "naive": 1.0}) == "naive"
    assert best_baseline({"naive": float("nan"), "ridge": 2.0}) == "ridge"
    assert best_baseline({"drift": 1.0, "naive": 1.0}) == "naive"  # ties: report order
    assert best_baseline({"gru": 1.0}) is None
