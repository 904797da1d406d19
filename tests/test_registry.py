"""The model store: atomic versions, champion switching, rollback, pruning, crash recovery, one lock."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from filelock import FileLock

from forecaster import faults, io
from forecaster.errors import LockedError, ModelError, StorageError
from forecaster.registry import ChampionChanged, ModelStore


def _writer(tag: str):
    def write(folder):
        (folder / "model.pt").write_bytes(tag.encode())
        (folder / "config.yaml").write_text(f"name: {tag}\n")
        (folder / "meta.json").write_text(
            json.dumps({"tag": tag, "created_at": "2026-01-01T00:00:00"})
        )

    return write


def _store(tmp_path, *versions: str, champion: str | None = None) -> ModelStore:
    st = ModelStore(tmp_path, lock_timeout=0.2)
    for v in versions:
        st.save("k", _writer(v), version=v)
    if champion:
        st.promote("k", champion)
    return st


class Killed(BaseException):
    """What a SIGKILL at a fault point looks like in-process: no ``except Exception`` catches it.

    (``finally`` blocks still run here, unlike after a real kill; the subprocess suite in
    tests/faults covers real kills.)
    """


def test_save_promote_resolve(tmp_path):
    st = ModelStore(tmp_path)
    a = st.save("k", _writer("a"), version="v1")
    b = st.save("k", _writer("b"), version="v2")
    assert [v.version for v in st.versions("k")] == ["v1", "v2"]
    assert st.champion("k") is None
    st.promote("k", "v1")
    assert st.champion("k") == "v1"
    assert st.resolve("k", "champion").path == a.path
    assert st.resolve("k", "latest").path == b.path
    assert st.resolve("k", str(b.path)).meta["tag"] == "b"
    assert st.keys() == ["k"]


def test_versions_without_a_champion_are_not_served_as_one(tmp_path):
    # e.g. the first night's challenger diverged and was kept, not promoted
    st = _store(tmp_path, "v1")
    with pytest.raises(
        ModelError, match=r"no champion — choose one with `forecast models promote k"
    ):
        st.resolve("k", "champion")
    assert st.resolve("k", "latest").version == "v1"


def test_missing_champion_folder_is_an_error_naming_the_fix(tmp_path):
    st = _store(tmp_path, "v1", "v2", "v3", champion="v2")
    (tmp_path / "k" / "versions" / "v2" / "model.pt").unlink()  # gone or half-deleted
    with pytest.raises(ModelError) as err:
        st.resolve("k", "champion")
    msg = str(err.value)
    assert "k: the champion v2" in msg and "missing or incomplete" in msg
    assert "forecast models rollback k" in msg and "forecast models promote k" in msg
    assert "\n" not in msg


def test_failed_write_leaves_no_version_and_champion_intact(tmp_path):
    st = _store(tmp_path, "v1", champion="v1")

    def crash(folder):
        (folder / "model.pt").write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        st.save("k", crash, version="v2")
    assert [v.version for v in st.versions("k")] == ["v1"]
    assert st.champion("k") == "v1"
    assert (st.resolve("k").path / "model.pt").read_bytes() == b"v1"
    assert sorted(p.name for p in (tmp_path / "k" / "versions").iterdir()) == ["v1"]


def test_recover_removes_partial_versions_from_a_killed_run(tmp_path):
    st = _store(tmp_path, "v1")
    partial = tmp_path / "k" / "versions" / ".partial-v2"
    partial.mkdir()
    (partial / "model.pt").write_bytes(b"torn")
    assert [v.version for v in st.versions("k")] == ["v1"]  # never visible to loaders
    assert st.recover("k") == [partial]
    assert not partial.exists()


def test_recover_leaves_a_version_that_a_live_run_is_writing(tmp_path):
    st = _store(tmp_path, "v1")
    vdir = tmp_path / "k" / "versions"
    # another process is writing .partial-v2: it holds the partial's writer lock
    with FileLock(str(vdir / ".partial-v2.lock")):
        (vdir / ".partial-v2").mkdir()
        (vdir / ".partial-v2" / "model.pt").write_bytes(b"being written")
        assert st.recover("k") == []
        assert (vdir / ".partial-v2" / "model.pt").is_file()
    # the writer died (its lock is free): now it is dead and goes
    assert st.recover("k") == [vdir / ".partial-v2"]
    assert sorted(p.name for p in vdir.iterdir()) == ["v1"]


def test_a_fit_during_another_runs_save_breaks_neither(tmp_path):
    """`fit` calls recover() then save(); a retrain that is writing its version at that moment
    must keep its folder (the old recover deleted every .partial-* folder of the series)."""
    st = _store(tmp_path, "v1", champion="v1")
    other = ModelStore(tmp_path, lock_timeout=0.2)  # the concurrent `forecast fit`

    def slow_write(folder):
        _writer("retrain")(folder)
        other.recover("k")
        other.save("k", _writer("fit"), version="v3")
        other.promote("k", "v3", reason="fit --promote always")

    st.save("k", slow_write, version="v2")
    assert [v.version for v in st.versions("k")] == ["v1", "v2", "v3"]
    assert (st.resolve("k", "v2").path / "model.pt").read_bytes() == b"retrain"
    assert st.champion("k") == "v3"


@pytest.mark.parametrize(
    "action",
    [
        lambda st: st.save("k", _writer("v3"), version="v3"),
        lambda st: st.promote("k", "v2"),
        lambda st: st.rollback("k"),
        lambda st: st.prune("k", keep=1),
        lambda st: st.recover("k"),
        lambda st: st.record("k", "attempt", challenger="v2"),
    ],
    ids=["save", "promote", "rollback", "prune", "recover", "record"],
)
def test_every_writer_waits_for_the_store_lock_then_exits_4(tmp_path, action):
    st = _store(tmp_path, "v1", "v2", champion="v1")
    st.promote("k", "v2")
    before = sorted(p.name for p in (tmp_path / "k").rglob("*") if p.name != ".lock")
    history = (tmp_path / "k" / "history.jsonl").read_bytes()
    other = FileLock(str(tmp_path / "k" / ".lock"))  # another process's critical section
    with other, pytest.raises(LockedError, match="model store of k is locked") as err:
        action(st)
    assert err.value.exit_code == 4
    assert sorted(p.name for p in (tmp_path / "k").rglob("*") if p.name != ".lock") == before
    assert (tmp_path / "k" / "history.jsonl").read_bytes() == history
    assert st.champion("k") == "v2"
    action(st)  # once the lock is free it runs


def test_promote_with_an_expected_champion_never_overwrites_a_newer_choice(tmp_path):
    st = _store(tmp_path, "v1", "v2", "v3", champion="v1")
    st.promote("k", "v3", reason="manual")  # made while a nightly run scored v2 against v1
    with pytest.raises(ChampionChanged) as err:
        st.promote("k", "v2", expected="v1")
    assert err.value.current == "v3"
    assert st.champion("k") == "v3"
    st.promote("k", "v2", expected="v3")
    assert st.champion("k") == "v2"


def test_rollback_returns_to_previous_champion(tmp_path):
    st = _store(tmp_path, "v1", "v2", "v3", champion="v1")
    st.promote("k", "v3")
    assert st.rollback("k") == "v1"
    assert st.champion("k") == "v1"
    with pytest.raises(ModelError, match="no earlier champion"):
        st.rollback("k")


def test_repeated_rollbacks_walk_back_and_skip_pruned_versions(tmp_path):
    st = _store(tmp_path, "v1", "v2", "v3", "v4", champion="v1")
    for v in ("v2", "v3", "v4"):
        st.promote("k", v)
    st.prune("k", keep=1)  # v4 is champion and newest: v1..v3 go
    st.save("k", _writer("v1"), version="v1")  # only v1 comes back
    assert st.rollback("k") == "v1"


def test_a_crash_between_log_and_switch_never_makes_rollback_go_forward(tmp_path):
    st = _store(tmp_path, "v1", "v2", "v3", champion="v1")
    st.promote("k", "v2")
    # `promote v3` logged its entry, then the process died before switching CHAMPION
    with open(tmp_path / "k" / "history.jsonl", "a") as fh:
        fh.write(json.dumps({"event": "promote", "version": "v3", "previous": "v2"}) + "\n")
    assert st.champion("k") == "v2"
    assert st.rollback("k") == "v1"  # back from v2, not "forward" to v3


def test_promote_logs_before_it_switches(tmp_path, monkeypatch):
    st = _store(tmp_path, "v1", "v2", champion="v1")

    def kill(name):
        if name == "store.promote.logged":
            raise Killed

    monkeypatch.setattr(faults, "point", kill)
    with pytest.raises(Killed):
        st.promote("k", "v2")
    assert st.champion("k") == "v1"
    assert st.history("k")[-1]["version"] == "v2"
    monkeypatch.undo()
    with pytest.raises(ModelError, match="no earlier champion"):  # v1 is still current: no "back"
        st.rollback("k")


def test_a_torn_history_line_does_not_swallow_the_next_entry(tmp_path):
    st = _store(tmp_path, "v1", "v2", "v3", champion="v1")
    path = tmp_path / "k" / "history.jsonl"
    with open(path, "ab") as fh:
        fh.write(b'{"event": "promote", "vers')  # a crash mid-append: no newline
    st.promote("k", "v2")
    st.promote("k", "v3")
    assert [e["version"] for e in st.history("k")] == ["v1", "v2", "v3"]
    assert st.rollback("k") == "v2"


def test_garbled_store_files_are_one_line_errors_or_skipped(tmp_path):
    st = _store(tmp_path, "v1", "v2", champion="v1")
    (tmp_path / "k" / "history.jsonl").write_bytes(b"\xff\xfe\x00garbage\n")
    with pytest.raises(ModelError, match="no earlier champion"):
        st.rollback("k")
    (tmp_path / "k" / "versions" / "v2" / "meta.json").write_bytes(b"\xff\xfe\x00")
    assert "error" in st.info("k", "v2").meta
    (tmp_path / "k" / "CHAMPION").write_bytes(b"\xff\xfe\x00\x81")
    assert st.champion("k") is None  # listing still works
    assert [v.version for v in st.versions("k")] == ["v1", "v2"]
    with pytest.raises(
        ModelError, match=r"CHAMPION is garbled .*`forecast models promote k VERSION`"
    ):
        st.resolve("k")
    st.promote("k", "v1")  # the fix the message names works
    assert st.resolve("k").version == "v1"


@pytest.mark.parametrize("bad", ["..", ".", "/etc", "../other/versions/v1", "v1/..", "", "a" * 65])
def test_version_ids_are_validated(tmp_path, bad):
    st = _store(tmp_path, "v1", champion="v1")
    with pytest.raises(ModelError, match="not a model version id"):
        st.promote("k", bad)
    if bad:  # an empty id means "make one" when saving
        with pytest.raises(ModelError, match="not a model version id"):
            st.save("k", _writer("x"), version=bad)
    assert st.champion("k") == "v1"
    assert (tmp_path / "k" / "CHAMPION").read_text() == "v1\n"


def test_champion_can_never_point_outside_the_store(tmp_path):
    st = _store(tmp_path, "v1", champion="v1")
    outside = tmp_path / "elsewhere"
    _writer("evil")(outside.mkdir() or outside)
    (tmp_path / "k" / "CHAMPION").write_text("../../elsewhere\n")
    with pytest.raises(ModelError, match="garbled"):
        st.resolve("k")
    assert st.champion("k") is None


def test_incomplete_versions_are_never_listed_or_made_champion(tmp_path):
    st = _store(tmp_path, "v1", "v2", "v3", champion="v1")
    st.promote("k", "v2")
    st.promote("k", "v3")
    # a half-deleted version, as an in-place delete killed midway left it
    (tmp_path / "k" / "versions" / "v2" / "model.pt").unlink()
    assert [v.version for v in st.versions("k")] == ["v1", "v3"]
    with pytest.raises(ModelError, match="incomplete"):
        st.promote("k", "v2")
    assert st.rollback("k") == "v1"  # skips the incomplete v2


def test_prune_keeps_newest_and_champion(tmp_path):
    st = _store(tmp_path, "v1", "v2", "v3", "v4", champion="v1")
    removed = st.prune("k", keep=2)
    assert removed == ["v2"]
    assert [v.version for v in st.versions("k")] == ["v1", "v3", "v4"]
    assert sorted(p.name for p in (tmp_path / "k" / "versions").iterdir()) == ["v1", "v3", "v4"]


def test_a_kill_mid_prune_leaves_only_hidden_trash_that_recover_removes(tmp_path, monkeypatch):
    st = _store(tmp_path, "v1", "v2", "v3", champion="v3")
    seen = []

    def kill_mid_delete(name):
        seen.append(name)
        if name == "store.prune.deleting":
            raise Killed

    monkeypatch.setattr(faults, "point", kill_mid_delete)
    with pytest.raises(Killed):
        st.prune("k", keep=1)
    monkeypatch.undo()
    vdir = tmp_path / "k" / "versions"
    names = sorted(p.name for p in vdir.iterdir())
    assert names[-1] == "v3" and all(n.startswith(".trash-") for n in names[:-1]), names
    assert [v.version for v in st.versions("k")] == ["v3"]
    assert "store.prune.trashed" in seen  # renamed before the first file was deleted
    assert len(st.recover("k")) == 2
    assert sorted(p.name for p in vdir.iterdir()) == ["v3"]


def test_atomic_writes_fsync_the_folder_after_the_rename(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    io.write_text(tmp_path / "sub" / "file.txt", "x")
    assert str(tmp_path / "sub") in synced
    st = _store(tmp_path, "v1")
    synced.clear()
    st.save("k", _writer("v2"), version="v2")
    assert str(tmp_path / "k" / "versions") in synced


def _fail_with(err: int):
    def replace(src, dst):
        raise OSError(err, os.strerror(err), str(dst))

    return replace


@pytest.mark.parametrize(
    "err, fix",
    [
        (errno.ENOSPC, "free some disk space"),
        (errno.EACCES, "writable"),
        (errno.EROFS, "writable disk"),
    ],
)
def test_os_errors_while_saving_or_promoting_are_one_line_with_the_path(
    tmp_path, monkeypatch, err, fix
):
    st = _store(tmp_path, "v1", champion="v1")
    monkeypatch.setattr(os, "replace", _fail_with(err))
    with pytest.raises(StorageError) as saving:
        st.save("k", _writer("v2"), version="v2")
    with pytest.raises(StorageError) as promoting:
        st.promote("k", "v1")
    monkeypatch.undo()
    for exc in (saving.value, promoting.value):
        msg = str(exc)
        assert fix in msg and str(tmp_path / "k") in msg and "\n" not in msg
        assert exc.exit_code == 5
    assert [v.version for v in st.versions("k")] == ["v1"] and st.champion("k") == "v1"
    assert sorted(p.name for p in (tmp_path / "k" / "versions").iterdir()) == ["v1"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_store_is_a_storage_error(tmp_path):
    st = _store(tmp_path, "v1", champion="v1")
    for p in [tmp_path / "k", tmp_path / "k" / "versions"]:
        p.chmod(0o555)
    try:
        with pytest.raises(StorageError, match="writable"):
            st.save("k", _writer("v2"), version="v2")
    finally:
        for p in [tmp_path / "k", tmp_path / "k" / "versions"]:
            p.chmod(0o755)


def test_unknown_version_is_a_clear_error(tmp_path):
    st = ModelStore(tmp_path)
    with pytest.raises(ModelError, match="train one first"):
        st.resolve("nothing")
    st.save("k", _writer("a"), version="v1")
    with pytest.raises(ModelError, match="no model version 'zzz'"):
        st.resolve("k", "zzz")
    with pytest.raises(ModelError, match="neither a version of k nor a model folder"):
        st.resolve("k", "no/such/folder")
    with pytest.raises(ModelError, match="invalid series key"):
        st.series_dir("../evil")
    assert not Path("no/such/folder").exists()
