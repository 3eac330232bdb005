"""Reading a TorchScript graph's nodes from Python without torch's slow iterators.

``node.inputs()``, ``node.outputs()`` and ``node.blocks()`` each build a pybind11 iterator,
about 7 µs a call, and 32 µs once onnxruntime (another pybind11 module) is imported: on
ResNet-50 that made reading the graph 50 ms of the open. ``inputsAt(i)`` and
``outputsAt(i)`` cost 1 µs. Nodes of the kinds below never own blocks, so their
``blocks()`` is not asked for.
"""

from __future__ import annotations

from typing import Any

# Kinds the TorchScript compiler emits without blocks (control flow is prim::If / Loop).
_FLAT_PRIMS = frozenset({
    "prim::Constant", "prim::GetAttr", "prim::SetAttr", "prim::ListConstruct",
    "prim::TupleConstruct", "prim::DictConstruct", "prim::ListUnpack", "prim::TupleUnpack",
    "prim::TupleIndex", "prim::CallMethod", "prim::CallFunction", "prim::NumToTensor",
    "prim::unchecked_cast", "prim::dtype", "prim::device", "prim::RaiseException",
    "prim::Uninitialized", "prim::min", "prim::max", "prim::shape", "prim::layout",
})


def inputs(node: Any) -> list[Any]:
    """The node's input values."""
    return [node.inputsAt(i) for i in range(node.inputsSize())]


def outputs(node: Any) -> list[Any]:
    """The node's output values."""
    return [node.outputsAt(i) for i in range(node.outputsSize())]


def blocks(node: Any) -> list[Any]:
    """The node's nested blocks (``prim::If`` branches, ``prim::Loop`` bodies)."""
    kind = node.kind()
    if kind in _FLAT_PRIMS or kind.startswith("aten::"):
        return []
    return list(node.blocks())
