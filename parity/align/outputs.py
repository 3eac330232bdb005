"""The models' outputs are meant to be equal: compare them, even where one side adds a step.

A conversion that appends ops after what the other side returns (a Transpose to NHWC, a
Softmax, a Cast) leaves that tail unmatched, and nothing compares the values the user
actually gets. For each pair of graph outputs (by position, when both sides have as many),
where one side's output is unmatched and the other's is paired with a node upstream of it
with only unmatched nodes between, the pair is moved onto the outputs themselves: the diff
then sees what the user sees (shape 1x4x16x16 vs 1x16x16x4, or other values). The tail's
nodes are skipped, not counted against coverage. Where both outputs are unmatched, they
are paired as they stand.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

from ..graph import Graph


def output_pairs(
    a: Graph, b: Graph, outputs_a: tuple[str, ...], outputs_b: tuple[str, ...],
    pairs: Mapping[str, str], skipped_a: set[str], skipped_b: set[str],
) -> Iterator[tuple[str, str, str | None, tuple[str, ...], tuple[str, ...]]]:
    """``(a_output, b_output, a_node_it_replaces, tail_a, tail_b)`` per output pair to make.

    ``a_node_it_replaces`` is the A node whose pair gives way (its own output when the
    tail is on B; None when neither output was paired); ``tail_*`` are the nodes between
    the old pair and the outputs, to skip.
    """
    if len(outputs_a) != len(outputs_b):
        return
    partner_of_b = {y: x for x, y in pairs.items()}
    for out_a, out_b in zip(outputs_a, outputs_b):
        if out_a not in a or out_b not in b or pairs.get(out_a) == out_b:
            continue
        if not _same_size(a, b, out_a, out_b):
            continue
        free_a = out_a not in pairs and out_a not in skipped_a
        free_b = out_b not in partner_of_b and out_b not in skipped_b
        if free_a and free_b:
            yield out_a, out_b, None, (), ()
        elif free_b and out_a in pairs:
            tail = _tail(b, out_b, pairs[out_a], set(partner_of_b))
            if tail is not None:
                yield out_a, out_b, out_a, (), tail
        elif free_a and out_b in partner_of_b:
            tail = _tail(a, out_a, partner_of_b[out_b], set(pairs))
            if tail is not None:
                yield out_a, out_b, partner_of_b[out_b], tail, ()


def _tail(graph: Graph, output: str, start: str, matched: set[str]) -> tuple[str, ...] | None:
    """The nodes between ``start`` and ``output`` (both excluded) when ``output`` reads
    ``start`` only through unmatched nodes and reaches no other matched node; else None."""
    tail: list[str] = []
    seen: set[str] = set()
    reached: set[str] = set()
    todo = [output]
    while todo:
        name = todo.pop()
        for source in graph.node(name).inputs:
            if source in seen or source not in graph:
                continue
            seen.add(source)
            if source in matched:
                reached.add(source)
            else:
                tail.append(source)
                todo.append(source)
    if reached != {start}:
        return None
    return tuple(sorted(tail, key=graph.order.__getitem__))


def _same_size(a: Graph, b: Graph, out_a: str, out_b: str) -> bool:
    """False only when both shapes are known and hold different numbers of elements."""
    shape_a, shape_b = a.node(out_a).shape, b.node(out_b).shape
    if shape_a is None or shape_b is None or None in shape_a or None in shape_b:
        return True
    return math.prod(shape_a) == math.prod(shape_b)  # type: ignore[arg-type]
