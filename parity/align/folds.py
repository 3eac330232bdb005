"""Folds: one side computes as one op what the other splits into a chain.

ONNX exporters fold BatchNorm into the Conv before it; Caffe splits a BatchNorm into
BatchNorm + Scale; Keras Conv2D/Dense may carry their activation. Such a pair is compared
at the chain's end, where both sides hold the same value, and the chain's interior is
skipped.
"""

from __future__ import annotations

from collections.abc import Container, Mapping

from ..graph import Graph, Node
from ..ops import FOLDS, family

# Two-operand ops, whose other operand is a constant on one side (a bias) and a tensor on
# the other (a residual) when they are not the same op.
_BINARY = frozenset({"add", "mul", "sub"})
# What only an op with weights folds in: a layer scale's Mul.
_INTO_WEIGHTS = frozenset({"mul"})


def fold_tail(
    graph: Graph, head: str, taken: Container[str], as_family: str | None = None
) -> list[str]:
    """Unmatched single-consumer successors of ``head`` another framework may fold in
    (into an op of ``as_family``, by default ``head``'s own; a layer scale's Mul only into
    an op with weights, or the bias Add of one, :func:`_scales_weights`)."""
    foldable = FOLDS.get(as_family or family(graph.node(head).op), frozenset())
    if _scales_weights(graph, head):
        foldable = foldable | _INTO_WEIGHTS
    tail, current = [], head
    while len(graph.consumers.get(current, ())) == 1:
        user = graph.node(graph.consumers[current][0])
        if user.name in taken or family(user.op) not in foldable or user.inputs != (current,):
            break
        tail.append(user.name)
        current = user.name
    return tail


def _scales_weights(graph: Graph, name: str) -> bool:
    """``name`` is a linear or a convolution reading one tensor (its weights are
    constants), or the bias Add of one: a Mul by a constant after it folds into its weights
    (ConvNeXt's layer scale in a TFLite FULLY_CONNECTED, PoolFormer's in an OpenVINO
    Convolution), not into ``q @ k^T``."""
    node = graph.node(name)
    if family(node.op) == "add" and len(node.inputs) == 1 and node.inputs[0] in graph:
        node = graph.node(node.inputs[0])
    return family(node.op) in ("linear", "conv") and len(node.inputs) == 1


def fold_head(graph: Graph, end: str, taken: Container[str], head_family: str) -> list[str]:
    """The chain before ``end`` another framework computes as one ``head_family`` op: the
    unmatched single-input producers back to (and with) the first of that family, when
    ``end`` is one of the ops such an op folds in (a torch Conv before the BatchNorm whose
    scope names the ONNX Conv that absorbed it). Empty when there is no such chain."""
    foldable = FOLDS.get(head_family, frozenset())
    if end not in graph or family(graph.node(end).op) not in foldable:
        return []
    chain, current = [], graph.node(end)
    while len(current.inputs) == 1 and current.inputs[0] in graph:
        parent = graph.node(current.inputs[0])
        if parent.name in taken or len(graph.consumers.get(parent.name, ())) != 1:
            return []
        chain.append(parent.name)
        if family(parent.op) == head_family:
            return chain
        if family(parent.op) not in foldable:
            return []
        current = parent
    return []


def meeting_point(
    graph: Graph, head: str, taken: Container[str], ends: Container[str], limit: int
) -> tuple[str, list[str]] | None:
    """``(end, inside)`` where every path leaving ``head`` meets again at an op of an
    ``ends`` family reading two of the paths, and the nodes between them: another
    framework's decomposition of one op reading ``head`` (the erf GELU's Div -> Erf -> Add
    then Mul(x, .), SiLU's Sigmoid then Mul(x, .), LayerNorm's ReduceMean/Sub/Pow/Sqrt then
    Div). None when a path reads another tensor, reaches a matched node or an output, or
    runs past ``limit`` nodes."""
    inside: list[str] = []
    region = {head}
    open_ = set(graph.consumers.get(head, ()))
    while open_ and len(inside) < limit:
        name = min(open_, key=graph.order.__getitem__)
        node = graph.node(name)
        if name in taken or not set(node.inputs) <= region:
            return None
        if (len(open_) == 1 and inside and family(node.op) in ends
                and len(node.inputs) >= 2):
            return name, inside
        users = graph.consumers.get(name, ())
        if not users or name in graph.outputs:
            return None
        open_.discard(name)
        open_.update(users)
        inside.append(name)
        region.add(name)
    return None


def interior(graph: Graph, end: str, taken: Container[str], limit: int) -> list[str]:
    """The unmatched nodes ``end`` is computed from, back to matched ones (at most
    ``limit``): the inside of a decomposition whose end is ``end``."""
    found: list[str] = []
    stack, seen = list(graph.node(end).inputs), set()
    while stack and len(found) < limit:
        name = stack.pop()
        if name in seen or name in taken or name not in graph:
            continue
        seen.add(name)
        found.append(name)
        stack.extend(graph.node(name).inputs)
    return found


def move_to_fold_end(
    a: Graph, b: Graph, x: str, y: str, taken_a: Container[str], taken_b: Container[str]
) -> tuple[str, str, list[str], list[str]] | None:
    """``(new_x, new_y, skipped_a, skipped_b)`` when one side of the pair has a tail the
    other lacks: all of it, or the part before a tail both sides share (Conv -> BN -> ReLU
    vs a Conv with the BN folded in -> ReLU: the pair moves to the BN)."""
    sandwich_a, sandwich_b = transposed_into(a, x, taken_a), transposed_into(b, y, taken_b)
    if sandwich_b and not sandwich_a:
        return x, sandwich_b[1], [], [sandwich_b[0], y]
    if sandwich_a and not sandwich_b:
        return sandwich_a[1], y, [sandwich_a[0], x], []
    tail_a = fold_tail(a, x, taken_a)
    tail_b = fold_tail(b, y, taken_b)
    if tail_a and not tail_b and not _reads_like(b, y, taken_b, a.node(tail_a[0])):
        return tail_a[-1], y, [x, *tail_a[:-1]], []
    if tail_b and not tail_a and not _reads_like(a, x, taken_a, b.node(tail_b[0])):
        return x, tail_b[-1], [], [y, *tail_b[:-1]]
    extra_a, extra_b = _extra(a, tail_a, b, tail_b), _extra(b, tail_b, a, tail_a)
    if extra_a:
        return tail_a[extra_a - 1], y, [x, *tail_a[:extra_a - 1]], []
    if extra_b:
        return x, tail_b[extra_b - 1], [], [y, *tail_b[:extra_b - 1]]
    return None


def transposed_into(graph: Graph, name: str, taken: Container[str]) -> tuple[str, str] | None:
    """``(opening, closing)`` when ``name`` runs between a transpose and its inverse, both
    unmatched and used only there: the older ONNX exporter computes a softmax over a
    non-last axis as Transpose -> Softmax -> Transpose, so the value torch's softmax holds
    is the closing transpose's."""
    node = graph.node(name)
    users = graph.consumers.get(name, ())
    if len(node.inputs) != 1 or node.inputs[0] not in graph or len(users) != 1:
        return None
    opening, closing = graph.node(node.inputs[0]), graph.node(users[0])
    if (opening.name in taken or closing.name in taken
            or graph.consumers.get(opening.name) != (name,)):
        return None
    perm_in, perm_out = _perm(opening), _perm(closing)
    if perm_in is None or perm_out is None or len(perm_in) != len(perm_out):
        return None
    undone = all(perm_in[perm_out[i]] == i for i in range(len(perm_in)))
    return (opening.name, closing.name) if undone and perm_in != tuple(range(len(perm_in))) \
        else None


def permutation(node: Node) -> tuple[int, ...] | tuple[str, int, int] | None:
    """ONNX ``perm`` / torch ``permute`` dims as a tuple; torch ``transpose(d0, d1)`` as
    ``("swap", d0, d1)`` (its rank is not known here)."""
    attrs = node.attrs
    for key in ("perm", "dims"):
        if isinstance(attrs.get(key), tuple) and family(node.op) == "transpose":
            return tuple(attrs[key])
    if isinstance(attrs.get("dim0"), int) and isinstance(attrs.get("dim1"), int):
        return ("swap", attrs["dim0"], attrs["dim1"])
    return None


def _perm(node: Node) -> tuple[int, ...] | None:
    """A transpose's full permutation (ONNX ``perm``, torch ``permute`` dims), else None."""
    perm = permutation(node)
    if perm is None or perm[:1] == ("swap",) or sorted(perm) != list(range(len(perm))):
        return None
    return tuple(int(v) for v in perm)


def _extra(graph: Graph, tail: list[str], other: Graph, other_tail: list[str]) -> int:
    """How many leading steps of ``tail`` the other side folded, when the rest of ``tail``
    is ``other_tail`` op for op; else 0."""
    extra = len(tail) - len(other_tail)
    if not other_tail or extra <= 0:
        return 0
    rest = [family(graph.node(name).op) for name in tail[extra:]]
    return extra if rest == [family(other.node(name).op) for name in other_tail] else 0


def _reads_like(graph: Graph, head: str, taken: Container[str], other: Node) -> bool:
    """Whether an unmatched consumer of ``head`` has ``other``'s family and as many inputs:
    then the op is there on this side too, not folded (a residual Add reading two tensors
    is not the bias Add of a MatMul)."""
    fam = family(other.op)
    return any(
        name not in taken and family(graph.node(name).op) == fam
        and (fam not in _BINARY or len(graph.node(name).inputs) == len(other.inputs))
        for name in graph.consumers.get(head, ())
    )


def bypassed(
    graph: Graph, other: Graph, pairs: Mapping[str, str], skipped_other: Container[str]
) -> list[str]:
    """Unmatched nodes of ``graph`` between pairs the other side links directly.

    A node whose nearest matched producers and consumers have partners that ``other``
    connects with nothing between them but skipped nodes is an extra step of this side
    (a Reshape/Transpose pair where the other side transposes once, a NaN guard after a
    Softmax, TorchScript's no-op cast of BLOOM's mask before the ``cumsum`` the dynamo
    export computes on the input itself): the pairs on both sides of it compare what it
    computes. The other side's inputs are among its compared points.
    """
    up = graph.nearest(set(pairs))
    down = _nearest_below(graph, set(pairs))
    strict = other.nearest({*other.input_names,
                            *(name for name in other.order if name not in skipped_other)})
    found = []
    for node in graph.nodes:
        if node.name in pairs or not up[node.name] or not down[node.name]:
            continue
        before = {pairs[p] for p in up[node.name]}
        if all(before <= set(strict.get(pairs[d], ())) for d in down[node.name]):
            found.append(node.name)
    return found


def _nearest_below(graph: Graph, compared: set[str]) -> dict[str, set[str]]:
    """For every node, the closest ``compared`` nodes downstream, looking through others."""
    below: dict[str, set[str]] = {}
    for node in reversed(graph.nodes):
        found: set[str] = set()
        for user in graph.consumers.get(node.name, ()):
            found.update((user,) if user in compared else below.get(user, ()))
        below[node.name] = found
    return below
