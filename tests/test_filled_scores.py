"""Filled values are not actuals: validation and backtest scores count only observed values.

A series that is mostly missing and interpolated with a large ``data.max_gap`` is straight lines
between a few real prices; a forecast that extends a line is exact on most of them. Every
score (the fit's evaluation, the blend choice, the backtest's metrics and intervals) must leave
the filled values out, and a span with no observed value is a one-line error.
"""

from __future__ import annotations

import numpy as np
import pytest

from forecaster.backtest import metrics as mt
from forecaster.backtest.engine import run_backtest
from forecaster.backtest.evaluate import evaluate_split
from forecaster.config import BacktestConfig
from forecaster.data.series import Series, validate
from forecaster.errors import DataError
from forecaster.selection import select_correction

L, H = 10, 12


def sparse(aapl, observed: np.ndarray) -> Series:
    """The last ``len(observed)`` AAPL sessions with the close kept only where ``observed``, the
    rest filled in by interpolation (max_gap large enough for every gap)."""
    frame = aapl.frame.iloc[-len(observed) :].copy()
    frame.loc[~observed, "close"] = np.nan
    return validate(
        frame, "close", freq="B", fill="interpolate", max_gap=len(observed), source="test",
        symbol="SPARSE", calendar=aapl.calendar,
    )  # fmt: skip


def every_tenth(n: int) -> np.ndarray:
    keep = np.zeros(n, dtype=bool)
    keep[::10] = True
    keep[-1] = True  # trailing missing rows are trimmed: keep the span's length
    return keep


def extend_line(y: np.ndarray, origins: np.ndarray) -> np.ndarray:
    """(n, H) the line through the two values before each origin, extended: exact on a line."""
    last, slope = y[origins - 1], y[origins - 1] - y[origins - 2]
    return last[:, None] + slope[:, None] * np.arange(1, H + 1)


class LineModel:
    """A split forecaster and window forecaster that extends the last line (the anchor: naive)."""

    name, lookback, horizon = "line", L, H

    def __init__(self, val: tuple[int, int]):
        self.val = val

    def split_origins(self, split: str, series: Series) -> np.ndarray:
        return np.arange(self.val[0], self.val[1] - H + 1, dtype=np.int64)

    def forecast_with_anchor(self, series: Series, origins: np.ndarray):
        y = series.values
        return extend_line(y, origins), np.repeat(y[origins - 1][:, None], H, axis=1)

    def predict_origins(self, series: Series, origins: np.ndarray) -> np.ndarray:
        return extend_line(series.values, origins)


def by_hand(series: Series, origins: np.ndarray, forecast: np.ndarray):
    """The MAE over the observed actuals of the windows, how many there are, and the MAE over
    every value (the filled ones too: what was scored before)."""
    rows = origins[:, None] + np.arange(H)
    seen, error = ~series.filled_mask()[rows], np.abs(series.values[rows] - forecast)
    return float(error[seen].mean()), int(seen.sum()), float(error.mean())


def test_metrics_count_only_observed_actuals():
    rng = np.random.default_rng(0)
    a, f, r = (rng.normal(10, 2, (30, 4)) for _ in range(3))
    blank = a.copy()
    blank[rng.random(a.shape) < 0.4] = np.nan
    seen = ~np.isnan(blank)
    assert mt.mae(blank, f) == pytest.approx(np.abs(a - f)[seen].mean())
    assert mt.rmse(blank, f) == pytest.approx(np.sqrt(np.square(a - f)[seen].mean()))
    smape = 200 * np.abs(a - f) / (np.abs(a) + np.abs(f))
    assert mt.smape(blank, f) == pytest.approx(smape[seen].mean())
    step = [np.abs(a - f)[:, h][seen[:, h]].mean() for h in range(4)]
    np.testing.assert_allclose(mt.mae(blank, f, axis=0), step)
    ref = np.abs(a - r)[seen].mean()
    assert mt.skill(blank, f, r) == pytest.approx(1 - np.abs(a - f)[seen].mean() / ref)
    last = a[:, 0] - 1.0
    up = (np.sign(f - last[:, None]) == np.sign(a - last[:, None]))[seen]
    assert mt.directional_accuracy(blank, f, last) == pytest.approx(100 * up.mean())
    lo, hi = f - 1.0, f + 1.0
    inside = ((a >= lo) & (a <= hi))[seen]
    assert mt.coverage(blank, lo, hi) == pytest.approx(100 * inside.mean())
    assert np.isfinite(mt.winkler(blank, lo, hi, 80.0)) and np.isfinite(mt.pinball(blank, lo, 0.1))
    assert mt.scored(blank) == int(seen.sum())
    t, p = mt.diebold_mariano(blank, f, r, lag=3)
    assert np.isfinite(t) and 0 <= p <= 1
    blank[3] = np.nan  # an origin with nothing observed drops out of the test
    assert mt.diebold_mariano(blank, f, r, lag=3) == mt.diebold_mariano(
        np.delete(blank, 3, 0), np.delete(f, 3, 0), np.delete(r, 3, 0), lag=3
    )
    assert np.isnan(mt.mae(np.full((2, 2), np.nan), np.ones((2, 2))))


def test_metrics_are_unchanged_when_nothing_is_missing():
    rng = np.random.default_rng(1)
    a, f = rng.normal(5, 1, (40, 6)), rng.normal(5, 1, (40, 6))
    assert mt.mae(a, f) == float(np.abs(a - f).mean())
    assert mt.rmse(a, f) == float(np.sqrt(np.square(a - f).mean()))
    np.testing.assert_array_equal(mt.mae(a, f, axis=0), np.abs(a - f).mean(axis=0))


def test_validation_scores_only_the_observed_actuals(aapl):
    """90% interpolated: only the ~10% of real prices may count, in the table (model and
    baselines), in the count of scored values and in the blend choice."""
    series = sparse(aapl, every_tenth(400))
    model = LineModel((300, 400))
    ev = evaluate_split(model, [series], "val", BacktestConfig())
    member = ev.members["SPARSE"]
    want, count, drawn = by_hand(series, member.origins, member.forecasts["line"])
    assert ev.table().loc["line", "mae"] == pytest.approx(want)
    assert drawn != pytest.approx(want)  # scoring the drawn lines gives another figure
    assert ev.scored == count == int(np.isfinite(member.actuals).sum())
    naive, _, _ = by_hand(series, member.origins, member.forecasts["naive"])
    assert ev.table().loc["naive", "mae"] == pytest.approx(naive)
    _, info = select_correction(ev, H, 0.9, True)
    assert info["trained_mae"] == pytest.approx(want)
    assert info["anchor_mae"] == pytest.approx(by_hand(series, member.origins, member.anchor)[0])


def test_an_all_filled_validation_span_is_a_one_line_error(aapl):
    keep = every_tenth(400)
    keep[300:-1] = False  # the validation windows (rows 300 .. 399) see no real value
    series = sparse(aapl, keep)
    with pytest.raises(DataError) as err:
        evaluate_split(LineModel((300, 399)), [series], "val", BacktestConfig())
    message = str(err.value)
    assert "\n" not in message and "max_gap" in message and "filled" in message


def blocks(n: int) -> np.ndarray:
    """Runs of 16 observed sessions and 16 filled ones (so whole windows are observed too)."""
    keep = (np.arange(n) // 16) % 2 == 0
    keep[-1] = True
    return keep


def test_backtest_scores_only_the_observed_actuals(aapl):
    series = sparse(aapl, blocks(600))
    result = run_backtest(
        series, LineModel((0, 0)), baselines=["naive"], levels=(80.0,), model_name="line"
    )
    want, count, _ = by_hand(series, result.origins, result.forecasts["line"])
    assert result.metrics.loc["line", "mae"] == pytest.approx(want)
    assert mt.scored(result.actuals) == count < result.actuals.size
    rows = result.origins[:, None] + np.arange(H)
    seen = ~series.filled_mask()[rows]
    step1 = np.abs(series.values[rows] - result.forecasts["line"])[:, 0][seen[:, 0]].mean()
    assert result.step_metrics.loc[("line", 1), "mae"] == pytest.approx(step1)
    lo, hi = result.intervals["line"][80.0]
    y = series.values[rows]
    scored = seen & np.isfinite(lo)
    inside = ((y >= lo) & (y <= hi))[scored]
    assert result.interval_metrics.loc[("line", 80.0), "coverage"] == pytest.approx(
        100 * inside.mean()
    )
    assert result.interval_metrics.loc[("line", 80.0), "width"] == pytest.approx(
        (hi - lo)[scored].mean()
    )


def test_a_backtest_span_with_no_observed_actual_is_a_one_line_error(aapl):
    keep = every_tenth(400)
    keep[300:-1] = False  # the backtest span (before the last row) holds no real value
    series = sparse(aapl, keep)
    cfg = BacktestConfig(end=series.index[-1].date())
    with pytest.raises(DataError) as err:
        run_backtest(series, horizon=H, baselines=["naive"], cfg=cfg)
    message = str(err.value)
    assert "\n" not in message and "max_gap" in message and "backtest" in message


def test_a_tuning_block_scores_only_the_observed_actuals(aapl):
    """The study's score (tuning/objective.score_fit) reads actual windows too: windows' MAEs
    over observed values, a window with none observed left out."""
    import torch

    from forecaster.tuning.blocks import Block
    from forecaster.tuning.objective import common_origins, score_fit

    keep = np.zeros(400, dtype=bool)
    keep[::20] = keep[-1] = True  # 95% filled: some windows of 12 see no real value
    series = sparse(aapl, keep)
    block = Block(1, series.index[300], None, 300, 100)

    class Fitted(LineModel):
        module = type("M", (), {"blend": torch.tensor(1.0)})()

    out = score_fit(Fitted((0, 0)), series, block, L)
    origins = common_origins(series, block, L, H)
    rows = origins[:, None] + np.arange(H)
    seen, fc = ~series.filled_mask()[rows], extend_line(series.values, origins)
    per_window = [
        np.abs(series.values[r] - f)[s].mean()
        for r, f, s in zip(rows, fc, seen, strict=True)
        if s.any()
    ]
    assert out.windows == len(per_window) < len(origins)
    assert out.mae == pytest.approx(np.mean(per_window))


def test_a_fit_scores_and_calibrates_on_observed_actuals_only(aapl):
    """A real (tiny) fit on a half-filled series: its meta's validation MAE is the MAE over the
    observed actuals of the validation windows, and its interval calibration holds the residuals
    of the fully observed test windows only."""
    from forecaster.config import Config, override
    from forecaster.training import fit_model

    series = sparse(aapl, blocks(600))
    cfg = override(
        Config(),
        {
            "model.lookback": 20,
            "model.horizon": 5,
            "model.hidden_size": 8,
            "model.num_layers": 1,
            "train.max_epochs": 1,
        },
    )
    fitted = fit_model(series, cfg)
    member = fitted.validation.members["SPARSE"]
    rows = member.origins[:, None] + np.arange(5)
    seen = ~series.filled_mask()[rows]
    forecast = member.forecasts[fitted.validation.model]
    want = np.abs(series.values[rows] - forecast)[seen].mean()
    assert fitted.meta.metrics["val_mae"] == pytest.approx(want, rel=1e-5)
    test_rows = fitted.split_origins("test", series)[:, None] + np.arange(5)
    whole = (~series.filled_mask()[test_rows]).all(axis=1)
    assert fitted.calibration.n == int(whole.sum()) < len(test_rows)
