"""Forecast quality: the default ``fit`` then ``backtest`` on every bundled series and on synthetic
series whose best forecast is known; the GRU beside the best baseline, not the weakest.

For each case, in a fresh data root, offline (the bundled snapshots; synthetic series as CSV files):

1. ``api.fit(cfg)`` with the shipped default config for the source (what ``forecast fit`` does);
2. ``api.backtest(cfg)`` of that model over the test span (the last 15%, never trained on).

One JSON line per case on stdout; a Markdown table on stderr at the end. Columns: the GRU's backtest
MAE, the best baseline by backtest MAE and its MAE, skill against it (``1 - MAE_gru / MAE_best``;
the target is >= -0.01), skill against naive, the anchor the model started from, epochs run (best),
and the fit's wall seconds.

Synthetic series (3,000 daily rows, seeded):

* ``random_walk``: ``y_t = y_{t-1} + e_t`` -- the naive forecast is optimal;
* ``seasonal_rw``: ``y_t = y_{t-7} + e_t`` -- seasonal naive (season 7) is optimal;
* ``ar2``: ``y_t = 1.5 y_{t-1} - 0.75 y_{t-2} + e_t`` -- a damped oscillation that a model of the
  dynamics forecasts far better than naive or seasonal naive.

    .venv/bin/python benchmarks/bench_quality.py                 # every case (about 15 min on 2 cores)
    .venv/bin/python benchmarks/bench_quality.py --quick         # smoke run: 2 epochs, 3 cases
    .venv/bin/python benchmarks/bench_quality.py --cases AAPL,greensboro
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from _common import emit, load, machine, note, quiet_lightning

BUNDLED = {
    "AAPL": {"ticker": "AAPL"},
    "MSFT": {"ticker": "MSFT"},
    "IBM": {"ticker": "IBM"},
    "GOOG": {"ticker": "GOOG"},
    "greensboro": {"city": "greensboro"},
    "seattle": {"city": "seattle", "overrides": {"data.interval": "1d"}},
}
SYNTHETIC = ("random_walk", "seasonal_rw", "ar2")
QUICK = ("AAPL", "seattle", "random_walk")


def synthetic(name: str, n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """A daily series whose best forecast is known (see the module docstring)."""
    rng = np.random.default_rng(seed)
    e = rng.normal(size=n)
    y = np.zeros(n)
    if name == "random_walk":
        y = 100.0 + np.cumsum(e)
    elif name == "seasonal_rw":
        base = 10.0 * np.sin(2 * np.pi * np.arange(7) / 7)
        y[:7] = base
        for t in range(7, n):
            y[t] = y[t - 7] + 0.5 * e[t]
    elif name == "ar2":
        for t in range(2, n):
            y[t] = 1.5 * y[t - 1] - 0.75 * y[t - 2] + e[t]
    else:
        raise ValueError(f"unknown synthetic series {name!r}")
    time_index = pd.date_range("2010-01-01", periods=n, freq="D", tz="UTC")
    return pd.DataFrame({"time": time_index, "y": y})


def case_config(name: str, folder: Path, quick: bool, extra: dict[str, Any] | None = None):
    from forecaster import api

    over: dict[str, Any] = {"data.offline": True, "train.progress_bar": False} | (extra or {})
    if quick:
        over |= {"train.max_epochs": 2, "train.limit_train_batches": 20}
    if name in BUNDLED:
        spec = dict(BUNDLED[name])
        over |= spec.pop("overrides", {})
        return api.make_config(overrides=over, **spec)
    path = folder / f"{name}.csv"
    synthetic(name).to_csv(path, index=False)
    return api.make_config(csv=path, overrides=over | {"data.target": "y"})


def run_case(name: str, quick: bool, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    from forecaster import api
    from forecaster.backtest.baselines import best_baseline
    from forecaster.models import NAME

    with tempfile.TemporaryDirectory(prefix=f"bench-quality-{name}-") as tmp:
        os.environ["FORECASTER_HOME"] = str(Path(tmp) / "home")
        cfg = case_config(name, Path(tmp), quick, extra)
        t0 = time.perf_counter()
        fit = api.fit(cfg)
        fit_seconds = time.perf_counter() - t0
        report = api.backtest(cfg, model="champion", write=False)
    metrics = report.result.metrics
    gru = float(metrics.loc[NAME, "mae"])
    baselines = metrics.drop(index=NAME)
    best = best_baseline(baselines["mae"].astype(float).to_dict())
    best_mae = float(baselines.loc[best, "mae"])
    meta = fit.model.meta
    val = fit.table
    return {
        "case": name,
        "rows": len(fit.series),
        "freq": fit.series.freq,
        "backtest_origins": report.result.n_origins,
        "gru_mae": round(gru, 4),
        "best_baseline": best,
        "best_baseline_mae": round(best_mae, 4),
        "naive_mae": round(float(metrics.loc["naive", "mae"]), 4),
        "skill_vs_best": round(1 - gru / best_mae, 4),
        "skill_vs_naive": round(1 - gru / float(metrics.loc["naive", "mae"]), 4),
        "val_gru_mae": round(float(val.loc[NAME, "mae"]), 4),
        "val_best_baseline_mae": round(float(val.drop(index=NAME)["mae"].min()), 4),
        "anchor": meta.anchor.name,
        "kept_share": 0.0 if meta.anchor.is_anchor else meta.anchor.blend,
        "p_value": meta.anchor.selection.get("p_value"),
        "epochs": meta.epochs_trained,
        "best_epoch": meta.best_epoch,
        "fit_seconds": round(fit_seconds, 1),
        "load": load(),
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| series | GRU MAE | best baseline (MAE) | skill vs best | skill vs naive | anchor "
        "| kept (p) | epochs (best) | fit s |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['gru_mae']:.4g} | {r['best_baseline']} ({r['best_baseline_mae']:.4g}) "
            f"| {r['skill_vs_best']:+.3f} | {r['skill_vs_naive']:+.3f} | {r['anchor']} "
            f"| {_kept(r)} "
            f"| {r['epochs']} ({r['best_epoch']}) | {r['fit_seconds']:.0f} |"
        )
    return "\n".join(lines)


def _kept(row: dict[str, Any]) -> str:
    """The share of the learned correction kept, and the p-value that decided (- if none ran)."""
    if row.get("kept_share") is None:
        return "-"
    p = row.get("p_value")
    return f"{row['kept_share']:.2f}" + (f" ({p:.2g})" if p is not None else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs of 20 batches, 3 cases")
    parser.add_argument("--cases", help=f"comma-separated, from {[*BUNDLED, *SYNTHETIC]}")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a dotted config override for every case, e.g. model.scale=diff (YAML value)",
    )
    args = parser.parse_args()
    extra = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    names = (
        args.cases.split(",")
        if args.cases
        else list(QUICK if args.quick else [*BUNDLED, *SYNTHETIC])
    )
    unknown = [n for n in names if n not in BUNDLED and n not in SYNTHETIC]
    if unknown:
        parser.error(f"unknown case(s) {unknown}")
    quiet_lightning()
    note(f"machine: {machine()}")
    rows = []
    for name in names:
        note(f"{name} ...")
        row = run_case(name, args.quick, extra) | ({"overrides": extra} if extra else {})
        emit(row)
        rows.append(row)
    note(table(rows))


if __name__ == "__main__":
    main()
