"""``tune``: search a series' settings within a budget, and keep them only if they beat the default.

The steps, in order: cut off the test span (nothing later reads it), lay out the validation
blocks, open (or resume) the study, score the default settings once per study, run trials until
the budget is spent, then decide with the fit's significance rule and write the tuned config (only
when it won) and the report. The model store is not touched unless ``fit`` asks for a fit with the
tuned config, which is saved as ``forecast fit`` saves and promoted only as ``promote`` says.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from forecaster.config import Config, dump_config
from forecaster.data.group import store_key
from forecaster.errors import ConfigError, DataError
from forecaster.fitting import FitResult, fit, load_members
from forecaster.io import held_lock, write_text
from forecaster.tuning.blocks import (
    Block,
    Data,
    longest_lookback,
    make_blocks,
    searchable,
    union_index,
)
from forecaster.tuning.budget import Budget, format_seconds
from forecaster.tuning.decision import Decision, decide
from forecaster.tuning.objective import BlockScore, score_blocks
from forecaster.tuning.space import Param, SearchSpace, load_space, values_of, with_values
from forecaster.tuning.study import Setup, open_study, run_trials, study_name, tuning_dir
from forecaster.tuning.trials import TrialRecord, records

log = logging.getLogger(__name__)


@dataclass
class TuneResult:
    """What a ``tune`` run found and wrote.

    ``rows``/``total``: union rows searched / in the data (the rest, from ``test_start``, is the
    fit's test span, never read); ``default``: the default settings' block scores; ``trials``: every
    trial of the study (earlier runs' too), ``ran`` of them in this run, in ``seconds`` (the search,
    after the default's scoring: ``default_seconds`` when this run scored it, once per study);
    ``decision``: keep the
    best trial's settings or not, and why; ``tuned``: the tuned config (None when the default
    stays), written to ``config_path``; ``report_path``: the HTML report; ``interrupted``: Ctrl+C
    ended the search (nothing was decided or written then).
    """

    key: str
    study: str
    db: Path
    rows: int
    total: int
    test_start: pd.Timestamp | None
    blocks: tuple[Block, ...]
    space: SearchSpace
    notes: list[str]
    default: list[BlockScore]
    default_seconds: float
    trials: list[TrialRecord] = field(default_factory=list)
    ran: int = 0
    seconds: float = 0.0
    decision: Decision | None = None
    tuned: Config | None = None
    config_path: Path | None = None
    report_path: Path | None = None
    interrupted: bool = False
    fit: FitResult | None = None

    @property
    def best(self) -> TrialRecord | None:
        done = [t for t in self.trials if t.complete]
        return min(done, key=lambda t: t.value) if done else None


def tune(
    cfg: Config,
    budget: Budget,
    *,
    space: SearchSpace | None = None,
    data: Data | None = None,
    workers: int = 1,
    executor: str = "process",
    fit_tuned: bool = False,
    promote: str = "never",
) -> TuneResult:
    """Search the settings of the series (or group) ``cfg`` names; see the module docstring.

    ``cfg``: the default settings (what ``fit`` would use); ``space``: default ``configs/tune.yaml``;
    ``data``: the loaded series or group (default: loaded as ``fit`` loads it, then cut);
    ``workers``: trials at once, in worker processes (``executor``: ``process`` or ``ray``);
    ``fit_tuned``: fit and save a model with the tuned config when it is kept, promoted as
    ``promote`` says (``never`` by default: the champion stays).
    """
    space = space if space is not None else load_space(None, cfg)
    full = data if data is not None else load_members(cfg)
    rows, test_start = searchable(full, cfg.train)  # the test span goes first: nothing reads it
    blocks = make_blocks(rows, cfg.train, space.blocks)
    space, notes = fit_lookback(space, cfg, blocks)
    lookback = max([cfg.model.lookback, *_lookbacks(space)])
    key = store_key(cfg.data)
    db = tuning_dir() / f"{key}.db"
    setup = Setup(key, study_name(key, cfg, space, rows), db, cfg, space, rows, blocks, lookback)
    result = TuneResult(
        key,
        setup.name,
        db,
        len(union_index(rows)),
        len(union_index(full)),
        test_start,
        blocks,
        space,
        notes,
        *_default_scores(setup, budget),
    )
    _check_room(budget, result)
    setup = replace(setup, default=tuple(s.relative for s in result.default))
    _search(result, setup, budget, workers, executor)
    if result.interrupted:
        return result
    _conclude(result, setup)
    if fit_tuned and result.tuned is not None:
        result.fit = fit(result.tuned, series=full, promote=promote)
    return result


def _lookbacks(space: SearchSpace) -> list[int]:
    """The longest lookback the space can sample (none when it does not search the lookback)."""
    p = space.get("model.lookback")
    if p is None:
        return []
    return [int(max(p.choices))] if p.choices is not None else [int(p.high)]


def fit_lookback(
    space: SearchSpace, cfg: Config, blocks: tuple[Block, ...]
) -> tuple[SearchSpace, list[str]]:
    """The space with its lookbacks cut to what every block's fit can use (a note says so); a
    one-line error when the default's or the range's lowest lookback does not fit."""
    most = longest_lookback(blocks, cfg.model.horizon)
    hint = "use fewer --blocks, a shorter --horizon or a longer series"
    if cfg.model.lookback > most:
        raise DataError(
            f"lookback {cfg.model.lookback} does not fit the validation blocks ({blocks[0].rows} "
            f"rows, horizon {cfg.model.horizon}): at most {most} — {hint}"
        )
    p = space.get("model.lookback")
    if p is None:
        return space, []
    if p.choices is not None:
        too_long = [c for c in p.choices if c > most]
        if too_long:
            raise ConfigError(
                f"model.lookback choices {too_long} do not fit the validation blocks (at most "
                f"{most}) — drop them, or {hint}"
            )
        return space, []
    if p.low > most:
        raise ConfigError(
            f"model.lookback low={p.low:g} does not fit the validation blocks (at most {most}) — "
            f"lower it, or {hint}"
        )
    if p.high <= most:
        return space, []
    cut = Param(p.key, p.kind, p.low, most, p.log, p.step)
    return space.with_param(cut), [
        f"lookback searched up to {most} (what the blocks hold), not {p.high:g}"
    ]


def _default_scores(setup: Setup, budget: Budget) -> tuple[list[BlockScore], float]:
    """The default settings' block scores: from the study when an earlier run scored them, else
    scored now (once per study: runs side by side wait for the first) and kept in the study."""
    study = open_study(setup, setup.cfg.train.seed)
    lock = tuning_dir() / f".{setup.name}.lock"
    wait = budget.seconds if budget.seconds is not None else 24 * 3600.0
    busy = f"another `forecast tune` is scoring the default settings of {setup.key} — wait, or run again later"
    with held_lock(lock, timeout=wait, busy=busy, action="create the study's lock"):
        saved = study.user_attrs.get("default")
        if saved is None:
            log.info("scoring the default settings on %d blocks ...", len(setup.blocks))
            t0 = time.perf_counter()
            scores = score_blocks(setup.cfg, setup.data, setup.blocks, setup.lookback)
            saved = {"blocks": [s.to_attrs() for s in scores], "seconds": time.perf_counter() - t0}
            study.set_user_attr("default", saved)
    return [BlockScore.from_attrs(b) for b in saved["blocks"]], float(saved["seconds"])


def _check_room(budget: Budget, result: TuneResult) -> None:
    """A one-line ConfigError when the time budget cannot hold one trial: a trial fits every block,
    about as long as the default settings took (their scores are kept for the next run)."""
    if budget.seconds is None or budget.seconds >= result.default_seconds:
        return
    took = format_seconds(result.default_seconds)
    need = format_seconds(60 * max(1, -(-result.default_seconds * 1.2 // 60)))
    raise ConfigError(
        f"--time {format_seconds(budget.seconds)} is too small for one trial: a trial fits "
        f"{len(result.blocks)} blocks and the default settings took {took} — give --time {need} "
        "or more (the default's scores are kept), or fewer --blocks"
    )


def _conclude(result: TuneResult, setup: Setup) -> None:
    """Decide, then write (or withdraw) the tuned config and write the report."""
    from forecaster.tuning.report import write_report

    best = result.best
    cfg = setup.cfg
    same = best is not None and _same_settings(cfg, best, setup.space)
    result.decision = decide(
        result.default,
        best.blocks if best is not None else None,
        cfg.train.confidence,
        cfg.model.horizon,
        trial=best.number if best is not None else None,
        same_as_default=same,
        pruned=sum(t.pruned for t in result.trials),
    )
    folder = tuning_dir() / result.key
    path = folder / f"{result.study}.yaml"
    if result.decision.keep:
        result.tuned = tuned_config(cfg, best, setup.space, result)
        header = f"# forecast tune, study {result.study}: {result.decision.reason}\n"
        result.config_path = write_text(path, header + dump_config(result.tuned))
    else:
        path.unlink(missing_ok=True)  # an earlier run's, withdrawn: the default stays
    study = open_study(setup, cfg.train.seed)
    result.report_path = write_report(result, study, folder / f"{result.study}.html")


def _search(result: TuneResult, setup: Setup, budget: Budget, workers: int, executor: str) -> None:
    """Run the study's trials within ``budget``; record them, how many ran now, and the time."""
    seed = setup.cfg.train.seed
    searching = time.perf_counter()
    before = len(open_study(setup, seed).get_trials(deepcopy=False))
    result.interrupted = run_trials(
        setup,
        seconds=budget.seconds,
        trials=budget.trials,
        workers=workers,
        executor=executor,
        seed=seed,
    )
    result.trials = records(open_study(setup, seed), setup.space)
    result.ran = len(result.trials) - before
    result.seconds = time.perf_counter() - searching


def tuned_config(cfg: Config, best: TrialRecord, space: SearchSpace, result: TuneResult) -> Config:
    """The default config with the best trial's settings: what ``forecast fit --config`` takes
    (and the nightly job: ``config:`` of a job). ``data.offline`` is dropped: a search may run
    offline, the config's later fits should refresh the data."""
    tuned = with_values(cfg, values_of(best.params, space) | {"data.offline": False})
    return tuned.model_copy(update={"name": f"tuned {result.study} (trial {best.number})"})


def _same_settings(cfg: Config, best: TrialRecord, space: SearchSpace) -> bool:
    return with_values(cfg, values_of(best.params, space)) == cfg
