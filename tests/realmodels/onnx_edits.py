"""Edits a converter makes to an ONNX file: the converter itself where it is installed
(onnxruntime's float16 pass), else written as it would (tests only): an output transposed
to NHWC, a Softmax over another axis."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper


def to_float16(path: Path, target: Path) -> Path:
    """The model at ``path`` with weights and compute in float16 behind float32 inputs and
    outputs (onnxruntime's float16 converter, ``keep_io_types``), saved at ``target``."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with np.errstate(over="ignore"):  # an overflow test wants the inf
        half = convert_float_to_float16(onnx.load(str(path)), keep_io_types=True)
    onnx.save(half, str(target))
    return target


def output_to_nhwc(path: Path, target: Path) -> Path:
    """The model at ``path`` with its first output transposed NCHW -> NHWC by an appended
    Transpose (a converter that hands back channels-last), saved at ``target``."""
    model = onnx.load(str(path))
    graph = model.graph
    output = graph.output[0]
    for node in graph.node:
        node.output[:] = [f"{output.name}_nchw" if t == output.name else t for t in node.output]
    graph.node.append(helper.make_node("Transpose", [f"{output.name}_nchw"], [output.name],
                                       "/output/Transpose", perm=[0, 2, 3, 1]))
    dims = [d.dim_param or d.dim_value for d in output.type.tensor_type.shape.dim]
    output.CopyFrom(helper.make_tensor_value_info(
        output.name, output.type.tensor_type.elem_type, [dims[i] for i in (0, 2, 3, 1)]))
    del graph.value_info[:]
    onnx.save(model, str(target))
    return target


def softmax_axis(path: Path, target: Path, node: str, axis: int) -> Path:
    """The model at ``path`` with the Softmax ``node`` normalising over ``axis`` (a
    converter that reads the attention weights' layout wrong), saved at ``target``."""
    model = onnx.load(str(path))
    softmax = next(n for n in model.graph.node if n.name == node and n.op_type == "Softmax")
    del softmax.attribute[:]
    softmax.attribute.append(helper.make_attribute("axis", axis))
    onnx.save(model, str(target))
    return target
