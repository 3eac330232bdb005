"""Values one side computes twice and the other once.

A traced model recomputes what its code asks for twice (transformers builds each attention
mask from ``attention_mask`` anew: Gemma 2's sliding-window mask repeats the cast and
index of the global one); an exporter writes the shared steps once and reads them twice.
The repeats have no partner, and what reads them hangs from no pair, so it is left
unmatched too.

A node still unmatched once alignment has run, with the op, operands, attributes and
module scope of an earlier node (its operands read through the repeats before it), holds
that node's value as far as the graph shows. It is merged into that node
(:func:`merge_repeats`): its readers read that node, and the structural sweep runs again
over what is left. Only unmatched nodes are merged, so no pair made before changes. A
torch op's literal arguments are attributes (``constants``: a ``to``'s dtype, the 2.0 of
``x + 2.0``), so ops that differ by one are no repeats. An operand the graph does not
record (what shapes compute: Gemma 2's window bound) may differ between the two: a
repeat still unmatched merges alike on both sides (the two masks compared as one), and the
pairs reading them compare the values each side computes. Contradicted pairs are looked
for through the unpaired repeats (alignment's ``_drop_contradicted``), so a mask paired
with its own partner stays paired.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ..graph import Graph, Node
from .merges import merged


def merge_repeats(graph: Graph, left: Collection[str]) -> tuple[Graph, dict[str, str]]:
    """``graph`` with each node of ``left`` that repeats an earlier node left out and its
    readers reading that node; and the merged names -> the node each repeats."""
    seen: dict[tuple[Any, ...], str] = {}

    def fate(node: Node) -> Node | str:
        key = _key(node)
        if key is not None and node.name in left and key in seen:
            return seen[key]
        if key is not None:
            seen.setdefault(key, node.name)
        return node

    graph, gone = merged(graph, fate)
    return graph, {name: to for name, to in gone.items() if to is not None}


def unmatched(graph: Graph, matched: Mapping[str, str], skipped: Collection[str]
              ) -> set[str]:
    """The nodes of ``graph`` neither matched nor skipped."""
    return {n.name for n in graph.nodes if n.name not in matched and n.name not in skipped}


def _key(node: Node) -> tuple[Any, ...] | None:
    """What makes two nodes compute the same value, as the graph records it (the scope
    too: two modules' ops differ by their weights); None for a node whose attributes
    cannot be compared."""
    if not node.inputs:
        return None
    try:
        attrs = tuple(sorted((k, _hashable(v)) for k, v in node.attrs.items()))
        hash(attrs)
    except TypeError:
        return None
    return node.op, node.scope, node.inputs, attrs


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    return value
