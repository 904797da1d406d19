"""Fault injection: kill -9 across a nightly run, overlapping runs on one series, bad inputs.

    .venv/bin/python benchmarks/faults.py            # the full run (~1.5 min on 2 idle cores)
    .venv/bin/python benchmarks/faults.py --quick    # about the subset tests/faults runs in CI

1. **Kill points.** ``forecast retrain`` runs in a real child process on a tiny nightly config
   (one Yahoo job, the network boundary faked with the bundled AAPL snapshot in yfinance's
   recorded shape, 2 epochs of an 8-unit GRU). ``FORECASTER_FAULT=<point>`` makes it SIGKILL
   itself at that point (see forecaster/faults.py): during the data refresh, training, save,
   promote, prune and the run summary. After each kill: the champion is the one from before and
   predicts identically (or, for kills after the pointer switch, the new complete version);
   nothing half-written is visible; the next run recovers what the dead one left and completes.
2. **Concurrency.** Runs paused at a known point (``<point>:wait=<file>``) while others act: two
   overlapping retrains (the second exits 4, no job trained twice), ``fit`` + ``retrain`` +
   ``models promote`` at once (nothing lost, the manual promotion wins, the champion always loads),
   Ctrl+C during training (exit 130, the run summary still written), and (full run) unpaused races.
3. **Bad inputs** (benchmarks/bad_inputs.py): each must give exactly one ``error:`` line on stderr,
   a non-zero exit code and no traceback.

Children are forked from a ``multiprocessing`` fork server that has imported forecaster, torch and
Lightning once, so a run costs about a second instead of the ~8 s import. The summary goes to
stdout as one JSON line per part, then a final line with all counts.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

KEY = "yahoo-AAPL-1d"
FIRST_ROWS = 900
"""Rows the fake Yahoo serves on the first night; each later night adds ``STEP`` trading days."""
STEP = 5
TINY = {
    "model.lookback": 20,
    "model.horizon": 5,
    "model.hidden_size": 8,
    "model.num_layers": 1,
    "train.max_epochs": 2,
    "train.patience": 5,
    "train.batch_size": 64,
    "train.logger": "none",
}

# (point, phase, after_switch); after_switch: the pointer may already name the new version.
KILL_POINTS = [
    ("retrain.locked", "start", False),
    ("retrain.data", "data refresh", False),
    ("io.replace@1", "data refresh (cache file being replaced)", False),
    ("train.epoch@1", "training", False),
    ("io.replace@2", "save (model.pt being written)", False),
    ("store.save.written", "save (complete, not renamed)", False),
    ("store.save.renamed", "save (renamed, not promoted)", False),
    ("retrain.trained", "scoring", False),
    ("store.promote.logged", "promote (logged, not switched)", False),
    ("store.promote.switched", "promote (switched, not recorded)", True),
    ("store.prune.trashed", "prune (renamed to trash)", True),
    ("store.prune.deleting", "prune (mid-delete)", True),
    ("retrain.summary", "run summary", True),
]
QUICK_POINTS = [
    "io.replace@1",
    "train.epoch@1",
    "store.save.written",
    "store.promote.logged",
    "store.prune.deleting",
]


# -- children --------------------------------------------------------------------------------------
def install_fake_yahoo(rows: int) -> None:
    """Serve the bundled AAPL snapshot's first ``rows`` days as ``yfinance.Ticker.history`` would
    (flat Open/High/Low/Close/Volume, exchange-time index named Date): the network boundary only."""
    import pandas as pd
    import yfinance

    from forecaster.data.sources import snapshot

    frame = snapshot.load_named("AAPL").frame.iloc[:rows]
    recorded = frame.rename(columns=str.title)[["Open", "High", "Low", "Close", "Volume"]]
    recorded.index = recorded.index.rename("Date")

    class Ticker:
        def __init__(self, symbol: str):
            self.symbol = symbol

        def history(self, start=None, end=None, period=None, **_):
            if self.symbol != "AAPL":
                return recorded.iloc[:0]
            out = recorded
            if start is not None:
                out = out[out.index.tz_localize(None) >= pd.Timestamp(start)]
            if end is not None:
                out = out[out.index.tz_localize(None) < pd.Timestamp(end)]
            return out.copy()

        def get_history_metadata(self):
            return {"currency": "USD", "exchangeTimezoneName": "America/New_York"}

    yfinance.Ticker = Ticker


def _child(
    argv: list[str], env: dict[str, str], out: str, err: str, yahoo_rows: int, user: int | None
) -> None:
    """Run ``forecast <argv>`` in this (forked) process with its output in files, optionally as
    another (unprivileged) user."""
    for stale in [k for k in os.environ if k.startswith("FORECASTER_FAULT") and k not in env]:
        del os.environ[stale]  # a fork server started by an earlier test may hold another's
    os.environ.update(env)
    for fd, path in ((1, out), (2, err)):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(f, fd)
        os.close(f)
    if user is not None:
        os.setgroups([])
        os.setgid(user)
        os.setuid(user)
    if yahoo_rows:
        install_fake_yahoo(yahoo_rows)
    from forecaster.cli import cli

    code = 0
    try:
        cli.main(args=argv, prog_name="forecast", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # a crash: keep the traceback in the err file
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


@dataclass
class Run:
    """A finished (or running) child: its exit code (-9 = killed) and output."""

    proc: Any
    out: Path
    err: Path
    code: int | None = None

    def wait(self, timeout: float = 300) -> Run:
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
            self.code = -999
        else:
            self.code = self.proc.exitcode
        return self

    @property
    def stdout(self) -> str:
        return self.out.read_text(errors="replace") if self.out.exists() else ""

    @property
    def stderr(self) -> str:
        return self.err.read_text(errors="replace") if self.err.exists() else ""


class Runner:
    """Forks ``forecast`` runs from a fork server that imported the heavy modules once."""

    def __init__(self, scratch: Path):
        self.scratch = scratch
        self.ctx = mp.get_context("forkserver")
        self.ctx.set_forkserver_preload(
            ["forecaster.cli", "forecaster.cli.cmd_model", "forecaster.nightly.run", "yfinance"]
        )
        self.n = 0

    def start(
        self, argv: list[str], env: dict[str, str], yahoo_rows: int = 0, user: int | None = None
    ) -> Run:
        self.n += 1
        out, err = self.scratch / f"run{self.n}.out", self.scratch / f"run{self.n}.err"
        proc = self.ctx.Process(
            target=_child, args=(argv, env, str(out), str(err), yahoo_rows, user), daemon=True
        )
        proc.start()
        return Run(proc, out, err)

    def run(
        self, argv: list[str], env: dict[str, str], yahoo_rows: int = 0, user: int | None = None
    ) -> Run:
        return self.start(argv, env, yahoo_rows, user).wait()


# -- the world of one series -----------------------------------------------------------------------
@dataclass
class World:
    """A data root with a nightly config for one Yahoo job (AAPL via the fake network)."""

    base: Path
    runner: Runner
    rows: int = FIRST_ROWS
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.root = self.base / "home"
        self.nightly = self.base / "nightly.yaml"
        job = {"name": "aapl", "ticker": "AAPL", "config": "stocks_daily", "overrides": TINY}
        # The suite needs promotions to reach the promote and prune points, so the challenger only
        # has to beat the (made poor) champion, not the baselines too.
        policy = {
            "holdout_fraction": 0.1,
            "max_holdout_origins": 60,
            "keep_versions": 2,
            "require_beat_baseline": False,
        }
        self.nightly.write_text(json.dumps({**policy, "jobs": [job]}), encoding="utf-8")
        self.tiny_config = self.base / "tiny.yaml"
        self.tiny_config.write_text(
            json.dumps(_nested({**TINY, "data.interval": "1d"}) | {"name": "tiny"}),
            encoding="utf-8",
        )

    def env(self, fault: str | None = None) -> dict[str, str]:
        env = {"FORECASTER_HOME": str(self.root), "FORECASTER_FAULT": fault or ""}
        return env

    def retrain(self, *extra: str, fault: str | None = None, start: bool = False):
        argv = ["retrain", "--config", str(self.nightly), *extra]
        if start:
            return self.runner.start(argv, self.env(fault), yahoo_rows=self.rows)
        return self.runner.run(argv, self.env(fault), yahoo_rows=self.rows)

    def cli(self, *argv: str, start: bool = False):
        if start:
            return self.runner.start(list(argv), self.env(), yahoo_rows=self.rows)
        return self.runner.run(list(argv), self.env(), yahoo_rows=self.rows)

    # in this process: inspect the store
    def store(self):
        from forecaster.registry import ModelStore

        return ModelStore(self.root / "models")

    def reference(self):
        """A fixed series to predict from: the first night's data, as the snapshot holds it."""
        from forecaster.data.sources import snapshot

        full = snapshot.load_named("AAPL")
        return full.with_frame(full.frame.iloc[:FIRST_ROWS])

    def forecast(self, version: str) -> np.ndarray:
        from forecaster.fitted import FittedModel

        info = self.store().info(KEY, version)
        return FittedModel.load(info.path).predict(self.reference())["forecast"].to_numpy()

    def make_champion_poor(self) -> str:
        """Promote a noisy copy of the champion, so tonight's challenger surely beats it (and the
        promote and prune points are reached)."""
        import torch

        from forecaster.fitted import FittedModel

        st = self.store()
        model = FittedModel.load(st.resolve(KEY).path, weights="procedure")  # what is scored
        gen = torch.Generator().manual_seed(len(st.versions(KEY)))
        with torch.no_grad():
            model.module.blend.fill_(1.0)  # the whole noisy correction, not the anchor
            for p in model.module.parameters():
                p.add_(torch.randn(p.shape, generator=gen) * 5.0)
        version = st.save(KEY, model.save).version
        st.promote(KEY, version, reason="fault suite: a poor champion")
        return version

    def leftovers(self) -> list[str]:
        sdir = self.root / "models" / KEY
        if not sdir.is_dir():
            return []
        hidden = [p for p in sdir.rglob(".*") if p.name != ".lock"]
        return sorted(str(p.relative_to(sdir)) for p in hidden)


def _nested(dotted: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def _status(run: Run) -> str:
    """The job's status from a summary printed on stdout."""
    for line in run.stdout.splitlines():
        if line.strip().startswith("aapl "):
            return line.split()[1]
    return "?"


# -- 1. kill points --------------------------------------------------------------------------------
@dataclass
class KillResult:
    point: str
    phase: str
    ok: bool
    detail: str


def first_night(world: World) -> str:
    """Train the first champion (no fault); returns its version."""
    run = world.retrain()
    if run.code != 0:
        raise RuntimeError(f"the first night failed ({run.code}): {run.stderr[-2000:]}")
    return world.store().champion(KEY)


def check_after_kill(world: World, point: str, after_switch: bool, before: str, was: np.ndarray):
    """The store after a kill: champion as before (same forecasts) or, after the switch, the new
    complete version; only complete versions listed; the cache (if any) readable."""
    from forecaster.data import cache

    st = world.store()
    with mock.patch.dict(os.environ, {"FORECASTER_HOME": str(world.root)}):
        path = cache.cache_path("yahoo", "AAPL", "1d")
        cache_ok = not path.exists() or cache.read(path) is not None
    problems = []
    champion = st.champion(KEY)
    if champion == before:
        if not np.array_equal(world.forecast(champion), was):
            problems.append("the champion's forecasts changed")
    elif not after_switch:
        problems.append(f"champion {champion} is not the one from before ({before})")
    else:
        world.forecast(champion)  # loads and predicts
    problems += incomplete_versions(world)
    if not cache_ok:
        problems.append("the cache file is unreadable")
    return problems


def incomplete_versions(world: World) -> list[str]:
    """Folders under a real version name that are not complete models (what loaders could find)."""
    vdir = world.root / "models" / KEY / "versions"
    needed = ("model.pt", "config.yaml", "meta.json", "normalization.json")
    return [
        f"incomplete version folder: {p.name}"
        for p in (vdir.iterdir() if vdir.is_dir() else [])
        if not p.name.startswith(".") and not all((p / f).is_file() for f in needed)
    ]


def kill_points(world: World, points: list[tuple[str, str, bool]], *, pairs: bool) -> list:
    """Kill a run at each point. ``pairs``: follow every kill with a clean run that must recover
    and complete; otherwise the next kill's run is the one that recovers, and one clean run ends
    the chain."""
    results = []
    for point, phase, after_switch in points:
        before = world.make_champion_poor()
        was = world.forecast(before)
        world.rows += STEP
        run = world.retrain("--force", fault=point)
        problems = [] if run.code == -signal.SIGKILL else [f"exit {run.code}, not killed"]
        if run.code != -signal.SIGKILL and "Traceback" in run.stderr:
            problems.append(run.stderr.strip().splitlines()[-1])
        problems += check_after_kill(world, point, after_switch, before, was)
        if pairs:
            again = world.retrain()
            if again.code != 0 or _status(again) not in ("promoted", "kept", "skipped"):
                problems.append(f"next run: exit {again.code}, {_status(again)}")
            if world.leftovers():
                problems.append(f"left after the next run: {world.leftovers()}")
            problems += incomplete_versions(world)
        results.append(KillResult(point, phase, not problems, "; ".join(problems)))
    if not pairs:
        final = world.retrain("--force")
        ok = final.code == 0 and _status(final) in ("promoted", "kept")
        ok = ok and not world.leftovers() and not incomplete_versions(world)
        if not ok:
            results[-1].ok = False
            results[
                -1
            ].detail += (
                f"; final run: exit {final.code}, {_status(final)}, left {world.leftovers()}"
            )
    return results


# -- 2. concurrency --------------------------------------------------------------------------------
def _paused(world: World, point: str, name: str, *extra: str) -> tuple[Run, Path]:
    go = world.base / f"go-{name}"
    run = world.retrain(*extra, fault=f"{point}:wait={go}", start=True)
    reached = Path(f"{go}.reached")
    deadline = time.monotonic() + 120
    while not reached.exists():
        if not run.proc.is_alive() or time.monotonic() > deadline:
            run.wait(1)
            raise RuntimeError(f"the paused run never reached {point}: {run.stderr[-1500:]}")
        time.sleep(0.05)
    return run, go


def overlapping_retrains(world: World) -> list[str]:
    """A second retrain while the first trains: refused with exit 4; the job trains once."""
    problems = []
    world.rows += STEP
    attempts = len([e for e in world.store().history(KEY) if e.get("event") == "attempt"])
    first, go = _paused(world, "train.epoch", "overlap", "--force")
    second = world.retrain("--force")
    go.touch()
    first.wait()
    if second.code != 4 or _status(second) != "locked":
        problems.append(f"second run: exit {second.code}, {_status(second)} (expected 4, locked)")
    if first.code != 0:
        problems.append(f"first run: exit {first.code}: {first.stderr[-500:]}")
    st = world.store()
    history = st.history(KEY)
    if len([e for e in history if e.get("event") == "attempt"]) != attempts + 1:
        problems.append("the job was not trained exactly once")
    world.forecast(st.champion(KEY))
    return problems


def fit_retrain_promote(world: World) -> list[str]:
    """fit + models promote while a retrain is writing its version: nothing lost, manual wins."""
    problems = []
    world.make_champion_poor()
    world.rows += STEP
    retrain_run, go = _paused(world, "store.save.written", "fitpromote", "--force")
    vdir = world.root / "models" / KEY / "versions"
    partials = [p for p in vdir.glob(".partial-*") if p.is_dir()]
    if not partials:
        problems.append("the paused retrain has no version being written")
    fit = world.cli(
        "fit",
        "--ticker",
        "AAPL",
        "--offline",
        "--config",
        str(world.tiny_config),
        "--promote",
        "never",
        "--no-progress",
    )
    fitted = next(
        (line.split()[-1] for line in fit.stdout.splitlines() if line.startswith("Saved ")), None
    )
    if fit.code != 0 or not fitted:
        problems.append(f"fit: exit {fit.code}: {fit.stderr[-500:]}")
        go.touch()
        retrain_run.wait()
        return problems
    if not all(p.exists() for p in partials):
        problems.append("fit removed the version the retrain was writing")
    promote = world.cli("models", "promote", KEY, fitted)
    if promote.code != 0:
        problems.append(f"promote: exit {promote.code}: {promote.stderr[-300:]}")
    go.touch()
    retrain_run.wait()
    st = world.store()
    if retrain_run.code != 0 or _status(retrain_run) != "kept":
        problems.append(f"retrain: exit {retrain_run.code}, {_status(retrain_run)}")
    elif "switched to" not in retrain_run.stdout:
        problems.append("the run summary does not say the champion was switched")
    if st.champion(KEY) != fitted:
        problems.append(f"champion {st.champion(KEY)}, not the manually promoted {fitted}")
    versions = {v.version for v in st.versions(KEY)}
    attempt = st.last_event(KEY, "attempt") or {}
    if fitted not in versions or attempt.get("challenger") not in versions:
        problems.append(
            f"a version was lost: fit saved {fitted}, the retrain {attempt.get('challenger')}; "
            f"the store holds {sorted(versions)}"
        )
    world.forecast(st.champion(KEY))
    if world.leftovers():
        problems.append(f"leftovers: {world.leftovers()}")
    return problems


def ctrl_c_during_training(world: World) -> list[str]:
    """SIGINT while training: exit 130, run summary written with the job interrupted, lock free."""
    problems = []
    champion = world.store().champion(KEY)
    world.rows += STEP
    run, go = _paused(world, "train.epoch", "ctrlc", "--force")
    runs_before = set((world.root / "runs").rglob("*.json"))
    os.kill(run.proc.pid, signal.SIGINT)
    run.wait()
    go.touch()
    if run.code != 130:
        problems.append(f"exit {run.code}, not 130: {run.stderr[-500:]}")
    new = sorted(set((world.root / "runs").rglob("*.json")) - runs_before)
    if not new:
        problems.append("no run summary was written")
    else:
        summary = json.loads(new[-1].read_text())
        if [o["status"] for o in summary["outcomes"]] != ["interrupted"]:
            problems.append(f"summary outcomes: {summary['outcomes']}")
    if world.store().champion(KEY) != champion:
        problems.append("the champion changed")
    if "Traceback" in run.stderr:
        problems.append("a traceback was printed")
    after = world.retrain("--force")  # the job lock was released
    if after.code != 0:
        problems.append(f"the next run: exit {after.code}")
    return problems


def unpaused_races(world: World, rounds: int = 3) -> list[str]:
    """Two retrains, a fit and a promote started together, several times: whatever the
    interleaving, exit codes are expected ones, no job is trained twice, the champion loads."""
    problems = []
    for _ in range(rounds):
        world.rows += STEP
        st = world.store()
        attempts = len([e for e in st.history(KEY) if e.get("event") == "attempt"])
        latest = st.latest(KEY).version
        runs = [
            world.retrain("--force", start=True),
            world.retrain("--force", start=True),
            world.cli(
                "fit",
                "--ticker",
                "AAPL",
                "--offline",
                "--config",
                str(world.tiny_config),
                "--promote",
                "always",
                "--no-progress",
                start=True,
            ),
            world.cli("models", "promote", KEY, latest, start=True),
        ]
        codes = [r.wait().code for r in runs]
        trained = sorted(codes[:2])
        if trained not in ([0, 4], [0, 0]) or codes[2] not in (0, 4) or codes[3] not in (0, 4):
            problems.append(f"exit codes {codes}")
        done = len([e for e in world.store().history(KEY) if e.get("event") == "attempt"])
        if done - attempts != trained.count(0):
            problems.append(f"{done - attempts} attempts for {trained.count(0)} finished runs")
        world.forecast(world.store().champion(KEY))
        if world.leftovers():
            problems.append(f"leftovers: {world.leftovers()}")
    return problems


# -- main ------------------------------------------------------------------------------------------
def run_all(quick: bool, base: Path) -> dict[str, Any]:
    import bad_inputs

    runner = Runner(base)
    t0 = time.perf_counter()
    world = World(base / "kill", runner)
    first_night(world)
    chosen = [p for p in KILL_POINTS if p[0] in QUICK_POINTS] if quick else KILL_POINTS
    kills = kill_points(world, chosen, pairs=not quick)
    kill_s = time.perf_counter() - t0
    for k in kills:
        _print({"part": "kill", "point": k.point, "phase": k.phase, "ok": k.ok, "detail": k.detail})

    t1 = time.perf_counter()
    scenarios = {
        "overlapping retrains": overlapping_retrains,
        "fit + retrain + models promote": fit_retrain_promote,
        "Ctrl+C during training": ctrl_c_during_training,
    }
    if not quick:
        scenarios["unpaused races (3 rounds)"] = unpaused_races
    concurrency = {}
    cworld = World(base / "concurrency", runner)
    first_night(cworld)
    for name, scenario in scenarios.items():
        try:
            concurrency[name] = scenario(cworld)
        except Exception as exc:  # a harness failure is a failed scenario, with its reason
            concurrency[name] = [f"{type(exc).__name__}: {exc}"]
        _print({"part": "concurrency", "scenario": name, "problems": concurrency[name]})
    conc_s = time.perf_counter() - t1

    t2 = time.perf_counter()
    cases = (
        bad_inputs.CASES if not quick else bad_inputs.CASES[:: max(1, len(bad_inputs.CASES) // 30)]
    )
    outcomes = bad_inputs.run_cases(cases, base / "inputs", runner)
    for o in outcomes:
        if not o.clean:
            _print({"part": "bad input", "case": o.name, "why": o.why})
    inputs_s = time.perf_counter() - t2
    return {
        "kill_points_survived": sum(k.ok for k in kills),
        "kill_points_tried": len(kills),
        "concurrent_scenarios_passed": sum(not p for p in concurrency.values()),
        "concurrent_scenarios_tried": len(concurrency),
        "bad_inputs_clean": sum(o.clean for o in outcomes),
        "bad_inputs_tried": len(outcomes),
        "child_runs": runner.n,
        "seconds": {
            "kill": round(kill_s, 1),
            "concurrency": round(conc_s, 1),
            "inputs": round(inputs_s, 1),
        },
    }


def _print(record: dict[str, Any]) -> None:
    print(json.dumps(record, default=str), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the CI subset")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="forecaster-faults-"))
    base.chmod(0o755)  # the read-only cases run as an unprivileged user
    try:
        summary = run_all(args.quick, base)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"scratch folder: {base}", file=sys.stderr)
    _print({"part": "summary", **summary})
    failed = (
        summary["kill_points_survived"] < summary["kill_points_tried"]
        or summary["concurrent_scenarios_passed"] < summary["concurrent_scenarios_tried"]
        or summary["bad_inputs_clean"] < summary["bad_inputs_tried"]
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
