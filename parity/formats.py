"""Model specs on the command line -> which backend opens them (format sniffing).

A spec is a path (``model.onnx``, ``net-symbol.json``, ``deploy.prototxt``, ``net.pt``)
or a Python callable (``path/to/file.py:factory``, ``package.module:factory``).
The backends' records (:mod:`parity.registry`) say which suffixes and contents each one
opens; file contents are checked against the name so a mislabelled file is caught early.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .errors import ModelLoadError, UsageError
from .registry import BackendRecord, record, records

_CALLABLE = re.compile(r"^(?P<target>[^:]+(\.py|[A-Za-z_][\w.]*)):(?P<attr>[A-Za-z_]\w*)$")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class ModelRef:
    """A model the user named: which backend opens it and with what."""

    spec: str
    backend: str
    path: Path
    weights: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)


class Probe:
    """What a record's ``sniff``/``check`` look at: a model file's name and first bytes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.suffix = path.suffix.lower()
        with path.open("rb") as handle:
            self.head = handle.read(4096)

    @cached_property
    def is_zip(self) -> bool:
        return zipfile.is_zipfile(self.path)

    @cached_property
    def text(self) -> str | None:
        """The head decoded as UTF-8, None for a binary file."""
        try:
            return self.head.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def resemblance(self) -> str:
        """``; it looks like ...`` when the head gives the real format away, else ``""``."""
        head = self.head
        if head.startswith(HDF5_MAGIC):
            return "; it looks like an HDF5 file: Keras .h5?"
        if head[:1] == b"\x80":
            return "; it looks like a pickle"
        if len(head) > 2 and head[0] == 0x08 and head[1] < 0x20 and head[2] in (0x12, 0x1A, 0x3A):
            return "; it looks like an ONNX model: name it .onnx"
        if self.text is not None:
            return "; it is a text file"
        return ""


def sniff(spec: str, weights: str | Path | None = None, backend: str | None = None,
          **options: Any) -> ModelRef:
    """Decide which backend opens ``spec`` (``backend`` names one that can, over the
    default); raises :class:`ModelLoadError` naming the file."""
    weights_path = Path(weights) if weights else None
    if weights_path is not None and not _is_file(weights_path):
        raise ModelLoadError(weights_path, "weights file not found")
    match = _CALLABLE.match(spec)
    if match and not _exists(Path(spec)):
        target = match["target"]
        if target.endswith(".py") and not _is_file(Path(target)):
            raise ModelLoadError(target, "file not found")
        chosen = _chosen(backend, [r for r in records().values() if r.callables], spec)
        return ModelRef(spec, chosen.name, Path(target), weights_path,
                        {**options, "factory": match["attr"]})
    path = Path(spec)
    try:
        _check_file(path)
        probe = Probe(path)
        chosen = _chosen(backend, _candidates(probe), spec)
        if chosen.check is not None:
            chosen.check(probe)
    except OSError as exc:  # too long a name, no permission, a vanishing file...
        raise ModelLoadError(path, f"cannot read it ({exc.strerror or exc})") from None
    return ModelRef(spec, chosen.name, path, weights_path, dict(options))


def _candidates(probe: Probe) -> list[BackendRecord]:
    """The backends that open this file, the default first: by suffix, else by content."""
    by_suffix = [r for r in records().values() if probe.suffix in r.suffixes]
    if by_suffix:
        return by_suffix
    by_content = [r for r in records().values() if r.sniff is not None and r.sniff(probe)]
    if by_content:
        return by_content
    suffixes = ", ".join(dict.fromkeys(s for r in records().values() for s in r.suffixes))
    raise ModelLoadError(probe.path, f"unrecognised model format (expected one of {suffixes})")


def _chosen(backend: str | None, candidates: list[BackendRecord], spec: str) -> BackendRecord:
    """The named backend when it is among the candidates, else the default one."""
    if backend is None:
        return candidates[0]
    wanted = record(backend)
    if wanted not in candidates:
        able = ", ".join(r.name for r in candidates)
        raise UsageError(f"{spec}: the {backend} backend does not open this model "
                         f"({wanted.formats}); backends that do: {able}")
    return wanted


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
