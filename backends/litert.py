"""LiteRT (TFLite) adapter: ``.tflite`` flatbuffers run by the ``ai-edge-litert`` interpreter.

Every intermediate comes from one ``invoke()``: the interpreter is built with
``experimental_preserve_all_tensors=True`` (it keeps each tensor instead of reusing its
memory) and with the builtin kernels only, since a delegate (XNNPACK, the default on CPU)
runs the ops it takes as one opaque node whose inner tensors are never written.

Nodes are the subgraph's operators, named by their output tensor (names as Model Explorer
and Netron show them); the scope is read from the torch module path a converter such as
``litert-torch`` writes into that name. 4-D tensors of the NHWC ops (conv, pooling...) and
of what follows them carry ``attrs["layout"] == "NHWC"``, as Keras outputs do, so they are
compared with the other side's NCHW tensors transposed. The NCHW<->NHWC ``TRANSPOSE``s a
converter inserts are layout plumbing, not nodes: consumers read the tensor before them,
and a ``RESHAPE`` that flattens a 4-D tensor records the order it flattens in
(``attrs["flatten_order"]``, NCHW after a transpose back). Quantized tensors (int8/uint8/
int16) are dequantized with their scale and zero point (per channel where the tensor says
so) and their step is the node's ``attrs["quant_step"]``; a quantized model's float inputs
are quantized the way its own ``QUANTIZE`` would.

torch decomposes scaled-dot-product attention as ``(q * sqrt(s)) @ (k * sqrt(s))^T`` with
``s = 1/sqrt(head_dim)``, and the converter folds each ``sqrt(s)`` into the q and k
projections' weights: a ``BATCH_MATMUL`` whose logits reach the ``SOFTMAX`` unscaled marks
the ops from each operand back to its ``FULLY_CONNECTED`` with ``attrs["folded_scale"]``,
and their values and weights are divided by it, so they are torch's q and k again (an
ONNX export's own ``Mul`` by ``sqrt(s)`` is then left unpaired). Where q, k and v are
``SLICE``s of one projection (GPT-2's ``c_attn``) the scale stays a ``MUL`` on the q and k
pieces, and the ops after it are divided by it instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from parity.backend import Backend
from parity.errors import ModelLoadError
from parity.graph import Graph, Node, TensorSpec
from parity.quantized import STEP

FOLDED_SCALE = "folded_scale"

NHWC, NCHW = "NHWC", "NCHW"
# Ops whose 4-D tensors are channels-last by definition.
_NHWC_OPS = frozenset({
    "CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "MAX_POOL_2D", "AVERAGE_POOL_2D",
    "L2_POOL_2D", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "SPACE_TO_DEPTH",
    "DEPTH_TO_SPACE",
})
# Ops that hold a module's weights (the module a fused location names them after).
_WEIGHTED_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED"})
# ``torch.nn.modules.conv.Conv2d_stem`` -> ``stem``: a module's class path, then its attribute.
_MODULE = re.compile(r"^(?:[\w.]+\.)?[A-Z]\w*?_(?P<attr>\w+)$")
_ENUMS = {"Padding": schema.Padding, "FusedActivationFunction": schema.ActivationFunctionType}
_RENAMES = {"StrideH": "stride_h", "StrideW": "stride_w", "DilationHFactor": "dilation_h",
            "DilationWFactor": "dilation_w", "FilterHeight": "kernel_h",
            "FilterWidth": "kernel_w", "FusedActivationFunction": "activation",
            "Padding": "padding", "DepthMultiplier": "depth_multiplier", "Axis": "axis",
            "AdjX": "adj_x", "AdjY": "adj_y"}


class LiteRtBackend(Backend):
    """Runs ``.tflite`` models with the LiteRT interpreter on the CPU, builtin kernels."""

    name = "tflite"
    extra = "tflite"

    def __init__(self, path: Path, weights: Path | None = None, **options: Any) -> None:
        super().__init__(path, weights, **options)
        try:
            self.interpreter = Interpreter(
                model_path=str(self.path), experimental_preserve_all_tensors=True,
                experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(self.path, f"LiteRT cannot load it ({_one_line(exc)})"
                                 ) from None
        self._tensors = {t["index"]: t for t in self.interpreter.get_tensor_details()}
        self._inputs = self.interpreter.get_input_details()

    @cached_property
    def _ops(self) -> list[dict[str, Any]]:
        """The operators that compute from data (not from constants alone), in order."""
        produced = {int(d["index"]) for d in self._inputs}
        ops = []
        for op in self.interpreter._get_ops_details():  # the public API has no op list
            if op["op_name"] == "DELEGATE" or not len(op["outputs"]):
                continue
            if any(int(i) in produced for i in op["inputs"]):
                produced.update(int(o) for o in op["outputs"])
                ops.append(op)
        return ops

    def _node_name(self, tensor: int) -> str:
        return str(self._tensors[tensor]["name"])

    def _load_graph(self) -> Graph:
        inputs = tuple(TensorSpec(str(d["name"]), _signature(d), _float_name(d["dtype"]))
                       for d in self._inputs)
        producer = {int(d["index"]): str(d["name"]) for d in self._inputs}
        layouts = {int(d["index"]): _input_layout(d) for d in self._inputs}
        flattened: dict[int, int] = {}
        reshaped: dict[str, str] = {}  # node -> the first RESHAPE of its value
        options = _builtin_options(self.path, len(self.interpreter._get_ops_details()))
        readers: dict[int, list[str]] = {}
        factors: dict[str, float] = {}  # MUL node -> the one-value constant it multiplies by
        for op in self._ops:
            for tensor in op["inputs"]:
                readers.setdefault(int(tensor), []).append(op["op_name"])
        nodes = []
        for op in self._ops:
            out = int(op["outputs"][0])
            shape = tuple(int(d) for d in self._tensors[out]["shape"])
            restored = _restored(op, shape, self._tensors, flattened)
            layout = _layout(op, shape, layouts, self._tensors, self._perm(op), restored)
            layouts[out] = layout
            origin = _flattened_from(op, shape, layouts, self._tensors, flattened)
            if origin is not None:
                flattened[out] = origin
            source = int(op["inputs"][0])
            if source in producer and self._is_plumbing(op, readers.get(out, []),
                                                       layouts.get(source, NCHW), restored):
                producer[out] = producer[source]  # consumers read what it reads
                continue
            if op["op_name"] == "TRANSPOSE":
                layouts[out] = layout = NCHW  # the model's own permutation: no layout
            name = self._node_name(out)
            reads = tuple(dict.fromkeys(producer[int(i)] for i in op["inputs"]
                                        if int(i) in producer))
            if op["op_name"] == "RESHAPE" and reads:
                reads = (_reshape_source(reads[0], name, reshaped),)
            attrs = dict(options.get(int(op["index"]), {}))
            if layout == NHWC and len(shape) == 4:
                attrs["layout"] = NHWC
            if self._perm(op):
                attrs["perm"] = self._perm(op)
            if op["op_name"] == "MUL" and len(set(int(i) for i in op["inputs"])) == 1:
                attrs["exponent"] = 2  # x * x: torch's x.pow(2) (RMSNorm's mean square)
            order = _flatten_order(op, shape, layouts, self._tensors)
            if order:
                attrs["flatten_order"] = order
            step = _step(self._tensors[out])
            if step:
                attrs[STEP] = step
            scope = _scope(name, op["op_name"])
            nodes.append(Node(name, op["op_name"], reads, attrs, shape, scope))
            if op["op_name"] == "MUL":
                factor = self._constant_factor(op, producer)
                if factor is not None:
                    factors[name] = factor
            for tensor in op["outputs"]:
                producer[int(tensor)] = name
        outputs = tuple(producer.get(int(d["index"]), str(d["name"]))
                        for d in self.interpreter.get_output_details())
        graph = Graph(tuple(nodes), inputs, outputs, source=str(self.path))
        scales = _folded_attention_scales(graph, factors)
        if not scales:
            return graph
        nodes = [replace(n, attrs={**n.attrs, FOLDED_SCALE: scales[n.name]})
                 if n.name in scales else n for n in nodes]
        return Graph(tuple(nodes), inputs, outputs, source=str(self.path))

    def _is_plumbing(self, op: Mapping[str, Any], readers: list[str], source: str,
                     restored: int | None) -> bool:
        """A converter's layout or padding plumbing, not a node: a TRANSPOSE between NCHW
        and NHWC (a RESHAPE after it says which order it flattens, ``flatten_order``), a
        RESHAPE back to the 4-D shape its input was flattened from (``restored``: the
        converter runs ConvNeXt's channels-first LayerNorm on ``(1, H*W, C)``), or a PAD
        read only by the pool or conv it pads for (torch's ``padding=`` on that op).

        A transpose to NHWC is plumbing when only NHWC ops (or their PAD) read it, one
        back to NCHW when it reads an NHWC tensor: the same permutation elsewhere is the
        model's own (ViT's keys split into heads and transposed for ``q @ k^T``)."""
        if op["op_name"] == "TRANSPOSE":
            perm = self._perm(op)
            if perm == (0, 2, 3, 1):
                return bool(readers) and all(r in _NHWC_OPS or r in ("PAD", "PADV2")
                                             for r in readers)
            return perm == (0, 3, 1, 2) and source == NHWC
        if restored is not None:
            return bool(readers)
        return op["op_name"] in ("PAD", "PADV2") and len(readers) == 1 and readers[0] in (
            "AVERAGE_POOL_2D", "MAX_POOL_2D", "CONV_2D", "DEPTHWISE_CONV_2D")

    def _constant_factor(self, op: Mapping[str, Any], computed: Mapping[int, str]
                         ) -> float | None:
        """The one-value constant a MUL multiplies its computed input by, if it has one."""
        for tensor in (int(i) for i in op["inputs"]):
            if tensor in computed or tensor < 0:
                continue
            try:
                value = self.interpreter.get_tensor(tensor)
            except ValueError:  # computed at run time
                return None
            return float(value.reshape(-1)[0]) if value.size == 1 else None
        return None

    def _perm(self, op: Mapping[str, Any]) -> tuple[int, ...]:
        """A TRANSPOSE's permutation (its constant second input), else ``()``."""
        if op["op_name"] != "TRANSPOSE" or len(op["inputs"]) < 2:
            return ()
        try:
            return tuple(int(v) for v in self.interpreter.get_tensor(int(op["inputs"][1])))
        except ValueError:  # computed at run time
            return ()

    def _run(self, feeds: Mapping[str, np.ndarray], fetch: list[str]) -> dict[str, Any]:
        for detail in self._inputs:
            value = np.asarray(feeds[str(detail["name"])])
            self.interpreter.set_tensor(detail["index"], _to_tensor(value, detail))
        try:
            self.interpreter.invoke()
        except RuntimeError as exc:
            raise ModelLoadError(self.path, f"LiteRT cannot run it ({_one_line(exc)})"
                                 ) from None
        by_name = {self._node_name(int(op["outputs"][0])): int(op["outputs"][0])
                   for op in self._ops}
        return {name: self._unscaled(name, dequantized(self.interpreter.get_tensor(
            by_name[name]), self._tensors[by_name[name]])) for name in fetch}

    def _unscaled(self, node: str, value: np.ndarray) -> np.ndarray:
        """``value`` without the attention scale the converter folded into it, if any."""
        factor = self.graph.node(node).attrs.get(FOLDED_SCALE) if node in self.graph else None
        return value if factor is None else (value / np.float32(factor)).astype(value.dtype)

    def parameters(self, node: str) -> dict[str, np.ndarray]:
        """Weight and bias of a conv or fully-connected op, in torch/ONNX layout."""
        op = next((o for o in self._ops if self._node_name(int(o["outputs"][0])) == node), None)
        if op is None or op["op_name"] not in ("CONV_2D", "DEPTHWISE_CONV_2D",
                                                "FULLY_CONNECTED"):
            return {}
        found = {}
        for key, position in (("weight", 1), ("bias", 2)):
            if position < len(op["inputs"]) and int(op["inputs"][position]) >= 0:
                index = int(op["inputs"][position])
                try:
                    found[key] = dequantized(self.interpreter.get_tensor(index),
                                             self._tensors[index])
                except ValueError:  # a weight produced by a DEQUANTIZE op at run time
                    return {}
        weight = found.get("weight")
        if weight is not None and weight.ndim == 4:  # OHWI (depthwise: 1HWO) -> OIHW
            found["weight"] = (weight.transpose(3, 0, 1, 2) if op["op_name"] ==
                               "DEPTHWISE_CONV_2D" else weight.transpose(0, 3, 1, 2))
        factor = float(self.graph.node(node).attrs.get(FOLDED_SCALE, 1.0))
        return {key: np.asarray(value, dtype=np.float64) / factor
                for key, value in found.items()}

    def close(self) -> None:
        self.interpreter = None


def _folded_attention_scales(graph: Graph, factors: Mapping[str, float]) -> dict[str, float]:
    """Node -> the factor ``sqrt(1/sqrt(head_dim))`` the converter folded into it: the ops
    from each operand of an attention's logits ``BATCH_MATMUL`` (read by a ``SOFTMAX``,
    through a mask ``ADD`` or a ``RESHAPE``, with no scaling between) back to the
    ``FULLY_CONNECTED`` projection whose weights carry it; or, where the projection is
    shared (GPT-2's one ``c_attn`` cut into q, k and v by ``SLICE``s), back to the ``MUL``
    by that factor after the piece (``factors``: each MUL's constant), which torch
    applies inside its attention op."""
    found: dict[str, float] = {}
    for node in graph.nodes:
        if node.op != "BATCH_MATMUL" or len(node.inputs) != 2 or not _feeds_softmax(graph, node):
            continue
        first = graph.node(node.inputs[0]) if node.inputs[0] in graph else None
        if first is None or not first.shape or not first.shape[-1]:
            continue
        head_dim = first.shape[-2] if node.attrs.get("adj_x") else first.shape[-1]
        if not head_dim:
            continue
        factor = float(head_dim) ** -0.25
        chains = [_to_projection(graph, name, factors, factor) for name in node.inputs]
        if all(chains):
            for chain in chains:
                found.update(dict.fromkeys(chain, factor))
    return found


def _feeds_softmax(graph: Graph, node: Node) -> bool:
    while True:
        readers = graph.consumers.get(node.name, ())
        if len(readers) != 1:
            return False
        node = graph.node(readers[0])
        if node.op == "SOFTMAX":
            return True
        if node.op not in ("ADD", "RESHAPE"):
            return False


def _to_projection(graph: Graph, name: str, factors: Mapping[str, float],
                   factor: float) -> list[str]:
    """The ops from ``name`` up through RESHAPE/TRANSPOSE to a FULLY_CONNECTED, each read
    only by the next, or the ops after a MUL by ``factor`` (the MUL keeps its value);
    empty when the chain reaches another op."""
    chain = []
    while name in graph:
        node = graph.node(name)
        if node.op == "MUL" and chain and np.isclose(factors.get(name, 0.0), factor):
            return chain
        chain.append(name)
        if node.op == "FULLY_CONNECTED":
            return chain
        if node.op not in ("RESHAPE", "TRANSPOSE") or len(node.inputs) != 1 or len(
                graph.consumers.get(node.inputs[0], ())) != 1:
            return []
        name = node.inputs[0]
    return []


def dequantized(value: np.ndarray, detail: Mapping[str, Any]) -> np.ndarray:
    """A tensor's real values: ``(q - zero_point) * scale`` for a quantized one."""
    params = detail["quantization_parameters"]
    scales, zeros = params["scales"], params["zero_points"]
    if not len(scales) or np.issubdtype(value.dtype, np.floating):
        return value
    axis = int(params["quantized_dimension"])
    shape = [1] * value.ndim
    if len(scales) > 1 and value.ndim:
        shape[axis] = len(scales)
    scale = np.asarray(scales, np.float64).reshape(shape if len(scales) > 1 else ())
    zero = np.asarray(zeros, np.float64).reshape(shape if len(zeros) > 1 else ())
    return ((value.astype(np.float64) - zero) * scale).astype(np.float32)


def _step(detail: Mapping[str, Any]) -> float:
    """The (largest) quantization step of an integer tensor, 0 for a float one."""
    scales = detail["quantization_parameters"]["scales"]
    if not len(scales) or np.issubdtype(np.dtype(detail["dtype"]), np.floating):
        return 0.0
    return float(np.max(scales))


def _to_tensor(value: np.ndarray, detail: Mapping[str, Any]) -> np.ndarray:
    """A float feed quantized for a quantized input, else cast to the input's dtype."""
    dtype = np.dtype(detail["dtype"])
    scale, zero = detail["quantization"]
    if scale and not np.issubdtype(dtype, np.floating) and np.issubdtype(value.dtype,
                                                                         np.floating):
        info = np.iinfo(dtype)
        value = np.clip(np.round(value / scale) + zero, info.min, info.max)
    return np.ascontiguousarray(value, dtype=dtype)


def _float_name(dtype: Any) -> str:
    """The dtype a feed should have: float32 for quantized inputs (parity quantizes)."""
    kind = np.dtype(dtype)
    return "float32" if kind in (np.int8, np.uint8, np.int16) else kind.name


def _signature(detail: Mapping[str, Any]) -> tuple[int | None, ...]:
    shape = detail.get("shape_signature", detail["shape"])
    return tuple(None if int(d) < 0 else int(d) for d in shape)


def _input_layout(detail: Mapping[str, Any]) -> str:
    shape = detail["shape"]
    return NHWC if len(shape) == 4 and shape[-1] in (1, 3) and shape[1] not in (1, 3) else NCHW


def _layout(op: Mapping[str, Any], shape: tuple[int, ...], layouts: dict[int, str],
            tensors: Mapping[int, Mapping[str, Any]], perm: tuple[int, ...],
            restored: int | None) -> str:
    """The layout of an op's output: NHWC ops make NHWC, a TRANSPOSE permutes its input's,
    a RESHAPE back to the 4-D tensor its input was flattened from has that tensor's
    (``restored``, see :func:`_restored`), other ops keep their first 4-D input's."""
    if len(shape) != 4:
        return NCHW
    if op["op_name"] in _NHWC_OPS:
        return NHWC
    sources = [int(i) for i in op["inputs"] if int(i) in layouts]
    source = next((s for s in sources if len(tensors[s]["shape"]) == 4), None)
    if source is None:
        return NCHW if restored is None else layouts[restored]
    if op["op_name"] == "TRANSPOSE":
        if perm == (0, 2, 3, 1):
            return NHWC if layouts[source] == NCHW else NCHW
        if perm == (0, 3, 1, 2):
            return NCHW if layouts[source] == NHWC else NHWC
    return layouts[source]


def _reshape_source(source: str, name: str, reshaped: dict[str, str]) -> str:
    """The node a RESHAPE ``name`` of ``source`` reads in the graph: the first RESHAPE of
    ``source`` when there was one, which holds the same values in the same order.

    litert-torch reshapes MobileViT's patches once to ``(P, N, C)`` for the residual and
    again to ``(1, P*N, C)`` for the LayerNorm, both from the tensor before; torch reshapes
    once and normalises that. Read from the first reshape, the LayerNorm stays downstream
    of the value torch's reads."""
    first = reshaped.setdefault(source, name)
    return source if first == name else first


def _restored(op: Mapping[str, Any], shape: tuple[int, ...],
              tensors: Mapping[int, Mapping[str, Any]], flattened: Mapping[int, int]) -> int | None:
    """The 4-D tensor a RESHAPE gives back the shape of: its input holds that tensor's
    values flattened (:func:`_flattened_from`), else ``None``."""
    if op["op_name"] != "RESHAPE" or len(shape) != 4:
        return None
    origin = flattened.get(int(op["inputs"][0]))
    if origin is None or tuple(int(d) for d in tensors[origin]["shape"]) != shape:
        return None
    return origin


def _flattened_from(op: Mapping[str, Any], shape: tuple[int, ...], layouts: Mapping[int, str],
                    tensors: Mapping[int, Mapping[str, Any]],
                    flattened: Mapping[int, int]) -> int | None:
    """The 4-D tensor whose values an op's output of another rank holds in its order: a
    RESHAPE's 4-D input, kept by the ops after it that change no shape and hold no weights.

    litert-torch runs ConvNeXt's channels-first LayerNorm on ``(1, H*W, C)`` and reshapes
    the result back to the NHWC ``(1, H, W, C)`` it came from; after a FULLY_CONNECTED
    (a Linear over the channels) the 4-D tensor is the one torch permuted to channels-last
    itself, so it keeps no layout."""
    if len(shape) == 4 or op["op_name"] in _WEIGHTED_OPS:
        return None
    source = next((int(i) for i in op["inputs"] if int(i) in layouts), None)
    if source is None:
        return None
    dims = tuple(int(d) for d in tensors[source]["shape"])
    if op["op_name"] == "RESHAPE" and len(dims) == 4:
        return source
    return flattened.get(source) if dims == shape else None


def _flatten_order(op: Mapping[str, Any], shape: tuple[int, ...], layouts: Mapping[int, str],
                   tensors: Mapping[int, Mapping[str, Any]]) -> str:
    """The layout a RESHAPE of a 4-D tensor to 2-D flattens in (NCHW after the converter's
    TRANSPOSE back from NHWC), else ``""``."""
    source = int(op["inputs"][0])
    if (op["op_name"] != "RESHAPE" or len(shape) != 2 or source not in layouts
            or len(tensors[source]["shape"]) != 4):
        return ""
    return layouts[source]


def _scope(name: str, op: str) -> str:
    """``Net/torch.nn.modules.container.Sequential_layer1/...BasicBlock_0/...Conv2d_conv1;``
    -> ``layer1.0.conv1``: the module path the op's name locates it in.

    A converter that merges ops fuses their locations into one name (``loc;;loc;;loc;N``),
    the op's own first: a conv with BatchNorm and ReLU fused in is ``relu;;bn;;conv``,
    compared at the ReLU. But litert-torch names ViT's value projection ``attention;;
    attention/q_proj;;attention/v_proj`` (the head-split shape the projections share is
    fused into each): an op with weights located in a module and in modules inside it
    belongs to the deepest of those, which holds the weights (among equally deep ones the
    last, which the fusion added last)."""
    paths = [_module_path(location) for location in name.split(";;")]
    own = paths[0]
    inner = [path for path in paths[1:] if len(path) > len(own) and path[:len(own)] == own]
    if op not in _WEIGHTED_OPS or not inner:
        return ".".join(own)
    deepest = max(len(path) for path in inner)
    return ".".join(next(path for path in reversed(inner) if len(path) == deepest))


def _module_path(location: str) -> list[str]:
    """A location's module attributes, outermost first (its ``;N`` op counter dropped)."""
    parts = location.split(";")[0].split("/")[1:]
    return [m["attr"] for m in map(_MODULE.match, parts) if m]


def _builtin_options(path: Path, count: int) -> dict[int, dict[str, Any]]:
    """Per operator index, its builtin options (strides, padding, fused activation...)."""
    buffer = path.read_bytes()
    model = schema.Model.GetRootAs(buffer, 0)
    if not model.SubgraphsLength():
        return {}
    subgraph = model.Subgraphs(0)
    names = {v: k for k, v in vars(schema.BuiltinOptions).items() if not k.startswith("_")}
    found: dict[int, dict[str, Any]] = {}
    for index in range(min(count, subgraph.OperatorsLength())):
        operator = subgraph.Operators(index)
        kind = names.get(operator.BuiltinOptionsType())
        table = operator.BuiltinOptions()
        if kind is None or table is None or not hasattr(schema, kind):
            continue
        options = getattr(schema, kind)()
        options.Init(table.Bytes, table.Pos)
        found[index] = _option_values(options)
    return found


def _option_values(options: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for method, key in _RENAMES.items():
        if hasattr(options, method):
            value = getattr(options, method)()
            enum = _ENUMS.get(method)
            if enum is not None:
                value = next((k for k, v in vars(enum).items() if v == value), value)
            values[key] = value
    return values


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
