"""Every backend's record, and how to import an adapter lazily.

A backend is an adapter module ``parity.backends.<module>`` (it imports its framework) and
a record, ``RECORD`` in ``parity.backends.<module>_record`` (it imports no framework), that
says everything the core needs to know about it: which files it opens, the framework and
the extra that installs it, what users of that framework usually feed, and how to word
advice in its terms. Registering a backend is one line in :data:`RECORD_MODULES`.

This module imports no framework, nor any record until one is asked for.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import BackendUnavailable, UsageError
from .startup import importing

if TYPE_CHECKING:
    from .backend import Backend
    from .formats import Probe

# The registered backends, in the order that decides which one opens a file several can
# open (the first whose suffixes or content sniffing claim it). Each names the adapter
# module, relative to parity.backends (a dotted name: a module outside parity); its record
# is the module of the same name with ``_record`` appended.
RECORD_MODULES = (
    "onnxrt",
    "pytorch",
    "mxnet_symbol",
    "opencv_caffe",
    "keras_model",
    "openvino_model",
    "onnx_reference",
    "opencv_onnx",
    "litert",
)
_PACKAGE = "parity.backends"
_PARITY_DIRS = (Path(__file__).resolve().parent, Path(__file__).resolve().parent.parent
                / "backends")


@dataclass(frozen=True)
class InputHabit:
    """What users of a framework usually feed a model: channel order, range, layout."""

    rgb: bool = True
    scale: float = 1.0
    layout: str = "NCHW"
    note: str = ""


@dataclass(frozen=True)
class BackendRecord:
    """What the core knows about one backend, without importing its framework.

    Attributes:
        name: the backend's name (``--a-backend NAME``, ``Backend.name``).
        adapter: ``module:Class`` of the adapter, ``module`` relative to parity.backends
            (or a dotted import name for an adapter outside parity).
        extra: the pip extra that installs the framework (``parity[extra]``).
        framework: the framework's import name (``onnxruntime``).
        formats: what it opens, in words (``parity backends`` shows it).
        distribution: the framework's distribution name, for its version, when it is not
            the import name (``opencv-python-headless`` for ``cv2``).
        suffixes: file suffixes it opens (lowercase, with the dot).
        sniff: recognises its files by content when the suffix says nothing.
        check: raises :class:`~parity.errors.ModelLoadError` for a file of another format
            named with one of its suffixes.
        callables: opens ``file.py:factory`` / ``module:factory`` specs.
        habit: the input users of the framework usually feed (``--image`` defaults).
        advice: message templates (``str.format`` fields named per key) in the
            framework's own terms: ``set_eps`` (node, file, eps), ``round_up`` and
            ``round_down`` (node, file), ``reexport`` (file).
        attribute_names: framework attribute name -> parity's neutral name.
        op_families: the framework's op types -> parity's op families
            (:data:`parity.ops.FAMILIES`), for the ops whose names do not say it.
        runtime: the runtime that executes it, when not the framework itself
            (``OpenCV DNN`` runs Caffe files).
        vocabulary: the module (relative to parity.backends unless dotted) whose
            ``VOCABULARY`` says what its ops and attributes mean in parity's neutral
            terms (read by diagnosis, imported only then).
    """

    name: str
    adapter: str
    extra: str
    framework: str
    formats: str
    distribution: str = ""
    suffixes: tuple[str, ...] = ()
    sniff: Callable[[Probe], bool] | None = None
    check: Callable[[Probe], None] | None = None
    callables: bool = False
    habit: InputHabit = InputHabit()
    advice: Mapping[str, str] = field(default_factory=dict)
    attribute_names: Mapping[str, str] = field(default_factory=dict)
    op_families: Mapping[str, str] = field(default_factory=dict)
    runtime: str = ""
    vocabulary: str = ""

    def advise(self, kind: str, **fields: Any) -> str | None:
        """The ``kind`` advice filled in with ``fields``; None when the record has none."""
        template = self.advice.get(kind)
        return template.format(**fields) if template else None

    def version(self) -> str | None:
        """The installed framework's version, None when it is not installed."""
        try:
            return importlib.metadata.version(self.distribution or self.framework)
        except importlib.metadata.PackageNotFoundError:
            return None


@cache
def records() -> dict[str, BackendRecord]:
    """Every registered backend's record, by name, in registration order."""
    found = {}
    for module in RECORD_MODULES:
        record = importlib.import_module(f"{_qualified(module)}_record").RECORD
        found[record.name] = record
    return found


def record(name: str) -> BackendRecord:
    """The record of backend ``name``; raises :class:`UsageError` listing the known ones."""
    try:
        return records()[name]
    except KeyError:
        raise UsageError(f"unknown backend {name!r}; known: {', '.join(records())}") from None


def find_record(name: str) -> BackendRecord | None:
    """The record of backend ``name``, None for a name no record has."""
    return records().get(name)


def backend_class(name: str) -> type[Backend]:
    """Import and return the adapter class for backend ``name``.

    A missing or broken framework becomes :class:`BackendUnavailable` naming the extra; an
    adapter that cannot import parity says parity is not installed; any other failure is
    a bug in the adapter and keeps its traceback.
    """
    info = record(name)
    module_name, _, cls = info.adapter.partition(":")
    module_name = _qualified(module_name)
    if importlib.util.find_spec(info.framework.split(".")[0]) is None:
        raise BackendUnavailable(name, info.extra, f"{info.framework} is not installed")
    try:
        with importing(module_name):
            module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing == "parity":
            raise BackendUnavailable(name, info.extra, f"parity is not installed completely "
                                     f"where the adapter runs ({exc}): reinstall parity"
                                     ) from exc
        if not _raised_in_adapter(exc, module_name):
            raise BackendUnavailable(name, info.extra, f"{info.framework} needs {exc.name}, "
                                     "which is not installed") from exc
        raise AdapterBug(name, module_name, exc) from exc
    except Exception as exc:  # frameworks fail to import in many ways (AttributeError, OSError)
        if isinstance(exc, SyntaxError) or _raised_in_adapter(exc, module_name):
            raise AdapterBug(name, module_name, exc) from exc
        raise BackendUnavailable(name, info.extra, f"{info.framework} fails to import: "
                                 f"{type(exc).__name__}: {exc}") from exc
    return getattr(module, cls)


class AdapterBug(RuntimeError):
    """An adapter module failed to import for a reason of its own (not a ParityError: it
    is a bug, and the CLI shows its traceback)."""

    def __init__(self, name: str, module: str, exc: BaseException) -> None:
        super().__init__(f"the {name} adapter ({module}) failed to import: "
                         f"{type(exc).__name__}: {exc}; this is a bug in the adapter, "
                         "not a missing framework")


def _qualified(module: str) -> str:
    """A registered module's import name: relative to parity.backends unless dotted."""
    return module if "." in module else f"{_PACKAGE}.{module}"


def _raised_in_adapter(exc: BaseException, module: str) -> bool:
    """Whether the innermost frame of ``exc`` is the adapter's or parity's own code (not a
    framework's)."""
    frames = traceback.extract_tb(exc.__traceback__)
    frames = [f for f in frames if "importlib" not in f.filename and "<frozen" not in f.filename]
    if not frames:
        return False
    where = Path(frames[-1].filename).resolve()
    try:
        origin = getattr(importlib.util.find_spec(module), "origin", None)
    except Exception:  # its package itself fails to import
        origin = None
    if origin and where == Path(origin).resolve():
        return True
    return any(where.is_relative_to(folder) for folder in _PARITY_DIRS)

