"""Which forecast a fit ships: the anchor it starts from, and how much of what it learned to keep.

Before training, :func:`choose_anchor` scores naive, seasonal naive and drift over the lookback on
the training windows and picks the best (see :mod:`forecaster.models.anchor`); the untrained network
*is* that forecast. After training, :func:`select_correction` keeps the learned correction only when
it beats the anchor on the validation windows with the configured confidence, and then only the
share of it that forecasts them best. Both read one split each (train, then validation), so neither
leaks the test span.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from forecaster.backtest.baselines import season_for
from forecaster.backtest.evaluate import Evaluation
from forecaster.backtest.metrics import diebold_mariano, mae
from forecaster.config import Config
from forecaster.data.windows import WindowDataModule
from forecaster.errors import ConfigError
from forecaster.models.anchor import anchor_scores, candidates


@dataclass(frozen=True)
class Anchor:
    """The simple forecast a fit starts from, and how the candidates scored on the training windows."""

    name: str
    season: int
    train_scores: dict[str, float]
    """Candidate -> MAE in normalised units (per-window scale) over the training windows."""


MAX_ANCHOR_WINDOWS = 20_000
"""Training windows scored per anchor candidate (evenly spaced): plenty to rank three forecasts."""


def choose_anchor(dm: WindowDataModule, cfg: Config, freq: str) -> Anchor:
    """Score naive, seasonal naive and drift on the training windows; the configured or best one wins.

    Only the training split is read, so the choice leaks nothing from validation or test. Ties go
    to the simpler forecast (naive, then seasonal naive, then drift).
    """
    m = cfg.model
    season = cfg.backtest.season or season_for(freq)
    names = candidates(m.lookback, season)
    if m.anchor != "auto":
        if m.anchor not in names:
            raise ConfigError(
                f"model.anchor={m.anchor} does not fit lookback {m.lookback} (season {season}) — "
                "use a lookback of at least one season, or model.anchor: auto"
            )
        names = [m.anchor]
    ds = dm.datasets["train"]
    starts = ds.starts
    if len(starts) > MAX_ANCHOR_WINDOWS:
        starts = starts[torch.linspace(0, len(starts) - 1, MAX_ANCHOR_WINDOWS).long()]
    target = ds.windows[starts, 0]  # (N, L + H) target values, gathered from the shared view
    L = m.lookback
    scores = anchor_scores(target[:, :L], target[:, L:], names, season, m.scale)
    best = min(names, key=lambda n: scores[n])  # min keeps the first of equal scores
    return Anchor(best, season, {k: round(v, 6) for k, v in scores.items()})


BLEND_GRID = np.linspace(0.0, 1.0, 21)


def select_correction(
    evaluation: Evaluation, horizon: int, confidence: float, blend: bool
) -> tuple[float, dict[str, Any]]:
    """How much of the learned correction to keep: 0 (the anchor) .. 1 (the trained model).

    Reads the fit's one forecast of the validation windows (``evaluation``: the model with its
    whole correction and its anchor, every member). 0 unless the trained model beats the anchor
    with ``confidence`` (one-sided Diebold-Mariano test on per-window MAE, Newey-West lags =
    ``horizon``). Then, with ``blend``, the share of the grid 0, 0.05, .., 1 with the lowest
    validation MAE (forecasts are linear in the share), else 1. Returns the share and what decided
    it (MAEs in units). Actuals the NaN policy filled in (NaN in the evaluation) are left out
    of every figure.
    """
    full, base, y = (evaluation.stacked(p) for p in ("full", "anchor", "actuals"))
    t_stat, p_value = diebold_mariano(y, full, base, lag=horizon)
    info: dict[str, Any] = {
        "anchor_mae": mae(y, base),
        "trained_mae": mae(y, full),
        "dm_t": round(t_stat, 3),
        "p_value": round(p_value, 4),
    }
    if p_value > 1.0 - confidence:
        return 0.0, info | {"decision": f"gain not significant (p={p_value:.2f})"}
    if not blend:
        return 1.0, info | {"decision": "significant gain"}
    maes = np.array([mae(y, base + a * (full - base)) for a in BLEND_GRID])
    share = float(BLEND_GRID[int(np.argmin(maes))])
    return share, info | {"decision": "significant gain", "chosen_mae": float(maes.min())}
