"""Per-window normalisation of the target (the RevIN idea), so trending series stay in range.

A global scaler fitted on 2000-2010 prices breaks on 2012 prices; a window normalised by its own last
value and spread looks the same at any price level. For each window:

    loc   = the last target value of the lookback             (units)
    scale = std of the target over the lookback, clamped below (units)
    z     = (x - loc) / scale                                  (dimensionless)

The network sees and predicts ``z``; forecasts are mapped back with ``z * scale + loc``.
"""

from __future__ import annotations

import torch

REL_FLOOR = 1e-3
"""Smallest scale relative to |loc|: a flat window must not blow the targets up."""
ABS_FLOOR = 1e-6


def window_stats(history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``loc`` and ``scale``, each (batch, 1) in units, of target histories (batch, lookback)."""
    history = history.float()
    loc = history[:, -1:]
    std = history.std(dim=1, keepdim=True, unbiased=False)
    scale = torch.maximum(std, REL_FLOOR * loc.abs()).clamp_min(ABS_FLOOR)
    return loc, scale


def normalise(values: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """(batch, n) in units -> dimensionless, with (batch, 1) ``loc``/``scale``."""
    return (values - loc) / scale


def denormalise(z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """(batch, n) dimensionless -> units."""
    return z * scale + loc
