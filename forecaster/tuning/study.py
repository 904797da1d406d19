"""The Optuna study of one series and setup: SQLite storage under the data root, its name, its trials, and where they run.

Layout under the data root::

    tuning/<series key>.db             the series' studies (Optuna's RDB storage, SQLite)
    tuning/<series key>/<study>.yaml   the tuned config, when it beat the default
    tuning/<series key>/<study>.html   the study's report

A study is named after the series key and a digest of what decides its trials (the config, the
search space and blocks, and the fingerprint of the rows searched), so ``tune`` again with the same
setup resumes it, and a changed setup starts another. Every finished trial is committed when it
ends: Ctrl+C or a killed worker loses only the trial it was running (Optuna's heartbeat marks a
killed run's trial failed). Runs on one series share the database safely: SQLite serialises the
writes (a writer waits for the lock) and Optuna numbers trials in one transaction, so two ``tune``
runs, or ``--workers N`` worker processes, add trials to the same study side by side.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from forecaster.config import Config
from forecaster.errors import ForecasterError, StorageError
from forecaster.settings import paths
from forecaster.tuning.blocks import Block, Data, members_of
from forecaster.tuning.objective import BlockScore, hopeless, mean_relative, score_blocks
from forecaster.tuning.space import SearchSpace, suggest, with_values

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30
"""How often a running trial tells the storage it is alive ..."""
GRACE_SECONDS = 300
"""... and after how long without a sign it counts as dead (a killed run), and failed."""
LOCK_WAIT_SECONDS = 120
"""How long a writer waits for another's SQLite lock before it fails."""
STARTUP_TRIALS = 3
"""The median pruner compares a trial with others only once this many have finished."""
_NOISE = {
    "name": True,
    "data": {"offline"},
    "train": {"progress_bar", "logger", "num_workers"},
}
"""Config fields that change nothing a trial computes: left out of a study's identity."""


def tuning_dir() -> Path:
    """``<data root>/tuning``: the studies, tuned configs and reports."""
    return paths().root / "tuning"


@dataclass(frozen=True)
class Setup:
    """Everything a trial reads (workers get it whole): the study, the config it starts from (the
    default settings), the space, the searchable rows only, the blocks, the longest lookback
    (where every block's common windows start), and the default settings' relative MAE per block
    (what a trial that learned nothing must beat to go on; empty until they are scored)."""

    key: str
    name: str
    db: Path
    cfg: Config
    space: SearchSpace
    data: Data
    blocks: tuple[Block, ...]
    lookback: int
    default: tuple[float, ...] = ()


def study_name(key: str, cfg: Config, space: SearchSpace, data: Data) -> str:
    """``<key>-<digest>``: the digest of the config (less what changes no result), the space and
    blocks, and the fingerprints of the searchable rows."""
    ident = {
        "config": cfg.model_dump(mode="json", exclude=_NOISE),
        "space": space.to_dict(),
        "data": [m.fingerprint() for m in members_of(data)],
    }
    text = json.dumps(ident, sort_keys=True, default=str)
    return f"{key}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def storage(db: Path):
    """Optuna's RDB storage on the SQLite file ``db`` (created with its folder), with heartbeats."""
    import optuna
    from optuna.exceptions import ExperimentalWarning

    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)  # heartbeats: stable since 2.x
            return optuna.storages.RDBStorage(
                f"sqlite:///{db}",
                engine_kwargs={"connect_args": {"timeout": LOCK_WAIT_SECONDS}},
                heartbeat_interval=HEARTBEAT_SECONDS,
                grace_period=GRACE_SECONDS,
            )
    except OSError as exc:
        raise StorageError(
            f"cannot create the study folder ({db.parent}: {exc.strerror}) — "
            "choose a writable data root with --data-root"
        ) from exc
    except Exception as exc:  # sqlalchemy's OperationalError: not a database, read-only, locked
        if "sqlalchemy" not in type(exc).__module__:
            raise
        first = " ".join(str(getattr(exc, "orig", exc)).split())[:200]
        raise StorageError(
            f"cannot open the study database ({db}: {first}) — check that it is writable, or "
            "move it away to start the studies afresh"
        ) from None


def open_study(setup: Setup, seed: int):
    """The study (created when new); ``seed`` seeds its sampler for this process's trials."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # trials are told by _say, in one line
    return optuna.create_study(
        storage=storage(setup.db),
        study_name=setup.name,
        direction="minimize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=0),
    )


@dataclass
class Objective:
    """One trial: sample settings, score them block by block; pruned after a block when the fits
    have not beaten their anchors so far or the median pruner says so (never after the last)."""

    setup: Setup

    def __call__(self, trial) -> float:
        import optuna

        s = self.setup
        try:
            cfg = with_values(s.cfg, suggest(trial, s.space))
        except ValidationError as exc:  # settings the config refuses together
            trial.set_user_attr("error", " ".join(str(exc).split())[:300])
            raise ForecasterError(f"trial {trial.number}: invalid settings") from None

        def after_block(scores: list[BlockScore]) -> None:
            last = scores[-1]
            trial.set_user_attr(f"block_{last.block}", last.to_attrs())
            trial.report(mean_relative(scores), last.block)
            if len(scores) == len(s.blocks):
                return
            why = None
            if hopeless(scores, list(s.default)):
                why = (
                    f"no gain over its anchor, and no better than the default, on {len(scores)} "
                    f"of {len(s.blocks)} blocks"
                )
            elif trial.should_prune():
                why = f"worse than the median trial after {len(scores)} of {len(s.blocks)} blocks"
            if why:
                trial.set_user_attr("pruned", why)
                raise optuna.TrialPruned(why)

        try:
            scores = score_blocks(cfg, s.data, s.blocks, s.lookback, after_block)
        except ForecasterError as exc:
            trial.set_user_attr("error", " ".join(str(exc).split())[:300])
            raise
        return mean_relative(scores)


def _say(study, trial) -> None:
    """One line per finished trial (Optuna's own log is muted)."""
    attrs = trial.user_attrs
    settings = ", ".join(f"{k.split('.')[-1]}={_short(v)}" for k, v in trial.params.items())
    if trial.state.name == "COMPLETE":
        log.info("trial %d: relative MAE %.4f (%s)", trial.number, trial.value, settings)
    elif trial.state.name == "PRUNED":
        log.info("trial %d pruned: %s (%s)", trial.number, attrs.get("pruned", "pruned"), settings)
    else:
        log.info("trial %d failed: %s", trial.number, attrs.get("error", trial.state.name.lower()))


def _short(value: Any) -> Any:
    """Floats to 4 significant digits (a sampled learning rate is not read to 16)."""
    return f"{value:.4g}" if isinstance(value, float) else value


@dataclass(frozen=True)
class WorkerJob:
    """One worker's share of a parallel search: its sampler seed, the seconds it may start trials
    in, and the study's trial count at which to stop (None: no count)."""

    setup: Setup
    seed: int
    seconds: float | None
    stop_at: int | None


def run_job(job: WorkerJob) -> int:
    """Run trials in this process until the time or the trial count is reached: the trials run."""
    from optuna.study import MaxTrialsCallback

    study = open_study(job.setup, job.seed)
    before = len(study.get_trials(deepcopy=False))
    callbacks: list[Any] = [_say]
    if job.stop_at is not None:
        callbacks.append(MaxTrialsCallback(job.stop_at, states=None))
    study.optimize(
        Objective(job.setup),
        timeout=job.seconds,
        catch=(ForecasterError,),
        callbacks=callbacks,
    )
    return len(study.get_trials(deepcopy=False)) - before


def run_trials(
    setup: Setup,
    *,
    seconds: float | None,
    trials: int | None,
    workers: int = 1,
    executor: str = "process",
    seed: int = 0,
) -> bool:
    """Add trials to the study for at most ``seconds`` (no trial starts later) and/or ``trials``
    trials; in this process, or in ``workers`` worker processes (``executor`` ``process``, or
    ``ray``), each with its share of the cores. True when Ctrl+C stopped the search (every
    finished trial is kept)."""
    done = len(open_study(setup, seed).get_trials(deepcopy=False))
    stop_at = None if trials is None else done + trials
    if workers <= 1:
        try:
            run_job(WorkerJob(setup, seed + done, seconds, stop_at))
        except KeyboardInterrupt:
            return True
        return False
    from forecaster.executors import Plan, run_all

    jobs = [
        WorkerJob(setup, seed + done + 1000 * (i + 1), seconds, stop_at) for i in range(workers)
    ]
    ran, interrupted = run_all(partial(run_job), jobs, Plan(executor, workers))
    for r in ran:
        if r.status == "failed":
            log.warning("a tuning worker failed: %s", r.reason)
    return interrupted
