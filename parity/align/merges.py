"""Nodes merged into others or left out of a graph, their readers rewritten.

Two passes merge nodes that hold another node's value (:mod:`.slices`: a repeated or
whole-axis slice; :mod:`.repeats`: an unmatched repeat of an earlier node); they differ
only in how they find the node one holds. :func:`merged` walks the graph once for both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..graph import Graph, Node

# What becomes of a node: a Node (kept, as given), a name (merged into that node: its readers
# read that node), or None (left out: its readers no longer read it).
Fate = Node | str | None


def merged(graph: Graph, fate: Callable[[Node], Fate]) -> tuple[Graph, dict[str, str | None]]:
    """``graph`` with each node, its inputs read through the merges before it, given to
    ``fate``; and the names merged or left out -> the node each holds (None: left out).
    ``graph`` itself when nothing changed."""
    gone: dict[str, str | None] = {}
    nodes: list[Node] = []
    changed = False
    for node in graph.nodes:
        if any(name in gone for name in node.inputs):
            node = replace(node, inputs=tuple(dict.fromkeys(
                gone.get(n, n) for n in node.inputs if n not in gone or gone[n] is not None)))
        kept = fate(node)
        if isinstance(kept, Node):
            changed = changed or kept is not graph.node(kept.name)
            nodes.append(kept)
        else:
            gone[node.name] = kept
    if not gone and not changed:
        return graph, {}
    outputs = tuple(dict.fromkeys(gone.get(name) or name for name in graph.outputs))
    return Graph(tuple(nodes), graph.inputs, outputs, graph.source), gone
