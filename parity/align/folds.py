"""Folds: one side computes as one op what the other splits into a chain.

ONNX exporters fold BatchNorm into the Conv before it; Caffe splits a BatchNorm into
BatchNorm + Scale; Keras Conv2D/Dense may carry their activation. Such a pair is compared
at the chain's end, where both sides hold the same value, and the chain's interior is
skipped.
"""

from __future__ import annotations

from collections.abc import Container

from ..graph import Graph, Node
from ..ops import FOLDS, family


def fold_tail(graph: Graph, head: str, taken: Container[str]) -> list[str]:
    """Unmatched single-consumer successors of ``head`` another framework may fold in."""
    foldable = FOLDS.get(family(graph.node(head).op), frozenset())
    tail, current = [], head
    while len(graph.consumers.get(current, ())) == 1:
        user = graph.node(graph.consumers[current][0])
        if user.name in taken or family(user.op) not in foldable or user.inputs != (current,):
            break
        tail.append(user.name)
        current = user.name
    return tail


def move_to_fold_end(
    a: Graph, b: Graph, x: str, y: str, taken_a: Container[str], taken_b: Container[str]
) -> tuple[str, str, list[str], list[str]] | None:
    """``(new_x, new_y, skipped_a, skipped_b)`` when only one side of the pair has a tail."""
    tail_a = fold_tail(a, x, taken_a)
    tail_b = fold_tail(b, y, taken_b)
    if tail_a and not tail_b and not _reads_like(b, y, taken_b, a.node(tail_a[0])):
        return tail_a[-1], y, [x, *tail_a[:-1]], []
    if tail_b and not tail_a and not _reads_like(a, x, taken_a, b.node(tail_b[0])):
        return x, tail_b[-1], [], [y, *tail_b[:-1]]
    return None


def _reads_like(graph: Graph, head: str, taken: Container[str], other: Node) -> bool:
    """Whether an unmatched consumer of ``head`` has ``other``'s family: then the op is
    there on this side too (e.g. a ReLU that also reads another tensor), not folded."""
    return any(
        name not in taken and family(graph.node(name).op) == family(other.op)
        for name in graph.consumers.get(head, ())
    )
