"""``forecast retrain`` (the nightly job) and ``forecast models list|show|promote|rollback``."""

from __future__ import annotations

import json
import sys

import click

from forecaster.cli import cli
from forecaster.errors import ModelError
from forecaster.executors import KINDS
from forecaster.registry import ModelStore, check_version_id
from forecaster.settings import paths


def _store() -> ModelStore:
    return ModelStore(paths().models)


@cli.command("retrain")
@click.option(
    "--config",
    "config_path",
    default="nightly",
    show_default=True,
    help="Nightly config: a path or a name in configs/.",
)
@click.option(
    "--force", is_flag=True, help="Train even when no new data arrived since the champion's."
)
@click.option("--dry-run", is_flag=True, help="Show what would happen; train and write nothing.")
@click.option("--job", "jobs", multiple=True, help="Run only this job (repeatable).")
@click.option(
    "--executor",
    type=click.Choice(KINDS),
    help="Where the jobs run: one after another here (default), in worker processes, or on Ray "
    "(pip install 'forecaster[ray]'). Overrides the config's executor.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Jobs at once (process, ray); default one per core, or per CPU of the Ray cluster.",
)
@click.option(
    "--address",
    help="Ray cluster to join: auto (started with `ray start`) or host:port; none starts a "
    "local one.",
)
def retrain_cmd(
    config_path: str,
    force: bool,
    dry_run: bool,
    jobs: tuple[str, ...],
    executor: str | None,
    workers: int | None,
    address: str | None,
) -> None:
    """Retrain every job in the nightly config; promote challengers that beat the champion.

    Exit code 0 when every job succeeded or was skipped, 1 when any job failed, 4 when a job was
    left alone because another run held its lock, 5 when the run summary could not be written,
    130 after Ctrl+C (the summary under <data root>/runs/<date>/ is still written).

    \b
    Examples:
      forecast retrain --config configs/nightly.yaml
      forecast retrain --dry-run
      forecast retrain --job aapl --force
      forecast retrain --executor process --workers 4
      forecast retrain --executor ray --address auto
    """
    from forecaster.faults import FaultPlan
    from forecaster.nightly.config import load_nightly
    from forecaster.nightly.run import retrain
    from forecaster.nightly.summary import SummaryNotWritten

    nightly = load_nightly(config_path)
    try:
        summary = retrain(
            nightly,
            where=paths(),
            force=force,
            dry_run=dry_run,
            only=list(jobs) or None,
            executor=executor,
            workers=workers,
            address=address,
            fault_plan=FaultPlan.from_env(),
        )
    except SummaryNotWritten as exc:
        click.echo(exc.summary.to_text())
        raise
    click.echo(summary.to_text())
    for kind, path in summary.files.items():
        click.echo(f"Summary ({kind}): {path}")
    if summary.interrupted:
        click.echo("interrupted — the run summary above was written", err=True)
    elif summary.exit_code:
        click.echo(f"error: {summary.error_line()}", err=True)
    if summary.exit_code:
        sys.exit(summary.exit_code)


@cli.group("models")
def models_group() -> None:
    """Saved models: list versions, inspect one, switch the champion.

    \b
    Examples:
      forecast models list
      forecast models show yahoo-AAPL-1d
      forecast models promote yahoo-AAPL-1d 20261123T190000Z-ab12
      forecast models rollback yahoo-AAPL-1d
    """


@models_group.command("list")
@click.argument("key", required=False)
def models_list(key: str | None) -> None:
    """List series with saved models, or the versions of one series.

    \b
    Example:
      forecast models list yahoo-AAPL-1d
    """
    st = _store()
    keys = [key] if key else st.keys()
    if not keys:
        click.echo(
            f"No saved models under {st.root} — train one with `forecast fit --ticker AAPL`."
        )
        return
    for k in keys:
        versions = st.versions(k)
        if not versions:
            raise ModelError(f"no saved models for '{k}' — see `forecast models list`")
        champion = next((v.version for v in versions if v.is_champion), None)
        click.echo(f"{k}  ({len(versions)} version(s), champion {champion or '-'})")
        for v in versions:
            mark = "*" if v.is_champion else " "
            metrics = v.metrics
            mae = metrics.get("val_gru_mae")
            span = v.meta.get("data", {})
            click.echo(
                f"  {mark} {v.version}  trained {v.created_at[:19]}  data to {str(span.get('end', '?'))[:19]}"
                + (f"  val MAE {mae:.4g}" if isinstance(mae, (int, float)) else "")
            )


@models_group.command("show")
@click.argument("key")
@click.argument("version", default="champion")
def models_show(key: str, version: str) -> None:
    """Show one version's metadata (default: the champion).

    \b
    Example:
      forecast models show yahoo-AAPL-1d latest
    """
    info = _store().resolve(key, version)
    click.echo(f"{key} {info.version}{'  (champion)' if info.is_champion else ''}\n  {info.path}")
    click.echo(json.dumps(info.meta, indent=2, default=str))
    click.echo(_calibration_text(info.path))


def _calibration_text(folder) -> str:
    """The interval calibration saved with a version, summarised (or why there is none)."""
    from forecaster.intervals import Calibration

    path = folder / "calibration.json"
    if not path.is_file():
        return "calibration: none (saved before prediction intervals; retrain to get them)"
    try:
        cal = Calibration.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"calibration: {path} is unreadable ({type(exc).__name__}) — retrain the model"
    return "\n".join(cal.summary())


@models_group.command("promote")
@click.argument("key")
@click.argument("version")
def models_promote(key: str, version: str) -> None:
    """Make a version the champion (a version id, or latest).

    \b
    Example:
      forecast models promote yahoo-AAPL-1d 20261123T190000Z-ab12
    """
    st = _store()
    if version in ("champion", "latest"):
        info = st.resolve(key, version)
    else:  # a version id of this series only: never a folder elsewhere
        info = st.info(key, check_version_id(version, key))
    from forecaster.fitted import FittedModel  # a version that does not load is never promoted

    st.promote(key, info.version, reason="manual", check=FittedModel.load)
    click.echo(f"{key}: champion is now {info.version}")


@models_group.command("rollback")
@click.argument("key")
def models_rollback(key: str) -> None:
    """Return to the previous champion.

    \b
    Example:
      forecast models rollback yahoo-AAPL-1d
    """
    version = _store().rollback(key)
    click.echo(f"{key}: rolled back; champion is now {version}")
