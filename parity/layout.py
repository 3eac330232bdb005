"""NHWC vs NCHW: bring a channels-last tensor into the other side's layout before diffing.

Keras tensors are NHWC (nodes carry ``attrs["layout"] == "NHWC"``); most other frameworks
are NCHW. A flattened tensor keeps the order of the layout it was flattened in, so a
Flatten fed NHWC is reordered as C,H,W too.
"""

from __future__ import annotations

import numpy as np

from .graph import Graph, Shape

NCHW, NHWC = "NCHW", "NHWC"
_CHANNEL_COUNTS = (1, 3, 4)  # gray, colour, colour + alpha


def shape_layout(shape: Shape | None) -> str:
    """``NHWC`` for a 4-D image shape whose last dimension, not its second, holds channels."""
    if (shape is not None and len(shape) == 4 and shape[3] in _CHANNEL_COUNTS
            and shape[1] not in _CHANNEL_COUNTS):
        return NHWC
    return NCHW


def layout_of(graph: Graph, name: str) -> str:
    """``NHWC`` for channels-last nodes and inputs, else ``NCHW``."""
    if name in graph:
        return str(graph.node(name).attrs.get("layout", NCHW))
    return shape_layout(graph.inputs[graph.input_names.index(name)].shape)


def flattened_from(graph: Graph, name: str) -> tuple[int, int, int] | None:
    """``(H, W, C)`` when ``name`` flattens a channels-last 4-D tensor of that shape (a
    node whose ``flatten_order`` is NCHW transposed it back first)."""
    if name not in graph:
        return None
    node = graph.node(name)
    if node.attrs.get("flatten_order") == NCHW:
        return None
    if len(node.inputs) != 1 or node.inputs[0] not in graph:
        return None
    source = graph.node(node.inputs[0])
    shape = source.shape
    if source.attrs.get("layout") != NHWC or shape is None or len(shape) != 4:
        return None
    if node.shape is None or len(node.shape) != 2 or None in shape[1:]:
        return None
    return int(shape[1]), int(shape[2]), int(shape[3])  # type: ignore[arg-type]


def same_layout(
    graph_a: Graph, graph_b: Graph, name_a: str, name_b: str, va: np.ndarray, vb: np.ndarray
) -> tuple[np.ndarray, np.ndarray, str]:
    """Both tensors in one layout, and ``+nhwc`` when a channels-last side was transposed."""
    moved_a = _to_nchw(graph_a, name_a, va, graph_b, name_b)
    if moved_a is not None:
        return moved_a, vb, "+nhwc"
    moved_b = _to_nchw(graph_b, name_b, vb, graph_a, name_a)
    if moved_b is not None:
        return va, moved_b, "+nhwc"
    return va, vb, ""


def _to_nchw(
    graph: Graph, name: str, value: np.ndarray, other: Graph, other_name: str
) -> np.ndarray | None:
    """``value`` in NCHW order when it is channels-last and the other side's is not."""
    if value.ndim == 4 and layout_of(graph, name) == NHWC and layout_of(other, other_name) != NHWC:
        return np.transpose(value, (0, 3, 1, 2))
    hwc = flattened_from(graph, name)
    if hwc is None or flattened_from(other, other_name) is not None:
        return None
    if value.ndim == 2 and value.shape[1] == hwc[0] * hwc[1] * hwc[2]:
        return value.reshape(value.shape[0], *hwc).transpose(0, 3, 1, 2).reshape(value.shape)
    return None
