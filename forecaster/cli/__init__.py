"""The ``forecast`` command: a thin layer over :mod:`forecaster.api`.

Each subcommand parses flags, loads the config, calls the API and prints. A
:class:`~forecaster.errors.ForecasterError` becomes one line on stderr and a non-zero exit code;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

import click

from forecaster import __version__
from forecaster.errors import ForecasterError


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {msg}"
        return msg


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    root = logging.getLogger("forecaster")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
    if not verbose:
        # Lightning and PyTorch are chatty about things the user cannot change (worker counts, ...).
        for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
            logging.getLogger(name).setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module=r"lightning(\.|$)")
        warnings.filterwarnings("ignore", module=r"pytorch_lightning(\.|$)")
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch(\.|$)")


class ForecastGroup(click.Group):
    """Maps user-facing errors to one line and an exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ForecasterError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted — nothing was saved from the unfinished step", err=True)
            ctx.exit(130)


@click.group(cls=ForecastGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="forecast")
@click.option(
    "--data-root",
    type=click.Path(file_okay=False),
    default=None,
    help="Where caches, models and reports live (default: $FORECASTER_HOME or ./data).",
)
@click.option("-v", "--verbose", is_flag=True, help="Show debug messages and library warnings.")
@click.pass_context
def cli(ctx: click.Context, data_root: str | None, verbose: bool) -> None:
    """Forecast stock prices and weather with a bidirectional GRU.

    \b
    Examples:
      forecast data show --ticker AAPL
      forecast fit --ticker AAPL
      forecast backtest --city greensboro
    """
    _configure_logging(verbose)
    if data_root:
        os.environ["FORECASTER_HOME"] = str(data_root)
    ctx.ensure_object(dict)
    ctx.obj["data_root"] = data_root


def _register() -> None:
    # Subcommand modules register themselves on import; imported here so `cli` is complete.
    import importlib
    import pkgutil

    for mod in pkgutil.iter_modules(__path__):
        if mod.name.startswith("cmd_"):
            importlib.import_module(f"{__name__}.{mod.name}")


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="forecast")
