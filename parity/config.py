"""Per-side preprocessing options from the command line and a ``parity.toml`` file.

The file has an ``[a]`` and a ``[b]`` table with the keys ``rgb``, ``mean``, ``scale``,
``std``, ``layout``, ``size``; command-line options win over the file.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import UsageError
from .limits import check_depth, read_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_KEYS = ("rgb", "mean", "scale", "std", "layout", "size")
_EXPECTED = {
    "mean": "one finite number or three, one per channel",
    "std": "one non-zero finite number or three, one per channel",
    "scale": "a finite number",
    "size": "a positive height and width, e.g. 224x224",
    "rgb": "true or false",
    "layout": "NCHW or NHWC",
}


def preprocessing_options(
    config: Path | None, cli: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Options for side A and side B: the file's tables, then ``--a-*``/``--b-*`` over them."""
    tables = _read_config(config) if config else {}
    sides = []
    for side in ("a", "b"):
        options = dict(tables.get(side, {}))
        for key in _KEYS:
            value = cli.get(f"{side}_{key}")
            if value is not None:
                options[key] = _parse(key, value, f"--{side}-{key}")
        sides.append(options)
    return sides[0], sides[1]


def _read_config(path: Path) -> dict[str, dict[str, Any]]:
    text = read_text(path, "config file")
    check_depth(text, str(path))
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None
    unknown = set(data) - {"a", "b"}
    if unknown:
        raise UsageError(f"{path}: unknown table(s) {sorted(unknown)}; expected [a] and [b]")
    tables = {}
    for side, table in data.items():
        if not isinstance(table, dict):
            raise UsageError(f"{path}: {side} must be a table ([{side}]), not {table!r}")
        bad = set(table) - set(_KEYS)
        if bad:
            raise UsageError(f"{path}: [{side}] has unknown key(s) {sorted(bad)}; "
                             f"known: {', '.join(_KEYS)}")
        tables[side] = {k: _parse(k, v, f"{path} [{side}] {k}") for k, v in table.items()}
    return tables


def _parse(key: str, value: Any, where: str) -> Any:
    """Validate one option; per-channel values may be a list or ``"1,2,3"``."""
    try:
        if key in ("mean", "std"):
            items = value.split(",") if isinstance(value, str) else (
                value if isinstance(value, list) else [value])
            values = tuple(float(v) for v in items)
            if not all(math.isfinite(v) for v in values) or len(values) not in (1, 3):
                raise ValueError
            if key == "std" and 0 in values:
                raise ValueError
            return values
        if key == "scale":
            if not math.isfinite(float(value)):
                raise ValueError
            return float(value)
        if key == "size":
            items = value.replace("x", ",").split(",") if isinstance(value, str) else value
            height, width = (int(v) for v in items)
            if height <= 0 or width <= 0:
                raise ValueError
            return (height, width)
        if key == "rgb":
            if not isinstance(value, bool):
                raise ValueError
            return value
        if key == "layout":
            if value not in ("NCHW", "NHWC"):
                raise ValueError
            return value
    except (TypeError, ValueError):
        raise UsageError(f"{where}: invalid value {value!r} ({_EXPECTED[key]})") from None
    return value
