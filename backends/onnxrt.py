"""ONNX Runtime adapter: intermediates are exposed by adding node outputs as graph outputs."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import external_data_helper, helper, numpy_helper, shape_inference

from parity.align.scopes import scope_from_namespace, scope_from_onnx_name
from parity.backend import Backend
from parity.backends._onnx_index import index_ranges
from parity.backends._onnx_weights import MappedWeights, read_without_weights
from parity.errors import ModelLoadError
from parity.graph import Graph, Node, TensorSpec
from parity.limits import check_tensor
from parity.ops import is_ignored

ort.set_default_logger_severity(3)  # errors are raised and reported as one line

_DEFAULT_EPS = 1e-5
# The capture session's optimisation level (docs/performance.md compares the levels).
_CAPTURE_LEVEL = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
# Initializers up to this size (shape and axes tensors that shape inference reads) stay in
# the model proto; larger ones are detached as arrays (see detach_weights).
_INLINE_BYTES = 1024
_DETACHED = "parity-detached-weights"
_DATA_FIELDS = ("raw_data", "float_data", "int32_data", "int64_data", "double_data",
                "uint64_data", "external_data")
# Which input of an op holds which parameter (Backend.parameters keys).
_PARAM_INPUTS = {
    "Conv": {"weight": 1, "bias": 2}, "ConvTranspose": {"weight": 1, "bias": 2},
    "Gemm": {"weight": 1, "bias": 2}, "MatMul": {"weight": 1},
    "BatchNormalization": {"gamma": 1, "beta": 2, "mean": 3, "var": 4},
    "PRelu": {"slope": 1}, "Gather": {"table": 0},
}


class OnnxRuntimeBackend(Backend):
    """Runs ``.onnx`` files with onnxruntime on the CPU."""

    name = "onnxrt"
    extra = "onnx"

    def __init__(self, path: Path, weights: Path | None = None, **options: Any) -> None:
        super().__init__(path, weights, **options)
        if weights is not None:
            raise ModelLoadError(weights, f"not used: {path.name} holds its own weights "
                                          "(drop the weights option for an .onnx model)")
        self.model, self._weights, self._mapped = open_weightless(self.path)
        self._value_info = _inferred_value_infos(self.model)
        self._capture: tuple[frozenset[str], ort.InferenceSession] | None = None

    @cached_property
    def _protos(self) -> dict[str, onnx.NodeProto]:
        """The nodes that produce a tensor, by the name parity gives them (their ONNX name,
        else their first output's)."""
        named: dict[str, onnx.NodeProto] = {}
        for index, proto in enumerate(self.model.graph.node):
            if proto.output:
                named.setdefault(proto.name or proto.output[0] or f"{proto.op_type}_{index}",
                                 proto)
        return named

    @cached_property
    def _outputs(self) -> dict[str, str]:
        """Node name -> the tensor parity reads as its value: the node's first output, and
        for each further piece of a Split, and each further output another node reads
        (TopK's indices), a node of its own (``name:1``, ``name:2``...)."""
        read = {tensor for proto in self.model.graph.node for tensor in proto.input}
        found = {}
        for name, proto in self._protos.items():
            found[name] = proto.output[0]
            found.update((f"{name}:{i}", tensor) for i, tensor in enumerate(proto.output[1:], 1)
                         if tensor and (proto.op_type == "Split" or tensor in read))
        return found

    def _load_graph(self) -> Graph:
        graph = self.model.graph
        initializers = {init.name for init in graph.initializer}
        ranges = index_ranges(graph)
        inputs = tuple(
            _tensor_spec(vi, ranges.get(vi.name)) for vi in graph.input
            if vi.name not in initializers
        )
        producer: dict[str, str] = {spec.name: spec.name for spec in inputs}
        nodes = []
        for name, proto in self._protos.items():
            if is_ignored(proto.op_type):
                continue
            reads = tuple(dict.fromkeys(producer[t] for t in proto.input if t in producer))
            for tensor in proto.output:
                producer[tensor] = name
            attrs = {**_attrs(proto), **self._input_attrs(proto)}
            pieces = [name] + [f"{name}:{i}" for i in range(1, len(proto.output))
                               if f"{name}:{i}" in self._outputs]
            for piece in pieces:
                producer[self._outputs[piece]] = piece
                nodes.append(Node(
                    name=piece,
                    op=proto.op_type,
                    inputs=reads,
                    attrs=attrs,
                    shape=self._shape_of(self._outputs[piece]),
                    scope=_scope(proto, name),
                ))
        outputs = tuple(producer.get(o.name, o.name) for o in graph.output)
        return Graph(tuple(nodes), inputs, outputs, source=str(self.path))

    def _input_attrs(self, proto: onnx.NodeProto) -> dict[str, tuple[int, ...]]:
        """Parameters an op takes as constant inputs: a Slice's starts, ends, axes, steps
        (what it cuts, so alignment can tell two slices of one tensor apart)."""
        if proto.op_type != "Slice":
            return {}
        found = {}
        for key, tensor in zip(("starts", "ends", "axes", "steps"), proto.input[1:]):
            value = self.constant(tensor) if tensor else None
            if value is not None:
                found[key] = tuple(int(v) for v in np.asarray(value).reshape(-1))
        return found

    def _shape_of(self, tensor: str) -> tuple[int | None, ...] | None:
        info = self._value_info.get(tensor)
        if info is None or not info.type.tensor_type.HasField("shape"):
            return None
        return _dims(info)

    def _run(self, feeds: Mapping[str, np.ndarray], fetch: list[str]) -> dict[str, Any]:
        tensors = [self._outputs[name] for name in fetch]
        session = self._session(frozenset(tensors))
        typed_feeds = {
            inp.name: ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(
                feeds[inp.name], dtype=_numpy_type(inp.type)))
            for inp in session.get_inputs()
        }
        names = list(dict.fromkeys(tensors))
        try:
            # OrtValue.numpy() is a view of ORT's buffer: no copy of every activation.
            values = {name: value.numpy() for name, value in
                      zip(names, session.run_with_ort_values(names, typed_feeds))}
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelLoadError(self.path, f"onnxruntime failed running it ({_ort_reason(exc)})"
                                 ) from None
        return {name: values[tensor] for name, tensor in zip(fetch, tensors)}

    def _session(self, tensors: frozenset[str]) -> ort.InferenceSession:
        """A session with ``tensors`` as its graph outputs, built on first use and reused
        for any fetch list it covers.

        Only the fetched tensors become outputs, so ORT still fuses (and frees) everything
        between them: alignment decides the fetch list before the one run.
        """
        if self._capture is None or not tensors <= self._capture[0]:
            self._capture = None  # the session it replaces goes before the new one is built
            model = self._with_outputs(tuple(t for t in self._tensor_order if t in tensors))
            try:
                session = self._new_session(model, in_file=True)
            except Exception as exc:  # onnxruntime raises its own exception types
                if self._mapped is None:
                    raise ModelLoadError(self.path, f"onnxruntime cannot run it ({exc})"
                                         ) from None
                session = self._new_session(model, in_file=False)  # an older onnxruntime
            self._capture = (tensors, session)
        return self._capture[1]

    def _new_session(self, model: bytes, in_file: bool) -> ort.InferenceSession:
        """An ORT session of the weightless ``model``.

        ``in_file``: the weights still in the model file are read by ORT itself from it,
        at the offsets their stubs name; only the weights detached as arrays are handed
        over (uncopied OrtValues). Otherwise every weight is handed over from the arrays
        (onnxruntime versions that cannot resolve a file location for a model given as
        bytes), and the mapped pages are dropped from the resident set afterwards.
        """
        options = ort.SessionOptions()
        options.graph_optimization_level = _CAPTURE_LEVEL
        options.log_severity_level = 4  # errors are raised, and reported as one line
        handed = self._weights
        if in_file and self._mapped is not None:
            options.add_session_config_entry(
                "session.model_external_initializers_file_folder_path",
                str(self.path.resolve().parent))
            handed = {k: v for k, v in self._weights.items() if k not in self._mapped.arrays}
        options.add_external_initializers(
            list(handed), [ort.OrtValue.ortvalue_from_numpy(a) for a in handed.values()])
        try:
            return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelLoadError(self.path, f"onnxruntime cannot run it ({exc})") from None
        finally:
            if not in_file and self._mapped is not None:
                self._mapped.release()

    @cached_property
    def _tensor_order(self) -> tuple[str, ...]:
        """Every node's value, in graph order (the order outputs are declared in)."""
        return tuple(self._outputs.values())

    def _with_outputs(self, tensors: tuple[str, ...]) -> bytes:
        """The weightless model serialised with ``tensors`` as its outputs."""
        outputs = list(self.model.graph.output)
        del self.model.graph.output[:]
        self.model.graph.output.extend(self._output_info(t) for t in tensors)
        try:
            return self.model.SerializeToString()
        finally:
            del self.model.graph.output[:]
            self.model.graph.output.extend(outputs)

    def _output_info(self, tensor: str) -> onnx.ValueInfoProto:
        info = self._value_info.get(tensor)
        if info is not None and info.type.tensor_type.elem_type:
            return info
        return helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, None)

    def parameters(self, node: str) -> dict[str, np.ndarray]:
        """Initializers the node reads, keyed as :meth:`Backend.parameters`."""
        proto = self._protos.get(node)
        if proto is None:
            return {}
        constants = self._constants
        values = [constants.get(name) for name in proto.input]
        keys = _PARAM_INPUTS.get(proto.op_type, {})
        found = {key: values[i] for key, i in keys.items() if i < len(values)
                 and values[i] is not None}
        if proto.op_type == "Gemm" and "weight" in found and not _attrs(proto).get("transB"):
            found["weight"] = found["weight"].T
        if proto.op_type == "Gather" and _attrs(proto).get("axis", 0) != 0:
            found.pop("table", None)  # a pick along a later axis: no table of first-axis rows
        if proto.op_type == "MatMul" and "weight" in found:
            found["weight"] = found["weight"].T
        return {key: np.asarray(value, dtype=np.float64) for key, value in found.items()}

    def constant(self, tensor: str) -> np.ndarray | None:
        """The value of a constant tensor (an initializer or a ``Constant`` output) by its
        ONNX name; None for tensors computed from the inputs."""
        return self._constants.get(tensor)

    @cached_property
    def _constants(self) -> dict[str, np.ndarray]:
        """Initializers and Constant outputs, also reached through Identity nodes."""
        values = {init.name: numpy_helper.to_array(init) for init in self.model.graph.initializer
                  if init.name not in self._weights}
        values.update(self._weights)
        for proto in self.model.graph.node:
            if proto.op_type == "Constant" and proto.attribute and proto.output:
                value = helper.get_attribute_value(proto.attribute[0])
                if isinstance(value, onnx.TensorProto):
                    values[proto.output[0]] = numpy_helper.to_array(value)
            elif proto.op_type == "Identity" and proto.input and proto.input[0] in values:
                values[proto.output[0]] = values[proto.input[0]]
        return values

    def release(self) -> None:
        """Drop the capture session (the weights stay mapped, not copied)."""
        self._capture = None

    def close(self) -> None:
        self.release()


def open_weightless(path: Path
                    ) -> tuple[onnx.ModelProto, dict[str, np.ndarray], MappedWeights | None]:
    """The model at ``path`` without its weights, and the weights as arrays (see
    :func:`detach_weights`).

    Weights stored in the model file are views of the memory-mapped file
    (:mod:`parity.backends._onnx_weights`), never parsed into the proto, and so are the
    top-level initializers kept in external data files (checked as :func:`load_model`
    checks them; ORT reads both itself). A file that reader does not cut, or external
    data elsewhere (subgraphs, functions, a model reached through a symlink from another
    folder), is parsed whole by :func:`load_model`.
    """
    try:
        model, mapped = read_without_weights(path, _INLINE_BYTES)
    except Exception:  # not cut here (mmap, wire format, protobuf): the checked path says why
        mapped = None
    if mapped is not None and not (
            (model.graph.node or model.graph.input) and _external_in_place(model, mapped, path)):
        mapped = None
    if mapped is None:
        parsed = load_model(path)
        weights = detach_weights(parsed)
        # A fresh copy of the now weightless model lets the parsed weights' memory go.
        model = onnx.ModelProto()
        model.CopyFrom(parsed)
        return model, weights, None
    _sort_nodes(model.graph)
    location = path.resolve().name
    for tensor in model.graph.initializer:
        if tensor.name in mapped.spans:
            offset, length = mapped.spans[tensor.name]
            tensor.data_location = onnx.TensorProto.EXTERNAL
            for key, value in (("location", location), ("offset", offset), ("length", length)):
                tensor.external_data.add(key=key, value=str(value))
    return model, {**mapped.arrays, **detach_weights(model)}, mapped


def _external_in_place(model: onnx.ModelProto, mapped: MappedWeights, path: Path) -> bool:
    """Whether every tensor with external data is a top-level initializer ORT can read
    from the folder it reads the model file's own weights from; each is then checked
    (raising :class:`ModelLoadError` as :func:`load_model` would) and viewed in place."""
    external = _external_tensors(model)
    if not external:
        return True
    top = [t for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL
           and t.name not in mapped.spans]
    if len(top) != len(external) or path.resolve().parent != path.parent.resolve():
        return False
    for tensor in top:
        _check_location(tensor, path)
    folder = path.parent.resolve()
    for tensor in top:
        fields = {e.key: e.value for e in tensor.external_data}
        mapped.add_external(tensor.name, folder / fields["location"],
                            int(fields.get("offset") or 0), tensor.data_type,
                            tuple(tensor.dims))
    return True


def load_model(path: Path) -> onnx.ModelProto:
    """The model at ``path``, its external data read only from inside the model's folder."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf decode errors have no common base class
        raise ModelLoadError(path, f"not a readable ONNX model ({_one_line(exc)})") from None
    if not model.graph.node and not model.graph.input:
        raise ModelLoadError(path, "not an ONNX model: it parses as protobuf but holds no graph "
                                   "(no nodes, no inputs)")
    _sort_nodes(model.graph)
    external = _external_tensors(model)
    for tensor in external:
        _check_location(tensor, path)
    if external:
        try:
            external_data_helper.load_external_data_for_model(model, str(path.parent))
        except Exception as exc:  # onnx raises ValidationError, OSError, ValueError...
            raise ModelLoadError(path, f"cannot read its external data ({_one_line(exc)})"
                                 ) from None
    return model


def _sort_nodes(graph: onnx.GraphProto) -> None:
    """Put ``graph``'s nodes in topological order, in place: the ONNX spec asks for it, but
    onnxruntime sorts for itself, so writers may not (its own float16 converter appends the
    input and output Casts last). Nodes are kept in their written order where they can be;
    a cycle is left as written."""
    produced = {tensor for node in graph.node for tensor in node.output}
    known = {""} | {vi.name for vi in graph.input} | {t.name for t in graph.initializer}
    ordered: list[onnx.NodeProto] = []
    pending = list(graph.node)
    while pending:
        left = []
        for node in pending:
            if all(t in known or t not in produced for t in node.input):
                ordered.append(node)
                known.update(node.output)
            else:
                left.append(node)
        if len(left) == len(pending):
            ordered += left
            break
        pending = left
    if [id(n) for n in ordered] == [id(n) for n in graph.node]:
        return
    copies = []
    for node in ordered:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copies.append(copy)
    del graph.node[:]
    graph.node.extend(copies)


def detach_weights(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Move every initializer larger than a shape tensor out of ``model``, as arrays.

    Each one stays in the graph as a stub (name, type, dims, marked external) so shape
    inference and serialisation skip the weights and a session gets them back, uncopied,
    through ``SessionOptions.add_external_initializers``.
    """
    arrays = {}
    for tensor in model.graph.initializer:
        if (tensor.ByteSize() <= _INLINE_BYTES or tensor.data_type == onnx.TensorProto.STRING
                or tensor.data_location == onnx.TensorProto.EXTERNAL):
            continue
        arrays[tensor.name] = numpy_helper.to_array(tensor)
        _stub(tensor)
    return arrays


def _stub(tensor: onnx.TensorProto) -> None:
    """``tensor`` without its data, marked external (its name, type and dims stay)."""
    for field in _DATA_FIELDS:
        tensor.ClearField(field)
    tensor.data_location = onnx.TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value=_DETACHED)


def _external_tensors(model: onnx.ModelProto) -> list[onnx.TensorProto]:
    """Tensors of the graph, its subgraphs and its functions whose data is in another file."""
    functions = [t for f in model.functions for n in f.node for t in _node_tensors(n)]
    return [t for t in (*_all_tensors(model.graph), *functions)
            if t.data_location == onnx.TensorProto.EXTERNAL]


def _check_location(tensor: onnx.TensorProto, path: Path) -> None:
    """Refuse external data that is missing or lies outside the model's folder."""
    location = next((e.value for e in tensor.external_data if e.key == "location"), "")
    what = f"external data of tensor {tensor.name!r}"
    if not location:
        raise ModelLoadError(path, f"{what} has no location")
    folder = path.parent.resolve()
    target = (folder / location).resolve()
    if Path(location).is_absolute() or not target.is_relative_to(folder):
        raise ModelLoadError(path, f"{what} points outside the model's folder ({location}); "
                                   "refusing to read it: keep external data next to the model")
    if not target.is_file():
        raise ModelLoadError(path, f"{what}: {location} not found next to the model")
    _check_external_size(tensor, target, path, what)


def _check_external_size(tensor: onnx.TensorProto, target: Path, path: Path, what: str) -> None:
    """The bytes to read must be what the tensor declares, under the cap, and in the file."""
    fields = {e.key: e.value for e in tensor.external_data}
    try:
        offset, length = int(fields.get("offset") or 0), fields.get("length")
        itemsize = helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except (ValueError, KeyError, TypeError):
        raise ModelLoadError(path, f"{what}: bad offset/length or data type") from None
    check_tensor(tuple(tensor.dims), itemsize, f"{path}: {what}")
    declared = math.prod(tensor.dims) * itemsize
    if length is not None and int(length) != declared:
        raise ModelLoadError(path, f"{what}: length {length} bytes, but its shape "
                                   f"{tuple(tensor.dims)} needs {declared}")
    if offset < 0 or offset + declared > target.stat().st_size:
        raise ModelLoadError(path, f"{what}: {target.name} holds {target.stat().st_size} bytes, "
                                   f"the tensor needs {declared} from offset {offset}")


def _all_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Initializers and tensor attributes of ``graph`` and of its subgraphs."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        yield from _node_tensors(node)


def _node_tensors(node: onnx.NodeProto) -> Iterator[onnx.TensorProto]:
    """Tensor attributes of ``node`` and of its subgraphs."""
    for attribute in node.attribute:
        if attribute.HasField("t"):
            yield attribute.t
        yield from attribute.tensors
        if attribute.HasField("g"):
            yield from _all_tensors(attribute.g)
        for subgraph in attribute.graphs:
            yield from _all_tensors(subgraph)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _scope(node: onnx.NodeProto, name: str) -> str:
    """Module path from dynamo-exporter metadata, else from a TorchScript-exporter name."""
    for prop in node.metadata_props:
        if prop.key == "namespace":
            return scope_from_namespace(prop.value)
    return scope_from_onnx_name(name)


def _inferred_value_infos(model: onnx.ModelProto) -> dict[str, onnx.ValueInfoProto]:
    """Types and shapes of every tensor shape inference can tell (best effort)."""
    try:
        graph = shape_inference.infer_shapes(model).graph
    except Exception:  # inference is best-effort: unknown ops leave shapes unknown
        graph = model.graph
    infos = {}
    for info in (*graph.input, *graph.value_info, *graph.output):
        infos[info.name] = onnx.ValueInfoProto()
        infos[info.name].CopyFrom(info)  # a copy: the inferred model can go
    return infos


def _dims(info: onnx.ValueInfoProto) -> tuple[int | None, ...]:
    return tuple(
        d.dim_value if d.HasField("dim_value") else None
        for d in info.type.tensor_type.shape.dim
    )


def _tensor_spec(info: onnx.ValueInfoProto, index_range: tuple[int, int] | None
                 ) -> TensorSpec:
    elem = info.type.tensor_type.elem_type or onnx.TensorProto.FLOAT
    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(elem)).name
    return TensorSpec(info.name, _dims(info), dtype, index_range)


def _numpy_type(ort_type: str) -> np.dtype:
    names = {"tensor(float)": "float32", "tensor(double)": "float64",
             "tensor(float16)": "float16", "tensor(int64)": "int64", "tensor(int32)": "int32",
             "tensor(uint8)": "uint8", "tensor(bool)": "bool"}
    return np.dtype(names.get(ort_type, "float32"))


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    raw = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    attrs: dict[str, Any] = {}
    renames = {"kernel_shape": "kernel", "strides": "stride", "pads": "pad",
               "dilations": "dilation", "epsilon": "eps", "axis": "axis"}
    for key, value in raw.items():
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, list):
            value = tuple(value)
        elif not isinstance(value, (int, float, str)):
            continue  # tensors and graphs are not attributes to show
        attrs[renames.get(key, key)] = value
    if node.op_type == "BatchNormalization":
        attrs.setdefault("eps", _DEFAULT_EPS)
    if node.op_type in ("Conv", "ConvTranspose"):
        attrs.setdefault("group", 1)
    if node.op_type in ("MaxPool", "AveragePool"):
        attrs["ceil_mode"] = bool(attrs.get("ceil_mode", 0))
    return attrs


def _ort_reason(exc: Exception) -> str:
    """onnxruntime's message without its error-code prefix and C++ source locations."""
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", " ".join(str(exc).split()))
    return re.sub(r"/onnxruntime_src/\S+ (\S+::)+\S+\(.*?\) ", "", text)
