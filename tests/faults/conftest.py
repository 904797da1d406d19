"""The CI subset of the fault-injection suite (the full run: ``python benchmarks/faults.py``).

The harness lives in benchmarks/ (faults.py, bad_inputs.py); these tests import it from there.
Child processes are forked from one fork server per test session, which imports forecaster, torch
and Lightning once.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

import faults  # noqa: E402


@pytest.fixture(scope="session")
def scratch():
    """A scratch folder an unprivileged user can reach (pytest's tmp folders are private)."""
    base = Path(tempfile.mkdtemp(prefix="forecaster-faults-"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def runner(scratch):
    out = scratch / "runs"
    out.mkdir()
    return faults.Runner(out)
