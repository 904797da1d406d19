"""Per-window normalisation of the target (the RevIN idea), so trending series stay in range.

A global scaler fitted on 2000-2010 prices breaks on 2012 prices; a window normalised by its own last
value and spread looks the same at any price level. For each window:

    loc   = the last target value of the lookback                          (units)
    scale = the window's spread, clamped below                             (units)
    z     = (x - loc) / scale                                               (dimensionless)

Two measures of spread (``mode``):

* ``"level"``: the std of the target over the lookback. A trending window gets a large scale, so
  its next steps look small in ``z``; a flat one a small scale.
* ``"diff"``: the std of the one-step changes over the lookback. For a random-walk-like series (a
  price) ``z`` of the step h ahead then has a variance of about h in every window, trending or not:
  the same idea as forecasting log-returns scaled by their volatility, without needing positive
  values (temperatures cross zero).

The network sees and predicts ``z``; forecasts are mapped back with ``z * scale + loc``. Anything
linear in the window (naive, seasonal naive, drift) is the same linear map in ``z`` for both modes,
which is what lets the model start exactly at such a forecast (see :mod:`forecaster.models.anchor`).
"""

from __future__ import annotations

from typing import Literal

import torch

from forecaster.models.floors import ABS_FLOOR, REL_FLOOR

ScaleMode = Literal["level", "diff"]
SCALE_MODES: tuple[str, ...] = ("level", "diff")


def window_stats(
    history: torch.Tensor, mode: ScaleMode = "level"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``loc`` and ``scale``, each (batch, 1) in units, of target histories (batch, lookback)."""
    history = history.float()
    loc = history[:, -1:]
    if mode == "diff" and history.shape[1] > 1:
        spread = history.diff(dim=1).std(dim=1, keepdim=True, unbiased=False)
    elif mode in SCALE_MODES:
        spread = history.std(dim=1, keepdim=True, unbiased=False)
    else:
        raise ValueError(f"unknown scale mode {mode!r}; use one of {SCALE_MODES}")
    scale = torch.maximum(spread, REL_FLOOR * loc.abs()).clamp_min(ABS_FLOOR)
    return loc, scale


def normalise(values: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """(batch, n) in units -> dimensionless, with (batch, 1) ``loc``/``scale``."""
    return (values - loc) / scale


def denormalise(z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """(batch, n) dimensionless -> units."""
    return z * scale + loc
