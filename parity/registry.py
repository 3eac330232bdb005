"""Which backends exist, the extra that installs each, and how to import one lazily.

This module imports no framework: it only names them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import BackendUnavailable, UsageError

if TYPE_CHECKING:
    from .backend import Backend


@dataclass(frozen=True)
class BackendInfo:
    """Where a backend adapter lives and what installs its framework."""

    name: str
    extra: str
    module: str
    cls: str
    formats: str


BACKENDS: dict[str, BackendInfo] = {
    info.name: info
    for info in (
        BackendInfo("onnxrt", "onnx", "parity.backends.onnxrt", "OnnxRuntimeBackend", ".onnx"),
        BackendInfo(
            "pytorch",
            "torch",
            "parity.backends.pytorch",
            "TorchBackend",
            "TorchScript .pt/.ts, torch.export .pt2, file.py:factory or module:factory",
        ),
        BackendInfo(
            "mxnet", "mxnet", "parity.backends.mxnet_symbol", "MXNetBackend",
            "prefix-symbol.json + prefix-NNNN.params",
        ),
        BackendInfo(
            "caffe", "caffe", "parity.backends.opencv_caffe", "CaffeBackend",
            ".prototxt + .caffemodel (run by OpenCV DNN)",
        ),
        BackendInfo(
            "keras", "keras", "parity.backends.keras_model", "KerasBackend",
            ".keras archives and Keras 2 .h5 files (Keras 3 on its torch backend)",
        ),
    )
}


def backend_class(name: str) -> type[Backend]:
    """Import and return the adapter class for backend ``name``.

    Any failure to import the framework becomes :class:`BackendUnavailable` naming the extra.
    """
    try:
        info = BACKENDS[name]
    except KeyError:
        raise UsageError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}") from None
    try:
        module = importlib.import_module(info.module)
    except Exception as exc:  # frameworks fail to import in many ways (AttributeError, OSError...)
        raise BackendUnavailable(name, info.extra, f"{type(exc).__name__}: {exc}") from exc
    return getattr(module, info.cls)
