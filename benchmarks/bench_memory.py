"""Memory growth: peak RSS of a short fit on synthetic hourly series of 10k, 100k and 1M points.

Each size runs in a fresh subprocess (peaks never mix). The child builds a synthetic hourly frame
(8 float64 columns: the target and 7 covariates), validates it into a canonical Series, drops the raw
frame, and takes its baseline RSS there (imports + the Series). It then resets the kernel's peak-RSS
mark (``/proc/self/clear_refs``) and runs ``fit_model`` with configs/weather_hourly.yaml (lookback
168, horizon 24; 12 features; but 1 layer of 16 units, one direction) for one epoch of at most 20
training and 20 validation batches, logger and progress bar off.
Two peaks are read: ``fit`` (DataModule setup, Trainer, training and validation; read at
``on_fit_end``) and ``eval`` (what ``fit_model`` does after ``trainer.fit``: the val/test metrics
over every window, the meta). ``extra_bytes`` = max(peaks) - baseline.

One JSON line per size, then a ``fit`` line: least squares extra_bytes = a + b * points, with
``b`` in bytes per point and as a multiple of F x 4 (one row of the float32 feature matrix) and of
L x F x 4 (one materialised window). Views keep ``b`` a small multiple of F x 4.

    .venv/bin/python benchmarks/bench_memory.py            # 10k, 100k, 1M points
    .venv/bin/python benchmarks/bench_memory.py --quick    # 10k, 30k, 100k
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from _common import emit, load, machine, note, proc_status, reset_peak, run_child

COLUMNS = (
    "temperature_2m",
    "relative_humidity_2m",
    "dew_point_2m",
    "surface_pressure",
    "wind_speed_10m",
    "wind_direction_10m",
    "shortwave_radiation",
    "cloud_cover",
)
BATCHES = 20


def child(points: int) -> None:
    """One size, in this (fresh) process: prints one JSON line."""
    import gc

    import pandas as pd
    from _common import quiet_lightning, real_case
    from lightning.pytorch.callbacks import Callback

    from forecaster.data.series import validate
    from forecaster.training import fit_model

    quiet_lightning()
    rng = np.random.default_rng(0)
    hours = np.arange(points)
    frame = pd.DataFrame(
        rng.standard_normal((points, len(COLUMNS))),
        columns=list(COLUMNS),
        index=pd.date_range("2000-01-01", periods=points, freq="h", name="time"),
    )
    frame["temperature_2m"] += 15 + 8 * np.sin(2 * np.pi * hours / 24)
    series = validate(frame, "temperature_2m", freq="h", tz="UTC", source="synthetic")
    del frame
    gc.collect()
    _, cfg = real_case(
        "weather",
        {
            "train.max_epochs": 1,
            "train.limit_train_batches": BATCHES,
            "train.logger": "none",
            "train.progress_bar": False,
            # A small network keeps the 1M run short (300k val/test windows are scored after the
            # fit); activations are per batch, so they move the intercept, not bytes per point.
            "model.hidden_size": 16,
            "model.num_layers": 1,
            "model.bidirectional": False,
        },
    )
    baseline = proc_status("VmRSS")
    peaks: dict[str, int] = {}

    class PeakAtFitEnd(Callback):
        def on_fit_end(self, trainer, pl_module) -> None:
            peaks["fit"] = proc_status("VmHWM")
            reset_peak()

    reset_peak()
    started = time.perf_counter()
    fitted = fit_model(
        series, cfg, callbacks=[PeakAtFitEnd()], trainer_kwargs={"limit_val_batches": BATCHES}
    )
    peaks["eval"] = proc_status("VmHWM")
    seconds = time.perf_counter() - started
    n_features, lookback = fitted.spec.n_features, fitted.lookback
    extra = max(peaks.values()) - baseline
    print(
        json.dumps(
            {
                "points": points,
                "rows": len(series),
                "n_features": n_features,
                "lookback": lookback,
                "raw_bytes": int(series.frame.memory_usage(index=True).sum()),
                "baseline_rss": baseline,
                "peak_fit_rss": peaks["fit"],
                "peak_eval_rss": peaks["eval"],
                "extra_bytes": extra,
                "extra_fit_per_point": round((peaks["fit"] - baseline) / points, 1),
                "extra_eval_per_point": round((peaks["eval"] - baseline) / points, 1),
                "fit_s": round(seconds, 2),
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k, 30k and 100k points")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    note(f"machine: {machine()}")
    sizes = [10_000, 30_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    rows = []
    for points in sizes:
        row = run_child(__file__, ["--child", str(points)], f"child for {points} points")
        row = {"bench": "memory", **row, "load": load()}
        emit(row)
        rows.append(row)
    x = np.array([r["points"] for r in rows], dtype=float)
    y = np.array([r["extra_bytes"] for r in rows], dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    fitted = intercept + slope * x
    r2 = 1 - np.square(y - fitted).sum() / np.square(y - y.mean()).sum()
    f, lookback = rows[0]["n_features"], rows[0]["lookback"]
    emit(
        {
            "bench": "memory",
            "case": "fit",
            "sizes": [int(v) for v in x],
            "bytes_per_point": round(float(slope), 1),
            "intercept_mb": round(float(intercept) / 2**20, 1),
            "r2": round(float(r2), 5),
            "max_rel_residual": round(float(np.max(np.abs(y - fitted) / y)), 3),
            "per_point_in_Fx4": round(float(slope) / (f * 4), 1),
            "per_point_in_LxFx4": round(float(slope) / (lookback * f * 4), 3),
            "raw_bytes_per_point": round(rows[-1]["raw_bytes"] / rows[-1]["points"], 1),
        }
    )


if __name__ == "__main__":
    main()
