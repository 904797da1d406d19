"""The GRU regressor: shapes, per-window normalisation inside the model, one optimisation step."""

from __future__ import annotations

import ast
import inspect

import pytest
import torch

from forecaster.models import gru as gru_module
from forecaster.models.gru import GRURegressor
from forecaster.models.normalize import normalise, window_stats


def windows(batch=4, lookback=12, n_features=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, lookback, n_features, generator=g)
    x[:, :, 0] = 100 + torch.randn(batch, lookback, generator=g).cumsum(1)  # a price-like target
    return x


@pytest.mark.parametrize("bidirectional,num_layers", [(True, 2), (False, 1)])
def test_forward_shape_and_hparams(bidirectional, num_layers):
    torch.manual_seed(0)
    model = GRURegressor(
        5, 12, 3, hidden_size=8, num_layers=num_layers, bidirectional=bidirectional
    )
    assert model.hparams.horizon == 3 and model.hparams.bidirectional is bidirectional
    out = model.eval()(windows())
    assert out.shape == (4, 3) and out.dtype == torch.float32


def test_untrained_model_forecasts_the_last_value():
    x = windows()
    out = GRURegressor(5, 12, 3, hidden_size=8).eval()(x)
    torch.testing.assert_close(out, x[:, -1:, 0].expand(4, 3))


def test_forecasts_follow_the_level_and_scale_of_each_window():
    """Per-window normalisation: an affine change of the target moves the forecast the same way."""
    torch.manual_seed(0)
    model = GRURegressor(5, 12, 3, hidden_size=8)
    torch.nn.init.normal_(model.head.weight)  # a non-trivial network
    model.eval()
    x = windows()
    moved = x.clone()
    moved[:, :, 0] = 40 * x[:, :, 0] + 1000.0  # far outside anything seen: e.g. prices years later
    torch.testing.assert_close(model(moved), 40 * model(x) + 1000.0, rtol=1e-4, atol=1e-2)


def test_scale_is_clamped_on_flat_windows():
    loc, scale = window_stats(torch.full((2, 7), 50.0))
    assert loc.shape == scale.shape == (2, 1)
    assert torch.all(scale >= 1e-3 * 50.0)


def test_training_step_lowers_the_normalised_loss():
    torch.manual_seed(0)
    x = windows(batch=32, lookback=12)
    y = x[:, -1:, 0] + torch.linspace(0, 3, 3)  # a rising continuation to learn
    model = GRURegressor(5, 12, 3, hidden_size=16, learning_rate=1e-2)
    opt = model.configure_optimizers()["optimizer"]
    losses = []
    for _ in range(30):
        z, loc, scale = model.forward_normalised(x)
        loss = torch.nn.functional.mse_loss(z, normalise(y, loc, scale))  # the training loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_models_never_import_data():
    for mod in (gru_module, inspect.getmodule(window_stats)):
        tree = ast.parse(inspect.getsource(mod))
        imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in imported if m and m.startswith("forecaster.data")]
