"""Bad inputs tried as a new user would: each must be one ``error:`` line, non-zero, no traceback.

Used by ``benchmarks/faults.py`` (counts) and ``tests/faults/test_faults_inputs.py`` (CI). Most
cases run in-process through click's CliRunner (fast); those marked ``subprocess`` run in a real
child process, some as an unprivileged user against a read-only data root.

Placeholders in a case's argv: ``{dir}`` a scratch folder for the case's files, ``{root}`` the data
root, ``{key}`` the trained series (yahoo-AAPL-1d), ``{version}`` its champion's version id.

Issue 24's classes (links out of the data root, bounded configs, two files of one name, saved
state that is not finite, ...) are in ``benchmarks/bad_inputs_24.py``, listed here too.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEY = "yahoo-AAPL-1d"
TINY = ("--hidden-size", "8", "--layers", "1", "--epochs", "1", "--no-progress", "--lookback", "20")
FIT = ("fit", "--ticker", "AAPL", "--offline")
FIT_TINY = (*FIT, *TINY)
NOBODY = 65534

Prepare = Callable[[Path, Path], None]
"""(files folder, data root) -> None: writes what the case needs."""


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    prepare: Prepare | None = None
    model: bool = False
    """Start from a data root holding a trained AAPL model (champion)."""
    patch: Callable[[Path], contextlib.AbstractContextManager] | None = None
    """In-process fault around the command: ``patch(data_root)``."""
    code: int | None = None
    """The exit code expected (None: any non-zero; 0: recovered from, with a warning)."""
    env: tuple[tuple[str, str], ...] = ()
    subprocess: bool = False
    as_nobody: bool = False
    """In a child process as an unprivileged user, with the data root made read-only."""
    after: Callable[[Path, Path], str | None] | None = None
    """A check after the run: ``after(files folder, data root)`` -> what went wrong, or None."""


# -- helpers that prepare files --------------------------------------------------------------------
def write(name: str, content: str | bytes, encoding: str = "utf-8") -> Prepare:
    def prepare(folder: Path, root: Path) -> None:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode(encoding) if isinstance(content, str) else content
        path.write_bytes(data)

    return prepare


def aapl_csv(name: str = "a.csv", rows: int = 300, edit=None, encoding="utf-8") -> Prepare:
    """A CSV of real AAPL rows (time, open, high, low, close, volume); ``edit(frame)`` spoils it."""

    def prepare(folder: Path, root: Path) -> None:
        from forecaster.data.sources import snapshot

        frame = snapshot.load_named("AAPL").frame.iloc[:rows].tz_localize(None)
        frame.index = frame.index.rename("time")
        frame = frame.reset_index()
        if edit is not None:
            frame = edit(frame)
        text = frame if isinstance(frame, str) else frame.to_csv(index=False)
        (folder / name).write_bytes(text.encode(encoding))

    return prepare


def in_model(name: str, content: bytes | None) -> Prepare:
    """Replace (or delete, ``None``) a file of the champion's folder."""

    def prepare(folder: Path, root: Path) -> None:
        vdir = root / "models" / KEY / "versions"
        version = (root / "models" / KEY / "CHAMPION").read_text().strip()
        path = vdir / version / name
        if content is None:
            path.unlink()
        else:
            path.write_bytes(content)

    return prepare


def in_store(name: str, content: bytes | None) -> Prepare:
    def prepare(folder: Path, root: Path) -> None:
        path = root / "models" / KEY / name
        if content is None:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        else:
            path.write_bytes(content)

    return prepare


def champion_gone(folder: Path, root: Path) -> None:
    version = (root / "models" / KEY / "CHAMPION").read_text().strip()
    shutil.rmtree(root / "models" / KEY / "versions" / version)


def truncated_model(folder: Path, root: Path) -> None:
    version = (root / "models" / KEY / "CHAMPION").read_text().strip()
    path = root / "models" / KEY / "versions" / version / "model.pt"
    path.write_bytes(path.read_bytes()[:200])


def other_shape_model(folder: Path, root: Path) -> None:
    import torch

    version = (root / "models" / KEY / "CHAMPION").read_text().strip()
    path = root / "models" / KEY / "versions" / version / "model.pt"
    torch.save({"gru.weight_ih_l0": torch.zeros(3, 3)}, path)


def nightly(name: str, body: dict | str | bytes) -> Prepare:
    return write(name, body if isinstance(body, (str, bytes)) else json.dumps(body))


GOOD_JOB = {
    "name": "aapl",
    "ticker": "AAPL",
    "overrides": {
        "data.offline": True,
        "model.lookback": 20,
        "model.hidden_size": 8,
        "model.num_layers": 1,
        "train.max_epochs": 1,
        "train.logger": "none",
    },
}


def both(*steps: Prepare) -> Prepare:
    def prepare(folder: Path, root: Path) -> None:
        for step in steps:
            step(folder, root)

    return prepare


# -- in-process faults -----------------------------------------------------------------------------
def _under(path: Any, root: Path) -> bool:
    try:
        return Path(os.fsencode(path).decode(errors="replace")).resolve().is_relative_to(root)
    except (TypeError, ValueError):
        return False


@contextlib.contextmanager
def failing_writes(root: Path, err: int) -> Iterator[None]:
    """Creating or writing anything under ``root`` fails with ``err`` (a read-only or full disk);
    reading works. Patches os.open, os.mkdir, os.replace and builtins.open for this process."""
    real_open, real_mkdir, real_replace, real_bopen = os.open, os.mkdir, os.replace, builtins.open
    write_flags = os.O_CREAT | os.O_WRONLY | os.O_RDWR | os.O_APPEND

    def fail(path):
        raise OSError(err, os.strerror(err), os.fspath(path))

    def guarded_open(path, flags, *args, **kw):
        if flags & write_flags and _under(path, root):
            fail(path)
        return real_open(path, flags, *args, **kw)

    def guarded_mkdir(path, *args, **kw):
        if _under(path, root) and not Path(path).exists():
            fail(path)
        return real_mkdir(path, *args, **kw)

    def guarded_replace(src, dst, *args, **kw):
        if _under(dst, root):
            fail(dst)
        return real_replace(src, dst, *args, **kw)

    def guarded_bopen(file, mode="r", *args, **kw):
        if isinstance(file, (str, os.PathLike)) and set(mode) & set("wax+") and _under(file, root):
            fail(file)
        return real_bopen(file, mode, *args, **kw)

    os.open, os.mkdir, os.replace, builtins.open = (
        guarded_open,
        guarded_mkdir,
        guarded_replace,
        guarded_bopen,
    )
    try:
        yield
    finally:
        os.open, os.mkdir, os.replace, builtins.open = (
            real_open,
            real_mkdir,
            real_replace,
            real_bopen,
        )


def read_only(root: Path):
    return failing_writes(root, errno.EROFS)


def no_permission(root: Path):
    return failing_writes(root, errno.EACCES)


def disk_full(root: Path):
    return failing_writes(root, errno.ENOSPC)


@contextlib.contextmanager
def store_locked(root: Path) -> Iterator[None]:
    """Another process is inside the store's critical section for the whole command."""
    from filelock import FileLock

    from forecaster import registry

    path = root / "models" / KEY / ".lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    old, registry.LOCK_TIMEOUT = registry.LOCK_TIMEOUT, 0.2
    try:
        with FileLock(str(path)):
            yield
    finally:
        registry.LOCK_TIMEOUT = old


@contextlib.contextmanager
def job_locked(root: Path) -> Iterator[None]:
    from filelock import FileLock

    path = root / "locks" / f"{KEY}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path)):
        yield


@contextlib.contextmanager
def yahoo_serves(rows: int) -> Iterator[None]:
    import faults
    import yfinance

    real = yfinance.Ticker
    faults.install_fake_yahoo(rows)
    try:
        yield
    finally:
        yfinance.Ticker = real


def openmeteo_answers(make_response) -> Callable[[Path], contextlib.AbstractContextManager]:
    """requests.get (Open-Meteo's network boundary) answers with ``make_response()``."""

    @contextlib.contextmanager
    def patch(root: Path) -> Iterator[None]:
        import requests

        from forecaster.data.sources import http

        real_get, real_sleep = requests.get, http.time.sleep

        def get(*args, **kw):
            result = make_response()
            if isinstance(result, BaseException):
                raise result
            return result

        requests.get = get
        http.time.sleep = lambda s: None
        try:
            yield
        finally:
            requests.get, http.time.sleep = real_get, real_sleep

    return patch


def _chunked():
    import requests

    return requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")


def _non_numeric():
    import requests

    response = requests.Response()
    response.status_code = 200
    times = [f"2001-01-01T{h:02d}:00" for h in range(24)]
    body = {
        "latitude": 36.07,
        "longitude": -79.79,
        "timezone": "America/New_York",
        "hourly_units": {"temperature_2m": "°C"},
        "hourly": {"time": times, "temperature_2m": ["warm"] * 24},
    }
    response._content = json.dumps(body).encode()
    return response


def garbage_covers_from(folder: Path, root: Path) -> None:
    """A cache file whose metadata says covers_from: "yesterday-ish"."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from forecaster.data.sources import snapshot

    frame = snapshot.load_named("AAPL").frame.iloc[:300]
    meta = {
        "fetched_at": "2026-01-01T00:00:00+00:00",
        "source": "yahoo",
        "symbol": "AAPL",
        "interval": "1d",
        "variables": list(frame.columns),
        "tz": "America/New_York",
        "covers_from": "yesterday-ish",
    }
    table = pa.Table.from_pandas(frame)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), b"forecaster": json.dumps(meta).encode()}
    )
    path = root / "cache" / "yahoo" / "AAPL_1d.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


# -- the cases -------------------------------------------------------------------------------------
def _cases() -> list[Case]:
    cases: list[Case] = []
    add = cases.append

    # tickers
    for name, ticker in [
        ("ticker empty", ""),
        ("ticker blank", "   "),
        ("ticker unknown offline", "NOSUCHTICKERX"),
        ("ticker path traversal", "../../etc/passwd"),
        ("ticker shell", "AAPL;rm -rf /"),
        ("ticker unicode", "Ä€ÖÜ"),
        ("ticker caret", "^GSPC"),
        ("ticker slash", "BRK/B"),
        ("ticker dollar", "$(whoami)"),
        ("ticker dot", "."),
        ("ticker dotdot", ".."),
    ]:
        add(Case(name, ("data", "show", "--offline", "--ticker", ticker)))
    add(Case("fit unknown ticker", (*FIT_TINY[:2], "NOSUCHTICKERX", *FIT_TINY[3:])))
    add(Case("ticker 5000 chars", ("data", "show", "--ticker", "A" * 5000)))
    add(Case("ticker NUL byte", ("data", "show", "--offline", "--ticker", "AA\0PL")))

    # series flags
    for name, args in [
        ("city unknown", ("--city", "atlantis")),
        ("city empty", ("--city", "")),
        ("lat out of range", ("--lat", "200", "--lon", "0")),
        ("lat without lon", ("--lat", "10")),
        ("lat not a number", ("--lat", "abc", "--lon", "1")),
        ("ticker and city", ("--ticker", "AAPL", "--city", "berlin")),
        ("no series", ()),
        ("csv missing", ("--csv", "{dir}/missing.csv")),
        ("csv is a folder", ("--csv", "{dir}")),
        ("interval bogus", ("--ticker", "AAPL", "--interval", "7x")),
        ("interval 1m offline", ("--ticker", "AAPL", "--interval", "1m")),
        ("start not a date", ("--ticker", "AAPL", "--start", "2020-13-45")),
        ("start a word", ("--ticker", "AAPL", "--start", "yesterday")),
        ("start after end", ("--ticker", "AAPL", "--start", "2013-01-01", "--end", "2012-01-01")),
        ("end before the data", ("--ticker", "AAPL", "--end", "1990-01-01")),
        ("start after the data", ("--ticker", "AAPL", "--start", "2020-01-01")),
        ("target unknown", ("--ticker", "AAPL", "--target", "nosuch")),
        ("columns unknown", ("--ticker", "AAPL", "--columns", "nosuch")),
        ("max gap negative", ("--ticker", "AAPL", "--max-gap", "-1")),
    ]:
        add(Case(f"fit {name}", ("fit", "--offline", *args, *TINY)))
    add(
        Case(
            "tz Mars/Base with --city",
            ("fit", "--offline", "--city", "greensboro", "--tz", "Mars/Base", *TINY),
        )
    )

    # model and training flags
    for name, args in [
        ("lookback 0", ("--lookback", "0")),
        ("lookback negative", ("--lookback", "-5")),
        ("lookback not a number", ("--lookback", "abc")),
        ("lookback over the limit", ("--lookback", "100001")),
        ("lookback longer than the data", ("--lookback", "5000")),
        ("horizon 0", ("--horizon", "0")),
        ("horizon longer than the data", ("--horizon", "5000")),
        ("layers 0", ("--layers", "0")),
        ("layers 17", ("--layers", "17")),
        ("hidden size 0", ("--hidden-size", "0")),
        ("hidden size 5000", ("--hidden-size", "5000")),
        ("epochs 0", ("--epochs", "0")),
        ("epochs 1.5", ("--epochs", "1.5")),
        ("batch size 0", ("--batch-size", "0")),
        ("learning rate 0", ("--learning-rate", "0")),
        ("learning rate negative", ("--learning-rate", "-1")),
        ("learning rate nan", ("--learning-rate", "nan")),
        ("learning rate inf", ("--learning-rate", "inf")),
        ("learning rate a word", ("--learning-rate", "fast")),
        ("seed a word", ("--seed", "abc")),
        ("promote bogus", ("--promote", "bogus")),
        ("unknown option", ("--foo",)),
    ]:
        add(Case(f"fit {name}", (*FIT, *args)))
    add(Case("unknown command", ("fitt", "--ticker", "AAPL")))
    add(Case("data root is a file", ("--data-root", "{dir}/f", *FIT_TINY), write("f", "x")))
    add(Case("FORECASTER_HOME is a file", FIT_TINY, write("f", "x"), env=(("home", "{dir}/f"),)))

    # backtest flags
    for name, args in [
        ("stride 0", ("--stride", "0")),
        ("max origins 0", ("--max-origins", "0")),
        ("refit every negative", ("--refit-every", "-1")),
        ("window bogus", ("--window", "bogus")),
        ("season 0", ("--season", "0")),
        ("start after the data", ("--start", "2014-01-01")),
    ]:
        add(
            Case(
                f"backtest {name}",
                ("backtest", "--ticker", "AAPL", "--offline", "--model", "none", *args),
            )
        )
    add(
        Case(
            "backtest unknown version",
            ("backtest", "--ticker", "AAPL", "--offline", "--model", "nosuch"),
        )
    )
    add(
        Case(
            "backtest model dotdot",
            ("backtest", "--ticker", "AAPL", "--offline", "--model", "../x"),
        )
    )

    # predict
    predict = ("predict", "--ticker", "AAPL", "--offline")
    add(Case("predict target other than trained", (*predict, "--target", "open"), model=True))
    add(Case("predict target Open", (*predict, "--target", "Open"), model=True))
    add(Case("predict model dotdot", (*predict, "--model", ".."), model=True))
    add(Case("predict model /etc", (*predict, "--model", "/etc"), model=True))
    add(Case("predict model empty", (*predict, "--model", ""), model=True))
    add(Case("predict without a model", predict))
    add(Case("predict latest without a model", (*predict, "--model", "latest")))
    add(Case("predict other ticker", ("predict", "--ticker", "MSFT", "--offline"), model=True))
    add(Case("predict out is a file", (*predict, "--out", "{dir}/f"), write("f", "x"), model=True))

    # configs
    fit_config = (*FIT_TINY, "--config")
    for name, content in [
        ("binary", bytes(range(256)) * 4),
        ("a list", "- a\n- b\n"),
        ("a scalar", "hello\n"),
        ("yaml syntax error", "model: [unclosed\n"),
        ("unknown top key", "bogus: 1\n"),
        ("unknown nested key", "model:\n  lookbak: 10\n"),
        ("wrong type", "model:\n  lookback: abc\n"),
        ("negative value", "model:\n  lookback: -1\n"),
        ("section a scalar", "model: 5\n"),
        ("tab indentation", "model:\n\tlookback: 10\n"),
        ("huge number", "model:\n  lookback: 1e400\n"),
        ("unknown covariate", "data:\n  covariates: [bogus]\n"),
        ("fractions too large", "train:\n  val_fraction: 0.5\n  test_fraction: 0.45\n"),
        ("utf-16", ("model:\n  lookback: 10\n", "utf-16")),
        ("latin-1 comment", ("# café\nmodel:\n  lookback: 10\n", "latin-1")),
    ]:
        text, enc = content if isinstance(content, tuple) else (content, "utf-8")
        add(Case(f"config {name}", (*fit_config, "{dir}/c.yaml"), write("c.yaml", text, enc)))
    add(Case("config missing", (*fit_config, "no_such_config")))
    add(Case("config is a folder", (*fit_config, "{dir}")))
    add(
        Case(
            "config binary (subprocess)",
            (*fit_config, "{dir}/c.yaml"),
            write("c.yaml", bytes(range(256))),
            subprocess=True,
        )
    )

    # nightly configs
    retrain = ("retrain", "--config", "{dir}/n.yaml")
    for name, body in [
        ("no jobs", {"jobs": []}),
        ("duplicate names", {"jobs": [GOOD_JOB, GOOD_JOB]}),
        ("job with two series", {"jobs": [{**GOOD_JOB, "city": "berlin"}]}),
        ("unknown policy key", {"bogus": 1, "jobs": [GOOD_JOB]}),
        ("margin 2", {"margin": 2, "jobs": [GOOD_JOB]}),
        ("metric bogus", {"metric": "bogus", "jobs": [GOOD_JOB]}),
        ("keep 0 versions", {"keep_versions": 0, "jobs": [GOOD_JOB]}),
        ("jobs not a list", {"jobs": 5}),
        ("job override unknown", {"jobs": [{**GOOD_JOB, "overrides": {"model.bogus": 1}}]}),
        ("binary", bytes(range(256))),
    ]:
        add(Case(f"nightly {name}", retrain, nightly("n.yaml", body)))
    add(
        Case(
            "nightly unknown job",
            (*retrain, "--job", "nosuch"),
            nightly("n.yaml", {"jobs": [GOOD_JOB]}),
        )
    )
    add(Case("nightly config missing", ("retrain", "--config", "{dir}/missing.yaml")))
    add(
        Case(
            "retrain job lock held",
            retrain,
            nightly("n.yaml", {"jobs": [GOOD_JOB]}),
            patch=job_locked,
            code=4,
        )
    )

    # CSV contents
    fit_csv = ("fit", "--csv", "{dir}/a.csv", *TINY)
    for name, prepare, extra in [
        ("empty", write("a.csv", ""), ()),
        ("header only", write("a.csv", "time,close\n"), ()),
        ("one row", write("a.csv", "time,close\n2020-01-01,1\n"), ()),
        ("no time column", write("a.csv", "a,b\n1,2\n3,4\n5,6\n"), ()),
        (
            "non-numeric target",
            aapl_csv(edit=lambda f: f.assign(close="high")),
            ("--target", "close"),
        ),
        (
            "all-NaN target",
            aapl_csv(edit=lambda f: f.assign(close=float("nan"))),
            ("--target", "close"),
        ),
        ("conflicting duplicates", aapl_csv(edit=lambda f: _dupes(f)), ("--target", "close")),
        ("binary junk", write("a.csv", bytes(range(256)) * 8), ()),
        (
            "latin-1 header",
            aapl_csv(edit=lambda f: f.rename(columns={"close": "clôture"}), encoding="latin-1"),
            ("--target", "clôture"),
        ),
        ("utf-16", aapl_csv(encoding="utf-16"), ("--target", "close")),
        (
            "semicolons",
            aapl_csv(edit=lambda f: f.to_csv(index=False, sep=";")),
            ("--target", "close"),
        ),
        ("target missing", aapl_csv(), ("--target", "nosuch")),
        ("gap too long", aapl_csv(edit=lambda f: _gap(f)), ("--target", "close")),
        ("time column missing", aapl_csv(), ("--target", "close", "--time-column", "nosuch")),
        ("too few rows", aapl_csv(rows=5), ("--target", "close")),
        (
            "dates unparsable",
            aapl_csv(edit=lambda f: f.assign(time="someday")),
            ("--target", "close"),
        ),
        ("N/A values", aapl_csv(edit=lambda f: f.assign(close="N/A")), ("--target", "close")),
    ]:
        add(Case(f"csv {name}", (*fit_csv, *extra), prepare))
    add(
        Case(
            "parquet corrupt",
            ("fit", "--csv", "{dir}/a.parquet", *TINY),
            write("a.parquet", b"PAR1garbagePAR1"),
        )
    )
    add(
        Case(
            "xlsx file", ("fit", "--csv", "{dir}/a.xlsx", *TINY), write("a.xlsx", b"PK\x03\x04junk")
        )
    )
    add(
        Case(
            "csv tz Mars/Base",
            (*fit_csv, "--target", "close", "--tz", "Mars/Base"),
            aapl_csv(),
        )
    )
    add(
        Case(
            "csv mixed UTC offsets",
            (*fit_csv, "--target", "close"),
            aapl_csv(edit=lambda f: _offsets(f)),
        )
    )

    # corrupt model files
    for name, prepare in [
        ("model.pt garbage", in_model("model.pt", b"not a model at all")),
        ("model.pt empty", in_model("model.pt", b"")),
        ("model.pt truncated", truncated_model),
        ("model.pt other shapes", other_shape_model),
        ("config.yaml binary", in_model("config.yaml", bytes(range(256)))),
        ("config.yaml invalid", in_model("config.yaml", b"model:\n  lookback: -1\n")),
        ("normalization.json missing", in_model("normalization.json", None)),
        ("normalization.json garbage", in_model("normalization.json", b"{not json")),
        ("meta.json binary", in_model("meta.json", bytes(range(256)))),
        ("meta.json a list", in_model("meta.json", b"[]")),
        ("model.pt missing", in_model("model.pt", None)),
        ("champion folder gone", champion_gone),
    ]:
        add(Case(f"predict with {name}", predict, prepare, model=True))

    # garbled store files
    models = ("models",)
    for name, prepare in [
        ("CHAMPION binary", in_store("CHAMPION", b"\xff\xfe\x00\x81garbage")),
        ("CHAMPION outside the store", in_store("CHAMPION", b"../../elsewhere\n")),
        ("CHAMPION empty", in_store("CHAMPION", b"")),
        ("CHAMPION names a missing version", in_store("CHAMPION", b"20200101T000000Z-dead\n")),
    ]:
        add(Case(f"predict with {name}", predict, prepare, model=True))
    add(
        Case(
            "models show with CHAMPION binary",
            (*models, "show", "{key}"),
            in_store("CHAMPION", b"\xff\xfe"),
            model=True,
        )
    )
    add(
        Case(
            "rollback with history binary",
            (*models, "rollback", "{key}"),
            in_store("history.jsonl", bytes(range(256))),
            model=True,
        )
    )
    for name, version in [
        ("dotdot", ".."),
        ("dot", "."),
        ("absolute path", "/etc"),
        ("empty", ""),
        ("traversal", "../../x"),
        ("unknown", "20200101T000000Z-dead"),
    ]:
        add(Case(f"promote {name}", (*models, "promote", "{key}", version), model=True))
    add(
        Case(
            "promote the version folder path",
            (*models, "promote", "{key}", "{root}/models/{key}/versions/{version}"),
            model=True,
        )
    )
    add(
        Case(
            "promote dotdot (subprocess)",
            (*models, "promote", "{key}", ".."),
            model=True,
            subprocess=True,
        )
    )
    add(Case("promote unknown series", (*models, "promote", "nosuch-key", "{version}"), model=True))
    add(Case("show unknown version", (*models, "show", "{key}", "nosuch"), model=True))
    add(Case("show dotdot", (*models, "show", "{key}", ".."), model=True))
    add(Case("list unknown series", (*models, "list", "nosuch-key"), model=True))
    add(Case("list invalid key", (*models, "list", "../x"), model=True))
    add(Case("rollback with one champion", (*models, "rollback", "{key}"), model=True))
    add(Case("rollback unknown series", (*models, "rollback", "nosuch-key")))

    # an unwritable data root, a full disk, locks
    for name, patch, code in [
        ("read-only", read_only, 5),
        ("no permission", no_permission, 5),
        ("disk full", disk_full, 5),
    ]:
        add(Case(f"fit with the data root {name}", FIT_TINY, patch=patch, code=code))
        add(Case(f"predict with the data root {name}", predict, model=True, patch=patch, code=code))
        add(
            Case(
                f"promote with the data root {name}",
                (*models, "promote", "{key}", "{version}"),
                model=True,
                patch=patch,
                code=code,
            )
        )
    add(
        Case(
            "backtest report unwritable",
            ("backtest", "--ticker", "AAPL", "--offline", "--model", "none", "--max-origins", "5"),
            patch=no_permission,
            code=5,
        )
    )
    add(
        Case(
            "rollback with the data root read-only",
            (*models, "rollback", "{key}"),
            both(_second_champion),
            model=True,
            patch=read_only,
            code=5,
        )
    )
    add(
        Case(
            "retrain with the data root read-only",
            retrain,
            nightly("n.yaml", {"jobs": [GOOD_JOB]}),
            model=True,
            patch=read_only,
            code=5,
        )
    )
    add(
        Case(
            "promote while the store is locked",
            (*models, "promote", "{key}", "{version}"),
            model=True,
            patch=store_locked,
            code=4,
        )
    )
    add(Case("fit while the store is locked", FIT_TINY, model=True, patch=store_locked, code=4))
    for name, argv in [
        ("fit", FIT_TINY),
        ("predict", predict),
        ("promote", (*models, "promote", "{key}", "{version}")),
    ]:
        add(
            Case(
                f"{name} as a user on a read-only data root (subprocess)",
                argv,
                model=True,
                subprocess=True,
                as_nobody=True,
                code=5,
            )
        )

    # the data layer's part of issue 12 (network answers, cache metadata)
    add(
        Case(
            "open-meteo ChunkedEncodingError",
            (
                "data",
                "show",
                "--city",
                "greensboro",
                "--start",
                "2001-01-01",
                "--end",
                "2001-01-02",
            ),
            patch=openmeteo_answers(_chunked),
            code=0,  # a broken transfer is an outage: retried, then the bundled snapshot, warned
        )
    )
    add(
        Case(
            "open-meteo non-numeric JSON",
            (
                "data",
                "show",
                "--city",
                "greensboro",
                "--columns",
                "temperature_2m",
                "--start",
                "2001-01-01",
                "--end",
                "2001-01-02",
            ),
            patch=openmeteo_answers(_non_numeric),
        )
    )
    add(
        Case(
            "cache covers_from garbage",
            ("data", "show", "--ticker", "AAPL", "--start", "2001-01-01"),
            garbage_covers_from,
            patch=lambda root: yahoo_serves(300),
            code=0,  # a corrupt cache file is refetched, with a warning
        )
    )
    import bad_inputs_24  # issue 24's classes; given this module, so neither imports the other

    cases += bad_inputs_24.cases(sys.modules[__name__])
    return cases


def _dupes(frame):
    import pandas as pd

    extra = frame.iloc[[10]].assign(close=frame["close"].iloc[10] + 5)
    return pd.concat([frame, extra]).sort_values("time")


def _gap(frame):
    return frame.drop(index=range(100, 120))


def _offsets(frame):
    stamps = frame["time"].astype(str)
    half = len(stamps) // 2
    return frame.assign(
        time=[s + ("+01:00" if i < half else "+02:00") for i, s in enumerate(stamps)]
    )


def _second_champion(folder: Path, root: Path) -> None:
    """A second version made champion, so a rollback has somewhere to go."""
    from forecaster.registry import ModelStore

    st = ModelStore(root / "models")
    champion = st.resolve(KEY)
    copy = root / "copy"
    shutil.copytree(champion.path, copy)
    version = st.save(KEY, lambda folder: _copy_into(copy, folder)).version
    st.promote(KEY, version)


def _copy_into(source: Path, folder: Path) -> None:
    for f in source.iterdir():
        shutil.copy2(f, folder / f.name)


CASES = _cases()


# -- running and judging ---------------------------------------------------------------------------
@dataclass
class Outcome:
    name: str
    code: int | None
    clean: bool
    why: str
    stderr: str = ""


def judge(code: int | None, stdout: str, stderr: str, expected: int | None) -> tuple[bool, str]:
    """Clean = non-zero exit (the expected one if given), no traceback, exactly one ``error:``
    line on stderr and it is the last line there (warnings and notes may come before it).

    ``expected=0`` is an input the program recovers from: exit 0, no traceback, no ``error:``
    line, and a ``warning:`` line that says what happened."""
    if expected == 0:
        warned = any(line.startswith("warning:") for line in stderr.splitlines())
        ok = code == 0 and "Traceback" not in stdout + stderr and "error:" not in stderr and warned
        return ok, "recovered with a warning" if ok else f"exit {code}; stderr {stderr[-300:]!r}"
    if code == 0:
        return False, "exit 0"
    if "Traceback" in stdout + stderr:
        return False, "traceback: " + (stderr.strip().splitlines() or ["?"])[-1][:200]
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    if len(errors) != 1 or lines[-1] != errors[0]:
        return False, f"{len(errors)} error lines; stderr ends {lines[-3:]}"
    if expected is not None and code != expected:
        return False, f"exit {code}, expected {expected}: {errors[0][:200]}"
    return True, errors[0]


def make_template(base: Path) -> tuple[Path, str]:
    """A data root with a tiny AAPL model as champion (trained once, copied per case)."""
    from click.testing import CliRunner

    from forecaster.cli import cli

    root = base / "template"
    result = CliRunner().invoke(cli, list(FIT_TINY), env={"FORECASTER_HOME": str(root)})
    if result.exit_code != 0:
        raise RuntimeError(f"could not train the template model: {result.output[-2000:]}")
    version = (root / "models" / KEY / "CHAMPION").read_text().strip()
    return root, version


def run_case(case: Case, base: Path, template: tuple[Path, str], runner=None) -> Outcome:
    """Prepare the case's folder and data root, run the command, judge its output."""
    from click.testing import CliRunner

    from forecaster.cli import cli

    folder, root = base / "files", base / "home"
    folder.mkdir(parents=True, exist_ok=True)
    if case.model:
        shutil.copytree(template[0], root, dirs_exist_ok=True)
    else:
        root.mkdir(parents=True, exist_ok=True)
    if case.prepare is not None:
        case.prepare(folder, root)
    subs = {"{dir}": str(folder), "{root}": str(root), "{key}": KEY, "{version}": template[1]}
    argv = [_fill(a, subs) for a in case.argv]
    env = {"FORECASTER_HOME": str(root), "FORECASTER_FAULT": ""}
    env |= {"FORECASTER_HOME" if k == "home" else k: _fill(v, subs) for k, v in case.env}
    if case.subprocess:
        if runner is None:
            raise RuntimeError(f"case {case.name!r} needs a child-process runner")
        code, stdout, stderr = _in_child(case, argv, env, base, runner)
    else:
        patch = case.patch(root) if case.patch else contextlib.nullcontext()
        with patch:
            result = CliRunner().invoke(cli, argv, env=env)
        code, stdout, stderr = result.exit_code, result.stdout, result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            import traceback

            stderr += "".join(traceback.format_exception(result.exception))
    clean, why = judge(code, stdout, stderr, case.code)
    problem = case.after(folder, root) if case.after is not None else None
    if problem is not None:
        clean, why = False, problem
    return Outcome(case.name, code, clean, why, stderr)


def _fill(text: str, subs: dict[str, str]) -> str:
    for k, v in subs.items():
        text = text.replace(k, v)
    return text


def _in_child(case: Case, argv, env, base: Path, runner) -> tuple[int | None, str, str]:
    user = None
    if case.as_nobody:
        for path in [base, *base.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        base.parent.chmod(0o755)
        user = NOBODY if os.geteuid() == 0 else None
    try:
        run = runner.run(argv, env, user=user)
    finally:
        if case.as_nobody:
            for path in [base, *base.rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)
    return run.code, run.stdout, run.stderr


def run_cases(cases: list[Case], base: Path, runner=None) -> list[Outcome]:
    base.mkdir(parents=True, exist_ok=True)
    template = make_template(base)
    outcomes = []
    for i, case in enumerate(cases):
        outcomes.append(run_case(case, base / f"case{i:03d}", template, runner))
    return outcomes


if __name__ == "__main__":  # a quick look: python benchmarks/bad_inputs.py
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for o in run_cases(CASES, Path(tmp)):
            print(f"{'ok ' if o.clean else 'BAD'} {o.code!s:>4} {o.name:<50} {o.why[:150]}")
    sys.exit(0)
