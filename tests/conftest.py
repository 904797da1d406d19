"""Shared fixtures: a private data root per test, real snapshot series, and seeded randomness.

Sockets are blocked for the whole suite (pytest-socket, see pyproject); only the network boundary is
mocked, with recorded-shape responses.
"""

from __future__ import annotations

import pytest

from forecaster.data.sources import snapshot


@pytest.fixture(autouse=True)
def data_root(tmp_path, monkeypatch):
    """Every test gets an empty data root, so nothing leaks between tests or into ./data."""
    root = tmp_path / "home"
    monkeypatch.setenv("FORECASTER_HOME", str(root))
    return root


@pytest.fixture(scope="session")
def aapl():
    """Real AAPL daily prices (2000-03-01 .. 2013-03-01), canonical columns, 3,270 trading days."""
    return snapshot.load_named("AAPL")


@pytest.fixture(scope="session")
def greensboro():
    """Real hourly Greensboro weather year (8,760 hours), canonical Open-Meteo column names."""
    return snapshot.load_named("greensboro")


@pytest.fixture(scope="session")
def seattle():
    """Real daily Seattle weather 2012 .. 2015."""
    return snapshot.load_named("seattle")
