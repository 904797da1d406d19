"""The strict rules every config model shares, and the one line a config error is shown as.

:class:`StrictModel` rejects unknown keys, NaN and infinity, and ``true``/``false`` where a number
belongs (pydantic would quietly read 1 or 0); :data:`Name` is a printable, non-blank name;
:data:`INTERVAL` and :data:`SEED_MAX` bound intervals and seeds. :func:`format_validation_error`
turns pydantic's report into one line that shows at most a short form of each bad value, so a
huge list (an alias bomb that got through) is never printed.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

SEED_MAX = 2**32 - 1
"""The largest seed numpy's generators take (seeds are 0 .. 2**32 - 1)."""
INTERVAL = re.compile(r"[1-9][0-9]{0,3}(m|h|d|wk|mo)")
"""A sampling interval: a positive count and a unit (``15m``, ``1h``, ``1d``, ``1wk``, ``3mo``)."""


def _is_number_type(annotation: Any) -> bool:
    """Whether a field's type is a number (``int``, ``float``, or a union with one), not ``bool``."""
    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) is Annotated:
        return _is_number_type(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        return bool not in args and any(_is_number_type(a) for a in args)
    return False


class StrictModel(BaseModel):
    """A config section: an unknown key, NaN, infinity or a boolean for a number is an error."""

    # allow_inf_nan=False: a learning rate of inf (or a margin of nan) is a typo, not a setting
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """``true``/``false`` where a number belongs is a mistake (pydantic would read 1 or 0)."""
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and _is_number_type(field.annotation):
            raise ValueError("a number is expected, not true/false")
        return value


def _printable_name(value: str) -> str:
    if not value.strip() or not value.isprintable():
        raise ValueError("a name is printable text, not empty, e.g. aapl_daily")
    return value.strip()


Name = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_printable_name)]
"""A name people type and read (a nightly job's): printable, not blank, at most 64 characters."""


def _shown(value: Any, limit: int = 32) -> str:
    """``=<value>`` for a message, cut to ``limit`` characters (a list from a config may be huge:
    only its start is formatted); nothing for a section or no value."""
    if value is None or isinstance(value, dict):
        return ""
    if isinstance(value, (list, tuple)):
        head = ", ".join(repr(v)[:limit] for v in value[:4])
        text = f"[{head}{', ...' if len(value) > 4 else ''}]"
    else:
        text = repr(value)
    text = " ".join(text.split())
    return "=" + (text if len(text) <= limit else text[: limit - 1] + "…")


def format_validation_error(exc: ValidationError, origin: str) -> str:
    """One line naming each invalid key, a short form of its value and what is wrong."""
    parts = []
    for err in exc.errors()[:3]:
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key '{key[:80]}'")
        else:
            msg = " ".join(err["msg"].removeprefix("Value error, ").split())
            parts.append(f"{key[:80]}{_shown(err.get('input'))}: {msg[:300]}")
    more = f" (and {exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
    return (
        f"invalid config ({origin}): "
        + "; ".join(parts)
        + more
        + " — fix the value or see configs/*.yaml"
    )
