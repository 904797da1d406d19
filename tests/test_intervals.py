"""Prediction intervals: conformal ranks, coverage on a series whose noise is known, no leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.backtest.engine import run_backtest
from forecaster.backtest.metrics import coverage, pinball, width, winkler
from forecaster.config import BacktestConfig
from forecaster.data.series import validate
from forecaster.errors import ConfigError
from forecaster.intervals import Calibration, needed, parse_levels, walk_forward, window_scale


def ar1(n=3000, phi=0.7, seed=0):
    rng = np.random.default_rng(seed)
    y = np.zeros(n)
    e = rng.normal(size=n)
    for t in range(1, n):
        y[t] = phi * y[t - 1] + e[t]
    index = pd.date_range("2010-01-01", periods=n, freq="D", tz="UTC")
    return validate(pd.DataFrame({"y": 50 + y}, index=index), "y", freq="D", symbol="ar1")


def test_levels_are_parsed_and_checked():
    assert parse_levels("95,80") == (80.0, 95.0)
    assert parse_levels([50, 80.5]) == (50.0, 80.5)
    assert parse_levels(None) == (80.0, 95.0)
    for bad, msg in [
        ("0,95", "between 0 and 100"),
        ("80,100", "between 0 and 100"),
        ("80,80", "repeat"),
        (",".join(str(v) for v in range(10, 100, 9)), "too many"),
        ("eighty", "numbers in percent"),
        ("", "no interval levels"),
    ]:
        with pytest.raises(ConfigError, match=msg) as exc:
            parse_levels(bad)
        assert "\n" not in str(exc.value)


def test_conformal_ranks_and_how_many_residuals_a_level_needs():
    assert needed(95) == 39 and needed(80) == 9 and needed(99) == 199
    # 39 residuals 0..38: the 95% interval takes the 1st and 39th smallest (ranks floor/ceil(40 x q))
    cal = Calibration.from_scores(np.arange(39.0)[:, None], lookback=5)
    lo, hi, short = cal.bounds(95)
    assert (lo[0], hi[0], short) == (0.0, 38.0, False)
    lo, hi, short = Calibration.from_scores(np.arange(38.0)[:, None], 5).bounds(95)
    assert short and hi[0] == 37.0  # too few: as wide as the residuals go, and marked
    lo, hi, _ = Calibration.from_scores(np.arange(99.0)[:, None], 5).bounds(80)
    assert (lo[0], hi[0]) == (9.0, 89.0)  # floor(100 x 0.1) = 10th, ceil(100 x 0.9) = 90th


def test_intervals_scale_with_the_window():
    cal = Calibration.from_scores(np.random.default_rng(0).normal(size=(500, 3)), lookback=4)
    forecast = np.array([[10.0, 10.0, 10.0], [1000.0, 1000.0, 1000.0]])
    iv = cal.intervals(forecast, np.array([1.0, 100.0]), [80])
    lo, hi = iv.bounds[80.0]
    np.testing.assert_allclose(hi[1] - 1000.0, 100 * (hi[0] - 10.0))  # 100x the spread, 100x wider
    np.testing.assert_allclose(lo[1] - 1000.0, 100 * (lo[0] - 10.0))
    # flat steps have no spread: the floor is 1e-3 of the last value
    y = np.array([1.0, 2, 3, 4, 10, 20, 30, 40, 41, 39, 41])
    np.testing.assert_allclose(window_scale(y, np.array([4, 8]), 4), [0.004, 0.04])
    np.testing.assert_allclose(window_scale(y, np.array([11]), 4), [np.std([-1.0, -2.0, 2.0])])


def test_a_seasonal_scale_measures_how_much_a_day_differs_from_the_day_before():
    t = np.arange(24 * 10, dtype=float)
    rng = np.random.default_rng(0)
    y = 10 * np.sin(2 * np.pi * t / 24) + np.cumsum(rng.normal(0, 0.05, len(t)))
    step = window_scale(y, np.array([240]), 168, lag=1)[0]
    day = window_scale(y, np.array([240]), 168, lag=24)[0]
    assert day < 0.2 * step  # the daily cycle dominates hour-to-hour changes, not day-to-day ones
    cal = Calibration.from_scores(np.ones((3, 2)), lookback=168, lag=24)
    assert Calibration.from_dict(cal.to_dict()).lag == 24


def test_interval_metrics_by_hand():
    actual = np.array([[1.0, 5.0], [2.0, -1.0]])
    lo = np.array([[0.0, 0.0], [0.0, 0.0]])
    hi = np.array([[2.0, 2.0], [2.0, 2.0]])
    assert coverage(actual, lo, hi) == 50.0  # 5 and -1 miss
    assert width(actual, lo, hi) == 2.0
    # 80%: alpha 0.2, a penalty of 2/0.2 = 10 per unit outside; widths 2 each, 5 is 3 out, -1 is 1
    assert winkler(actual, lo, hi, 80) == pytest.approx((2 + (2 + 30) + 2 + (2 + 10)) / 4)
    # the 0.9 quantile forecast 2 for actuals 1, 5, 2, -1: losses 0.1, 2.7, 0, 0.3
    assert pinball(actual, hi, 0.9) == pytest.approx((0.1 + 2.7 + 0 + 0.3) / 4)
    nan = np.full((2, 2), np.nan)
    assert np.isnan(coverage(actual, nan, nan))  # no interval: nothing is counted


def test_walk_forward_uses_only_residuals_observed_before_each_origin():
    rng = np.random.default_rng(0)
    cal = rng.normal(size=(60, 2))
    span = rng.normal(size=(30, 2))
    origins = np.arange(100, 130)
    q, short = walk_forward(cal, np.arange(30, 90), span, origins, 2, [80])
    changed = span.copy()
    changed[10:] += 100.0  # the residuals of origins 110.. become huge
    q2, _ = walk_forward(cal, np.arange(30, 90), changed, origins, 2, [80])
    # origin o may use origins o' <= o - 2: up to origin 111 nothing changed is visible
    np.testing.assert_array_equal(q[80.0][0][:12], q2[80.0][0][:12])
    assert not np.array_equal(q[80.0][1][12:], q2[80.0][1][12:])
    assert not short[80.0].any()


@pytest.fixture(scope="module", params=["adaptive", "split"])
def ar1_backtest(request):
    """Baselines with 80/95% intervals over 1,196 walk-forward origins of a Gaussian AR(1), by
    each interval method."""
    series = ar1()
    cfg = BacktestConfig(levels=[80, 95], ridge_lags=10, interval_method=request.param)
    result = run_backtest(series, cfg=cfg, horizon=5, test_fraction=0.4, levels=[80, 95])
    assert result.config["interval_method"] == request.param
    return series, result


def test_ar1_intervals_hold_their_coverage(ar1_backtest):
    _, result = ar1_backtest
    assert result.n_origins >= 1000
    table = result.interval_metrics
    for method in ("naive", "ridge", "drift", "moving_average"):
        for level in (80.0, 95.0):
            got = table.loc[(method, level), "coverage"]
            assert abs(got - level) <= 3.0, (method, level, got)
    # the better point forecast gets the sharper interval at the same coverage
    assert table.loc[("ridge", 95.0), "width"] < table.loc[("naive", 95.0), "width"]
    assert result.step_coverage.shape == (2 * len(result.methods), 5)
    frame = result.to_frame()
    assert {"naive_lo_80", "naive_hi_95", "ridge_lo_95"} <= set(frame.columns)


def test_changing_the_future_never_changes_an_earlier_interval(ar1_backtest):
    series, result = ar1_backtest
    cut = int(result.origins[400])
    frame = series.frame.copy()
    frame.iloc[cut:, 0] += np.linspace(0, 50, len(frame) - cut)  # rewrite row `cut` onwards
    cfg = BacktestConfig(
        levels=[80, 95], ridge_lags=10, interval_method=result.config["interval_method"]
    )
    other = run_backtest(
        series.with_frame(frame), cfg=cfg, horizon=5, test_fraction=0.4, levels=[80, 95]
    )
    keep = result.origins <= cut  # these origins read only rows before `cut`
    for method in result.methods:
        for level in (80.0, 95.0):
            for a, b in zip(
                result.intervals[method][level], other.intervals[method][level], strict=True
            ):
                np.testing.assert_array_equal(a[keep], b[keep])
                assert not np.allclose(a[~keep], b[~keep])
