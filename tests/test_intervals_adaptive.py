"""Adaptive intervals: the split bounds at the start, catching up with a shift, delayed feedback
judged at issue time, no leakage, one walk or two, calibration.json old and new, the nightly fold."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forecaster import intervals_adaptive as ad
from forecaster.config import validate_config
from forecaster.data.series import validate
from forecaster.errors import ConfigError
from forecaster.intervals import Calibration, observe, walk_forward, walk_forward_by


def covered(q, scores) -> dict[float, float]:
    """Percent of ``scores`` (n, H) inside each level's bounds."""
    return {lv: 100 * ((scores >= lo) & (scores <= hi)).mean() for lv, (lo, hi) in q.items()}


@pytest.mark.parametrize("space", ad.SPACES)
def test_the_state_starts_at_the_split_bounds(space):
    cal = Calibration.from_scores(np.random.default_rng(0).normal(size=(200, 4)), lookback=5)
    state = ad.AdaptiveState.start([80, 95], 4, space=space)
    lo, hi = ad.bounds(cal.residuals.T, state)
    for i, level in enumerate((80, 95)):
        split_lo, split_hi, short = cal.bounds(level)
        assert not short
        np.testing.assert_array_equal(lo[i], split_lo)
        np.testing.assert_array_equal(hi[i], split_hi)


def test_an_expert_is_judged_by_the_offset_it_was_issued_with():
    state = ad.AdaptiveState.start([80], 1, gammas=(0.1,))
    z = np.array([[[0.5], [0.5]]])  # both tails 0.5 half-widths beyond the split bound
    now = ad.advance(state, z)  # against the current offset 0: a miss, the bound moves out
    np.testing.assert_allclose(now.values[..., 0], 0.1 * (1 - 0.1))
    issued = np.full_like(state.values, 1.0)  # issued with offset 1: covered, the bound comes in
    then = ad.advance(state, z, issued)
    np.testing.assert_allclose(then.values[..., 0], -0.1 * 0.1)
    assert then.windows == 1 and state.windows == 0  # pure: the old state is unchanged


def shifted(n_cal=300, n_span=1200, horizon=3, factor=2.0, seed=0):
    """Scores whose spread grows by ``factor`` halfway through the span."""
    rng = np.random.default_rng(seed)
    cal, span = rng.normal(size=(n_cal, horizon)), rng.normal(size=(n_span, horizon))
    span[n_span // 2 :] *= factor
    return cal, np.arange(n_cal), span, np.arange(n_cal + 100, n_cal + 100 + n_span)


def test_a_variance_shift_is_caught_up_with():
    cal, co, span, so = shifted()
    after = slice(len(span) // 2, None)
    split, _ = walk_forward(cal, co, span, so, 3, [80, 95])
    moved, sizes = ad.walk_forward(cal, co, span, so, 3, [80, 95])
    late = {lv: (lo[after], hi[after]) for lv, (lo, hi) in split.items()}
    got = covered(late, span[after])
    assert got[80.0] < 65 and got[95.0] < 87  # fixed quantiles: far under after the shift
    got = covered({lv: (lo[after], hi[after]) for lv, (lo, hi) in moved.items()}, span[after])
    assert got[80.0] > 72 and got[95.0] > 91, got  # most of the shortfall made up
    before = slice(0, len(span) // 2)
    calm = covered({lv: (lo[before], hi[before]) for lv, (lo, hi) in moved.items()}, span[before])
    assert abs(calm[80.0] - 80) < 3 and abs(calm[95.0] - 95) < 2, calm
    # the last origin sees every calibration residual and all but the last 3 (H) of the span's
    assert sizes[0] == len(cal) and sizes[-1] == len(cal) + len(span) - 3


@pytest.mark.parametrize("space", ad.SPACES)
def test_adaptive_bounds_use_only_windows_observed_before_each_origin(space):
    cal, co, span, so = shifted()
    q, _ = ad.walk_forward(cal, co, span, so, 3, [80, 95], space=space)
    changed = span.copy()
    changed[500:] += 100.0  # the residuals of the 500th origin on become huge
    q2, _ = ad.walk_forward(cal, co, changed, so, 3, [80, 95], space=space)
    for level in (80.0, 95.0):
        # origin o sees origins o' <= o - 3: up to the 502nd nothing changed is visible
        for a, b in zip(q[level], q2[level], strict=True):
            np.testing.assert_array_equal(a[:503], b[:503])
            assert not np.array_equal(a[503:], b[503:])


def test_folding_new_windows_later_is_walking_them_at_once():
    rng = np.random.default_rng(1)
    old, new = rng.normal(size=(150, 2)), 1.5 * rng.normal(size=(80, 2))
    issue_old, issue_new = (
        np.arange(150),
        np.arange(160, 240),
    )  # new ones issued after all old ready
    once = Calibration.from_windows(
        np.concatenate([old, new]),
        np.r_[issue_old, issue_new],
        np.r_[issue_old, issue_new] + 1,
        [80, 95],
        lookback=5,
    )
    first = Calibration.from_windows(old, issue_old, issue_old + 1, [80, 95], lookback=5)
    later = ad.update_state(first, new, issue_new, issue_new + 1)
    np.testing.assert_array_equal(later.residuals, once.residuals)
    np.testing.assert_array_equal(later.adaptive.values, once.adaptive.values)
    np.testing.assert_allclose(later.adaptive.weights, once.adaptive.weights)
    assert later.adaptive.windows == 230 and first.adaptive.windows == 150 and first.n == 150


def test_calibration_json_keeps_the_state_and_old_files_load():
    rng = np.random.default_rng(2)
    s = rng.normal(size=(120, 3))
    issue = np.arange(120)
    cal = Calibration.from_windows(s, issue, issue + 2, [80, 95], lookback=7)
    assert cal.adaptive is not None and cal.adaptive.windows == 120
    back = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    np.testing.assert_array_equal(back.residuals, cal.residuals)
    np.testing.assert_array_equal(back.adaptive.values, cal.adaptive.values)
    np.testing.assert_array_equal(back.adaptive.weights, cal.adaptive.weights)
    forecast, scale = np.full((1, 3), 10.0), np.array([2.0])
    moved = cal.intervals(forecast, scale, [80, 90, 95], "adaptive").bounds
    split = cal.intervals(forecast, scale, [80, 90, 95], "split").bounds
    assert not np.array_equal(moved[95][1], split[95][1])  # the state moved the 95% bounds
    np.testing.assert_array_equal(moved[90][1], split[90][1])  # no state for 90%: split
    old = cal.to_dict()
    del old["adaptive"]  # a calibration.json written before adaptive intervals
    legacy = Calibration.from_dict(old)
    assert legacy.adaptive is None
    np.testing.assert_array_equal(
        legacy.intervals(forecast, scale, [95], "adaptive").bounds[95][1], split[95][1]
    )
    bad = cal.to_dict()
    bad["adaptive"]["values"] = bad["adaptive"]["values"][:1]
    with pytest.raises(ValueError, match="adaptive values"):
        Calibration.from_dict(bad)


def test_the_interval_method_is_validated():
    assert validate_config({}).backtest.interval_method == "adaptive"
    assert (
        validate_config({"backtest": {"interval_method": "split"}}).backtest.interval_method
        == "split"
    )
    with pytest.raises(ConfigError, match="backtest.interval_method") as exc:
        validate_config({"backtest": {"interval_method": "aci"}})
    assert "\n" not in str(exc.value)
    with pytest.raises(ConfigError, match="interval method 'aci' is unknown"):
        walk_forward_by("aci", np.zeros((0, 2)), np.zeros(0), np.zeros((1, 2)), np.ones(1), 2, [80])


class Naive:
    """A stand-in model: tomorrow and after as today (``predict_origins`` as a FittedModel's)."""

    lookback, horizon = 5, 2

    def predict_origins(self, series, origins):
        return np.repeat(series.values[np.asarray(origins) - 1][:, None], self.horizon, axis=1)


def test_observe_folds_in_each_new_window_once():
    rng = np.random.default_rng(3)
    index = pd.date_range("2020-01-01", periods=300, freq="D", tz="UTC")
    frame = pd.DataFrame({"y": 50 + np.cumsum(rng.normal(size=300))}, index=index)
    series = validate(frame, "y", freq="D", symbol="rw")
    model = Naive()
    early = series.until(index[200])
    origins = np.arange(5, len(early) - 1)
    y = early.values
    actual = np.stack([y[origins], y[origins + 1]], axis=1)
    fc = model.predict_origins(early, origins)
    from forecaster.intervals import scores, window_scale

    s = scores(actual, fc, window_scale(y, origins, 5))
    stamps = index.as_unit("ns").asi8
    cal = Calibration.from_windows(
        s,
        stamps[origins],
        stamps[origins + 1],
        [80, 95],
        lookback=5,
        span=(str(index[origins[0]]), str(index[origins[-1]])),
    )
    later = observe(cal, model, [series])
    assert later.n == cal.n + 100 and later.adaptive.windows == cal.adaptive.windows + 100
    assert later.span == (cal.span[0], str(index[298]))  # the newest origin with a whole horizon
    assert observe(later, model, [series]) is later  # nothing new: the same calibration
