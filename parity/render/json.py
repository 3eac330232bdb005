"""JSON: the documented report contract (docs/json-report.md) and the alignment data."""

from __future__ import annotations

import json

from parity.align import Alignment
from parity.graph import Graph
from parity.report import Report


def render_json(report: Report) -> str:
    """The documented JSON contract, indented."""
    return json.dumps(report.to_dict(), indent=2)


def alignment_dict(alignment: Alignment, a: Graph, b: Graph) -> dict[str, object]:
    """The alignment as JSON-ready data: pairs with ops, shapes and how each was found."""

    def shape(graph: Graph, name: str) -> list[int | None] | None:
        if name in graph.input_names:
            spec = graph.inputs[graph.input_names.index(name)]
            return None if spec.shape is None else list(spec.shape)
        node_shape = graph.node(name).shape
        return None if node_shape is None else list(node_shape)

    return {
        "pairs": [
            {"a": m.a, "b": m.b, "op_a": a.op_of(m.a), "op_b": b.op_of(m.b),
             "shape_a": shape(a, m.a), "shape_b": shape(b, m.b), "how": m.how,
             "confidence": m.confidence}
            for m in alignment.pairs
        ],
        "unmatched_a": list(alignment.unmatched_a),
        "unmatched_b": list(alignment.unmatched_b),
        "skipped_a": list(alignment.skipped_a),
        "skipped_b": list(alignment.skipped_b),
        "inert_a": list(alignment.inert_a),
        "inert_b": list(alignment.inert_b),
    }
