"""What a torch model's inputs are: the dtype each declares and the ids an index input takes.

An input that reaches an embedding's indices through shape-only ops (``view``, ``to``,
``unsqueeze``...) is an index input: int64, ``0 <= id < num_embeddings``. torch.export
programs also record every input's dtype; TorchScript and ``torch.fx.symbolic_trace``
graphs declare none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.fx

IndexRange = tuple[int, int]
_SHAPE_ONLY = frozenset({"view", "reshape", "to", "contiguous", "unsqueeze", "squeeze",
                         "flatten", "expand", "_to_copy", "long", "int", "clone"})


def _short(name: str) -> str:
    """``aten::view`` / ``aten.view.default`` / ``view`` -> ``view``."""
    return name.replace("aten::", "").replace("aten.", "").split(".")[0]


def script_index_ranges(graph: torch._C.Graph, module: torch.nn.Module,
                        inputs: Sequence[torch._C.Value]) -> list[IndexRange | None]:
    """Per graph input (``self`` excluded) of an inlined TorchScript graph, its ids' range."""
    position = {value.debugName(): i for i, value in enumerate(inputs)}
    found: list[IndexRange | None] = [None] * len(inputs)
    for node in graph.nodes():
        if node.kind() != "aten::embedding":
            continue
        weight, indices = node.inputsAt(0), node.inputsAt(1)
        table = _attribute(weight, module)
        source = _script_source(indices, position)
        if source is not None and isinstance(table, torch.Tensor) and table.dim() >= 1:
            found[source] = _narrower(found[source], int(table.shape[0]))
    return found


def _attribute(value: torch._C.Value, module: torch.nn.Module) -> Any:
    """The module attribute a ``prim::GetAttr`` chain from ``self`` reads, or None."""
    path = []
    while value.node().kind() == "prim::GetAttr":
        path.append(value.node().s("name"))
        value = value.node().input()
    found: Any = module
    for name in reversed(path):
        found = getattr(found, name, None)
    return found if path else None


def _script_source(value: torch._C.Value, position: dict[str, int]) -> int | None:
    while value.debugName() not in position:
        node = value.node()
        if _short(node.kind()) not in _SHAPE_ONLY or node.inputsSize() == 0:
            return None
        value = node.inputsAt(0)
    return position[value.debugName()]


def fx_index_ranges(graph_module: torch.fx.GraphModule) -> list[IndexRange | None]:
    """Per placeholder of an fx graph (traced module or torch.export program), its ids'
    range."""
    placeholders = [n for n in graph_module.graph.nodes if n.op == "placeholder"]
    position = {node: i for i, node in enumerate(placeholders)}
    found: list[IndexRange | None] = [None] * len(placeholders)
    for node in graph_module.graph.nodes:
        rows, indices = _fx_embedding(node, graph_module)
        source = _fx_source(indices, position) if indices is not None else None
        if source is not None and rows:
            found[source] = _narrower(found[source], rows)
    return found


def _fx_embedding(node: torch.fx.Node, graph_module: torch.fx.GraphModule
                  ) -> tuple[int | None, Any]:
    """``(table rows, indices node)`` when ``node`` is an embedding lookup."""
    if node.op == "call_module":
        module = graph_module.get_submodule(str(node.target))
        if isinstance(module, torch.nn.Embedding) and node.args:
            return module.num_embeddings, node.args[0]
    elif node.op == "call_function" and len(node.args) >= 2:
        if node.target is torch.nn.functional.embedding:  # (input, weight)
            return _rows(node.args[1], graph_module), node.args[0]
        if _short(getattr(node.target, "__name__", str(node.target))) == "embedding":
            return _rows(node.args[0], graph_module), node.args[1]  # aten: (weight, indices)
    return None, None


def _rows(weight: Any, graph_module: torch.fx.GraphModule) -> int | None:
    if not isinstance(weight, torch.fx.Node):
        return None
    value = weight.meta.get("val")
    if value is None and weight.op == "get_attr":
        value = _get_attr(graph_module, str(weight.target))
    shape = getattr(value, "shape", None)
    try:
        return int(shape[0]) if shape is not None and len(shape) >= 1 else None
    except TypeError:  # a symbolic size
        return None


def _get_attr(graph_module: torch.fx.GraphModule, target: str) -> Any:
    found: Any = graph_module
    for name in target.split("."):
        found = getattr(found, name, None)
    return found


def _fx_source(value: Any, position: dict[torch.fx.Node, int]) -> int | None:
    while isinstance(value, torch.fx.Node) and value not in position:
        name = _short(getattr(value.target, "__name__", str(value.target)))
        if value.op not in ("call_function", "call_method") or name not in _SHAPE_ONLY \
                or not value.args:
            return None
        value = value.args[0]
    return position.get(value) if isinstance(value, torch.fx.Node) else None


def fx_dtypes(graph_module: torch.fx.GraphModule) -> list[str | None]:
    """Per placeholder, the numpy name of the dtype torch.export recorded, else None."""
    dtypes: list[str | None] = []
    for node in graph_module.graph.nodes:
        if node.op == "placeholder":
            value = node.meta.get("val")
            dtype = getattr(value, "dtype", None)
            dtypes.append(str(dtype).removeprefix("torch.") if dtype is not None else None)
    return dtypes


def _narrower(current: IndexRange | None, rows: int) -> IndexRange:
    return (0, rows if current is None else min(current[1], rows))
