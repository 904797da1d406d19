"""The served weights: the fit's choices (anchor, epochs, learning rates, blend) trained through the last row.

A fit chooses on train/validation and is scored on validation and test (the *procedure*). The
weights it saves for serving (``model.pt``, what ``predict`` and the nightly job serve) then learn
from every row up to the end of the data with those choices; the procedure's weights are kept
beside them (``procedure.pt``) for every evaluation. How (:class:`~forecaster.meta.ServeMethod`):

* ``retrain``: a fresh network trained on the windows of every row for the procedure's best
  number of epochs (as many passes over the windows, so more optimiser steps than the procedure
  took), replaying the learning rate each epoch had;
* ``finetune``: the procedure's weights trained further on the windows whose forecasts lie after
  its training split (the rows it never trained on), at the learning rate of its best epoch, as
  many passes as its best epoch (one after a warm start that no trained epoch beat);
* ``anchor``: a model that ended as its anchor forecasts without learned weights: nothing to train;
* ``procedure``: the procedure's weights as they are (no validated epoch to repeat; the other
  ranks of a multi-device fit, which never save).

Which of retrain and fine-tune serves by default was measured (``benchmarks/README.md``,
"Serving through the last row"); :data:`DEFAULT_METHOD` says which.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from forecaster.config import Config, TrainConfig
from forecaster.data.splits import window_starts
from forecaster.data.windows import WindowDataModule, WindowDataset, batch_loader
from forecaster.epochs import batches_per_epoch, epoch_share
from forecaster.fitted import FittedModel, module_for
from forecaster.loop import cpu_threads, quiet_and_threaded
from forecaster.meta import ServedMeta, ServeMethod

DEFAULT_METHOD = ServeMethod.RETRAIN
"""How the served weights are made when the fit trained a correction (see the module docstring)."""


@dataclass(frozen=True)
class Procedure:
    """What the served weights repeat of the fit: its best epoch (None: none validated), the
    learning rate of each trained epoch (``lrs[e]``: epoch ``e + 1``), whether it warm-started,
    its precision, this process's rank, and whether the kept model is its anchor."""

    best_epoch: int | None
    lrs: tuple[float, ...]
    warm: bool
    precision: str
    rank: int
    is_anchor: bool

    @classmethod
    def from_history(cls, history: Sequence[dict], best_epoch: int | None, **rest) -> Procedure:
        """From the fit's epoch history (epoch 0 first; trained epochs carry ``lr``)."""
        lrs = tuple(float(row["lr"]) for row in history[1:] if "lr" in row)
        return cls(best_epoch=best_epoch, lrs=lrs, **rest)


def choose_method(proc: Procedure, wanted: ServeMethod | None) -> tuple[ServeMethod, str]:
    """How to make the served weights, and why (pure). ``wanted``: the caller's method (None:
    :data:`DEFAULT_METHOD`); it applies only when the fit kept a trained correction."""
    if proc.rank > 0:
        return ServeMethod.PROCEDURE, "a secondary process of a multi-device fit (never saves)"
    if proc.is_anchor:
        return ServeMethod.ANCHOR, "the model is its anchor: its forecast needs no trained weights"
    if proc.best_epoch is None:
        return ServeMethod.PROCEDURE, "no validated epoch (fast_dev_run, or max_steps ended first)"
    if wanted == ServeMethod.PROCEDURE:
        return ServeMethod.PROCEDURE, "the procedure's weights, as asked"
    if proc.best_epoch == 0 or not proc.lrs:  # a warm start that no trained epoch beat
        return ServeMethod.FINETUNE, "the warm start won on validation: fine-tuned on the new rows"
    method = wanted or DEFAULT_METHOD
    epochs = proc.best_epoch
    if method == ServeMethod.RETRAIN:
        return method, f"retrained on every row for the {epochs} epoch(s) validation chose"
    return method, f"fine-tuned on the rows after the training split ({epochs} pass(es))"


@dataclass(frozen=True)
class Recipe:
    """One serving run: start ``fresh`` or from the procedure's weights; train on every window
    whose origin is at or after ``first_origin[i]`` (a row of member ``i``) for ``steps``
    optimiser steps, ``per_epoch`` batches an epoch; the learning rate of step ``s`` is
    ``lrs[s * len(lrs) // steps]`` (the procedure's schedule, stretched over the run)."""

    fresh: bool
    first_origin: tuple[int, ...]
    steps: int
    per_epoch: int
    lrs: tuple[float, ...]

    def lr(self, step: int) -> float:
        return self.lrs[min(len(self.lrs) - 1, step * len(self.lrs) // max(1, self.steps))]


def recipe(method: ServeMethod, proc: Procedure, dm: WindowDataModule, cfg: Config) -> Recipe:
    """The run that makes the served weights by ``method`` (retrain or finetune) on ``dm``."""
    t, L = cfg.train, dm.lookback
    if method == ServeMethod.RETRAIN:
        first = tuple(L for _ in dm.bounds)
    else:
        first = tuple(max(L, b["train"][1]) for b in dm.bounds)
    counts = _counts(dm, first, t.stride)
    share = epoch_share(
        max(dm.counts["train"]), t.stride
    )  # the procedure's: as big a share an epoch
    per_epoch = batches_per_epoch(max(counts), math.ceil(sum(counts) / t.batch_size), t, share)
    if method == ServeMethod.RETRAIN:
        # as many epochs as the procedure's best: as many passes over the (now more) windows
        lrs = proc.lrs[: proc.best_epoch]
        return Recipe(True, first, proc.best_epoch * per_epoch, per_epoch, lrs)
    passes = max(1, proc.best_epoch or 0)
    lr = proc.lrs[proc.best_epoch - 1] if proc.best_epoch else t.learning_rate
    return Recipe(False, first, passes * per_epoch, per_epoch, (lr,))


def _counts(dm: WindowDataModule, first: Sequence[int], stride: int) -> list[int]:
    L, H = dm.lookback, dm.horizon
    return [
        len(window_starts(lo - L, len(s), L + H, stride))
        for s, lo in zip(dm.members, first, strict=True)
    ]


def serve(
    fitted: FittedModel,
    dm: WindowDataModule,
    cfg: Config,
    proc: Procedure,
    wanted: ServeMethod | None = None,
) -> ServedMeta:
    """Make ``fitted``'s served weights (see the module docstring); keep the procedure's in
    ``fitted.procedure_state``. Returns the record for ``meta.served``. The blend the fit chose
    is kept; a serving run whose weights are not finite is dropped (the procedure's weights
    serve, and the record says so)."""
    method, reason = choose_method(proc, wanted)
    if method in (ServeMethod.ANCHOR, ServeMethod.PROCEDURE):
        return _record(dm, method, reason, through_end=method == ServeMethod.ANCHOR)
    plan = recipe(method, proc, dm, cfg)
    started = time.perf_counter()
    procedure = {k: v.detach().clone() for k, v in fitted.module.state_dict().items()}
    torch.manual_seed(cfg.train.seed)  # the fresh weights and the dropout: the same every time
    module = module_for(fitted.config, dm.spec)
    if not plan.fresh:
        module.load_state_dict(procedure)
    module.blend.fill_(1.0)  # train the whole correction, as the procedure did
    data = _dataset(dm, plan.first_origin, cfg.train.stride)
    generator = torch.Generator().manual_seed(cfg.train.seed)
    loader = batch_loader(data, cfg.train.batch_size, generator)
    with quiet_and_threaded(cpu_threads()):
        _train(module, loader, plan, cfg.train, proc.precision)
    module = module.cpu().eval()
    module.blend.copy_(procedure["blend"])
    if not all(torch.isfinite(p).all() for p in module.parameters()):
        why = f"{method.value} diverged (non-finite weights): the procedure's weights serve"
        return _record(dm, ServeMethod.PROCEDURE, why, through_end=False)
    fitted.module, fitted.procedure_state = module, procedure
    return _record(
        dm,
        method,
        reason,
        through_end=True,
        epochs=round(plan.steps / plan.per_epoch, 2),
        steps=plan.steps,
        windows=len(data),
        seconds=round(time.perf_counter() - started, 2),
    )


def _dataset(dm: WindowDataModule, first_origin: Sequence[int], stride: int) -> WindowDataset:
    """The windows of every member whose origin is at or after ``first_origin[i]``, ``stride``
    apart, over the datamodule's feature tensor (all rows, features by the fit's spec)."""
    L, H = dm.lookback, dm.horizon
    per_member = [
        window_starts(lo - L, len(s), L + H, stride) + dm.offsets[i]
        for i, (s, lo) in enumerate(zip(dm.members, first_origin, strict=True))
    ]
    members = np.repeat(np.arange(len(per_member)), [len(p) for p in per_member])
    return WindowDataset(
        dm.data, np.concatenate(per_member), L, H, members, dm.with_member, dm.spec.n_known
    )


def _train(module, loader, plan: Recipe, t: TrainConfig, precision: str) -> None:
    """``plan.steps`` AdamW steps on ``loader``'s shuffled batches, ``plan.per_epoch`` to an
    epoch, the gradient clipped as the fit's Trainer clips it, on the fit's device and precision."""
    device = _device(t.accelerator)
    module.to(device).train()
    opt = torch.optim.AdamW(
        module.parameters(), lr=plan.lr(0), weight_decay=module.hparams.weight_decay
    )
    half = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "16-mixed")
    step = 0
    while step < plan.steps:
        for i, batch in enumerate(loader):
            if step >= plan.steps or i >= plan.per_epoch:
                break
            for group in opt.param_groups:
                group["lr"] = plan.lr(step)
            batch = [part.to(device) for part in batch]
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=half, enabled=half is not None):
                loss, _, _ = module._loss(batch)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(module.parameters(), t.gradient_clip)
            scaler.step(opt)
            scaler.update()
            step += 1


def _device(accelerator: str) -> torch.device:
    """The device the fit's Trainer trained on: a CUDA or MPS device when asked for (or ``auto``)
    and present, else the CPU."""
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    if accelerator in ("auto", "gpu", "mps") and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _record(dm: WindowDataModule, method: ServeMethod, reason: str, *, through_end: bool, **run):
    """``meta.served``: every row of every member (``through_end``), else the training split's;
    for a group the first and last stamp of any member and the rows of all."""
    spans = [
        (0, len(s)) if through_end else b["train"]
        for s, b in zip(dm.members, dm.bounds, strict=True)
    ]
    stamps = [
        (s.index[lo], s.index[hi - 1])
        for s, (lo, hi) in zip(dm.members, spans, strict=True)
        if hi > lo
    ]
    rows = sum(hi - lo for lo, hi in spans)
    start = str(min(a for a, _ in stamps)) if stamps else None
    end = str(max(b for _, b in stamps)) if stamps else None
    return ServedMeta(method=method, start=start, end=end, rows=rows, reason=reason, **run)
