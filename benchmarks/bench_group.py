"""One global model for a watchlist vs one model per ticker: fit time, backtest MAE and skill.

The five bundled tickers (AAPL, MSFT, IBM, GOOG, FB), offline, default config (configs/stocks_daily):

1. ``single``: ``api.fit`` per ticker, then ``api.backtest`` of that model over the ticker's test
   span (the last 15% of its rows). FB has 196 rows, too few for lookback 60 + horizon 5 in each
   of three splits, so it cannot be fitted alone: that is reported, not hidden.
2. ``group``: one ``api.fit`` of the group, then ``api.backtest_group`` (every member from the
   group's test cut on; FB from its 61st row).

One JSON line per (mode, ticker) plus a total per mode on stdout; a Markdown table on stderr.

    .venv/bin/python benchmarks/bench_group.py
    .venv/bin/python benchmarks/bench_group.py --quick      # 2 epochs of 10 batches, 3 tickers
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import emit, load, machine, note, quiet_lightning

TICKERS = ("AAPL", "MSFT", "IBM", "GOOG", "FB")


def overrides(quick: bool) -> dict[str, Any]:
    over: dict[str, Any] = {"data.offline": True, "train.progress_bar": False}
    if quick:
        over |= {"train.max_epochs": 2, "train.limit_train_batches": 10}
    return over


def best_baseline(metrics) -> tuple[str, float, float]:
    from forecaster.backtest.baselines import best_baseline as best

    name = best(metrics["mae"].astype(float).to_dict())
    return name, float(metrics.loc[name, "mae"]), float(metrics.loc[name, "skill"])


def singles(tickers: list[str], quick: bool) -> tuple[list[dict[str, Any]], float]:
    from forecaster import api
    from forecaster.errors import ForecasterError
    from forecaster.models import NAME

    rows, total = [], 0.0
    for ticker in tickers:
        cfg = api.make_config(ticker=ticker, overrides=overrides(quick))
        t0 = time.perf_counter()
        try:
            fit = api.fit(cfg)
        except ForecasterError as exc:
            total += time.perf_counter() - t0
            rows.append({"mode": "single", "ticker": ticker, "error": str(exc)[:160]})
            continue
        seconds = time.perf_counter() - t0
        total += seconds
        result = api.backtest(cfg, model="champion", write=False).result
        name, mae, skill = best_baseline(result.metrics)
        rows.append(
            {
                "mode": "single",
                "ticker": ticker,
                "fit_seconds": round(seconds, 1),
                "epochs": fit.model.meta.epochs_trained,
                "origins": result.n_origins,
                "gru_mae": round(float(result.metrics.loc[NAME, "mae"]), 4),
                "gru_skill": round(float(result.metrics.loc[NAME, "skill"]), 4),
                "best_baseline": name,
                "best_mae": round(mae, 4),
                "best_skill": round(skill, 4),
            }
        )
    return rows, total


def group(tickers: list[str], quick: bool) -> tuple[list[dict[str, Any]], float]:
    from forecaster import api
    from forecaster.models import NAME

    cfg = api.make_config(ticker=",".join(tickers), overrides=overrides(quick))
    t0 = time.perf_counter()
    fit = api.fit(cfg)
    seconds = time.perf_counter() - t0
    report = api.backtest_group(cfg, write=False)
    rows = []
    for ticker, member in report.members.items():
        metrics = member.result.metrics
        name, mae, skill = best_baseline(metrics)
        rows.append(
            {
                "mode": "group",
                "ticker": ticker,
                "origins": member.result.n_origins,
                "gru_mae": round(float(metrics.loc[NAME, "mae"]), 4),
                "gru_skill": round(float(metrics.loc[NAME, "skill"]), 4),
                "best_baseline": name,
                "best_mae": round(mae, 4),
                "best_skill": round(skill, 4),
            }
        )
    rows.append(
        {
            "mode": "group",
            "ticker": "(fit)",
            "fit_seconds": round(seconds, 1),
            "epochs": fit.model.meta.epochs_trained,
        }
    )
    return rows, seconds


def table(rows: list[dict[str, Any]], totals: dict[str, float]) -> str:
    lines = [
        "| ticker | single: GRU MAE (skill) | group: GRU MAE (skill) | best baseline MAE |",
        "|---|---|---|---|",
    ]
    by = {(r["mode"], r["ticker"]): r for r in rows}
    for ticker in sorted({r["ticker"] for r in rows if r["ticker"] != "(fit)"}, key=TICKERS.index):
        s, g = by.get(("single", ticker), {}), by.get(("group", ticker), {})

        def cell(r: dict[str, Any]) -> str:
            if "error" in r:
                return "cannot be fitted alone"
            if "gru_mae" not in r:
                return "-"
            return f"{r['gru_mae']:.4g} ({r['gru_skill']:+.3f})"

        base = g or s
        lines.append(
            f"| {ticker} | {cell(s)} | {cell(g)} | "
            f"{base.get('best_baseline', '-')} {base.get('best_mae', float('nan')):.4g} |"
        )
    lines.append(
        f"| fit time | {totals['single']:.0f} s (all single fits) | {totals['group']:.0f} s "
        f"(one group fit) | ratio {totals['group'] / totals['single']:.2f} |"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs of 10 batches, 3 tickers")
    args = parser.parse_args()
    tickers = list(TICKERS[:3] if args.quick else TICKERS)
    quiet_lightning()
    note(f"machine: {machine()}")
    rows: list[dict[str, Any]] = []
    totals = {}
    for mode, run in (("single", singles), ("group", group)):
        with tempfile.TemporaryDirectory(prefix=f"bench-group-{mode}-") as tmp:
            os.environ["FORECASTER_HOME"] = str(Path(tmp) / "home")
            note(f"{mode} ...")
            got, totals[mode] = run(tickers, args.quick)
        for row in got:
            emit(row | {"load": load()})
        rows += got
        emit({"mode": mode, "total_fit_seconds": round(totals[mode], 1), "load": load()})
    note(table(rows, totals))


if __name__ == "__main__":
    main()
