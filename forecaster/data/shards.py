"""Window positions for one process (rank) of a multi-device fit.

Under DDP every rank builds the same :class:`~forecaster.data.windows.WindowDataset` and draws its
own share of it. Training: each epoch every rank computes the same permutation (the seed plus the
epoch: torch's :class:`~torch.utils.data.DistributedSampler`), drops the last ``n % world``
positions and takes every ``world``-th from its rank, so the shares are disjoint, equal in size
(hence equal step counts, which DDP needs) and reshuffled each epoch. Validation: every window
exactly once across ranks, in order (rank ``r`` takes ``r, r + world, ...``), so the metrics summed
over ranks are the full split's.

One process (``world == 1``) never comes here: its loaders stay as they always were.
"""

from __future__ import annotations

from collections.abc import Iterator

from torch.utils.data import BatchSampler, Dataset, DistributedSampler, Sampler

from forecaster.errors import DataError


class EpochBatchSampler(BatchSampler):
    """A :class:`BatchSampler` that passes ``set_epoch`` on to its sampler.

    Lightning calls ``set_epoch`` on a loader's sampler before each epoch; the loaders here hand a
    whole batch sampler to ``DataLoader(sampler=...)``, so the call has to reach the sampler inside.
    """

    def set_epoch(self, epoch: int) -> None:
        set_epoch = getattr(self.sampler, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)


class StridedSampler(Sampler[int]):
    """Positions ``rank, rank + world, ...`` below ``n``, in order: one rank's validation share."""

    def __init__(self, n: int, rank: int, world: int):
        self.n, self.rank, self.world = n, rank, world

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.n, self.world))

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world))


def shard_sampler(
    ds: Dataset, split: str, *, shuffle: bool, seed: int, rank: int, world: int
) -> Sampler[int]:
    """The positions of ``ds`` that rank ``rank`` of ``world`` draws (see the module docstring).

    A one-line DataError when the split has fewer windows than there are processes: a rank with
    nothing to do would leave the others waiting for it.
    """
    n = len(ds)
    if n < world:
        raise DataError(
            f"the {split} split has {n} windows, fewer than the {world} processes of this fit — "
            "train on fewer devices (train.devices, train.num_nodes) or on a longer series"
        )
    if shuffle:
        return DistributedSampler(
            ds, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
    return StridedSampler(n, rank, world)
