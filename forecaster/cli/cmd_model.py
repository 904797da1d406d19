"""``forecast fit``, ``forecast predict`` and ``forecast backtest``."""

from __future__ import annotations

import logging
from typing import Any

import click

from forecaster.cli import cli
from forecaster.cli.options import (
    apply_options,
    data_overrides,
    pop_series_kwargs,
    series_options,
)
from forecaster.models import NAME
from forecaster.settings import paths

# torch and Lightning load only when a command that needs them runs, so `forecast data ...` and
# `--help` start fast.

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
        click.option(
            "--known",
            help="Built-in inputs known ahead of each forecast step, comma-separated: hour, "
            "dayofweek, dayofyear, month_end, quarter_end, pre_holiday, post_holiday, "
            "third_friday, sun_elevation, clearsky_ghi; 'none' for none (default: measured, none).",
        ),
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
    return apply_options(func, options)


def device_options(func):
    """Flags for where a fit trains: one device, or several (DDP) on one or more machines."""
    options = [
        click.option("--accelerator", help="cpu, gpu, mps or auto (default from the config)."),
        click.option(
            "--devices",
            type=int,
            help="GPUs, or processes on the CPU; more than 1 trains with DDP.",
        ),
        click.option("--strategy", type=click.Choice(["auto", "ddp"]), help="auto or ddp."),
        click.option("--num-nodes", type=int, help="Machines in one DDP fit (see the README)."),
    ]
    return apply_options(func, options)


def _known_flag(text: str | None) -> list[str] | None:
    """``--known hour,dayofweek`` -> the list; ``none`` -> []; unset -> None (the config's)."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    return [] if names == ["none"] else names


def build_config(kw: dict[str, Any]):
    """Series flags + model flags + --config -> a resolved Config."""
    from forecaster import api

    series_kw = pop_series_kwargs(kw)
    over = data_overrides(series_kw)
    over.update(
        {
            "model.lookback": kw.pop("lookback", None),
            "model.horizon": kw.pop("horizon", None),
            "model.known": _known_flag(kw.pop("known", None)),
            "model.num_layers": kw.pop("layers", None),
            "model.hidden_size": kw.pop("hidden_size", None),
            "model.bidirectional": kw.pop("bidirectional", None),
            "train.max_epochs": kw.pop("epochs", None),
            "train.batch_size": kw.pop("batch_size", None),
            "train.learning_rate": kw.pop("learning_rate", None),
            "train.seed": kw.pop("seed", None),
            "train.deterministic": kw.pop("deterministic", None),
            "train.accelerator": kw.pop("accelerator", None),
            "train.devices": kw.pop("devices", None),
            "train.strategy": kw.pop("strategy", None),
            "train.num_nodes": kw.pop("num_nodes", None),
        }
    )
    if kw.pop("no_progress", False):
        over["train.progress_bar"] = False
    return api.make_config(kw.pop("config_path", None), overrides=over)


@cli.command("fit")
@series_options
@model_options
@device_options
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
      forecast fit --ticker AAPL --devices 2 --strategy ddp
    """
    from forecaster import api, faults
    from forecaster.cli.text import describe_fit

    cfg = build_config(kw)
    result = api.fit(cfg, promote=promote, callbacks=faults.training_callbacks())
    if result.rank == 0:  # the other processes of a multi-device fit say nothing
        click.echo(describe_fit(result))


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
@click.option("--plot", is_flag=True, help="Also write an interactive HTML chart (a fan chart).")
@click.option(
    "--levels",
    help="Prediction-interval levels in percent, comma-separated (default 80,95; 'none' for none).",
)
def predict_cmd(
    model_ref: str, out_dir: str | None, plot: bool, levels: str | None, **kw: Any
) -> None:
    """Forecast the next horizon steps after the newest data with a saved model, with intervals.

    Each forecast comes with its median and prediction intervals (80% and 95% by default),
    calibrated on the model's own out-of-sample errors. CSV and JSON go to --out.

    \b
    Examples:
      forecast predict --ticker AAPL
      forecast predict --city greensboro --plot
      forecast predict --ticker AAPL --levels 50,80,95
      forecast predict --ticker AAPL --model latest --out forecasts/
    """
    from forecaster import api

    target = kw.get("target")
    cfg = build_config(kw)
    # a group: each member in turn, with the group's own model (loaded once)
    loaded = api.load_model(cfg, model_ref) if cfg.data.group is not None else None
    out, chosen = out_dir or paths().reports, _levels(levels)
    for member in api.member_configs(cfg):
        result = api.predict(
            member,
            model=model_ref,
            out_dir=out,
            plot=plot,
            target=target,
            levels=chosen,
            loaded=loaded,
        )
        s = result.series
        unit = s.units.get(s.target, "")
        click.echo(
            f"{result.version.key} model {result.version.version}: last observation {s.end} "
            f"{s.target} = {s.values[-1]:.4g} {unit}".rstrip()
        )
        click.echo(format_forecast(result.forecast))
        for kind, path in result.files.items():
            click.echo(f"Wrote {kind.upper()}: {path}")


def _levels(text: str | None):
    """``--levels``: None keeps the config's, ``none`` turns intervals off, else ``80,95``."""
    from forecaster.intervals import parse_levels

    if text is None:
        return None
    return [] if text.strip().lower() == "none" else list(parse_levels(text))


def format_forecast(frame) -> str:
    """The forecast table: time, point forecast, and each interval as ``[lo, hi]``."""
    levels = [c[3:] for c in frame.columns if c.startswith("lo_")]
    head = f"  {'time':<27}{'forecast':>10}" + "".join(f"{lv + '% interval':>24}" for lv in levels)
    lines = [head]
    short = {f"{lv:g}" for lv in frame.attrs.get("short_levels", [])}
    for t, row in frame.iterrows():
        cells = ""
        for lv in levels:
            lo, hi = row[f"lo_{lv}"], row[f"hi_{lv}"]
            cells += f"{f'[{lo:.4g}, {hi:.4g}]' + ('*' if lv in short else ''):>24}"
        lines.append(f"  {str(t):<27}{row['forecast']:>10.4g}{cells}")
    if short:
        lines.append("  * too few calibration residuals for an exact interval at this level")
    return "\n".join(lines)


def _echo_group_backtest(report) -> None:
    """Per member: the GRU and the best baseline (MAE, skill, coverage); then the members pooled."""
    from forecaster.backtest.baselines import best_baseline

    version = report.version.version if report.version else "-"
    click.echo(f"Backtest {report.key} (model {version}): {len(report.members)} members")
    for note in report.notes:
        click.echo(f"  {note}")
    click.echo(f"  {'member':<10}{'origins':>8}{'GRU MAE':>10}{'skill':>8}   best baseline")
    for symbol, member in report.members.items():
        table = member.result.metrics
        best = best_baseline(table["mae"].astype(float).to_dict())
        click.echo(
            f"  {symbol:<10}{member.result.n_origins:>8}{table.loc[NAME, 'mae']:>10.4g}"
            f"{table.loc[NAME, 'skill']:>+8.3f}   {best} {table.loc[best, 'mae']:.4g} "
            f"(skill {table.loc[best, 'skill']:+.3f})"
        )
    overall = report.overall
    cov = [c for c in overall.columns if c.startswith("coverage_")]
    click.echo(
        "Pooled over the members (MAE relative to naive, averaged; skill averaged; coverage pooled):"
    )
    click.echo(
        f"  {'method':<16}{'MAE':>10}{'skill':>9}"
        + "".join(f"{'cov' + c[9:] + '%':>9}" for c in cov)
    )
    for method, row in overall.iterrows():
        click.echo(
            f"  {method:<16}{row['mae']:>10.4g}{row['skill']:>+9.3f}"
            + "".join(f"{row[c]:>9.1f}" for c in cov)
        )
    for kind, path in report.files.items():
        click.echo(f"{kind.capitalize()}: {path}")
    for symbol, member in report.members.items():
        if "html" in member.files:
            click.echo(f"Html ({symbol}): {member.files['html']}")


def format_intervals(result) -> str:
    """Coverage (%), mean width, Winkler score and pinball loss per method and level."""
    table, cfg = result.interval_metrics, result.config
    levels = result.levels
    cal = cfg.get("calibration_origins", 0)
    lines = [
        f"Prediction intervals (conformal: {cal:,} calibration origins before the span, then "
        "walk-forward):",
        f"  {'method':<16}"
        + "".join(f"{'cov' + f'{lv:g}' + '%':>9}" for lv in levels)
        + "".join(f"{'width' + f'{lv:g}':>10}" for lv in levels)
        + f"{'Winkler' + f'{levels[-1]:g}':>11}{'pinball':>9}",
    ]
    for method in result.methods:
        rows = [table.loc[(method, float(lv))] for lv in levels]
        lines.append(
            f"  {method:<16}"
            + "".join(f"{row['coverage']:>9.1f}" for row in rows)
            + "".join(f"{row['width']:>10.4g}" for row in rows)
            + f"{rows[-1]['winkler']:>11.4g}{sum(r['pinball'] for r in rows) / len(rows):>9.4g}"
        )
    lines.append(
        "  coverage should be near the level; at equal coverage, narrower is sharper; width, "
        "Winkler and pinball in target units"
    )
    return "\n".join(lines)


#: How each metric column ranks: lower is better, except these.
_HIGHER_IS_BETTER = {"directional_accuracy", "skill"}
_HEADERS = {
    "mae": "MAE",
    "rmse": "RMSE",
    "mape": "MAPE%",
    "smape": "sMAPE%",
    "mase": "MASE",
    "directional_accuracy": "DirAcc%",
    "skill": "Skill",
}


_FORMATS = {
    "mape": "{:.2f}",
    "smape": "{:.2f}",
    "mase": "{:.3f}",
    "directional_accuracy": "{:.1f}",
    "skill": "{:+.3f}",
}


def format_metrics(table) -> str:
    """The metrics table with the best value per column starred (skill: higher is better)."""
    cols = [c for c in _HEADERS if c in table.columns]
    best = {}
    for c in cols:
        values = table[c].astype(float)
        if values.notna().any():
            best[c] = values.idxmax() if c in _HIGHER_IS_BETTER else values.idxmin()
    lines = [f"  {'method':<16}" + "".join(f"{_HEADERS[c]:>10}" for c in cols)]
    for name, row in table.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            text = "-" if v != v else _FORMATS.get(c, "{:.4g}").format(v)  # NaN -> "-"
            cells.append(f"{text + ('*' if best.get(c) == name else ' '):>10}")
        lines.append(f"  {name:<16}" + "".join(cells))
    return "\n".join(lines)


@cli.command("backtest")
@series_options
@click.option("--config", "config_path", help="YAML config: a path or a name in configs/.")
@click.option(
    "--model",
    "model_ref",
    default="champion",
    show_default=True,
    help="champion, latest, a version id, a model folder, or 'none' for baselines only.",
)
@click.option(
    "--refit-every", type=int, help="Retrain the GRU every K origins inside the span (0: never)."
)
@click.option(
    "--window", type=click.Choice(["expanding", "sliding"]), help="Training window when refitting."
)
@click.option("--stride", type=int, help="Steps between forecast origins.")
@click.option("--max-origins", type=int, help="Keep only the most recent N origins.")
@click.option(
    "--season", type=int, help="Season length for seasonal naive and MASE (default by frequency)."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Report folder (default <data root>/reports/backtest-...).",
)
@click.option(
    "--levels",
    help="Prediction-interval levels in percent, comma-separated (default 80,95; 'none' for none).",
)
def backtest_cmd(model_ref: str, out_dir: str | None, levels: str | None, **kw: Any) -> None:
    """Walk-forward backtest of the GRU against baselines, with an HTML report.

    Every forecast uses only data before its origin. --start/--end set the backtest span (default:
    the last test_fraction of the series, which a model saved by `forecast fit` never trained on).

    \b
    Examples:
      forecast backtest --ticker AAPL
      forecast backtest --city greensboro --stride 24
      forecast backtest --ticker MSFT --start 2012-01-01 --refit-every 50
      forecast backtest --ticker AAPL --model none        # baselines only
    """
    from forecaster import api

    start, end = kw.pop("start", None), kw.pop("end", None)
    over = {
        "backtest.start": start,
        "backtest.end": end,
        "backtest.refit_every": kw.pop("refit_every"),
        "backtest.window": kw.pop("window"),
        "backtest.stride": kw.pop("stride"),
        "backtest.max_origins": kw.pop("max_origins"),
        "backtest.season": kw.pop("season"),
        "backtest.levels": _levels(levels),
    }
    cfg = api.make_config(build_config(kw), overrides=over)
    if cfg.data.group is not None:
        _echo_group_backtest(api.backtest_group(cfg, model=model_ref, out_dir=out_dir))
        return
    report = api.backtest(cfg, model=None if model_ref == "none" else model_ref, out_dir=out_dir)
    r, s = report.result, report.series
    unit = s.units.get(s.target, "")
    click.echo(
        f"Backtest {report.key} '{s.target}'{f' ({unit})' if unit else ''}: {r.n_origins:,} origins, "
        f"{r.origin_times[0]:%Y-%m-%d %H:%M} .. {r.origin_times[-1]:%Y-%m-%d %H:%M}, "
        f"horizon {r.actuals.shape[1]}, stride {cfg.backtest.stride}"
        + (f", model {report.version.version}" if report.version else "")
    )
    for note in report.notes:
        click.echo(f"  {note}")
    click.echo(format_metrics(r.metrics))
    click.echo("  * best per metric; MAE/RMSE in target units, skill = 1 - MAE/MAE(naive)")
    if r.interval_metrics is not None:
        click.echo(format_intervals(r))
    for kind, path in report.files.items():
        click.echo(f"{kind.capitalize()}: {path}")
