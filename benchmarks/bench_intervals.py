"""Prediction intervals: coverage, width and interval score of the GRU and the baselines, by method.

For each case (bundled series, and a Gaussian AR(1) whose intervals are known), offline:

1. the default GRU is trained on the data before the test span (what ``forecast backtest`` does
   when a series has no model), so the test span and the 15% validation split before it are out of
   sample;
2. the walk-forward backtest forecasts every origin of the test span and computes 80% and 95%
   intervals for the GRU and every baseline, calibrated on the origins of the model's validation
   split and then walk-forward (each origin sees only residuals observed before it).

Calibration variants (``--variants``), so the method is chosen by measurement:

* ``scaled``: signed residuals divided by the spread of the changes over the lookback before each
  origin: season-on-season changes for a seasonal-naive anchor, else one-step (what ships);
* ``lag1``: scaled by the spread of one-step changes whatever the anchor;
* ``raw``: signed residuals in units, unscaled;
* ``recent``: scaled, but only the most recent 250 residuals (adapts faster, noisier).

One JSON line per (case, variant, method, level) on stdout; a Markdown table on stderr.

    .venv/bin/python benchmarks/bench_intervals.py                  # AAPL, MSFT, greensboro, ar1
    .venv/bin/python benchmarks/bench_intervals.py --quick          # ar1 and AAPL, 2 epochs
    .venv/bin/python benchmarks/bench_intervals.py --cases greensboro --variants scaled
"""

from __future__ import annotations

import argparse
import os
import tempfile
from typing import Any

import numpy as np
import pandas as pd
from _common import emit, machine, note, quiet_lightning

CASES = {
    "AAPL": {"ticker": "AAPL"},
    "MSFT": {"ticker": "MSFT"},
    "greensboro": {"city": "greensboro"},
    "ar1": {},
}
VARIANTS = {
    "scaled": {"interval_scale": None, "window": None, "lag": None},
    "lag1": {"interval_scale": None, "window": None, "lag": 1},
    "raw": {"interval_scale": "none", "window": None, "lag": None},
    "recent": {"interval_scale": None, "window": 250, "lag": None},
}
LEVELS = (80.0, 95.0)


def ar1_series(n: int = 10_000, phi: float = 0.8, seed: int = 0):
    from forecaster.data.series import validate

    rng = np.random.default_rng(seed)
    y = np.zeros(n)
    e = rng.normal(size=n)
    for t in range(1, n):
        y[t] = phi * y[t - 1] + e[t]
    index = pd.date_range("2010-01-01", periods=n, freq="D", tz="UTC")
    return validate(pd.DataFrame({"y": 20 + y}, index=index), "y", freq="D", symbol="ar1")


def case(name: str, quick: bool):
    from forecaster import api
    from forecaster.config import load_config, override

    over: dict[str, Any] = {
        "data.offline": True,
        "train.progress_bar": False,
        "train.logger": "none",
    }
    if quick:
        over |= {"train.max_epochs": 2, "train.limit_train_batches": 20}
    if name == "ar1":
        extra = {"model.lookback": 30, "model.horizon": 5, "data.covariates": []}
        return ar1_series(), override(load_config("default"), over | extra)
    cfg = api.make_config(overrides=over, **CASES[name])
    return api.load_data(cfg), cfg


def run(name: str, variants: list[str], quick: bool) -> list[dict[str, Any]]:
    from forecaster.backtest.baselines import best_baseline
    from forecaster.backtest.engine import backtest_span, run_backtest
    from forecaster.models import NAME
    from forecaster.training import fit_model

    series, cfg = case(name, quick)
    start, _ = backtest_span(series, cfg.backtest, cfg.train.test_fraction)
    train = series.until(series.index[start])
    model = fit_model(train, cfg)
    cal_start = model.meta.splits["val"]
    cal_row = int(series.index.searchsorted(pd.Timestamp(cal_start.start)))
    rows = []
    for variant in variants:
        v = VARIANTS[variant]
        bcfg = cfg.backtest.model_copy(update={"interval_window": v["window"]})
        result = run_backtest(
            series,
            model,
            cfg=bcfg,
            test_fraction=cfg.train.test_fraction,
            model_name=NAME,
            levels=LEVELS,
            calibration_start=cal_row,
            interval_scale=v["interval_scale"],
            interval_lag=v["lag"],
        )
        mae = result.metrics["mae"]
        best = best_baseline(mae.astype(float).to_dict())
        for method in (NAME, best):
            for level in LEVELS:
                m = result.interval_metrics.loc[(method, level)]
                steps = result.step_coverage.loc[(method, level)].to_numpy()
                rows.append(
                    {
                        "case": name,
                        "variant": variant,
                        "method": method,
                        "role": "gru" if method == NAME else "best baseline",
                        "level": level,
                        "coverage": round(float(m["coverage"]), 2),
                        "coverage_by_step": [round(float(c), 1) for c in steps],
                        "width": round(float(m["width"]), 4),
                        "winkler": round(float(m["winkler"]), 4),
                        "pinball": round(float(m["pinball"]), 4),
                        "mae": round(float(mae[method]), 4),
                        "origins": result.n_origins,
                        "calibration_origins": result.config["calibration_origins"],
                    }
                )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| case | variant | method | MAE | cov 80 | cov 95 | width 80 | width 95 | Winkler 95 | cov 95 by step |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    by = {}
    for r in rows:
        by.setdefault((r["case"], r["variant"], r["method"]), {})[r["level"]] = r
    for (c, v, m), lv in by.items():
        a, b = lv[80.0], lv[95.0]
        steps = " ".join(f"{x:.0f}" for x in b["coverage_by_step"])
        lines.append(
            f"| {c} | {v} | {m} | {a['mae']:.4g} | {a['coverage']:.1f} | {b['coverage']:.1f} "
            f"| {a['width']:.4g} | {b['width']:.4g} | {b['winkler']:.4g} | {steps} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="ar1 and AAPL, 2 epochs")
    parser.add_argument("--cases", help=f"comma-separated, from {list(CASES)}")
    parser.add_argument("--variants", help=f"comma-separated, from {list(VARIANTS)}")
    args = parser.parse_args()
    names = (
        args.cases.split(",") if args.cases else (["ar1", "AAPL"] if args.quick else list(CASES))
    )
    variants = args.variants.split(",") if args.variants else list(VARIANTS)
    quiet_lightning()
    note(f"machine: {machine()}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-intervals-") as tmp:
        os.environ["FORECASTER_HOME"] = tmp
        for name in names:
            note(f"{name} ...")
            for row in run(name, variants, args.quick):
                emit(row)
                rows.append(row)
    note(table(rows))


if __name__ == "__main__":
    main()
