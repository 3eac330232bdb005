"""Structural alignment: match nodes by where they sit in the graph, not by name.

Starting from pairs already known (the inputs, name matches, the user's mapping), one sweep
goes over A in topological order. An unmatched node ``x`` is matched to a node ``y`` of B
that has the same *nearest matched ancestors* (ancestors found by looking through unmatched
nodes, so an extra Flatten, Identity or a folded BatchNorm on one side does not break the
chain) and a compatible op. Candidates are the unmatched nodes close below the partner of
one of ``x``'s ancestors; the most similar (output shape, layout aware, and attributes)
wins, then the one nearest its ancestors, then B's order.

A node's nearest ancestors are computed once on A (its parents are final when the sweep
reaches it) and on demand on B (kept until a node upstream of it is matched), so the sweep
costs about O(N x window) rather than a pass over both graphs per step of a chain.
"""

from __future__ import annotations

import math
from collections.abc import Container, Mapping
from dataclasses import replace

from ..graph import Graph, Node
from ..ops import DECOMPOSITIONS, compatible, decomposes, family
from .folds import fold_tail, interior, meeting_point, move_to_fold_end, permutation
from .slices import cuts_differ

_TIE_ATTRS = ("kernel", "stride", "pad", "group", "dilation", "axis", "perm")
_WINDOW = 48  # B nodes looked at below an ancestor's partner, per node of A
_SURE = 4  # similarity of equal output shapes: no deeper candidate is looked for
_REGION = 12  # most ops one op's decomposition is looked for in (tanh GELU: 8)


def match_structure(
    a: Graph, b: Graph, matched: Mapping[str, str], skip_a: set[str], skip_b: set[str]
) -> list[tuple[str, str]]:
    """New ``(a_node, b_node)`` pairs found from the graph structure around ``matched``.

    A pair whose one side continues into a chain the other side folds into one op is
    moved to the chain's end at once, so what follows hangs from the right node; the
    chain's interior joins ``skip_a``/``skip_b``.
    """
    forward = dict(matched)
    backward = {y: x for x, y in forward.items()}
    near_b = _Nearest(b, backward)
    taken_a, taken_b = _Taken(forward, skip_a), _Taken(backward, skip_b)
    near_a: dict[str, frozenset[str]] = {}

    def up_a(name: str) -> frozenset[str]:
        return frozenset((name,)) if name in forward else near_a.get(name, frozenset())

    found: list[tuple[str, str]] = []
    for node in a.nodes:
        near_a[node.name] = frozenset().union(*(up_a(p) for p in node.inputs))
        if node.name in taken_a or not near_a[node.name] or heads_chain(a, node.name):
            continue
        moved = _one_op_and_its_decomposition(a, b, node, forward, taken_a, taken_b)
        if moved is None:
            y = _best_candidate(node, b, {forward[p] for p in near_a[node.name]}, near_b,
                                taken_b, _partners_below(a, b, node.name, forward))
            if y is None:
                continue
            x = node.name
            if op_fits(node, b.node(y)):
                moved = move_to_fold_end(a, b, x, y, taken_a, taken_b)
            else:
                moved = _decomposition(a, b, x, y, taken_a, taken_b)
        if moved is not None:
            x, y, interior_a, interior_b = moved
            skip_a.update(interior_a)
            skip_b.update(interior_b)
        forward[x] = y
        backward[y] = x
        near_b.matched(y)
        found.append((x, y))
    return found


def _partners_below(a: Graph, b: Graph, x: str, forward: Mapping[str, str]) -> int:
    """B's order of the earliest partner among the readers of ``x`` matched already (by
    name or scope, before the sweep reaches ``x``), else B's length: ``x``'s partner must
    come before it, to feed it."""
    return min((b.order[forward[user]] for user in a.consumers.get(x, ())
                if forward.get(user) in b.order), default=len(b.nodes))


def _best_candidate(
    x: Node, b: Graph, ancestors: set[str], near_b: _Nearest, taken_b: _Taken, before: int
) -> str | None:
    """The unmatched node of B below ``ancestors`` (same nearest matched ancestors, a
    compatible op) most like ``x``, ahead of B's order ``before``; looks at most
    ``_WINDOW`` nodes down.

    A reshape reached through a Transpose nothing matched holds its elements in another
    order than ``x`` can: not a candidate. Nor is a node at or after ``before``: it cannot
    feed the partners of what reads ``x`` (BLOOM's TorchScript casts the mask to int64, a
    no-op the dynamo export leaves out; its one cast, to bool, comes after the ``cumsum``
    that reads the mask).
    """
    best: tuple[bool, int, int, int] | None = None
    choice = None
    frontier = [(max(ancestors, key=lambda name: b.order.get(name, -1)), False)]
    seen, depth = {frontier[0][0]}, 0
    while frontier and len(seen) <= _WINDOW:
        depth += 1
        step = []
        for name, turned in frontier:
            for user in b.consumers.get(name, ()):
                if user in seen:
                    continue
                seen.add(user)
                if user in taken_b.matched:
                    if user in ancestors:
                        step.append((user, False))
                    continue
                y = b.node(user)
                step.append((user, turned or family(y.op) == "transpose"))
                fits = op_fits(x, y)
                if (user in taken_b.skip or b.order[user] >= before
                        or near_b.of(user) != ancestors or contradicts(x, y)
                        or (turned and family(y.op) == "flatten")
                        or not (fits or _ends_decomposition(x, y))):
                    continue
                rank = (not fits, -similarity(x, y), depth, b.order[user])
                if best is None or rank < best:
                    best, choice = rank, user
        if best is not None and not best[0] and (-best[1] >= _SURE or depth > best[2]):
            break  # a compatible candidate whose shape agrees, or one level past the first
        frontier = step
    return choice


def op_fits(x: Node, y: Node) -> bool:
    """``x`` and ``y`` may hold one value by their ops: compatible ones, a transpose that
    moves only size-1 axes and a reshape (OpenVINO writes Falcon's ``k.transpose(1, 2)``
    of its one key head as a Reshape), or one power written as ``pow`` and as a product
    of a tensor with itself (litert-torch writes RMSNorm's ``x.pow(2)`` as ``MUL(x, x)``)."""
    return (compatible(x.op, y.op) or _unit_transpose(x, y) or _unit_transpose(y, x)
            or _same_power(x, y))


def _same_power(x: Node, y: Node) -> bool:
    """A ``pow`` and a ``mul`` whose readers recorded the same ``exponent``."""
    exponent = x.attrs.get("exponent")
    return {family(x.op), family(y.op)} == {"pow", "mul"} and exponent is not None \
        and exponent == y.attrs.get("exponent")


def _unit_transpose(t: Node, r: Node) -> bool:
    """``t`` is a transpose keeping its input's elements in order (every axis it moves, bar
    one, has size 1: a reshape) and ``r`` a reshape to its shape."""
    if family(t.op) != "transpose" or family(r.op) != "flatten" or "transposes" in t.attrs:
        return False
    shape = t.shape or r.shape
    if shape is None or (t.shape and r.shape and (
            len(t.shape) != len(r.shape)
            or any(None not in (i, j) and i != j for i, j in zip(t.shape, r.shape)))):
        return False
    perm, rank = permutation(t), len(shape)
    if perm is not None and perm[:1] == ("swap",):
        dims = list(range(rank))
        one, two = perm[1] % rank, perm[2] % rank
        dims[one], dims[two] = two, one
        perm = tuple(dims)
    if perm is None or sorted(perm) != list(range(rank)):
        return False
    kept = [axis for axis, size in zip(perm, shape) if size != 1]
    return kept == sorted(kept)


def _ends_decomposition(x: Node, y: Node) -> bool:
    """One of ``x``, ``y`` may end the other's decomposition: its op fits and, where both
    shapes are known, it holds as many elements with the same last (feature) dimension,
    as the value it computes does (multi-head attention's out-projection, not its q/k/v
    in-projection, its scores or its per-head ``attn @ v``)."""
    if not (decomposes(x.op, y.op) or decomposes(y.op, x.op)):
        return False
    if not (_known(x.shape) and _known(y.shape)):
        return True
    return math.prod(x.shape) == math.prod(y.shape) and x.shape[-1:] == y.shape[-1:]


def _known(shape: tuple | None) -> bool:
    return shape is not None and all(isinstance(d, int) for d in shape)


def _one_op_and_its_decomposition(
    a: Graph, b: Graph, x: Node, forward: Mapping[str, str], taken_a: Container[str],
    taken_b: Container[str],
) -> tuple[str, str, list[str], list[str]] | None:
    """The pair of one op (a GELU, SiLU, LayerNorm) and the other side's decomposition of
    it, when ``x`` is either and reads a matched node: the one op must read the partner
    of what the decomposition reads, and the decomposition's end is where its paths meet
    again (:func:`.folds.meeting_point`), so none of its inner ops pairs on its own (the
    erf GELU's Add with the next Linear's bias Add). The pair moves along the end's fold
    tail (GELU's Mul by 0.5, LayerNorm's gamma and beta)."""
    if len(x.inputs) != 1 or x.inputs[0] not in forward:
        return None
    p, q = x.inputs[0], forward[x.inputs[0]]
    if family(x.op) in DECOMPOSITIONS:  # x is the one op, B may decompose it
        if any(compatible(x.op, b.op_of(user)) for user in b.consumers.get(q, ())):
            return None
        found = meeting_point(b, q, taken_b, DECOMPOSITIONS[family(x.op)], _REGION)
        return None if found is None else _decomposition(
            a, b, x.name, found[0], taken_a, taken_b, found[1])
    for user in b.consumers.get(q, ()):
        one = b.node(user)
        if (user in taken_b or one.inputs != (q,) or family(one.op) not in DECOMPOSITIONS
                or any(compatible(one.op, a.op_of(mine)) for mine in a.consumers.get(p, ()))):
            continue
        found = meeting_point(a, p, taken_a, DECOMPOSITIONS[family(one.op)], _REGION)
        if found is not None and x.name in found[1]:
            return _decomposition(a, b, found[0], user, taken_a, taken_b, found[1])
    return None


def _decomposition(
    a: Graph, b: Graph, x: str, y: str, taken_a: Container[str], taken_b: Container[str],
    inside: list[str] | None = None,
) -> tuple[str, str, list[str], list[str]]:
    """``(x, y)`` where one side is one op and the other ends its decomposition: the
    decomposed side's end is moved along its fold tail (GELU's Mul by 0.5, LayerNorm's
    gamma and beta) and its inside (given, else what the end is computed from back to
    matched nodes) is skipped."""
    op_x, op_y = a.node(x).op, b.node(y).op
    if decomposes(op_x, op_y):
        tail = fold_tail(b, y, taken_b, family(op_x))
        end = tail[-1] if tail else y
        inside = [*(interior(b, y, taken_b, _WINDOW) if inside is None else inside),
                  y, *tail[:-1]]
        return x, end, [], [name for name in inside if name != end]
    tail = fold_tail(a, x, taken_a, family(op_y))
    end = tail[-1] if tail else x
    inside = [*(interior(a, x, taken_a, _WINDOW) if inside is None else inside),
              x, *tail[:-1]]
    return end, y, [name for name in inside if name != end], []


class _Taken(Container[str]):
    """Matched or skipped nodes of one side, as a live view (no copy per lookup)."""

    def __init__(self, matched: Mapping[str, str], skip: set[str]) -> None:
        self.matched, self.skip = matched, skip

    def __contains__(self, name: object) -> bool:
        return name in self.matched or name in self.skip


class _Nearest:
    """Nearest matched ancestors of B's nodes, computed on demand and kept until a node
    upstream is matched."""

    def __init__(self, graph: Graph, matched: Mapping[str, str]) -> None:
        self.graph, self._matched = graph, matched
        self._cache: dict[str, frozenset[str]] = {}

    def _up(self, name: str) -> frozenset[str]:
        return frozenset((name,)) if name in self._matched else self._cache[name]

    def of(self, name: str) -> frozenset[str]:
        """``name``'s nearest matched ancestors (graph inputs count when matched)."""
        stack = [name]
        while stack:
            top = stack[-1]
            if top in self._cache:
                stack.pop()
                continue
            parents = self.graph.node(top).inputs if top in self.graph else ()
            missing = [p for p in parents if p not in self._matched and p not in self._cache]
            if missing:
                stack.extend(missing)
                continue
            self._cache[top] = frozenset().union(*(self._up(p) for p in parents))
            stack.pop()
        return self._cache[name]

    def matched(self, name: str) -> None:
        """``name`` was just matched: forget what was computed through it."""
        stack = list(self.graph.consumers.get(name, ()))
        while stack:
            user = stack.pop()
            if self._cache.pop(user, None) is not None and user not in self._matched:
                stack.extend(self.graph.consumers.get(user, ()))


def contradicts(x: Node, y: Node) -> bool:
    """Two transposes (or chains of them) that move different axes, or two slices that cut
    different elements, cannot hold one value."""
    if cuts_differ(x, y):
        return True
    chain_x, chain_y = _transposes(x), _transposes(y)
    if not chain_x or not chain_y:
        return False
    known = [perm for perm in (*chain_x, *chain_y) if perm[:1] != ("swap",)]
    if not known:
        return False
    rank = len(known[0])
    full_x, full_y = _composed(chain_x, rank), _composed(chain_y, rank)
    return full_x is not None and full_y is not None and full_x != full_y


def chain_transposes(graph: Graph) -> Graph:
    """``graph`` with each transpose that reads another one (used only there) carrying the
    whole chain as its ``transposes`` attribute: torch's ``k.transpose(1, 2)`` then
    ``.transpose(-1, -2)`` is the one Transpose ``perm=(0, 2, 3, 1)`` an exporter writes."""
    chains: dict[str, tuple] = {}
    nodes = []
    for node in graph.nodes:
        own = permutation(node)
        if own is not None and len(node.inputs) == 1 and node.inputs[0] in chains \
                and len(graph.consumers.get(node.inputs[0], ())) == 1:
            chains[node.name] = (*chains[node.inputs[0]], own)
            node = replace(node, attrs={**node.attrs, "transposes": chains[node.name]})
        elif own is not None:
            chains[node.name] = (own,)
        nodes.append(node)
    return replace(graph, nodes=tuple(nodes))


def heads_chain(graph: Graph, name: str) -> bool:
    """``name`` is a transpose that another one continues (:func:`chain_transposes`): the
    chain's end holds the value it moves on, and is what the other side's one Transpose
    (or its own chain's end) pairs with; the head is paired with nothing."""
    readers = graph.consumers.get(name, ())
    return (len(readers) == 1 and permutation(graph.node(name)) is not None
            and len(graph.node(readers[0]).attrs.get("transposes", ())) > 1)


def _transposes(node: Node) -> tuple:
    """The permutations that made ``node``'s value from the tensor its transposes start
    from (one for a lone transpose; none for other ops)."""
    if "transposes" in node.attrs:
        return node.attrs["transposes"]
    own = permutation(node)
    return (own,) if own is not None else ()


def _composed(chain: tuple, rank: int) -> tuple[int, ...] | None:
    """The one permutation doing what ``chain`` does in turn."""
    total = tuple(range(rank))
    for perm in chain:
        full = _full(perm, rank)
        if full is None:
            return None
        total = tuple(total[i] for i in full)
    return total


def _full(perm: tuple[int, ...] | tuple[str, int, int], rank: int) -> tuple[int, ...] | None:
    if perm and perm[0] == "swap":
        order = list(range(rank))
        first, second = perm[1] % rank, perm[2] % rank  # type: ignore[operator]
        order[first], order[second] = order[second], order[first]
        return tuple(order)
    return tuple(int(p) % rank for p in perm) if len(perm) == rank else None


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
