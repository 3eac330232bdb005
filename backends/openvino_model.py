"""OpenVINO adapter: ONNX files and OpenVINO IR (``.xml`` + ``.bin``) on the CPU plugin.

Every requested node's output is added to a copy of the model as an extra output, so one
inference of the compiled copy yields them all. The CPU plugin runs in f32 with accuracy
first (no bf16 or f16 inference on CPUs that have them), so a difference it shows is the
model's, not the plugin's precision choice.

Nodes are OpenVINO ops named by their friendly name (an ONNX model keeps its node names;
``openvino.convert_model`` of a torch module writes ``__module.layer1.0.conv1/aten::...``,
read as the scope ``layer1.0.conv1``). Constants, shape computations (``ShapeOf`` and what
depends only on shapes and constants) and ``Result`` are not nodes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from parity.align.slices import COMPUTED
from parity.backend import Backend
from parity.backends.openvino_model_record import RECORD
from parity.errors import ModelLoadError
from parity.graph import Graph, Node, TensorSpec

_CPU_CONFIG = {"INFERENCE_PRECISION_HINT": "f32", "EXECUTION_MODE_HINT": "ACCURACY"}
_NOT_NODES = frozenset({"Parameter", "Constant", "Result", "ShapeOf"})
_LINEAR = frozenset({"Convolution", "GroupConvolution", "ConvolutionBackpropData", "MatMul"})
# Constant inputs read as attributes (``_input_attrs``), by op: attribute -> input index.
_INPUT_ATTRS: dict[str, dict[str, int]] = {
    "Transpose": {"perm": 1},
    "Slice": {"starts": 1, "ends": 2, "steps": 3, "axes": 4},
    "StridedSlice": {"starts": 1, "ends": 2, "steps": 3},
    "Gather": {"axis": 2},
    **{f"Reduce{kind}": {"axes": 1} for kind in ("Mean", "Sum", "Max", "Min", "Prod", "L2")},
}
_TO_END = 2**63 - 1  # an end past any axis (what torch writes for "to the end")
_NARROW_STORAGE = {ov.Type.f16: "float16", ov.Type.bf16: "bfloat16"}
_MODULE_SCOPE = re.compile(r"^__module\.(?P<scope>[^/]+)/")
# Which input of an op holds which parameter (Backend.parameters keys).
_PARAM_INPUTS = {
    "Convolution": {"weight": 1}, "GroupConvolution": {"weight": 1},
    "ConvolutionBackpropData": {"weight": 1}, "MatMul": {"weight": 1},
    "BatchNormInference": {"gamma": 1, "beta": 2, "mean": 3, "var": 4},
    "PRelu": {"slope": 1},
}


@dataclass(frozen=True)
class _Unit:
    """One node: ``head`` gives its op, attributes and inputs; ``tail`` its output."""

    head: ov.Node
    tail: ov.Node
    epilogue: tuple[ov.Node, ...] = ()


class OpenVinoBackend(Backend):
    """Runs ONNX or OpenVINO IR models with OpenVINO's CPU plugin."""

    name = "openvino"
    extra = "openvino"

    def __init__(self, path: Path, weights: Path | None = None, **options: Any) -> None:
        super().__init__(path, weights, **options)
        self.core = ov.Core()
        self.model = _read_model(self.core, self.path, weights)
        self._compiled: dict[tuple[str, ...], tuple[ov.InferRequest, list[ov.ConstOutput]]] = {}

    @cached_property
    def _units(self) -> dict[str, _Unit]:
        """The nodes, by name, in topological order.

        A conv or MatMul with weights and the constant ``Add``/``Multiply`` OpenVINO splits
        off it (the bias ``Add``, Gemm's ``alpha``) are one node, as in ONNX, named by the
        last op; a MatMul of two activations (attention's scores) keeps the constant it
        adds (T5's position bias) a node of its own.
        """
        renames = _onnx_names(self.path, self.model)
        derived = self._derived
        absorbed: set[str] = set()
        units: dict[str, _Unit] = {}
        for op in self.model.get_ordered_ops():
            kind, friendly = op.get_type_name(), op.get_friendly_name()
            if kind in _NOT_NODES or friendly in derived or friendly in absorbed:
                continue
            epilogue = _epilogue(op, derived) if kind in _LINEAR and any(
                v.get_node().get_friendly_name() in derived for v in op.input_values()) else ()
            absorbed.update(e.get_friendly_name() for e in epilogue)
            tail = epilogue[-1] if epilogue else op
            name = renames.get(tail.get_friendly_name(), tail.get_friendly_name())
            units[name] = _Unit(op, tail, epilogue)
        return units

    @cached_property
    def _derived(self) -> set[str]:
        """Friendly names of the ops computed from constants and shapes only."""
        return _derived(self.model)

    @cached_property
    def _names(self) -> dict[str, str]:
        """Friendly name of every op that is or ends a node -> the node's name."""
        names = {}
        for name, unit in self._units.items():
            for op in (unit.head, *unit.epilogue):
                names[op.get_friendly_name()] = name
        return names

    def _load_graph(self) -> Graph:
        inputs = tuple(_tensor_spec(p) for p in self.model.get_parameters())
        points = {**self._names, **{spec.name: spec.name for spec in inputs}}
        nodes = []
        for name, unit in self._units.items():
            reads = tuple(dict.fromkeys(
                points[source] for source in (
                    value.get_node().get_friendly_name() for value in unit.head.input_values())
                if source in points))
            match = _MODULE_SCOPE.match(name)
            attrs = {**_attrs(unit.head), **_input_attrs(unit.head)}
            stored = _stored_dtype((unit.head, *unit.epilogue), self._derived)
            if stored:
                attrs["stored_dtype"] = stored
            nodes.append(Node(name, unit.head.get_type_name(), reads, attrs,
                              _shape(unit.tail.get_output_partial_shape(0)),
                              match["scope"] if match else ""))
        outputs = tuple(points.get(name, name) for name in (
            result.input_value(0).get_node().get_friendly_name()
            for result in self.model.get_results()))
        return Graph(tuple(nodes), inputs, outputs, source=str(self.path))

    def _run(self, feeds: Mapping[str, np.ndarray], fetch: list[str]) -> dict[str, Any]:
        request, ports = self._compile(tuple(fetch))
        typed = {spec.name: np.ascontiguousarray(feeds[spec.name], dtype=spec.dtype)
                 for spec in self.graph.inputs}
        try:
            results = request.infer(typed)
        except RuntimeError as exc:
            raise ModelLoadError(self.path, f"OpenVINO cannot run it ({_one_line(exc)})"
                                 ) from None
        # copies: the request's output buffers are reused by its next inference
        return {name: np.array(results[port]) for name, port in zip(fetch, ports)}

    def _compile(self, fetch: tuple[str, ...]
                 ) -> tuple[ov.InferRequest, list[ov.ConstOutput]]:
        """An inference request of the model compiled with ``fetch`` as extra outputs, and
        the output port of each fetched node."""
        if fetch not in self._compiled:
            model = self.model.clone()
            ops = {op.get_friendly_name(): op for op in model.get_ordered_ops()}
            friendly = {name: unit.tail.get_friendly_name() for name, unit in self._units.items()}
            model.add_outputs([ops[friendly[name]].output(0) for name in fetch])
            # the model's outputs in order: which of them is each fetched node's
            position = {}
            for index, result in enumerate(model.get_results()):
                source = result.input_value(0)
                if source.get_index() == 0:
                    position.setdefault(source.get_node().get_friendly_name(), index)
            try:
                compiled = self.core.compile_model(model, "CPU", _CPU_CONFIG)
            except RuntimeError as exc:
                raise ModelLoadError(self.path, f"OpenVINO cannot compile it "
                                                f"({_one_line(exc)})") from None
            ports = [compiled.outputs[position[friendly[n]]] for n in fetch]
            self._compiled = {fetch: (compiled.create_infer_request(), ports)}
        return self._compiled[fetch]  # only the latest compiled copy is kept

    def parameters(self, node: str) -> dict[str, np.ndarray]:
        """Constant inputs of the node, keyed as :meth:`Backend.parameters`; the bias of a
        Convolution or MatMul is the constant of the ``Add`` that follows it."""
        unit = self._units.get(node)
        if unit is None:
            return {}
        op = unit.head
        found = {}
        for key, index in _PARAM_INPUTS.get(op.get_type_name(), {}).items():
            value = _constant(op, index)
            if value is not None:
                found[key] = value
        if (op.get_type_name() == "MatMul" and "weight" in found
                and not op.get_attributes().get("transpose_b")):
            found["weight"] = found["weight"].T
        if op.get_type_name() == "GroupConvolution" and "weight" in found:
            weight = found["weight"]  # (groups, out/groups, in/groups, kh, kw)
            found["weight"] = weight.reshape(-1, *weight.shape[2:])
        bias = next((_other_constant(e) for e in unit.epilogue
                     if e.get_type_name() == "Add"), None)
        if bias is not None and "weight" in found:
            found["bias"] = bias.ravel()
        return {key: np.asarray(value, dtype=np.float64) for key, value in found.items()}

    def close(self) -> None:
        self._compiled.clear()


def _read_model(core: ov.Core, path: Path, weights: Path | None) -> ov.Model:
    """An ONNX file or an IR ``.xml`` with its ``.bin`` (``weights``, else beside it)."""
    args = [str(path)]
    if path.suffix.lower() == ".xml":
        bin_path = Path(weights) if weights else path.with_suffix(".bin")
        if not bin_path.is_file():
            raise ModelLoadError(path, f"no weights: {bin_path.name} not found next to it; "
                                       "pass --weights")
        args.append(str(bin_path))
    try:
        return core.read_model(*args)
    except RuntimeError as exc:
        raise ModelLoadError(path, f"OpenVINO cannot read it ({_one_line(exc)})") from None


def _onnx_names(path: Path, model: ov.Model) -> dict[str, str]:
    """For a model read from ONNX: friendly name -> the ONNX node name, where OpenVINO named
    an op after the tensor it produces (a graph output) rather than after its node."""
    if path.suffix.lower() != ".onnx":
        return {}
    try:
        import onnx
    except ImportError:  # names stay OpenVINO's
        return {}
    graph = onnx.load(str(path), load_external_data=False).graph
    by_tensor = {node.output[0]: node.name for node in graph.node if node.name and node.output}
    taken = {op.get_friendly_name() for op in model.get_ordered_ops()}
    renames = {}
    for op in model.get_ordered_ops():
        names = op.output(0).get_names() if op.get_output_size() else set()
        for tensor in sorted(names):
            node = by_tensor.get(tensor)
            if node and node != op.get_friendly_name() and node not in taken:
                renames[op.get_friendly_name()] = node
                taken.add(node)
                break
    return renames


def _constant(op: ov.Node, index: int) -> np.ndarray | None:
    """The constant feeding input ``index`` of ``op``, through Convert (f16 IR weights)."""
    if index >= op.get_input_size():
        return None
    source = op.input_value(index).get_node()
    while source.get_type_name() in ("Convert", "Reshape") and source.get_input_size():
        source = source.input_value(0).get_node()
    if source.get_type_name() != "Constant":
        return None
    return np.asarray(source.get_data(), dtype=np.float64)


def _stored_dtype(ops: tuple[ov.Node, ...], derived: set[str]) -> str | None:
    """``float16``/``bfloat16`` where ``ops`` read a constant stored so and converted to
    f32 on load (``openvino.save_model`` compresses weights to f16 by default), else None."""
    pending = [value.get_node() for op in ops for value in op.input_values()]
    seen: set[str] = set()
    while pending:
        source = pending.pop()
        name = source.get_friendly_name()
        if name in seen or name not in derived:
            continue
        seen.add(name)
        if source.get_type_name() == "Convert":
            stored = source.input_value(0).get_element_type()
            if stored in _NARROW_STORAGE and source.get_output_element_type(0) == ov.Type.f32:
                return _NARROW_STORAGE[stored]
        pending.extend(value.get_node() for value in source.input_values())
    return None


def _derived(model: ov.Model) -> set[str]:
    """Friendly names of the ops computed from constants and shapes only."""
    derived: set[str] = set()
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        sources = [value.get_node().get_friendly_name() for value in op.input_values()]
        if kind in ("Constant", "ShapeOf") or (
                kind not in ("Parameter", "Result") and sources
                and all(source in derived for source in sources)):
            derived.add(op.get_friendly_name())
    return derived


def _epilogue(op: ov.Node, derived: set[str]) -> tuple[ov.Node, ...]:
    """The constant ``Add``/``Multiply`` ops that follow ``op`` one after the other, each
    the only reader of the one before (but for the ``ShapeOf`` a bias reshape reads). A
    ``Multiply`` joins only by one number (Gemm's ``alpha``): one by a tensor is a layer of
    its own (PoolFormer's layer scale after its convolution)."""
    chain: list[ov.Node] = []
    current = op
    while True:
        readers = [target.get_node() for target in current.output(0).get_target_inputs()
                   if target.get_node().get_type_name() != "ShapeOf"]
        if len(readers) != 1 or readers[0].get_type_name() not in ("Add", "Multiply"):
            return tuple(chain)
        step = readers[0]
        others = [v.get_node() for v in step.input_values() if v.get_node() is not current]
        if len(others) != 1 or others[0].get_friendly_name() not in derived:
            return tuple(chain)
        if step.get_type_name() == "Multiply":
            factor = _other_constant(step)
            if factor is None or factor.size != 1:
                return tuple(chain)
        chain.append(step)
        current = step


def _other_constant(step: ov.Node) -> np.ndarray | None:
    """The constant operand of an epilogue ``Add``/``Multiply``."""
    for index in range(step.get_input_size()):
        value = _constant(step, index)
        if value is not None:
            return value
    return None


def _attrs(op: ov.Node) -> dict[str, Any]:
    """OpenVINO attributes under parity's neutral names (``pad`` = begins + ends)."""
    raw = op.get_attributes()
    attrs: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, (list, tuple)):
            value = tuple(int(v) if isinstance(v, (int, np.integer)) else v for v in value)
        elif isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, (int, float, str, bool, tuple)):
            attrs[RECORD.attribute_names.get(key, key)] = value
    if "pads_begin" in attrs and "pads_end" in attrs:
        attrs["pad"] = tuple(attrs.pop("pads_begin")) + tuple(attrs.pop("pads_end"))
    if "rounding_type" in attrs:
        attrs["ceil_mode"] = str(attrs.pop("rounding_type")).lower() == "ceil"
    if op.get_type_name() == "Convolution":
        attrs.setdefault("group", 1)
    if op.get_type_name() == "GroupConvolution":
        attrs["group"] = int(op.get_input_partial_shape(1)[0].get_length())
    return attrs


def _input_attrs(op: ov.Node) -> dict[str, Any]:
    """Parameters an op takes as constant inputs, under ONNX's names: a ``Transpose``'s
    ``perm``, what a ``Slice``/``StridedSlice`` cuts (``starts``, ``ends``, ``axes``,
    ``steps``), a reduction's or a ``Gather``'s axes (so alignment can tell two transposes
    or two slices of one tensor apart, and the checks read the axes)."""
    kind = op.get_type_name()
    found: dict[str, Any] = {}
    computed = []
    for key, index in _INPUT_ATTRS.get(kind, {}).items():
        value = _constant(op, index)
        if value is not None:
            found[key] = tuple(int(v) for v in value.reshape(-1))
        elif index < op.get_input_size():
            computed.append(key)
    count = next((len(v) for v in found.values()), 0)
    for key in (k for k in computed if k in ("starts", "ends")):
        found[key] = (COMPUTED,) * count  # a bound computed from the shapes at run time
    if kind == "StridedSlice":
        return _strided_cut(op.get_attributes(), found)
    if kind == "Gather" and len(found.get("axis", ())) == 1:
        found["axis"] = found["axis"][0]
    return found


def _strided_cut(attrs: Mapping[str, Any], found: dict[str, Any]) -> dict[str, Any]:
    """A ``StridedSlice``'s bounds as a ``Slice``'s: a masked begin starts at 0, a masked end
    runs to the end (nothing is known of one that adds, drops or skips axes)."""
    if "starts" not in found or "ends" not in found or any(
            any(attrs.get(mask, ())) for mask in
            ("new_axis_mask", "shrink_axis_mask", "ellipsis_mask")):
        return {}
    count = len(found["starts"])
    masked = [tuple(attrs.get(mask, ())) + (0,) * count for mask in ("begin_mask", "end_mask")]
    return {"starts": tuple(0 if masked[0][i] else v for i, v in enumerate(found["starts"])),
            "ends": tuple(_TO_END if masked[1][i] else v for i, v in enumerate(found["ends"])),
            "axes": tuple(range(count)), "steps": found.get("steps", (1,) * count)}


def _shape(shape: ov.PartialShape) -> tuple[int | None, ...] | None:
    if shape.rank.is_dynamic:
        return None
    return tuple(d.get_length() if d.is_static else None for d in shape)


def _tensor_spec(parameter: ov.Node) -> TensorSpec:
    dtype = parameter.get_output_element_type(0).to_dtype()
    return TensorSpec(parameter.get_friendly_name(),
                      _shape(parameter.get_output_partial_shape(0)), np.dtype(dtype).name)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
