"""What a saved model says about itself (``meta.json``): a typed record with a schema version.

:class:`ModelMeta` is written by every fit and read by every load; ``meta.json`` files written
before the schema existed (version 1: no ``schema_version``, a missing instant written as the
string ``"None"``, the model's validation MAE stored twice) still load.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any

from forecaster.data.splits import Cuts

SCHEMA_VERSION = 2


def _none(value: Any) -> Any:
    """``None`` for the string ``"None"`` that version-1 files wrote for a missing value."""
    return None if value == "None" else value


@dataclass(frozen=True)
class SeriesIdentity:
    """Which series a model forecasts: for a group model ``source`` is ``"group"`` and ``symbol``
    the group's name. ``freq``: pandas alias of the steps; ``unit``: the target's unit."""

    source: str
    symbol: str
    freq: str
    target: str
    tz: str | None = None
    unit: str = ""
    calendar: str | None = None


@dataclass(frozen=True)
class Span:
    """The first and last timestamp (as text) and the row count of a stretch of data; ``windows``:
    the (lookback + horizon) windows a split holds, where recorded."""

    start: str | None
    end: str | None
    rows: int = 0
    windows: int | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Span:
        return cls(
            _none(raw.get("start")),
            _none(raw.get("end")),
            int(raw.get("rows", 0) or 0),
            raw.get("windows"),
        )


@dataclass(frozen=True)
class DataSpan(Span):
    """The training data as a whole, with its content hash (``fingerprint``)."""

    fingerprint: str = ""

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DataSpan:
        base = Span.from_dict(raw)
        return cls(base.start, base.end, base.rows, base.windows, str(raw.get("fingerprint", "")))


@dataclass(frozen=True)
class AnchorMeta:
    """The simple forecast the network started from and what the fit kept of its correction:
    ``blend`` 0..1 (0: the model *is* its anchor); ``train_scores``: the candidates' MAE on the
    training windows (normalised); ``selection``: the validation test that decided the blend."""

    name: str = "naive"
    season: int | None = None
    train_scores: dict[str, float] = field(default_factory=dict)
    val_mae: float | None = None
    blend: float = 1.0
    selection: dict[str, Any] = field(default_factory=dict)
    is_anchor: bool = False


class ServeMethod(str, Enum):
    """How the served weights (``model.pt``) were made from the procedure's (``procedure.pt``)."""

    RETRAIN = "retrain"
    """Trained afresh on every row, with the procedure's epochs and learning rates."""
    FINETUNE = "finetune"
    """The procedure's weights trained further on the rows after its training split."""
    ANCHOR = "anchor"
    """No training: the model is its anchor, whose forecast needs no weights."""
    PROCEDURE = "procedure"
    """The procedure's weights as they are (nothing chose an epoch to repeat, or not asked)."""


@dataclass(frozen=True)
class ServedMeta:
    """Which rows the served weights saw: ``start``/``end`` (text) and ``rows`` (for a group the
    first and last of any member and the rows of all), how (``method``), for how long (``epochs``
    of ``windows`` training windows, ``steps`` optimiser steps, ``seconds``) and why (``reason``)."""

    method: ServeMethod
    start: str | None
    end: str | None
    rows: int
    epochs: float = 0.0
    steps: int = 0
    windows: int = 0
    seconds: float = 0.0
    reason: str = ""

    @property
    def same_as_procedure(self) -> bool:
        """Whether the served weights are the procedure's (no serving training ran)."""
        return self.method in (ServeMethod.ANCHOR, ServeMethod.PROCEDURE)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"method": self.method.value}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ServedMeta:
        known = _fields(cls)
        values = {k: v for k, v in raw.items() if k in known}
        return cls(**values | {"method": ServeMethod(raw["method"])})


_NESTED = {"series": SeriesIdentity, "data": DataSpan, "anchor": AnchorMeta}


@dataclass
class ModelMeta:
    """The contents of ``meta.json``. ``metrics``: ``val_mae``/``val_rmse`` (the saved model on the
    validation windows, target units), ``val_<baseline>_<mae|rmse>``, ``test_mae``/``test_rmse``,
    ``val_loss`` (normalised MSE of the best epoch). ``splits``: per split its span and windows (for
    a group, the union over members); ``cuts``: the instants that end the train and val splits
    (None in files from before the schema for a one-series model: its config's fractions cut it).
    ``group``: for a group model its name, cuts and members (each: identity, data, splits, windows).
    ``served``: which rows the served weights (``model.pt``) were trained on (None in files from
    before serving: their weights are the procedure's, trained on the ``train`` split)."""

    series: SeriesIdentity
    data: DataSpan
    splits: dict[str, Span]
    features: list[str]
    metrics: dict[str, float]
    created_at: str = ""
    cuts: Cuts | None = None
    epochs_trained: int = 0
    best_epoch: int | None = None
    train_seconds: float = 0.0
    fit_seconds: float | None = None
    precision: str = "32-true"
    warm_start: bool = False
    parameters: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    anchor: AnchorMeta = field(default_factory=AnchorMeta)
    group: dict[str, Any] | None = None
    distributed: dict[str, Any] | None = None
    served: ServedMeta | None = None
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)
    """Keys this version of the program does not know (kept, and written back)."""

    @property
    def members(self) -> list[str]:
        """The symbols a group model was trained on (empty for a one-series model)."""
        return [m["symbol"] for m in (self.group or {}).get("members", [])]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "extra":
                continue
            if f.name == "cuts":
                value = value.to_dict() if value is not None else None
            elif f.name == "splits":
                value = {k: _span_dict(v) for k, v in value.items()}
            elif f.name in _NESTED:
                value = asdict(value)
            elif f.name == "served":
                value = value.to_dict() if value is not None else None
            out[f.name] = value
        return out | self.extra

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelMeta:
        """Read a ``meta.json`` of this or an earlier schema; a file that is not a model's meta
        (no series frequency, no data fingerprint, no metrics) is a ValueError."""
        if not isinstance(raw, dict) or "freq" not in (raw.get("series") or {}):
            raise ValueError("no series.freq: not a model's meta.json")
        if "fingerprint" not in (raw.get("data") or {}) or not isinstance(raw.get("metrics"), dict):
            raise ValueError("no data.fingerprint or metrics: not a model's meta.json")
        if int(raw.get("schema_version", 1)) > SCHEMA_VERSION:
            raise ValueError(
                f"schema version {raw['schema_version']} is newer than this program's "
                f"{SCHEMA_VERSION} — upgrade forecaster"
            )
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known and k != "extra"}
        identity = {k: v for k, v in raw["series"].items() if k in _fields(SeriesIdentity)}
        values["series"] = SeriesIdentity(**identity)
        values["data"] = DataSpan.from_dict(raw["data"])
        values["splits"] = {k: Span.from_dict(v) for k, v in (raw.get("splits") or {}).items()}
        anchor = {k: v for k, v in (raw.get("anchor") or {}).items() if k in _fields(AnchorMeta)}
        values["anchor"] = AnchorMeta(**anchor)
        cuts = raw.get("cuts") or (raw.get("group") or {}).get("cuts")
        values["cuts"] = Cuts.from_dict(cuts) if cuts else None
        served = raw.get("served")
        values["served"] = ServedMeta.from_dict(served) if served else None
        metrics = dict(raw["metrics"])
        for m in ("mae", "rmse"):  # version 1 stored the model's validation scores twice
            metrics.pop(f"val_gru_{m}", None)
        values["metrics"] = metrics
        values["features"] = list(raw.get("features") or [])
        values["schema_version"] = SCHEMA_VERSION
        values["extra"] = {k: v for k, v in raw.items() if k not in known}
        return cls(**values)


def _fields(kind: type) -> set[str]:
    return {f.name for f in fields(kind)}


def _span_dict(span: Span) -> dict[str, Any]:
    out = asdict(span)
    if out.get("windows") is None:
        out.pop("windows")
    return out
