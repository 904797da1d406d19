"""``forecast fit``, ``forecast predict`` and ``forecast backtest``."""

from __future__ import annotations

import logging
from typing import Any

import click

from forecaster import api
from forecaster.cli import cli
from forecaster.cli.options import data_overrides, pop_series_kwargs, series_options
from forecaster.settings import paths

log = logging.getLogger("forecaster.cli")


def model_options(func):
    """Flags for the common model and training knobs; each overrides the config."""
    options = [
        click.option(
            "--config",
            "config_path",
            help="YAML config: a path or a name in configs/ (stocks_daily, weather_hourly, ...).",
        ),
        click.option("--lookback", type=int, help="Input window length, in steps."),
        click.option("--horizon", type=int, help="Steps to forecast."),
        click.option("--layers", type=int, help="Stacked GRU layers."),
        click.option("--hidden-size", type=int, help="GRU hidden units per direction."),
        click.option(
            "--bidirectional/--unidirectional", default=None, help="Bidirectional GRU (default on)."
        ),
        click.option(
            "--epochs", type=int, help="Maximum training epochs (early stopping may end sooner)."
        ),
        click.option("--batch-size", type=int, help="Windows per batch."),
        click.option("--learning-rate", type=float, help="AdamW learning rate."),
        click.option("--seed", type=int, help="Random seed."),
        click.option(
            "--deterministic", is_flag=True, default=None, help="Deterministic algorithms (slower)."
        ),
        click.option("--no-progress", is_flag=True, default=False, help="Hide the progress bar."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_config(kw: dict[str, Any]):
    """Series flags + model flags + --config -> a resolved Config."""
    series_kw = pop_series_kwargs(kw)
    over = data_overrides(series_kw)
    over.update(
        {
            "model.lookback": kw.pop("lookback", None),
            "model.horizon": kw.pop("horizon", None),
            "model.num_layers": kw.pop("layers", None),
            "model.hidden_size": kw.pop("hidden_size", None),
            "model.bidirectional": kw.pop("bidirectional", None),
            "train.max_epochs": kw.pop("epochs", None),
            "train.batch_size": kw.pop("batch_size", None),
            "train.learning_rate": kw.pop("learning_rate", None),
            "train.seed": kw.pop("seed", None),
            "train.deterministic": kw.pop("deterministic", None),
        }
    )
    if kw.pop("no_progress", False):
        over["train.progress_bar"] = False
    return api.make_config(kw.pop("config_path", None), overrides=over)


@cli.command("fit")
@series_options
@model_options
@click.option(
    "--promote",
    type=click.Choice(["if-none", "always", "never"]),
    default="if-none",
    show_default=True,
    help="Make the new model the series' champion.",
)
def fit_cmd(promote: str, **kw: Any) -> None:
    """Train a GRU on a series, compare it with baselines, and save it.

    The model, its resolved config, normalisation state, data fingerprint and validation metrics are
    saved as a new version under <data root>/models/<series>/versions/.

    \b
    Examples:
      forecast fit --ticker AAPL
      forecast fit --city greensboro --epochs 10
      forecast fit --csv sales.csv --target units --lookback 28 --horizon 7
      forecast fit --config configs/weather_hourly.yaml --lat 52.52 --lon 13.41
    """
    cfg = build_config(kw)
    result = api.fit(cfg, promote=promote)
    click.echo(api.describe_fit(result))


@cli.command("predict")
@series_options
@click.option(
    "--model",
    "model_ref",
    default="champion",
    show_default=True,
    help="champion, latest, a version id, or a model folder.",
)
@click.option("--config", "config_path", help="YAML config to read the series request from.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Folder for the CSV/JSON (default <data root>/reports).",
)
@click.option("--plot", is_flag=True, help="Also write an interactive HTML chart.")
def predict_cmd(model_ref: str, out_dir: str | None, plot: bool, **kw: Any) -> None:
    """Forecast the next horizon steps after the newest data with a saved model.

    \b
    Examples:
      forecast predict --ticker AAPL
      forecast predict --city greensboro --plot
      forecast predict --ticker AAPL --model latest --out forecasts/
    """
    cfg = build_config(kw)
    result = api.predict(cfg, model=model_ref, out_dir=out_dir or paths().reports, plot=plot)
    s = result.series
    unit = s.units.get(s.target, "")
    click.echo(
        f"{result.version.key} model {result.version.version}: last observation {s.end} "
        f"{s.target} = {s.values[-1]:.4g} {unit}".rstrip()
    )
    click.echo(f"  {'time':<28}{'forecast':>12}")
    for t, v in result.forecast["forecast"].items():
        click.echo(f"  {str(t):<28}{v:>12.4g}")
    for kind, path in result.files.items():
        click.echo(f"Wrote {kind.upper()}: {path}")
