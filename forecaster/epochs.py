"""How many batches one training epoch reads: one rule for the fit's Trainer and the serving run.

An epoch is the windows of the largest member (for one series: all of its windows), drawn at
random; a series with many windows at stride 1 reads a fresh random share ``1/k`` of them each
epoch (a random window stride per epoch), so validation, early stopping and the learning-rate schedule look in
about every :data:`EPOCH_WINDOWS` windows however long the series is. Over the epochs every window
is still drawn. ``train.limit_train_batches`` overrides the rule.
"""

from __future__ import annotations

import math

from forecaster.config import TrainConfig

EPOCH_WINDOWS = 1536
"""About how many training windows an epoch reads at most (12 batches of 128). Measured on a
year of hourly CSV data (benchmarks/README.md, "Fit time"); daily series up to about 2,300
training windows (9 years) read all of theirs."""


def epoch_share(largest: int, stride: int = 1) -> int:
    """``k``: an epoch reads ``1/k`` of the windows, ``largest`` being the training windows of
    the largest member (k = the nearest whole number to ``largest / EPOCH_WINDOWS``, at least 1).
    A config that strides its windows (``train.stride`` > 1, e.g. the hourly weather's 2) has
    chosen its windows: 1."""
    return 1 if stride > 1 else max(1, round(largest / EPOCH_WINDOWS))


def batches_per_epoch(largest: int, total: int, t: TrainConfig, share: int = 1) -> int:
    """Batches in one epoch of a dataset of ``total`` batches whose largest member has ``largest``
    windows: ``train.limit_train_batches`` (a count, or a share of ``total``), else ``1/share`` of
    the largest member's batches; at least 1, at most ``total``."""
    limit = t.limit_train_batches
    if isinstance(limit, float):
        return max(1, min(total, int(limit * total)))
    if limit is not None:
        return max(1, min(total, int(limit)))
    return max(1, min(total, math.ceil(largest / share / t.batch_size)))
