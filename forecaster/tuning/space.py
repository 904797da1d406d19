"""The search space of ``forecast tune``: which settings a study varies and over what values, typed and checked.

A space file (``configs/tune.yaml`` by default) maps dotted config keys to a range or a list of
choices::

    blocks: 3                                        # validation blocks (see tuning.blocks)
    space:
      model.lookback: {low: 20, high: 240, log: true}  # integers 20 .. 240, sampled on a log scale
      model.dropout: {low: 0.0, high: 0.3}             # floats
      train.batch_size: {choices: [32, 64, 128, 256]}
      model.calendar: {choices: [null, []]}            # null: by frequency; []: none

Only the keys in :data:`TUNABLE` can be searched. Every bound and every choice must be a value the
config accepts for that key (checked against the config's own schema), so a range outside a
parameter's valid range, an unknown parameter or an empty space is a one-line ConfigError.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from forecaster.config import (
    Config,
    StrictModel,
    format_validation_error,
    read_yaml,
    resolve_config_path,
)
from forecaster.errors import ConfigError


class Kind(enum.Enum):
    """How a parameter is sampled: integers, floats, or one of listed values."""

    INT = "int"
    FLOAT = "float"
    CHOICE = "choice"


TUNABLE: dict[str, Kind] = {
    "model.lookback": Kind.INT,
    "model.hidden_size": Kind.INT,
    "model.num_layers": Kind.INT,
    "model.bidirectional": Kind.CHOICE,
    "model.dropout": Kind.FLOAT,
    "model.calendar": Kind.CHOICE,
    "model.scale": Kind.CHOICE,
    "model.anchor": Kind.CHOICE,
    "model.member_embedding": Kind.INT,
    "train.learning_rate": Kind.FLOAT,
    "train.weight_decay": Kind.FLOAT,
    "train.batch_size": Kind.INT,
    "train.stride": Kind.INT,
    "train.gradient_clip": Kind.FLOAT,
    "data.covariates": Kind.CHOICE,
}
"""The settings a study may vary, and how each is sampled (any of them also takes ``choices``)."""

DEFAULT_SPACE = "tune"
"""The shipped space: ``configs/tune.yaml``."""


class RangeSpec(StrictModel):
    """``{low, high}`` (both included), on a log scale with ``log``; integers every ``step``."""

    low: int | float
    high: int | float
    log: bool = False
    step: int | None = Field(None, ge=1)


class ChoiceSpec(StrictModel):
    """``{choices: [...]}``: one of the listed values (one value fixes the setting)."""

    choices: list[Any] = Field(min_length=1)


class SpaceFile(StrictModel):
    """A space file: the blocks of the validation and the parameters searched."""

    blocks: int = Field(3, ge=1, le=10)
    space: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Param:
    """One searched setting: a range (``low``..``high``) or ``choices``."""

    key: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: int | None = None
    choices: tuple[Any, ...] | None = None

    def labels(self) -> list[Any]:
        """The choices as Optuna stores them (None, bools, numbers and text as they are; lists
        as JSON text, ``"[]"``)."""
        return [label(c) for c in self.choices or ()]

    def value_of(self, stored: Any) -> Any:
        """The config value of what Optuna sampled (a choice's label back to the choice)."""
        if self.choices is None:
            return stored
        return {label(c): c for c in self.choices}[stored]

    def describe(self) -> str:
        if self.choices is not None:
            return " | ".join(json.dumps(c) for c in self.choices)
        scale = ", log" if self.log else ""
        step = f", step {self.step}" if self.step else ""
        return f"{self.low:g} .. {self.high:g}{scale}{step}"


def label(value: Any) -> Any:
    """A choice as Optuna can store it: lists (and other structures) as JSON text."""
    return (
        value if value is None or isinstance(value, (bool, int, float, str)) else json.dumps(value)
    )


@dataclass(frozen=True)
class SearchSpace:
    """What a study varies (``params``, in file order) and how many validation ``blocks`` score it."""

    params: tuple[Param, ...]
    blocks: int = 3
    origin: str = "search space"

    def get(self, key: str) -> Param | None:
        return next((p for p in self.params if p.key == key), None)

    def with_param(self, param: Param) -> SearchSpace:
        params = tuple(param if p.key == param.key else p for p in self.params)
        return SearchSpace(params, self.blocks, self.origin)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (what identifies a study, with the config and the data)."""
        return {
            "blocks": self.blocks,
            "space": {
                p.key: (
                    {"choices": list(p.choices)}
                    if p.choices is not None
                    else {"low": p.low, "high": p.high, "log": p.log, "step": p.step}
                )
                for p in self.params
            },
        }


def load_space(path: str | Path | None, base: Config, *, blocks: int | None = None) -> SearchSpace:
    """Read and check a space file (a path or a name in configs/; ``None``: ``configs/tune.yaml``)
    against ``base``, the config the study starts from. ``blocks`` overrides the file's."""
    where = resolve_config_path(path if path is not None else DEFAULT_SPACE)
    return parse_space(read_yaml(where), base, origin=str(where), blocks=blocks)


def parse_space(
    raw: dict[str, Any], base: Config, *, origin: str = "search space", blocks: int | None = None
) -> SearchSpace:
    """A :class:`SearchSpace` from plain data; one-line ConfigErrors name the key and the fix."""
    if blocks is not None:
        raw = raw | {"blocks": blocks}
    try:
        spec = SpaceFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, origin)) from None
    if not spec.space:
        raise ConfigError(
            f"the search space ({origin}) is empty — list at least one parameter, "
            "e.g. model.lookback: {low: 20, high: 240} (see configs/tune.yaml)"
        )
    params = tuple(_param(key, body, base, origin) for key, body in spec.space.items())
    return SearchSpace(params, spec.blocks, origin)


def _param(key: str, body: dict[str, Any], base: Config, origin: str) -> Param:
    kind = TUNABLE.get(key)
    if kind is None:
        known = ", ".join(TUNABLE)
        raise ConfigError(
            f"unknown parameter '{key}' in the search space ({origin}) — use one of: {known}"
        )
    where = f"search space ({origin}), {key}"
    try:
        if "choices" in body:
            spec = ChoiceSpec.model_validate(body)
            for choice in spec.choices:
                _check_value(base, key, choice, f"{where}: the choice {json.dumps(choice)}")
            return Param(key, kind, choices=tuple(spec.choices))
        rng = RangeSpec.model_validate(body)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, f"{origin}, {key}")) from None
    return _range(key, kind, rng, base, where)


def _range(key: str, kind: Kind, rng: RangeSpec, base: Config, where: str) -> Param:
    if kind is Kind.CHOICE:
        raise ConfigError(f"{where} takes choices, not a range — write {{choices: [...]}}")
    if rng.low > rng.high:
        raise ConfigError(f"{where}: low {rng.low:g} is above high {rng.high:g} — swap them")
    if rng.log and rng.low <= 0:
        raise ConfigError(
            f"{where}: a log scale needs low > 0, got {rng.low:g} — raise low or drop log"
        )
    if rng.step is not None and (kind is Kind.FLOAT or rng.log):
        raise ConfigError(f"{where}: step is for integer ranges without log — drop step")
    for name, value in (("low", rng.low), ("high", rng.high)):
        if kind is Kind.INT and value != int(value):
            raise ConfigError(f"{where}: {name}={value:g} must be a whole number")
        typed = int(value) if kind is Kind.INT else float(value)
        _check_value(base, key, typed, f"{where}: {name}={value:g}")
    cast = int if kind is Kind.INT else float
    return Param(key, kind, cast(rng.low), cast(rng.high), rng.log, rng.step)


def _check_value(base: Config, key: str, value: Any, what: str) -> None:
    """A one-line ConfigError unless the config accepts ``value`` for ``key``."""
    try:
        with_values(base, {key: value})
    except ValidationError as exc:
        reason = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise ConfigError(
            f"{what} is outside the parameter's valid range ({reason}) — narrow the range"
        ) from None


def with_values(cfg: Config, values: dict[str, Any]) -> Config:
    """``cfg`` with dotted keys set (``None`` too: ``model.calendar: null`` means by frequency);
    raises pydantic's ValidationError for a value the config refuses."""
    raw = cfg.model_dump(mode="python")
    for dotted, value in values.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return Config.model_validate(raw)


def suggest(trial, space: SearchSpace) -> dict[str, Any]:
    """The settings of one trial: dotted key -> config value, sampled by ``trial`` (an Optuna
    ``Trial``; its ``params`` hold the labels)."""
    out: dict[str, Any] = {}
    for p in space.params:
        if p.choices is not None:
            out[p.key] = p.value_of(trial.suggest_categorical(p.key, p.labels()))
        elif p.kind is Kind.INT:
            step = p.step or 1
            out[p.key] = trial.suggest_int(p.key, int(p.low), int(p.high), step=step, log=p.log)
        else:
            out[p.key] = trial.suggest_float(p.key, float(p.low), float(p.high), log=p.log)
    return out


def values_of(params: dict[str, Any], space: SearchSpace) -> dict[str, Any]:
    """A finished trial's stored ``params`` (labels) as config values, for the keys in ``space``."""
    out = {}
    for key, stored in params.items():
        p = space.get(key)
        out[key] = p.value_of(stored) if p is not None else stored
    return out
