"""Typed configuration, loaded from ``configs/*.yaml`` and overridden by CLI flags.

A run is described by one :class:`Config` (data + model + train + backtest). Unknown keys and
out-of-range values are rejected with one line that names the key, the value and what is allowed.
Every YAML file is read bounded (:mod:`forecaster.safe_yaml`: size, depth, alias expansion and
keys given twice), and values strictly: ``true`` is not a number, ``0d`` is not an interval.
The resolved config is saved beside every model (:func:`dump_config`), so any model can be rebuilt.
A run's config is resolved by :func:`make_config` (in :mod:`forecaster.config_resolve`, importable
from here).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from forecaster import safe_yaml
from forecaster.config_rules import INTERVAL, SEED_MAX, StrictModel, format_validation_error
from forecaster.errors import ConfigError
from forecaster.resources import configs_dir


def parse_symbols(text: str, what: str = "--ticker") -> list[str]:
    """Members of a group from a comma-separated list (``"AAPL, MSFT,IBM"`` -> three symbols).

    Empty items are ignored (``"AAPL,"`` is one symbol). One-line ConfigErrors: a duplicate (any
    case) or fewer than two members.
    """
    items = [part.strip() for part in str(text).split(",") if part.strip()]
    return check_members(items, what)


def check_members(symbols: list[str], what: str = "data.group.symbols") -> list[str]:
    """``symbols`` when they can form a group: at least two, none repeated (any case)."""
    if len(symbols) < 2:
        shown = symbols[0] if symbols else "nothing"
        raise ConfigError(
            f"a group needs at least 2 members, {what} gives {shown} — list more symbols "
            "(e.g. AAPL,MSFT) or fit one series on its own"
        )
    seen: dict[str, str] = {}
    for symbol in symbols:
        if symbol.upper() in seen:
            raise ConfigError(
                f"{what} lists {symbol} twice ({seen[symbol.upper()]}, {symbol}) — name each "
                "member once"
            )
        seen[symbol.upper()] = symbol
    return symbols


class GroupConfig(StrictModel):
    """Several series of one source, loaded together for one model trained on all of them.

    ``symbols`` are tickers (yahoo), cities (open-meteo) or snapshot names, at least two, none
    repeated; every member is loaded like a single series (its own cache and fallback) with the
    rest of the ``data`` section. ``name`` names the group in the model store (key
    ``group-<name>-<interval>``); ``None`` names it after its members in order (``AAPL_MSFT``).
    """

    name: str | None = Field(None, min_length=1, max_length=64)
    symbols: list[str]

    @field_validator("symbols")
    @classmethod
    def _members(cls, value: list[str]) -> list[str]:
        symbols = [str(v).strip() for v in value]
        if any(not s or "," in s for s in symbols):
            raise ValueError("each member is one non-empty symbol (no commas)")
        try:
            return check_members(symbols)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or not value.isprintable()):
            raise ValueError("a group name is printable text, e.g. big_tech")
        return None if value is None else value.strip()

    @property
    def label(self) -> str:
        """The group's name: ``name``, or its members joined by ``_`` (``AAPL_MSFT_IBM``)."""
        return self.name or "_".join(self.symbols)


class DataConfig(StrictModel):
    """Which series to load and how to clean it."""

    source: str = "yahoo"
    """A registered source: ``yahoo``, ``open-meteo``, ``csv`` or ``snapshot`` (checked by the loader,
    so a source is added in its own module plus one registry line)."""
    symbol: str | None = None
    """Ticker (yahoo), city name (open-meteo), or snapshot name."""
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    path: Path | None = None
    """CSV or Parquet file (source ``csv``)."""
    time_column: str | None = None
    """Time column of a CSV/Parquet file; ``None`` picks the first column that parses as dates."""
    interval: str = "1d"
    """Sampling interval: yahoo ``1m 2m 5m 15m 30m 60m 90m 1h 1d 5d 1wk 1mo 3mo``; open-meteo ``1h`` or
    ``1d``. A file's rows set its own frequency: for ``csv`` an interval other than ``1d`` (the
    default) must match it, else the load is an error."""
    variables: list[str] = Field(default_factory=list)
    """Columns to fetch/keep (weather variables, CSV value columns); empty means the source default."""
    target: str | None = None
    """Column to forecast; ``None`` means the source default (``close`` for stocks, ``temperature_2m`` for weather)."""
    covariates: list[str] | None = None
    """Input columns besides the target; ``None`` means the source default, ``[]`` none."""
    future_covariates: list[str] = Field(default_factory=list)
    """Columns whose values are known ahead (a CSV/Parquet's planned prices, promotions, a
    temperature forecast): the model reads their value at every forecast step. The file may carry
    rows beyond the target's last value for them, and ``predict`` needs a value for every step.
    Backtests read the file's value at each step: the user's promise that it was known then."""
    weather_forecasts: list[str] = Field(default_factory=list)
    """Weather variables whose *forecast* is an input known ahead (open-meteo: ``temperature_2m``):
    as issued before each origin for training and backtests (Open-Meteo's Previous Runs API),
    the live forecast at predict time; see :mod:`forecaster.data.sources.weather_forecasts`."""
    start: dt.date | None = None
    end: dt.date | None = None
    timezone: str | None = None
    """Time zone for naive timestamps (csv) or requested from the API (open-meteo; ``auto`` = local)."""
    max_gap: int = Field(3, ge=0)
    """Missing values are filled over at most this many consecutive steps; longer gaps are an error."""
    fill: Literal["ffill", "interpolate", "none"] = "ffill"
    """How gaps of at most ``max_gap`` steps are filled: the last value, a straight line, or not at
    all (then any gap is an error)."""
    duplicates: Literal["error", "first", "last", "mean"] = "error"
    """One timestamp with rows that differ: an error, or keep the first/last row, or their mean."""
    offline: bool = False
    """Never touch the network: use the cache, then the bundled snapshot."""
    calendar: str | None = None
    """Exchange calendar of a trading-day or intraday series (ISO MIC code: ``XNYS``, ``XLON``,
    ``XETR``, ``XTKS``; aliases such as ``NYSE`` work). ``None``: the source's default (Yahoo
    tickers by their suffix, ``AAPL`` -> XNYS, ``SAP.DE`` -> XETR; none for files and weather).
    Sessions and early closes then come from the calendar (see ``forecaster.data.calendars``)."""
    group: GroupConfig | None = None
    """Several series loaded together (``forecast fit --ticker AAPL,MSFT,IBM``), instead of
    ``symbol``; see :class:`GroupConfig`."""

    @field_validator("interval")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not isinstance(value, str) or not INTERVAL.fullmatch(value):
            raise ValueError(
                "an interval is a positive count and a unit: m (minutes), h, d, wk or mo, "
                "e.g. 15m, 1h, 1d"
            )
        return value

    @field_validator("calendar")
    @classmethod
    def _known_calendar(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from forecaster.data.calendars import canonical  # loads exchange_calendars: only if set

        try:
            return canonical(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None or value == "auto":
            return value
        import pandas as pd  # only when a zone is given: `forecast --help` stays fast

        try:
            pd.Timestamp(0).tz_localize(value)
        except Exception:  # zoneinfo, dateutil and pandas each raise their own type
            raise ValueError(
                "unknown time zone (use an IANA name such as UTC, Europe/Berlin or "
                "America/New_York; auto for weather)"
            ) from None
        return value

    @model_validator(mode="after")
    def _check_span(self) -> DataConfig:
        if self.start and self.end and self.start >= self.end:
            raise ValueError(f"start {self.start} must be before end {self.end}")
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("latitude and longitude must be given together")
        if self.group is not None:
            named = [k for k in ("symbol", "latitude", "path") if getattr(self, k) is not None]
            if named:
                raise ValueError(
                    f"data.group lists the series; leave data.{named[0]} unset (one or the other)"
                )
            from forecaster.data.sources import SOURCES  # the registry imports this module

            source = SOURCES.get(self.source)  # an unknown one is the loader's to report
            if source is not None and source.declaration.no_group:
                raise ValueError(source.declaration.no_group)
        return self


class ModelConfig(StrictModel):
    """Window shape and network size."""

    lookback: int = Field(60, ge=1, le=100_000)
    """Input window length, in steps of the series' frequency."""
    horizon: int = Field(5, ge=1, le=10_000)
    """Forecast length, in steps of the series' frequency."""
    hidden_size: int = Field(64, ge=1, le=4096)
    num_layers: int = Field(2, ge=1, le=16)
    bidirectional: bool = True
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    calendar: list[Literal["hour", "dayofweek", "dayofyear"]] | None = None
    """Calendar features as sin/cos pairs; ``None`` picks by frequency (hourly: hour + dayofyear)."""
    known: list[str] | None = None
    """Built-in features of each forecast step's timestamp, known ahead: ``hour``, ``dayofweek``,
    ``dayofyear`` (sin/cos), exchange sessions (``month_end``, ``quarter_end``, ``pre_holiday``,
    ``post_holiday``, ``third_friday``) and, for a weather place, ``sun_elevation`` and
    ``clearsky_ghi`` (see :mod:`forecaster.data.known`). ``None``: the measured default (none);
    ``[]``: none."""
    anchor: Literal["auto", "naive", "seasonal_naive", "drift"] = "auto"
    """The forecast an untrained model makes and training corrects: ``auto`` picks the one of naive,
    seasonal naive (season from ``backtest.season`` or the frequency) and drift over the lookback
    with the lowest error on the training split. The saved config names the anchor chosen."""
    scale: Literal["level", "diff"] = "diff"
    """How each window's spread is measured for the per-window normalisation: the std of the values
    (``level``) or of their one-step changes (``diff``, the volatility of a random walk)."""
    member_embedding: int = Field(0, ge=0, le=64)
    """A group model only: a learned vector of this size per member, fed with the inputs, so one
    global model can still tell its members apart (0: none; every member is treated alike)."""


class TrainConfig(StrictModel):
    """Optimisation, splitting and the Trainer."""

    max_epochs: int = Field(30, ge=1)
    batch_size: int = Field(128, ge=1)
    learning_rate: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    patience: int = Field(3, ge=1)
    """Early stopping: epochs without validation improvement."""
    min_improvement: float = Field(0.01, ge=0, lt=1)
    """Early stopping: an epoch resets the patience only when it improves the best validation MAE
    by at least this share of the anchor's (0.01: 1%); smaller gains are noise the gate drops."""
    gradient_clip: float = Field(1.0, gt=0)
    seed: int = Field(42, ge=0, le=SEED_MAX)
    """Random seed, 0 .. 2**32 - 1 (numpy's range)."""
    deterministic: bool = False
    stride: int = Field(1, ge=1)
    """Step between consecutive training windows."""
    val_fraction: float = Field(0.15, gt=0, lt=1)
    test_fraction: float = Field(0.15, ge=0, lt=1)
    train_end: dt.date | None = None
    """Split by date instead of fraction: training data ends before this date ..."""
    val_end: dt.date | None = None
    """... and validation data before this one (the rest is the test span)."""
    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps"] = "auto"
    devices: int = Field(1, ge=1)
    """Devices per machine: GPUs, or processes on the CPU. More than one (or ``num_nodes`` > 1)
    trains with DDP: every process (rank) draws a disjoint, equal share of each epoch's windows."""
    strategy: Literal["auto", "ddp"] = "auto"
    """``auto``: one device, or DDP when ``devices`` x ``num_nodes`` > 1; ``ddp``: DDP always.
    DDP runs the command once per device (Lightning's launcher), so it is for ``forecast fit`` and
    scripts, not notebooks or the nightly job."""
    num_nodes: int = Field(1, ge=1)
    """Machines in one fit: start the same ``forecast fit`` on each, with ``MASTER_ADDR``,
    ``MASTER_PORT``, ``NODE_RANK`` set and the data root on shared storage (see the README)."""
    precision: Literal["auto", "32-true", "16-mixed", "bf16-mixed"] = "auto"
    """``auto``: bf16/16 mixed precision on a GPU, 32-bit on the CPU."""
    num_workers: int = Field(0, ge=0)
    logger: Literal["csv", "tensorboard", "none"] = "csv"
    progress_bar: bool = True
    max_steps: int = -1
    limit_train_batches: float | int | None = None
    warm_start: bool = False
    """Initialise from the current champion's weights when the shapes match (retraining)."""
    confidence: float = Field(0.99, ge=0, lt=1)
    """Keep what training learned only when it beats the anchor on the validation windows with this
    confidence (a one-sided Diebold-Mariano test on the MAE); otherwise the saved model forecasts as
    its anchor. 0 keeps any gain, however small."""
    blend: bool = True
    """Then keep the share of the learned correction (0, 0.05, ..., 1) that forecasts the validation
    windows best, so a correction that overshoots is damped rather than taken whole."""

    @model_validator(mode="after")
    def _check_split(self) -> TrainConfig:
        if self.val_fraction + self.test_fraction >= 0.9:
            raise ValueError(
                f"val_fraction + test_fraction = {self.val_fraction + self.test_fraction:g} "
                "leaves too little training data; keep the sum below 0.9"
            )
        if self.train_end and self.val_end and self.train_end >= self.val_end:
            raise ValueError(f"train_end {self.train_end} must be before val_end {self.val_end}")
        return self


class BacktestConfig(StrictModel):
    """Walk-forward evaluation."""

    stride: int = Field(1, ge=1)
    """Steps between forecast origins."""
    season: int | None = Field(None, ge=1)
    """Season length for seasonal naive and MASE; ``None`` picks by frequency (hourly 24, trading days 5, daily 7)."""
    refit_every: int = Field(0, ge=0)
    """Refit the model every k origins (0 = train once before the span)."""
    window: Literal["expanding", "sliding"] = "expanding"
    """Training window when refitting."""
    moving_average: int = Field(20, ge=1)
    """Window of the moving-average baseline, in steps."""
    ridge_lags: int = Field(20, ge=1)
    ridge_alpha: float = Field(1.0, ge=0)
    start: dt.date | None = None
    end: dt.date | None = None
    max_origins: int | None = Field(None, ge=1)
    """Keep only the most recent origins (speed)."""
    levels: list[float] = Field(default_factory=lambda: [80.0, 95.0])
    """Prediction-interval levels in percent (``forecast predict`` and ``backtest``; ``[]`` none)."""
    interval_window: int | None = Field(None, ge=10)
    """Calibrate intervals on the most recent N residuals only (None: all earlier ones)."""
    interval_method: Literal["adaptive", "split"] = "adaptive"
    """``adaptive``: each step's bounds also follow the misses observed so far (quantile tracking
    with DtACI-style aggregated step sizes, see :mod:`forecaster.intervals_adaptive`); ``split``:
    fixed split-conformal quantiles of the earlier residuals."""

    @field_validator("levels", mode="before")
    @classmethod
    def _levels(cls, value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            return value  # pydantic says what a list of levels is
        if not value:
            return []
        from forecaster.intervals import parse_levels  # a one-line error names the problem

        try:
            return list(parse_levels(value))
        except ConfigError as exc:
            raise ValueError(str(exc)) from None


class Config(StrictModel):
    """One run: which data, which model, how to train it, how to evaluate it."""

    name: str | None = None
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    backtest: BacktestConfig = Field(default_factory=BacktestConfig)


def validate_config(raw: dict[str, Any], origin: str = "config") -> Config:
    """Build a :class:`Config` from a plain dict, turning validation errors into one-line ConfigErrors."""
    try:
        return Config.model_validate(raw or {})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, origin)) from None


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A path as given, or a name from the default configs folder (``stocks_daily`` -> its YAML)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    for candidate in (configs_dir() / path.name, configs_dir() / f"{path.name}.yaml"):
        if candidate.is_file():
            return candidate
    available = ", ".join(sorted(p.stem for p in configs_dir().glob("*.yaml")))
    raise ConfigError(
        f"config file '{name_or_path}' not found — give a path or one of: {available}"
    )


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML mapping, with one-line errors for unreadable or non-mapping files."""
    try:
        raw = safe_yaml.load_file(path)
    except UnicodeDecodeError:
        raise ConfigError(
            f"config '{path}' is not a text file (not UTF-8) — give the path of a YAML config"
        ) from None
    except (OSError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cannot read config '{path}': {first} — fix the YAML syntax") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"config '{path}' must be a YAML mapping of sections, got {type(raw).__name__}"
        )
    return raw


def load_config(name_or_path: str | Path) -> Config:
    """Load and validate a config file (a path or a default config's name)."""
    path = resolve_config_path(name_or_path)
    return validate_config(read_yaml(path), origin=str(path))


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def override(cfg: Config, overrides: dict[str, Any], origin: str = "command line") -> Config:
    """Return a copy of ``cfg`` with dotted overrides applied (``{"model.lookback": 30}``); ``None`` values are skipped."""
    nested: dict[str, Any] = {}
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = nested
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    merged = _deep_merge(cfg.model_dump(mode="python", exclude_unset=False), nested)
    return validate_config(merged, origin=origin)


def dump_config(cfg: Config) -> str:
    """The resolved config as YAML (what is saved beside every model)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


def __getattr__(name: str) -> Any:
    # make_config and default_config_for live in forecaster.config_resolve, which reads the source
    # registry; the registry's modules import this one, so they are looked up on first use.
    if name in ("make_config", "default_config_for"):
        from forecaster import config_resolve

        return getattr(config_resolve, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
