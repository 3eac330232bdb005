"""Slices by what they cut.

torch traces ``x[:, 0::2, 1::2]`` as one slice per axis (whole-axis ones included); an
exporter may write one multi-axis Slice, drop the whole-axis steps, and share the slices
that repeat (Swin's patch merging cuts four quarters from two row slices). So each slice
is described by its *cut*: per axis ``(start, step, end)``, its own and those of the slices
it reads back to the tensor they cut (its *base*). A bound the trace computes at run time
(rotary embeddings' ``x[..., : x.shape[-1] // 2]``) is :data:`COMPUTED`: it differs from
no other, yet the other bounds still tell the two halves apart. A slice of a slice on the
same axis has the composed cut (CodeGen's ``x[..., :rotary_dim][..., 1::2]`` is
``(1, 2, rotary_dim)``), so its halves pair in either order. Two slices whose cuts
differ cannot hold one value (:func:`cuts_differ`). A slice with the same base and fully
known cut as an earlier one, or that cuts nothing, holds that node's value: it is merged
into it (:func:`merge_repeated`), so what reads it hangs from the node the other side has.

Shapes, where the backend knows them before the run (ONNX shape inference, torch.export's
fake values, a TorchScript pass on the first input), settle computed bounds: a slice as
long as the axis it cuts cuts nothing, and a bound follows from the other one and the
length cut. A tensor with no elements (Phi-3's pass-through ``q[..., rotary_dim:]`` when
the rotation takes the whole head) holds nothing to compare: it is left out, and a concat
of one tensor and such empty ones holds that tensor's value.
"""

from __future__ import annotations

from dataclasses import replace

from ..graph import Graph, Node
from ..ops import family, op_key
from .merges import merged

_WHOLE = 2**62  # an end at or past this runs to the end of the axis (torch writes INT64_MAX)
COMPUTED = "computed"  # a bound known only when the model runs
Bound = int | str | None  # an index, COMPUTED, or None (an end: to the end of the axis)


class ShortEnd(int):
    """An end known to stop before the end of its axis (the axis's length is known): unlike
    a bare end, which may be the axis length, it differs from an end that runs to the end."""

Cut = tuple[tuple[int, tuple[Bound, int, Bound]], ...]  # ((axis, (start, step, end)), ...)


def merge_repeated(graph: Graph) -> tuple[Graph, tuple[str, ...]]:
    """``graph`` with each slice's cut as its ``cut`` attribute, slices that repeat a node
    or cut nothing left out (their readers read that node), tensors with no elements left
    out (their readers no longer read them), and a concat of one tensor and empty ones left
    out (its readers read that tensor); and the names left out."""
    cuts: dict[str, tuple[str, dict[int, tuple[Bound, int, Bound]]]] = {}
    seen: dict[tuple[str, Cut], str] = {}
    empty: set[str] = set()

    def fate(node: Node) -> Node | str | None:
        if node.shape is not None and 0 in node.shape:
            empty.add(node.name)
            return None
        kept = _concat_of_one(graph, node, empty)
        if kept is not None:
            return kept
        own = _own_cut(node, _lengths(graph, node))
        if own is None or len(node.inputs) != 1:
            return node
        base, cut = node.inputs[0], own
        if base in cuts:
            base, above = cuts[base]
            composed = _compose(above, own)
            if composed is None:
                return node  # a slice of a slice on one axis, a bound not known
            cut = composed
        key = (base, tuple(sorted(cut.items())))
        if not cut or key in seen:
            return seen.get(key, base)
        if not any(COMPUTED in bounds for bounds in cut.values()):
            seen[key] = node.name  # two computed bounds may differ: never merged
        cuts[node.name] = (base, cut)
        return replace(node, attrs={**node.attrs, "cut": key[1]})

    new, gone = merged(graph, fate)
    return new, (*(n for n, to in gone.items() if to is not None),
                 *(n for n, to in gone.items() if to is None))


def _shape(graph: Graph, name: str) -> tuple[int | None, ...] | None:
    """The shape of node or graph input ``name``, where known."""
    if name in graph:
        return graph.node(name).shape
    return next((spec.shape for spec in graph.inputs if spec.name == name), None)


def _concat_of_one(graph: Graph, node: Node, empty: set[str]) -> str | None:
    """The one tensor a concat of it and empty ones holds, else None. A concat may read a
    weight too (not among its inputs): only one that read an empty tensor and is as long
    as its one input along the concat axis (or, the axis unknown, of its very shape) is
    known to hold that input."""
    if (family(node.op) != "concat" or len(node.inputs) != 1
            or not empty & set(graph.node(node.name).inputs)):
        return None
    mine, theirs = node.shape, _shape(graph, node.inputs[0])
    if mine is None or theirs is None or len(mine) != len(theirs):
        return None
    axis = node.attrs.get("axis")
    if isinstance(axis, int) and -len(mine) <= axis < len(mine):
        mine, theirs = (mine[axis],), (theirs[axis],)
    return node.inputs[0] if mine == theirs and None not in mine else None


def cuts_differ(x: Node, y: Node) -> bool:
    """Whether two slices cut different elements (an end known on one side only is not a
    difference: it may be the axis length; nor is a computed bound)."""
    cut_x, cut_y = x.attrs.get("cut"), y.attrs.get("cut")
    if cut_x is None or cut_y is None:
        return False
    axes_x, axes_y = dict(cut_x), dict(cut_y)
    if set(axes_x) != set(axes_y):
        return True
    for axis, (start, step, end) in axes_x.items():
        other_start, other_step, other_end = axes_y[axis]
        if step != other_step or _known_differ(start, other_start) or (
                end is not None and other_end is not None and _known_differ(end, other_end)):
            return True
        if (end, other_end).count(None) == 1 and any(isinstance(e, ShortEnd)
                                                      for e in (end, other_end)):
            return True
    return False


def _known_differ(x: Bound, y: Bound) -> bool:
    return COMPUTED not in (x, y) and x != y


def _lengths(graph: Graph, node: Node) -> tuple[int | None, ...] | None:
    """The shape of the one tensor ``node`` reads, where the graph knows it."""
    return _shape(graph, node.inputs[0]) if len(node.inputs) == 1 else None


def _own_cut(node: Node, lengths: tuple[int | None, ...] | None = None
             ) -> dict[int, tuple[Bound, int, Bound]] | None:
    """What one slice op cuts, per axis (whole axes left out); None when it is not a slice
    or what it cuts is not known (its axis or step is computed, or an axis is negative on
    a tensor of unknown rank). Where ``lengths`` (its input's shape) gives the axis's
    length, an end at or past it runs to the end and one before it is a :class:`ShortEnd`.

    torch records every slice's constant start and end (a TorchScript constant, a
    torch.export argument): a bound missing from a torch slice is computed (onnx2torch
    reads both from tensors); with both shapes known it follows from the other bound and
    the length cut (:func:`_settled`)."""
    if op_key(node.op) != "slice":
        return None
    attrs = node.attrs
    if "dim" in attrs:  # torch: one axis
        axes, starts, ends, steps = ((attrs["dim"],), (attrs.get("start", COMPUTED),),
                                     (attrs.get("end", COMPUTED),), (attrs.get("step"),))
    elif "starts" in attrs and "ends" in attrs:  # ONNX: parameters read from constant inputs
        starts, ends = attrs["starts"], attrs["ends"]
        axes = attrs.get("axes", tuple(range(len(starts))))
        steps = attrs.get("steps", (1,) * len(starts))
    else:
        return None
    cut = {}
    rank = len(node.shape) if node.shape is not None else None
    for axis, start, end, step in zip(axes, starts, ends, steps):
        if not isinstance(axis, int) or (axis < 0 and rank is None):
            return None
        start, step = start or 0, step or 1
        end = None if end is None or (isinstance(end, int) and end >= _WHOLE) else end
        length = lengths[axis] if lengths is not None and -len(lengths) <= axis < len(
            lengths) else None
        if isinstance(end, int) and isinstance(length, int) and (step or 1) > 0:
            end = None if end >= length else ShortEnd(end) if end >= 0 else end
        known_start = isinstance(start, int) and start >= 0
        if not isinstance(step, int) or not (known_start or start == COMPUTED):
            return None
        axis = axis % rank if axis < 0 else axis  # type: ignore[operator]
        start, end = _settled(start, step, end, _length(lengths, axis),
                              _length(node.shape, axis))
        if (start, step, end) != (0, 1, None):
            cut[axis] = (start, step, end)
    return cut


def _compose(above: dict[int, tuple[Bound, int, Bound]],
             own: dict[int, tuple[Bound, int, Bound]]
             ) -> dict[int, tuple[Bound, int, Bound]] | None:
    """The cut of slicing ``own`` out of what ``above`` cut: on an axis both cut (CodeGen's
    ``x[..., :rotary_dim]`` then ``[..., ::2]`` and ``[..., 1::2]``), the elements
    ``s1 + t1 * (s2 + t2 * i)`` up to the first end; None where a bound on it is computed or
    negative."""
    cut = {**above, **own}
    for axis in set(above) & set(own):
        (s1, t1, e1), (s2, t2, e2) = above[axis], own[axis]
        bounds = (s1, s2, *(e for e in (e1, e2) if e is not None))
        if not all(isinstance(b, int) and b >= 0 for b in bounds) or t1 < 1 or t2 < 1:
            return None
        end: Bound = e1
        if e2 is not None and (e1 is None or s1 + t1 * e2 < e1):  # type: ignore[operator]
            # short of an end above it, or of its own input's end: short of the axis's end
            short = e1 is not None or isinstance(e2, ShortEnd)
            end = s1 + t1 * e2  # type: ignore[operator]
            end = ShortEnd(end) if short else end
        cut[axis] = (s1 + t1 * s2, t1 * t2, end)  # type: ignore[operator]
    return cut


def _length(shape: tuple[int | None, ...] | None, axis: int) -> int | None:
    return shape[axis] if shape is not None and axis < len(shape) else None


def _settled(start: Bound, step: int, end: Bound, length: int | None, kept: int | None
             ) -> tuple[Bound, Bound]:
    """``(start, end)`` with what the axis' ``length`` and the elements ``kept`` tell: a
    computed bound of a step-1 slice from the other one, an end at or past the axis' end
    as None (to the end), and a slice keeping all of the axis as the whole axis."""
    if length is None or kept is None or step != 1 or (isinstance(end, int) and end < 0):
        return start, end
    if kept == length:  # as long as the axis, whatever its bounds: the whole axis
        return 0, None
    if start == COMPUTED and end != COMPUTED:
        start = (length if end is None else min(end, length)) - kept  # type: ignore[operator]
    elif end == COMPUTED and start != COMPUTED:
        end = start + kept  # type: ignore[operator]
    if isinstance(end, int):
        end = None if end >= length else ShortEnd(end)
    return start, end
