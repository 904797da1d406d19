"""Shared helpers for the benchmarks: the machine, the load, one JSON line per case, real data."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from typing import Any

import lightning
import torch

from forecaster.config import Config, load_config, override
from forecaster.data.series import Series
from forecaster.data.sources.snapshot import load_named

CASES = {"stocks": ("AAPL", "stocks_daily"), "weather": ("greensboro", "weather_hourly")}
"""Case name -> (bundled snapshot, default config)."""


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def machine() -> dict[str, Any]:
    """Where the figures were taken (printed once, to stderr, by every script)."""
    info = {
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def load() -> list[float]:
    """1/5/15-minute load averages: another job on a 2-core box skews every timing."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def emit(record: dict[str, Any]) -> None:
    """One JSON line per case on stdout (everything else goes to stderr)."""
    print(json.dumps(record, sort_keys=False), flush=True)


def proc_status(key: str) -> int:
    """VmRSS / VmHWM of this process, in bytes."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{key} not in /proc/self/status")


def reset_peak() -> None:
    """Set VmHWM back to the current RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
        fh.write("5")


def run_child(script: str, args: list[str], what: str) -> dict[str, Any]:
    """Run ``script args`` in a fresh Python process (so its memory is measured alone); the JSON
    record on the last line of its stdout. A failed child stops the benchmark, its stderr shown."""
    done = subprocess.run(
        [sys.executable, script, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        note(done.stderr[-3000:])
        raise SystemExit(f"{what} failed ({done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def note(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def real_case(case: str, overrides: dict[str, Any] | None = None) -> tuple[Series, Config]:
    """The bundled series and its default config (plus dotted overrides) for ``stocks``/``weather``."""
    snapshot, config = CASES[case]
    return load_named(snapshot), override(load_config(config), overrides or {})


def quiet_lightning() -> None:
    """Silence Lightning's info banners (GPU/TPU available, seed) on stderr."""
    import logging
    import warnings

    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*")
