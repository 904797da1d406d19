"""Issue 24's classes of bad input, as cases for ``benchmarks/bad_inputs.py`` (which lists them).

Links out of the data root (the canary outside must survive, ``after``), bounded and strict
configs, two files of one name, saved state that is not finite, infinities, a column named twice,
flags that do not apply, levels written as fractions, mixed date formats, heavy filling and spans
whose every value was filled in (filled values are never scored). Each is one ``error:`` line, or
(``code=0``) a run that recovers with a ``warning:``.

``cases(h)`` takes the ``bad_inputs`` module (its ``Case`` and helpers) as ``h``, so the two
modules never import each other.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from types import ModuleType

import numpy as np


# -- item 1: links out of the data root -----------------------------------------------------------
def _elsewhere(folder: Path) -> Path:
    return folder / "elsewhere"


def linked(entry: str, key: str):
    """A complete-looking version folder outside the data root, with a canary, linked in as
    ``models/<key>/versions/<entry>``."""

    def prepare(folder: Path, root: Path) -> None:
        outside = _elsewhere(folder)
        outside.mkdir(parents=True)
        for name in ("model.pt", "config.yaml", "meta.json"):
            (outside / name).write_text("{}\n")
        (outside / "CANARY").write_text("alive\n")
        os.symlink(outside, root / "models" / key / "versions" / entry, target_is_directory=True)

    return prepare


def canary_alive(folder: Path, root: Path) -> str | None:
    outside = _elsewhere(folder)
    if (outside / "CANARY").is_file() and (outside / "model.pt").is_file():
        return None
    return f"files outside the data root were deleted: {sorted(os.listdir(outside))}"


# -- item 4: saved state that is not finite --------------------------------------------------------
def champion_json(key: str, name: str, change):
    def prepare(folder: Path, root: Path) -> None:
        version = (root / "models" / key / "CHAMPION").read_text().strip()
        path = root / "models" / key / "versions" / version / name
        doc = json.loads(path.read_text())
        change(doc)
        path.write_text(json.dumps(doc))

    return prepare


def champion_weights(key: str, value: float):
    def prepare(folder: Path, root: Path) -> None:
        import torch

        version = (root / "models" / key / "CHAMPION").read_text().strip()
        path = root / "models" / key / "versions" / version / "model.pt"
        state = torch.load(path, weights_only=True)
        name = next(k for k, t in state.items() if t.is_floating_point() and t.numel() > 1)
        state[name].view(-1)[3] = value
        torch.save(state, path)

    return prepare


def _set(field: str, index: int, value: float):
    def change(doc):
        doc[field][index] = value

    return change


def _residual(value: float):
    def change(doc):
        doc["residuals"][-1][0] = value

    return change


def _extra_step(doc):
    doc["residuals"].append(doc["residuals"][-1])


def corrupt_copy(key: str, value: float):
    """A second version of ``key`` (a copy of the champion) whose normalization holds ``value``."""

    def prepare(folder: Path, root: Path) -> None:
        import shutil

        versions = root / "models" / key / "versions"
        champion = (root / "models" / key / "CHAMPION").read_text().strip()
        copy = versions / "20300101T000000000Z-bad0"
        shutil.copytree(versions / champion, copy)
        doc = json.loads((copy / "normalization.json").read_text())
        doc["std"][0] = value
        (copy / "normalization.json").write_text(json.dumps(doc))

    return prepare


# -- item 3: two files of one name ------------------------------------------------------------------
def model_under(key_of, h: ModuleType):
    """The template's champion copied to the key ``key_of(folder)`` (a csv model)."""

    def prepare(folder: Path, root: Path) -> None:
        import shutil

        for name in ("mine", "other"):
            (folder / name).mkdir(exist_ok=True)
            h.aapl_csv(f"{name}/a.csv")(folder, root)
        shutil.copytree(root / "models" / h.KEY, root / "models" / key_of(folder))

    return prepare


def _file_key(folder: Path) -> str:
    from forecaster.data.file_key import file_key_name

    return f"csv-{file_key_name(folder / 'mine' / 'a.csv')}"


# -- data edits ---------------------------------------------------------------------------------------
def _infinite(column: str, sign: float = 1.0):
    def edit(frame):
        frame[column] = frame[column].astype(float)
        frame.loc[frame.index[[40, 41]], column] = sign * math.inf
        return frame

    return edit


def _column_twice(frame, spaced: bool = False):
    text = frame.to_csv(index=False)
    header, rest = text.split("\n", 1)
    return header.replace("volume", " close" if spaced else "close") + "\n" + rest


def _mixed_dates(frame, style: str = "%d/%m/%Y"):
    import pandas as pd

    stamps = pd.to_datetime(frame["time"])
    frame["time"] = [
        t.strftime(style) if i % 2 else t.strftime("%Y-%m-%d") for i, t in enumerate(stamps)
    ]
    return frame


def _seven_days(frame):
    import pandas as pd

    frame["time"] = pd.date_range("2010-01-01", periods=len(frame), freq="D")
    return frame


def _mostly_missing(frame):
    keep = np.zeros(len(frame), dtype=bool)
    keep[::6] = True
    keep[-1] = True
    frame.loc[~keep, ["open", "high", "low", "close", "volume"]] = np.nan
    return frame


def _filled_tail(frame, first: float = 0.5):
    """Every value from ``first`` of the rows on missing but the last row: interpolated with a
    large --max-gap, the validation and test spans hold no observed value at all."""
    cut = int(len(frame) * first)
    frame.loc[cut : len(frame) - 2, ["open", "high", "low", "close", "volume"]] = np.nan
    return frame


def _filled_until_end(h: ModuleType):
    """:func:`_filled_tail`'s CSV and a config whose backtest ends before the last (observed)
    row: the backtest span holds filled values only."""

    def prepare(folder: Path, root: Path) -> None:
        import pandas as pd

        h.aapl_csv(edit=_filled_tail)(folder, root)
        last = pd.read_csv(folder / "a.csv")["time"].iloc[-1]
        (folder / "bt.yaml").write_text(f"backtest:\n  end: {str(last)[:10]}\n")

    return prepare


def _bomb(levels: int = 9, width: int = 9, where: str = "model:\n  calendar") -> str:
    lines = ["a0: &a0 [x]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + f"\n{where}: *a{levels}\n"


# -- the cases ------------------------------------------------------------------------------------------
def cases(h: ModuleType) -> list:
    """Issue 24's cases, built with ``bad_inputs``' ``Case`` and helpers."""
    return [
        *_link_cases(h),
        *_config_cases(h),
        *_model_cases(h),
        *_csv_cases(h),
        *_flag_cases(h),
    ]


def _link_cases(h: ModuleType) -> list:
    Case, key = h.Case, h.KEY
    retrain = ("retrain", "--config", "{dir}/n.yaml", "--force")
    job = {"keep_versions": 1, "jobs": [h.GOOD_JOB]}
    return [
        Case(
            "fit with a .trash entry linked out of the data root",
            h.FIT_TINY,
            linked(".trash-20200101T000000000Z-dead-ab12", key),
            model=True,
            code=0,  # the link is removed, its target kept, with a warning
            after=canary_alive,
        ),
        Case(
            "fit with a .partial entry linked out of the data root",
            h.FIT_TINY,
            linked(".partial-20200101T000000000Z-dead", key),
            model=True,
            code=0,
            after=canary_alive,
        ),
        Case(
            "retrain pruning a version linked out of the data root",
            retrain,
            h.both(linked("20000101T000000000Z-0ld0", key), h.nightly("n.yaml", job)),
            model=True,
            code=0,
            after=canary_alive,
        ),
    ]


def _config_cases(h: ModuleType) -> list:
    Case = h.Case
    fit_config = (*h.FIT_TINY, "--config", "{dir}/c.yaml")
    retrain = ("retrain", "--config", "{dir}/n.yaml")
    job = json.dumps(h.GOOD_JOB)
    configs = [
        ("alias bomb", _bomb()),
        ("alias bomb in a section", _bomb(where="train")),
        ("alias loop", "model:\n  calendar: &a [*a]\n"),
        ("nested 5000 deep", "model: " + "[" * 5000 + "]" * 5000 + "\n"),
        ("nested 800 deep in blocks", "".join(f"{' ' * i}k{i}:\n" for i in range(800))),
        ("over 1 MB", "# " + "x" * 1_100_000 + "\n"),
        ("section given twice", "model:\n  lookback: 10\nmodel:\n  horizon: 3\n"),
        ("key given twice", "train:\n  max_epochs: 1\n  max_epochs: 2\n"),
        ("lookback true", "model:\n  lookback: true\n"),
        ("learning rate false", "train:\n  learning_rate: false\n"),
        ("seed 2**32", "train:\n  seed: 4294967296\n"),
        ("seed negative", "train:\n  seed: -1\n"),
        ("interval 0d", "data:\n  interval: 0d\n"),
        ("levels as fractions", "backtest:\n  levels: [0.8, 0.95]\n"),
        ("a 10000-item list", "model:\n  calendar: [" + ", ".join(["hour"] * 10000) + ", x]\n"),
    ]
    nightlies = [
        ("alias bomb", _bomb(where="jobs")),
        ("job given twice as a key", f"jobs: [{job}]\njobs: [{job}]\n"),
        ("empty job name", {"jobs": [{**h.GOOD_JOB, "name": ""}]}),
        ("blank job name", {"jobs": [{**h.GOOD_JOB, "name": "   "}]}),
        ("lock timeout true", {"lock_timeout": True, "jobs": [h.GOOD_JOB]}),
        ("nested 3000 deep", "jobs: " + "[" * 3000 + "]" * 3000 + "\n"),
    ]
    return [
        *(Case(f"config {n}", fit_config, h.write("c.yaml", t)) for n, t in configs),
        *(Case(f"nightly {n}", retrain, h.nightly("n.yaml", b)) for n, b in nightlies),
    ]


def _model_cases(h: ModuleType) -> list:
    Case, key = h.Case, h.KEY
    predict = ("predict", "--ticker", "AAPL", "--offline")
    corrupt = [
        (
            "normalization.json NaN",
            champion_json(key, "normalization.json", _set("mean", 0, math.nan)),
        ),
        (
            "normalization.json inf",
            champion_json(key, "normalization.json", _set("std", 0, math.inf)),
        ),
        ("calibration.json -inf", champion_json(key, "calibration.json", _residual(-math.inf))),
        ("calibration.json NaN", champion_json(key, "calibration.json", _residual(math.nan))),
        ("calibration.json one step more", champion_json(key, "calibration.json", _extra_step)),
        ("model.pt NaN", champion_weights(key, math.nan)),
        ("model.pt inf", champion_weights(key, math.inf)),
        ("config.yaml alias bomb", h.in_model("config.yaml", _bomb().encode())),
    ]
    out = [Case(f"predict with {n}", predict, p, model=True) for n, p in corrupt]
    out += [
        Case(
            "backtest with model.pt NaN",
            ("backtest", "--ticker", "AAPL", "--offline", "--max-origins", "5"),
            champion_weights(key, math.nan),
            model=True,
        ),
        Case(
            "promote a version with NaN normalization",
            ("models", "promote", "{key}", "20300101T000000000Z-bad0"),
            corrupt_copy(key, math.nan),
            model=True,
        ),
        Case(
            "promote latest with infinite normalization",
            ("models", "promote", "{key}", "latest"),
            corrupt_copy(key, math.inf),
            model=True,
        ),
        Case(
            "predict a csv whose namesake in another folder has a model",
            ("predict", "--csv", "{dir}/other/a.csv", "--target", "close"),
            model_under(_file_key, h),
            model=True,
        ),
        Case(
            "predict a csv whose model is under the old name-only key",
            ("predict", "--csv", "{dir}/mine/a.csv", "--target", "close"),
            model_under(lambda folder: "csv-a", h),
            model=True,
        ),
    ]
    return out


def _csv_cases(h: ModuleType) -> list:
    Case, aapl_csv = h.Case, h.aapl_csv
    fit_csv = ("fit", "--csv", "{dir}/a.csv", "--target", "close", *h.TINY)
    show_csv = ("data", "show", "--csv", "{dir}/a.csv", "--target", "close")
    backtest_csv = ("backtest", "--csv", "{dir}/a.csv", "--target", "close", "--model", "none")
    return [
        Case("csv infinite target", fit_csv, aapl_csv(edit=_infinite("close"))),
        Case("csv -infinite covariate", fit_csv, aapl_csv(edit=_infinite("volume", -1.0))),
        Case("data show csv infinite covariate", show_csv, aapl_csv(edit=_infinite("open"))),
        Case("csv header names a column twice", fit_csv, aapl_csv(edit=_column_twice)),
        Case(
            "csv header names a column twice with a space",
            fit_csv,
            aapl_csv(edit=lambda f: _column_twice(f, spaced=True)),
        ),
        Case("csv mixed date formats (day first)", fit_csv, aapl_csv(edit=_mixed_dates)),
        Case(
            "csv mixed date formats (month names)",
            show_csv,
            aapl_csv(edit=lambda f: _mixed_dates(f, "%b %d, %Y")),
        ),
        Case(
            "csv mostly interpolated (--max-gap 1000)",
            (*show_csv, "--fill", "interpolate", "--max-gap", "1000"),
            aapl_csv(edit=_mostly_missing),
            code=0,  # shown, with a warning that most values were filled in
        ),
        # item 11: filled values are never scored; a span with none observed is an error
        Case(
            "csv fit, validation span all interpolated (--max-gap 1000)",
            (*fit_csv, "--fill", "interpolate", "--max-gap", "1000"),
            aapl_csv(edit=_filled_tail),
        ),
        Case(
            "csv backtest, test span all forward-filled (--max-gap 1000)",
            (*backtest_csv, "--fill", "ffill", "--max-gap", "1000", "--config", "{dir}/bt.yaml"),
            _filled_until_end(h),
        ),
        Case(
            "csv backtest mostly interpolated (--max-gap 1000)",
            (*backtest_csv, "--fill", "interpolate", "--max-gap", "1000"),
            aapl_csv(edit=_mostly_missing),
            code=0,  # scored on the observed values, with a warning that most were filled in
        ),
    ]


def _flag_cases(h: ModuleType) -> list:
    Case, aapl_csv = h.Case, h.aapl_csv
    fit_csv = ("fit", "--csv", "{dir}/a.csv", "--target", "close", *h.TINY)
    predict = ("predict", "--ticker", "AAPL", "--offline")
    backtest = ("backtest", "--ticker", "AAPL", "--offline", "--model", "none")
    return [
        Case("csv interval 1h on daily rows", (*fit_csv, "--interval", "1h"), aapl_csv()),
        Case("csv interval 1wk on daily rows", (*fit_csv, "--interval", "1wk"), aapl_csv()),
        Case("csv interval 0d", (*fit_csv, "--interval", "0d"), aapl_csv()),
        Case(
            "csv calendar XNYS on 7-day data",
            (*fit_csv, "--calendar", "XNYS"),
            aapl_csv(edit=_seven_days),
        ),
        Case("fit seed 2**32", (*h.FIT_TINY, "--seed", str(2**32))),
        Case("fit seed negative", (*h.FIT_TINY, "--seed", "-1")),
        Case("predict levels 0.8,0.95", (*predict, "--levels", "0.8,0.95"), model=True),
        Case("predict levels 0.5", (*predict, "--levels", "0.5"), model=True),
        Case("backtest levels 0.9,95", (*backtest, "--levels", "0.9,95")),
    ]
