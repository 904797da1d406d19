"""Training: a series (or a group of series) and a config in, a :class:`~forecaster.fitted.FittedModel` out.

``fit_model`` wires the parts together and keeps them apart: the
:class:`~forecaster.data.windows.WindowDataModule` (features, scaler, splits, windows; one series is
a group of one), the :class:`~forecaster.models.gru.GRURegressor` (network, loss, optimiser) and the
Lightning ``Trainer`` (:mod:`forecaster.loop`: device, precision, early stopping, the best weights
kept). What to ship is decided in :mod:`forecaster.selection` (the anchor before training, the kept
correction after), on the one forecast of the validation windows that
:mod:`forecaster.backtest.evaluate` makes; the record of the fit is :mod:`forecaster.fit_meta`.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping

from forecaster.backtest.evaluate import Evaluation, evaluate_split
from forecaster.config import Config
from forecaster.data.features import FeatureSpec
from forecaster.data.group import SeriesGroup
from forecaster.data.series import Series
from forecaster.data.windows import WindowDataModule
from forecaster.epochs import batches_per_epoch, epoch_share
from forecaster.errors import DataError
from forecaster.fit_meta import fit_meta
from forecaster.fitted import FittedModel, legacy_state, module_for
from forecaster.forecast_inputs import forecast_variables
from forecaster.intervals import Calibration, scores, window_scale
from forecaster.loop import (
    EpochBar,
    History,
    KeepBest,
    SameData,
    cpu_threads,
    epoch_row,
    global_rank,
    join_launched,
    make_logger,
    make_trainer,
    quiet_and_threaded,
    resolve_precision,
    run_interruptible,
)
from forecaster.meta import AnchorMeta, ServeMethod
from forecaster.models.gru import GRURegressor
from forecaster.selection import Anchor, choose_anchor, select_correction
from forecaster.served import Procedure, serve

log = logging.getLogger(__name__)


def fit_model(
    data: Series | SeriesGroup,
    cfg: Config,
    *,
    out_dir: Path | None = None,
    init_from: FittedModel | None = None,
    progress_bar: bool | None = None,
    callbacks: Sequence[Callback] = (),
    trainer_kwargs: dict[str, Any] | None = None,
    serve_by: ServeMethod | None = None,
) -> FittedModel:
    """Train a GRU on ``data`` as ``cfg`` says; return the best model by validation MAE, in eval mode.

    ``data``: one series, or a :class:`~forecaster.data.group.SeriesGroup`: one global model is then
    trained on the pooled windows of every member (split by one date cut across the group, so no
    member's future is in another's training data) and serves each member.

    The network starts as its anchor (:func:`choose_anchor`) and is validated before the first
    epoch; that "epoch 0" competes with every trained epoch, and early stopping counts from it, so
    a run that never beats its anchor ends after ``train.patience`` epochs and returns the anchor.
    The validation windows are then forecast once (:func:`evaluate_split`); the share of the learned
    correction to keep, the validation table and the metrics in ``meta`` all read that forecast.
    All of that describes the *procedure*: the weights trained before the validation and test
    rows (:meth:`FittedModel.procedure`). The returned model's ``module`` then holds the *served*
    weights, trained through the last row with the procedure's choices (:mod:`forecaster.served`;
    ``serve_by`` picks how, None the default; ``meta.served`` records which rows they saw).

    ``out_dir``: where the CSV/TensorBoard logs go (``out_dir/logs``); ``None`` keeps them in a
    temporary folder that is removed (the epoch history is still in ``meta.history``).
    ``init_from``: warm start from a previous model when features, anchor and shapes match.
    ``progress_bar`` overrides ``train.progress_bar``; ``callbacks`` are added to the Trainer's
    (the caller's: e.g. the fault-injection tests'); ``trainer_kwargs`` go to the Trainer as they
    are (e.g. ``fast_dev_run=True``); under ``fast_dev_run`` or a ``max_steps`` that ends before
    any validation, the last weights are kept.
    """
    started = time.perf_counter()
    t, m = cfg.train, cfg.model
    pl.seed_everything(t.seed, workers=True, verbose=False)
    members = list(data) if isinstance(data, SeriesGroup) else [data]
    grouped = len(members) > 1  # a group of one is one series: no member embedding
    dm = WindowDataModule(data, cfg, with_member=grouped and m.member_embedding > 0)
    dm.setup("fit")
    anchor = choose_anchor(dm, cfg, members[0].freq)
    resolved = _resolved_config(cfg, members[0], dm.spec, anchor, data)
    module = module_for(resolved, dm.spec)
    warm = _warm_start(module, init_from, dm.spec) if init_from is not None else False
    run = _train(module, dm, cfg, progress_bar, callbacks, out_dir, trainer_kwargs)
    meta = fit_meta(dm, run.epochs, run.seconds, warm_start=warm, **run.record(module))
    fitted = FittedModel(
        module=module.cpu().eval(),
        config=resolved,
        spec=dm.spec,
        meta=meta,
        series=None if grouped else members[0],
    )
    with quiet_and_threaded(cpu_threads()):  # forecasting too: more threads only contend
        _select_and_score(fitted, members, cfg, run, anchor, warm)
        meta.served = _serve(fitted, dm, cfg, run, warm, serve_by)
    meta.fit_seconds = round(time.perf_counter() - started, 1)
    return fitted


@dataclass
class TrainRun:
    """What the training loop did: the epoch history (epoch 0, the untrained model, first), the
    best epoch (None under ``fast_dev_run`` or an early ``max_steps``), seconds and precision."""

    epochs: list[dict]
    best_epoch: int | None
    seconds: float
    precision: str
    distributed: dict[str, Any] | None

    def record(self, module: GRURegressor) -> dict[str, Any]:
        """The :class:`~forecaster.meta.ModelMeta` fields this run fills."""
        return {
            "best_epoch": self.best_epoch,
            "precision": self.precision,
            "parameters": sum(p.numel() for p in module.parameters()),
            "distributed": self.distributed,
        }


def _train(module, dm, cfg: Config, progress_bar, callbacks, out_dir, trainer_kwargs) -> TrainRun:
    """Validate the untrained model (epoch 0), train, and load the best epoch's weights."""
    t = cfg.train
    precision = resolve_precision(t.precision, t.accelerator)
    # The bar is for people watching a terminal; in cron logs and pipes it is noise.
    show_bar = (t.progress_bar and sys.stderr.isatty()) if progress_bar is None else progress_bar
    history, keep = History(), KeepBest()
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="forecaster-fit-") as tmp,
        quiet_and_threaded(cpu_threads()),
    ):
        # strict=False: a max_steps that ends mid-epoch skips validation; keep the last weights then.
        stop = EarlyStopping(monitor="val_mae", mode="min", patience=t.patience, strict=False)
        own = [SameData(), stop, keep, history, *([EpochBar()] if show_bar else [])]
        logger = make_logger(t.logger, Path(out_dir) if out_dir is not None else Path(tmp))
        kwargs = _trainer_args(cfg, dm, precision, [*own, *callbacks], logger, show_bar, tmp)
        trainer = make_trainer(kwargs | (trainer_kwargs or {}))
        # Epoch 0: the untrained model (its anchor) on the validation windows.
        (start,) = run_interruptible(
            lambda: trainer.validate(module, datamodule=dm, verbose=False), trainer
        )
        start_mae = float(start["val_mae"])
        keep.arm(start_mae, module)
        stop.best_score = torch.tensor(start_mae)
        # Lightning stores min_delta negated for mode="min" (it adds it to the current score)
        stop.min_delta = -t.min_improvement * start_mae
        run_interruptible(lambda: trainer.fit(module, datamodule=dm), trainer)
        best_epoch = None
        if keep.validated and not trainer.fast_dev_run:
            module.load_state_dict(keep.state)  # the same epoch on every process: one val_mae
            best_epoch = keep.epoch
        join_launched(trainer)
    epochs = [epoch_row(0, start), *history.epochs]
    return TrainRun(
        epochs, best_epoch, time.perf_counter() - started, precision, _distributed(trainer, t)
    )


def _trainer_args(cfg: Config, dm, precision: str, callbacks, logger, show_bar, tmp) -> dict:
    t = cfg.train
    # More than one process: DDP with Lightning's launcher (it runs this command once per
    # device); never the fork/spawn launchers Lightning would pick in a notebook, which train in
    # other processes and would leave the callbacks here (keep-best, history) empty.
    multi = t.strategy == "ddp" or t.devices * t.num_nodes > 1
    return dict(
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy="ddp" if multi else "auto",
        precision=precision,
        max_epochs=t.max_epochs,
        max_steps=t.max_steps,
        limit_train_batches=_epoch_batches(dm, cfg),
        gradient_clip_val=t.gradient_clip,
        deterministic=t.deterministic,
        callbacks=callbacks,
        logger=logger,
        enable_progress_bar=show_bar,
        enable_model_summary=False,
        log_every_n_steps=1,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        default_root_dir=tmp,
    )


def _distributed(trainer: pl.Trainer, t) -> dict[str, Any] | None:
    if trainer.world_size <= 1:
        return None
    return {
        "strategy": "ddp",
        "world_size": trainer.world_size,
        "devices": t.devices,
        "num_nodes": t.num_nodes,
        "accelerator": type(trainer.accelerator).__name__,
    }


def _epoch_batches(dm: WindowDataModule, cfg: Config) -> int | float:
    """Batches per training epoch (:mod:`forecaster.epochs`): the config's limit; by default the
    largest member's windows (for one series: all of them), or a random share of them for a
    series with many. An epoch of a group is then a fresh random share of the pooled windows, so
    a group trains no more epochs' worth of steps than one member would, and early stopping and
    the LR schedule react as often as for one series."""
    t = cfg.train
    if isinstance(t.limit_train_batches, float):  # a share: of each process's batches
        return t.limit_train_batches
    train = dm.counts["train"]
    total = -(-sum(train) // t.batch_size)
    return batches_per_epoch(max(train), total, t, epoch_share(max(train), t.stride))


def _select_and_score(
    fitted: FittedModel, members: list[Series], cfg: Config, run: TrainRun, anchor: Anchor, warm
) -> None:
    """Forecast the validation windows once; keep the share of the learned correction they
    justify; record the anchor, the metrics (validation and test) and the interval calibration."""
    t, meta, module = cfg.train, fitted.meta, fitted.module
    validation = evaluate_split(fitted, members, "val", cfg.backtest)
    blend, selection = 1.0, {}
    # Weights other than the anchor's won on validation (a trained epoch, or a warm start): by
    # enough to trust, and how much of the correction to keep?
    if run.best_epoch is not None and (run.best_epoch > 0 or warm):
        blend, selection = select_correction(validation, fitted.horizon, t.confidence, t.blend)
        module.blend.fill_(blend)
    fitted.validation = validation.with_blend(blend)
    meta.anchor = AnchorMeta(
        name=anchor.name,
        season=anchor.season if anchor.name == "seasonal_naive" else None,
        train_scores=anchor.train_scores,
        val_mae=round(float(run.epochs[0]["val_mae"]), 6) if not warm else None,
        blend=blend,
        selection=selection,
        # The saved model forecasts exactly as its anchor: no trained epoch (or share) beat it.
        is_anchor=blend == 0.0 or (run.best_epoch == 0 and not warm),
    )
    test = _test_evaluation(fitted, members, cfg)
    test = test.with_blend(blend) if test is not None else None  # the saved model's share
    meta.metrics = _metrics(fitted.validation, test, run)
    held_out = [e for e in (fitted.validation, test) if e is not None]
    fitted.calibration = _calibration(fitted, members, held_out)


def _serve(fitted: FittedModel, dm, cfg: Config, run: TrainRun, warm: bool, serve_by):
    """Train the served weights through the last row with the procedure's choices (see
    :func:`forecaster.served.serve`); the record for ``meta.served``."""
    proc = Procedure.from_history(
        run.epochs,
        run.best_epoch,
        warm=warm,
        precision=run.precision,
        rank=global_rank(),
        is_anchor=fitted.meta.anchor.is_anchor,
    )
    return serve(fitted, dm, cfg, proc, serve_by)


def _test_evaluation(fitted: FittedModel, members, cfg: Config) -> Evaluation | None:
    try:
        return evaluate_split(fitted, members, "test", cfg.backtest)
    except DataError:  # no test split (train.test_fraction 0, or dates that leave none)
        return None


def _metrics(validation: Evaluation, test: Evaluation | None, run: TrainRun) -> dict[str, float]:
    """``val_mae``/``val_rmse`` and ``test_*`` of the saved model, ``val_<baseline>_<metric>``, and
    the best epoch's ``val_loss``; a group's scores are pooled (relative to naive)."""
    name = validation.model
    table = validation.table()
    out = {f"val_{m}": float(table.loc[name, m]) for m in ("mae", "rmse")}
    if test is not None:
        out |= {f"test_{m}": float(test.table().loc[name, m]) for m in ("mae", "rmse")}
    for method, row in table.drop(index=name).iterrows():
        out |= {f"val_{method}_{m}": float(row[m]) for m in ("mae", "rmse")}
    if run.best_epoch is not None:
        out["val_loss"] = float(run.epochs[run.best_epoch].get("val_loss", float("nan")))
    return out


def _calibration(
    fitted: FittedModel, members: list[Series], held_out: list[Evaluation]
) -> Calibration | None:
    """What ``predict`` calibrates its intervals with: the scaled residuals of the saved model
    (its kept share of the correction) on the test windows of every member, and the adaptive
    state after walking them in time order (a backtest recalibrates walk-forward instead).

    The test windows, not the validation ones: those chose the best epoch and the blend, so the
    model's residuals there are biased low (``benchmarks/bench_adaptive.py`` measures by how much).
    Without a test split (``train.test_fraction: 0``) the validation windows are all there is.
    A window with an actual the NaN policy filled in (NaN in ``actuals``) has no residual to
    learn from: :meth:`Calibration.from_windows` leaves it out.
    """
    unseen = [e for e in held_out if e.split == "test"] or held_out[:1]
    by_symbol = {s.symbol: s for s in members}
    blend, H = float(fitted.module.blend), fitted.horizon
    parts, issue, ready, first, last = [], [], [], [], []
    for evaluation in unseen:
        for m in evaluation.members.values():
            series = by_symbol[m.symbol]
            scale = window_scale(
                series.values, m.origins, fitted.lookback, fitted.scale_mode, fitted.interval_lag
            )
            parts.append(scores(m.actuals, m.anchor + blend * (m.full - m.anchor), scale))
            stamps = series.index.as_unit("ns").asi8
            issue.append(stamps[m.origins])
            ready.append(stamps[m.origins + H - 1])
            first.append(series.index[m.origins[0]])
            last.append(series.index[m.origins[-1]])
    if not parts:
        return None
    return Calibration.from_windows(
        np.concatenate(parts),
        np.concatenate(issue),
        np.concatenate(ready),
        fitted.config.backtest.levels,
        lookback=fitted.lookback,
        mode=fitted.scale_mode,
        span=(str(min(first)), str(max(last))),
        lag=fitted.interval_lag,
    )


def _resolved_config(
    cfg: Config, series: Series, spec: FeatureSpec, anchor: Anchor, data: Series | SeriesGroup
) -> Config:
    """The config with defaults made explicit: target, covariates, calendar and anchor as trained
    (and a group's members as loaded: the embedding has one row per member, in this order)."""
    out = cfg.model_copy(deep=True)
    if isinstance(data, SeriesGroup) and out.data.group is not None:
        out.data.group = out.data.group.model_copy(update={"symbols": list(data.symbols)})
    out.data.target = series.target
    out.data.covariates = list(spec.covariates)
    out.data.weather_forecasts = forecast_variables(spec)  # what it reads: none if unavailable
    out.data.future_covariates = [c for c in spec.future if c in cfg.data.future_covariates]
    out.model.calendar = list(spec.calendar)
    out.model.known = list(spec.known)
    out.model.anchor = anchor.name
    if anchor.name == "seasonal_naive":
        out.backtest.season = anchor.season
    return out


def _warm_start(module: GRURegressor, init: FittedModel, spec: FeatureSpec) -> bool:
    """Copy ``init``'s learned weights when the features, the anchor and every shape match: the
    procedure's (its served weights saw rows that this fit validates and tests on)."""
    theirs = legacy_state(init.procedure().module.state_dict(), module)
    mine = module.state_dict()
    same = spec.names == init.spec.names and mine.keys() == theirs.keys()
    same = same and all(mine[k].shape == theirs[k].shape for k in mine)
    same = same and torch.equal(mine["anchor_map"], theirs["anchor_map"])
    if same:
        module.load_state_dict(theirs | {"blend": mine["blend"]})  # train the full correction
    else:
        log.info("warm start skipped: the previous model's features, anchor or shapes differ")
    return same
