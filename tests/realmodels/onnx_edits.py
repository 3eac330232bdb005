"""Edits a converter makes to an ONNX file, written as the converter would (tests only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def to_float16(path: Path, target: Path) -> Path:
    """The model at ``path`` with weights and compute in float16 behind float32 inputs and
    outputs (onnxconverter's keep_io_types), saved at ``target``."""
    model = onnx.load(str(path))
    graph = model.graph
    for tensor in graph.initializer:
        if tensor.data_type == TensorProto.FLOAT:
            with np.errstate(over="ignore"):  # an overflow test wants the inf
                half = numpy_helper.to_array(tensor).astype(np.float16)
            tensor.CopyFrom(numpy_helper.from_array(half, tensor.name))
    source, result = graph.input[0].name, graph.output[0].name
    for node in graph.node:
        node.input[:] = [f"{source}_half" if t == source else t for t in node.input]
        node.output[:] = [f"{result}_half" if t == result else t for t in node.output]
    graph.node.insert(0, helper.make_node("Cast", [source], [f"{source}_half"], "to_half",
                                          to=TensorProto.FLOAT16))
    graph.node.append(helper.make_node("Cast", [f"{result}_half"], [result], "to_float",
                                       to=TensorProto.FLOAT))
    del graph.value_info[:]
    onnx.save(model, str(target))
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
    dims = output.type.tensor_type.shape.dim
    order = [dims[i] for i in (0, 2, 3, 1)]
    copies = [onnx.TensorShapeProto.Dimension() for _ in order]
    for copy, dim in zip(copies, order):
        copy.CopyFrom(dim)
    del dims[:]
    dims.extend(copies)
    del graph.value_info[:]
    onnx.save(model, str(target))
    return target
