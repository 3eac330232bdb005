"""Slices by what they cut.

torch traces ``x[:, 0::2, 1::2]`` as one slice per axis (whole-axis ones included); an
exporter may write one multi-axis Slice, drop the whole-axis steps, and share the slices
that repeat (Swin's patch merging cuts four quarters from two row slices). So each slice
is described by its *cut*: per axis ``(start, step, end)``, its own and those of the slices
it reads back to the tensor they cut (its *base*). A bound the trace computes at run time
(rotary embeddings' ``x[..., : x.shape[-1] // 2]``) is :data:`COMPUTED`: it differs from
no other, yet the other bounds still tell the two halves apart. Two slices whose cuts
differ cannot hold one value (:func:`cuts_differ`). A slice with the same base and fully
known cut as an earlier one, or that cuts nothing, holds that node's value: it is merged
into it (:func:`merge_repeated`), so what reads it hangs from the node the other side has.
"""

from __future__ import annotations

from dataclasses import replace

from ..graph import Graph, Node
from ..ops import op_key

_WHOLE = 2**62  # an end at or past this runs to the end of the axis (torch writes INT64_MAX)
COMPUTED = "computed"  # a bound known only when the model runs
Bound = int | str | None  # an index, COMPUTED, or None (an end: to the end of the axis)


class ShortEnd(int):
    """An end known to stop before the end of its axis (the axis's length is known): unlike
    a bare end, which may be the axis length, it differs from an end that runs to the end."""

Cut = tuple[tuple[int, tuple[Bound, int, Bound]], ...]  # ((axis, (start, step, end)), ...)


def merge_repeated(graph: Graph) -> tuple[Graph, tuple[str, ...]]:
    """``graph`` with each slice's cut as its ``cut`` attribute, repeated and empty slices
    left out (their readers read the node they repeat); and the names left out."""
    cuts: dict[str, tuple[str, dict[int, tuple[Bound, int, Bound]]]] = {}
    seen: dict[tuple[str, Cut], str] = {}
    alias: dict[str, str] = {}
    nodes: list[Node] = []
    for node in graph.nodes:
        if alias and any(name in alias for name in node.inputs):
            node = replace(node, inputs=tuple(dict.fromkeys(alias.get(n, n) for n in node.inputs)))
        own = _own_cut(node, _lengths(graph, node))
        if own is None or len(node.inputs) != 1:
            nodes.append(node)
            continue
        base, cut = node.inputs[0], own
        if base in cuts:
            base, above = cuts[base]
            if set(above) & set(own):
                nodes.append(node)  # a slice of a slice on one axis: not described here
                continue
            cut = {**above, **own}
        key = (base, tuple(sorted(cut.items())))
        if not cut or key in seen:
            alias[node.name] = seen.get(key, base)
            continue
        if not any(COMPUTED in bounds for bounds in cut.values()):
            seen[key] = node.name  # two computed bounds may differ: never merged
        cuts[node.name] = (base, cut)
        nodes.append(replace(node, attrs={**node.attrs, "cut": key[1]}))
    if not alias and not cuts:
        return graph, ()
    outputs = tuple(dict.fromkeys(alias.get(name, name) for name in graph.outputs))
    return Graph(tuple(nodes), graph.inputs, outputs, graph.source), tuple(alias)


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
    if len(node.inputs) != 1:
        return None
    source = node.inputs[0]
    if source in graph:
        return graph.node(source).shape
    return next((spec.shape for spec in graph.inputs if spec.name == source), None)


def _own_cut(node: Node, lengths: tuple[int | None, ...] | None = None
             ) -> dict[int, tuple[Bound, int, Bound]] | None:
    """What one slice op cuts, per axis (whole axes left out); None when it is not a slice
    or what it cuts is not known (its axis or step is computed, or an axis is negative on
    a tensor of unknown rank). Where ``lengths`` (its input's shape) gives the axis's
    length, an end at or past it runs to the end and one before it is a :class:`ShortEnd`.

    torch records every slice's constant start and end (a TorchScript constant, a
    torch.export argument): a bound missing from a torch slice is computed (onnx2torch
    reads both from tensors)."""
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
        if (start, step, end) != (0, 1, None):
            cut[axis % rank if axis < 0 else axis] = (start, step, end)  # type: ignore[operator]
    return cut
