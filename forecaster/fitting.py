"""A fit as the product runs it: train on a config's series or group, then save a model version."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from lightning.pytorch.callbacks import Callback

from forecaster.config import Config
from forecaster.data.group import SeriesGroup, load_group, store_key
from forecaster.data.loader import load_series
from forecaster.data.series import Series
from forecaster.fitted import FittedModel
from forecaster.forecast_inputs import with_forecasts
from forecaster.loop import global_rank
from forecaster.registry import ChampionChanged, ModelStore, VersionInfo
from forecaster.settings import paths
from forecaster.training import fit_model

log = logging.getLogger(__name__)

PROMOTE = ("if-none", "always", "never")


def store() -> ModelStore:
    """The model store under the current data root."""
    return ModelStore(paths().models)


def load_members(cfg: Config) -> Series | SeriesGroup:
    """What a config names: its group, or its one series (live source, cache or snapshot), with
    the weather forecasts it reads as issued (:mod:`forecaster.forecast_inputs`)."""
    if cfg.data.group is not None:
        return with_forecasts(load_group(cfg.data), cfg)
    return with_forecasts(load_series(cfg.data), cfg)


@dataclass
class FitResult:
    """A trained model, where it was saved, and how it did on the validation windows."""

    model: FittedModel
    series: Series | SeriesGroup
    """The training series, or the group of a global model."""
    key: str
    version: VersionInfo | None
    table: pd.DataFrame
    """The validation table (:meth:`~forecaster.backtest.evaluate.Evaluation.table`): rows the
    model and every baseline; columns mae, rmse (target units; for a group pooled relative to
    naive), windows; ``attrs`` season (and for a group: relative, members)."""
    seconds: float
    promoted: bool = False
    rank: int = 0
    """This process's rank in a multi-device fit; only rank 0 saves (``version`` is None elsewhere)."""


def fit(
    cfg: Config,
    *,
    series: Series | SeriesGroup | None = None,
    save: bool = True,
    promote: str = "if-none",
    init_from: FittedModel | None = None,
    callbacks: Sequence[Callback] = (),
) -> FitResult:
    """Train a GRU on the config's series (or group), compare it with baselines, save a version.

    ``promote``: ``"if-none"`` makes the new model champion only when the series has none yet,
    ``"always"`` always, ``"never"`` never (nightly retraining decides for itself).
    ``callbacks``: extra Lightning callbacks for the Trainer (the caller's, e.g. fault injection).
    """
    if promote not in PROMOTE:
        raise ValueError(f"promote must be one of {PROMOTE}, got {promote!r}")
    series = series if series is not None else load_members(cfg)
    key = store_key(cfg.data)
    t0 = time.perf_counter()
    model = fit_model(series, cfg, init_from=init_from, callbacks=callbacks)
    seconds = time.perf_counter() - t0
    table = model.validation.table()
    version, promoted = None, False
    rank = global_rank()
    if save and rank == 0:  # the other processes of a multi-device fit trained the same weights
        version, promoted = _save(key, model, promote)
    return FitResult(model, series, key, version, table, seconds, promoted, rank)


def _save(key: str, model: FittedModel, promote: str) -> tuple[VersionInfo, bool]:
    st = store()
    st.recover(key)  # only what dead runs left: a version another run is writing stays
    version = st.save(key, model.save)
    if promote == "always":
        st.promote(key, version.version, reason="fit")
        return version, True
    if promote == "if-none":
        try:  # atomic "if none": a champion chosen meanwhile by another run is kept
            st.promote(key, version.version, reason="first model", expected=None)
            return version, True
        except ChampionChanged:
            pass
    return version, False
