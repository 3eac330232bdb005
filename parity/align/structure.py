"""Structural alignment: match nodes by where they sit in the graph, not by name.

Starting from pairs already known (the inputs, name matches, the user's mapping), a node
of A is matched to a node of B when both have compatible op families and the same
*nearest matched ancestors* (ancestors found by looking through unmatched nodes, so an
extra Flatten, Identity or a folded BatchNorm on one side does not break the chain).
Ties are broken by output shape (layout aware), attributes, then sibling order.
Passes repeat until nothing new is found.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from ..graph import Graph, Node
from ..ops import op_class
from .folds import move_to_fold_end

_TIE_ATTRS = ("kernel", "stride", "group", "dilation", "axis")


def match_structure(
    a: Graph, b: Graph, matched: Mapping[str, str], skip_a: set[str], skip_b: set[str]
) -> list[tuple[str, str]]:
    """New ``(a_node, b_node)`` pairs found from the graph structure around ``matched``.

    A pair whose one side continues into a chain the other side folds into one op is
    moved to the chain's end at once, so what follows hangs from the right node; the
    chain's interior joins ``skip_a``/``skip_b``.
    """
    forward = dict(matched)
    found: list[tuple[str, str]] = []
    while True:
        backward = {y: x for x, y in forward.items()}
        nearest_a, nearest_b = a.nearest(forward), b.nearest(backward)
        groups_a = _groups(a, forward, skip_a, nearest_a, {x: x for x in forward})
        groups_b = _groups(b, backward, skip_b, nearest_b, backward)
        new = [pair for key, nodes in groups_a.items()
               for pair in _pair_group(a, b, nodes, groups_b.get(key, []))]
        new = [(x, y) for x, y in new if x not in forward and y not in backward]
        if not new:
            return found
        for x, y in _one_to_one(new):
            moved = move_to_fold_end(a, b, x, y, {*forward, *skip_a}, {*backward, *skip_b})
            if moved is not None:
                x, y, interior_a, interior_b = moved
                skip_a.update(interior_a)
                skip_b.update(interior_b)
            forward[x] = y
            backward[y] = x
            found.append((x, y))


def _groups(
    graph: Graph, matched: Mapping[str, str], skip: set[str],
    nearest: Mapping[str, tuple[str, ...]], to_a: Mapping[str, str],
) -> dict[frozenset[str], list[Node]]:
    """Unmatched nodes keyed by their nearest matched ancestors, named as on side A."""
    groups: defaultdict[frozenset[str], list[Node]] = defaultdict(list)
    for node in graph.nodes:
        if node.name in matched or node.name in skip or not nearest[node.name]:
            continue
        groups[frozenset(to_a[m] for m in nearest[node.name])].append(node)
    return groups


def _pair_group(a: Graph, b: Graph, left: list[Node], right: list[Node]) -> list[tuple[str, str]]:
    """Pairs between nodes hanging from the same matched ancestors.

    Per op class, only the shallowest nodes of each side are paired in one pass, so a
    chain is matched one step at a time (its next step then hangs from the new match).
    """
    pairs = []
    shallow_b = _shallowest_by_class(b, right)
    for cls, xs in _shallowest_by_class(a, left).items():
        ys = shallow_b.get(cls, [])
        if len(xs) == len(ys) == 1:
            pairs.append((xs[0].name, ys[0].name))
        elif ys:
            pairs += _pair_by_similarity(xs, ys)
    return pairs


def _shallowest_by_class(graph: Graph, nodes: list[Node]) -> dict[str, list[Node]]:
    """Per op class, the group's nodes of that class at the smallest depth in the group."""
    names = {n.name for n in nodes}
    depth: dict[str, int] = {}
    for node in nodes:  # topological order
        depth[node.name] = max((depth[p] + 1 for p in node.inputs if p in names), default=0)
    by_class: defaultdict[str, list[Node]] = defaultdict(list)
    for node in nodes:
        by_class[op_class(node.op)].append(node)
    return {
        cls: [n for n in members if depth[n.name] == min(depth[m.name] for m in members)]
        for cls, members in by_class.items()
    }


def _pair_by_similarity(xs: list[Node], ys: list[Node]) -> list[tuple[str, str]]:
    """Pair each node with its unique most similar counterpart; equal counts pair in order."""
    pairs = []
    for x in xs:
        scores = [similarity(x, y) for y in ys]
        best = max(scores)
        if scores.count(best) == 1:
            pairs.append((x.name, ys[scores.index(best)].name))
    if not pairs and len(xs) == len(ys):
        pairs = [(x.name, y.name) for x, y in zip(xs, ys)]
    return pairs


def similarity(x: Node, y: Node) -> int:
    """Agreement of two nodes' output shapes (layout aware) and attributes."""
    score = 0
    if x.shape is not None and y.shape is not None:
        score += 4 if _canonical(x) == _canonical(y) else -2
    for attr in _TIE_ATTRS:
        if attr in x.attrs and attr in y.attrs:
            score += 1 if x.attrs[attr] == y.attrs[attr] else -1
    return score


def _canonical(node: Node) -> tuple[int | None, ...] | None:
    """Output shape in NCHW order, batch dimension dropped."""
    shape = node.shape
    if shape is None:
        return None
    if node.attrs.get("layout") == "NHWC" and len(shape) == 4:
        shape = (shape[0], shape[3], shape[1], shape[2])
    return tuple(shape[1:])


def _one_to_one(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Drop pairs that claim a node another pair of this pass claims too."""
    count_a: defaultdict[str, int] = defaultdict(int)
    count_b: defaultdict[str, int] = defaultdict(int)
    for x, y in pairs:
        count_a[x] += 1
        count_b[y] += 1
    return [(x, y) for x, y in pairs if count_a[x] == 1 and count_b[y] == 1]
