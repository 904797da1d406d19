"""Training: series + config in, a self-contained :class:`FittedModel` out.

``fit_model`` wires the three parts together and keeps them apart: the
:class:`~forecaster.data.windows.SeriesDataModule` (features, scaler, splits, windows), the
:class:`~forecaster.models.gru.GRURegressor` (network, loss, optimiser) and the Lightning ``Trainer``
(loop, device, precision, early stopping, best checkpoint). The result predicts from any series
with the saved feature spec (no refitting), evaluates on the same validation windows as training,
and saves/loads itself as ``model.pt`` (state_dict) + ``config.yaml`` + ``normalization.json`` +
``meta.json``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import logging
import os
import platform
import signal
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning
import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
import yaml
from lightning.pytorch.callbacks import Callback, EarlyStopping, TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm

from forecaster.backtest.baselines import season_for
from forecaster.backtest.metrics import diebold_mariano
from forecaster.config import Config, dump_config, validate_config
from forecaster.data.features import FeatureSpec, build_features
from forecaster.data.series import Series
from forecaster.data.windows import SeriesDataModule, split_bounds, window_starts
from forecaster.errors import ConfigError, DataError, ForecasterError, ModelError
from forecaster.io import atomic_path, write_json, write_text
from forecaster.models.anchor import anchor_scores, candidates
from forecaster.models.gru import GRURegressor

log = logging.getLogger(__name__)

PREDICT_BATCH = 256
"""Windows per forward pass when predicting. Larger is not faster on the CPU: a pass allocates
about batch x lookback x hidden activations per layer, and at 4096 windows of 168 steps (about 1 GB)
every pass page-faults fresh memory; 256 predicts Greensboro windows 10-40% faster and peaks far
lower (figures in benchmarks/README.md)."""
MAX_THREADS = 4
"""A GRU steps through time in small matrix products: extra intra-op threads mostly spin and contend
(on 2 cores, 1 thread trained AAPL faster than 2, with half the CPU time)."""


# -- building blocks --------------------------------------------------------------------------------
def build_module(cfg: Config, n_features: int) -> GRURegressor:
    """A fresh network sized by the config (and the feature count of its spec).

    ``model.anchor`` must be resolved (as in a saved config); ``auto`` -- a config saved before
    anchors existed -- builds the naive start those models had.
    """
    m, t = cfg.model, cfg.train
    anchor = "naive" if m.anchor == "auto" else m.anchor
    return GRURegressor(
        n_features=n_features,
        lookback=m.lookback,
        horizon=m.horizon,
        hidden_size=m.hidden_size,
        num_layers=m.num_layers,
        bidirectional=m.bidirectional,
        dropout=m.dropout,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        scale=m.scale,
        anchor=anchor,
        season=(cfg.backtest.season or 1) if anchor == "seasonal_naive" else 1,
    )


def resolve_precision(precision: str, accelerator: str) -> str:
    """``auto``: bf16-mixed on a CUDA GPU that supports it, else 16-mixed on CUDA, 32-true on the CPU."""
    on_gpu = torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda")
    if precision == "auto":
        if on_gpu:
            return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
        return "32-true"
    if precision == "16-mixed" and not on_gpu:
        raise ConfigError(
            "train.precision=16-mixed needs a CUDA GPU — use 32-true (or bf16-mixed) on the CPU"
        )
    return precision


def _make_logger(kind: str, save_dir: Path):
    if kind == "none":
        return False
    if kind == "tensorboard":
        if (
            importlib.util.find_spec("tensorboard") is None
            and importlib.util.find_spec("tensorboardX") is None
        ):
            raise ConfigError(
                "train.logger=tensorboard needs TensorBoard — pip install 'forecaster[tensorboard]' "
                "or set train.logger to csv"
            )
        from lightning.pytorch.loggers import TensorBoardLogger

        return TensorBoardLogger(save_dir=str(save_dir), name="logs", default_hp_metric=False)
    from lightning.pytorch.loggers import CSVLogger

    return CSVLogger(save_dir=str(save_dir), name="logs")


@contextlib.contextmanager
def _quiet_and_threaded(threads: int) -> Iterator[None]:
    """Mute Lightning's banners and hints for the duration of a fit; use ``threads`` CPU threads."""
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    old_threads = torch.get_num_threads()
    try:
        for lg in loggers:
            lg.setLevel(logging.WARNING)
        torch.set_num_threads(threads)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=r".*smaller than the logging interval.*")
            warnings.filterwarnings("ignore", message=r".*GPU available but not used.*")
            warnings.filterwarnings("ignore", message=r".*pin_memory.*")
            warnings.filterwarnings("ignore", message=r".*LeafSpec.*")  # Lightning vs newer torch
            yield
    finally:
        torch.set_num_threads(old_threads)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _cpu_threads() -> int:
    """Half the usable logical cores (about one per physical core), at most MAX_THREADS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores // 2, MAX_THREADS))


class _EpochBar(TQDMProgressBar):
    """TQDM (never Rich, whatever is installed): one bar per epoch, no bar for the short validation."""

    def init_validation_tqdm(self) -> Tqdm:
        return Tqdm(disable=True)

    def get_metrics(self, trainer, pl_module):
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        return items


class _History(Callback):
    """Epoch-level metrics (train_loss, val_loss, val_mae, val_rmse) kept in memory for meta.json."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.epochs.append(_epoch_row(trainer.current_epoch + 1, trainer.callback_metrics))


def _epoch_row(epoch: int, metrics: dict[str, Any]) -> dict[str, float]:
    row: dict[str, float] = {"epoch": epoch}
    for key in ("train_loss", "val_loss", "val_mae", "val_rmse"):
        if key in metrics:
            row[key] = round(float(metrics[key]), 6)
    return row


class _KeepBest(Callback):
    """The weights of the epoch with the lowest ``val_mae`` (units), kept in memory.

    Armed with the score and weights of the model *before* training (epoch 0: the anchor, or the
    warm start), so a training run that never beats its starting point returns the starting point.
    """

    def __init__(self) -> None:
        self.score = float("inf")
        self.epoch: int | None = None
        self.state: dict[str, torch.Tensor] | None = None
        self.validated = False  # did any validation run after training started?

    def arm(self, score: float, module: pl.LightningModule) -> None:
        self.score, self.epoch, self.state = score, 0, _copy_state(module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.state is None or trainer.sanity_checking or trainer.state.fn != "fit":
            return
        self.validated = True
        score = float(trainer.callback_metrics.get("val_mae", float("nan")))
        if score < self.score:  # NaN never wins
            self.score, self.epoch = score, trainer.current_epoch + 1
            self.state = _copy_state(pl_module)


def _copy_state(module: pl.LightningModule) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _resolved_config(cfg: Config, series: Series, spec: FeatureSpec, anchor: Anchor) -> Config:
    """The config with defaults made explicit: target, covariates, calendar and anchor as trained."""
    out = cfg.model_copy(deep=True)
    out.data.target = series.target
    out.data.covariates = list(spec.covariates)
    out.model.calendar = list(spec.calendar)
    out.model.anchor = anchor.name
    if anchor.name == "seasonal_naive":
        out.backtest.season = anchor.season
    return out


def _warm_start(module: GRURegressor, init: FittedModel, spec: FeatureSpec) -> bool:
    """Copy ``init``'s learned weights when the features, the anchor and every shape match."""
    mine, theirs = module.state_dict(), _legacy_state(init.module.state_dict(), module)
    same = spec.names == init.spec.names and mine.keys() == theirs.keys()
    same = same and all(mine[k].shape == theirs[k].shape for k in mine)
    same = same and torch.equal(mine["anchor_map"], theirs["anchor_map"])
    if same:
        module.load_state_dict(theirs | {"blend": mine["blend"]})  # train the full correction
    else:
        log.info("warm start skipped: the previous model's features, anchor or shapes differ")
    return same


def _legacy_state(state: dict[str, torch.Tensor], module: GRURegressor) -> dict[str, torch.Tensor]:
    """A state_dict saved before anchors existed lacks anchor_map and blend: it started naive."""
    fresh = module.state_dict()
    return {k: fresh[k] for k in ("anchor_map", "blend") if k not in state} | dict(state)


# -- the anchor ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Anchor:
    """The simple forecast a fit starts from, and how the candidates scored on the training windows."""

    name: str
    season: int
    train_scores: dict[str, float]
    """Candidate -> MAE in normalised units (per-window scale) over the training windows."""


MAX_ANCHOR_WINDOWS = 20_000
"""Training windows scored per anchor candidate (evenly spaced): plenty to rank three forecasts."""


def choose_anchor(dm: SeriesDataModule, cfg: Config, freq: str) -> Anchor:
    """Score naive, seasonal naive and drift on the training windows; the configured or best one wins.

    Only the training split is read, so the choice leaks nothing from validation or test. Ties go
    to the simpler forecast (naive, then seasonal naive, then drift).
    """
    m = cfg.model
    season = cfg.backtest.season or season_for(freq)
    names = candidates(m.lookback, season)
    if m.anchor != "auto":
        if m.anchor not in names:
            raise ConfigError(
                f"model.anchor={m.anchor} does not fit lookback {m.lookback} (season {season}) — "
                "use a lookback of at least one season, or model.anchor: auto"
            )
        names = [m.anchor]
    ds = dm.datasets["train"]
    starts = ds.starts
    if len(starts) > MAX_ANCHOR_WINDOWS:
        starts = starts[torch.linspace(0, len(starts) - 1, MAX_ANCHOR_WINDOWS).long()]
    target = ds.windows[starts, 0]  # (N, L + H) target values, gathered from the shared view
    L = m.lookback
    scores = anchor_scores(target[:, :L], target[:, L:], names, season, m.scale)
    best = min(names, key=lambda n: scores[n])  # min keeps the first of equal scores
    return Anchor(best, season, {k: round(v, 6) for k, v in scores.items()})


BLEND_GRID = np.linspace(0.0, 1.0, 21)


def _val_forecasts(module: GRURegressor, dm: SeriesDataModule) -> tuple[np.ndarray, ...]:
    """The model's and the anchor's forecasts and the actuals, each (n, H) in units, on the val windows."""
    model_fc, anchor_fc, actual = [], [], []
    ds = dm.datasets["val"]
    module.eval()
    with torch.inference_mode():
        for chunk in torch.arange(len(ds)).split(PREDICT_BATCH):
            x, y = ds[chunk]
            x = x.to(module.device)
            model_fc.append(module(x).double().cpu())
            anchor_fc.append(module.forward_anchor(x).double().cpu())
            actual.append(y.double())
    return tuple(torch.cat(p).numpy() for p in (model_fc, anchor_fc, actual))


def select_correction(
    module: GRURegressor, dm: SeriesDataModule, confidence: float, blend: bool
) -> tuple[float, dict[str, Any]]:
    """How much of the learned correction to keep: 0 (the anchor) .. 1 (the trained model).

    0 unless the trained model beats the anchor on the validation windows with ``confidence``
    (one-sided Diebold-Mariano test on per-window MAE, Newey-West lags = horizon). Then, with
    ``blend``, the share of the grid 0, 0.05, .., 1 with the lowest validation MAE (forecasts are
    linear in the share), else 1. Returns the share and what decided it (MAEs in units).
    """
    full, base, y = _val_forecasts(module, dm)
    t_stat, p_value = diebold_mariano(y, full, base, lag=module.hparams.horizon)
    info: dict[str, Any] = {
        "anchor_mae": float(np.abs(base - y).mean()),
        "trained_mae": float(np.abs(full - y).mean()),
        "dm_t": round(t_stat, 3),
        "p_value": round(p_value, 4),
    }
    if p_value > 1.0 - confidence:
        return 0.0, info | {"decision": f"gain not significant (p={p_value:.2f})"}
    if not blend:
        return 1.0, info | {"decision": "significant gain"}
    maes = np.array([np.abs(base + a * (full - base) - y).mean() for a in BLEND_GRID])
    share = float(BLEND_GRID[int(np.argmin(maes))])
    return share, info | {"decision": "significant gain", "chosen_mae": float(maes.min())}


def _run_interruptible(run: Callable[[], Any], trainer: pl.Trainer) -> Any:
    """``run()`` (a Trainer call), but Ctrl+C raises KeyboardInterrupt (Lightning would ``sys.exit(1)``)."""
    handler = signal.getsignal(signal.SIGINT)
    try:
        return run()
    except SystemExit:
        if not trainer.interrupted:
            raise
        if handler is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, handler)  # Lightning left Ctrl+C ignored
        raise KeyboardInterrupt from None


# -- fit ----------------------------------------------------------------------------------------------
def fit_model(
    series: Series,
    cfg: Config,
    *,
    out_dir: Path | None = None,
    init_from: FittedModel | None = None,
    progress_bar: bool | None = None,
    callbacks: list[Callback] | None = None,
    trainer_kwargs: dict[str, Any] | None = None,
) -> FittedModel:
    """Train a GRU on ``series`` as ``cfg`` says; return the best model by validation MAE, in eval mode.

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
    dm = SeriesDataModule(series, cfg)
    dm.setup("fit")
    assert dm.spec is not None
    anchor = choose_anchor(dm, cfg, series.freq)
    resolved = _resolved_config(cfg, series, dm.spec, anchor)
    module = build_module(resolved, dm.spec.n_features)
    warm = _warm_start(module, init_from, dm.spec) if init_from is not None else False

    # The bar is for people watching a terminal; in cron logs and pipes it is noise.
    show_bar = (t.progress_bar and sys.stderr.isatty()) if progress_bar is None else progress_bar
    history, keep = _History(), _KeepBest()
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="forecaster-fit-") as tmp,
        _quiet_and_threaded(_cpu_threads()),
    ):
        # strict=False: a max_steps that ends mid-epoch skips validation; keep the last weights then.
        stop = EarlyStopping(monitor="val_mae", mode="min", patience=t.patience, strict=False)
        bar = [_EpochBar()] if show_bar else []
        kwargs: dict[str, Any] = dict(
            accelerator=t.accelerator,
            devices=1,
            precision=precision,
            max_epochs=t.max_epochs,
            max_steps=t.max_steps,
            limit_train_batches=t.limit_train_batches,
            gradient_clip_val=t.gradient_clip,
            deterministic=t.deterministic,
            callbacks=[stop, keep, history, *bar, *(callbacks or [])],
            logger=_make_logger(t.logger, Path(out_dir) if out_dir is not None else Path(tmp)),
            enable_progress_bar=show_bar,
            enable_model_summary=False,
            log_every_n_steps=1,
            num_sanity_val_steps=0,
            use_distributed_sampler=False,
            default_root_dir=tmp,
        )
        trainer = pl.Trainer(**(kwargs | (trainer_kwargs or {})))
        # Epoch 0: the untrained model (its anchor) on the validation windows.
        (start,) = _run_interruptible(
            lambda: trainer.validate(module, datamodule=dm, verbose=False), trainer
        )
        keep.arm(float(start["val_mae"]), module)
        stop.best_score = torch.tensor(float(start["val_mae"]))
        _run_interruptible(lambda: trainer.fit(module, datamodule=dm), trainer)
        best_epoch = None
        if keep.validated and not trainer.fast_dev_run:
            module.load_state_dict(keep.state)
            best_epoch = keep.epoch
    seconds = time.perf_counter() - started
    module = module.cpu().eval()
    blend, selection = 1.0, {}
    # Weights other than the anchor's won on validation (a trained epoch, or a warm start): by
    # enough to trust, and how much of the correction to keep?
    if best_epoch is not None and (best_epoch > 0 or warm):
        blend, selection = select_correction(module, dm, t.confidence, t.blend)
        module.blend.fill_(blend)

    meta = _meta(
        series, dm, module, [_epoch_row(0, start), *history.epochs], seconds, precision, warm
    )
    meta["epochs_trained"] = len(history.epochs)
    meta["best_epoch"] = best_epoch
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
    fitted = FittedModel(module=module, config=resolved, spec=dm.spec, meta=meta, series=series)
    y = series.values
    for split in ("val", "test"):
        # The windows evaluate_split scores, without its (n, lookback) histories: those grow with
        # lookback x windows and are not needed here (benchmarks/bench_memory.py).
        origins = window_starts(*dm.bounds[split], m.lookback + m.horizon) + m.lookback
        if len(origins):
            actuals = y[origins[:, None] + np.arange(m.horizon)]
            err = fitted.predict_origins(series, origins) - actuals
            meta["metrics"][f"{split}_mae"] = float(np.abs(err).mean())
            meta["metrics"][f"{split}_rmse"] = float(np.sqrt(np.square(err).mean()))
    return fitted


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


def _meta(series, dm, module, epochs, seconds, precision, warm) -> dict[str, Any]:
    index = series.index
    splits = {}
    for name, (lo, hi) in dm.bounds.items():
        splits[name] = _span(index, lo, hi) | {"windows": len(dm.datasets[name])}
    return {
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "series": {
            "source": series.source,
            "symbol": series.symbol,
            "freq": series.freq,
            "target": series.target,
            "tz": str(index.tz) if index.tz is not None else None,
            "unit": series.units.get(series.target, ""),
        },
        "data": {"fingerprint": series.fingerprint(), **_span(index, 0, len(series))},
        "splits": splits,
        "features": dm.spec.names,
        "metrics": {},
        "epochs_trained": len(epochs),
        "train_seconds": round(seconds, 2),
        "precision": precision,
        "warm_start": warm,
        "parameters": sum(p.numel() for p in module.parameters()),
        "history": epochs,
        "versions": _versions(),
    }


# -- the fitted model ---------------------------------------------------------------------------------
@dataclass
class FittedModel:
    """A trained network with everything needed to use it again: config, feature spec, provenance.

    ``meta`` is what ``meta.json`` holds: series identity, data fingerprint and span, split spans,
    validation metrics in target units (``val_mae``, ``val_rmse``; ``val_loss`` is normalised MSE),
    epoch history and library versions. ``series`` is the training series (kept in memory only).
    """

    module: GRURegressor
    config: Config
    spec: FeatureSpec
    meta: dict[str, Any]
    series: Series | None = field(default=None, repr=False)

    @property
    def lookback(self) -> int:
        return self.config.model.lookback

    @property
    def horizon(self) -> int:
        return self.config.model.horizon

    @property
    def target(self) -> str:
        return self.spec.target

    @property
    def freq(self) -> str:
        return self.meta["series"]["freq"]

    @property
    def fingerprint(self) -> str:
        return self.meta["data"]["fingerprint"]

    @property
    def metrics(self) -> dict[str, float]:
        return self.meta["metrics"]

    def _check(self, series: Series) -> None:
        if series.freq != self.freq:
            raise DataError(
                f"{series.source}:{series.symbol}: the model was trained on '{self.freq}' steps but the "
                f"series has '{series.freq}' — load the series at the model's interval"
            )

    def predict_origins(self, series: Series, origins: np.ndarray) -> np.ndarray:
        """Forecasts (n_origins, H) float64 in target units; origin ``o`` forecasts rows [o, o + H).

        Uses rows [o - L, o) of ``series`` only, with the saved feature spec (no refitting).
        ``origins``: int row positions with ``L <= o <= len(series)``.
        """
        self._check(series)
        origins = np.asarray(origins, dtype=np.int64).reshape(-1)
        L, H = self.lookback, self.horizon
        if len(origins) == 0:
            return np.zeros((0, H), dtype=np.float64)
        if origins.min() < L or origins.max() > len(series):
            raise DataError(
                f"forecast origins must lie in [{L}, {len(series)}] (lookback {L}, {len(series)} rows); "
                f"got {origins.min()} .. {origins.max()} — start the backtest later or use more history"
            )
        feats = torch.from_numpy(build_features(series, self.spec))
        # (T - L + 1, F, L), a view: window o - L covers rows [o - L, o), ending just before o
        windows = feats.unfold(0, L, 1)
        starts = torch.from_numpy(origins - L)
        device = self.module.device
        out = []
        self.module.eval()
        with torch.inference_mode():
            for chunk in starts.split(PREDICT_BATCH):
                x = windows[chunk].transpose(1, 2).contiguous().to(device)
                out.append(self.module(x).double().cpu())
        return torch.cat(out).numpy()

    def predict(self, series: Series) -> pd.DataFrame:
        """The next H steps after the last row: index = future timestamps, column ``forecast`` (units)."""
        forecast = self.predict_origins(series, np.array([len(series)]))[0]
        return pd.DataFrame(
            {"forecast": forecast}, index=future_index(series.end, series.freq, self.horizon)
        )

    def split_origins(self, split: str = "val", series: Series | None = None) -> np.ndarray:
        """Origins (row positions) of every window of a split (stride 1), as training defined the splits.

        Origin ``o`` forecasts rows ``[o, o + H)`` from rows ``[o - L, o)``; all of them lie inside
        the split. Raises a DataError when the split holds no full window.
        """
        series = series if series is not None else self.series
        if series is None:
            raise ModelError(
                f"this model was loaded from disk — pass the series: {split} origins need it"
            )
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be train, val or test, got {split!r}")
        t, L, H = self.config.train, self.lookback, self.horizon
        bounds = split_bounds(
            series.index,
            val_fraction=t.val_fraction,
            test_fraction=t.test_fraction,
            train_end=t.train_end,
            val_end=t.val_end,
        )
        origins = window_starts(*bounds[split], L + H) + L
        if len(origins) == 0:
            lo, hi = bounds[split]
            raise DataError(
                f"the {split} split has {hi - lo} rows, fewer than lookback {L} + horizon {H}"
            )
        return origins

    def evaluate_split(
        self, split: str = "val", series: Series | None = None
    ) -> dict[str, np.ndarray]:
        """The model on every window of a split (stride 1), as training defined the splits.

        Returns ``origins`` (n,) row positions, ``times`` (n,) the first forecast timestamps,
        ``actuals`` (n, H) and ``forecasts`` (n, H) in target units, ``histories`` (n, L) the target
        over each lookback (for naive and seasonal-naive baselines on the same windows).
        """
        series = series if series is not None else self.series
        origins = self.split_origins(split, series)
        L, H = self.lookback, self.horizon
        y = series.values
        return {
            "origins": origins,
            "times": np.asarray(series.index[origins]),
            "actuals": y[origins[:, None] + np.arange(H)],
            "forecasts": self.predict_origins(series, origins),
            "histories": y[origins[:, None] - L + np.arange(L)],
        }

    # -- persistence --------------------------------------------------------------------------------
    def save(self, directory: Path) -> Path:
        """Write model.pt (state_dict), config.yaml, normalization.json and meta.json into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / "model.pt") as tmp:
            torch.save(self.module.state_dict(), tmp)
        write_text(directory / "config.yaml", dump_config(self.config))
        write_json(directory / "normalization.json", self.spec.to_dict())
        write_json(directory / "meta.json", self.meta)
        return directory

    @classmethod
    def load(cls, directory: Path) -> FittedModel:
        """Rebuild a saved model; a missing or corrupt file is a one-line ModelError."""
        directory = Path(directory)

        def read(name: str, parse):
            path = directory / name
            if not path.is_file():
                raise ModelError(
                    f"model folder {directory} has no {name} — it is incomplete; retrain (forecast fit) or "
                    "choose another version"
                )
            try:
                return parse(path)
            except ForecasterError as exc:
                raise ModelError(f"{path} is invalid ({exc}) — retrain (forecast fit)") from None
            except Exception as exc:  # unpickling, JSON, YAML, shape errors: all mean a bad file
                first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
                if "weights_only" in str(exc) or "Unpickl" in type(exc).__name__:
                    first = "not a valid weights file"  # torch's text suggests an unsafe load
                raise ModelError(
                    f"{path} is corrupt or incompatible ({type(exc).__name__}: {first}) — retrain "
                    "(forecast fit) or return to the previous champion (forecast models rollback)"
                ) from None

        cfg = read(
            "config.yaml", lambda p: validate_config(yaml.safe_load(p.read_text("utf-8")), str(p))
        )
        spec = read(
            "normalization.json", lambda p: FeatureSpec.from_dict(json.loads(p.read_text("utf-8")))
        )
        meta = read("meta.json", _parse_meta)
        module = build_module(cfg, spec.n_features)
        read(
            "model.pt",
            lambda p: module.load_state_dict(
                _legacy_state(torch.load(p, map_location="cpu", weights_only=True), module)
            ),
        )
        return cls(module=module.eval(), config=cfg, spec=spec, meta=meta)


def _parse_meta(path: Path) -> dict[str, Any]:
    meta = json.loads(path.read_text("utf-8"))
    if not isinstance(meta, dict) or "freq" not in meta.get("series", {}):
        raise ValueError("no series.freq: not a model's meta.json")
    if "fingerprint" not in meta.get("data", {}) or not isinstance(meta.get("metrics"), dict):
        raise ValueError("no data.fingerprint or metrics: not a model's meta.json")
    return meta


def future_index(last: pd.Timestamp, freq: str, horizon: int) -> pd.DatetimeIndex:
    """The ``horizon`` timestamps after ``last``: next trading days for ``"B"`` (weekends skipped)."""
    offset = pd.tseries.frequencies.to_offset(freq)
    return pd.date_range(last + offset, periods=horizon, freq=offset, name="time")
