"""Adaptive vs split-conformal intervals of the GRU, per series, when the errors change after calibration.

For each case, offline: the default GRU is trained on the rows before the test span (what
``forecast backtest`` does when a series has no model); the walk-forward backtest then gives its
80% and 95% intervals, calibrated on the origins after its training split and walk-forward inside
the span (an origin sees only residuals and misses whose horizon ended before it), once per
interval method:

* ``split``: fixed split-conformal quantiles of every earlier scaled residual (before this work);
* ``aci-0.005``, ``aci-0.02``, ``aci-0.05``: adaptive conformal inference (Gibbs & Candès 2021),
  each tail's quantile level moved by one step size gamma;
* ``dtaci``: DtACI, the levels of experts with gammas 0.001 .. 0.128 weighted by their loss;
* ``qt-0.02``: quantile tracking (conformal PID's P term): the bound moved from the split quantile
  by 0.02 half-widths per unit of miss;
* ``adaptive``: quantile tracking with the step sizes 0.001 .. 0.128 aggregated as DtACI does
  (what ``backtest.interval_method: adaptive`` runs, see :mod:`forecaster.intervals_adaptive`).

Cases: the bundled stocks (AAPL, MSFT, IBM, GOOG), Seattle daily and Greensboro hourly weather
(default test span: calibrated in autumn, tested in early winter), Greensboro calibrated before
October and tested October..December (``greensboro-q4``; also seasonal naive calibrated on every
origin from January), and two synthetic daily series whose errors change at the test span:
``shift-level`` (a mean-reverting AR(1) whose mean jumps by 4) and ``shift-var`` (a slow AR(1)
component whose innovations triple under unchanged one-step noise: the window scale does not see it).

Per case and method: coverage at 80/95 overall and at the worst horizon step, mean width and
Winkler score (target units), and whether the targets hold (within 3 pp overall, no step more than
8 pp under, width at most 10% over split where split already covered). A second table measures the
selection's optimism: the GRU's validation residuals (the windows that chose its epoch and blend)
against its test residuals, relative to the same ratio for its anchor.

One JSON line per (case, method, level) on stdout; Markdown tables on stderr.

    .venv/bin/python benchmarks/bench_adaptive.py                       # every case (~25 min; ~12 with --cache DIR)
    .venv/bin/python benchmarks/bench_adaptive.py --quick               # shift-level, AAPL; 2 epochs
    .venv/bin/python benchmarks/bench_adaptive.py --cases greensboro --methods split,adaptive
"""

from __future__ import annotations

import argparse
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _common import emit, machine, note, quiet_lightning

from forecaster import intervals_adaptive as adaptive
from forecaster.models import NAME  # torch-free: safe before FORECASTER_HOME is set

LEVELS = (80.0, 95.0)
CASES: dict[str, dict[str, Any]] = {
    "AAPL": {"ticker": "AAPL"},
    "MSFT": {"ticker": "MSFT"},
    "IBM": {"ticker": "IBM"},
    "GOOG": {"ticker": "GOOG"},
    "seattle": {"city": "seattle", "overrides": {"data.interval": "1d"}},
    "greensboro": {"city": "greensboro"},
    "greensboro-q4": {"city": "greensboro", "overrides": {"backtest.start": "2001-10-01"}},
    "shift-level": {"synthetic": "level"},
    "shift-var": {"synthetic": "var"},
}
METHODS: dict[str, tuple[str, tuple[float, ...] | None, str]] = {
    "split": ("split", None, "score"),
    "aci-0.005": ("adaptive", (0.005,), "level"),
    "aci-0.02": ("adaptive", (0.02,), "level"),
    "aci-0.05": ("adaptive", (0.05,), "level"),
    "dtaci": ("adaptive", adaptive.GAMMAS, "level"),
    "qt-0.02": ("adaptive", (0.02,), "score"),
    "adaptive": ("adaptive", adaptive.GAMMAS, "score"),
}
"""Method -> (``backtest.interval_method``, the experts' step sizes, the space they track in)."""
SHIFT_AT = 0.85
"""Where the synthetic series change: the start of the default test span (the last 15%)."""


def synthetic(kind: str, n: int = 4000, seed: int = 0):
    """A daily series whose errors change at ``SHIFT_AT`` of its rows (``level`` or ``var``)."""
    from forecaster.data.series import validate

    rng = np.random.default_rng(seed)
    cut, e = int(n * SHIFT_AT), rng.normal(size=n)
    y = np.zeros(n)
    if kind == "level":  # AR(1), phi 0.8: a model trained before the jump reverts to the old mean
        mean = np.where(np.arange(n) < cut, 20.0, 24.0)
        for t in range(1, n):
            y[t] = mean[t] + 0.8 * (y[t - 1] - mean[t - 1]) + e[t]
    else:  # unit one-step noise on a slow AR(1) whose innovations go from 0.2 to 0.6
        sd = np.where(np.arange(n) < cut, 0.2, 0.6)
        slow = np.zeros(n)
        for t in range(1, n):
            slow[t] = 0.98 * slow[t - 1] + sd[t] * rng.normal()
        y = 20.0 + slow + e
    index = pd.date_range("2010-01-01", periods=n, freq="D", tz="UTC")
    return validate(pd.DataFrame({"y": y}, index=index), "y", freq="D", symbol=f"shift-{kind}")


def case(name: str, quick: bool):
    """(series, config) of a case, offline."""
    from forecaster import api
    from forecaster.config import load_config, override

    over: dict[str, Any] = {
        "data.offline": True,
        "train.progress_bar": False,
        "train.logger": "none",
    }
    if quick:
        over |= {"train.max_epochs": 2, "train.limit_train_batches": 20}
    spec = dict(CASES[name])
    if "synthetic" in spec:
        extra = {"model.lookback": 48, "model.horizon": 12, "data.covariates": []}
        return synthetic(spec["synthetic"]), override(load_config("default"), over | extra)
    over |= spec.pop("overrides", {})
    cfg = api.make_config(overrides=over, **spec)
    return api.load_data(cfg), cfg


@contextmanager
def tracking(values: tuple[float, ...] | None, space: str):
    """The adaptive method's step sizes and space for one run (module constants, restored after)."""
    saved = adaptive.GAMMAS, adaptive.SPACE
    adaptive.GAMMAS, adaptive.SPACE = values or saved[0], space
    try:
        yield
    finally:
        adaptive.GAMMAS, adaptive.SPACE = saved


def trained(name: str, train, cfg, cache: Path | None):
    """The GRU trained on ``train`` (the rows before the test span; from ``cache`` when saved)."""
    from forecaster.fitted import FittedModel
    from forecaster.training import fit_model

    folder = cache / name if cache is not None else None
    if folder is not None and (folder / "model.pt").is_file():
        return FittedModel.load(folder)
    model = fit_model(train, cfg)
    if folder is not None:
        model.save(folder)
    return model


def scored(name: str, method: str, who: str, result) -> list[dict[str, Any]]:
    """Coverage (overall, worst step), width and Winkler of ``who``'s intervals, per level."""
    out = []
    for level in LEVELS:
        m = result.interval_metrics.loc[(who, level)]
        steps = result.step_coverage.loc[(who, level)].to_numpy(dtype=float)
        out.append(
            {
                "case": name,
                "method": method,
                "who": who,
                "level": level,
                "coverage": round(float(m["coverage"]), 2),
                "worst_step": round(float(np.nanmin(steps)), 1),
                "worst_at": int(np.nanargmin(steps)) + 1,
                "width": round(float(m["width"]), 4),
                "winkler": round(float(m["winkler"]), 4),
                "mae": round(float(result.metrics.loc[who, "mae"]), 4),
                "origins": result.n_origins,
                "calibration_origins": result.config["calibration_origins"],
                "calibration_span": result.config["calibration_span"],
                "test_span": [str(t) for t in result.test_span],
            }
        )
    return out


def optimism(model, train, cfg) -> dict[str, Any]:
    """How much lower the GRU's validation residuals are than its test residuals, relative to its
    anchor's (which nothing was selected on): MAE and the 95% quantile of |scaled residual|."""
    from forecaster.backtest.evaluate import evaluate_split
    from forecaster.intervals import scores, window_scale

    blend, stats = float(model.meta.anchor.blend), {}
    for split in ("val", "test"):
        (m,) = evaluate_split(model, [train], split, cfg.backtest, baselines=False).members.values()
        scale = window_scale(
            train.values, m.origins, model.lookback, model.scale_mode, model.interval_lag
        )
        for who, fc in ((NAME, m.anchor + blend * (m.full - m.anchor)), ("anchor", m.anchor)):
            s = np.abs(scores(m.actuals, fc, scale))
            stats[(who, split)] = (
                float(np.abs(m.actuals - fc).mean()),
                float(np.quantile(s, 0.95)),
            )
    ratio = [
        (stats[(NAME, "val")][i] / stats[(NAME, "test")][i])
        / (stats[("anchor", "val")][i] / stats[("anchor", "test")][i])
        for i in (0, 1)
    ]
    return {
        "is_anchor": bool(model.meta.anchor.is_anchor),
        "blend": blend,
        "best_epoch": model.meta.best_epoch,
        "val_test_mae": round(stats[(NAME, "val")][0] / stats[(NAME, "test")][0], 3),
        "relative_mae": round(ratio[0], 3),
        "relative_q95": round(ratio[1], 3),
    }


def run(name: str, methods: list[str], quick: bool, cache: Path | None):
    from forecaster.backtest.engine import backtest_span, run_backtest

    series, cfg = case(name, quick)
    start, _ = backtest_span(series, cfg.backtest, cfg.train.test_fraction)
    train = series.until(series.index[start])
    model = trained(name, train, cfg, cache)
    cal_row = int(series.index.searchsorted(pd.Timestamp(model.meta.splits["val"].start)))
    rows = []
    for method in methods:
        kind, values, space = METHODS[method]
        bcfg = cfg.backtest.model_copy(update={"interval_method": kind})
        with tracking(values, space):
            result = run_backtest(
                series,
                model,
                cfg=bcfg,
                test_fraction=cfg.train.test_fraction,
                model_name=NAME,
                levels=LEVELS,
                calibration_start=cal_row,
            )
            rows += scored(name, method, NAME, result)
            if name == "greensboro-q4":  # seasonal naive calibrated on every origin from January
                base = run_backtest(
                    series,
                    None,
                    cfg=bcfg,
                    horizon=model.horizon,
                    baselines=["seasonal_naive"],
                    levels=LEVELS,
                    calibration_start=0,
                    scale_lookback=model.lookback,
                    interval_lag=24,
                )
                rows += scored(name, method, "seasonal_naive", base)
    return rows, {"case": name} | optimism(model, train, cfg)


def meets(rows: list[dict[str, Any]]) -> dict[tuple, str]:
    """Per (case, who, method): the targets that fail ('' when all hold)."""
    by = {(r["case"], r["who"], r["method"], r["level"]): r for r in rows}
    out = {}
    for (c, who, method, level), r in by.items():
        split = by.get((c, who, "split", level))
        fails = []
        if abs(r["coverage"] - level) > 3:
            fails.append(f"cov{level:.0f}")
        if r["worst_step"] < level - 8:
            fails.append(f"step{level:.0f}")
        covered = split is not None and split["coverage"] >= level - 3
        if covered and r["width"] > 1.10 * split["width"]:
            fails.append(f"width{level:.0f}")
        key = (c, who, method)
        out[key] = (out.get(key, "") + " " + " ".join(fails)).strip()
    return out


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| case | who | method | cov 80 / 95 | worst step 80 / 95 | width 80 / 95 | Winkler 80 / 95 | misses target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by: dict[tuple, dict[float, dict]] = {}
    for r in rows:
        by.setdefault((r["case"], r["who"], r["method"]), {})[r["level"]] = r
    fails = meets(rows)
    for key, lv in by.items():
        a, b = lv[80.0], lv[95.0]
        lines.append(
            f"| {key[0]} | {key[1]} | {key[2]} | {a['coverage']:.1f} / {b['coverage']:.1f} "
            f"| {a['worst_step']:.0f} (h{a['worst_at']}) / {b['worst_step']:.0f} (h{b['worst_at']}) "
            f"| {a['width']:.4g} / {b['width']:.4g} | {a['winkler']:.4g} / {b['winkler']:.4g} "
            f"| {fails[key] or '-'} |"
        )
    return "\n".join(lines)


def bias_table(found: list[dict[str, Any]]) -> str:
    lines = [
        "| case | GRU is anchor | blend | val/test MAE (GRU) | relative MAE | relative q95 |",
        "|---|---|---|---|---|---|",
    ]
    for r in found:
        lines.append(
            f"| {r['case']} | {r['is_anchor']} | {r['blend']:.2f} | {r['val_test_mae']:.3f} "
            f"| {r['relative_mae']:.3f} | {r['relative_q95']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shift-level and AAPL, 2 epochs")
    parser.add_argument("--cases", help=f"comma-separated, from {list(CASES)}")
    parser.add_argument("--methods", help=f"comma-separated, from {list(METHODS)}")
    parser.add_argument("--cache", type=Path, help="keep trained models here and reuse them")
    args = parser.parse_args()
    quick_cases = ["shift-level", "AAPL"]
    names = args.cases.split(",") if args.cases else (quick_cases if args.quick else list(CASES))
    methods = args.methods.split(",") if args.methods else list(METHODS)
    if "split" not in methods:
        methods = ["split", *methods]
    quiet_lightning()
    note(f"machine: {machine()}")
    rows, found = [], []
    with tempfile.TemporaryDirectory(prefix="bench-adaptive-") as tmp:
        os.environ["FORECASTER_HOME"] = tmp
        for name in names:
            note(f"{name} ...")
            got, bias = run(name, methods, args.quick, args.cache)
            for row in got:
                emit(row)
            emit(bias)
            rows += got
            found.append(bias)
    note(table(rows))
    note("")
    note(bias_table(found))


if __name__ == "__main__":
    main()
