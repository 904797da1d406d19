"""The model store: atomic versions, champion switching, rollback, pruning, crash recovery."""

from __future__ import annotations

import json

import pytest

from forecaster.errors import ModelError
from forecaster.registry import ModelStore


def _writer(tag: str):
    def write(folder):
        (folder / "model.pt").write_bytes(tag.encode())
        (folder / "meta.json").write_text(
            json.dumps({"tag": tag, "created_at": "2026-01-01T00:00:00"})
        )

    return write


def test_save_promote_resolve(tmp_path):
    st = ModelStore(tmp_path)
    a = st.save("k", _writer("a"), version="v1")
    b = st.save("k", _writer("b"), version="v2")
    assert [v.version for v in st.versions("k")] == ["v1", "v2"]
    assert st.champion("k") is None
    assert st.resolve("k", "champion").version == "v2"  # falls back to latest without a champion
    st.promote("k", "v1")
    assert st.champion("k") == "v1"
    assert st.resolve("k", "champion").path == a.path
    assert st.resolve("k", "latest").path == b.path
    assert st.resolve("k", str(b.path)).meta["tag"] == "b"
    assert st.keys() == ["k"]


def test_failed_write_leaves_no_version_and_champion_intact(tmp_path):
    st = ModelStore(tmp_path)
    st.save("k", _writer("good"), version="v1")
    st.promote("k", "v1")

    def crash(folder):
        (folder / "model.pt").write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        st.save("k", crash, version="v2")
    assert [v.version for v in st.versions("k")] == ["v1"]
    assert st.champion("k") == "v1"
    assert (st.resolve("k").path / "model.pt").read_bytes() == b"good"


def test_recover_removes_partial_versions_from_a_killed_run(tmp_path):
    st = ModelStore(tmp_path)
    st.save("k", _writer("good"), version="v1")
    partial = tmp_path / "k" / "versions" / ".partial-v2"
    partial.mkdir()
    (partial / "model.pt").write_bytes(b"torn")
    assert [v.version for v in st.versions("k")] == ["v1"]  # never visible to loaders
    assert st.recover("k") == [partial]
    assert not partial.exists()


def test_rollback_returns_to_previous_champion(tmp_path):
    st = ModelStore(tmp_path)
    for v in ("v1", "v2", "v3"):
        st.save("k", _writer(v), version=v)
    st.promote("k", "v1")
    st.promote("k", "v3")
    assert st.rollback("k") == "v1"
    assert st.champion("k") == "v1"
    with pytest.raises(ModelError, match="no earlier champion"):
        st.rollback("k")


def test_prune_keeps_newest_and_champion(tmp_path):
    st = ModelStore(tmp_path)
    for v in ("v1", "v2", "v3", "v4"):
        st.save("k", _writer(v), version=v)
    st.promote("k", "v1")
    removed = st.prune("k", keep=2)
    assert removed == ["v2"]
    assert [v.version for v in st.versions("k")] == ["v1", "v3", "v4"]


def test_unknown_version_is_a_clear_error(tmp_path):
    st = ModelStore(tmp_path)
    with pytest.raises(ModelError, match="train one first"):
        st.resolve("nothing")
    st.save("k", _writer("a"), version="v1")
    with pytest.raises(ModelError, match="no model version 'zzz'"):
        st.resolve("k", "zzz")
    with pytest.raises(ModelError, match="invalid series key"):
        st.series_dir("../evil")
