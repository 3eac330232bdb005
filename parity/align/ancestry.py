"""Pairs that contradict what their values are computed from.

If ``x`` (on A) and ``y`` (on B) hold the same value, every pair upstream of ``x`` next to
it is upstream of ``y`` too, and the other way round. A name, a scope's call order or a
position can pair two Reshapes of one attention block that are not the same call (the
exporter's ``K^T`` reshape with torch's reshape of the attention output): the nearest pairs
above one of them are then not above the other. :func:`out_of_order` finds such pairs, the
worst first, so alignment can drop them and look again.

Each pair is one bit; a node's ancestry is the OR of its producers' bits and ancestries,
one sweep per graph in topological order (Python integers as bit sets), so a check costs
about O(N x pairs / 64) word operations.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from ..graph import Graph

_ROUNDS = 8  # drop-and-recount rounds; each drops the pairs with the most violations


def out_of_order(
    a: Graph, b: Graph, pairs: Mapping[str, str], keep: Collection[str] = ()
) -> list[str]:
    """A nodes of the pairs (other than ``keep``) some of whose nearest paired producers
    are paired with nodes that are not upstream of their partner (on either side).

    Pairs are dropped in rounds, the most contradicted first, and the rest re-counted
    without them: one wrong pair makes the right pairs between its two ends look wrong
    too, but by fewer producers.
    """
    live = dict(pairs)
    dropped: list[str] = []
    for _ in range(_ROUNDS):
        counts = _violations(a, b, live)
        worst = max((n for x, n in counts.items() if x not in keep), default=0)
        if worst == 0:
            break
        for x, n in counts.items():
            if n == worst and x not in keep:
                dropped.append(x)
                del live[x]
    return dropped


def _violations(a: Graph, b: Graph, pairs: Mapping[str, str]) -> dict[str, int]:
    """Per pair (by its A node): how many of the nearest paired producers on either side
    have a partner that is not upstream of the other side's node."""
    backward = {y: x for x, y in pairs.items()}
    index = {x: 1 << i for i, x in enumerate(pairs)}
    upstream_a = _ancestry(a, index)
    upstream_b = _ancestry(b, {pairs[x]: bit for x, bit in index.items()})
    near_a, near_b = a.nearest(set(pairs)), b.nearest(set(backward))
    counts = {}
    for x, y in pairs.items():
        above_a, above_b = upstream_a.get(x, 0), upstream_b.get(y, 0)
        counts[x] = (sum(not index[p] & above_b for p in near_a.get(x, ()))
                     + sum(not index[backward[q]] & above_a for q in near_b.get(y, ())))
    return counts


def _ancestry(graph: Graph, bits: Mapping[str, int]) -> dict[str, int]:
    """For every node and input: the OR of the bits of the paired points upstream of it."""
    above: dict[str, int] = dict.fromkeys(graph.input_names, 0)
    for node in graph.nodes:
        value = 0
        for parent in node.inputs:
            value |= above.get(parent, 0) | bits.get(parent, 0)
        above[node.name] = value
    return above
