"""One eager forward pass recorded as an op-level dataflow graph.

A :class:`torch.overrides.TorchFunctionMode` sees every call of torch's Python API
(``F.linear``, ``torch.matmul``, ``x + y``, ``x.view(...)``, ``F.softmax``...) once, at the
level TorchScript records (``aten::linear``, not its ``addmm``); calls made inside a call
are not seen. Forward hooks on every submodule give the module an op runs in (its
scope). An op's inputs are found by tensor identity: each tensor it produced is mapped to
its node, so what is computed from parameters, buffers or shapes alone (position ids,
``arange``) is no activation and not recorded. Any ``nn.Module`` runs, data-dependent
control flow included: the graph is the path this input took.
"""

from __future__ import annotations

import inspect
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from parity.backends._torch_capture import CapturedOp, attrs_from_args, fused_fastpath_off
from parity.ops import is_ignored

# Ops whose results read only their input's shape, dtype or device, not its values.
_VALUE_FREE = frozenset({"new_ones", "new_zeros", "new_full", "new_empty", "ones_like",
                         "zeros_like", "empty_like", "full_like", "rand_like", "randn_like",
                         "randint_like", "detach"})
# Ops returning several tensors that are all peers: each element reads the op's inputs.
_SPLITS = frozenset({"split", "chunk", "unbind", "tensor_split", "split_with_sizes",
                     "hsplit", "vsplit", "dsplit", "unsafe_split"})
# Python operator names -> aten names (``x + y`` is ``Tensor.__add__``).
_OPERATORS = {"truediv": "div", "floordiv": "floor_divide", "mod": "remainder",
              "invert": "bitwise_not", "and": "__and__", "or": "__or__", "xor": "__xor__",
              "lshift": "__lshift__", "rshift": "__rshift__"}


@dataclass
class RecordedPass:
    """What one pass recorded: ops in call order, the output's nodes, the values kept."""

    ops: list[CapturedOp] = field(default_factory=list)
    output_keys: list[str] = field(default_factory=list)
    values: dict[str, torch.Tensor] = field(default_factory=dict)


def record_pass(module: torch.nn.Module, inputs: Mapping[str, torch.Tensor],
                keep: Callable[[str], bool]) -> RecordedPass:
    """Run ``module`` once on ``inputs`` (fed by position, in order) under ``no_grad``.

    Every op's node is recorded; the values of the ops ``keep`` accepts are kept by
    reference (a value an in-place op is about to overwrite is copied first).
    """
    recorder = _Recorder(inputs, keep)
    handles = _scope_hooks(module, recorder)
    try:
        with torch.no_grad(), fused_fastpath_off(), recorder:
            output = module(*inputs.values())
    finally:
        for handle in handles:
            handle.remove()
    overwritten = recorder.overwritten()
    if overwritten:
        raise RuntimeError(f"the value of {overwritten[0]} was overwritten in place by an op "
                           "parity did not see writing into it")
    recorded = recorder.result
    recorded.ops = _mark_module_outputs(recorded.ops, recorder.module_outputs)
    recorded.output_keys = list(dict.fromkeys(
        key for tensor in _tensors(output) for key in recorder.sources(tensor)
        if key not in inputs))
    return recorded


def _scope_hooks(module: torch.nn.Module, recorder: _Recorder) -> list[Any]:
    """Hooks keeping the recorder's stack of module paths being called, and noting the op
    each call's output comes from."""
    handles = []
    scopes = recorder.scopes
    for path, submodule in module.named_modules():
        def enter(_module: torch.nn.Module, _args: Any, path: str = path) -> None:
            scopes.append(path)

        def leave(_module: torch.nn.Module, _args: Any, output: Any) -> None:
            path = scopes.pop()
            first = next(_tensors(output), None)
            if first is not None:
                recorder.module_outputs.update(
                    key for key in recorder.sources(first) if key.startswith(f"{path}/"))

        handles.append(submodule.register_forward_pre_hook(enter))
        handles.append(submodule.register_forward_hook(leave, always_call=True))
    return handles


class _Recorder(TorchFunctionMode):
    """The mode recording each torch call on activations as a :class:`CapturedOp`."""

    def __init__(self, inputs: Mapping[str, torch.Tensor], keep: Callable[[str], bool]
                 ) -> None:
        super().__init__()
        self.result = RecordedPass()
        self.scopes: list[str] = []
        self.module_outputs: set[str] = set()  # ops whose value a module call returned
        self._versions: dict[str, int] = {}  # a kept value's version counter when kept
        self._keep = keep
        self._counts: Counter[str] = Counter()
        # id(tensor) -> (weak reference, the nodes or inputs its value comes from)
        self._producer: dict[int, tuple[weakref.ref, tuple[str, ...]]] = {}
        for name, tensor in inputs.items():
            self._track(tensor, (name,))

    def __torch_function__(self, func: Any, types: Any, args: Sequence[Any] = (),
                           kwargs: Mapping[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        name, in_place = _aten_name(func, args, kwargs)
        reads = () if name in _VALUE_FREE else self._reads(args, kwargs)
        if reads and in_place and isinstance(args[0], torch.Tensor):
            self._protect(args[0])
        output = func(*args, **kwargs)
        if not reads or is_ignored(name):
            return output
        if in_place and isinstance(args[0], torch.Tensor):
            output = args[0] if output is None else output  # ``x[i] = y`` returns None
        if isinstance(output, torch.Tensor):
            self._add(name, reads, func, args, kwargs, output)
        elif isinstance(output, (tuple, list)):
            tensors = [item for item in output if isinstance(item, torch.Tensor)]
            if name in _SPLITS or not tensors:
                for tensor in tensors:
                    self._track(tensor, reads)
            else:  # (values, indices), (output, weights): the first is the op's value
                key = self._add(name, reads, func, args, kwargs, tensors[0])
                for tensor in tensors[1:]:
                    self._track(tensor, (key,))
        return output

    def _add(self, name: str, reads: tuple[str, ...], func: Any, args: Sequence[Any],
             kwargs: Mapping[str, Any], output: torch.Tensor) -> str:
        """Record the op that produced ``output``; its key."""
        scope = self.scopes[-1] if self.scopes else ""
        base = f"{scope}/{name}"
        key = f"{base}#{self._counts[base]}"
        self._counts[base] += 1
        self.result.ops.append(CapturedOp(key, f"aten::{name}", scope, reads,
                                          _attrs(name, func, args, kwargs),
                                          shape=tuple(output.shape)))
        self._track(output, (key,))
        if self._keep(key):
            self.result.values[key] = output
            self._versions[key] = output._version
        return key

    def sources(self, tensor: torch.Tensor) -> tuple[str, ...]:
        """The nodes (or inputs) ``tensor``'s value was recorded from; () if none."""
        entry = self._producer.get(id(tensor))
        if entry is None or entry[0]() is not tensor:
            return ()
        return entry[1]

    def _reads(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[str, ...]:
        found = [key for tensor in _tensors((args, kwargs)) for key in self.sources(tensor)]
        return tuple(dict.fromkeys(found))

    def _track(self, tensor: torch.Tensor, sources: tuple[str, ...]) -> None:
        key = id(tensor)

        def forget(_ref: weakref.ref, key: int = key) -> None:
            entry = self._producer.get(key)
            if entry is not None and entry[0] is _ref:
                del self._producer[key]

        self._producer[key] = (weakref.ref(tensor, forget), sources)

    def _protect(self, tensor: torch.Tensor) -> None:
        """Copy the kept values ``tensor``'s storage holds before an op overwrites it."""
        storage = tensor.untyped_storage().data_ptr()
        values = self.result.values
        for key, value in values.items():
            if value.untyped_storage().data_ptr() == storage:
                values[key] = value.clone()
                self._versions[key] = values[key]._version

    def overwritten(self) -> list[str]:
        """Kept values some op changed in place without being seen as in-place (``out=``)."""
        return [key for key, value in self.result.values.items()
                if value._version != self._versions[key]]


def _mark_module_outputs(ops: list[CapturedOp], outputs: set[str]) -> list[CapturedOp]:
    """Ops a leaf module (a scope no other scope lies in) returned are its call: they take
    the module's path as name, its other ops ``path/op`` (see ``name_ops``)."""
    scopes = {op.scope for op in ops if op.scope}
    parents = {s.rsplit(".", i)[0] for s in scopes for i in range(1, s.count(".") + 1)}
    return [replace(op, is_module_call=True)
            if op.key in outputs and op.scope and op.scope not in parents else op
            for op in ops]


def _aten_name(func: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[str, bool]:
    """The aten name of a torch call and whether it writes into its first argument."""
    name = getattr(func, "__name__", "") or type(func).__name__
    if name == "__get__":  # a tensor property (``x.T``, ``x.mT``)
        name = getattr(getattr(func, "__self__", None), "__name__", name)
    if name == "__getitem__":
        return _indexing(args[1] if len(args) > 1 else None), False
    if name == "__setitem__":
        return "index_put_", True
    if name.startswith("__") and name.endswith("__"):
        bare = name[2:-2]
        if bare.startswith("i") and bare[1:] in ("add", "sub", "mul", "truediv", "floordiv",
                                                 "matmul", "and", "or", "xor", "pow"):
            base = _OPERATORS.get(bare[1:], bare[1:])
            return f"{base.strip('_')}_", True
        if bare.startswith("r") and bare[1:] in ("add", "mul", "truediv", "matmul", "pow",
                                                 "floordiv", "mod", "and", "or", "xor"):
            bare = bare[1:]
        return _OPERATORS.get(bare, bare), False
    in_place = name.endswith("_") and not name.startswith("_")
    return name, in_place or _inplace_flag(func, args, kwargs)


def _indexing(index: Any) -> str:
    """``x[0]`` selects, ``x[:, 1:]`` slices, ``x[mask]`` and ``x[ids]`` index, and
    ``x[:, :, None]`` (nothing cut, an axis added) unsqueezes."""
    parts = index if isinstance(index, tuple) else (index,)
    if any(isinstance(p, (torch.Tensor, list)) for p in parts):
        return "index"
    if any(isinstance(p, int) and not isinstance(p, bool) for p in parts):
        return "select"
    if None in parts and all(p is None or p is Ellipsis or p == slice(None) for p in parts):
        return "unsqueeze"
    return "slice"


def _inplace_flag(func: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> bool:
    """``F.relu(x, inplace=True)`` and friends, by keyword or position."""
    if kwargs.get("inplace") is True:
        return True
    position = _inplace_position(func)
    return position is not None and position < len(args) and args[position] is True


@cache
def _signature(func: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):  # builtins have no signature
        return None


@cache
def _inplace_position(func: Any) -> int | None:
    signature = _signature(func)
    names = list(signature.parameters) if signature else []
    return names.index("inplace") if "inplace" in names else None


def _attrs(name: str, func: Any, args: Sequence[Any], kwargs: Mapping[str, Any]
           ) -> dict[str, Any]:
    """Attributes from the call's arguments, keywords and (Python functions) defaults."""
    if name == "slice" and len(args) > 1 and isinstance(args[0], torch.Tensor):
        return _slice_attrs(args[0].dim(), args[1])
    if name in ("select", "slice", "index", "index_put_"):  # ``x[...]``: no aten arguments
        return {}
    named = dict(kwargs)
    signature = _signature(func)
    try:
        bound = signature.bind(*args, **kwargs) if signature else None
    except TypeError:
        bound = None
    if bound is None:
        return _spatial(name, attrs_from_args(name, args, named))
    bound.apply_defaults()
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    named.update({key: value for key, value in bound.arguments.items()
                  if bound.signature.parameters[key].kind not in variadic})
    return _spatial(name, attrs_from_args(name, args, named))


def _slice_attrs(rank: int, index: Any) -> dict[str, Any]:
    """``x[:, 0::2, 1::2]`` as one multi-axis Slice reads it (ONNX's ``starts``, ``ends``,
    ``axes``, ``steps``; whole axes left out), so alignment knows what it cuts; empty when
    that is not plain (``None`` axes, negative or computed bounds)."""
    parts = index if isinstance(index, tuple) else (index,)
    if parts.count(Ellipsis) > 1 or any(p is None for p in parts):
        return {}
    found: dict[str, list[int]] = {"starts": [], "ends": [], "axes": [], "steps": []}
    axis = 0
    for part in parts:
        if part is Ellipsis:
            axis += rank - (len(parts) - 1)
            continue
        if not isinstance(part, slice):
            return {}
        bounds = (part.start or 0, part.stop, part.step or 1)
        if not all(isinstance(b, int) and b >= 0 for b in bounds if b is not None):
            return {}
        if bounds != (0, None, 1):
            for key, value in zip(("starts", "ends", "axes", "steps"),
                                  (bounds[0], 2**63 - 1 if part.stop is None else part.stop,
                                   axis, bounds[2])):
                found[key].append(value)
        axis += 1
    return {key: tuple(values) for key, values in found.items()}


def _spatial(name: str, attrs: dict[str, Any]) -> dict[str, Any]:
    """``kernel=3`` as aten's ``int[2]`` reads it for a 2-d op (``(3, 3)``); a pool's
    missing stride is its kernel."""
    rank = int(name[-2]) if name[-2:] in ("1d", "2d", "3d") else 0
    if not rank:
        return attrs
    if "pool" in name and attrs.get("stride") in (None, ()) and "kernel" in attrs:
        attrs["stride"] = attrs["kernel"]
    for key in ("kernel", "stride", "pad", "dilation"):
        if isinstance(attrs.get(key), int):
            attrs[key] = (attrs[key],) * rank
    return attrs


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    """Tensors in a value: itself, or inside tuples, lists and mappings (ModelOutput)."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _tensors(item)
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors(item)
