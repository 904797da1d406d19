"""A trained model, ready to use: predict, save, load (the other half of :mod:`forecaster.training`).

A :class:`FittedModel` is the network plus everything needed to use it again without the training
data: the resolved config, the feature spec (covariate scaler fitted on the training rows) and
provenance (``meta``), and the calibration of its prediction intervals. It forecasts from any
series with the saved spec (no refitting), and saves and loads itself as one folder: ``model.pt``
(state_dict), ``procedure.pt``, ``config.yaml``, ``normalization.json``, ``calibration.json`` and
``meta.json``.

Two sets of weights: the *served* ones (``model.pt``, :attr:`FittedModel.module`: what ``predict``
and the nightly job serve, trained through the last row of the data, see :mod:`forecaster.served`)
and the *procedure's* (``procedure.pt``, :meth:`FittedModel.procedure`: the weights the fit
evaluated on the validation and test rows, which never trained on them). Every evaluation --
``backtest``, the nightly holdout -- scores the procedure. A folder saved before serving has no
``procedure.pt``: its ``model.pt`` is the procedure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from forecaster.config import Config, dump_config, read_yaml, validate_config
from forecaster.data import calendars
from forecaster.data.features import FeatureSpec, ahead_values, build_features
from forecaster.data.series import TRADING_DAYS, Series, is_intraday
from forecaster.data.splits import SPLIT_NAMES, SPLITS, Cuts, cuts_for, origins_in, split_rows
from forecaster.errors import DataError, ForecasterError, ModelError
from forecaster.intervals import Calibration, level_name, window_scale
from forecaster.io import atomic_path, write_json, write_text
from forecaster.meta import ModelMeta
from forecaster.models import gru
from forecaster.models.gru import GRURegressor
from forecaster.models.integrity import check_state, check_weights, corrupt

PROCEDURE_FILE = "procedure.pt"
"""The procedure's weights, beside the served ``model.pt`` (see the module docstring)."""

Weights = Literal["served", "procedure"]
WEIGHTS: tuple[str, ...] = ("served", "procedure")

PREDICT_BATCH = 256
"""Windows per forward pass when predicting. Larger is not faster on the CPU: a pass allocates
about batch x lookback x hidden activations per layer, and at 4096 windows of 168 steps (about 1 GB)
every pass page-faults fresh memory; 256 predicts Greensboro windows 10-40% faster and peaks far
lower (figures in benchmarks/README.md)."""


def anchor_season(cfg: Config) -> int:
    """The season the anchor works with: ``backtest.season`` for a seasonal-naive anchor, else 1.
    It sizes the anchor's selection matrix and is the lag of the changes that scale the intervals."""
    return (cfg.backtest.season or 1) if cfg.model.anchor == "seasonal_naive" else 1


def build_module(
    cfg: Config, n_features: int, n_known: int = 0, target_like: tuple = ()
) -> GRURegressor:
    """A fresh network sized by the config (and the feature count and known-ahead columns of its
    spec: :func:`module_for`).

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
        season=anchor_season(cfg),
        n_members=len(cfg.data.group.symbols) if cfg.data.group is not None else 0,
        member_embedding=m.member_embedding,
        n_known=n_known,
        target_like=target_like,
    )


def module_for(cfg: Config, spec: FeatureSpec) -> GRURegressor:
    """A fresh network for ``cfg`` that reads the features of ``spec``."""
    return build_module(cfg, spec.n_features, spec.n_known, spec.target_like)


def legacy_state(state: dict[str, torch.Tensor], module: GRURegressor) -> dict[str, torch.Tensor]:
    """A state_dict saved before anchors existed lacks anchor_map and blend (it started naive),
    one saved before inputs known ahead lacks target_like (it read none)."""
    fresh = module.state_dict()
    return {k: fresh[k] for k in ("anchor_map", "blend", "target_like") if k not in state} | dict(
        state
    )


@dataclass
class FittedModel:
    """A trained network with everything needed to use it again: config, feature spec, provenance.

    ``meta`` is what ``meta.json`` holds (:class:`~forecaster.meta.ModelMeta`): series identity,
    data fingerprint and span, split spans and cuts, validation metrics in target units, epoch
    history and library versions. ``series`` is the training series (kept in memory only), and
    ``validation`` the evaluation the fit computed on the validation windows (in memory only).
    """

    module: GRURegressor
    config: Config
    spec: FeatureSpec
    meta: ModelMeta
    series: Series | None = field(default=None, repr=False)
    calibration: Calibration | None = None
    """Out-of-sample residuals for prediction intervals (``calibration.json``); None for a model
    saved before intervals existed."""
    validation: Any = field(default=None, repr=False)
    """The fit's :class:`~forecaster.backtest.evaluate.Evaluation` of the validation windows."""
    procedure_state: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    """The procedure's weights (a state_dict) where ``module`` holds other, served weights; None:
    ``module`` is the procedure (a model saved before serving, or one served as evaluated)."""

    name = gru.NAME

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
        return self.meta.series.freq

    @property
    def metrics(self) -> dict[str, float]:
        return self.meta.metrics

    @property
    def scale_mode(self) -> str:
        """How a window's spread is measured (``diff`` or ``level``): the scale of its intervals."""
        return self.config.model.scale

    @property
    def interval_lag(self) -> int:
        """The lag of the changes whose spread scales interval residuals: the season for a
        seasonal-naive anchor (day-to-day variability), else 1 (step-to-step)."""
        return anchor_season(self.config)

    def calendar_of(self, series: Series) -> str | None:
        """The exchange calendar forecasts are stamped with: the one the model was trained with
        (``meta.series.calendar``), else the series' own (a model saved before calendars)."""
        return self.meta.series.calendar or series.calendar

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
        return self._forecast(series, origins, anchor=False)[0]

    def forecast_with_anchor(
        self, series: Series, origins: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The model's forecasts with its whole learned correction (blend 1) and its anchor's,
        each (n_origins, H) float64 in target units, from one pass over the windows: the saved
        model forecasts ``anchor + blend * (full - anchor)``."""
        blend = float(self.module.blend)
        self.module.blend.fill_(1.0)
        try:
            full, anchor = self._forecast(series, origins, anchor=True)
        finally:
            self.module.blend.fill_(blend)
        return full, anchor

    def _forecast(self, series: Series, origins: np.ndarray, anchor: bool) -> list[np.ndarray]:
        self._check(series)
        origins = np.asarray(origins, dtype=np.int64).reshape(-1)
        L, H = self.lookback, self.horizon
        if len(origins) == 0:
            return [np.zeros((0, H), dtype=np.float64)] * 2
        if origins.min() < L or origins.max() > len(series):
            raise DataError(
                f"forecast origins must lie in [{L}, {len(series)}] (lookback {L}, {len(series)} rows); "
                f"got {origins.min()} .. {origins.max()} — start the backtest later or use more history"
            )
        feats = torch.from_numpy(build_features(series, self.spec))
        # (T - L + 1, F, L), a view: window o - L covers rows [o - L, o), ending just before o
        windows = feats.unfold(0, L, 1)
        steps = self._known_steps(series, feats, int(origins.max()))
        device, member = self.module.device, self.member_id(series)
        out: tuple[list, list] = ([], [])
        self.module.eval()
        with torch.inference_mode():
            for chunk in torch.from_numpy(origins).split(PREDICT_BATCH):
                x = windows[chunk - L].transpose(1, 2).contiguous().to(device)
                ids = None if member is None else torch.full((len(x),), member, device=device)
                future = None if steps is None else steps[chunk].transpose(1, 2).to(device)
                out[0].append(self.module(x, ids, future).double().cpu())
                if anchor:
                    out[1].append(self.module.forward_anchor(x).double().cpu())
        return [torch.cat(part).numpy() for part in out if part]

    def _known_steps(self, series: Series, feats: torch.Tensor, last: int) -> torch.Tensor | None:
        """The known-ahead block of every forecast step, as windows: (T' - H + 1, K, H), window
        ``o`` the steps ``[o, o + H)``; None for a model without inputs known ahead. The rows of
        the series carry their own values (as known at each origin: see
        :mod:`forecaster.data.features`); an origin whose steps pass the last row (``predict``)
        reads the steps after it from ``series.ahead`` and the stamps' own features."""
        k, H = self.spec.n_known, self.horizon
        if not k:
            return None
        block = feats[:, feats.shape[1] - k :]
        if last + H > len(series):
            stamps = future_index(series.end, series.freq, H, self.calendar_of(series))
            after = torch.from_numpy(ahead_values(series, self.spec, stamps).astype(np.float32))
            block = torch.cat([block, after])
        return block.unfold(0, H, 1)

    def procedure(self) -> FittedModel:
        """This model with the procedure's weights: the ones the fit evaluated on the validation
        and test rows and never trained on them -- what a backtest or a holdout must score. The
        same config, spec, meta and calibration; ``self`` when the served weights are the
        procedure's."""
        if self.procedure_state is None:
            return self
        module = module_for(self.config, self.spec)
        module.load_state_dict(self.procedure_state)
        module = module.to(self.module.device).eval()
        return replace(self, module=module, procedure_state=None)

    @property
    def members(self) -> list[str]:
        """The symbols a group model was trained on (empty for a one-series model)."""
        return self.meta.members

    def member_id(self, series: Series) -> int | None:
        """The embedding row of ``series`` in a group model with member embeddings: its position
        among the members, or None (one-series model, no embedding, or not a member: the mean)."""
        if self.module.embed is None:
            return None
        symbols = [s.upper() for s in self.members]
        return symbols.index(series.symbol.upper()) if series.symbol.upper() in symbols else None

    def predict(self, series: Series, levels: Sequence[float] = ()) -> pd.DataFrame:
        """The next H steps after the last row, indexed by their timestamps, in target units.

        Columns: ``forecast``; with ``levels`` (percent) and a calibration also ``median`` and
        ``lo_<level>``, ``hi_<level>`` per level (see :mod:`forecaster.intervals`; with
        ``backtest.interval_method: adaptive`` at the adaptive state saved with the calibration,
        for the levels it holds); ``frame.attrs["short_levels"]`` lists levels with too few
        calibration residuals.
        """
        origin = np.array([len(series)])
        forecast = self.predict_origins(series, origin)
        stamps = future_index(series.end, series.freq, self.horizon, self.calendar_of(series))
        frame = pd.DataFrame({"forecast": forecast[0]}, index=stamps)
        frame.attrs["short_levels"] = []
        if levels and self.calibration is not None:
            cal = self.calibration
            scale = window_scale(series.values, origin, cal.lookback, cal.mode, cal.lag)
            bounds = cal.intervals(forecast, scale, levels, self.config.backtest.interval_method)
            frame["median"] = bounds.median[0]
            for level, (lo, hi) in bounds.bounds.items():
                frame[f"lo_{level_name(level)}"] = lo[0]
                frame[f"hi_{level_name(level)}"] = hi[0]
            frame.attrs["short_levels"] = list(bounds.short)
        return frame

    def split_origins(self, split: str = "val", series: Series | None = None) -> np.ndarray:
        """Origins (row positions) of every window of a split (stride 1), as training cut the data.

        Origin ``o`` forecasts rows ``[o, o + H)`` from rows ``[o - L, o)``; all of them lie inside
        the split. The cut is the one the fit recorded (for a group member: the group's), else (a
        one-series model saved before cuts were recorded) the config's cut of ``series``. Raises a
        DataError when the split holds no full window.
        """
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        series = series if series is not None else self.series
        if series is None:
            raise ModelError(
                f"this model was loaded from disk — pass the series: {split} origins need it"
            )
        cuts = self.cuts if self.cuts is not None else cuts_for([series.index], self.config.train)
        lo, hi = split_rows(series.index, cuts)[split]
        origins = origins_in((lo, hi), self.lookback, self.horizon)
        if len(origins) == 0:
            L, H = self.lookback, self.horizon
            raise DataError(
                f"{series.symbol}: the {SPLIT_NAMES[split]} split has {hi - lo} rows, fewer than "
                f"lookback {L} + horizon {H} — use a longer span or shorter --lookback/--horizon"
            )
        return origins

    @property
    def cuts(self) -> Cuts | None:
        """The two instants that cut the training data (every member of a group) into its splits."""
        return self.meta.cuts

    # -- persistence --------------------------------------------------------------------------------
    def save(self, directory: Path) -> Path:
        """Write model.pt (the served state_dict), procedure.pt (the procedure's), config.yaml,
        normalization.json and meta.json into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / "model.pt") as tmp:
            torch.save(self.module.state_dict(), tmp)
        with atomic_path(directory / PROCEDURE_FILE) as tmp:
            torch.save(self.procedure_module_state(), tmp)
        write_text(directory / "config.yaml", dump_config(self.config))
        write_json(directory / "normalization.json", self.spec.to_dict())
        if self.calibration is not None:
            write_json(directory / "calibration.json", self.calibration.to_dict())
        write_json(directory / "meta.json", self.meta.to_dict())
        return directory

    def procedure_module_state(self) -> dict[str, torch.Tensor]:
        """The procedure's state_dict (``procedure.pt``): ``procedure_state``, else the module's."""
        return (
            self.procedure_state if self.procedure_state is not None else self.module.state_dict()
        )

    @classmethod
    def load(cls, directory: Path, weights: Weights = "served") -> FittedModel:
        """Rebuild a saved model; a missing or corrupt file is a one-line ModelError.

        ``weights``: ``served`` (``model.pt``, what predict serves; :meth:`procedure` still gives
        the procedure's) or ``procedure`` (the weights the fit evaluated: ``procedure.pt``, or
        ``model.pt`` of a folder saved before serving, whose weights are the procedure's).
        """
        if weights not in WEIGHTS:
            raise ValueError(f"weights must be one of {WEIGHTS}, got {weights!r}")
        directory = Path(directory)

        read = partial(_read_file, directory)
        cfg = read("config.yaml", lambda p: validate_config(read_yaml(p), str(p)))
        spec = read(
            "normalization.json", lambda p: FeatureSpec.from_dict(json.loads(p.read_text("utf-8")))
        )
        meta = read("meta.json", _parse_meta)
        module = module_for(cfg, spec)
        read(
            "model.pt",
            lambda p: module.load_state_dict(
                legacy_state(torch.load(p, map_location="cpu", weights_only=True), module)
            ),
        )
        procedure = None
        if (directory / PROCEDURE_FILE).is_file():  # folders saved before serving have none
            procedure = read(PROCEDURE_FILE, lambda p: _read_state(p, cfg, spec))
            check_weights(directory, PROCEDURE_FILE, procedure)
        calibration = None
        if (directory / "calibration.json").is_file():  # models saved before intervals have none
            calibration = read(
                "calibration.json",
                lambda p: Calibration.from_dict(json.loads(p.read_text("utf-8"))),
            )
        check_state(
            directory,
            weights=module.state_dict(),
            normalization={"mean": spec.mean, "std": spec.std},
            calibration=None if calibration is None else calibration.residuals,
            horizon=cfg.model.horizon,
        )
        model = cls(
            module=module.eval(),
            config=cfg,
            spec=spec,
            meta=meta,
            calibration=calibration,
            procedure_state=procedure,
        )
        return model.procedure() if weights == "procedure" else model


def _read_file(directory: Path, name: str, parse):
    """``parse(directory / name)``; a missing or unreadable file is a one-line ModelError."""
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
        raise corrupt(directory, name, f"{type(exc).__name__}: {first}") from None


def _read_state(path: Path, cfg: Config, spec: FeatureSpec) -> dict[str, torch.Tensor]:
    """A state_dict file checked against the network the config builds (shapes, keys)."""
    module = module_for(cfg, spec)
    module.load_state_dict(
        legacy_state(torch.load(path, map_location="cpu", weights_only=True), module)
    )
    return module.state_dict()


def _parse_meta(path: Path) -> ModelMeta:
    return ModelMeta.from_dict(json.loads(path.read_text("utf-8")))


def future_index(
    last: pd.Timestamp, freq: str, horizon: int, calendar: str | None = None
) -> pd.DatetimeIndex:
    """The ``horizon`` timestamps after ``last``, in ``last``'s time zone.

    With an exchange ``calendar`` (``XNYS``): for ``"B"`` the next sessions (holidays skipped); for
    intraday bars the next bars inside sessions (nights, weekends, holidays skipped; early closes
    end a day's bars early), see :mod:`forecaster.data.calendars`. Without one (or for other
    frequencies): the regular grid, and for ``"B"`` the next weekdays.
    """
    if calendar is not None and freq == TRADING_DAYS:
        return calendars.next_sessions(calendar, last, horizon)
    if calendar is not None and is_intraday(freq):
        return calendars.next_bars(calendar, last, freq, horizon)
    offset = pd.tseries.frequencies.to_offset(freq)
    return pd.date_range(last + offset, periods=horizon, freq=offset, name="time")
