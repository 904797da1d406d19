"""Bounded YAML: the one loader for every config a run reads, with limits checked before parsing.

A config is small and shallow, so a document that is not is refused with one line naming the file
and the limit, before any Python object is built:

* more than :data:`MAX_BYTES` bytes (checked on the file's size, before it is read);
* collections nested more than :data:`MAX_DEPTH` deep (PyYAML's composer and constructor recurse,
  so a document nested thousands deep would end in a ``RecursionError``);
* more than :data:`MAX_NODES` nodes once every alias is expanded to the nodes its anchor stands
  for (the "billion laughs": ``&a [*a, *a, ...]`` nested ten times is tiny on disk and billions of
  nodes for whoever walks it -- validation, or an error message that prints it); an alias that
  refers to the collection it is inside (a loop) is refused too.

The limits are counted on the parser's event stream, which never expands an alias. Then the
document is built with PyYAML's safe constructor, which also refuses a mapping that names one key
twice (YAML would silently keep only the last; ``<<`` merge keys may still be overridden).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from forecaster.errors import ConfigError

MAX_BYTES = 1_000_000
"""The largest config file read (1 MB; a nightly config of a thousand jobs is a few hundred kB)."""
MAX_DEPTH = 40
"""The deepest nesting of collections (a config needs about six levels)."""
MAX_NODES = 100_000
"""The most nodes a document may hold with its aliases expanded."""

_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when it is installed
_MERGE = "tag:yaml.org,2002:merge"


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: object, first: int, second: int):
        super().__init__(f"{key!r}")
        self.key, self.first, self.second = key, first, second


class _Loader(_BASE):  # type: ignore[misc, valid-type]
    """The safe loader, refusing a mapping that names one key twice."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[object, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise _DuplicateKey(key, seen[key], line)
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_file(path: Path) -> Any:
    """The document in ``path`` (UTF-8), within the limits; a one-line ConfigError otherwise.

    Raises ``OSError``, ``UnicodeDecodeError`` and ``yaml.YAMLError`` for unreadable files, text
    that is not UTF-8 and YAML syntax errors, for the caller to put in its own words.
    """
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ConfigError(
            f"config '{path}' is larger than {MAX_BYTES:,} bytes ({size:,}) — a config is a few "
            "kB; check that the path names the YAML config you meant"
        )
    return load_text(path.read_text(encoding="utf-8"), str(path))


def load_text(text: str, origin: str) -> Any:
    """The YAML document in ``text`` (``origin`` names it in messages), within the limits."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"config '{origin}' is larger than {MAX_BYTES:,} bytes — check it")
    check_limits(text, origin)
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    except _DuplicateKey as dup:
        raise ConfigError(
            f"config '{origin}' names {str(dup.key)[:60]!r} twice in one mapping (lines "
            f"{dup.first} and {dup.second}) — keep one; YAML would silently drop the first"
        ) from None
    finally:
        loader.dispose()


def check_limits(text: str, origin: str) -> None:
    """Walk the parser's events (aliases never expanded): a one-line ConfigError when the
    document nests deeper than :data:`MAX_DEPTH` or expands to more than :data:`MAX_NODES`."""
    sizes: dict[str, int] = {}  # anchor -> nodes its collection or scalar stands for, expanded
    stack: list[list[Any]] = []  # open collections: [expanded nodes so far, anchor]
    total = 0
    for event in yaml.parse(text, Loader=_BASE):
        if isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise _limit(origin, f"is nested more than {MAX_DEPTH} levels deep")
            stack.append([1, event.anchor])
            total += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            count, anchor = stack.pop()
            if anchor is not None:
                sizes[anchor] = count
            if stack:
                stack[-1][0] += count
        elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
            n = (
                _alias_size(event, sizes, stack, origin)
                if isinstance(event, yaml.AliasEvent)
                else 1
            )
            if isinstance(event, yaml.ScalarEvent) and event.anchor is not None:
                sizes[event.anchor] = 1
            if stack:
                stack[-1][0] += n
            total += n
        if total > MAX_NODES:
            raise _limit(origin, f"holds more than {MAX_NODES:,} values once its aliases expand")


def _alias_size(event: yaml.AliasEvent, sizes: dict[str, int], stack, origin: str) -> int:
    if any(anchor == event.anchor for _, anchor in stack):
        raise _limit(
            origin, f"has an alias *{str(event.anchor)[:40]} inside its own anchor (a loop)"
        )
    return sizes.get(event.anchor, 1)  # an undefined alias: the constructor names it


def _limit(origin: str, what: str) -> ConfigError:
    return ConfigError(
        f"config '{origin}' {what} — a config is a small, shallow mapping; check the file "
        "(anchors and aliases are fine, but not nested ones that multiply)"
    )
