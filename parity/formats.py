"""Model specs on the command line -> which backend opens them (format sniffing).

A spec is a path (``model.onnx``, ``net-symbol.json``, ``deploy.prototxt``, ``net.pt``)
or a Python callable (``path/to/file.py:factory``, ``package.module:factory``).
File contents are checked against the name so a mislabelled file is caught early.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelLoadError

_CALLABLE = re.compile(r"^(?P<target>[^:]+(\.py|[A-Za-z_][\w.]*)):(?P<attr>[A-Za-z_]\w*)$")
_SUFFIXES = {
    ".onnx": "onnxrt",
    ".pt": "pytorch",
    ".pth": "pytorch",
    ".ts": "pytorch",
    ".torchscript": "pytorch",
    ".pt2": "pytorch",
    ".json": "mxnet",
    ".params": "mxnet",
    ".prototxt": "caffe",
    ".caffemodel": "caffe",
    ".keras": "keras",
    ".h5": "keras",
    ".hdf5": "keras",
}
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class ModelRef:
    """A model the user named: which backend opens it and with what."""

    spec: str
    backend: str
    path: Path
    weights: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)


def sniff(spec: str, weights: str | Path | None = None, **options: Any) -> ModelRef:
    """Decide which backend opens ``spec``; raises :class:`ModelLoadError` naming the file."""
    weights_path = Path(weights) if weights else None
    if weights_path is not None and not _is_file(weights_path):
        raise ModelLoadError(weights_path, "weights file not found")
    match = _CALLABLE.match(spec)
    if match and not _exists(Path(spec)):
        target = match["target"]
        if target.endswith(".py") and not _is_file(Path(target)):
            raise ModelLoadError(target, "file not found")
        return ModelRef(spec, "pytorch", Path(target), weights_path,
                        {**options, "factory": match["attr"]})
    path = Path(spec)
    try:
        _check_file(path)
        backend = _SUFFIXES.get(path.suffix.lower()) or _guess_from_content(path)
        _check_content(path, backend)
    except OSError as exc:  # too long a name, no permission, a vanishing file...
        raise ModelLoadError(path, f"cannot read it ({exc.strerror or exc})") from None
    return ModelRef(spec, backend, path, weights_path, dict(options))


def _check_file(path: Path) -> None:
    """A regular, non-empty file; raises :class:`ModelLoadError` saying what it is instead."""
    if not path.exists():
        raise ModelLoadError(path, "file not found")
    if path.is_dir():
        raise ModelLoadError(path, "is a directory, expected a model file")
    if not path.is_file():
        raise ModelLoadError(path, "is not a regular file (a pipe or a device?)")
    if path.stat().st_size == 0:
        raise ModelLoadError(path, "file is empty")


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system
        return False


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False


def _head(path: Path, size: int = 4096) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)


def _looks_like_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _guess_from_content(path: Path) -> str:
    head = _head(path)
    if head.startswith(_HDF5_MAGIC):
        return "keras"
    if zipfile.is_zipfile(path):
        return "pytorch"
    if _looks_like_text(head):
        text = head.decode("utf-8").lstrip()
        if text.startswith("{"):
            return "mxnet"
        if re.search(r"\blayers?\s*\{", text) or re.search(r"^\s*name\s*:", text, re.M):
            return "caffe"
    if head[:1] in (b"\x08", b"\x12", b"\x1a", b"\x3a"):
        return "onnxrt"
    raise ModelLoadError(path, "unrecognised model format (expected .onnx, .pt, .pt2, "
                               "-symbol.json, .prototxt)")


def _check_content(path: Path, backend: str) -> None:
    """Catch a file of one format named with another's extension."""
    head = _head(path)
    suffix = path.suffix.lower()
    is_zip = zipfile.is_zipfile(path)
    if backend == "onnxrt" and (is_zip or head.lstrip().startswith((b"{", b"name", b"layer"))):
        raise ModelLoadError(path, "named .onnx but is not an ONNX protobuf "
                                   f"({'a zip archive' if is_zip else 'a text file'})")
    if backend == "pytorch" and suffix != ".py" and not is_zip:
        raise ModelLoadError(path, "not a TorchScript or torch.export archive (expected a zip"
                                   f"{_resemblance(head)}); for a plain nn.Module use "
                                   "file.py:factory --weights state.pt")
    if backend == "mxnet" and suffix == ".json":
        _check_symbol_json(path)
    if backend == "caffe" and suffix == ".prototxt" and not _looks_like_text(head):
        raise ModelLoadError(path, "named .prototxt but is not text")
    if suffix in (".h5", ".hdf5") and not head.startswith(_HDF5_MAGIC):
        raise ModelLoadError(path, f"named {suffix} but is not an HDF5 file")
    if suffix == ".keras" and not is_zip:
        raise ModelLoadError(path, "named .keras but is not a Keras archive (expected a zip)")


def _resemblance(head: bytes) -> str:
    """``; it looks like ...`` for a file whose start gives its real format away, else ``""``."""
    if head.startswith(_HDF5_MAGIC):
        return "; it looks like an HDF5 file: Keras .h5?"
    if head[:1] == b"\x80":
        return "; it looks like a pickle"
    if len(head) > 2 and head[0] == 0x08 and head[1] < 0x20 and head[2] in (0x12, 0x1A, 0x3A):
        return "; it looks like an ONNX model: name it .onnx"
    if _looks_like_text(head):
        return "; it is a text file"
    return ""


def _check_symbol_json(path: Path) -> None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(path, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict) or "nodes" not in data or "heads" not in data:
        raise ModelLoadError(path, "JSON is not an MXNet symbol (no 'nodes'/'heads')")
