"""Fit time: the default ``fit`` (serving run included) per bundled series and a one-year hourly CSV.

For each case, in a fresh data root, offline:

1. ``api.fit(cfg)`` with the shipped default config for the source (what ``forecast fit`` does),
   timed whole: the procedure (train, validate, select, score) and the served weights' run;
2. ``api.backtest(cfg)`` of the saved model over the test span (its procedure's weights).

One JSON line per case on stdout, a Markdown table on stderr. Columns: wall seconds of the fit and
of its serving run, epochs (best), the CPU threads the fit used, the serving method, and the
backtest MAE of the GRU beside the best baseline's. The CPU is shared: every line has ``load``.

Cases: the bundled AAPL, MSFT, IBM, GOOG (daily), Seattle (daily), Greensboro (hourly, 8,760 rows),
and ``hourly_csv``: a synthetic year of hourly temperatures with two covariates (8,760 rows), fitted
through ``--csv`` with ``--lookback 168`` (the generic default config otherwise).

``--rolling``: a walk-forward backtest refitting the GRU every ``--refit-every`` origins on the
rows before each origin, where each refit serves (a) the procedure's weights or (b) the weights
trained through the origin -- the same refits, so only the served weights differ; the MAE of each.

    .venv/bin/python benchmarks/bench_fit_time.py                   # every case (~6 min on 2 cores)
    .venv/bin/python benchmarks/bench_fit_time.py --cases hourly_csv --set model.hidden_size=32
    .venv/bin/python benchmarks/bench_fit_time.py --rolling --cases greensboro,AAPL
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
from bench_quality import BUNDLED, case_config

from forecaster.models import NAME  # torch-free: safe before FORECASTER_HOME is set

HOURLY = "hourly_csv"
CASES = (*BUNDLED, HOURLY)
ROLLING_EVERY = {"greensboro": 7, "AAPL": 100}
"""Origins between refits in the rolling comparison: weekly for hourly weather (backtest stride
24 h), about five months of trading days for a stock (stride 1)."""


def hourly_year(n: int = 8760, seed: int = 0) -> pd.DataFrame:
    """A year of hourly temperature-like values: a yearly and a daily cycle, slow weather (AR(1))
    pushed by a pressure covariate six hours earlier, and a humidity covariate."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    year = -10.0 * np.cos(2 * np.pi * t / 8760)
    day = (5.0 + 2.0 * np.sin(2 * np.pi * t / 8760)) * np.sin(2 * np.pi * ((t % 24) - 9) / 24)
    pressure = np.zeros(n)
    weather = np.zeros(n)
    for i in range(1, n):
        pressure[i] = 0.99 * pressure[i - 1] + rng.normal(scale=0.6)
        push = pressure[i - 6] if i >= 6 else 0.0
        weather[i] = 0.97 * weather[i - 1] + 0.02 * push + rng.normal(scale=0.3)
    temp = 12.0 + year + day + weather
    humidity = 70.0 - 2.0 * day + rng.normal(scale=3.0, size=n)
    index = pd.date_range("2023-01-01", periods=n, freq="h", tz="UTC")
    return pd.DataFrame(
        {"time": index, "temp": temp, "pressure": 1013.0 + pressure, "humidity": humidity}
    )


def config_for(name: str, folder: Path, extra: dict[str, Any]):
    """The default config of case ``name`` (plus ``extra`` dotted overrides), offline."""
    from forecaster import api

    if name != HOURLY:
        return case_config(name, folder, False, extra)
    path = folder / f"{name}.csv"
    hourly_year().to_csv(path, index=False)
    over = {"data.offline": True, "train.progress_bar": False, "model.lookback": 168}
    return api.make_config(csv=path, overrides=over | {"data.target": "temp"} | extra)


def best_of(metrics: pd.DataFrame) -> tuple[str, float]:
    from forecaster.backtest.baselines import best_baseline

    baselines = metrics.drop(index=NAME)
    best = best_baseline(baselines["mae"].astype(float).to_dict())
    return best, float(baselines.loc[best, "mae"])


def run_case(name: str, extra: dict[str, Any]) -> dict[str, Any]:
    from forecaster import api
    from forecaster.loop import cpu_threads

    with tempfile.TemporaryDirectory(prefix=f"bench-fit-time-{name}-") as tmp:
        os.environ["FORECASTER_HOME"] = str(Path(tmp) / "home")
        cfg = config_for(name, Path(tmp), extra)
        t0 = time.perf_counter()
        fit = api.fit(cfg)
        seconds = time.perf_counter() - t0
        report = api.backtest(cfg, model="champion", write=False)
    metrics = report.result.metrics
    gru = float(metrics.loc[NAME, "mae"])
    best, best_mae = best_of(metrics)
    meta = fit.model.meta
    return {
        "case": name,
        "rows": len(fit.series),
        "freq": fit.series.freq,
        "lookback": fit.model.lookback,
        "hidden": fit.model.config.model.hidden_size,
        "fit_seconds": round(seconds, 1),
        "serve_seconds": meta.served.seconds,
        "serve_method": meta.served.method.value,
        "epochs": meta.epochs_trained,
        "best_epoch": meta.best_epoch,
        "threads": cpu_threads(),
        "train_windows": meta.splits["train"].windows,
        "gru_mae": round(gru, 4),
        "best_baseline": best,
        "best_baseline_mae": round(best_mae, 4),
        "skill_vs_best": round(1 - gru / best_mae, 4),
        "load": load(),
    }


def rolling(name: str, every: int, extra: dict[str, Any]) -> dict[str, Any]:
    """A refit backtest where each refit serves (a) the procedure's or (b) the served weights."""
    from forecaster.backtest.engine import run_backtest
    from forecaster.data.loader import load_series
    from forecaster.training import fit_model

    with tempfile.TemporaryDirectory(prefix=f"bench-fit-time-{name}-") as tmp:
        os.environ["FORECASTER_HOME"] = str(Path(tmp) / "home")
        cfg = config_for(name, Path(tmp), extra | {"train.logger": "none"})
        series = load_series(cfg.data)
    bcfg = cfg.backtest.model_copy(update={"refit_every": every, "levels": []})
    procedures, t0 = [], time.perf_counter()

    def served(train):
        model = fit_model(train, cfg, progress_bar=False)
        procedures.append(model.procedure())
        return model

    def kwargs(refit):
        return dict(cfg=bcfg, horizon=cfg.model.horizon, refit=refit, model_name=NAME)

    through = run_backtest(series, None, **kwargs(served))
    seconds = time.perf_counter() - t0
    before = run_backtest(series, None, **kwargs(lambda train: procedures.pop(0)))
    best, best_mae = best_of(through.metrics)
    a, b = (float(r.metrics.loc[NAME, "mae"]) for r in (before, through))
    return {
        "case": name,
        "rolling": True,
        "refit_every": every,
        "refits": through.config.get("refits"),
        "origins": through.n_origins,
        "mae_procedure": round(a, 4),
        "mae_through_origin": round(b, 4),
        "gain": round(1 - b / a, 4),
        "best_baseline": best,
        "best_baseline_mae": round(best_mae, 4),
        "seconds": round(seconds, 1),
        "load": load(),
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| series | rows | fit s (serving s) | epochs (best) | threads | served | GRU MAE "
        "| best baseline (MAE) | skill vs best | load |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---|---:|---|---:|---|"]
    for r in rows:
        if r.get("rolling"):
            continue
        lines.append(
            f"| {r['case']} | {r['rows']} | {r['fit_seconds']:.1f} ({r['serve_seconds']:.1f}) "
            f"| {r['epochs']} ({r['best_epoch']}) | {r['threads']} | {r['serve_method']} "
            f"| {r['gru_mae']:.4g} | {r['best_baseline']} ({r['best_baseline_mae']:.4g}) "
            f"| {r['skill_vs_best']:+.3f} | {r['load'][0] if r['load'] else '-'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", help=f"comma-separated, from {list(CASES)}")
    parser.add_argument("--rolling", action="store_true", help="the refit comparison (a) vs (b)")
    parser.add_argument("--refit-every", type=int, help="origins between refits (--rolling)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a dotted config override for every case, e.g. model.hidden_size=32 (YAML value)",
    )
    args = parser.parse_args()
    extra = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    default = list(ROLLING_EVERY) if args.rolling else list(CASES)
    names = args.cases.split(",") if args.cases else default
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}")
    quiet_lightning()
    note(f"machine: {machine()}")
    rows = []
    for name in names:
        note(f"{name} ...")
        if args.rolling:
            row = rolling(name, args.refit_every or ROLLING_EVERY.get(name, 7), extra)
        else:
            row = run_case(name, extra)
        emit(row | ({"overrides": extra} if extra else {}))
        rows.append(row)
    note(table(rows))


if __name__ == "__main__":
    main()
