"""Which saved version serves a series: its own key's, or an error that says where another is.

A file-backed series has its own key per file (:mod:`forecaster.data.file_key`), so a model of
another file called the same -- or one saved under the old name-only key -- is never served to
it. When a file has no model of its own but such a model exists, the one-line error names it
and the explicit choice that serves it (``--model <folder>``), instead of "train one first".
"""

from __future__ import annotations

from forecaster.config import DataConfig
from forecaster.data.file_key import real_path, same_name_keys
from forecaster.errors import ForecasterError, ModelError
from forecaster.registry import ModelStore, VersionInfo


def resolve_for(st: ModelStore, data: DataConfig, key: str, ref: str) -> VersionInfo:
    """``st.resolve(key, ref)``; for a file with no model of its own, a ModelError naming the
    model of a file of the same name (legacy key or another folder) and how to choose it."""
    try:
        return st.resolve(key, ref)
    except ModelError:
        if data.path is None or ref not in ("champion", "latest"):  # only a file series has a path
            raise
        if st.version_ids(key):
            raise  # this file has versions: the store's own message says what is wrong
        found = _same_name_version(st, data)
        if found is None:
            raise
        others, info = found
        more = f" (and {len(others) - 1} more: `forecast models list`)" if len(others) > 1 else ""
        raise ModelError(
            f"no saved model for {real_path(data.path)} ({key}); {info.key}{more} holds a model "
            f"of a file named {real_path(data.path).name} (another folder's, or saved before "
            f"keys told files apart) — if it was trained on this file, serve it with --model "
            f"{info.path} (else train one: `forecast fit --csv {data.path}`)"
        ) from None


def _same_name_version(st: ModelStore, data: DataConfig) -> tuple[list[str], VersionInfo] | None:
    others = same_name_keys(data.path, st.keys())
    for other in others:
        for ref in ("champion", "latest"):
            try:
                return others, st.resolve(other, ref)
            except ForecasterError:
                continue
    return None
