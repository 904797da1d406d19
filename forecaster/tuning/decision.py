"""Whether the tuned settings replace the default: the fit's own significance rule on the pooled block errors.

The fit keeps what training learned only when it beats the anchor with ``train.confidence`` (a
one-sided Diebold-Mariano test, :func:`~forecaster.selection.select_correction`). A study's best
settings are kept by the same rule against the default settings: a one-sided Diebold-Mariano test
on the per-window relative errors of every block (the blocks' common windows, one after another,
Newey-West lags = the horizon), at the same confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecaster.backtest.metrics import diebold_mariano
from forecaster.tuning.objective import BlockScore, mean_relative


@dataclass(frozen=True)
class Decision:
    """The outcome of a study: ``keep`` the tuned settings or not, and why (one line).

    ``default`` and ``tuned``: mean relative MAE over the blocks (MAE / naive's; None without a
    finished trial); ``p_value``: of "the tuned settings are no better" (None when not tested).
    """

    keep: bool
    reason: str
    default: float
    tuned: float | None = None
    p_value: float | None = None
    trial: int | None = None


def decide(
    default: list[BlockScore],
    best: list[BlockScore] | None,
    confidence: float,
    horizon: int,
    *,
    trial: int | None = None,
    same_as_default: bool = False,
    pruned: int = 0,
) -> Decision:
    """Keep the best trial's settings only if they beat the default's on the blocks with
    ``confidence`` (see the module docstring). ``best``: the best finished trial's block scores
    (None: no trial finished; ``pruned`` of them were pruned); ``same_as_default``: its settings
    are the default's."""
    base = mean_relative(default)
    if best is None:
        why = (
            f"{pruned} pruned: none beat its anchor or the median trial on the early blocks"
            if pruned
            else "none ran"
        )
        return Decision(False, f"no trial finished ({why})", base)
    tuned = mean_relative(best)
    if same_as_default:
        return Decision(False, "the best settings are the default's", base, tuned, None, trial)
    if tuned >= base:
        why = (
            f"trial {trial} is no better than the default (relative MAE {tuned:.4f} vs {base:.4f})"
        )
        return Decision(False, why, base, tuned, None, trial)
    a = np.concatenate([s.losses for s in best]).astype(np.float64)
    b = np.concatenate([s.losses for s in default]).astype(np.float64)
    if a.shape != b.shape:  # the windows are the study's: a mismatch is a bug, not bad input
        raise ValueError(f"trial {trial} was scored on {a.shape} windows, the default on {b.shape}")
    zero = np.zeros((len(a), 1))
    _, p = diebold_mariano(zero, a[:, None], b[:, None], lag=horizon)
    versus = f"relative MAE {tuned:.4f} vs {base:.4f}"
    if p > 1.0 - confidence:
        return Decision(
            False,
            f"trial {trial} is not significantly better than the default ({versus}, "
            f"Diebold-Mariano p={p:.3g} > {1 - confidence:.3g})",
            base,
            tuned,
            p,
            trial,
        )
    return Decision(
        True,
        f"trial {trial} beats the default ({versus}, Diebold-Mariano p={p:.3g} <= {1 - confidence:.3g})",
        base,
        tuned,
        p,
        trial,
    )
