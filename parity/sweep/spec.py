"""The sweep file (TOML): which pairs to compare, with which inputs and tolerance.

```toml
atol = 1e-4                 # defaults for every pair: atol, rtol, min_coverage, input_shape
rtol = 1e-4

[models.smallcnn]
reference = "smallcnn.pt"   # side A: the original (a path or file.py:factory)
exports = { onnx = "smallcnn.onnx", folded = "smallcnn_folded.onnx" }   # side B per exporter
inputs = ["random"]         # optional: which [inputs] entries this model gets (default all)
atol = 1e-3                 # optional: overrides the defaults for this model's pairs

[inputs.random]             # one entry per input: seed/input_shape, image, or arrays
seed = 0
[inputs.face]
image = "face.jpg"
```

Relative paths are read from the sweep file's folder. Each pair is
``model/exporter/input``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_SETTINGS = {"atol": float, "rtol": float, "min_coverage": float}
_INPUT_KEYS = ("seed", "input_shape", "image", "arrays")
_MODEL_KEYS = ("reference", "exports", "inputs", "map", "input_shape", *_SETTINGS)
_TOP_KEYS = ("models", "inputs", "input_shape", *_SETTINGS)


@dataclass(frozen=True)
class PairSpec:
    """One comparison of the sweep: reference A against one export B, fed one input."""

    model: str
    exporter: str
    input: str
    a: str
    b: str
    seed: int = 0
    input_shape: tuple[int, ...] | None = None
    image: str | None = None
    arrays: str | None = None
    mapping: str | None = None
    settings: dict[str, float] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.model}/{self.exporter}/{self.input}"

    @property
    def slug(self) -> str:
        """The pair's folder name under the sweep's output."""
        return "__".join((self.model, self.exporter, self.input))

    def model_files(self) -> list[Path]:
        """The files both models are read from (``file.py:factory`` counts its file)."""
        return [Path(_file_of(spec)) for spec in (self.a, self.b)]


@dataclass(frozen=True)
class Sweep:
    """The pairs of one sweep file, in the file's order."""

    path: Path
    pairs: tuple[PairSpec, ...]


def read_sweep(path: Path) -> Sweep:
    """Parse the sweep file at ``path``; bad content raises a one-line UsageError."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: sweep file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the sweep file ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None
    return Sweep(path, tuple(_pairs(data, path)))


def _pairs(data: dict[str, Any], path: Path) -> list[PairSpec]:
    _only(data, _TOP_KEYS, path, "the top level")
    folder = path.parent
    models, inputs = _table(data, "models", path), _table(data, "inputs", path)
    if not models:
        raise UsageError(f"{path}: no [models.NAME] table: nothing to compare")
    if not inputs:
        inputs = {"random": {}}
    for name, entry in inputs.items():
        _only(_table(inputs, name, path, "inputs."), _INPUT_KEYS, path, f"[inputs.{name}]")
        if "image" in entry and "arrays" in entry:
            raise UsageError(f"{path}: [inputs.{name}] gives both image and arrays; choose one")
    defaults = _settings(data, path, "the top level")
    pairs = []
    for model, entry in models.items():
        entry = _table(models, model, path, "models.")
        _only(entry, _MODEL_KEYS, path, f"[models.{model}]")
        where = f"[models.{model}]"
        reference = _text(entry, "reference", path, where, required=True)
        exports = entry.get("exports")
        if not isinstance(exports, dict) or not exports:
            raise UsageError(f"{path}: {where} needs exports = {{ exporter = \"file\", ... }}")
        chosen = entry.get("inputs", list(inputs))
        unknown = [name for name in chosen if name not in inputs]
        if not isinstance(chosen, list) or unknown:
            raise UsageError(f"{path}: {where} inputs names no [inputs] entry {unknown}; "
                             f"known: {sorted(inputs)}")
        settings = {**defaults, **_settings(entry, path, where)}
        shape = entry.get("input_shape", data.get("input_shape"))
        mapping = _text(entry, "map", path, where)
        for exporter, export in exports.items():
            if not isinstance(export, str) or not export:
                raise UsageError(f"{path}: {where} exports.{exporter} must be a file name")
            for input_name in chosen:
                pairs.append(_pair(model, exporter, input_name, _resolve(folder, reference),
                                   _resolve(folder, export), inputs[input_name], shape,
                                   mapping and str(folder / mapping), settings, path))
    return pairs


def _pair(model: str, exporter: str, input_name: str, a: str, b: str, entry: dict[str, Any],
          shape: Any, mapping: str | None, settings: dict[str, float], path: Path) -> PairSpec:
    shape = entry.get("input_shape", shape)
    if shape is not None and not (isinstance(shape, list)
                                  and all(isinstance(d, int) and d > 0 for d in shape)):
        raise UsageError(f"{path}: input_shape must be a list of positive integers, got "
                         f"{shape!r}")
    seed = entry.get("seed", 0)
    if not isinstance(seed, int):
        raise UsageError(f"{path}: [inputs.{input_name}] seed must be an integer")
    where = f"[inputs.{input_name}]"
    image, arrays = _text(entry, "image", path, where), _text(entry, "arrays", path, where)
    folder = path.parent
    return PairSpec(model, exporter, input_name, a, b, seed,
                    tuple(shape) if shape is not None else None,
                    image and str(folder / image), arrays and str(folder / arrays),
                    mapping, dict(settings))


def _resolve(folder: Path, spec: str) -> str:
    """``spec`` read from the sweep file's folder (a ``file.py:factory`` keeps its factory)."""
    file, sep, factory = spec.rpartition(":") if _is_factory(spec) else (spec, "", "")
    return str(folder / file) + sep + factory


def _is_factory(spec: str) -> bool:
    file, _, factory = spec.rpartition(":")
    return file.endswith(".py") and factory.isidentifier()


def _file_of(spec: str) -> str:
    return spec.rpartition(":")[0] if _is_factory(spec) else spec


def _settings(entry: dict[str, Any], path: Path, where: str) -> dict[str, float]:
    settings = {}
    for key, kind in _SETTINGS.items():
        if key in entry:
            value = entry[key]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise UsageError(f"{path}: {where} {key} must be a non-negative number")
            settings[key] = kind(value)
    return settings


def _table(data: dict[str, Any], key: str, path: Path, prefix: str = "") -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise UsageError(f"{path}: [{prefix}{key}] must be a table")
    return value


def _text(entry: dict[str, Any], key: str, path: Path, where: str,
          required: bool = False) -> str | None:
    value = entry.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise UsageError(f"{path}: {where} needs {key} = \"...\" (a file name)")
    return value


def _only(entry: dict[str, Any], allowed: tuple[str, ...], path: Path, where: str) -> None:
    unknown = sorted(set(entry) - set(allowed))
    if unknown:
        raise UsageError(f"{path}: unknown key {unknown[0]!r} in {where}; "
                         f"known: {', '.join(allowed)}")
