"""Sequence alignment for what graph structure could not pair.

Between two consecutive anchors (pairs already found, taken in an order both graphs
agree on), the unmatched nodes of each side are aligned as sequences in topological
order with an LCS-style dynamic programme. Two nodes may pair only when their op classes
are compatible; the score adds output-shape agreement (NCHW/NHWC aware), attribute
agreement and whether their inputs are already paired with each other.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping

from ..graph import Graph, Node
from ..ops import compatible
from .structure import contradicts, similarity

_MAX_CELLS = 1_000_000  # segments larger than this are left alone rather than slow


def match_sequences(
    a: Graph, b: Graph, matched: Mapping[str, str], skip_a: set[str], skip_b: set[str]
) -> list[tuple[str, str]]:
    """New ``(a_node, b_node)`` pairs for unmatched nodes between consistent anchors."""
    taken_b = set(matched.values())
    free_a = [n for n in a.nodes if n.name not in matched and n.name not in skip_a]
    free_b = [n for n in b.nodes if n.name not in taken_b and n.name not in skip_b]
    if not free_a or not free_b:
        return []
    anchors = _consistent(sorted((a.order[x], b.order[y]) for x, y in matched.items()
                                 if x in a.order and y in b.order))
    bounds = [(-1, -1), *anchors, (len(a.nodes), len(b.nodes))]
    pairs: list[tuple[str, str]] = []
    at_a = [a.order[n.name] for n in free_a]  # increasing: nodes are in topological order
    at_b = [b.order[n.name] for n in free_b]
    for (lo_a, lo_b), (hi_a, hi_b) in zip(bounds, bounds[1:]):
        seg_a = free_a[bisect_right(at_a, lo_a):bisect_left(at_a, hi_a)]
        seg_b = free_b[bisect_right(at_b, lo_b):bisect_left(at_b, hi_b)]
        if seg_a and seg_b and len(seg_a) * len(seg_b) <= _MAX_CELLS:
            pairs += _align(seg_a, seg_b, matched)
    return pairs


def _consistent(anchors: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest run of anchors increasing in both orders (patience sorting)."""
    tails: list[int] = []
    tail_index: list[int] = []
    previous = [-1] * len(anchors)
    for i, (_, order_b) in enumerate(anchors):
        k = bisect_left(tails, order_b)
        if k == len(tails):
            tails.append(order_b)
            tail_index.append(i)
        else:
            tails[k] = order_b
            tail_index[k] = i
        previous[i] = tail_index[k - 1] if k else -1
    chain, i = [], tail_index[-1] if tail_index else -1
    while i >= 0:
        chain.append(anchors[i])
        i = previous[i]
    return chain[::-1]


def _align(xs: list[Node], ys: list[Node], matched: Mapping[str, str]) -> list[tuple[str, str]]:
    """Highest-scoring order-preserving pairing of ``xs`` with ``ys``."""
    rows, cols = len(xs) + 1, len(ys) + 1
    best = [[0.0] * cols for _ in range(rows)]
    for i in range(1, rows):
        for j in range(1, cols):
            step = _score(xs[i - 1], ys[j - 1], matched)
            diagonal = best[i - 1][j - 1] + step if step > 0 else float("-inf")
            best[i][j] = max(best[i - 1][j], best[i][j - 1], diagonal)
    pairs, i, j = [], len(xs), len(ys)
    while i and j:
        step = _score(xs[i - 1], ys[j - 1], matched)
        if step > 0 and best[i][j] == best[i - 1][j - 1] + step:
            pairs.append((xs[i - 1].name, ys[j - 1].name))
            i, j = i - 1, j - 1
        elif best[i][j] == best[i - 1][j]:
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


def _score(x: Node, y: Node, matched: Mapping[str, str]) -> float:
    """Worth of pairing ``x`` with ``y``; not positive means they must not pair."""
    if not compatible(x.op, y.op) or contradicts(x, y):
        return 0.0
    neighbours = sum(matched.get(parent) in y.inputs for parent in x.inputs)
    return 2.0 + similarity(x, y) + 2.0 * neighbours
