"""Project defaults for the command line: ``[tool.parity]`` in the nearest pyproject.toml.

```toml
[tool.parity]              # every command that has the option
atol = 1e-4
min-coverage = 0.8

[tool.parity.compare]      # one command only
format = "markdown"
```

Keys are option names (``min-coverage`` or ``min_coverage``). A flag given on the command
line wins, then a ``PARITY_<COMMAND>_<OPTION>`` environment variable, then these, then
parity's own defaults.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` in ``start`` or a folder above it."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def default_map(group: click.Group, start: Path) -> dict[str, dict[str, Any]]:
    """Click's ``default_map`` (command -> parameter -> value) from ``[tool.parity]``."""
    path = find_pyproject(start)
    if path is None:
        return {}
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("parity", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: cannot read [tool.parity] ({exc})") from None
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [tool.parity] must be a table")
    shared = {k: v for k, v in table.items() if not isinstance(v, dict)}
    per_command = {k: v for k, v in table.items() if isinstance(v, dict)}
    unknown = sorted(set(per_command) - set(group.commands))
    if unknown:
        raise UsageError(f"{path}: [tool.parity.{unknown[0]}]: no such command (commands: "
                         f"{', '.join(sorted(group.commands))})")
    defaults: dict[str, dict[str, Any]] = {}
    for name, command in group.commands.items():
        params = _options(command)
        chosen = {params[_key(k)]: v for k, v in shared.items() if _key(k) in params}
        for key, value in per_command.get(name, {}).items():
            if _key(key) not in params:
                raise UsageError(f"{path}: [tool.parity.{name}] {key}: not an option of "
                                 f"parity {name}")
            chosen[params[_key(key)]] = value
        multiple = {p.name for p in command.params if getattr(p, "multiple", False)}
        chosen = {k: [v] if k in multiple and not isinstance(v, list) else v
                  for k, v in chosen.items()}
        if chosen:
            defaults[name] = chosen
    everywhere = set().union(*(_options(c) for c in group.commands.values()))
    stray = sorted(k for k in shared if _key(k) not in everywhere)
    if stray:
        raise UsageError(f"{path}: [tool.parity] {stray[0]}: not an option of any command")
    return defaults


def _key(name: str) -> str:
    return name.replace("-", "_")


def _options(command: click.Command) -> dict[str, str]:
    """Option names as written in pyproject (``min_coverage``, ``format``) -> parameter."""
    return {_key(flag.lstrip("-")): p.name for p in command.params
            if isinstance(p, click.Option) and p.name
            for flag in p.opts if flag.startswith("--")}
