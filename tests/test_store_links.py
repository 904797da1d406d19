"""Issue 24, item 1: nothing the model store removes ever follows a link out of the data root.

An operator who moved old versions to another disk and linked them back (a version folder, a
``.trash-*`` or ``.partial-*`` entry, a file inside a version, or the whole ``versions`` folder
that is a symlink to somewhere else) must never lose a file outside the store: prune, recover,
rollback, a retrain-like save + promote + prune cycle, and the ``forecast models`` commands
remove the link itself, never what it points to. A canary file outside the root proves it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from forecaster.cli import cli
from forecaster.registry import ModelStore
from forecaster.settings import paths


def _writer(tag: str):
    def write(folder: Path) -> None:
        (folder / "model.pt").write_bytes(tag.encode())
        (folder / "config.yaml").write_text(f"name: {tag}\n")
        (folder / "meta.json").write_text(json.dumps({"tag": tag, "created_at": "2026"}))

    return write


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder outside the data root, holding a complete version and a canary."""
    folder = tmp_path / "other-disk" / "v0"
    folder.mkdir(parents=True)
    _writer("v0")(folder)
    (folder / "CANARY").write_text("must survive")
    return folder


def _alive(outside: Path) -> bool:
    return (outside / "CANARY").read_text() == "must survive" and (outside / "model.pt").is_file()


def _store(root: Path, *versions: str) -> ModelStore:
    st = ModelStore(root, lock_timeout=0.2)
    for v in versions:
        st.save("k", _writer(v), version=v)
    return st


def _link_version(st: ModelStore, name: str, target: Path) -> Path:
    link = st.root / "k" / "versions" / name
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, link, target_is_directory=True)
    return link


def test_prune_removes_a_linked_version_by_unlinking_it(tmp_path, outside, caplog):
    st = _store(tmp_path / "models", "v2", "v3")
    link = _link_version(st, "v1", outside)
    assert [v.version for v in st.versions("k")] == ["v1", "v2", "v3"]  # a linked version counts
    st.promote("k", "v3")
    with caplog.at_level(logging.WARNING, logger="forecaster"):
        assert st.prune("k", keep=1) == ["v1", "v2"]
    assert _alive(outside)
    assert not os.path.lexists(link)
    assert sorted(p.name for p in link.parent.iterdir()) == ["v3"]
    assert any("link" in r.getMessage() and str(outside) in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("name", [".trash-v1-ab12", ".partial-v9"])
def test_recover_unlinks_linked_trash_and_partials(tmp_path, outside, name):
    st = _store(tmp_path / "models", "v2")
    link = _link_version(st, name, outside)
    assert st.recover("k") == [link]
    assert _alive(outside)
    assert not os.path.lexists(link)


def test_links_inside_a_real_trash_folder_are_unlinked_not_followed(tmp_path, outside):
    st = _store(tmp_path / "models", "v2")
    trash = st.root / "k" / "versions" / ".trash-v1-ab12"
    trash.mkdir()
    (trash / "model.pt").write_bytes(b"old")
    os.symlink(outside / "CANARY", trash / "file-link")
    os.symlink(outside, trash / "folder-link", target_is_directory=True)
    assert st.recover("k") == [trash]
    assert _alive(outside) and not os.path.lexists(trash)


def test_a_versions_folder_linked_out_of_the_store_is_never_pruned(tmp_path, outside, caplog):
    st = ModelStore(tmp_path / "models", lock_timeout=0.2)
    (st.root / "k").mkdir(parents=True)
    os.symlink(outside.parent, st.root / "k" / "versions", target_is_directory=True)
    for v in ("v2", "v3"):
        st.save("k", _writer(v), version=v)
    st.promote("k", "v3")
    with caplog.at_level(logging.WARNING, logger="forecaster"):
        assert st.prune("k", keep=1) == []
    (outside.parent / ".trash-v2-ab12").mkdir()
    st.recover("k")
    assert _alive(outside)
    assert sorted(p.name for p in outside.parent.iterdir()) == [".trash-v2-ab12", "v0", "v2", "v3"]
    assert any("outside the model store" in r.getMessage() for r in caplog.records)


def test_rollback_to_and_from_a_linked_champion_keeps_the_canary(tmp_path, outside):
    st = _store(tmp_path / "models", "v2")
    _link_version(st, "v1", outside)
    st.promote("k", "v1")
    st.promote("k", "v2")
    assert st.rollback("k") == "v1"
    assert st.resolve("k").path.resolve() == outside.resolve()
    st.promote("k", "v2")
    assert st.rollback("k") == "v1"
    assert _alive(outside)


def test_a_retrain_like_cycle_of_save_promote_prune_recover_keeps_the_canary(tmp_path, outside):
    st = _store(tmp_path / "models", "v1")
    _link_version(st, "v0", outside)
    st.promote("k", "v0")
    for night in range(2, 6):  # each night: recover, save a challenger, promote it, keep 2
        st.recover("k")
        version = st.save("k", _writer(f"v{night}"), version=f"v{night}").version
        st.promote("k", version, reason="nightly")
        st.prune("k", keep=2)
        assert _alive(outside)
    assert [v.version for v in st.versions("k")] == ["v4", "v5"]


def test_the_models_commands_never_follow_a_link_out(tmp_path, outside, data_root):
    st = ModelStore(paths().models, lock_timeout=0.2)
    for v in ("v2", "v3"):
        st.save("k", _writer(v), version=v)
    _link_version(st, "v1", outside)
    st.promote("k", "v1")
    st.promote("k", "v3")
    (st.root / "k" / "versions" / ".trash-v0-ab12").symlink_to(outside, target_is_directory=True)
    runner = CliRunner()
    for args in (["models", "list", "k"], ["models", "rollback", "k"], ["models", "show", "k"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert _alive(outside)
    assert st.champion("k") == "v1"  # the rollback went to the linked version
    st.recover()
    st.prune("k", keep=1)
    assert _alive(outside)
