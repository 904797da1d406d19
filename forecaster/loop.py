"""The Lightning loop as a fit uses it: Trainer set-up, callbacks and the workarounds it needs.

Quiet logs and a sane thread count for the duration of a fit, a progress bar only on terminals,
epoch 0 and the best epoch kept in memory (:class:`KeepBest`), the epoch history for ``meta.json``,
a check that every DDP process loaded the same data, and Ctrl+C as ``KeyboardInterrupt`` rather than
Lightning's ``sys.exit(1)``. What is trained and what is shipped is :mod:`forecaster.training`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import signal
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback, TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm

from forecaster.errors import ConfigError, DataError
from forecaster.executors import cores

MAX_THREADS = 4
"""A GRU steps through time in small matrix products: extra intra-op threads mostly spin and contend
(on 2 cores, 1 thread trained AAPL faster than 2, with half the CPU time)."""


def resolve_precision(precision: str, accelerator: str) -> str:
    """``auto``: bf16-mixed on a CUDA GPU that supports it, else 16-mixed on CUDA, 32-true on the CPU."""
    on_gpu = torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda")
    if precision == "auto":
        if on_gpu:
            return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
        return "32-true"
    if precision == "16-mixed" and not on_gpu:
        raise ConfigError(
            "train.precision=16-mixed needs a CUDA GPU — use 32-true (or bf16-mixed) on the CPU"
        )
    return precision


def make_logger(kind: str, save_dir: Path):
    if kind == "none":
        return False
    if kind == "tensorboard":
        if (
            importlib.util.find_spec("tensorboard") is None
            and importlib.util.find_spec("tensorboardX") is None
        ):
            raise ConfigError(
                "train.logger=tensorboard needs TensorBoard — pip install 'forecaster[tensorboard]' "
                "or set train.logger to csv"
            )
        from lightning.pytorch.loggers import TensorBoardLogger

        return TensorBoardLogger(save_dir=str(save_dir), name="logs", default_hp_metric=False)
    from lightning.pytorch.loggers import CSVLogger

    return CSVLogger(save_dir=str(save_dir), name="logs")


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Use ``threads`` CPU threads for torch's operations inside the block (then as before).

    Forecasting needs it as much as training: on a shared 2-core box torch's default of 2
    threads made the fit's forecast of its validation and test windows 5-20x slower than 1 thread
    (their threads spin while waiting for each other; benchmarks/README.md, "Fit time")."""
    old_threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        yield
    finally:
        torch.set_num_threads(old_threads)


@contextlib.contextmanager
def quiet_and_threaded(threads: int) -> Iterator[None]:
    """Mute Lightning's banners and hints for the duration of a fit; use ``threads`` CPU threads."""
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.WARNING)
        with torch_threads(threads), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=r".*smaller than the logging interval.*")
            warnings.filterwarnings("ignore", message=r".*GPU available but not used.*")
            warnings.filterwarnings("ignore", message=r".*pin_memory.*")
            warnings.filterwarnings("ignore", message=r".*LeafSpec.*")  # Lightning vs newer torch
            # val_mae/val_rmse are summed over the processes before they are logged (see gru)
            warnings.filterwarnings("ignore", message=r".*when logging on epoch level in distr.*")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def cpu_threads() -> int:
    """Half the usable logical cores (about one per physical core), at most MAX_THREADS, and never
    more than torch is set to use (a nightly worker sharing the machine sets its share)."""
    return max(1, min(cores() // 2, MAX_THREADS, torch.get_num_threads()))


class EpochBar(TQDMProgressBar):
    """TQDM (never Rich, whatever is installed): one bar per epoch, no bar for the short validation."""

    def init_validation_tqdm(self) -> Tqdm:
        return Tqdm(disable=True)

    def get_metrics(self, trainer, pl_module):
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        return items


class History(Callback):
    """Epoch-level metrics (train_loss, val_loss, val_mae, val_rmse) and the learning rate each
    epoch trained with (``lr``: what a serving retrain replays), kept in memory for meta.json."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []
        self._lr: float | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._lr = (
            float(trainer.optimizers[0].param_groups[0]["lr"]) if trainer.optimizers else None
        )

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        row = epoch_row(trainer.current_epoch + 1, trainer.callback_metrics)
        if self._lr is not None:
            row["lr"] = self._lr
        self.epochs.append(row)


def epoch_row(epoch: int, metrics: dict[str, Any]) -> dict[str, float]:
    row: dict[str, float] = {"epoch": epoch}
    for key in ("train_loss", "val_loss", "val_mae", "val_rmse"):
        if key in metrics:
            row[key] = round(float(metrics[key]), 6)
    return row


class KeepBest(Callback):
    """The weights of the epoch with the lowest ``val_mae`` (units), kept in memory.

    Armed with the score and weights of the model *before* training (epoch 0: the anchor, or the
    warm start), so a training run that never beats its starting point returns the starting point.
    """

    def __init__(self) -> None:
        self.score = float("inf")
        self.epoch: int | None = None
        self.state: dict[str, torch.Tensor] | None = None
        self.validated = False  # did any validation run after training started?

    def arm(self, score: float, module: pl.LightningModule) -> None:
        self.score, self.epoch, self.state = score, 0, _copy_state(module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.state is None or trainer.sanity_checking or trainer.state.fn != "fit":
            return
        self.validated = True
        score = float(trainer.callback_metrics.get("val_mae", float("nan")))
        if score < self.score:  # NaN never wins
            self.score, self.epoch = score, trainer.current_epoch + 1
            self.state = _copy_state(pl_module)


class SameData(Callback):
    """Under DDP, stop before training unless every process built the same windows.

    Each process of a multi-device fit loads its series itself (Lightning runs the command once per
    device); a source that moved on between two loads would give the processes different window
    counts, and DDP would wait forever for the steps one of them never takes.
    """

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        dm = trainer.datamodule
        if trainer.world_size == 1 or dm is None or dm.data is None:
            return
        mine = hashlib.sha256(dm.data.numpy().tobytes()).hexdigest()
        first = trainer.strategy.broadcast(mine, src=0)
        if not trainer.strategy.reduce_boolean_decision(mine == first, all=True):
            raise DataError(
                f"the {trainer.world_size} processes of this multi-device fit loaded different data "
                "(the source changed between their loads, or the nodes have different data roots) "
                "— put the data root on storage every node shares, or fit with --offline"
            )


def global_rank() -> int:
    """This process's rank in a multi-device fit (as Lightning set it), 0 without one. The extra
    processes (ranks > 0) train the same weights as rank 0 and never save."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return int(getattr(rank_zero_only, "rank", 0) or 0)


def make_trainer(kwargs: dict[str, Any]) -> pl.Trainer:
    """``pl.Trainer(**kwargs)``; a device set-up Lightning refuses is one line (a ConfigError)."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    try:
        return pl.Trainer(**kwargs)
    except MisconfigurationException as exc:
        first = " ".join(str(exc).split())[:300]
        raise ConfigError(
            f"cannot train with accelerator={kwargs['accelerator']}, devices={kwargs['devices']}, "
            f"num_nodes={kwargs['num_nodes']}, strategy={kwargs['strategy']} ({first}) — change "
            "train.accelerator/devices/num_nodes/strategy (one device: devices 1, strategy auto)"
        ) from None


def join_launched(trainer: pl.Trainer) -> None:
    """Rank 0 of a DDP fit returns when the processes it launched have finished too, so the
    command ends when the fit does (they only train and never save; see api.fit)."""
    for proc in getattr(trainer.strategy.launcher, "procs", None) or []:
        proc.wait()


def _copy_state(module: pl.LightningModule) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def run_interruptible(run: Callable[[], Any], trainer: pl.Trainer) -> Any:
    """``run()`` (a Trainer call), but Ctrl+C raises KeyboardInterrupt (Lightning would ``sys.exit(1)``)."""
    handler = signal.getsignal(signal.SIGINT)
    try:
        return run()
    except SystemExit:
        if not trainer.interrupted:
            raise
        if handler is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, handler)  # Lightning left Ctrl+C ignored
        raise KeyboardInterrupt from None
