"""Backtest speed: a fixed-model walk-forward over 1,000 origins vs one batched inference pass.

Greensboro hourly with configs/weather_hourly.yaml (lookback 168, horizon 24, 11 features). A model
is trained quickly (1 epoch of 20 batches); the backtest runs with stride 1 over the last 1,000
origins of the test span (the last 15% of the rows). One JSON line per case on stdout:

* ``fixed``: ``run_backtest`` (model + 5 baselines + metrics; and model only, ``baselines=()``) vs
  ``FittedModel.predict_origins`` on the same 1,000 origins vs the bare module on a pre-gathered
  (1000, L, F) tensor. ``ratio_vs_predict`` and ``ratio_vs_bare`` = backtest / pass (target <= 1.5).
* ``refit`` (k = 250 and 500): ``run_backtest(refit_every=k)`` with a tiny capped fit (1 epoch of
  10 batches, expanding window): seconds per refit, total, and the rest (forecasts, baselines).

Timings are medians of ``repeats`` runs after one warm-up run, at the process's default thread count.

    .venv/bin/python benchmarks/bench_backtest.py
    .venv/bin/python benchmarks/bench_backtest.py --quick    # 250 origins, one repeat, k = 125
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from _common import emit, load, machine, note, quiet_lightning, real_case

from forecaster.backtest.engine import backtest_span, make_origins, run_backtest
from forecaster.config import override
from forecaster.data.features import build_features
from forecaster.training import fit_model


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    """Median seconds of ``repeats`` calls after one untimed warm-up call."""
    fn()
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs), runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="250 origins, one repeat")
    args = parser.parse_args()
    n_origins, repeats, ks = (250, 1, [125]) if args.quick else (1000, 5, [250, 500])
    quiet_lightning()
    note(f"machine: {machine()}")
    quick_fit = {"train.logger": "none", "train.progress_bar": False, "train.max_epochs": 1}
    series, cfg = real_case(
        "weather",
        quick_fit
        | {
            "train.limit_train_batches": 20,
            "backtest.stride": 1,
            "backtest.max_origins": n_origins,
        },
    )
    t0 = time.perf_counter()
    model = fit_model(series, cfg)
    train_s = time.perf_counter() - t0
    bcfg = cfg.backtest
    start, end = backtest_span(series, bcfg)
    origins = make_origins(start, end, model.horizon, bcfg.stride, bcfg.max_origins)
    assert len(origins) == n_origins

    # The bare module on a pre-gathered tensor: no features, no gather, no chunking.
    feats = torch.from_numpy(build_features(series, model.spec))
    windows = feats.unfold(0, model.lookback, 1)[torch.from_numpy(origins - model.lookback)]
    x = windows.transpose(1, 2).contiguous()  # (n, L, F)

    def bare() -> None:
        with torch.inference_mode():
            model.module(x)

    bare_s, bare_runs = timed(bare, repeats)
    predict_s, predict_runs = timed(lambda: model.predict_origins(series, origins), repeats)
    full_s, full_runs = timed(lambda: run_backtest(series, model, cfg=bcfg), repeats)
    model_only_s, _ = timed(lambda: run_backtest(series, model, cfg=bcfg, baselines=()), repeats)
    emit(
        {
            "bench": "backtest",
            "case": "fixed",
            "origins": n_origins,
            "lookback": model.lookback,
            "horizon": model.horizon,
            "threads": torch.get_num_threads(),
            "train_s": round(train_s, 2),
            "backtest_s": round(full_s, 4),
            "backtest_model_only_s": round(model_only_s, 4),
            "predict_origins_s": round(predict_s, 4),
            "bare_module_s": round(bare_s, 4),
            "ratio_vs_predict": round(full_s / predict_s, 2),
            "ratio_vs_bare": round(full_s / bare_s, 2),
            "model_only_ratio_vs_bare": round(model_only_s / bare_s, 2),
            "backtest_runs_s": [round(v, 4) for v in full_runs],
            "predict_runs_s": [round(v, 4) for v in predict_runs],
            "bare_runs_s": [round(v, 4) for v in bare_runs],
            "load": load(),
        }
    )

    tiny = override(cfg, {"train.limit_train_batches": 10}, origin="bench_backtest")
    for k in ks:
        fits: list[float] = []

        def refit(train_series, fits=fits):
            t0 = time.perf_counter()
            out = fit_model(train_series, tiny)
            fits.append(time.perf_counter() - t0)
            return out

        rcfg = bcfg.model_copy(update={"refit_every": k})
        t0 = time.perf_counter()
        result = run_backtest(series, cfg=rcfg, refit=refit, horizon=model.horizon)
        total = time.perf_counter() - t0
        emit(
            {
                "bench": "backtest",
                "case": "refit",
                "refit_every": k,
                "origins": n_origins,
                "refits": result.config["refits"],
                "train_batches_per_refit": 10,
                "s_per_refit": round(statistics.mean(fits), 3),
                "refit_s_all": [round(v, 3) for v in fits],
                "total_s": round(total, 3),
                "rest_s": round(total - sum(fits), 3),
                "load": load(),
            }
        )


if __name__ == "__main__":
    main()
