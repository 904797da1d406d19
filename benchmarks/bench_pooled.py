"""Pooled windows (issue 14): windows/s of the group loader vs one series, and peak RSS.

Synthetic members (default 50 of 10,000 hourly points; the starts staggered by 97 hours so the
group's time cut matters): a random-walk target plus 2 covariates, validated into canonical Series.
Each case runs in a fresh subprocess, which takes its baseline RSS after the imports and the
Series, resets the kernel's peak mark (``/proc/self/clear_refs``), then builds the DataModule
(``setup``: features, splits, window tables) and reads every training batch once (batch 128,
lookback 60, horizon 5, shuffled, as training reads them), epoch after epoch until it has read
``--min-windows`` (so one series and the group are timed over as many windows). Cases:

* ``single``: one member through :class:`~forecaster.data.windows.SeriesDataModule`;
* ``pooled``: every member through :class:`~forecaster.data.pooled.GroupDataModule` (batches of
  ``(x, y, member)``: one advanced index into one unfold view per batch);
* ``per_window``: the pooled windows read the way a per-sample Dataset does (one ``__getitem__``
  per window, then the default collate stacks 128 of them): what the one-index gather avoids.
  Only its first ``--per-window-batches`` batches are timed.

Each JSON line: windows, windows/s, setup seconds, the feature tensor's bytes, the bytes the
windows would take if materialised (windows x (L + H) x F x 4), baseline and peak RSS, and
``extra_mb`` = peak - baseline. A last ``summary`` line compares pooled with single.

    .venv/bin/python benchmarks/bench_pooled.py            # 50 members x 10,000 points
    .venv/bin/python benchmarks/bench_pooled.py --quick    # 10 members x 2,000 points
"""

from __future__ import annotations

import argparse
import json
import time

from _common import emit, load, machine, note, proc_status, reset_peak, run_child

LOOKBACK, HORIZON, BATCH = 60, 5, 128


def _members(n: int, points: int):
    import numpy as np
    import pandas as pd

    from forecaster.data.series import validate

    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        steps = rng.standard_normal((points, 3))
        frame = pd.DataFrame(
            {
                "value": 100.0 + np.cumsum(steps[:, 0]),
                "load": steps[:, 1],
                "flow": np.abs(steps[:, 2]),
            },
            index=pd.date_range("2020-01-01", periods=points, freq="h")
            + pd.Timedelta(hours=97 * i),
        )
        out.append(validate(frame, "value", freq="h", tz="UTC", source="synthetic", symbol=f"m{i}"))
    return out


def child(case: str, members: int, points: int, per_window_batches: int, min_windows: int) -> None:
    """One case, in this (fresh) process: prints one JSON line."""
    import gc

    import torch
    from forecaster.data.pooled import GroupDataModule
    from torch.utils.data import DataLoader

    from forecaster.config import Config, override
    from forecaster.data.windows import SeriesDataModule

    torch.set_num_threads(1)
    series = _members(1 if case == "single" else members, points)
    gc.collect()
    cfg = override(
        Config(),
        {"model.lookback": LOOKBACK, "model.horizon": HORIZON, "train.batch_size": BATCH},
    )
    baseline = proc_status("VmRSS")
    reset_peak()
    started = time.perf_counter()
    if case == "single":
        dm = SeriesDataModule(series[0], cfg)
    else:
        dm = GroupDataModule(series, cfg, with_member=True)
    dm.setup("fit")
    setup_s = time.perf_counter() - started
    ds = dm.datasets["train"]
    if case == "per_window":
        loader = DataLoader(
            ds, batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(0)
        )
        limit = per_window_batches
    else:
        loader = dm.train_dataloader()
        limit = None
    windows, batches, epochs = 0, 0, 0
    started = time.perf_counter()
    while windows < min_windows and (limit is None or batches < limit):  # whole epochs
        epochs += 1
        for batch in loader:
            windows += len(batch[0])
            batches += 1
            if limit is not None and batches >= limit:
                break
    seconds = time.perf_counter() - started
    peak = proc_status("VmHWM")
    n_features = dm.data.shape[1]
    print(
        json.dumps(
            {
                "case": case,
                "members": len(series),
                "points": points,
                "train_windows": len(ds),
                "windows_read": windows,
                "epochs": epochs,
                "windows_per_s": round(windows / seconds, 1),
                "setup_s": round(setup_s, 3),
                "data_mb": round(dm.data.nbytes / 2**20, 2),
                "materialised_mb": round(
                    len(ds) * (LOOKBACK + HORIZON) * n_features * 4 / 2**20, 1
                ),
                "baseline_rss_mb": round(baseline / 2**20, 1),
                "peak_rss_mb": round(peak / 2**20, 1),
                "extra_mb": round((peak - baseline) / 2**20, 1),
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 members x 2,000 points")
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--per-window-batches", type=int, default=200)
    parser.add_argument("--min-windows", type=int, default=300_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.members, args.points, args.min_windows = 10, 2_000, 30_000
    if args.child:
        child(args.child, args.members, args.points, args.per_window_batches, args.min_windows)
        return
    note(f"machine: {machine()}")
    rows = {}
    for case in ("single", "pooled", "per_window"):
        child_args = [
            "--child",
            case,
            "--members",
            str(args.members),
            "--points",
            str(args.points),
            "--per-window-batches",
            str(args.per_window_batches),
            "--min-windows",
            str(args.min_windows),
        ]
        row = {
            "bench": "pooled",
            **run_child(__file__, child_args, f"child {case}"),
            "load": load(),
        }
        emit(row)
        rows[case] = row
    single, pooled, per_window = rows["single"], rows["pooled"], rows["per_window"]
    emit(
        {
            "bench": "pooled",
            "case": "summary",
            "pooled_vs_single_windows_per_s": round(
                pooled["windows_per_s"] / single["windows_per_s"], 3
            ),
            "pooled_vs_per_window_windows_per_s": round(
                pooled["windows_per_s"] / per_window["windows_per_s"], 1
            ),
            "pooled_extra_mb_per_member": round(pooled["extra_mb"] / pooled["members"], 2),
            "pooled_extra_vs_materialised": round(
                pooled["extra_mb"] / pooled["materialised_mb"], 4
            ),
        }
    )


if __name__ == "__main__":
    main()
