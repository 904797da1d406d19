"""The baseline registry: every record tells the truth about itself, and one record is a new baseline."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from forecaster.backtest import baselines as bl
from forecaster.backtest.baselines import (
    BASELINES,
    REGISTRY,
    Baseline,
    BaselineInputs,
    IntervalLag,
    baseline_forecasts,
    best_baseline,
    usable_baselines,
)
from forecaster.backtest.engine import run_backtest
from forecaster.config import BacktestConfig
from forecaster.data.series import validate
from forecaster.errors import ConfigError

H, SEASON = 4, 6
CFG = BacktestConfig(moving_average=5, ridge_lags=3)


def noisy(n: int = 300, seed: int = 0) -> np.ndarray:
    """A seasonal random walk: every baseline gives a different, finite forecast."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50 + np.cumsum(rng.normal(size=n)) + 3 * np.sin(2 * np.pi * t / SEASON)


def series(n: int = 400):
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    return validate(pd.DataFrame({"y": noisy(n)}, index=index), "y", source="test", symbol="toy")


def inputs(train: tuple[int, int], season: int = SEASON) -> BaselineInputs:
    return BaselineInputs(CFG, season, train, None)


def test_the_registry_is_the_list_of_baselines_in_report_order():
    assert tuple(REGISTRY) == BASELINES == bl.names()
    assert BASELINES == ("naive", "seasonal_naive", "drift", "moving_average", "ridge")
    assert all(name == record.name and record.label for name, record in REGISTRY.items())


@pytest.mark.parametrize("name", BASELINES)
def test_every_record_forecasts_n_by_horizon_with_exactly_its_history(name):
    record, y = REGISTRY[name], noisy()
    need = record.history(CFG, SEASON, H)
    origins = np.array([need, need + 1, need + 7])
    fc = record.forecast(y, origins, H, inputs((0, need)))
    assert fc.shape == (3, H) and np.isfinite(fc).all()
    with pytest.raises(ValueError):  # one row fewer is not enough
        record.forecast(y, origins - 1, H, inputs((0, need - 1)))


@pytest.mark.parametrize("name", BASELINES)
def test_needs_season_and_fitted_on_train_say_what_the_forecast_reads(name):
    record, y, origins = REGISTRY[name], noisy(), np.arange(120, 140)
    base = record.forecast(y, origins, H, inputs((0, 120)))
    other_season = record.forecast(y, origins, H, inputs((0, 120), season=SEASON + 3))
    other_train = record.forecast(y, origins, H, inputs((20, 100)))
    assert (not np.array_equal(base, other_season)) == record.needs_season
    assert (not np.array_equal(base, other_train)) == record.fitted_on_train


def test_usable_baselines_follow_each_records_history():
    # needs with CFG, season 6, H 4: naive 1, seasonal 6, drift 2, moving average 5, ridge 3 + 4
    assert usable_baselines(CFG, SEASON, H, 1) == ["naive"]
    assert usable_baselines(CFG, SEASON, H, 5) == ["naive", "drift", "moving_average"]
    assert usable_baselines(CFG, SEASON, H, 7) == list(BASELINES)


def test_baseline_forecasts_dispatch_through_the_records_in_the_given_order():
    y, origins = noisy(), np.arange(100, 110)
    out = baseline_forecasts(y, origins, H, CFG, SEASON, ["ridge", "naive"], (0, 100), None)
    assert list(out) == ["ridge", "naive"]
    np.testing.assert_array_equal(out["naive"], bl.naive(y, origins, H))
    np.testing.assert_array_equal(
        out["ridge"], bl.ridge(y, origins, H, lags=3, alpha=CFG.ridge_alpha, train_end=100)
    )
    with pytest.raises(ConfigError, match="unknown baseline.*'prophet'"):
        baseline_forecasts(y, origins, H, CFG, SEASON, ["naive", "prophet"], (0, 100), None)


def _toy(y, origins, horizon, inputs):
    """The mean of the training rows, flat: a toy baseline fitted on training data."""
    a, b = inputs.train
    return np.full((len(origins), horizon), y[a:b].mean())


TOY = Baseline("toy", "toy mean", _toy, lambda cfg, season, horizon: 3, fitted_on_train=True)


def test_one_record_adds_a_baseline_everywhere(monkeypatch):
    monkeypatch.setitem(REGISTRY, "toy", TOY)
    s = series()
    result = run_backtest(s, cfg=BacktestConfig(stride=5), horizon=H, levels=(80,))
    assert result.methods == [*BASELINES, "toy"]
    assert "toy" in result.metrics.index and ("toy", 80) in result.interval_metrics.index
    start = int(result.origins[0])
    np.testing.assert_array_equal(result.forecasts["toy"], s.values[:start].mean())
    assert usable_baselines(CFG, SEASON, H, 3)[-1] == "toy"
    assert best_baseline({"naive": 2.0, "toy": 1.0, "model": 0.5}) == "toy"


def test_a_fitted_record_is_refitted_at_every_refit_point(monkeypatch):
    spans: list[tuple[int, int]] = []

    def recording(y, origins, horizon, inputs):
        spans.append(inputs.train)
        return _toy(y, origins, horizon, inputs)

    monkeypatch.setitem(REGISTRY, "toy", replace(TOY, forecast=recording))
    cfg = BacktestConfig(stride=1, refit_every=20, window="sliding")
    result = run_backtest(series(), cfg=cfg, horizon=H, baselines=("naive", "toy"))
    start, firsts = int(result.origins[0]), result.origins[::20]
    assert spans == [(int(f) - start, int(f)) for f in firsts]
    assert result.config["refits"] == len(firsts)


def test_a_record_can_scale_its_intervals_by_the_season(monkeypatch):
    seasonal = replace(REGISTRY["naive"], name="toy", interval_lag=IntervalLag.SEASON)
    monkeypatch.setitem(REGISTRY, "toy", seasonal)
    s, cfg = series(), BacktestConfig(stride=3, season=SEASON)
    own = run_backtest(s, cfg=cfg, horizon=H, baselines=("naive", "toy"), levels=(80,))
    np.testing.assert_array_equal(own.forecasts["toy"], own.forecasts["naive"])
    assert not np.array_equal(own.intervals["toy"][80][0], own.intervals["naive"][80][0])
    by_season = run_backtest(
        s, cfg=cfg, horizon=H, baselines=("naive",), levels=(80,), interval_lag=SEASON
    )
    for a, b in zip(own.intervals["toy"][80], by_season.intervals["naive"][80], strict=True):
        np.testing.assert_array_equal(a, b)


def test_only_fitted_records_change_with_the_refit_points():
    s = series()
    fixed = run_backtest(s, cfg=BacktestConfig(stride=1), horizon=H)
    refit = run_backtest(s, cfg=BacktestConfig(stride=1, refit_every=7), horizon=H)
    for name in BASELINES:
        same = np.array_equal(fixed.forecasts[name], refit.forecasts[name])
        assert same != REGISTRY[name].fitted_on_train, name
