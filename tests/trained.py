"""A tiny real model, trained once per test session and copied into a test's own model store."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from forecaster import api
from forecaster.registry import ModelStore, VersionInfo

TINY = {
    "data.offline": True,
    "model.lookback": 20,
    "model.hidden_size": 8,
    "model.num_layers": 1,
    "train.max_epochs": 1,
    "train.progress_bar": False,
    "train.logger": "none",
}
_made: dict[str, Path] = {}


def tiny_model() -> Path:
    """The folder of a tiny AAPL model (1 x 8 GRU, one epoch), trained on the first call."""
    if "aapl" not in _made:
        base = Path(tempfile.mkdtemp(prefix="forecaster-tiny-"))
        atexit.register(shutil.rmtree, base, True)
        cfg = api.make_config(ticker="AAPL", overrides=TINY)
        _made["aapl"] = api.fit(cfg, save=False).model.save(base / "model")
    return _made["aapl"]


def install(store: ModelStore, key: str, *, promote: bool = True) -> VersionInfo:
    """A copy of :func:`tiny_model` saved as a new version of ``key`` (and made champion)."""
    source = tiny_model()

    def write(folder: Path) -> None:
        for f in source.iterdir():
            shutil.copy2(f, folder / f.name)

    info = store.save(key, write)
    if promote:
        store.promote(key, info.version)
    return info
