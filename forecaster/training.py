"""Training: series + config in, a self-contained :class:`~forecaster.fitted.FittedModel` out.

``fit_model`` wires the three parts together and keeps them apart: the
:class:`~forecaster.data.windows.SeriesDataModule` (features, scaler, splits, windows), the
:class:`~forecaster.models.gru.GRURegressor` (network, loss, optimiser) and the Lightning ``Trainer``
(loop, device, precision, early stopping, the best weights kept). What to ship is decided in
:mod:`forecaster.selection` (the anchor before training, the kept correction after); the result,
its use and its files are :mod:`forecaster.fitted`; the Trainer's set-up, callbacks and
workarounds are :mod:`forecaster.loop`. This module runs the fit and records what it did.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning
import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping

from forecaster.backtest.baselines import future_windows
from forecaster.config import Config
from forecaster.data.features import FeatureSpec
from forecaster.data.group import SeriesGroup
from forecaster.data.pooled import GroupDataModule
from forecaster.data.series import Series
from forecaster.data.windows import SeriesDataModule
from forecaster.fitted import FittedModel, build_module, legacy_state
from forecaster.intervals import Calibration, scores, window_scale
from forecaster.loop import (
    EpochBar,
    History,
    KeepBest,
    SameData,
    cpu_threads,
    epoch_row,
    join_launched,
    make_logger,
    make_trainer,
    quiet_and_threaded,
    resolve_precision,
    run_interruptible,
)
from forecaster.models.gru import GRURegressor
from forecaster.selection import Anchor, choose_anchor, select_correction

log = logging.getLogger(__name__)


def _resolved_config(
    cfg: Config, series: Series, spec: FeatureSpec, anchor: Anchor, group: SeriesGroup | None
) -> Config:
    """The config with defaults made explicit: target, covariates, calendar and anchor as trained
    (and a group's members as loaded: the embedding has one row per member, in this order)."""
    out = cfg.model_copy(deep=True)
    if group is not None and out.data.group is not None:
        out.data.group = out.data.group.model_copy(update={"symbols": list(group.symbols)})
    out.data.target = series.target
    out.data.covariates = list(spec.covariates)
    out.model.calendar = list(spec.calendar)
    out.model.anchor = anchor.name
    if anchor.name == "seasonal_naive":
        out.backtest.season = anchor.season
    return out


def _warm_start(module: GRURegressor, init: FittedModel, spec: FeatureSpec) -> bool:
    """Copy ``init``'s learned weights when the features, the anchor and every shape match."""
    mine, theirs = module.state_dict(), legacy_state(init.module.state_dict(), module)
    same = spec.names == init.spec.names and mine.keys() == theirs.keys()
    same = same and all(mine[k].shape == theirs[k].shape for k in mine)
    same = same and torch.equal(mine["anchor_map"], theirs["anchor_map"])
    if same:
        module.load_state_dict(theirs | {"blend": mine["blend"]})  # train the full correction
    else:
        log.info("warm start skipped: the previous model's features, anchor or shapes differ")
    return same


# -- fit ----------------------------------------------------------------------------------------------
def fit_model(
    data: Series | SeriesGroup,
    cfg: Config,
    *,
    out_dir: Path | None = None,
    init_from: FittedModel | None = None,
    progress_bar: bool | None = None,
    callbacks: list[Callback] | None = None,
    trainer_kwargs: dict[str, Any] | None = None,
) -> FittedModel:
    """Train a GRU on ``data`` as ``cfg`` says; return the best model by validation MAE, in eval mode.

    ``data``: one series, or a :class:`~forecaster.data.group.SeriesGroup`: one global model is then
    trained on the pooled windows of every member (split by one date cut across the group, so no
    member's future is in another's training data) and serves each member.

    The network starts as its anchor (:func:`choose_anchor`) and is validated before the first
    epoch; that "epoch 0" competes with every trained epoch, and early stopping counts from it, so
    a run that never beats its anchor ends after ``train.patience`` epochs and returns the anchor.
    With ``model.blend`` the share of the learned correction is then chosen on validation.

    ``out_dir``: where the CSV/TensorBoard logs go (``out_dir/logs``); ``None`` keeps them in a
    temporary folder that is removed (the epoch history is still in ``meta["history"]``).
    ``init_from``: warm start from a previous model when features, anchor and shapes match.
    ``progress_bar`` overrides ``train.progress_bar``; ``trainer_kwargs`` go to the Trainer as they
    are (e.g. ``fast_dev_run=True``, ``limit_val_batches``); under ``fast_dev_run`` or a
    ``max_steps`` that ends before any validation, the last weights are kept.
    """
    t, m = cfg.train, cfg.model
    pl.seed_everything(t.seed, workers=True, verbose=False)
    if t.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS on CUDA
    precision = resolve_precision(t.precision, t.accelerator)
    group = data if isinstance(data, SeriesGroup) else None
    members = list(group) if group is not None else [data]
    series = members[0]  # target, frequency and units are common to a group
    dm = (
        GroupDataModule(group, cfg, with_member=m.member_embedding > 0)
        if group is not None
        else SeriesDataModule(data, cfg)
    )
    dm.setup("fit")
    assert dm.spec is not None
    anchor = choose_anchor(dm, cfg, series.freq)
    resolved = _resolved_config(cfg, series, dm.spec, anchor, group)
    module = build_module(resolved, dm.spec.n_features)
    warm = _warm_start(module, init_from, dm.spec) if init_from is not None else False

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
        bar = [EpochBar()] if show_bar else []
        # More than one process: DDP with Lightning's launcher (it runs this command once per
        # device); never the fork/spawn launchers Lightning would pick in a notebook, which train in
        # other processes and would leave the callbacks here (keep-best, history) empty.
        multi = t.strategy == "ddp" or t.devices * t.num_nodes > 1
        kwargs: dict[str, Any] = dict(
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
            callbacks=[SameData(), stop, keep, history, *bar, *(callbacks or [])],
            logger=make_logger(t.logger, Path(out_dir) if out_dir is not None else Path(tmp)),
            enable_progress_bar=show_bar,
            enable_model_summary=False,
            log_every_n_steps=1,
            num_sanity_val_steps=0,
            use_distributed_sampler=False,
            default_root_dir=tmp,
        )
        trainer = make_trainer(kwargs | (trainer_kwargs or {}))
        # Epoch 0: the untrained model (its anchor) on the validation windows.
        (start,) = run_interruptible(
            lambda: trainer.validate(module, datamodule=dm, verbose=False), trainer
        )
        keep.arm(float(start["val_mae"]), module)
        stop.best_score = torch.tensor(float(start["val_mae"]))
        # Lightning stores min_delta negated for mode="min" (it adds it to the current score)
        stop.min_delta = -t.min_improvement * float(start["val_mae"])
        run_interruptible(lambda: trainer.fit(module, datamodule=dm), trainer)
        best_epoch = None
        if keep.validated and not trainer.fast_dev_run:
            module.load_state_dict(keep.state)  # the same epoch on every process: one val_mae
            best_epoch = keep.epoch
        join_launched(trainer)
    seconds = time.perf_counter() - started
    module = module.cpu().eval()
    blend, selection = 1.0, {}
    # Weights other than the anchor's won on validation (a trained epoch, or a warm start): by
    # enough to trust, and how much of the correction to keep?
    if best_epoch is not None and (best_epoch > 0 or warm):
        blend, selection = select_correction(module, dm, t.confidence, t.blend)
        module.blend.fill_(blend)

    meta = _meta(
        members, dm, module, [epoch_row(0, start), *history.epochs], seconds, precision, warm
    )
    meta["best_epoch"] = best_epoch
    if trainer.world_size > 1:
        meta["distributed"] = {
            "strategy": "ddp",
            "world_size": trainer.world_size,
            "devices": t.devices,
            "num_nodes": t.num_nodes,
            "accelerator": type(trainer.accelerator).__name__,
        }
    meta["anchor"] = {
        "name": anchor.name,
        "season": anchor.season if anchor.name == "seasonal_naive" else None,
        "train_scores": anchor.train_scores,
        "val_mae": round(float(start["val_mae"]), 6) if not warm else None,
        "blend": blend,
        "selection": selection,
        # The saved model forecasts exactly as its anchor: no trained epoch (or share) beat it.
        "is_anchor": blend == 0.0 or (best_epoch == 0 and not warm),
    }
    if best_epoch is not None:
        meta["metrics"]["val_loss"] = float(
            meta["history"][best_epoch].get("val_loss", float("nan"))
        )
    fitted = FittedModel(
        module=module,
        config=resolved,
        spec=dm.spec,
        meta=meta,
        series=series if group is None else None,
    )
    held_out = _score_held_out(fitted, members, dm)
    fitted.calibration = _calibration(fitted, held_out)
    return fitted


def _score_held_out(
    fitted: FittedModel, members: list[Series], dm: SeriesDataModule | GroupDataModule
) -> list[tuple[pd.Timestamp, pd.Timestamp, np.ndarray]]:
    """The shipped model on the windows it never trained on (validation, then test): their MAE and
    RMSE go into ``meta["metrics"]``; per member and split, the first and last origin and the scaled
    residuals (n, H) are returned for the interval calibration."""
    m, metrics = fitted.config.model, fitted.meta["metrics"]
    held_out: list[tuple[pd.Timestamp, pd.Timestamp, np.ndarray]] = []  # never trained on
    for split in ("val", "test"):
        errors = []
        for member, origins in zip(members, dm.member_origins(split), strict=True):
            if not len(origins):
                continue
            y = member.values
            actuals = future_windows(y, origins, m.horizon)
            forecasts = fitted.predict_origins(member, origins)
            errors.append(forecasts - actuals)
            scale = window_scale(y, origins, m.lookback, m.scale, fitted.interval_lag)
            times = member.index[origins]
            held_out.append((times[0], times[-1], scores(actuals, forecasts, scale)))
        if errors:
            err = np.concatenate(errors)
            metrics[f"{split}_mae"] = float(np.abs(err).mean())
            metrics[f"{split}_rmse"] = float(np.sqrt(np.square(err).mean()))
    return held_out


def _epoch_batches(dm, cfg: Config) -> float | int | None:
    """Batches per training epoch: the config's limit; for a group by default as many as its
    largest member has on its own. An epoch is then a fresh random share of the pooled windows,
    so a group trains no more epochs' worth of steps than one member would, and early stopping
    and the LR schedule react as often as for one series."""
    t = cfg.train
    if t.limit_train_batches is not None or not isinstance(dm, GroupDataModule):
        return t.limit_train_batches
    largest = max(dm.counts["train"])
    return max(1, -(-largest // t.batch_size))


def _calibration(model: FittedModel, held_out: list) -> Calibration | None:
    """The scaled residuals of every validation and test window (of every member of a group), the
    newest data the model never trained on: what ``predict`` calibrates its intervals with (a
    backtest recalibrates walk-forward, on strictly earlier data)."""
    if not held_out:
        return None
    span = (str(min(a for a, _, _ in held_out)), str(max(b for _, b, _ in held_out)))
    return Calibration.from_scores(
        np.concatenate([r for _, _, r in held_out]),
        model.lookback,
        model.scale_mode,
        span,
        model.interval_lag,
    )


def _versions() -> dict[str, str]:
    from forecaster import __version__

    return {
        "forecaster": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


def _span(index: pd.DatetimeIndex, lo: int, hi: int) -> dict[str, Any]:
    if hi <= lo:
        return {"start": None, "end": None, "rows": 0}
    return {"start": str(index[lo]), "end": str(index[hi - 1]), "rows": hi - lo}


def _meta(members, dm, module, epochs, seconds, precision, warm) -> dict[str, Any]:
    series = members[0]
    index = series.index
    per_member = dm.bounds if isinstance(dm, GroupDataModule) else [dm.bounds]
    spans = [
        {name: _span(m.index, lo, hi) for name, (lo, hi) in bounds.items()}
        for m, bounds in zip(members, per_member, strict=True)
    ]
    windows = {name: len(ds) for name, ds in dm.datasets.items()}
    fingerprints = [m.fingerprint() for m in members]
    meta = {
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "series": _series_identity(series),
        "data": {"fingerprint": fingerprints[0], **_span(index, 0, len(series))},
        "splits": {name: span | {"windows": windows[name]} for name, span in spans[0].items()},
        "features": dm.spec.names,
        "metrics": {},
        "epochs_trained": len(epochs) - 1,  # epoch 0 (the untrained model) is not trained
        "train_seconds": round(seconds, 2),
        "precision": precision,
        "warm_start": warm,
        "parameters": sum(p.numel() for p in module.parameters()),
        "history": epochs,
        "versions": _versions(),
    }
    if isinstance(dm, GroupDataModule):
        meta |= _group_meta(members, dm, spans, fingerprints)
    return meta


def _group_meta(
    members: list[Series], dm: GroupDataModule, spans: list[dict], fingerprints: list[str]
) -> dict[str, Any]:
    """What a group model records besides one member's: every member's identity, data and splits,
    and the group's two cut instants (so a loaded model can rebuild its splits). The group has no
    one calendar: each member's forecasts are stamped with its own exchange's sessions."""
    first, last = min(m.start for m in members), max(m.end for m in members)
    digest = hashlib.sha256("".join(fingerprints).encode()).hexdigest()
    cuts = dm.cuts
    identity = _series_identity(members[0]) | {"symbol": dm.name, "source": "group"}
    identity.pop("calendar")
    return {
        "series": identity,
        "data": {"fingerprint": digest[:16], "start": str(first), "end": str(last)},
        # as for one series: the first and last row in each split, here of any member
        "splits": {name: _union_span([sp[name] for sp in spans]) for name in spans[0]},
        "group": {
            "name": dm.name,
            "cuts": {"train_end": str(cuts.train_end), "val_end": str(cuts.val_end)},
            "members": [
                _series_identity(m)
                | {"data": {"fingerprint": fp, **_span(m.index, 0, len(m))}}
                | {"splits": span, "windows": {k: dm.counts[k][i] for k in dm.counts}}
                for i, (m, span, fp) in enumerate(zip(members, spans, fingerprints, strict=True))
            ],
        },
    }


def _union_span(spans: list[dict[str, Any]]) -> dict[str, Any]:
    starts = [pd.Timestamp(s["start"]) for s in spans if s["start"] is not None]
    ends = [pd.Timestamp(s["end"]) for s in spans if s["end"] is not None]
    if not starts:
        return {"start": None, "end": None, "rows": 0}
    return {"start": str(min(starts)), "end": str(max(ends)), "rows": sum(s["rows"] for s in spans)}


def _series_identity(series: Series) -> dict[str, Any]:
    index = series.index
    return {
        "source": series.source,
        "symbol": series.symbol,
        "freq": series.freq,
        "target": series.target,
        "tz": str(index.tz) if index.tz is not None else None,
        "unit": series.units.get(series.target, ""),
        "calendar": series.calendar,
    }
