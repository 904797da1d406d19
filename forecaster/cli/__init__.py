"""The ``forecast`` command: a thin layer over :mod:`forecaster.api`.

Each subcommand parses flags, loads the config, calls the API and prints. A
:class:`~forecaster.errors.ForecasterError` (or a usage error, or as a last resort an OSError, text
that is not UTF-8, an unparsable file, an unknown time zone) becomes one line on stderr and a
non-zero exit code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

import click

from forecaster import __version__
from forecaster.errors import ForecasterError, user_facing


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.exc_info:  # only with -v: the last-resort errors' tracebacks
            msg = f"{msg}\n{self.formatException(record.exc_info)}"
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


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _usage_error(exc: click.UsageError, where: str) -> None:
    click.echo(f"error: {_one_line(exc.format_message())} — see `{where} --help`", err=True)


class ForecastGroup(click.Group):
    """Maps user-facing errors to one line and an exit code (see :mod:`forecaster.errors`).

    ForecasterError and click's usage errors are expected; OSError, non-UTF-8 text, unparsable
    files and unknown time zones are mapped as a last resort (their traceback shows with ``-v``).
    Anything else is a bug and keeps its traceback.
    """

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:  # a bad top-level option such as --data-root
            _usage_error(exc, info_name)
            raise click.exceptions.Exit(exc.exit_code) from None

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ForecasterError as exc:
            click.echo(f"error: {_one_line(exc)}", err=True)
            ctx.exit(exc.exit_code)
        except click.UsageError as exc:
            _usage_error(exc, exc.ctx.command_path if exc.ctx is not None else "forecast")
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted — nothing was saved from the unfinished step", err=True)
            ctx.exit(130)
        except Exception as exc:
            mapped = user_facing(exc)
            if mapped is None:
                raise
            logging.getLogger("forecaster.cli").debug("the error's traceback:", exc_info=True)
            click.echo(f"error: {_one_line(mapped)}", err=True)
            ctx.exit(mapped.exit_code)


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
