"""Two ways to capture every op output of a torch model in one forward pass.

* :class:`TorchScriptCapture` inlines a ScriptModule's graph, registers every op output
  as an extra graph output and runs the rewritten graph once.
* :class:`FxCapture` interprets an ``torch.fx`` graph (from ``symbolic_trace`` or a
  ``torch.export`` program) and keeps the values of the requested nodes as they pass.

(:mod:`._torch_hooks` adds a third, an eager pass, for modules torch.fx cannot trace.)
torch's fused transformer fast path is off while parity traces or runs a module.
"""

from __future__ import annotations

import operator
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
import torch.fx

from parity.align.scopes import scope_from_hierarchy
from parity.backends import _torch_ir as ir
from parity.backends._torch_inputs import fx_dtypes, fx_index_ranges, script_index_ranges
from parity.errors import ModelLoadError
from parity.ops import family, is_ignored, op_key

# Positional arguments of aten ops that carry the attributes parity normalises.
_ATTR_POSITIONS: dict[str, dict[str, int]] = {
    "_convolution": {"stride": 3, "pad": 4, "dilation": 5, "group": 8},
    "conv2d": {"stride": 3, "pad": 4, "dilation": 5, "group": 6},
    "conv1d": {"stride": 3, "pad": 4, "dilation": 5, "group": 6},
    "batch_norm": {"training": 5, "momentum": 6, "eps": 7},
    "_native_batch_norm_legit_no_training": {"eps": 6},
    "max_pool2d": {"kernel": 1, "stride": 2, "pad": 3, "dilation": 4, "ceil_mode": 5},
    "max_pool2d_with_indices": {"kernel": 1, "stride": 2, "pad": 3, "dilation": 4,
                                "ceil_mode": 5},
    "avg_pool2d": {"kernel": 1, "stride": 2, "pad": 3, "ceil_mode": 4, "count_include_pad": 5},
    # torch's own argument names, read by parity.backends.pytorch_vocabulary
    "hardtanh": {"min_val": 1, "max_val": 2}, "clamp": {"min": 1, "max": 2},
    "leaky_relu": {"negative_slope": 1}, "gelu": {"approximate": 1}, "elu": {"alpha": 1},
    "softmax": {"dim": 1}, "log_softmax": {"dim": 1},
    "upsample_bilinear2d": {"output_size": 1, "align_corners": 2, "scale_factors": 3},
    "upsample_nearest2d": {"output_size": 1, "scale_factors": 2},
    "layer_norm": {"eps": 4}, "group_norm": {"num_groups": 1, "eps": 4},
    "instance_norm": {"momentum": 6, "eps": 7},
    "pad": {"pad": 1, "mode": 2}, "constant_pad_nd": {"pad": 1},
    "mean": {"dim": 1, "keepdim": 2}, "sum": {"dim": 1, "keepdim": 2},
    "amax": {"dim": 1, "keepdim": 2}, "permute": {"dims": 1}, "transpose": {"dim0": 1, "dim1": 2},
    "slice": {"dim": 1, "start": 2, "end": 3, "step": 4},
    "pow": {"exponent": 1},
    "cat": {"axis": 1},
    "flatten": {"start_dim": 1, "end_dim": 2},
    "dropout": {"p": 1, "training": 2},
    # attention's scale (None: 1/sqrt of the head dimension); keyword-only in the CPU kernel
    "scaled_dot_product_attention": {"scale": 6},
    "_scaled_dot_product_flash_attention_for_cpu": {"scale": 6},
}
_MODULE_ATTRS = {"kernel_size": "kernel", "stride": "stride", "padding": "pad",
                 "dilation": "dilation", "groups": "group", "eps": "eps",
                 "ceil_mode": "ceil_mode", "training": "training", "p": "p",
                 "negative_slope": "negative_slope", "min_val": "min_val",
                 "max_val": "max_val", "approximate": "approximate", "dim": "dim",
                 "align_corners": "align_corners", "mode": "mode",
                 "scale_factor": "scale_factor", "count_include_pad": "count_include_pad"}
_CONV_DEFAULTS = {"stride": 1, "pad": 0, "dilation": 1, "group": 1}
# Defaults of builtins called without them (``F.gelu(x)``, ``F.conv2d(x, w)``).
_DEFAULT_ATTRS = {"batch_norm": {"eps": 1e-5}, "gelu": {"approximate": "none"},
                  "conv1d": _CONV_DEFAULTS, "conv2d": _CONV_DEFAULTS}
# Python argument names of the attributes whose name differs (``F.conv2d(padding=...)``).
_PYTHON_NAMES = {"kernel": "kernel_size", "pad": "padding", "group": "groups", "axis": "dim"}
# The op that picks slices of a tensor along its first axis by index (``w[index]``).
_PICKS = frozenset({"index"})
# Ops that read a tensor's shape, not its values: what is computed from them is shape
# arithmetic, which reads no activation.
_SHAPE_READS = frozenset({"aten::size", "aten::dim", "aten::numel", "prim::shape"})


@dataclass(frozen=True)
class CapturedOp:
    """One op whose output can be captured: ``key`` is the engine's handle for it."""

    key: str
    op: str
    scope: str
    reads: tuple[str, ...] = ()
    attrs: dict[str, Any] = field(default_factory=dict)
    is_module_call: bool = False
    # known before the run (torch.export's fake values) or once the op has run (an eager
    # recording, a TorchScript graph that computes slice bounds)
    shape: tuple[int, ...] | None = None
    # the dotted path of the parameter an index op picks slices of (batched experts'
    # stacked weights), when it reads one
    table: str = ""


def name_ops(ops: Sequence[CapturedOp]) -> list[str]:
    """User-facing names: module path for a leaf module's op, ``scope/op`` otherwise.

    A leaf module is a scope no other op's scope lies inside. Where a scope's ops mark
    the module's call (``is_module_call``: its output), only those take the module path.
    The k-th repeat of a name gets ``:k`` (a module called twice, two adds in one block).
    """
    scopes = {op.scope for op in ops if op.scope}
    parents = {s.rsplit(".", i)[0] for s in scopes for i in range(1, s.count(".") + 1)}
    called = {op.scope for op in ops if op.is_module_call}
    seen: Counter[str] = Counter()
    names = []
    for op in ops:
        leaf = op.scope and (op.is_module_call
                             or (op.scope not in parents and op.scope not in called))
        if leaf:
            base = op.scope
        else:
            short = op_key(op.op)
            base = f"{op.scope}/{short}" if op.scope else short
        count = seen[base]
        seen[base] += 1
        names.append(base if count == 0 else f"{base}:{count}")
    return names


def module_attrs(module: torch.nn.Module) -> dict[str, Any]:
    """A module's normalised attributes (``kernel``, ``stride``, ``eps``...)."""
    return {short: _normalise(short, getattr(module, attr))
            for attr, short in _MODULE_ATTRS.items() if hasattr(module, attr)}


@contextmanager
def fused_fastpath_off() -> Iterator[None]:
    """torch's fused transformer fast path off (restored after), so ``nn.TransformerEncoder``
    layers and ``nn.MultiheadAttention`` run as their modules and ops, not one fused op."""
    mha = torch.backends.mha
    before = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        mha.set_fastpath_enabled(before)


def _normalise(key: str, value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_normalise(key, v) for v in value)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    return value


def attrs_from_args(op: str, args: Sequence[Any],
                    named: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The attributes parity normalises, from an op's arguments: positional as aten's
    schema orders them, else by their Python name in ``named`` (keywords, defaults); and
    under ``constants`` every literal positional argument as ``(position, value)`` (a
    ``to``'s dtype, a mask's window bound: two ops that differ by one hold other values)."""
    short = op_key(op)
    attrs = dict(_DEFAULT_ATTRS.get(short, {}))
    named = named or {}
    for attr, position in _ATTR_POSITIONS.get(short, {}).items():
        if position < len(args):
            value = args[position]
        else:
            value = named.get(_PYTHON_NAMES.get(attr, attr), named.get(attr))
        if value is not None:
            attrs[attr] = _normalise(attr, value)
    if "ceil_mode" in attrs:
        attrs["ceil_mode"] = bool(attrs["ceil_mode"])
    constants = tuple((i, _normalise("", a)) for i, a in enumerate(args) if _literal(a))
    if constants:
        attrs["constants"] = constants
    return attrs


def _literal(value: Any) -> bool:
    """A constant argument written in the model's code: a number (a trace's one-element
    tensor too), string or bool, or a list of them (not None, a larger tensor)."""
    if isinstance(value, (list, tuple)):
        return bool(value) and all(_literal(v) for v in value)
    if isinstance(value, torch.Tensor):
        return value.numel() == 1
    return isinstance(value, (bool, int, float, str))


def _read_tensor(value: torch._C.Value) -> bool:
    """A tensor output some op reads."""
    return value.type().kind() == "TensorType" and bool(value.uses())


def _in_place(kind: str) -> bool:
    """An aten op that overwrites its first input (``aten::div_``, ``aten::index_add_``)."""
    name = kind.rsplit("::", 1)[-1]
    return kind.startswith("aten::") and name.endswith("_") and not name.startswith("_")


def _cloned(graph: torch._C.Graph, value: torch._C.Value) -> torch._C.Value:
    """A copy of ``value`` made right after it is computed, before anything overwrites it."""
    none = graph.create("prim::Constant")
    none.output().setType(torch._C.NoneType.get())
    clone = graph.create("aten::clone", [value, none.output()], 1)
    none.insertAfter(value.node())
    clone.insertAfter(none)
    clone.output().setType(value.type())
    return clone.output()


def _splits(node: torch._C.Node) -> bool:
    """True for the unpacking of a split's pieces (``aten::chunk`` -> ``prim::ListUnpack``)."""
    if node.kind() != "prim::ListUnpack":
        return False
    return family(node.input().node().kind()) == "split"


def _element_of(node: torch._C.Node, value: torch._C.Value) -> list[torch._C.Value]:
    """The values ``value`` is computed from: for one element unpacked from a tuple built
    in the graph, only that element (a tensor's sizes travel in tuples beside it)."""
    if node.kind() in ("prim::TupleUnpack", "prim::ListUnpack"):
        packed = node.input().node()
        if packed.kind() in ("prim::TupleConstruct", "prim::ListConstruct"):
            return [packed.inputsAt(value.offset())]
    return ir.inputs(node)


class TorchScriptCapture:
    """Capture for ScriptModules (loaded archives, or modules traced by parity)."""

    def __init__(self, module: torch.jit.ScriptModule, path: Path) -> None:
        self.module = module
        self.path = path
        try:
            graph = module.graph.copy()
        except AttributeError:
            raise ModelLoadError(path, "TorchScript archive has no forward method") from None
        torch._C._jit_pass_inline(graph)
        # In-place ops (ReLU(inplace=True)) would overwrite captured values: make them pure.
        torch._C._jit_pass_remove_mutation(graph)
        self._graph = graph
        graph_inputs = list(graph.inputs())[1:]  # the first is `self`
        self.input_names = [_clean(v.debugName()) for v in graph_inputs]
        self.input_shapes: list[tuple[int, ...] | None] = [None] * len(graph_inputs)
        self.input_ranges = script_index_ranges(graph, module, graph_inputs)
        self.input_dtypes: list[str | None] = [
            "int64" if found else None for found in self.input_ranges]
        self._input_of = {v.debugName(): n for v, n in zip(graph_inputs, self.input_names)}
        self._position = {
            node.outputsAt(k).debugName(): (i, k) for i, node in enumerate(graph.nodes())
            for k in range(node.outputsSize())
        }
        self.ops = self._collect_ops()
        keys = {op.key for op in self.ops}
        self.output_keys = [v.debugName() for v in graph.outputs() if v.debugName() in keys]
        self._compiled: dict[tuple[str, ...], Any] = {}

    def _collect_ops(self) -> list[CapturedOp]:
        """Every aten op whose (first) output is an activation tensor. An op with several
        outputs is its first, and each further tensor output another op reads is an op
        of its own (TopK's indices beside its values)."""
        captured: dict[str, str] = {}  # output name -> the key of the op that made it
        sources: dict[str, tuple[str, ...]] = {}
        ops = []
        for node in self._graph.nodes():
            if _splits(node):
                ops.extend(self._pieces(node, captured, sources))
                continue
            kind = node.kind()
            if not kind.startswith("aten::") or not node.outputsSize() or is_ignored(kind):
                continue
            out = node.outputsAt(0)
            if out.type().kind() != "TensorType":
                continue
            node_inputs = ir.inputs(node)
            reads = tuple(dict.fromkeys(
                s for i in node_inputs for s in self._sources(i, captured, sources)))
            if not reads:
                continue  # computed from parameters and buffers only, not an activation
            args = [_constant(i) for i in node_inputs]
            scope = scope_from_hierarchy(node.getModuleHierarchy())
            attrs = attrs_from_args(kind, args)
            table = _attr_path(node_inputs[0]) if op_key(kind) in _PICKS else ""
            for value in [out, *(o for o in ir.outputs(node)[1:] if _read_tensor(o))]:
                captured[value.debugName()] = value.debugName()
                ops.append(CapturedOp(value.debugName(), kind, scope, reads, attrs,
                                      table=table))
            captured.update((o.debugName(), out.debugName()) for o in ir.outputs(node)
                            if o.debugName() not in captured)
        return ops

    def _pieces(self, unpack: torch._C.Node, captured: dict[str, str],
                sources: dict[str, tuple[str, ...]]) -> list[CapturedOp]:
        """One op per piece of a split (``q, k, v = qkv.chunk(3, -1)``), each named after
        the split: an exporter writes the pieces as Slices, or as one Split's outputs."""
        split = unpack.input().node()
        split_inputs = ir.inputs(split)
        reads = tuple(dict.fromkeys(
            s for i in split_inputs for s in self._sources(i, captured, sources)))
        if not reads:
            return []
        attrs = attrs_from_args(split.kind(), [_constant(i) for i in split_inputs])
        scope = scope_from_hierarchy(split.getModuleHierarchy())
        pieces = []
        for piece in ir.outputs(unpack):
            captured[piece.debugName()] = piece.debugName()
            pieces.append(CapturedOp(piece.debugName(), split.kind(), scope, reads, attrs))
        return pieces

    def _sources(self, value: torch._C.Value, captured: dict[str, str],
                 sources: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
        """The captured ops (or graph inputs) ``value`` is computed from, memoised in
        ``sources``. A method, not a closure calling itself: that would be a reference
        cycle holding the capture (and the module's weights) until the collector runs."""
        name = value.debugName()
        if name in captured:
            return (captured[name],)
        if name in self._input_of:
            return (self._input_of[name],)
        if name not in sources:
            node = value.node()
            found: list[str] = []
            if node.kind() != "prim::Param" and node.kind() not in _SHAPE_READS:
                for inp in _element_of(node, value):
                    found.extend(self._sources(inp, captured, sources))
            sources[name] = tuple(dict.fromkeys(found))
        return sources[name]

    @property
    def computes_slice_bounds(self) -> bool:
        """Whether a slice's start or end is computed when the model runs (rotary
        embeddings' ``x[..., : cos.shape[-1]]``): what it cuts shows only in a run."""
        return any(op_key(op.op) == "slice" and not {"start", "end"} <= op.attrs.keys()
                   for op in self.ops)

    def observe(self, args: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """The one pass of the rewritten graph on ``args`` with every op's value as an
        output: each op gets its shape, and the values are returned for the stream of the
        same input (a TorchScript capture holds every value it returns anyway)."""
        with torch.no_grad():
            values = self._run(args, [op.key for op in self.ops])
        self.ops = [replace(op, shape=tuple(values[op.key].shape))
                    if isinstance(values.get(op.key), torch.Tensor) else op for op in self.ops]
        return values

    @cached_property
    def _mutated(self) -> frozenset[str]:
        """Values a later in-place op overwrites (the ones ``_jit_pass_remove_mutation``
        leaves: Mixtral's router divides TopK's values in place): captured as clones."""
        return frozenset(node.inputsAt(0).debugName() for node in self._graph.nodes()
                         if node.inputsSize() and _in_place(node.kind()))

    def submodule(self, path: str) -> torch.nn.Module:
        """The submodule at a dotted module path, or at the one path it abbreviates: a
        TorchScript scope leaves out some container names (``encoder.1.0`` for
        ``encoder.stages.1.layers.0``)."""
        module = self.module
        try:
            for part in path.split("."):
                module = getattr(module, part)
            return module
        except AttributeError:
            return _abbreviated(self.module, path)

    def stream(
        self, args: list[torch.Tensor], keys: list[str]
    ) -> Iterator[tuple[str, torch.Tensor]]:
        """One pass of the rewritten graph; its values handed out and let go one by one."""
        with torch.no_grad():
            outputs = self._run(args, keys)
        for key in keys:
            yield key, outputs.pop(key)

    def _run(self, args: list[torch.Tensor], keys: list[str]) -> dict[str, torch.Tensor]:
        wanted = tuple(keys)
        if wanted not in self._compiled:
            graph = self._graph.copy()  # a copy keeps node order, not value names
            nodes = list(graph.nodes())
            original = len(list(graph.outputs()))
            for key in wanted:
                index, offset = self._position[key]
                value = nodes[index].outputsAt(offset)
                graph.registerOutput(_cloned(graph, value) if key in self._mutated else value)
            graph.makeMultiOutputIntoTuple()
            function = torch._C._create_function_from_graph("parity_capture", graph)
            self._compiled = {wanted: (function, original)}
        function, original = self._compiled[wanted]
        try:
            # The graph as written, by the interpreter: the profiling executor would spend
            # the first run profiling and the second optimising every one of the outputs
            # (ResNet-50: 220 and 155 ms, against 79 and 37 ms; plain forward 120 and 66).
            with torch.jit.optimized_execution(False):
                outputs = function(self.module._c, *args)
        except Exception as exc:  # TorchScript runtime errors carry C++ traces
            raise ModelLoadError(self.path, f"forward pass failed ({error_line(exc)})") from None
        return dict(zip(wanted, outputs[original:]))


class FxCapture:
    """Capture for ``torch.fx`` graphs: nn.Module factories and torch.export programs."""

    def __init__(self, graph_module: torch.fx.GraphModule, path: Path) -> None:
        self.graph_module = graph_module
        self.path = path
        placeholders = [n for n in graph_module.graph.nodes if n.op == "placeholder"]
        self.input_names = [n.name for n in placeholders]
        self.input_shapes = [_fake_shape(n) for n in placeholders]
        self.input_ranges = fx_index_ranges(graph_module)
        self.input_dtypes = [declared or ("int64" if found else None) for declared, found
                             in zip(fx_dtypes(graph_module), self.input_ranges)]
        self.ops = [op for n in graph_module.graph.nodes if (op := self._describe(n))]
        keys = {op.key for op in self.ops}
        output = next(n for n in graph_module.graph.nodes if n.op == "output")
        self.output_keys = [n.name for n in output.all_input_nodes if n.name in keys]

    @classmethod
    def from_module(cls, module: torch.nn.Module, path: Path) -> FxCapture:
        try:
            with fused_fastpath_off():
                tracer = _OpenTransformerTracer()
                graph = tracer.trace(module)
            graph_module = torch.fx.GraphModule(tracer.root, graph, type(module).__name__)
        except Exception as exc:  # tracing raises many types on data-dependent code
            raise ModelLoadError(
                path,
                f"torch.fx cannot trace this module ({error_line(exc)}); "
                "save it with torch.export (.pt2) or torch.jit.trace (.pt) instead",
            ) from None
        return cls(graph_module, path)

    @classmethod
    def from_exported(cls, program: torch.export.ExportedProgram, path: Path) -> FxCapture:
        return cls(program.module(), path)

    def _describe(self, node: torch.fx.Node) -> CapturedOp | None:
        """The op ``node`` is, its shape from torch.export's ``meta["val"]`` where known."""
        name, shape = node.name, _fake_shape(node)
        if node.op == "call_module":
            if str(node.target).startswith("_guards"):
                return None
            submodule = self.graph_module.get_submodule(str(node.target))
            attrs = module_attrs(submodule)
            op, scope, is_call = type(submodule).__name__, str(node.target), True
        elif node.op in ("call_function", "call_method"):
            if _fx_piece(node):  # one piece of a split (or output): described as the op
                node = node.all_input_nodes[0]
            elif _fx_split(node):  # a list of pieces, not a tensor: each piece is an op
                return None
            op = _target_name(node.target)
            scope, is_call = _fx_scope(node), False
            attrs = attrs_from_args(op, [_fx_constant(a) for a in node.args],
                                    {k: _fx_constant(v) for k, v in node.kwargs.items()})
        else:
            return None
        if is_ignored(op):
            return None
        reads = tuple(dict.fromkeys(r for n in node.all_input_nodes for r in _fx_reads(n)))
        return CapturedOp(name, op, scope, reads, attrs, is_module_call=is_call, shape=shape)

    def submodule(self, path: str) -> torch.nn.Module:
        """The submodule at a dotted module path."""
        return self.graph_module.get_submodule(path)

    def stream(
        self, args: list[torch.Tensor], keys: list[str]
    ) -> Iterator[tuple[str, torch.Tensor]]:
        """Yield each requested value as the interpreter computes it, in this thread.

        Values are dropped after their last use, as ``Interpreter.run`` does, so only the
        live activations and the values not yet consumed are in memory. A value is cloned
        only when a later in-place op could overwrite it.
        """
        wanted = set(keys)
        interpreter = torch.fx.Interpreter(self.graph_module, garbage_collect_values=True)
        interpreter.env = {}
        interpreter.args_iter = iter(args)
        for node in self.graph_module.graph.nodes:
            if node.op == "output":
                return
            try:
                with torch.no_grad(), fused_fastpath_off():
                    value = interpreter.run_node(node)
            except Exception as exc:  # user model code may raise anything
                raise ModelLoadError(self.path,
                                     f"forward pass failed ({error_line(exc)})") from None
            interpreter.env[node] = value
            for dead in interpreter.user_to_last_uses.get(node, ()):
                del interpreter.env[dead]
            if node.name in wanted:
                tensor = _first_tensor(value).detach()
                yield node.name, tensor.clone() if node.name in self._overwritten else tensor

    @cached_property
    def _overwritten(self) -> frozenset[str]:
        """Nodes whose value a later in-place op (``ReLU(inplace=True)``, ``add_``) mutates."""
        mutated = set()
        for node in self.graph_module.graph.nodes:
            if self._in_place(node) and node.all_input_nodes:
                mutated.add(node.all_input_nodes[0].name)
        return frozenset(mutated)

    def _in_place(self, node: torch.fx.Node) -> bool:
        if node.op == "call_module":
            return bool(getattr(self.graph_module.get_submodule(str(node.target)), "inplace",
                                False))
        if node.op == "call_function" and node.target in _OPERATOR_IN_PLACE:
            return True
        if node.op in ("call_function", "call_method"):
            name = _target_name(node.target).rsplit("::", 1)[-1].split(".")[0]
            return name.endswith("_") and not name.startswith("_")
        return False


_TRANSFORMER_LAYERS = (torch.nn.Transformer, torch.nn.TransformerEncoder,
                      torch.nn.TransformerDecoder, torch.nn.TransformerEncoderLayer,
                      torch.nn.TransformerDecoderLayer)


class _OpenTransformerTracer(torch.fx.Tracer):
    """``symbolic_trace``'s tracer, but torch's transformer layers are traced into, not kept
    as one opaque op each (they do not trace, so such a model is captured by hooks)."""

    def is_leaf_module(self, m: torch.nn.Module, module_qualified_name: str) -> bool:
        return not isinstance(m, _TRANSFORMER_LAYERS) and super().is_leaf_module(
            m, module_qualified_name)


_OPERATOR_IN_PLACE = frozenset({
    operator.iadd, operator.isub, operator.imul, operator.itruediv, operator.ifloordiv,
    operator.imod, operator.ipow, operator.iand, operator.ior, operator.ixor,
    operator.ilshift, operator.irshift, operator.imatmul,
})


def _first_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return value[0]
    if isinstance(value, torch.Tensor):
        return value
    return torch.tensor(float(value) if isinstance(value, (int, float, bool)) else float("nan"))


def _target_name(target: Any) -> str:
    schema = getattr(target, "_schema", None)
    if schema is not None:
        return schema.name
    return getattr(target, "__name__", str(target))


def _fx_split(node: torch.fx.Node) -> bool:
    """True for a call of a split (``chunk``, ``split_with_sizes``), or of an op with
    several outputs more than the first of which are read (TopK's values and indices):
    its value is a list, each piece taken out of it is an op."""
    if node.op not in ("call_function", "call_method"):
        return False
    if family(_target_name(node.target)) == "split":
        return True
    return any(user.op == "call_function" and _target_name(user.target) == "getitem"
               and isinstance(user.args[1], int) and user.args[1] > 0 for user in node.users)


def _fx_piece(node: torch.fx.Node) -> bool:
    """True for a ``getitem`` taking one piece out of a split's list (or one output out
    of a several-output op's)."""
    return node.op == "call_function" and _target_name(node.target) == "getitem" \
        and bool(node.all_input_nodes) and _fx_split(node.all_input_nodes[0])


def _fx_reads(node: torch.fx.Node) -> list[str]:
    """The captured nodes a read of ``node`` reaches: ``node`` itself, or through an
    ignored op (``getitem`` of a tuple) the nodes that op reads."""
    if _fx_piece(node):
        return [node.name]
    if node.op in ("call_function", "call_method") and is_ignored(_target_name(node.target)):
        return [name for parent in node.all_input_nodes for name in _fx_reads(parent)]
    return [node.name]


def _fx_scope(node: torch.fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    key, value = list(stack.items())[-1]
    path = value[0] if isinstance(value, tuple) else key
    return "" if path.startswith("L__self__") else path


def _fx_constant(arg: Any) -> Any:
    return None if isinstance(arg, torch.fx.Node) else arg


def _fake_shape(node: torch.fx.Node) -> tuple[int, ...] | None:
    value = node.meta.get("val")
    shape = getattr(value, "shape", None)
    try:
        return tuple(int(d) for d in shape) if shape is not None else None
    except TypeError:  # symbolic dimensions
        return None


def _attr_path(value: torch._C.Value) -> str:
    """The dotted path of the module attribute ``value`` reads (a chain of ``GetAttr`` from
    the module itself), else ""."""
    names = []
    node = value.node()
    while node.kind() == "prim::GetAttr":
        names.append(node.s("name"))
        node = node.input().node()
    return ".".join(reversed(names)) if names and node.kind() == "prim::Param" else ""


def _constant(value: torch._C.Value) -> Any:
    node = value.node()
    if node.kind() == "prim::Constant":
        return value.toIValue()
    if node.kind() == "prim::ListConstruct":
        items = [_constant(i) for i in ir.inputs(node)]
        return None if any(i is None for i in items) else items
    return None


def _clean(debug_name: str) -> str:
    """``x.1`` -> ``x``: TorchScript suffixes value names with a version."""
    head, _, tail = debug_name.rpartition(".")
    return head if head and tail.isdigit() else debug_name


_ERROR_LINE = re.compile(r"^(?:[\w.]+\.)?\w*(?:Error|Exception): ")
_MAX_REASON = 300


def error_line(exc: BaseException) -> str:
    """The informative line of a torch error: its last ``XxxError: ...`` line, else the first.

    TorchScript runtime errors start with "The following operation failed..." and end
    with the Python error that says what went wrong.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    errors = [line for line in lines if _ERROR_LINE.match(line)]
    text = errors[-1] if errors else (lines[0] if lines else type(exc).__name__)
    return text if len(text) <= _MAX_REASON else text[:_MAX_REASON] + "..."


def _abbreviated(root: torch.nn.Module, path: str) -> torch.nn.Module:
    """The one submodule whose path holds ``path``'s parts in order, ends with its last part
    and adds the fewest others; KeyError when there is none or more than one."""
    parts = path.split(".")
    found: list[tuple[int, torch.nn.Module]] = []
    for name, module in root.named_modules():
        names = name.split(".")
        if names[-1] == parts[-1] and _in_order(parts, names):
            found.append((len(names), module))
    fewest = [module for size, module in found if size == min(s for s, _ in found)]
    if len(fewest) != 1:
        raise KeyError(path)
    return fewest[0]


def _in_order(parts: list[str], names: list[str]) -> bool:
    remaining = iter(names)
    return all(part in remaining for part in parts)

