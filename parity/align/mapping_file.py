"""User mapping files: ``--map mapping.toml`` (or ``.json``): ``a_name = "b_name"`` pairs.

TOML keys with dots or slashes need quotes: ``"layer1.0.conv1" = "/layer1/layer1.0/conv1/Conv"``.
A ``*`` in a key matches any text and the same text replaces the ``*`` in the value.
Optional ``[atol]`` and ``[rtol]`` tables hold per-node tolerances (``"conv1*" = 1e-3``),
the same as ``--atol NAME=VALUE`` (see docs/numerics.md).
"""

from __future__ import annotations

import fnmatch
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from ..errors import NodeNotFound, UsageError
from ..graph import Graph
from ..limits import check_depth, read_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class MappingFile(dict[str, str]):
    """``{a_name: b_name}`` pairs that remember the file they came from (for messages)."""

    def __init__(self, pairs: dict[str, str], source: Path,
                 tolerances: dict[str, dict[str, float]] | None = None) -> None:
        super().__init__(pairs)
        self.source = source
        self.tolerances = tolerances or {}

    def tolerance_options(self, kind: str) -> list[str]:
        """``NAME=VALUE`` strings of the file's ``[atol]`` or ``[rtol]`` table."""
        return [f"{name}={value}" for name, value in self.tolerances.get(kind, {}).items()]


def read_mapping(path: Path) -> MappingFile:
    """The ``{a_name: b_name}`` pairs of a TOML or JSON mapping file."""
    text = read_text(path, "mapping file")
    check_depth(text, str(path))
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: not a valid mapping file ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a table of a_name = \"b_name\" pairs")
    tolerances = {kind: data.pop(kind) for kind in ("atol", "rtol") if kind in data}
    for kind, table in tolerances.items():
        if not isinstance(table, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in table.values()):
            raise UsageError(f"{path}: [{kind}] must be a table of \"node glob\" = number")
    bad = [key for key, value in data.items() if not isinstance(value, str)]
    if bad:
        raise UsageError(f"{path}: value of {bad[0]!r} is not a node name (a string); "
                         "write a_name = \"b_name\"")
    return MappingFile(dict(data), path, tolerances)


def resolve_mapping(a: Graph, b: Graph, mapping: Mapping[str, str]) -> list[tuple[str, str]]:
    """Resolve the user's mapping; unknown names raise :class:`NodeNotFound`."""
    pairs = []
    names_a = [*a.input_names, *(n.name for n in a.nodes)]
    where = str(getattr(mapping, "source", "mapping"))
    for pattern_a, pattern_b in mapping.items():
        if "*" not in pattern_a:
            pairs.append((_point(a, pattern_a, "A", where), _point(b, pattern_b, "B", where)))
            continue
        regex = re.compile(fnmatch.translate(pattern_a).replace(".*", "(.*)"))
        matched = [(name, found) for name in names_a if (found := regex.match(name))]
        if not matched:
            raise NodeNotFound(pattern_a, f"{where}: model A ({a.source})", a.closest(pattern_a))
        for name, found in matched:
            target = pattern_b
            for group in found.groups():
                target = target.replace("*", group, 1)
            if b.has_point(target):
                pairs.append((name, target))
    return pairs


def _point(graph: Graph, name: str, side: str, where: str) -> str:
    if not graph.has_point(name):
        raise NodeNotFound(name, f"{where}: model {side} ({graph.source})", graph.closest(name))
    return name
