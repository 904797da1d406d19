"""Nightly executors and DDP: serial vs process vs Ray on this machine, and a 2-process CPU fit.

    .venv/bin/python benchmarks/bench_executors.py            # ~4 min on 2 idle cores
    .venv/bin/python benchmarks/bench_executors.py --quick    # 4 jobs, 1 epoch, no reference job

1. **Executors.** ``forecast retrain`` (a real child process, as cron starts it) runs ``--jobs``
   small jobs (8: two halves of AAPL, MSFT, IBM and GOOG from the bundled snapshot, written as CSV
   files; a 2x32 GRU over 30 steps, ``--epochs`` 3, early stopping off) on a fresh data root with
   each executor and ``--workers`` 2. Per executor: ``wall_s``, the command's wall time as cron sees it
   (Python and torch imports, the fork server's preload, Ray's local cluster and its workers'
   imports included), and ``warm_s``, ``retrain()`` in this process with the executor already
   warm (fork server up; Ray up, its workers' imports done): dispatch, the jobs, the outcomes.
   With 2 workers on 2 cores a speed-up over serial cannot exceed 2x (``speedup_bound``); start-up
   costs, shared caches and memory bandwidth, and any other load on the machine (``load``) keep it
   below. The serial run predicts and scores with torch's default thread count (every core),
   which on 2 busy cores is slower than the workers' 1 thread; ``warm_speedup_vs_serial_1_thread``
   compares with the same serial run on 1 thread. The outcomes are checked to be the serial
   run's (statuses and scores).
2. **DDP.** ``benchmarks/ddp_fit.py`` (the fit ``tests/test_distributed.py`` runs): 2 CPU processes
   (gloo) vs 1, 2 epochs on 900 AAPL days, twice each, alternating: wall time of the whole command
   (imports and the second process's start included; the best of two, and both), training windows
   per rank per epoch, batches per rank, and whether the ranks' validation MAE agree.
3. **Reference job** (not with ``--quick``): one job with the shipped ``stocks_daily`` config (60
   steps back, 2x64 bidirectional GRU, up to 30 epochs, early stopping) on all 3,270 AAPL days, in a
   worker with 1 thread: the per-job time behind the 500-ticker estimate (``estimate`` line).

``cpu-capacity`` (before and after part 1): a pure-Python loop alone, then on ``--workers``
processes at once: how many cores' worth of work the workers get on this (shared) machine right
now, the ceiling for any executor's speed-up.

One JSON line per case on stdout; the machine and progress go to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from _common import emit, load, machine, note
from _common import usable_cores as cores

from forecaster.resources import snapshots_dir

HERE = Path(__file__).resolve().parent
FORECAST = str(Path(sys.executable).with_name("forecast"))
SMALL = {
    "data.target": "close",
    "model.lookback": 30,
    "model.horizon": 5,
    "model.hidden_size": 32,
    "model.num_layers": 2,
    "train.batch_size": 64,
    "train.logger": "none",
}


def _spin(_: int = 0) -> float:
    """A pure-Python CPU loop; its seconds."""
    t0, total = time.perf_counter(), 0
    for i in range(20_000_000):
        total += i
    return time.perf_counter() - t0


def calibrate(workers: int) -> None:
    """How many cores' worth of work ``workers`` processes get right now: the same CPU loop alone,
    then ``workers`` at once (``workers`` on idle cores; less when other jobs share the machine).
    The executors cannot beat this."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_spin, range(workers)))  # start the processes
        alone = pool.submit(_spin).result()
        together = list(pool.map(_spin, range(workers)))
    emit(
        {
            "case": "cpu-capacity",
            "workers": workers,
            "loop_alone_s": round(alone, 2),
            "loop_together_s": [round(t, 2) for t in together],
            "cores_worth": round(workers * alone / max(together), 2),
            "load": load(),
        }
    )


def write_jobs(folder: Path, n_jobs: int, epochs: int) -> Path:
    """``n_jobs`` CSV series (halves of the four tickers) and a nightly config; its path."""
    frame = pd.read_csv(snapshots_dir() / "stocks_daily.csv")
    jobs = []
    for i in range(n_jobs):
        ticker = ("AAPL", "MSFT", "IBM", "GOOG")[i % 4]
        rows = frame[frame["Ticker"] == ticker][["Date", "Close"]]
        half = len(rows) // 2
        part = rows.iloc[:half] if (i // 4) % 2 == 0 else rows.iloc[half:]
        path = folder / f"{ticker.lower()}_{i}.csv"
        part.rename(columns={"Date": "time", "Close": "close"}).to_csv(path, index=False)
        over = SMALL | {"train.max_epochs": epochs, "train.patience": epochs + 1}
        jobs.append({"name": f"{ticker.lower()}_{i}", "csv": str(path), "overrides": over})
    nightly = folder / "nightly.yaml"
    nightly.write_text(json.dumps({"holdout_fraction": 0.1, "jobs": jobs}), encoding="utf-8")
    return nightly


def run_retrain(nightly: Path, root: Path, executor: str, workers: int) -> dict:
    """``forecast retrain`` in a child process; its wall time and the run summary."""
    env = os.environ | {"FORECASTER_HOME": str(root), "RAY_USAGE_STATS_ENABLED": "0"}
    argv = [FORECAST, "retrain", "--config", str(nightly), "--executor", executor]
    if executor != "serial":
        argv += ["--workers", str(workers)]
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t0
    files = sorted((root / "runs").rglob("retrain-*.json"))
    if done.returncode != 0 or not files:
        raise RuntimeError(f"{executor}: exit {done.returncode}\n{done.stderr[-3000:]}")
    return {"wall_s": wall, "summary": json.loads(files[-1].read_text())}


def executors_part(base: Path, n_jobs: int, epochs: int, workers: int, kinds: list[str]) -> None:
    nightly = write_jobs(base, n_jobs, epochs)
    cold, warm = {}, {}
    for kind in kinds:
        note(f"retrain: {n_jobs} jobs, executor {kind}, as cron starts it ...")
        cold[kind] = run_retrain(nightly, base / f"home-{kind}", kind, workers)
    for kind in kinds:
        note(f"retrain: {n_jobs} jobs, executor {kind}, warm ...")
        warm[kind] = run_warm(nightly, base / f"home-warm-{kind}", kind, workers)
    # The serial run trains with fit_model's thread count but predicts and scores with torch's
    # default (every core); workers use their share throughout. The same serial run on 1 thread:
    import torch

    default_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    note(f"retrain: {n_jobs} jobs, executor serial, warm, 1 thread ...")
    serial_1 = run_warm(nightly, base / "home-warm-serial-1", "serial", workers)
    torch.set_num_threads(default_threads)
    serial = cold["serial"]["summary"]["outcomes"]
    reference = {o["job"]: (o["status"], o["scores"]) for o in serial}
    for kind in kinds:
        outcomes = cold[kind]["summary"]["outcomes"]
        seconds = [o["seconds"] for o in outcomes]
        emit(
            {
                "case": f"retrain-{kind}",
                "jobs": n_jobs,
                "epochs": epochs,
                "workers": 1 if kind == "serial" else workers,
                "wall_s": round(cold[kind]["wall_s"], 1),
                "warm_s": round(warm[kind], 1),
                "speedup_vs_serial": round(cold["serial"]["wall_s"] / cold[kind]["wall_s"], 2),
                "warm_speedup_vs_serial": round(warm["serial"] / warm[kind], 2),
                "warm_speedup_vs_serial_1_thread": round(serial_1 / warm[kind], 2),
                "speedup_bound": min(workers, cores()) if kind != "serial" else 1,
                "jobs_sum_s": round(sum(seconds), 1),
                "job_mean_s": round(sum(seconds) / len(seconds), 2),
                "statuses": sorted({o["status"] for o in outcomes}),
                "same_outcomes_as_serial": all(_same(o, *reference[o["job"]]) for o in outcomes),
                "workers_seen": len({o["worker"] for o in outcomes}),
                "load": load(),
            }
        )


def run_warm(nightly: Path, root: Path, kind: str, workers: int) -> float:
    """Seconds of ``retrain()`` in this process with the executor already warm: a dry run of the
    same night first (it starts the fork server, which imports torch and Lightning once, or Ray
    and its workers, which import the package; it trains and writes nothing); what is left is
    dispatch, the jobs and collecting their outcomes."""
    from forecaster.nightly.config import load_nightly
    from forecaster.nightly.run import retrain

    os.environ["FORECASTER_HOME"] = str(root)
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    started_ray = False
    if kind == "ray":
        import ray

        ray.init(num_cpus=cores(), include_dashboard=False, logging_level=logging.WARNING)
        started_ray = True
    try:
        night = load_nightly(nightly)
        retrain(night, dry_run=True, executor=kind, workers=workers)
        t0 = time.perf_counter()
        summary = retrain(night, executor=kind, workers=workers)
        seconds = time.perf_counter() - t0
    finally:
        if started_ray:
            ray.shutdown()
    if summary.failed:
        raise RuntimeError(summary.to_text())
    return seconds


def _same(outcome: dict, status: str, scores: dict) -> bool:
    """The serial run's status and (to float noise) scores."""
    mine = outcome["scores"]
    return (
        outcome["status"] == status
        and mine.keys() == scores.keys()
        and all(math.isclose(v, scores[k], rel_tol=1e-6) for k, v in mine.items())
    )


def ddp_part(base: Path, epochs: int) -> None:
    from forecaster.data.sources import snapshot

    csv = base / "aapl900.csv"
    snapshot.load_named("AAPL").frame.iloc[:900].tz_localize(None).to_csv(csv, index_label="time")
    walls: dict[int, list[float]] = {1: [], 2: []}
    for rep, devices in enumerate((1, 2, 1, 2)):  # alternating: a burst of load hits both alike
        out = base / f"ddp{devices}-{rep}"
        env = os.environ | {"FORECASTER_HOME": str(base / f"home-ddp{devices}-{rep}")}
        argv = [sys.executable, str(HERE / "ddp_fit.py"), "--out", str(out), "--csv", str(csv)]
        note(f"ddp: {devices} process(es) ...")
        t0 = time.perf_counter()
        done = subprocess.run(
            [*argv, "--devices", str(devices), "--epochs", str(epochs)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        walls[devices].append(round(time.perf_counter() - t0, 1))
        if done.returncode != 0:
            raise RuntimeError(f"ddp {devices}: exit {done.returncode}\n{done.stderr[-3000:]}")
        if rep < 2:
            continue
        ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in range(devices)]
        per_epoch = [[len(e) for e in r["epochs"]] for r in ranks]
        disjoint = all(
            not set(ranks[0]["epochs"][e]) & set(ranks[-1]["epochs"][e])
            for e in range(epochs)
            if devices > 1
        )
        emit(
            {
                "case": f"ddp-cpu-{devices}",
                "processes": devices,
                "epochs": epochs,
                "wall_s": min(walls[devices]),
                "wall_s_all": walls[devices],
                "train_windows": ranks[0]["train_windows"],
                "windows_per_rank_per_epoch": per_epoch,
                "batches_per_rank_per_epoch": [r["batches"] for r in ranks],
                "disjoint": disjoint,
                "val_mae_agree": all(r["val_mae"] == ranks[0]["val_mae"] for r in ranks),
                "versions_saved": sum(1 for r in ranks if r["version"]),
                "load": load(),
            }
        )


def reference_job(base: Path) -> float:
    """One job with the shipped stocks_daily config on all AAPL days, 1 thread; its seconds."""
    from forecaster.data.sources import snapshot

    csv = base / "aapl_full.csv"
    frame = snapshot.load_named("AAPL").frame.tz_localize(None)
    frame.to_csv(csv, index_label="time")
    job = {"name": "aapl_full", "config": "stocks_daily", "csv": str(csv)}
    over = {"data.source": "csv", "train.logger": "none"}
    nightly = base / "reference.yaml"
    nightly.write_text(json.dumps({"jobs": [job | {"overrides": over}]}), encoding="utf-8")
    note("reference job: stocks_daily on 3,270 AAPL days, 1 thread ...")
    # the process executor with 2 workers gives the job 1 thread, as on a node of 1-thread slots
    res = run_retrain(nightly, base / "home-reference", "process", 2)
    (o,) = res["summary"]["outcomes"]
    emit(
        {
            "case": "reference-job",
            "config": "stocks_daily",
            "rows": len(frame),
            "status": o["status"],
            "job_s": o["seconds"],
            "worker": o["worker"],
            "load": load(),
        }
    )
    return o["seconds"]


def estimate(job_s: float, tickers: int = 500, nodes: int = 10, cores: int = 16) -> None:
    """The 500-ticker night on a 10-node Ray cluster, on paper, from the measured job time."""
    slots = nodes * cores  # one job per core, 1 thread each
    waves = math.ceil(tickers / slots)
    emit(
        {
            "case": "estimate",
            "tickers": tickers,
            "nodes": nodes,
            "cores_per_node": cores,
            "concurrent_jobs": slots,
            "waves": waves,
            "job_s": job_s,
            "training_s": round(waves * job_s, 1),
            "serial_one_core_h": round(tickers * job_s / 3600, 2),
            "note": "plus Ray worker start-up (~10 s once per worker) and the data refresh "
            "(network-bound, not measured offline)",
        }
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.epochs = 4, 1
    note(json.dumps(machine()))
    kinds = ["serial", "process"] + ([] if args.skip_ray else ["ray"])
    with tempfile.TemporaryDirectory(prefix="bench-executors-") as tmp:
        base = Path(tmp)
        calibrate(args.workers)
        executors_part(base, args.jobs, args.epochs, args.workers, kinds)
        calibrate(args.workers)
        ddp_part(base, 2)
        if not args.quick:
            estimate(reference_job(base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
