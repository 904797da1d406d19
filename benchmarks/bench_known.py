"""Inputs known ahead: does reading each forecast step's known inputs beat the default without?

For each case, ``bench_quality.run_case`` (the default ``fit`` then ``backtest`` over the test span,
offline, in a fresh data root) with ``model.known`` set per variant:

* ``none``: ``model.known: []`` (what ships today);
* ``calendar``: the calendar steps (``hour``/``dayofweek``/``dayofyear``) among the case's
  candidates;
* ``all``: the full candidates, ``known.candidates(freq, stock=, site=)`` of the case's series
  (stocks: + session facts; weather places: + ``sun_elevation``, ``clearsky_ghi``). Skipped where
  it equals ``calendar`` (the synthetic daily series).

The candidates come from the series as the product loads it (its ``freq``, whether it is an OHLCV
frame, the weather config's site). Cases: every bundled series (AAPL, MSFT, IBM, GOOG, greensboro
hourly, seattle daily), the synthetic ``random_walk``, ``seasonal_rw``, ``ar2`` of
``bench_quality``, and ``known_driver``: 3,000 daily rows of ``y_t = 10 + 3 sin(2 pi t / 7) + 2 x_t
+ 0.3 e_t`` (x, e iid N(0, 1), seeded) as a CSV with columns y and x, run ``declared``
(``data.future_covariates: [x]``) and ``undeclared`` (x not an input at all). Declared, the GRU
should reach a backtest MAE at most half the best baseline's (``ratio_vs_best`` <= 0.5).

One JSON line per (case, variant) on stdout (also appended to ``--out``); at the end a Markdown
table on stderr: GRU MAE, best baseline and its MAE, skill against it (``1 - MAE_gru / MAE_best``),
the change of that skill against the case's ``none`` row, epochs run (best) and the fit's wall s.
The cases run variant by variant (every case's ``none``, then ``all``, ..., ``calendar`` last), so
an interrupted run has the comparisons that matter most.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_known.py --out results.jsonl  # ~45 min, 2 cores
    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_known.py --quick              # smoke: ~2 min
    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_known.py --cases AAPL,seattle --variants none,all
    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_known.py --table results.jsonl  # table again
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import bench_quality
import numpy as np
import pandas as pd
from _common import emit, machine, note, quiet_lightning
from bench_quality import BUNDLED, SYNTHETIC, case_config, run_case

DRIVER = "known_driver"
KNOWN_VARIANTS = ("none", "all", "calendar")
DRIVER_VARIANTS = {
    "declared": {"data.future_covariates": ["x"], "data.covariates": []},
    "undeclared": {"data.future_covariates": [], "data.covariates": []},
}
ORDER = ("none", "all", "declared", "undeclared", "calendar")
"""Run order: the comparisons that decide the default first, ``calendar`` last."""
CASES = (*BUNDLED, *SYNTHETIC, DRIVER)
QUICK = ("AAPL", "seattle", DRIVER)


def known_driver(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Daily y driven by a weekly cycle and by x, a column known ahead (module docstring)."""
    rng = np.random.default_rng(seed)
    x, e = rng.normal(size=n), rng.normal(size=n)
    t = np.arange(n)
    y = 10.0 + 3.0 * np.sin(2 * np.pi * t / 7) + 2.0 * x + 0.3 * e
    time_index = pd.date_range("2010-01-01", periods=n, freq="D", tz="UTC")
    return pd.DataFrame({"time": time_index, "y": y, "x": x})


_synthetic = bench_quality.synthetic


def _with_driver(name: str, n: int = 3000, seed: int = 0) -> pd.DataFrame:
    return known_driver(n, seed) if name == DRIVER else _synthetic(name, n, seed)


# case_config writes every non-bundled case as a CSV through bench_quality.synthetic: teach it
# the known_driver series so that run_case serves this benchmark's cases unchanged.
bench_quality.synthetic = _with_driver


def candidates(name: str) -> dict[str, Any]:
    """The case's series as the product loads it, and its known-ahead candidates."""
    from forecaster import api
    from forecaster.data import known
    from forecaster.data.features import is_stock_frame

    with tempfile.TemporaryDirectory(prefix=f"bench-known-{name}-") as tmp:
        os.environ["FORECASTER_HOME"] = str(Path(tmp) / "home")
        cfg = case_config(name, Path(tmp), quick=False)
        series = api.load_data(cfg, refresh=False)
        stock = is_stock_frame(series)
        site = known.site_of(cfg.data)
        full = known.candidates(series.freq, stock=stock, site=site)
    return {
        "freq": series.freq,
        "stock": stock,
        "site": None if site is None else [site.latitude, site.longitude],
        "all": full,
        "calendar": [n for n in full if n in known.CALENDAR_STEPS],
    }


def plan(names: list[str], variants: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(case, variant, config overrides), in :data:`ORDER`; ``all`` skipped where it is
    ``calendar``."""
    cands = {n: candidates(n) for n in names if n != DRIVER}
    for name, c in cands.items():
        note(
            f"{name}: freq {c['freq']}, stock {c['stock']}, site {c['site']}, candidates {c['all']}"
        )
    out = []
    for variant in ORDER:
        if variant not in variants:
            continue
        for name in names:
            if name == DRIVER:
                if variant in DRIVER_VARIANTS:
                    out.append((name, variant, DRIVER_VARIANTS[variant]))
                continue
            if variant not in KNOWN_VARIANTS:
                continue
            c = cands[name]
            names_known = [] if variant == "none" else c[variant]
            if variant == "all" and c["all"] == c["calendar"] and "calendar" in variants:
                continue  # the same run as calendar
            out.append((name, variant, {"model.known": names_known}))
    return out


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| case | variant | GRU MAE | best baseline (MAE) | skill vs best | Δ skill vs none "
        "| epochs (best) | fit s |"
    )
    lines = [head, "|---|---|---:|---|---:|---:|---|---:|"]
    base = {r["case"]: r["skill_vs_best"] for r in rows if r["variant"] == "none"}
    order = {c: i for i, c in enumerate(CASES)}
    rank = {v: i for i, v in enumerate(("none", "calendar", "all", "declared", "undeclared"))}
    for r in sorted(rows, key=lambda r: (order.get(r["case"], 99), rank[r["variant"]])):
        delta = (
            ""
            if r["case"] not in base or r["variant"] == "none"
            else (f"{r['skill_vs_best'] - base[r['case']]:+.3f}")
        )
        lines.append(
            f"| {r['case']} | {r['variant']} | {r['gru_mae']:.4g} "
            f"| {r['best_baseline']} ({r['best_baseline_mae']:.4g}) | {r['skill_vs_best']:+.3f} "
            f"| {delta} | {r['epochs']} ({r['best_epoch']}) | {r['fit_seconds']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs of 20 batches, 3 cases")
    parser.add_argument("--cases", help=f"comma-separated, from {list(CASES)}")
    parser.add_argument("--variants", help=f"comma-separated, from {list(ORDER)} (default: all)")
    parser.add_argument("--out", type=Path, help="also append each JSON line to this file")
    parser.add_argument("--table", type=Path, help="print the table of a results file and stop")
    args = parser.parse_args()
    if args.table:
        lines = args.table.read_text(encoding="utf-8").splitlines()
        print(table([json.loads(line) for line in lines if line.strip()]))
        return
    names = args.cases.split(",") if args.cases else list(QUICK if args.quick else CASES)
    variants = args.variants.split(",") if args.variants else list(ORDER)
    if unknown := [n for n in names if n not in CASES]:
        parser.error(f"unknown case(s) {unknown}")
    if unknown := [v for v in variants if v not in ORDER]:
        parser.error(f"unknown variant(s) {unknown}")
    quiet_lightning()
    note(f"machine: {machine()}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, variant, extra in plan(names, variants):
        note(f"{name} / {variant}: {extra} ...")
        result = run_case(name, args.quick, extra)
        row = {"case": name, "variant": variant, "overrides": extra} | result
        row["ratio_vs_best"] = round(row["gru_mae"] / row["best_baseline_mae"], 4)
        emit(row)
        if args.out:
            with args.out.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
        rows.append(row)
    note(table(rows))


if __name__ == "__main__":
    main()
