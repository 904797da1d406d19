"""The walk-forward engine: origins, modes, no leakage, batching, and baselines on the real snapshots."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd
import pytest

from forecaster.backtest import (
    BASELINES,
    BacktestResult,
    WindowForecaster,
    make_origins,
    run_backtest,
)
from forecaster.config import BacktestConfig
from forecaster.data.series import Series, validate
from forecaster.errors import ConfigError, DataError

H, L = 6, 24


def synthetic(n: int = 600, seed: int = 0) -> Series:
    """Hourly toy series: daily cycle + trend + noise, with one covariate."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 20 + 0.01 * t + 5 * np.sin(2 * np.pi * t / 24) + rng.normal(scale=0.5, size=n)
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    frame = pd.DataFrame({"y": y, "x": rng.normal(size=n)}, index=index)
    return validate(frame, "y", source="test", symbol="toy", units={"y": "°C"})


def with_values(series: Series, start: int, rng: np.random.Generator) -> Series:
    """The same series with every value (target and covariates) at rows >= start replaced by noise."""
    frame = series.frame.copy()
    frame.iloc[start:] = rng.normal(scale=50, size=frame.iloc[start:].shape)
    return series.with_frame(frame)


class WindowMean:
    """Honours the contract: mean of the last L rows plus their slope, plus a bias learnt in training."""

    def __init__(self, lookback: int = L, horizon: int = H, bias: float = 0.0):
        self.lookback, self.horizon, self.bias = lookback, horizon, bias
        self.calls: list[int] = []

    def predict_origins(self, series: Series, origins: np.ndarray) -> np.ndarray:
        self.calls.append(len(origins))
        frame = series.frame.to_numpy()
        windows = frame[origins[:, None] + np.arange(-self.lookback, 0)]  # (n, L, columns)
        target = windows[:, :, 0]
        slope = (target[:, -1] - target[:, 0]) / (self.lookback - 1)
        level = target.mean(axis=1) + 0.1 * windows[:, :, 1].mean(axis=1) + self.bias
        return level[:, None] + slope[:, None] * np.arange(1, self.horizon + 1)


class Leaky(WindowMean):
    """Breaks the contract (reads row o): the no-leakage check must catch it."""

    def predict_origins(self, series, origins):
        return super().predict_origins(series, origins) + series.values[origins][:, None]


def fit_window_mean(train: Series) -> WindowMean:
    return WindowMean(bias=float(np.diff(train.values).mean()))


class Recorder:
    """A refit function that remembers each training span and returns a model tagged with its length."""

    def __init__(self, full: Series):
        self.full, self.spans = full, []

    def __call__(self, train: Series) -> WindowForecaster:
        first = self.full.index.get_loc(train.index[0])
        self.spans.append((first, first + len(train)))
        return Constant(float(len(train)))


class Constant(WindowMean):
    """Forecasts one number everywhere (the refit tests use its training length as a tag)."""

    def __init__(self, value: float):
        super().__init__()
        self.value = value

    def predict_origins(self, series, origins):
        return np.full((len(origins), self.horizon), self.value)


def test_make_origins():
    np.testing.assert_array_equal(make_origins(100, 130, 5, stride=3), np.arange(100, 126, 3))
    np.testing.assert_array_equal(make_origins(100, 130, 5, stride=3, max_origins=2), [121, 124])
    assert len(make_origins(100, 104, 5)) == 0


def test_fixed_mode_origins_actuals_and_one_batched_call():
    series, model = synthetic(), WindowMean()
    result = run_backtest(
        series, model, cfg=BacktestConfig(stride=2), test_fraction=0.2, model_name="gru"
    )
    start = 600 - 120
    np.testing.assert_array_equal(result.origins, np.arange(start, 600 - H + 1, 2))
    assert model.calls == [result.n_origins]
    assert result.methods == ["gru", *BASELINES]
    assert all(fc.shape == (result.n_origins, H) for fc in result.forecasts.values())
    y = series.values
    np.testing.assert_array_equal(result.actuals, y[result.origins[:, None] + np.arange(H)])
    np.testing.assert_array_equal(result.forecasts["naive"][:, 0], y[result.origins - 1])
    assert result.origin_times.equals(series.index[result.origins])
    assert result.test_span == (series.index[start], series.index[-1])
    assert result.train_naive_mae == pytest.approx(np.abs(np.diff(y[:start])).mean())
    assert list(result.metrics.index) == result.methods
    assert result.horizon_index[0] == series.index[start]


def test_to_frame_is_long_and_aligned():
    series = synthetic()
    result = run_backtest(series, WindowMean(), cfg=BacktestConfig(stride=5, max_origins=7))
    frame = result.to_frame()
    assert list(frame.columns) == ["origin", "step", "timestamp", "actual", "model", *BASELINES]
    assert len(frame) == 7 * H
    assert frame["step"].tolist()[:H] == list(range(1, H + 1))
    assert (frame["origin"] == np.repeat(series.index[result.origins], H)).all()
    assert (
        frame["timestamp"] == series.index[(result.origins[:, None] + np.arange(H)).ravel()]
    ).all()
    np.testing.assert_array_equal(frame["ridge"].to_numpy(), result.forecasts["ridge"].ravel())


def test_batched_and_one_by_one_predictions_agree():
    series = synthetic()
    batched, single = WindowMean(), WindowMean()
    a = run_backtest(series, batched, cfg=BacktestConfig(stride=3))
    b = run_backtest(series, single, cfg=BacktestConfig(stride=3), batch_size=1)
    assert len(batched.calls) == 1 and single.calls == [1] * a.n_origins
    np.testing.assert_allclose(a.forecasts["model"], b.forecasts["model"], rtol=0, atol=1e-12)


def test_baselines_only_share_the_model_runs_origins():
    series = synthetic()
    with_model = run_backtest(series, WindowMean(), cfg=BacktestConfig(stride=4))
    alone = run_backtest(series, cfg=BacktestConfig(stride=4), horizon=H)
    np.testing.assert_array_equal(with_model.origins, alone.origins)
    assert alone.methods == list(BASELINES) and alone.model_name is None
    for name in BASELINES:
        np.testing.assert_array_equal(with_model.forecasts[name], alone.forecasts[name])
    pd.testing.assert_frame_equal(with_model.metrics.loc[list(BASELINES)], alone.metrics)


def test_refit_mode_trains_on_the_rows_before_each_refit_origin():
    series = synthetic()
    for window in ("expanding", "sliding"):
        recorder = Recorder(series)
        cfg = BacktestConfig(stride=2, refit_every=10, window=window)
        result = run_backtest(series, cfg=cfg, refit=recorder, horizon=H)
        starts = result.origins[::10]
        assert result.config["refits"] == len(starts) == len(recorder.spans)
        initial = int(result.origins[0])
        for (lo, hi), origin in zip(recorder.spans, starts, strict=True):
            assert hi == origin
            assert lo == (0 if window == "expanding" else origin - initial)
        # each origin is forecast by the model of the latest refit at or before it
        group_start = np.repeat(starts, 10)[: result.n_origins]
        expected = group_start if window == "expanding" else np.full(result.n_origins, initial)
        np.testing.assert_array_equal(result.forecasts["model"][:, 0], expected)


def test_fixed_mode_with_only_a_refit_function_trains_once_on_the_training_span():
    series = synthetic()
    recorder = Recorder(series)
    result = run_backtest(series, cfg=BacktestConfig(stride=3), refit=recorder, horizon=H)
    assert recorder.spans == [(0, int(result.origins[0]))]
    assert result.config["mode"] == "fixed" and result.model_name == "model"


def changed_forecasts(run, series: Series, seed: int = 7) -> dict[str, bool]:
    """For a few origins o: change every value at rows >= o; did any forecast at an origin <= o change?"""
    base = run(series)
    rng = np.random.default_rng(seed)
    changed = dict.fromkeys(base.methods, False)
    for o in base.origins[[0, len(base.origins) // 2, -1]]:
        other = run(with_values(series, int(o), rng))
        np.testing.assert_array_equal(other.origins, base.origins)
        keep = base.origins <= o
        for name in base.methods:
            changed[name] |= not np.array_equal(
                other.forecasts[name][keep], base.forecasts[name][keep]
            )
    return changed


@pytest.mark.parametrize(
    "cfg",
    [
        BacktestConfig(stride=3),
        BacktestConfig(stride=3, refit_every=4),
        BacktestConfig(stride=3, refit_every=4, window="sliding"),
    ],
    ids=["fixed", "refit-expanding", "refit-sliding"],
)
def test_no_forecast_sees_values_at_or_after_its_origin(cfg):
    series = synthetic()
    if cfg.refit_every:
        run = lambda s: run_backtest(s, cfg=cfg, refit=fit_window_mean, horizon=H)  # noqa: E731
    else:
        run = lambda s: run_backtest(s, WindowMean(bias=0.3), cfg=cfg)  # noqa: E731
    changed = changed_forecasts(run, series)
    assert set(changed) == {"model", *BASELINES}
    assert not any(changed.values()), changed


def test_the_leakage_check_catches_a_leaky_model():
    series = synthetic()
    changed = changed_forecasts(
        lambda s: run_backtest(s, Leaky(), cfg=BacktestConfig(stride=3)), series
    )
    assert changed["model"] and not changed["naive"]


def test_span_by_dates_and_max_origins():
    series = synthetic()
    cfg = BacktestConfig(start=dt.date(2024, 1, 20), end=dt.date(2024, 1, 24), max_origins=10)
    result = run_backtest(series, cfg=cfg, horizon=H)
    start = series.index.get_loc(pd.Timestamp("2024-01-20", tz="UTC"))
    end = series.index.get_loc(pd.Timestamp("2024-01-24", tz="UTC"))
    np.testing.assert_array_equal(result.origins, np.arange(end - H - 9, end - H + 1))
    assert result.test_span == (series.index[start], series.index[end - 1])
    assert result.config["train_rows"] == start


def test_user_errors_are_one_line_and_actionable():
    series = synthetic()
    with pytest.raises(DataError, match="rows before the test span"):
        run_backtest(series, cfg=BacktestConfig(start=dt.date(2024, 1, 1)), horizon=H)
    with pytest.raises(DataError, match="fewer than horizon"):
        run_backtest(series, cfg=BacktestConfig(start=dt.date(2024, 1, 25)), horizon=48)
    with pytest.raises(ConfigError, match="refit"):
        run_backtest(series, WindowMean(), cfg=BacktestConfig(refit_every=5))
    with pytest.raises(ConfigError, match="unknown baseline"):
        run_backtest(series, horizon=H, baselines=("naive", "prophet"))
    with pytest.raises(DataError, match="lookback"):
        run_backtest(series, WindowMean(lookback=590), baselines=("naive",))


def test_model_bugs_raise():
    series = synthetic()
    with pytest.raises(ValueError, match="horizon"):
        run_backtest(series, WindowMean(), horizon=H + 1)
    bad = WindowMean()
    bad.predict_origins = lambda s, o: np.zeros((len(o), H + 1))
    with pytest.raises(ValueError, match="shape"):
        run_backtest(series, bad)


def test_result_is_a_dataclass_with_config():
    result = run_backtest(synthetic(), cfg=BacktestConfig(stride=24), horizon=H)
    assert isinstance(result, BacktestResult)
    assert result.config["season"] == 24 and result.config["mode"] == "fixed"
    assert result.step_metrics.loc["naive"].shape == (H, len(result.metrics.columns))


# -- real data --------------------------------------------------------------------------------------


def test_greensboro_seasonal_naive_over_the_year(greensboro):
    cfg = BacktestConfig(start=dt.date(2001, 1, 3))
    result = run_backtest(greensboro, cfg=cfg, horizon=24, baselines=("naive", "seasonal_naive"))
    assert result.n_origins > 8000
    assert result.metrics.loc["seasonal_naive", "mae"] == pytest.approx(3.2, abs=0.15)
    assert result.metrics.loc["naive", "mae"] > result.metrics.loc["seasonal_naive", "mae"]


def test_greensboro_default_span_with_all_baselines_is_fast(greensboro):
    cfg = BacktestConfig(moving_average=24, ridge_lags=48, max_origins=1000)
    began = time.perf_counter()
    result = run_backtest(greensboro, cfg=cfg, horizon=24)
    elapsed = time.perf_counter() - began
    assert result.n_origins == 1000 and elapsed < 5.0
    mae = result.metrics["mae"]
    assert ((mae > 1.0) & (mae < 8.0)).all(), mae
    assert mae["seasonal_naive"] < mae["naive"] and mae["ridge"] < mae["seasonal_naive"]
    assert result.metrics.loc["naive", "skill"] == 0.0


def test_aapl_default_span(aapl):
    result = run_backtest(aapl, cfg=BacktestConfig(), horizon=5)
    assert result.config["season"] == 5
    assert result.test_span[1] == aapl.end
    metrics = result.metrics
    assert 0.5 < metrics.loc["naive", "mae"] < 4.0  # USD per share, 2011-2013
    assert 1.0 < metrics.loc["naive", "mape"] < 5.0
    assert abs(metrics.loc["drift", "skill"]) < 0.05  # a random walk: little to gain over naive
    assert metrics.loc["seasonal_naive", "mae"] > metrics.loc["naive", "mae"]
    assert metrics.loc["ridge", "mase"] < 1.5 * metrics.loc["naive", "mase"]
