"""Look-alike pairs whose partners are crossed, told apart by who reads them.

Two computations with the same ops (Gemma 2's sliding-window and full attention masks: the
same ``and``, ``expand``, ``where`` from the padding mask, differing only in constants) are
paired by scope and call order. When the two sides write them in different orders (torch
builds both masks first, OpenVINO each right before the layer that reads it) the pairs are
crossed: the paired readers of ``x`` (on A) read the *other* look-alike's partner on B.
:func:`uncrossed` exchanges such partners where that makes more paired readers of both
agree, readers first, so a swap at a chain's end carries up the chain to its head. Only
readers whose own pair stands on other evidence count.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..graph import Graph

_ROUNDS = 8  # each round walks the pairs once, readers before producers


def uncrossed(a: Graph, b: Graph, pairs: Mapping[str, str]) -> dict[str, str]:
    """``pairs`` (A node -> B node) with crossed look-alikes exchanged: ``x1 ~ y1`` and
    ``x2 ~ y2`` (``x1``, ``x2`` one op on A; ``y1``, ``y2`` one op on B) become
    ``x1 ~ y2``, ``x2 ~ y1`` when more of the trusted paired readers of each agree that
    way."""
    live = dict(pairs)
    back = {y: x for x, y in live.items()}
    readers_a, readers_b = a.consumers, b.consumers

    moved: set[str] = set()

    def trusted(reader: str, x: str) -> bool:
        """The pair of ``reader`` stands on more than ``x``: it was itself uncrossed, or
        another of its operands' pairs agrees with it (a lone reader's pair is as doubtful
        as the producer's: GPT-2's split heads, each read by one view)."""
        if reader in moved:
            return True
        if live[reader] not in b:
            return False
        theirs = b.node(live[reader]).inputs
        return any(p != x and live.get(p) in theirs for p in a.node(reader).inputs)

    def agree(x: str, y: str) -> int:
        theirs = set(readers_b.get(y, ()))
        return sum(live.get(r) in theirs and trusted(r, x) for r in readers_a.get(x, ()))

    for _ in range(_ROUNDS):
        swapped = False
        for x1 in sorted(live, key=lambda x: -a.order.get(x, -1)):
            y1 = live[x1]
            for y2 in _partners_read_instead(b, live, readers_a.get(x1, ()), readers_b, y1):
                x2 = back.get(y2)
                if (x2 is None or x2 == x1 or a.op_of(x2) != a.op_of(x1)
                        or b.op_of(y2) != b.op_of(y1)):
                    continue
                if agree(x1, y2) > agree(x1, y1) and agree(x2, y1) > agree(x2, y2):
                    live[x1], live[x2] = y2, y1
                    back[y1], back[y2] = x2, x1
                    moved.update((x1, x2))
                    swapped = True
                    break
        if not swapped:
            break
    return live


def _partners_read_instead(b: Graph, live: Mapping[str, str], readers: tuple[str, ...],
                           readers_b: Mapping[str, tuple[str, ...]], y: str) -> list[str]:
    """The B nodes the partners of ``readers`` read, where those partners do not read ``y``."""
    found: list[str] = []
    for reader in readers:
        partner = live.get(reader)
        if partner is None or partner not in b or partner in readers_b.get(y, ()):
            continue
        found += [p for p in b.node(partner).inputs if p != y and p not in found]
    return found
