"""Which ONNX graph inputs are indices, and how many rows the table they index has.

A graph input that reaches a ``Gather``'s indices through shape-only ops (``Cast``,
``Reshape``, ``Unsqueeze``...) selects rows of that Gather's data; when the data is an
initializer its size along the gathered axis bounds the ids (``0 <= id < rows``).
"""

from __future__ import annotations

import onnx
from onnx import helper

_SHAPE_ONLY = frozenset({"Cast", "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Identity",
                         "Expand"})


def index_ranges(graph: onnx.GraphProto) -> dict[str, tuple[int, int]]:
    """``{graph input: (0, rows)}`` for every input used as Gather indices of an initializer
    table (the smallest table when it indexes several)."""
    tables = {init.name: tuple(init.dims) for init in graph.initializer}
    inputs = {vi.name for vi in graph.input} - set(tables)
    producer = {out: node for node in graph.node for out in node.output}
    found: dict[str, tuple[int, int]] = {}
    for node in graph.node:
        if node.op_type != "Gather" or len(node.input) < 2 or node.input[0] not in tables:
            continue
        dims = tables[node.input[0]]
        if not dims:
            continue
        axis = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"),
                    0) % len(dims)
        source = _source(node.input[1], producer, inputs)
        if source is not None and dims[axis] > 0:
            rows = min(dims[axis], found.get(source, (0, dims[axis]))[1])
            found[source] = (0, rows)
    return found


def _source(tensor: str, producer: dict[str, onnx.NodeProto], inputs: set[str]) -> str | None:
    """The graph input ``tensor`` is, through shape-only ops, or None."""
    while tensor not in inputs:
        node = producer.get(tensor)
        if node is None or node.op_type not in _SHAPE_ONLY or not node.input:
            return None
        tensor = node.input[0]
    return tensor
