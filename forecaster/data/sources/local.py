"""A local CSV or Parquet file as a series (source ``csv``).

The file needs one time column: ``time_column`` when given, else the first column whose values all
parse as dates (a Parquet file's DatetimeIndex also counts). Value columns: ``variables`` when
given, else every numeric column besides the time column; text columns (labels) are left out with
a notice, and a mostly-numeric column with stray text is kept so validation can name the bad value.
Naive times are wall-clock times in ``timezone`` (default UTC); times with offsets keep them, and a
column whose offsets differ (a daylight-saving change) is read in UTC. A column that mixes times with
and without an offset is rejected, and when mixed offsets leave the times irregular in UTC the error
names that cause. Day-first dates (``13/02/2024``) are read as such when every date parses that
way; a column that mixes date formats (``2024-01-05`` and ``05/01/2024``) is rejected with two
examples, since such dates are ambiguous. A header that names a column twice is rejected (pandas
would rename the second). The file's rows set its frequency: an interval other than the default
``1d`` must match it. Missing, unreadable or corrupt files raise a one-line :class:`DataError`.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd

from forecaster.config import DataConfig
from forecaster.data import cache
from forecaster.data.cleaning import DuplicateTimes, OffGrid
from forecaster.data.file_key import file_key_name
from forecaster.data.series import Series, interval_matches, target_first, validate
from forecaster.data.sources import base
from forecaster.errors import ConfigError, DataError

log = logging.getLogger(__name__)

PARQUET_SUFFIXES = (".parquet", ".pq")
DEFAULT_INTERVAL = DataConfig.model_fields["interval"].default
"""``1d``: what a config says when nobody chose an interval; for a file it is not checked."""


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a .csv (any other suffix is read as CSV) or .parquet file; errors are one line."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"file '{path}' not found — check the path given to --csv")
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            frame = pd.read_parquet(path)
            if isinstance(frame.index, pd.DatetimeIndex):
                frame = frame.reset_index()
            header = list(frame.columns)
        else:
            frame = pd.read_csv(path)
            header = list(pd.read_csv(path, header=None, nrows=1, dtype=str).iloc[0])
    except Exception as exc:  # pandas, pyarrow and the OS all raise their own types
        raise DataError(
            f"cannot read '{path}' ({base.first_line(exc)}) — is it a valid, complete CSV or Parquet file?"
        ) from None
    if frame.shape[1] == 0 or len(frame) == 0:
        raise DataError(f"'{path}' has no rows — check the file")
    _check_header([str(c).strip() for c in header], path.name)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _check_header(names: list[str], name: str) -> None:
    """A one-line DataError when two columns have one name (pandas would read ``close.1``)."""
    seen: dict[str, int] = {}
    for i, column in enumerate(names, start=1):
        if column in seen:
            raise DataError(
                f"'{name}': the header names column '{base.shorten(column)}' twice (columns "
                f"{seen[column]} and {i}) — rename one of them; which one is which cannot be told"
            )
        seen[column] = i


def _parse_times(values: pd.Series) -> pd.Series | None:
    """Times if every non-empty value parses as a date, else None."""
    parsed = _parse(values)
    return None if parsed is None else parsed[0]


_ATTEMPTS = ({}, {"dayfirst": True}, {"format": "mixed"}, {"format": "mixed", "utc": True})
"""One format inferred from the first value (month first, then day first); then each value parsed
on its own; then in UTC, for mixed offsets (``...+01:00`` and ``...+02:00`` in one column)."""


def _parse(values: pd.Series) -> tuple[pd.Series, bool] | None:
    """(times, whether one format read them all) if every non-empty value parses, else None."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values, True
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return None  # numbers are values, not (ambiguous) epoch times
    present = values.notna()
    if not present.any():
        return None
    for i, kwargs in enumerate(_ATTEMPTS):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                parsed = pd.to_datetime(values, errors="coerce", **kwargs)
            except (ValueError, TypeError, OverflowError):
                continue
        if pd.api.types.is_datetime64_any_dtype(parsed) and not parsed[present].isna().any():
            return parsed, i < 2
    return None


def mixed_formats(values: pd.Series, limit: int = 4) -> tuple[str, str] | None:
    """Two values of a text time column written in different date formats, or None.

    The formats are guessed from a first value, then from the first value that format cannot
    read, and so on (at most ``limit`` formats and twice as many passes, each over the whole
    column at once). A time of day, seconds or an offset do not make another format
    (``2024-01-05`` and ``2024-01-05 12:00`` are one); the order of day, month and year does.
    """
    from pandas.tseries.api import guess_datetime_format

    left = pd.Series(values.dropna().astype(str).str.strip().unique())
    seen: dict[str, str] = {}
    for _ in range(2 * limit):  # a few formats at most; each pass reads the whole column
        if not len(left) or len(seen) >= limit:
            break
        with warnings.catch_warnings():  # pandas warns about day-first guesses: we compare them
            warnings.simplefilter("ignore")
            fmt = guess_datetime_format(left.iloc[0]) or f"unknown {left.iloc[0]}"
            seen.setdefault(fmt.split("%H")[0].rstrip(" T"), left.iloc[0])
            try:
                read = pd.to_datetime(left, format=fmt, errors="coerce", utc=True).notna()
            except (ValueError, TypeError):
                read = pd.Series(False, index=left.index)
        read.iloc[0] = True  # never loop on one value
        left = left[~read.to_numpy()].reset_index(drop=True)
    examples = list(seen.values())
    return (examples[0], examples[1]) if len(examples) > 1 else None


_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)


def time_offsets(values: pd.Series) -> list[str]:
    """The distinct UTC offsets written in a text time column (``"+01:00"``, ``"Z"``), in order of
    appearance; ``""`` stands for times written without one."""
    if pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return []
    text = values.dropna().astype(str).str.strip()
    found = text.str.extract(f"({_OFFSET.pattern})", flags=re.IGNORECASE)[0].fillna("")
    return list(dict.fromkeys(found))


def find_time_column(frame: pd.DataFrame, name: str | None = None) -> str:
    """The named time column, or the first whose values all parse as dates."""
    if name:
        if name not in frame.columns:
            raise DataError(
                f"time column '{name}' not found; columns: {list(frame.columns)} — fix --time-column"
            )
        return name
    for col in frame.columns:
        if _parse_times(frame[col]) is not None:
            return col
    raise DataError(
        f"no column parses as dates (columns: {list(frame.columns)}) — name it with --time-column"
    )


def _looks_numeric(values: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(values):
        return False
    if pd.api.types.is_numeric_dtype(values):
        return True
    present = values.dropna()
    return len(present) > 0 and pd.to_numeric(present, errors="coerce").notna().mean() >= 0.5


def read_frame(
    path: str | Path,
    *,
    time_column: str | None = None,
    variables: list[str] | None = None,
    target: str | None = None,
) -> pd.DataFrame:
    """The file as a raw frame indexed by (possibly naive) time, with the chosen value columns."""
    frame = read_table(path)
    tcol = find_time_column(frame, time_column)
    parsed = _parse(frame[tcol])
    if parsed is None:
        raise DataError(
            f"'{Path(path).name}': column '{tcol}' does not parse as dates — "
            "name the time column with --time-column"
        )
    times, one_format = parsed
    mixed = None if one_format else mixed_formats(frame[tcol])
    if mixed is not None:
        a, b = (base.shorten(v, 30) for v in mixed)
        raise DataError(
            f"'{Path(path).name}': column '{tcol}' mixes date formats (e.g. '{a}' and '{b}'), so "
            f"dates such as '{b}' are ambiguous — write every date one way, best YYYY-MM-DD"
        )
    offsets = time_offsets(frame[tcol])
    if "" in offsets and len(offsets) > 1:
        raise DataError(
            f"'{Path(path).name}': column '{tcol}' mixes times with a UTC offset "
            f"({', '.join(o for o in offsets if o)}) and times without one — write every time "
            "with its offset, or none and give their zone with --tz"
        )
    values = frame.drop(columns=[tcol])
    if variables:
        cols = list(variables)
    else:
        cols = [c for c in values.columns if _looks_numeric(values[c])]
        dropped = [c for c in values.columns if c not in cols and c != target]
        if dropped:
            log.info("%s: left out non-numeric column(s) %s", Path(path).name, ", ".join(dropped))
    cols = target_first(target, cols, values.columns)
    out = values[[c for c in cols if c in values.columns]]
    out.index = pd.DatetimeIndex(times, name="time")
    out.attrs["time_offsets"] = [o for o in offsets if o]
    return out


def to_series(
    frame: pd.DataFrame,
    name: str,
    *,
    target: str | None = None,
    columns: list[str] | None = None,
    timezone: str | None = None,
    offsets: Sequence[str] = (),
    calendar: str | None = None,
    interval: str = DEFAULT_INTERVAL,
    **clean,
) -> Series:
    """Validate a frame from :func:`read_frame` (frequency inferred, naive times in ``timezone``).

    ``calendar``: the exchange calendar the file's trading days or intraday bars follow
    (``--calendar XNYS``); without one, trading days are weekdays. ``interval``: the config's
    (``--interval``); other than the default ``1d``, it must be the file's own step.

    ``offsets``: the UTC offsets its time column was written with; more than one, and times that
    are then irregular or repeated in UTC, is reported as that cause.
    """
    if frame.shape[1] == 0:
        raise DataError(
            f"csv:{name}: no numeric value columns — choose columns with --columns and a --target"
        )
    if not target:
        target = str(frame.columns[0])
        if frame.shape[1] > 1:
            log.info(
                "csv:%s: no --target given; forecasting '%s' (the first value column)", name, target
            )
    try:
        series = validate(
            frame,
            target,
            tz=timezone or "UTC",
            source="csv",
            symbol=name,
            columns=target_first(target, columns or frame.columns, frame.columns),
            calendar=calendar,
            **clean,
        )
    except (OffGrid, DuplicateTimes) as exc:
        if len(offsets) < 2:
            raise
        raise DataError(
            f"csv:{name}: the time column mixes UTC offsets ({', '.join(offsets[:4])}), and in "
            f"UTC the times are not regular ({exc.detail}) — "
            "check that each time carries its own offset, or write all times in UTC"
        ) from None
    if interval != DEFAULT_INTERVAL and not interval_matches(interval, series.freq):
        raise DataError(
            f"csv:{name}: --interval {interval} does not match the file, whose rows are "
            f"'{series.freq}' steps — a file's rows set its frequency: drop --interval "
            "(data.interval), or resample the file"
        )
    return series


DECLARATION = base.Declaration(
    flags=(
        base.Flag(
            (base.Option("csv", "path", "A local CSV or Parquet file.", "file"),),
            example="--csv FILE",
            noun="csv path",
        ),
    ),
    names=(("path",),),
    missing="no file given — pass --csv PATH",
    no_group="a group's members are tickers, cities or snapshots, not files",
)


class LocalSource:
    """A CSV or Parquet file, read on every load (never cached)."""

    name = "csv"
    title = "local file"
    live = False
    declaration = DECLARATION

    def resolve(self, cfg: DataConfig) -> base.Request:
        if not cfg.path:
            raise ConfigError("no file given — pass --csv PATH or set data.path")
        if cfg.timezone == "auto":
            raise ConfigError(
                "--tz auto applies to weather only — give the zone of the file's naive times "
                "(e.g. --tz Europe/Berlin), or leave it out for UTC"
            )
        path = Path(cfg.path).expanduser()
        name = cache.safe_key(path.stem)
        return base.Request(
            source=self.name,
            name=name,
            label=path.name,
            interval=cfg.interval,
            key=base.series_key(self.name, file_key_name(path), None),  # two folders: two keys
            target=cfg.target,
            columns=[*cfg.variables, *(c for c in cfg.future_covariates if c not in cfg.variables)]
            or None,
            flag=f"--csv {path}",
            detail=path,
        )

    def covers(self, cached, req, cfg, *, need_end: bool) -> bool:
        return False  # read directly, never cached

    def fetch(self, req: base.Request, cfg: DataConfig, cached) -> base.Fetched:
        frame = read_frame(
            req.detail, time_column=cfg.time_column, variables=req.columns, target=req.target
        )
        meta = {"time_offsets": frame.attrs.get("time_offsets", [])}
        return base.Fetched(
            frame, meta, len(frame), origin="file", detail=f"local file {req.detail}"
        )

    def to_series(self, frame, meta: dict, req: base.Request, cfg: DataConfig, *, origin: str):
        frame, ahead = split_ahead(frame, req.target, cfg.future_covariates, req.label)
        series = to_series(
            base.slice_span(frame, cfg, f"file {req.label}"),
            req.detail.stem,
            target=req.target,
            columns=req.columns,
            timezone=cfg.timezone,
            offsets=meta.get("time_offsets", []),
            calendar=cfg.calendar,
            interval=cfg.interval,
            **base.clean_options(cfg),
        )
        if ahead is None or cfg.end is not None:  # a span cut before the file's end: no "ahead"
            return series
        return replace(series, ahead=_localized(ahead, series, cfg.timezone))


def split_ahead(
    frame: pd.DataFrame, target: str | None, future: Sequence[str], label: str
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The rows up to the target's last value, and the ``future`` columns of the rows after it
    (values known ahead for the forecast steps; None when no column is known ahead)."""
    if not future:
        return frame, None
    lacking = [c for c in future if c not in frame.columns]
    if lacking:
        raise DataError(
            f"'{label}': future covariate(s) {', '.join(lacking)} are not columns of the file "
            f"(columns: {', '.join(map(str, frame.columns))}) — name columns of the file"
        )
    name = target or str(frame.columns[0])
    present = pd.to_numeric(frame[name], errors="coerce").notna().to_numpy()
    if not present.any():
        return frame, None  # validation reports the empty target
    last = frame.index[present].max()
    after = frame.index > last
    ahead = frame.loc[after, list(future)].apply(pd.to_numeric, errors="coerce")
    return frame.loc[~after], ahead.sort_index()


def _localized(ahead: pd.DataFrame, series: Series, timezone: str | None) -> pd.DataFrame:
    """``ahead`` indexed in the series' time zone (naive stamps are wall-clock in ``timezone``)."""
    index = pd.DatetimeIndex(ahead.index)
    if index.tz is None:
        index = index.tz_localize(timezone or "UTC", ambiguous="NaT", nonexistent="NaT")
    out = ahead.set_axis(index.tz_convert(series.index.tz).rename("time"))
    return out.loc[out.index.notna() & ~out.index.duplicated()].astype("float64")


SOURCE = LocalSource()
