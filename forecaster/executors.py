"""Where the nightly jobs run: one after another here, in worker processes, or on a Ray cluster.

An executor runs ``task(job)`` once per job and hands back, in the jobs' order, what each gave
back. A job is opaque here (a series today, a group of series later); ``task`` is a picklable
module-level callable (or a ``functools.partial`` of one) that does the whole job, locks and store
included, and never raises for the job's own problems. What the executors add is where it runs,
how many at once, and what happens when a worker dies or the user presses Ctrl+C:

``serial``
    In this process, in order (the behaviour before executors existed). Ctrl+C marks the job it
    was on ``interrupted`` and the rest ``not run``.
``process``
    Each job in its own worker process, at most ``workers`` at a time, forked from a fork server
    that has imported torch and Lightning once (``spawn`` where there is no fork server). Each job
    gets a one-worker :class:`~concurrent.futures.ProcessPoolExecutor`: a pool that loses a worker
    fails every job still queued in it (``BrokenProcessPool``), a pool of one fails only its job.
``ray``
    Each job one Ray task (``ray.remote``, ``num_cpus`` per job, no automatic retry: a job whose
    worker died is reported, not run twice), at most ``workers`` in flight, collected with
    ``ray.wait`` as they finish. ``address``
    ``auto`` joins the cluster ``ray start`` set up on this machine (or ``host:port``); none starts
    a local one for the run. Ray is an optional extra, imported only here.

A worker's CPU threads are its share of the cores (``cores // workers``, at least 1), so N workers
do not oversubscribe the machine. What a job needs travels with it in ``task`` and ``job`` (the
nightly job takes its data root and fault plan as arguments). ``env`` is each worker's start-up
environment (a fork server or Ray worker started earlier may hold stale values): a worker process
sets it as it starts, before its one job; on Ray it is the tasks' runtime environment. No worker's
environment changes while it runs a job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from forecaster.errors import ConfigError

log = logging.getLogger(__name__)

Kind = Literal["serial", "process", "ray"]
KINDS: tuple[str, ...] = get_args(Kind)
INTERRUPT_GRACE = 60.0
"""Seconds workers get to stop after Ctrl+C (they release their locks) before they are killed."""


@dataclass(frozen=True)
class Plan:
    """How to run a night's jobs: the executor, jobs at once, and (Ray) the cluster address."""

    kind: Kind = "serial"
    workers: int | None = None
    """Jobs at once; ``None``: one per core (process) or per CPU of the Ray cluster."""
    address: str | None = None

    def describe(self) -> str:
        """``serial``, ``process``, ``process (4 workers)``, ``ray (8 workers, address auto)``."""
        asked = [f"{self.workers} workers"] if self.workers and self.kind != "serial" else []
        asked += [f"address {self.address}"] if self.address else []
        return self.kind + (f" ({', '.join(asked)})" if asked else "")

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown executor '{self.kind}' — use one of {', '.join(KINDS)}")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"workers must be at least 1, got {self.workers}")
        if self.address and self.kind != "ray":
            raise ConfigError(
                f"an address ({self.address}) is for the Ray executor — add --executor ray, "
                "or drop --address"
            )


@dataclass
class Ran:
    """One job's result, or why there is none, and where and how long it ran."""

    result: Any = None
    """What ``task`` returned; None when the job was lost (``status`` says how)."""
    status: Literal["done", "failed", "interrupted", "not run"] = "done"
    reason: str = ""
    worker: str = ""
    """Where it ran: host and pid, plus the Ray node and worker ids on Ray."""
    seconds: float = 0.0


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_worker(workers: int, n_cores: int | None = None) -> int:
    """Each worker's share of the cores: ``cores // workers``, at least 1."""
    return max(1, (n_cores or cores()) // max(1, workers))


def worker_label() -> str:
    """``host pid N, T thread(s)``, and on a Ray worker its node and worker ids (shortened)."""
    torch = sys.modules.get("torch")
    threads = f", {torch.get_num_threads()} thread(s)" if torch is not None else ""
    label = f"{socket.gethostname()} pid {os.getpid()}{threads}"
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ctx = ray.get_runtime_context()
        if ctx.get_task_id() is not None:  # in a Ray task, not on the driver
            label += f" (ray node {ctx.get_node_id()[:8]}, worker {ctx.get_worker_id()[:8]})"
    return label


def run_all(
    task: Callable[[Any], Any],
    jobs: Sequence[Any],
    plan: Plan,
    *,
    env: Mapping[str, str] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_done: Callable[[int, Ran], None] | None = None,
) -> tuple[list[Ran], bool]:
    """Run ``task(job)`` for every job as ``plan`` says; ``(one Ran per job in order, interrupted)``.

    ``env``: environment variables every worker starts with (process and Ray; the serial executor
    runs in this process as it is). ``on_start(i)`` is called when job ``i`` starts (serial and
    process; Ray schedules on its own), ``on_done(i, ran)`` when it ends, in this process and
    thread. ``interrupted``: Ctrl+C stopped the run; the jobs it stopped are ``interrupted``,
    those it never started ``not run``.
    """
    on_start = on_start or (lambda i: None)
    on_done = on_done or (lambda i, ran: None)
    env = dict(env or {})
    if plan.kind == "serial" or not jobs:
        return _serial(task, jobs, on_start, on_done)
    if plan.kind == "process":
        return _processes(task, jobs, plan, env, on_start, on_done)
    return _ray(task, jobs, plan, env, on_done)


# -- in the worker ----------------------------------------------------------------------------------
def _start_process(env: dict[str, str]) -> None:
    """A worker process's start-up, before its one job: the environment it was asked to start with
    (as ``subprocess`` would be given ``env=``; a fork server's children inherit its own)."""
    os.environ.update(env)


def _in_worker(
    task: Callable[[Any], Any], job: Any, threads: int, level: int
) -> tuple[Any, str, float]:
    """Run one job in a worker: ``(task's result, worker label, seconds)``."""
    t0 = time.perf_counter()
    _worker_logging(level)
    import torch

    torch.set_num_threads(threads)
    result = task(job)
    return result, worker_label(), _since(t0)


def _worker_logging(level: int) -> None:
    """Say in a worker what the parent would say, marked with the worker's pid."""
    import warnings

    root = logging.getLogger("forecaster")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter(f"[worker {os.getpid()}] %(levelname)s: %(message)s")
        )
        root.addHandler(handler)
        root.propagate = False
    root.setLevel(level)
    if level > logging.DEBUG:  # as the CLI: Lightning's hints are not the user's business
        for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
            logging.getLogger(name).setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module=r"lightning(\.|$)")
        warnings.filterwarnings("ignore", module=r"pytorch_lightning(\.|$)")


def _parent_level() -> int:
    return logging.getLogger("forecaster").getEffectiveLevel()


# -- serial -----------------------------------------------------------------------------------------
def _serial(task, jobs, on_start, on_done) -> tuple[list[Ran], bool]:
    here = worker_label()
    out: list[Ran] = []
    for i, job in enumerate(jobs):
        on_start(i)
        t0 = time.perf_counter()
        try:
            ran = Ran(task(job), worker=here)
        except KeyboardInterrupt:
            stopped = Ran(status="interrupted", reason="interrupted (Ctrl+C) during this job")
            stopped.worker, stopped.seconds = here, _since(t0)
            out.append(stopped)
            out += [_not_run() for _ in jobs[i + 1 :]]
            return out, True
        ran.seconds = _since(t0)
        on_done(i, ran)
        out.append(ran)
    return out, False


def _not_run() -> Ran:
    return Ran(status="not run", reason="the run was interrupted first")


# -- worker processes -------------------------------------------------------------------------------
def _mp_context():
    """A fork server that imported the heavy modules once (so a job starts in about a second),
    or spawn where there is none (Windows)."""
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["forecaster.nightly.job"])  # torch, Lightning, the whole job
    return ctx


@dataclass
class _Workers:
    """What the threads that each watch one job's worker process share."""

    task: Callable[[Any], Any]
    env: dict[str, str]
    threads: int
    """Each worker's CPU threads."""
    on_start: Callable[[int], None]
    level: int
    """The parent's log level, for the worker's log."""
    ctx: Any
    """The multiprocessing context (:func:`_mp_context`)."""
    stop: threading.Event = field(default_factory=threading.Event)
    """Set by Ctrl+C: jobs not started yet stay ``not run``."""
    running: dict[int, int] = field(default_factory=dict)
    """Job index -> worker pid, while the job runs."""


def _processes(task, jobs, plan: Plan, env, on_start, on_done) -> tuple[list[Ran], bool]:
    """Each job in a worker process of its own, ``plan.workers`` at a time; Ctrl+C stops them."""
    workers = plan.workers or cores()
    threads = threads_per_worker(workers)
    shared = _Workers(task, env, threads, on_start, _parent_level(), _mp_context())
    out: list[Ran | None] = [None] * len(jobs)
    interrupted = False
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job") as threads_pool:
        futures = {threads_pool.submit(_one_process, shared, i, j): i for i, j in enumerate(jobs)}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in done:
                    out[futures[fut]] = fut.result()
                    on_done(futures[fut], out[futures[fut]])
        except KeyboardInterrupt:
            interrupted = True
            shared.stop.set()
            for fut in pending:
                fut.cancel()  # not started: they stay "not run"
            _stop_workers(shared.running)
            for fut in pending:
                if not fut.cancelled():
                    out[futures[fut]] = fut.result()
    return [ran or _not_run() for ran in out], interrupted


def _one_process(shared: _Workers, i: int, job: Any) -> Ran:
    """Job ``i`` in a worker process of its own (a pool of one: a dead worker fails only its job)."""
    if shared.stop.is_set():
        return _not_run()
    host = socket.gethostname()
    with ProcessPoolExecutor(
        max_workers=1, mp_context=shared.ctx, initializer=_start_process, initargs=(shared.env,)
    ) as pool:
        t0, pid = time.perf_counter(), None
        try:
            pid = pool.submit(os.getpid).result()  # the worker is up: its pid, for the record
            t0 = time.perf_counter()
            shared.running[i] = pid
            if shared.stop.is_set():  # Ctrl+C came while it started
                return _not_run()
            shared.on_start(i)
            result, worker, seconds = pool.submit(
                _in_worker, shared.task, job, shared.threads, shared.level
            ).result()
            return Ran(result, worker=worker, seconds=seconds)
        except BrokenProcessPool:
            lost = "interrupted" if shared.stop.is_set() else "failed"
            return Ran(None, lost, _died(pid), f"{host} pid {pid}", _since(t0))
        except KeyboardInterrupt:  # Ctrl+C reached the worker, which passed it back
            reason = "interrupted (Ctrl+C) during this job"
            return Ran(None, "interrupted", reason, f"{host} pid {pid}", _since(t0))
        except Exception as exc:  # the job's result or its prelude broke: say it in one line
            reason = " ".join(f"the worker failed: {type(exc).__name__}: {exc}".split())
            return Ran(None, "failed", reason[:500], f"{host} pid {pid}", _since(t0))
        finally:
            shared.running.pop(i, None)


def _died(pid: int | None) -> str:
    """Why a job whose worker process went away has no result."""
    if pid is None:
        return "the worker process could not be started"
    return (
        f"the worker process (pid {pid}) died before the job finished (killed, or out of memory); "
        "the store keeps the last good model and the next run clears what the job left"
    )


def _since(t0: float) -> float:
    return round(time.perf_counter() - t0, 1)


def _stop_workers(running: dict[int, int]) -> None:
    """After Ctrl+C: give the workers still on a job a moment (the terminal's Ctrl+C reached them
    too), then SIGINT (each stops its job and releases its lock), then SIGKILL."""
    for signum, grace in ((None, 2.0), (signal.SIGINT, INTERRUPT_GRACE), (signal.SIGKILL, 5.0)):
        if signum is not None:
            for pid in list(running.values()):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signum)
        deadline = time.monotonic() + grace
        while running and time.monotonic() < deadline:
            time.sleep(0.05)
        if not running:
            return


# -- Ray ------------------------------------------------------------------------------------------------
def import_ray():
    """The ``ray`` module, or a one-line ConfigError that names the extra to install."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--executor ray needs Ray — pip install 'forecaster[ray]' (or use --executor process)"
        ) from None
    return ray


def _connect(ray, plan: Plan) -> bool:
    """Join the cluster at ``plan.address``, or start a local one; True when this call started
    (and so must stop) it. A Ray already initialised in this process (a notebook, the tests) is
    used as it is."""
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the machine
    try:
        if plan.address:
            ray.init(address=plan.address, log_to_driver=True, logging_level=logging.WARNING)
        else:
            ray.init(
                num_cpus=cores(),
                include_dashboard=False,
                log_to_driver=True,
                logging_level=logging.WARNING,
            )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = " ".join(str(exc).split())[:300]
        where = f"at {plan.address}" if plan.address else "on this machine"
        raise ConfigError(
            f"cannot reach a Ray cluster {where} ({first}) — start one with `ray start --head`, "
            "or drop --address to start a local one for this run"
        ) from None
    return True


def _ray(task, jobs, plan: Plan, env, on_done) -> tuple[list[Ran], bool]:
    """At most ``workers`` tasks in flight (Ray's pattern for bounding pending tasks: submit, then
    ``ray.wait`` for one to finish before submitting the next), so the jobs in flight are the ones
    running and Ctrl+C can tell ``interrupted`` from ``not run``."""
    ray = import_ray()
    started = _connect(ray, plan)
    try:
        total = int(ray.cluster_resources().get("CPU", 1)) or 1
        workers = plan.workers or total
        cpus = threads_per_worker(workers, total)
        log.info(
            "ray: %d jobs, %d at a time, on a cluster of %d CPUs (%d per job)",
            len(jobs),
            workers,
            total,
            cpus,
        )
        runtime = {"runtime_env": {"env_vars": env}} if env else {}
        remote = ray.remote(_in_worker).options(num_cpus=cpus, max_retries=0, **runtime)
        level = _parent_level()
        out: list[Ran | None] = [None] * len(jobs)
        queue = list(enumerate(jobs))
        in_flight: dict[Any, int] = {}
        try:
            while queue or in_flight:
                while queue and len(in_flight) < workers:
                    i, job = queue.pop(0)
                    in_flight[remote.remote(task, job, cpus, level)] = i
                done, _ = ray.wait(list(in_flight), num_returns=1)
                for ref in done:
                    i = in_flight.pop(ref)
                    out[i] = _ray_result(ray, ref)
                    on_done(i, out[i])
        except KeyboardInterrupt:
            for ref in in_flight:  # a KeyboardInterrupt in the running tasks
                ray.cancel(ref)
            ray.wait(list(in_flight), num_returns=len(in_flight), timeout=INTERRUPT_GRACE)
            for ref, i in in_flight.items():
                ran = _ray_result(ray, ref, timeout=0)
                if ran.result is None:
                    ran.status, ran.reason = "interrupted", "interrupted (Ctrl+C) during this job"
                out[i] = ran
            return [ran or _not_run() for ran in out], True
        except ray.exceptions.RayError as exc:  # the cluster went away: the summary still comes
            first = " ".join(str(exc).split())[:300]
            lost = (
                f"the Ray cluster was lost before the job finished ({type(exc).__name__}: {first})"
            )
            out = [ran or Ran(None, "failed", lost) for ran in out]
        return [ran or _not_run() for ran in out], False
    finally:
        if started:
            ray.shutdown()


def _ray_result(ray, ref, timeout: float | None = None) -> Ran:
    """The task's result, or a ``failed`` Ran that says in one line why there is none."""
    try:
        result, worker, seconds = ray.get(ref, timeout=timeout)
        return Ran(result, worker=worker, seconds=seconds)
    except ray.exceptions.TaskCancelledError:
        return Ran(None, "interrupted", "interrupted (Ctrl+C) before it finished")
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as exc:
        reason = (
            f"the Ray worker running it died before the job finished ({type(exc).__name__}: "
            "killed, or out of memory; Ray's log names the worker); the store keeps the last good "
            "model and the next run clears what the job left"
        )
        return Ran(None, "failed", reason, "a Ray worker that died")
    except ray.exceptions.RayError as exc:
        first = " ".join(str(exc).split())[:300]
        return Ran(None, "failed", f"Ray could not run the job ({type(exc).__name__}: {first})")
