"""Anchors: an untrained model *is* naive, seasonal naive or drift, exactly, at any level and scale."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from forecaster.backtest import baselines as bl
from forecaster.backtest.metrics import diebold_mariano
from forecaster.models.anchor import anchor_matrix, anchor_scores, candidates
from forecaster.models.gru import GRURegressor

L, H, SEASON = 48, 30, 24


def price_like(n=600, seed=0) -> np.ndarray:
    """A positive, trending, seasonal series at a price-like level (float32-representable)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 500 + np.cumsum(rng.normal(0.1, 2.0, n)) + 15 * np.sin(2 * np.pi * t / SEASON)
    return y.astype(np.float32).astype(np.float64)


def windows(y: np.ndarray, origins: np.ndarray, n_features: int = 3) -> torch.Tensor:
    """(n, L, F) model inputs: the target in column 0, arbitrary covariates after it."""
    hist = bl.history_windows(y, origins, L)
    x = torch.randn(len(origins), L, n_features, generator=torch.Generator().manual_seed(0))
    x[:, :, 0] = torch.from_numpy(hist).float()
    return x


@pytest.mark.parametrize("scale", ["level", "diff"])
@pytest.mark.parametrize(
    "anchor,reference",
    [
        ("naive", lambda y, o: bl.naive(y, o, H)),
        ("seasonal_naive", lambda y, o: bl.seasonal_naive(y, o, H, SEASON)),
        ("drift", lambda y, o: bl.drift(y, o, H, window=L)),
    ],
)
def test_untrained_model_is_its_anchor(anchor, reference, scale):
    y = price_like()
    origins = np.arange(L, len(y) - H, 7)
    model = GRURegressor(3, L, H, hidden_size=8, anchor=anchor, season=SEASON, scale=scale).eval()
    with torch.no_grad():
        out = model(windows(y, origins)).double().numpy()
        anchor_out = model.forward_anchor(windows(y, origins)).double().numpy()
    np.testing.assert_allclose(out, reference(y, origins), rtol=1e-5)
    np.testing.assert_allclose(anchor_out, out, rtol=1e-6)


def test_the_anchor_stays_exact_under_mixed_precision():
    """bf16 autocast would round copied values to 3 digits; the anchor path runs in float32."""
    y = price_like()
    origins = np.arange(L, len(y) - H, 5)
    model = GRURegressor(3, L, H, hidden_size=8, anchor="seasonal_naive", season=SEASON).eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(windows(y, origins)).double().numpy()
    np.testing.assert_allclose(out, bl.seasonal_naive(y, origins, H, SEASON), rtol=1e-5)


def test_blend_scales_only_the_learned_correction():
    y = price_like()
    x = windows(y, np.arange(L, 300, 11))
    torch.manual_seed(0)
    model = GRURegressor(3, L, H, hidden_size=8, anchor="seasonal_naive", season=SEASON).eval()
    torch.nn.init.normal_(model.head.weight, std=0.1)  # a non-trivial correction
    with torch.no_grad():
        base, full = model.forward_anchor(x), model(x)
        model.blend.fill_(0.25)
        part = model(x)
    assert not torch.allclose(full, base)
    torch.testing.assert_close(part, base + 0.25 * (full - base), rtol=1e-5, atol=1e-3)


def test_anchor_matrices_and_candidates():
    a = anchor_matrix("seasonal_naive", 6, 4, 3)
    assert a.shape == (4, 6) and a.sum(dim=1).tolist() == [1.0] * 4
    assert a.argmax(dim=1).tolist() == [3, 4, 5, 3]  # the last season repeated
    assert torch.count_nonzero(anchor_matrix("naive", 6, 4)) == 0
    assert candidates(20, 24) == ["naive", "drift"]  # a season longer than the lookback falls back
    assert candidates(48, 24) == ["naive", "seasonal_naive", "drift"]
    assert candidates(48, 1) == ["naive", "drift"]
    with pytest.raises(ValueError, match="season"):
        anchor_matrix("seasonal_naive", 6, 4, 7)
    with pytest.raises(ValueError, match="unknown anchor"):
        anchor_matrix("ridge", 6, 4)


def test_scores_rank_the_anchors_by_what_the_series_is():
    rng = np.random.default_rng(1)
    n = 2000
    walk = np.cumsum(rng.normal(size=n)) + 100
    seasonal = 10 * np.sin(2 * np.pi * np.arange(n) / SEASON) + rng.normal(0, 0.3, n)
    for y, best in ((walk, "naive"), (seasonal, "seasonal_naive")):
        origins = np.arange(L, n - H, 3)
        hist = torch.from_numpy(bl.history_windows(y, origins, L))
        fut = torch.from_numpy(y[origins[:, None] + np.arange(H)])
        scores = anchor_scores(hist, fut, candidates(L, SEASON), SEASON)
        assert min(scores, key=scores.get) == best, scores


def test_diebold_mariano_by_hand():
    actual = np.zeros((6, 2))
    ref = np.ones((6, 2))
    better = np.full((6, 2), 0.5)
    assert diebold_mariano(actual, ref, ref, lag=1) == (0.0, 0.5)  # identical forecasts
    t, p = diebold_mariano(actual, better, ref, lag=1)  # uniformly better: certain
    assert t == -np.inf and p == 0.0
    # d = [-1, 0, -1, 0, -1, 0]: mean -0.5, lag-0 variance 0.25, lag-1 autocovariance -0.2083
    d = np.array([1.0, 0, 1, 0, 1, 0])[:, None] * np.ones((1, 2))
    t, p = diebold_mariano(actual, ref - d, ref, lag=1)
    gamma0, gamma1 = 0.25, -0.25 * 5 / 6
    var = gamma0 + 2 * 0.5 * gamma1
    assert t == pytest.approx(-0.5 / np.sqrt(var / 6))
    assert p == pytest.approx(0.5 * (1 + math.erf(t / np.sqrt(2))))
