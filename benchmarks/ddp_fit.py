"""A multi-process DDP fit on the CPU that records what each process (rank) trained on.

    .venv/bin/python benchmarks/ddp_fit.py --out /tmp/ddp --csv aapl.csv [--devices 2 --epochs 2]

Runs ``api.fit`` (the same call as ``forecast fit``) with ``train.strategy: ddp`` on ``--devices``
CPU processes (gloo). Lightning starts this script once more per extra device; every rank writes
``<out>/rank<r>.json``: the window positions it drew in each epoch (read from its own batch
sampler at the start of the epoch, after Lightning set the epoch), the validation MAE after each
validation, the number of training batches, and the version it saved (rank 0 only). Used by
``tests/test_distributed.py`` and ``benchmarks/bench_executors.py``; the data root is
``$FORECASTER_HOME``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

TINY = {
    "data.target": "close",
    "model.lookback": 20,
    "model.horizon": 5,
    "model.hidden_size": 8,
    "model.num_layers": 1,
    "train.batch_size": 64,
    "train.logger": "none",
    "train.progress_bar": False,
    "train.accelerator": "cpu",
    "train.strategy": "ddp",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--csv", required=True)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()

    from lightning.pytorch.callbacks import Callback

    from forecaster import api

    class Record(Callback):
        def __init__(self) -> None:
            self.epochs: list[list[int]] = []
            self.val_mae: list[float] = []
            self.batches: list[int] = []

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            drawn = list(trainer.train_dataloader.sampler)  # this rank's batches, this epoch
            self.epochs.append([int(p) for batch in drawn for p in batch])
            self.batches.append(len(drawn))

        def on_validation_end(self, trainer, pl_module) -> None:
            self.val_mae.append(float(trainer.callback_metrics["val_mae"]))

    record = Record()
    overrides = TINY | {"train.devices": args.devices, "train.max_epochs": args.epochs}
    cfg = api.make_config(csv=args.csv, overrides=overrides)
    result = api.fit(cfg, promote="always", callbacks=[record])
    meta = result.model.meta
    payload = {
        "rank": result.rank,
        "pid": os.getpid(),
        "world_size": (meta.distributed or {}).get("world_size", 1),
        "train_windows": meta.splits["train"].windows,
        "epochs": record.epochs,
        "batches": record.batches,
        "val_mae": record.val_mae,
        "best_epoch": meta.best_epoch,
        "version": result.version.version if result.version else None,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"rank{result.rank}.json").write_text(json.dumps(payload), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
