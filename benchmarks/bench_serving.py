"""Which served weights forecast the rows no fit has seen best: the procedure's, retrained, fine-tuned.

For each case and seed, offline: cut the series at its last 15% (the *future*), fit the rest with
the default config (its own 70/15/15 split; the procedure), then make the served weights several
ways from that one procedure and score each on every origin of the future (stride: the config's
backtest stride), MAE in the target's units. The variants (see :mod:`forecaster.served`):

* ``procedure``: the weights the fit evaluated (no serving run);
* ``retrain``: fresh weights, the procedure's best number of epochs over the windows of every row
  (as many passes, more steps), the learning rates replayed -- what ``fit`` ships;
* ``retrain_steps``: the same, but only as many optimiser steps as the procedure took;
* ``finetune_new``: the procedure's weights, as many passes as its best epoch over the windows
  after its training split, at its best epoch's learning rate; ``finetune_new_1``: one pass;
* ``finetune_all_1``: the procedure's weights, one pass over the windows of every row.

A model that ended as its anchor is skipped (its served forecast is its anchor). One JSON line per
case and seed on stdout, with ``load``.

    .venv/bin/python benchmarks/bench_serving.py                       # seattle, ar2, greensboro; seed 42
    .venv/bin/python benchmarks/bench_serving.py --seeds 42,7 --variants retrain,finetune_all_1
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import emit, load, machine, note, quiet_lightning
from bench_quality import case_config

from forecaster import served
from forecaster.data.loader import load_series
from forecaster.data.splits import first_test_row
from forecaster.data.windows import WindowDataModule
from forecaster.epochs import batches_per_epoch
from forecaster.meta import ServeMethod
from forecaster.training import fit_model

SHIPPED = served.recipe


def _retrain_steps(method, proc, dm, cfg):
    """As many optimiser steps as the procedure took to its best epoch (epochs of its size)."""
    plan = SHIPPED(method, proc, dm, cfg)
    train, t = dm.counts["train"], cfg.train
    per_epoch = batches_per_epoch(max(train), math.ceil(sum(train) / t.batch_size), t)
    return served.Recipe(True, plan.first_origin, proc.best_epoch * per_epoch, per_epoch, plan.lrs)


def _one_pass(method, proc, dm, cfg):
    plan = SHIPPED(method, proc, dm, cfg)
    return served.Recipe(False, plan.first_origin, plan.per_epoch, plan.per_epoch, plan.lrs)


def _all_rows_one_pass(method, proc, dm, cfg):
    plan = SHIPPED(ServeMethod.RETRAIN, proc, dm, cfg)
    lr = proc.lrs[proc.best_epoch - 1]
    return served.Recipe(False, plan.first_origin, plan.per_epoch, plan.per_epoch, (lr,))


VARIANTS = {
    "retrain": (ServeMethod.RETRAIN, SHIPPED),
    "retrain_steps": (ServeMethod.RETRAIN, _retrain_steps),
    "finetune_new": (ServeMethod.FINETUNE, SHIPPED),
    "finetune_new_1": (ServeMethod.FINETUNE, _one_pass),
    "finetune_all_1": (ServeMethod.RETRAIN, _all_rows_one_pass),
}


def run(name: str, seed: int, variants: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-serving-{name}-") as tmp:
        os.environ["FORECASTER_HOME"] = str(Path(tmp) / "home")
        over = {"train.seed": seed, "train.logger": "none"}
        cfg = case_config(name, Path(tmp), False, over)
        full = load_series(cfg.data)
    cut = first_test_row(full.index, 0.15)
    past = full.with_frame(full.frame.iloc[:cut])
    procedure = fit_model(past, cfg, serve_by=ServeMethod.PROCEDURE)
    H = procedure.horizon
    origins = np.arange(cut, len(full) - H + 1, max(1, cfg.backtest.stride))
    actual = np.stack([full.values[o : o + H] for o in origins])

    def mae(model) -> float:
        return round(float(np.abs(model.predict_origins(full, origins) - actual).mean()), 4)

    meta = procedure.meta
    row = {"case": name, "seed": seed, "best_epoch": meta.best_epoch, "blend": meta.anchor.blend}
    row |= {"future_origins": len(origins), "procedure": mae(procedure)}
    if meta.anchor.is_anchor:
        return row | {"note": "the model is its anchor: nothing to serve", "load": load()}
    dm = WindowDataModule(past, procedure.config, spec=procedure.spec)
    dm.setup()
    proc = served.Procedure.from_history(
        meta.history, meta.best_epoch, warm=False, precision="32-true", rank=0, is_anchor=False
    )
    for variant in variants:
        method, make = VARIANTS[variant]
        model = copy.deepcopy(procedure)
        served.recipe = make
        t0 = time.perf_counter()
        try:
            record = served.serve(model, dm, procedure.config, proc, method)
        finally:
            served.recipe = SHIPPED
        row[variant] = mae(model)
        row[f"{variant}_seconds"] = round(time.perf_counter() - t0, 1)
        row[f"{variant}_steps"] = record.steps
    return row | {"load": load()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="seattle,ar2,greensboro")
    parser.add_argument("--seeds", default="42")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"from {list(VARIANTS)}")
    args = parser.parse_args()
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}")
    quiet_lightning()
    note(f"machine: {machine()}")
    for seed in (int(s) for s in args.seeds.split(",")):
        for name in args.cases.split(","):
            note(f"{name} (seed {seed}) ...")
            emit(run(name, seed, variants))


if __name__ == "__main__":
    main()
