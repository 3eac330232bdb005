"""A third-party ONNX -> PyTorch conversion: ``onnx2torch`` on the legacy export, traced to .pt.

onnx2torch 1.5.15 is installed with ``pip install --no-deps`` (the Makefile's ``setup``): every
wheel declares torchvision, which must never be installed beside this torch (it breaks torch
and transformers), and imports it only for its NonMaxSuppression and RoiAlign converters.
:func:`_onnx2torch` imports it behind a stand-in ``torchvision.ops`` whose functions raise a
clear error; the stand-in leaves ``sys.modules`` once the import is done, so transformers'
``find_spec("torchvision")`` still says torchvision is absent.

onnx2torch 1.5.15 reads opset <= 17 only (the dynamo exporter writes ReduceMean-18,
Reshape-19, Gelu-20), so the source is the legacy export (opset 17). The converted
``GraphModule`` is traced with ``torch.jit.trace`` and saved as TorchScript.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .torch_forms import quiet


def convert(onnx_path: Path, example: dict[str, np.ndarray], target: Path) -> Path:
    """``onnx2torch.convert`` of ``onnx_path``, traced on ``example`` and saved as ``target``."""
    import onnx

    model = onnx.load(str(onnx_path))
    _inline_weight_identities(model.graph)
    module = _onnx2torch().convert(model).eval()
    args = tuple(torch.from_numpy(array) for array in example.values())
    with torch.no_grad(), quiet():  # its Slice/Reshape read shapes as Python values
        traced = torch.jit.trace(module, args, check_trace=False)
    traced.save(str(target))
    return target


def _inline_weight_identities(graph: Any) -> None:
    """The legacy exporter writes a weight equal to another (ConvNeXt's zero biases) as an
    ``Identity`` of the first; onnx2torch wants a Conv's weight and bias as initializers.
    Each such Identity feeding a Conv becomes a copy of its initializer (what
    onnx-simplifier does before onnx2torch). Other consumers keep theirs: onnx2torch reads
    an all-initializer LayerNorm's shape from value_info, unknown in Swin's export."""
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    conv_params = {name for node in graph.node if node.op_type == "Conv"
                   for name in node.input[1:]}
    for node in list(graph.node):
        if (node.op_type == "Identity" and node.input[0] in initializers
                and node.output[0] in conv_params):
            copy = graph.initializer.add()
            copy.CopyFrom(initializers[node.input[0]])
            copy.name = node.output[0]
            graph.node.remove(node)


def _onnx2torch() -> types.ModuleType:
    """``import onnx2torch`` without torchvision (see the module docstring)."""
    if "onnx2torch" not in sys.modules:
        with _torchvision_stand_in():
            import onnx2torch  # noqa: F401
    return sys.modules["onnx2torch"]


@contextlib.contextmanager
def _torchvision_stand_in() -> Iterator[None]:
    if importlib.util.find_spec("torchvision") is not None:  # a real one: leave it be
        yield
        return
    package = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")
    for name in ("nms", "roi_align", "box_convert"):
        setattr(ops, name, _unavailable(name))
    package.ops = ops  # type: ignore[attr-defined]
    sys.modules.update({"torchvision": package, "torchvision.ops": ops})
    try:
        yield
    finally:
        del sys.modules["torchvision"], sys.modules["torchvision.ops"]


def _unavailable(name: str) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"torchvision.ops.{name} is not available: onnx2torch was imported "
                           "without torchvision (NonMaxSuppression and RoiAlign cannot run)")

    return call
