"""What a study minimises: a config fitted once per validation block and scored against naive on the blocks' common windows.

Every trial (and the default settings) is scored on the same windows: per member and block, every
origin ``o`` whose horizon ``[o, o + H)`` lies inside the block, from the first row at which the
study's longest lookback has history. Scores are relative (a member's MAE over the block divided by
the naive forecast's on the same windows), so blocks from different years and members on different
scales weigh alike, as :func:`~forecaster.backtest.evaluate.pooled` pools a group. A trial's value
is its mean relative MAE over the blocks (lower is better; 1 is naive). Only observed actuals are
scored: values the NaN policy filled in are left out, and a window with none observed with them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from forecaster.backtest import baselines as bl
from forecaster.backtest import metrics as mt
from forecaster.config import Config
from forecaster.data.series import Series, mask_filled
from forecaster.errors import DataError
from forecaster.fitted import FittedModel
from forecaster.meta import ServeMethod
from forecaster.training import fit_model
from forecaster.tuning.blocks import Block, Data, block_config, block_data, block_rows, members_of


@dataclass(frozen=True)
class BlockScore:
    """How one fit did on one block's common windows.

    ``relative``: the shipped forecast's MAE / naive's, averaged over members; ``anchor``: the same
    for the fit's anchor (the forecast the model started from); ``mae``: the shipped forecast's MAE
    averaged over members (target units for one series); ``windows``: windows scored; ``blend``:
    the share of the learned correction the fit kept (0: the fit ships its anchor); ``seconds``:
    the fit's wall time (not compared: two equal scores may take different times); ``losses``:
    each window's MAE divided by its member's naive MAE on the block, in member order (6
    significant digits, as the study keeps them).
    """

    block: int
    relative: float
    anchor: float
    mae: float
    windows: int
    blend: float
    seconds: float = field(compare=False)
    losses: tuple[float, ...] = field(repr=False)

    def to_attrs(self) -> dict[str, Any]:
        """JSON-ready (what a trial's user attributes keep; the losses to 6 significant digits)."""
        out = {k: getattr(self, k) for k in ("block", "relative", "anchor", "mae", "windows")}
        return out | {
            "blend": self.blend,
            "seconds": self.seconds,
            "losses": list(self.losses),
        }

    @classmethod
    def from_attrs(cls, raw: dict[str, Any]) -> BlockScore:
        return cls(
            int(raw["block"]),
            float(raw["relative"]),
            float(raw["anchor"]),
            float(raw["mae"]),
            int(raw["windows"]),
            float(raw["blend"]),
            float(raw["seconds"]),
            tuple(float(x) for x in raw["losses"]),
        )


def mean_relative(scores: list[BlockScore]) -> float:
    """A trial's value: the mean relative MAE over the blocks scored so far."""
    return float(np.mean([s.relative for s in scores]))


def no_gain(scores: list[BlockScore]) -> bool:
    """True when the fits have not beaten their anchors on the blocks so far: the shipped forecasts'
    summed relative MAE is no lower than the anchors' (a fit that kept none of its correction
    forecasts exactly as its anchor)."""
    return sum(s.relative for s in scores) >= sum(s.anchor for s in scores)


def hopeless(scores: list[BlockScore], default: list[float]) -> bool:
    """True when a trial is not worth its remaining blocks: its fits have not beaten their anchors
    (:func:`no_gain`) and it does no better than the default settings on the same blocks
    (``default``: their relative MAE per block). A trial whose anchor alone beats the default
    (a lookback long enough for a seasonal-naive anchor, say) goes on."""
    return no_gain(scores) and mean_relative(scores) >= float(np.mean(default[: len(scores)]))


def common_origins(series: Series, block: Block, lookback: int, horizon: int) -> np.ndarray:
    """The origins (int64 rows of ``series``) every trial is scored on in ``block``: each origin
    whose horizon lies inside the block and that has ``lookback`` rows of history."""
    lo, hi = block_rows(series, block)
    return np.arange(max(lo, lookback), hi - horizon + 1, dtype=np.int64)


def score_fit(model: FittedModel, data: Data, block: Block, lookback: int) -> BlockScore:
    """Score a fit on the block's common windows (``lookback``: the study's longest)."""
    H = model.horizon
    blend = float(model.module.blend)
    rel, anchor_rel, maes, losses, windows, filled = [], [], [], [], 0, False
    for series in members_of(data):
        origins = common_origins(series, block, lookback, H)
        if len(origins) == 0:
            continue
        y = series.values
        actual = mask_filled(series, origins, H, bl.future_windows(y, origins, H))
        full, anchor = model.forecast_with_anchor(series, origins)
        shipped = anchor + blend * (full - anchor)
        per_window = mt.mae(actual, shipped, axis=1)  # observed actuals only
        seen = ~np.isnan(per_window)  # a window with none observed is not scored
        if not seen.any():
            filled = True
            continue
        naive = mt.mae(actual, bl.naive(y, origins, H))
        per_window = per_window[seen]
        scale = naive if naive > 0 else 1.0
        rel.append(per_window.mean() / scale)
        anchor_rel.append(mt.mae(actual, anchor) / scale)
        maes.append(per_window.mean())
        losses.append(per_window / scale)
        windows += int(seen.sum())
    if not losses and filled:
        raise DataError(
            f"tuning block {block.number}: every value was filled in by the NaN policy, none "
            "observed — use a span with observed values or a smaller --max-gap (data.max_gap)"
        )
    if not losses:
        raise ValueError(f"block {block.number} holds no window of {H} steps")  # checked before
    return BlockScore(
        block.number,
        float(np.mean(rel)),
        float(np.mean(anchor_rel)),
        float(np.mean(maes)),
        windows,
        blend,
        0.0,
        tuple(float(f"{x:.6g}") for x in np.concatenate(losses)),
    )


def score_block(cfg: Config, data: Data, block: Block, lookback: int) -> BlockScore:
    """Fit ``cfg`` on the rows before ``block``'s end (the block its validation split) and score
    the fit on the block's common windows."""
    started = time.perf_counter()
    rows = block_data(data, block)
    # the procedure's weights: served ones would have trained on the block they are scored on
    model = fit_model(
        rows, block_config(cfg, block), progress_bar=False, serve_by=ServeMethod.PROCEDURE
    ).procedure()
    score = score_fit(model, rows, block, lookback)
    return replace(score, seconds=round(time.perf_counter() - started, 1))


def score_blocks(
    cfg: Config,
    data: Data,
    blocks: tuple[Block, ...],
    lookback: int,
    after_block: Callable[[list[BlockScore]], None] | None = None,
) -> list[BlockScore]:
    """Score ``cfg`` on every block in order, oldest first; ``after_block(scores so far)`` may stop
    the run by raising (a pruned trial)."""
    scores: list[BlockScore] = []
    for block in blocks:
        scores.append(score_block(cfg, data, block, lookback))
        if after_block is not None:
            after_block(scores)
    return scores
