"""The nightly config's schema (``configs/nightly.yaml``: jobs and promotion policy) and each job's resolved config."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from forecaster import config as cfgmod
from forecaster import executors
from forecaster.config import Config, StrictModel
from forecaster.config_rules import Name
from forecaster.errors import ConfigError
from forecaster.nightly.decide import Rule


class JobConfig(StrictModel):
    """One series to retrain: a base config plus the series and overrides."""

    name: Name
    config: str | None = None
    """Base config (path or name in configs/); default: by the series' source."""
    ticker: str | None = None
    city: str | None = None
    lat: float | None = None
    lon: float | None = None
    csv: str | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)
    """Dotted config keys, e.g. ``{"train.max_epochs": 10}``."""

    @model_validator(mode="after")
    def _one_series(self) -> JobConfig:
        given = [k for k in ("ticker", "city", "csv") if getattr(self, k)] + (
            ["lat/lon"] if self.lat is not None else []
        )
        if len(given) > 1:
            raise ValueError(f"job '{self.name}' names more than one series: {given}")
        return self


class NightlyConfig(StrictModel):
    """The nightly job list and the promotion policy."""

    metric: Literal["mae", "rmse", "smape"] = "mae"
    margin: float = Field(0.0, ge=0, lt=1)
    """Promote only if the challenger's error < champion's x (1 - margin)."""
    require_beat_baseline: bool = True
    """Also require the challenger's error < the best baseline's x (1 - margin) on the same holdout
    (naive, seasonal naive, drift, moving average, Ridge): a model that a forecast without a model
    beats is not promoted. A series with no usable champion still gets the challenger."""
    holdout_fraction: float = Field(0.1, gt=0, lt=0.5)
    """The most recent share of the series on which challenger and champion are scored."""
    max_holdout_origins: int = Field(500, ge=1)
    keep_versions: int = Field(5, ge=1)
    warm_start: bool = False
    on_unreachable: Literal["cached", "skip"] = "cached"
    """When the live source is down: train on cached/snapshot data, or skip the job."""
    lock_timeout: float = Field(0, ge=0)
    """Seconds to wait for a job's lock held by another run (0: give up at once)."""
    executor: executors.Kind = "serial"
    """Where the jobs run: one after another in this process, in worker processes on this
    machine, or as tasks on a Ray cluster (see :mod:`forecaster.executors`)."""
    workers: int | None = Field(None, ge=1)
    """Jobs at once (process, ray); default one per core, or per CPU of the Ray cluster."""
    address: str | None = None
    """Ray only: ``auto`` joins the cluster started with ``ray start`` (or ``host:port``); none
    starts a local cluster for the run."""
    jobs: list[JobConfig]

    @model_validator(mode="after")
    def _unique(self) -> NightlyConfig:
        names = [j.name for j in self.jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"job names must be unique, got {names}")
        if not self.jobs:
            raise ValueError("no jobs configured")
        return self

    def rule(self) -> Rule:
        """The settings the promotion decision reads (:func:`~forecaster.nightly.decide.decide`)."""
        return Rule(self.metric, self.margin, self.require_beat_baseline)


def load_nightly(path: str | Path) -> NightlyConfig:
    """Read and validate a nightly config (one-line ConfigError on problems)."""
    resolved = cfgmod.resolve_config_path(path)
    raw = cfgmod.read_yaml(resolved)
    try:
        return NightlyConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(cfgmod.format_validation_error(exc, str(resolved))) from None


def job_config(job: JobConfig, nightly: NightlyConfig) -> Config:
    """The job's resolved config (the series chosen by :func:`forecaster.config.make_config`, as for
    ``forecast fit``); a one-line ConfigError for settings a nightly job cannot run."""
    over = dict(job.overrides)
    if nightly.warm_start:
        over.setdefault("train.warm_start", True)
    over.setdefault("train.progress_bar", False)
    cfg = cfgmod.make_config(
        job.config,
        ticker=job.ticker,
        city=job.city,
        lat=job.lat,
        lon=job.lon,
        csv=job.csv,
        overrides=over,
    )
    t = cfg.train
    if t.strategy == "ddp" or t.devices * t.num_nodes > 1:
        # DDP starts the whole command again per device: here, the whole night.
        raise ConfigError(
            f"job '{job.name}' asks for multi-device training (train.devices={t.devices}, "
            f"num_nodes={t.num_nodes}, strategy={t.strategy}), which is for `forecast fit`; a "
            "nightly job trains on one device — spread the night over workers with --executor "
            "process or ray instead"
        )
    if t.train_end is None and nightly.holdout_fraction > t.test_fraction:
        # the holdout would score the challenger on rows that chose its epoch and blend
        raise ConfigError(
            f"job '{job.name}': holdout_fraction {nightly.holdout_fraction:g} reaches into the rows "
            f"the challenger is selected on (train.test_fraction {t.test_fraction:g} keeps only the "
            f"newest {t.test_fraction:.0%} unseen) — set holdout_fraction to at most "
            f"{t.test_fraction:g}, or raise train.test_fraction"
        )
    return cfg


def attempt_digest(cfg: Config, nightly: NightlyConfig) -> str:
    """What decides a challenger besides the data: the job's config and the promotion policy
    (16 hex digits; an attempt with the same digest on the same data would repeat itself)."""
    policy = nightly.model_dump(
        mode="json",
        exclude={"jobs", "keep_versions", "lock_timeout", "executor", "workers", "address"},
    )
    text = json.dumps([cfg.model_dump(mode="json"), policy], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
