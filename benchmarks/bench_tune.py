"""``forecast tune`` against the default settings: on every bundled series and two synthetic ones,
is the tuned config better on data the search never saw?

For each case, in a fresh data root, offline (the bundled snapshots; synthetic series as CSV files):

1. ``tune(cfg, Budget(--time))`` from the shipped default config for the source (the default search
   space, 3 validation blocks before the test span);
2. ``api.fit`` + ``api.backtest`` with the default config, then with the tuned one (when tune kept
   it; otherwise the default stays and both rows are the same model), over the test span (the
   last 15%, never read by the search).

One JSON line per case on stdout; a Markdown table on stderr at the end. Columns: validation MAE
over the blocks (mean relative MAE, i.e. MAE / naive's; and in target units), backtest MAE on the
test span, skill against the best baseline there (``1 - MAE / MAE_best``), trials (complete /
pruned / failed), the search's wall time, and the decision.

Synthetic series (3,000 daily rows, seeded):

* ``season90``: ``y_t = y_{t-90} + e_t`` with ``backtest.season: 90`` -- the default lookback (48)
  cannot see one season back, so the seasonal-naive anchor and the pattern are out of its reach: a
  mis-sized default that a longer lookback fixes;
* ``random_walk``: ``y_t = y_{t-1} + e_t`` -- naive is optimal; nothing should beat the default.

    .venv/bin/python benchmarks/bench_tune.py                       # --time 5m per case
    .venv/bin/python benchmarks/bench_tune.py --time 1m --cases AAPL,season90
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _common import emit, load, machine, note, quiet_lightning

BUNDLED = {
    "AAPL": {"ticker": "AAPL"},
    "MSFT": {"ticker": "MSFT"},
    "IBM": {"ticker": "IBM"},
    "GOOG": {"ticker": "GOOG"},
    "seattle": {"city": "seattle", "overrides": {"data.interval": "1d"}},
    "greensboro": {"city": "greensboro"},
}
SYNTHETIC = {"season90": {"backtest.season": 90}, "random_walk": {}}


def synthetic(name: str, n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """A daily series whose best forecast is known (see the module docstring)."""
    rng = np.random.default_rng(seed)
    e = rng.normal(size=n)
    if name == "random_walk":
        y = 100.0 + np.cumsum(e)
    elif name == "season90":
        t = np.arange(90)
        y = np.zeros(n)
        y[:90] = 10 * np.sin(2 * np.pi * t / 90) + 4 * np.sin(6 * np.pi * t / 90 + 1.0)
        for i in range(90, n):
            y[i] = y[i - 90] + 0.3 * e[i]
    else:
        raise ValueError(f"unknown synthetic series {name!r}")
    index = pd.date_range("2010-01-01", periods=n, freq="D", tz="UTC")
    return pd.DataFrame({"time": index, "y": y})


def case_config(name: str, folder: Path):
    from forecaster import api

    over: dict[str, Any] = {"data.offline": True, "train.progress_bar": False}
    if name in BUNDLED:
        spec = dict(BUNDLED[name])
        return api.make_config(overrides=over | spec.pop("overrides", {}), **spec)
    path = folder / f"{name}.csv"
    synthetic(name).to_csv(path, index=False)
    return api.make_config(csv=path, overrides=over | {"data.target": "y"} | SYNTHETIC[name])


def test_scores(cfg) -> dict[str, Any]:
    """Fit ``cfg`` (saved, champion) and backtest it over the test span: MAE and skill vs the best
    baseline there."""
    from forecaster import api
    from forecaster.backtest.baselines import best_baseline

    api.fit(cfg, promote="always")
    metrics = api.backtest(cfg, model="champion", write=False).result.metrics
    gru = float(metrics.loc["gru", "mae"])
    baselines = metrics.drop(index="gru")["mae"].astype(float).to_dict()
    best = best_baseline(baselines)
    return {"mae": gru, "best": best, "skill": 1 - gru / baselines[best]}


def run_case(name: str, seconds: float) -> dict[str, Any]:
    from forecaster.errors import ConfigError
    from forecaster.tuning import Budget, tune
    from forecaster.tuning.objective import mean_relative

    with tempfile.TemporaryDirectory(prefix=f"bench-tune-{name}-") as tmp:
        os.environ["FORECASTER_HOME"] = str(Path(tmp) / "home")
        cfg = case_config(name, Path(tmp))
        t0 = time.perf_counter()
        try:
            result = tune(cfg, Budget(seconds, None))
        except ConfigError as exc:  # a budget too small for one trial
            return {"case": name, "error": str(exc), "seconds": round(time.perf_counter() - t0)}
        default = test_scores(cfg)
        tuned = default
        if result.tuned is not None:  # the tuned config refreshes the data; here it stays offline
            offline = result.tuned.data.model_copy(update={"offline": True})
            tuned = test_scores(result.tuned.model_copy(update={"data": offline}))
    best = result.best
    outcomes = [t.outcome.value for t in result.trials]
    return {
        "case": name,
        "val_rel_default": round(mean_relative(result.default), 4),
        "val_rel_tuned": round(mean_relative(best.blocks), 4) if best else None,
        "val_mae_default": round(float(np.mean([s.mae for s in result.default])), 4),
        "val_mae_tuned": round(float(np.mean([s.mae for s in best.blocks])), 4) if best else None,
        "test_mae_default": round(default["mae"], 4),
        "test_mae_tuned": round(tuned["mae"], 4),
        "best_baseline": default["best"],
        "skill_default": round(default["skill"], 4),
        "skill_tuned": round(tuned["skill"], 4),
        "trials": [outcomes.count(o) for o in ("complete", "pruned", "failed")],
        "search_seconds": round(result.seconds),
        "default_seconds": round(result.default_seconds),
        "kept": result.decision.keep,
        "decision": result.decision.reason,
        "tuned_settings": best.settings if best and result.decision.keep else None,
        "load": load(),
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| series | val rel. MAE default / tuned | val MAE default / tuned | backtest MAE default "
        "/ tuned | skill vs best baseline default / tuned | trials (complete/pruned/failed) "
        "| search s | kept |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['case']} | {r['error']} | | | | | {r['seconds']} | |")
            continue
        lines.append(
            f"| {r['case']} | {r['val_rel_default']:.4f} / {_f(r['val_rel_tuned'], '.4f')} "
            f"| {r['val_mae_default']:.4g} / {_f(r['val_mae_tuned'], '.4g')} "
            f"| {r['test_mae_default']:.4g} / {r['test_mae_tuned']:.4g} "
            f"| {r['skill_default']:+.3f} / {r['skill_tuned']:+.3f} ({r['best_baseline']}) "
            f"| {'/'.join(map(str, r['trials']))} | {r['search_seconds']} "
            f"| {'yes' if r['kept'] else 'no'} |"
        )
    return "\n".join(lines)


def _f(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    from forecaster.tuning import parse_duration

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--time", default="5m", help="search budget per case (default 5m)")
    parser.add_argument("--cases", help=f"comma-separated, from {[*BUNDLED, *SYNTHETIC]}")
    args = parser.parse_args()
    names = args.cases.split(",") if args.cases else [*BUNDLED, *SYNTHETIC]
    unknown = [n for n in names if n not in BUNDLED and n not in SYNTHETIC]
    if unknown:
        parser.error(f"unknown case(s) {unknown}")
    seconds = parse_duration(args.time)
    quiet_lightning()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("forecaster").setLevel(logging.INFO)  # tune's trials, one line each
    note(f"machine: {machine()}; budget {args.time} per case")
    rows = []
    for name in names:
        note(f"{name} ...")
        row = run_case(name, seconds)
        emit(row)
        rows.append(row)
    note(table(rows))


if __name__ == "__main__":
    main()
