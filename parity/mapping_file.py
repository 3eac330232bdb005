"""User mapping files: ``--map mapping.toml`` (or ``.json``): ``a_name = "b_name"`` pairs.

TOML keys with dots or slashes need quotes: ``"layer1.0.conv1" = "/layer1/layer1.0/conv1/Conv"``.
A ``*`` in a key matches any text and the same text replaces the ``*`` in the value.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class MappingFile(dict[str, str]):
    """``{a_name: b_name}`` pairs that remember the file they came from (for messages)."""

    def __init__(self, pairs: dict[str, str], source: Path) -> None:
        super().__init__(pairs)
        self.source = source


def read_mapping(path: Path) -> MappingFile:
    """The ``{a_name: b_name}`` pairs of a TOML or JSON mapping file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: mapping file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read mapping file ({exc})") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: not a valid mapping file ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a table of a_name = \"b_name\" pairs")
    bad = [key for key, value in data.items() if not isinstance(value, str)]
    if bad:
        raise UsageError(f"{path}: value of {bad[0]!r} is not a node name (a string); "
                         "write a_name = \"b_name\"")
    return MappingFile(dict(data), path)
