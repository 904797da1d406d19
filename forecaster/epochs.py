"""How many batches one training epoch reads: one rule for the fit's Trainer and the serving run.

An epoch is the windows of the largest member (for one series: all of its windows), drawn at
random. ``train.limit_train_batches`` overrides the rule.
"""

from __future__ import annotations

import math

from forecaster.config import TrainConfig


def batches_per_epoch(largest: int, total: int, t: TrainConfig) -> int:
    """Batches in one epoch of a dataset of ``total`` batches whose largest member has ``largest``
    windows: ``train.limit_train_batches`` (a count, or a share of ``total``), else the largest
    member's batches; at least 1, at most ``total``."""
    limit = t.limit_train_batches
    if isinstance(limit, float):
        return max(1, min(total, int(limit * total)))
    if limit is not None:
        return max(1, min(total, int(limit)))
    return max(1, min(total, math.ceil(largest / t.batch_size)))
