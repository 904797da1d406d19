"""``forecast tune``: search a series' settings within a budget, and say whether they beat the default."""

from __future__ import annotations

from typing import Any

import click

from forecaster.cli import cli
from forecaster.cli.cmd_model import build_config, model_options
from forecaster.cli.options import apply_options, series_options


def tune_options(func):
    """The budget, the space, the workers, and what to do with the result."""
    options = [
        click.option(
            "--time", "time_budget", help="Wall-clock budget: 10m, 90s, 1h30m (default 10m)."
        ),
        click.option(
            "--trials", type=int, help="New trials to run (with --time: whichever first)."
        ),
        click.option(
            "--space",
            "space_path",
            help="Search-space YAML (a path or a name in configs/; default configs/tune.yaml).",
        ),
        click.option(
            "--blocks", type=int, help="Validation blocks before the test span (default 3)."
        ),
        click.option("--workers", type=int, default=1, show_default=True, help="Trials at once."),
        click.option(
            "--executor",
            type=click.Choice(["process", "ray"]),
            default="process",
            show_default=True,
            help="Where parallel trials run (--workers > 1): worker processes or a Ray cluster.",
        ),
        click.option(
            "--fit",
            "fit_tuned",
            is_flag=True,
            help="Fit and save a model with the tuned config when it beats the default.",
        ),
        click.option(
            "--promote",
            type=click.Choice(["never", "if-none", "always"]),
            default="never",
            show_default=True,
            help="With --fit: make that model the champion (never, by default).",
        ),
    ]
    return apply_options(func, options)


@cli.command("tune")
@series_options
@model_options
@tune_options
def tune_cmd(
    time_budget: str | None,
    trials: int | None,
    space_path: str | None,
    blocks: int | None,
    workers: int,
    executor: str,
    fit_tuned: bool,
    promote: str,
    **kw: Any,
) -> None:
    """Search model and training settings for a series; keep them only if they beat the default.

    An Optuna study scores each trial on rolling-origin validation blocks before the test span
    (the test span is never read), against the default settings on the same windows. The tuned
    config is written only when it beats the default with the fit's significance rule; pass it to
    `forecast fit --config`. The study lives under <data root>/tuning: run again to resume it.
    The model store is not touched unless --fit (and --promote) ask.

    \b
    Examples:
      forecast tune --ticker AAPL --time 10m
      forecast tune --city greensboro --trials 20 --workers 2
      forecast tune --csv sales.csv --target units --space my_space.yaml --time 1h
    """
    from forecaster.errors import ConfigError
    from forecaster.tuning import Budget, load_space, tune

    budget = Budget.parse(time_budget, trials)
    if workers < 1:
        raise ConfigError(f"--workers {workers} runs nothing — give at least 1")
    if promote != "never" and not fit_tuned:
        raise ConfigError(f"--promote {promote} promotes the model --fit saves — add --fit")
    cfg = build_config(kw)
    space = load_space(space_path, cfg, blocks=blocks)
    result = tune(
        cfg,
        budget,
        space=space,
        workers=workers,
        executor=executor,
        fit_tuned=fit_tuned,
        promote=promote,
    )
    click.echo(describe_tune(result))
    if result.interrupted:
        raise click.exceptions.Exit(130)


def describe_tune(result) -> str:
    """The study summary: what was searched, the trials, default vs best, the decision, the files."""
    from forecaster.tuning.budget import format_seconds

    counts = {
        o: sum(t.outcome.value == o for t in result.trials)
        for o in ("complete", "pruned", "failed")
    }
    first, last = result.blocks[0], result.blocks[-1]
    cut = (
        "no test span"
        if result.test_start is None
        else f"test span from {_when(result.test_start)} left out"
    )
    lines = [
        f"Study {result.study} ({result.db})",
        f"  searched {result.rows:,} of {result.total:,} rows ({cut}); {len(result.blocks)} "
        f"validation blocks of {first.rows:,} rows from {_when(first.start)} to "
        f"{'the end' if last.end is None else _when(last.end)}",
        *(f"  {note}" for note in result.notes),
        f"  trials: {len(result.trials)} ({counts['complete']} complete, {counts['pruned']} pruned, "
        f"{counts['failed']} failed), {result.ran} in this run, in {format_seconds(result.seconds)}",
        _scores_line("default", result.default),
        f"    scored once per study, in {format_seconds(result.default_seconds)}",
    ]
    best = result.best
    if best is not None:
        settings = ", ".join(
            f"{k}={f'{v:.4g}' if isinstance(v, float) else v}" for k, v in best.settings.items()
        )
        lines += [_scores_line(f"trial {best.number}", best.blocks), f"    {settings}"]
    if result.interrupted:
        lines.append(
            f"Interrupted: the {len(result.trials)} trials that finished are kept — run the same "
            "command again to resume the study."
        )
        return "\n".join(lines)
    decision = result.decision
    if decision.keep:
        lines.append(f"Tuned settings kept: {decision.reason}.")
    else:
        lines.append(f"The default stays: {decision.reason}.")
    if result.report_path is not None:
        lines.append(f"Report: {result.report_path}")
    if result.fit is not None and result.fit.version is not None:
        promoted = " (promoted to champion)" if result.fit.promoted else " (champion unchanged)"
        lines.append(
            f"Fitted with the tuned config: {result.key} {result.fit.version.version}{promoted}"
        )
    if result.config_path is not None:
        lines.append(f"Tuned config: {result.config_path}")
    return "\n".join(lines)


def _when(stamp) -> str:
    """A date, or a date and time when the instant is not a midnight (hourly series)."""
    if stamp.hour == stamp.minute == stamp.second == 0:
        return f"{stamp:%Y-%m-%d}"
    return f"{stamp:%Y-%m-%d %H:%M %Z}".rstrip()


def _scores_line(name: str, blocks) -> str:
    from forecaster.tuning.objective import mean_relative

    per_block = " ".join(f"{s.relative:.4f}" for s in blocks)
    mae = sum(s.mae for s in blocks) / len(blocks)
    return (
        f"  {name:<10} relative MAE {mean_relative(blocks):.4f} (blocks {per_block}), "
        f"MAE {mae:.4g} over the blocks"
    )
