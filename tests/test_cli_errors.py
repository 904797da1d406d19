"""How the CLI turns problems into one line and an exit code, and where it must not.

ForecasterError and usage errors are expected; OSError, non-UTF-8 text and the like are mapped as a
last resort (traceback with -v); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno

import click
import pytest
from click.testing import CliRunner

from forecaster.cli import ForecastGroup, _configure_logging, cli


@click.group(cls=ForecastGroup)
@click.option("-v", "--verbose", is_flag=True)
def group(verbose: bool) -> None:
    _configure_logging(verbose)


@group.command()
@click.argument("what")
def boom(what: str) -> None:
    raise {
        "disk": OSError(errno.ENOSPC, "No space left on device", "/data/models/x"),
        "denied": PermissionError(errno.EACCES, "Permission denied", "/data/reports"),
        "utf8": UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
        "bug": TypeError("unsupported operand type(s) for +: 'int' and 'str'"),
    }[what]


def _errors(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize(
    "what, code, words",
    [
        ("disk", 5, ["/data/models/x", "No space left", "free some disk space"]),
        ("denied", 5, ["/data/reports", "Permission denied", "writable"]),
        ("utf8", 2, ["not UTF-8", "save it as UTF-8"]),
    ],
)
def test_last_resort_errors_are_one_line_with_the_documented_code(what, code, words):
    result = CliRunner().invoke(group, ["boom", what])
    assert result.exit_code == code
    (line,) = _errors(result)
    assert all(w in line for w in words), line
    assert "Traceback" not in result.output
    verbose = CliRunner().invoke(group, ["-v", "boom", what])
    assert verbose.exit_code == code and "Traceback" in verbose.stderr  # -v shows where


def test_a_bug_keeps_its_traceback():
    result = CliRunner().invoke(group, ["boom", "bug"])
    assert isinstance(result.exception, TypeError)  # not swallowed into one line
    assert not _errors(result)


@pytest.mark.parametrize(
    "args, words",
    [
        (["fit", "--ticker", "AAPL", "--lookback", "abc"], ["'--lookback'", "fit --help"]),
        (["fitt"], ["No such command 'fitt'"]),
        (["--data-root", "{file}", "fit"], ["--data-root", "is a file"]),
    ],
)
def test_usage_errors_are_one_line(tmp_path, args, words):
    (tmp_path / "f").write_text("x")
    args = [a.replace("{file}", str(tmp_path / "f")) for a in args]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    (line,) = _errors(result)
    assert all(w in line for w in words), line
    assert "Usage:" not in result.output
