"""Loop overhead: the full Lightning fit vs the bare forward + backward + optimiser step.

For each case (stocks = AAPL with configs/stocks_daily.yaml, weather = greensboro with
configs/weather_hourly.yaml; bidirectional on and off) one JSON line on stdout:

* ``loop_wps``: training windows/s of ``fit_model`` (the real SeriesDataModule, Trainer, callbacks,
  early stopping, checkpointing; progress bar and logger off) over ``steps`` optimiser steps after
  ``warmup`` steps (4 and 20). Trainer start-up is excluded (timing starts at the end of step ``warmup``) and so
  is validation: from ``on_validation_start`` to the next ``on_train_epoch_end`` (the validation
  loop, the checkpoint it triggers, early stopping); it is reported on its own (``val_s_per_pass``).
  Epoch boundaries (a new DataLoader iterator, the LR scheduler, epoch-end hooks) stay in.
* ``bare_wps``: the same module class on the same batches (pre-built by iterating the same
  DataLoader, so partial last batches match too), same batch size, same thread count
  (``fit_model``'s), same gradient clipping: ``zero_grad; loss = _loss(batch); backward;
  clip_grad_norm_; step``, nothing else.
* ``overhead_pct`` = (bare_wps / loop_wps - 1) * 100, from the medians of ``repeats`` alternating
  runs (bare, loop, bare, loop, ...), so a burst of load from another job hits both alike.

``--device cuda`` runs the same comparison on a GPU (cuDNN GRU, bf16-mixed where supported, else
16-mixed with a GradScaler, pinned host batches copied with ``non_blocking``).

    .venv/bin/python benchmarks/bench_loop.py            # 4 cases + the as-shipped variant
    .venv/bin/python benchmarks/bench_loop.py --quick    # a smoke run (seconds, noisy)
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import time
from typing import Any

import lightning.pytorch as pl
import torch
from _common import emit, load, machine, note, quiet_lightning, real_case
from lightning.pytorch.callbacks import Callback

from forecaster.config import override
from forecaster.data.windows import SeriesDataModule
from forecaster.fitted import build_module
from forecaster.loop import cpu_threads, resolve_precision
from forecaster.training import fit_model


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


class LoopTimer(Callback):
    """Times optimiser steps ``warmup + 1 .. warmup + steps`` of a fit, validation excluded."""

    def __init__(self, warmup: int, steps: int, device: str):
        self.warmup, self.steps, self.device = warmup, steps, device
        self.called = time.perf_counter()
        self.first_batch: float | None = None
        self.t0: float | None = None
        self.t1: float | None = None
        self.windows = 0
        self.val_start: float | None = None
        self.val_s: list[float] = []  # validation passes inside the timed span

    def _timing(self) -> bool:
        return self.t0 is not None and self.t1 is None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.first_batch is None:
            self.first_batch = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step  # already counts this batch's optimiser step
        if step == self.warmup:
            _sync(self.device)
            self.t0 = time.perf_counter()
        elif self._timing():
            self.windows += len(batch[0])
            if step == self.warmup + self.steps:
                _sync(self.device)
                self.t1 = time.perf_counter()

    def on_validation_start(self, trainer, pl_module) -> None:
        if self._timing():
            _sync(self.device)
            self.val_start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.val_start is not None:
            _sync(self.device)
            self.val_s.append(time.perf_counter() - self.val_start)
            self.val_start = None


def run_loop(series, cfg, warmup: int, steps: int, device: str) -> dict[str, float]:
    timer = LoopTimer(warmup, steps, device)
    fit_model(series, cfg, callbacks=[timer])
    assert timer.t0 is not None and timer.t1 is not None, "the fit stopped before the timed steps"
    span = timer.t1 - timer.t0
    val = sum(timer.val_s)
    return {
        "wps": timer.windows / (span - val),
        "wps_incl_val": timer.windows / span,
        "windows": timer.windows,
        "startup_s": timer.first_batch - timer.called,
        "val_passes": len(timer.val_s),
        "val_s_per_pass": val / len(timer.val_s) if timer.val_s else 0.0,
    }


def prebuilt_batches(series, cfg, n: int, device: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``n`` training batches exactly as the fit's DataLoader yields them (same seed)."""
    pl.seed_everything(cfg.train.seed, workers=True, verbose=False)
    dm = SeriesDataModule(series, cfg)
    dm.setup("fit")
    out: list[tuple[torch.Tensor, torch.Tensor]] = []
    while len(out) < n:
        for x, y in dm.train_dataloader():
            if device == "cuda":
                x, y = x.pin_memory(), y.pin_memory()
            out.append((x, y))
            if len(out) == n:
                break
    return out


def run_bare(series, cfg, batches, warmup: int, device: str, precision: str) -> dict[str, float]:
    pl.seed_everything(cfg.train.seed, workers=True, verbose=False)
    n_features = batches[0][0].shape[-1]
    module = build_module(cfg, n_features).to(device).train()
    opt = module.configure_optimizers()["optimizer"]
    clip = cfg.train.gradient_clip
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler("cuda") if precision == "16-mixed" else None
    old_threads = torch.get_num_threads()
    torch.set_num_threads(cpu_threads())  # what fit_model uses
    windows, t0 = 0, 0.0
    try:
        for i, (x, y) in enumerate(batches):
            if i == warmup:
                _sync(device)
                t0 = time.perf_counter()
            if i >= warmup:
                windows += len(x)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            ctx = torch.autocast(device, dtype=dtype) if dtype else contextlib.nullcontext()
            with ctx:
                loss = module._loss((x, y))[0]
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(module.parameters(), clip)
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                torch.nn.utils.clip_grad_norm_(module.parameters(), clip)
                opt.step()
        _sync(device)
    finally:
        torch.set_num_threads(old_threads)
    return {"wps": windows / (time.perf_counter() - t0), "windows": windows}


def bench_case(case: str, bidirectional: bool, args, variant: str = "bare-loop") -> dict[str, Any]:
    accelerator = "gpu" if args.device == "cuda" else "cpu"
    shipped = variant == "as-shipped"
    series, cfg = real_case(
        case,
        {
            "model.bidirectional": bidirectional,
            "train.accelerator": accelerator,
            "train.max_epochs": 10_000,  # max_steps ends the fit
            "train.logger": "csv" if shipped else "none",
            "train.progress_bar": shipped,
        },
    )
    # End the fit on an epoch boundary: a fit that hits max_steps mid-epoch skips validation and
    # EarlyStopping then raises (val_loss missing). Steps past warmup + steps are not timed.
    dm = SeriesDataModule(series, cfg)
    dm.setup("fit")
    per_epoch = math.ceil(len(dm.datasets["train"]) / cfg.train.batch_size)
    if args.quick:  # one short epoch: no epoch boundary inside the timed steps
        per_epoch = args.warmup + args.steps
        cfg = override(cfg, {"train.limit_train_batches": per_epoch}, origin="bench_loop")
    epochs = math.ceil((args.warmup + args.steps) / per_epoch)
    cfg = override(cfg, {"train.max_steps": epochs * per_epoch}, origin="bench_loop")
    precision = resolve_precision(cfg.train.precision, accelerator)
    batches = prebuilt_batches(series, cfg, args.warmup + args.steps, args.device)
    bare, loop = [], []
    for _ in range(args.repeats):
        bare.append(run_bare(series, cfg, batches, args.warmup, args.device, precision))
        loop.append(run_loop(series, cfg, args.warmup, args.steps, args.device))
    bare_wps = statistics.median(r["wps"] for r in bare)
    loop_wps = statistics.median(r["wps"] for r in loop)
    return {
        "bench": "loop",
        "case": case,
        "variant": variant,
        "bidirectional": bidirectional,
        "device": args.device,
        "precision": precision,
        "threads": cpu_threads(),
        "batch_size": cfg.train.batch_size,
        "lookback": cfg.model.lookback,
        "hidden_size": cfg.model.hidden_size,
        "warmup_steps": args.warmup,
        "steps": args.steps,
        "repeats": args.repeats,
        "bare_wps": round(bare_wps, 1),
        "loop_wps": round(loop_wps, 1),
        "overhead_pct": round((bare_wps / loop_wps - 1) * 100, 1),
        "bare_wps_all": [round(r["wps"], 1) for r in bare],
        "loop_wps_all": [round(r["wps"], 1) for r in loop],
        "loop_wps_incl_val": round(statistics.median(r["wps_incl_val"] for r in loop), 1),
        "val_s_per_pass": round(statistics.median(r["val_s_per_pass"] for r in loop), 3),
        "trainer_startup_s": round(statistics.median(r["startup_s"] for r in loop), 3),
        "load": load(),
    }


def prime_allocator() -> None:
    """Allocate and free 30 MB once (glibc raises its dynamic mmap threshold to a freed mmapped block
    of up to 32 MB), so the threshold starts near its maximum.

    Until a large block is freed, glibc serves every allocation over 128 KB with a fresh mmap and
    page-faults it in; a GRU step allocates several MB of activations. Whichever side ran after the
    process's first large free (e.g. a validation pass) was up to ~20% faster, which made the bare
    step look slower than the full loop. Priming gives both sides the same allocator state.
    """
    block = torch.empty(30 * 2**20, dtype=torch.uint8)
    block.fill_(0)
    del block


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few steps, one repeat (a smoke run)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--cases", nargs="+", default=["stocks", "weather"])
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here")
    args.warmup, args.steps, args.repeats = (2, 6, 1) if args.quick else (4, 20, 3)
    quiet_lightning()
    prime_allocator()
    note(f"machine: {machine()}")
    for case in args.cases:
        for bidirectional in (True, False):
            emit(bench_case(case, bidirectional, args))
    if not args.quick and "stocks" in args.cases:
        # What `forecast fit` runs by default: CSV logger and progress bar on.
        emit(bench_case("stocks", True, args, variant="as-shipped"))


if __name__ == "__main__":
    main()
