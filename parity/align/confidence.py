"""A name is a hint, not a verdict: how much each pair is worth, from the evidence around it.

Every pair starts from the weight of the strategy that made it (the user's mapping and the
inputs are certain; exact names are strong; scopes next; structure, then sequence, weaker).
Its neighbours then speak: the pair's nearest matched producers on A should be paired with
the nearest matched producers of its partner on B. Output shapes (where both sides know
them) agree or not. A pair whose producers are all paired elsewhere contradicts its
neighbours: :func:`contradicted` lists those, so alignment can drop them and look again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..graph import Graph
from ..ops import compatible
from .structure import similarity

STRATEGY_WEIGHT = {"manual": 1.0, "input": 1.0, "exact": 0.9, "normalised": 0.85,
                   "scope": 0.8, "structure": 0.7, "sequence": 0.5, "output": 0.9}
_CERTAIN = ("manual", "input")


def agreement(
    a: Graph, b: Graph, pairs: Mapping[str, str], skipped_a: Iterable[str] = (),
    skipped_b: Iterable[str] = (),
) -> dict[str, float | None]:
    """Per pair (keyed by its A node): the share of its nearest matched producers on A whose
    partners are nearest matched producers of its B node; None when it has none."""
    near_a = a.nearest(set(pairs))
    near_b = b.nearest(set(pairs.values()))
    found: dict[str, float | None] = {}
    for x, y in pairs.items():
        producers = near_a.get(x, ())
        if not producers or y not in near_b:
            found[x] = None
            continue
        theirs = set(near_b[y])
        found[x] = sum(pairs[p] in theirs for p in producers) / len(producers)
    return found


def contradicted(
    a: Graph, b: Graph, pairs: Mapping[str, str], how: Mapping[str, str]
) -> list[str]:
    """A nodes of the pairs (other than the user's and the inputs) none of whose matched
    producers is paired with a producer of their partner."""
    shares = agreement(a, b, pairs)
    return [x for x, share in shares.items()
            if share == 0.0 and how[x].split("+")[0] not in _CERTAIN]


def confidence(a: Graph, b: Graph, x: str, y: str, how: str, share: float | None) -> float:
    """0..1: the strategy's weight, lowered by disagreeing neighbours, shapes or ops."""
    strategy = how.split("+")[0]
    if strategy in _CERTAIN:
        return 1.0
    value = STRATEGY_WEIGHT.get(strategy, 0.5)
    if share is not None:
        value *= 0.5 + 0.5 * share
        value += 0.15 * share * (1.0 - value)
    if x in a and y in b:
        node_a, node_b = a.node(x), b.node(y)
        if node_a.shape is not None and node_b.shape is not None:
            value *= 1.0 if similarity(node_a, node_b) >= 0 else 0.6
        if not compatible(node_a.op, node_b.op):
            value *= 0.9
    return round(min(value, 1.0), 2)
