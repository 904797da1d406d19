"""The provenance a fit records in ``meta.json``: the data it saw, its splits, what it trained."""

from __future__ import annotations

import datetime as dt
import hashlib
import platform
from collections.abc import Sequence
from typing import Any

import lightning
import numpy as np
import pandas as pd
import torch

from forecaster.data.series import Series
from forecaster.data.windows import WindowDataModule
from forecaster.meta import DataSpan, ModelMeta, SeriesIdentity, Span


def versions() -> dict[str, str]:
    """The library versions a model was trained with."""
    from forecaster import __version__

    return {
        "forecaster": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


def span(index: pd.DatetimeIndex, lo: int, hi: int) -> dict[str, Any]:
    """First and last timestamp and row count of rows ``[lo, hi)`` of ``index``."""
    if hi <= lo:
        return {"start": None, "end": None, "rows": 0}
    return {"start": str(index[lo]), "end": str(index[hi - 1]), "rows": hi - lo}


def identity(series: Series) -> dict[str, Any]:
    """Which series: source, symbol, frequency, target, zone, unit and exchange calendar."""
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


def fit_meta(dm: WindowDataModule, epochs: list[dict], seconds: float, **run: Any) -> ModelMeta:
    """The meta of a fit on ``dm``'s members, before evaluation fills in metrics and the anchor.

    ``epochs``: the history rows (epoch 0 first); ``seconds``: training time; ``run``: the other
    :class:`~forecaster.meta.ModelMeta` fields the training loop knows (precision, warm_start,
    parameters, best_epoch, distributed)."""
    members = dm.members
    spans = [
        {name: span(m.index, lo, hi) for name, (lo, hi) in bounds.items()}
        for m, bounds in zip(members, dm.bounds, strict=True)
    ]
    fingerprints = [m.fingerprint() for m in members]
    first = members[0]
    meta = ModelMeta(
        series=SeriesIdentity(**identity(first)),
        data=DataSpan(**span(first.index, 0, len(first)), fingerprint=fingerprints[0]),
        splits={name: Span(**sp, windows=sum(dm.counts[name])) for name, sp in spans[0].items()},
        features=list(dm.spec.names),
        metrics={},
        created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        cuts=dm.cuts,
        epochs_trained=len(epochs) - 1,  # epoch 0 (the untrained model) is not trained
        train_seconds=round(seconds, 2),
        history=epochs,
        versions=versions(),
        **run,
    )
    if len(members) > 1:
        _as_group(meta, dm, spans, fingerprints)
    return meta


def _as_group(
    meta: ModelMeta, dm: WindowDataModule, spans: list[dict], fingerprints: list[str]
) -> None:
    """What a group model records besides one member's: every member's identity, data and splits,
    and the group's two cut instants (so a loaded model can rebuild its splits). The group has no
    one calendar: each member's forecasts are stamped with its own exchange's sessions."""
    members = dm.members
    digest = hashlib.sha256("".join(fingerprints).encode()).hexdigest()
    first, last = min(m.start for m in members), max(m.end for m in members)
    fields = identity(members[0]) | {"symbol": dm.name, "source": "group", "calendar": None}
    meta.series = SeriesIdentity(**fields)
    meta.data = DataSpan(str(first), str(last), sum(len(m) for m in members), None, digest[:16])
    # as for one series: the first and last row in each split, here of any member
    meta.splits = {name: _union([sp[name] for sp in spans]) for name in spans[0]}
    meta.group = {
        "name": dm.name,
        "cuts": dm.cuts.to_dict(),
        "members": [
            identity(m)
            | {"data": {"fingerprint": fp, **span(m.index, 0, len(m))}}
            | {"splits": sp, "windows": {k: dm.counts[k][i] for k in dm.counts}}
            for i, (m, sp, fp) in enumerate(zip(members, spans, fingerprints, strict=True))
        ],
    }


def _union(spans: Sequence[dict[str, Any]]) -> Span:
    starts = [pd.Timestamp(s["start"]) for s in spans if s["start"] is not None]
    ends = [pd.Timestamp(s["end"]) for s in spans if s["end"] is not None]
    if not starts:
        return Span(None, None, 0)
    return Span(str(min(starts)), str(max(ends)), sum(s["rows"] for s in spans))
