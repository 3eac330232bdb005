"""Name strategies: nodes whose names (raw, or without framework decoration) agree."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Hashable

from ..graph import Node
from ..ops import op_key

Strategy = Callable[[list[Node], list[Node]], list[tuple[str, str]]]


def normalise_name(name: str) -> str:
    """Name without framework decoration: ``conv1_output`` and ``Conv1/`` -> ``conv1``."""
    text = name.lower()
    text = re.sub(r"(_output\d*|_fwd|:0)$", "", text)
    return re.sub(r"[/.:\-]+", "_", text).strip("_")


def named_key(node: Node) -> str:
    """:func:`normalise_name` of a node whose name says more than its op: ``""`` for a name
    an exporter generated from the op type and a counter (``/encoder/self/Reshape_1``,
    ``encoder.self/reshape:1``). Such counters number each framework's own ops (a torch
    ``view`` and ``reshape`` are both ONNX ``Reshape``; an exporter merges or drops some),
    so equal names do not mean the same call: scope, family and call order decide those."""
    last = re.split(r"[/.:]", re.sub(r":\d+$", "", node.name))[-1]
    if re.sub(r"_\d+$", "", last).lower() == op_key(node.op):
        return ""
    return normalise_name(node.name)


def by_key(key: Callable[[Node], Hashable]) -> Strategy:
    """Match nodes whose key is equal and unique on both sides."""

    def strategy(left: list[Node], right: list[Node]) -> list[tuple[str, str]]:
        keys_a = unique_keys(left, key)
        keys_b = unique_keys(right, key)
        return [(name, keys_b[k]) for k, name in keys_a.items() if k in keys_b]

    return strategy


def unique_keys(nodes: list[Node], key: Callable[[Node], Hashable]) -> dict[Hashable, str]:
    keys = [key(node) for node in nodes]
    counts = Counter(keys)
    return {k: node.name for k, node in zip(keys, nodes) if counts[k] == 1 and k}
