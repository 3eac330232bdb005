"""Fitting the pair table into a terminal's width without breaking a cell.

Cells are never wrapped. When the natural table is too wide, it gives up, in order: the
columns of highest ``drop_rank``, the long first-divergence marker, room in long node
names (middle-ellipsised, down to a floor), the next columns, and so on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .columns import Column

SEPARATOR = 3  # " │ " between two columns of the rich table
LONG_MARKER, SHORT_MARKER = "  ◀ first divergence", " ◀"


def middle_ellipsis(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters by an ellipsis in its middle.

    Whole segments of a scoped name go, keeping as much of its end, the most specific
    part, as fits: from its start (``…layer1.0/conv2/Conv``) or from its middle, keeping
    the first segment (``/encoder…/self/query/MatMul``); a name without such room is cut
    inside, keeping three quarters for its end.
    """
    if len(text) <= width:
        return text
    if width < 2:
        return "…"[:width]
    sep = re.escape("/" if "/" in text else ".")
    segments = re.findall(rf"{sep}*[^{sep}]+", text)
    head = segments[0] if segments else ""
    for start in range(1, len(segments) - 1):
        tail = "".join(segments[start:])
        if len(head) + 1 + len(tail) <= width and start > 1:
            if len(head) + 1 + len(tail) >= width - 4:  # else a cut inside keeps more
                return head + "…" + tail
            break
        if len(tail.lstrip("/.")) + 1 <= width:  # the end alone, from a segment on
            return "…" + tail.lstrip("/.")
    keep = width - 1
    return text[:keep // 4] + "…" + text[len(text) - (keep - keep // 4):]


@dataclass(frozen=True)
class Layout:
    """What the table shows at one width."""

    columns: tuple[Column, ...]
    marker: str
    name_widths: tuple[int, int]


@dataclass(frozen=True)
class Natural:
    """The unconstrained widths of the table's fixed parts."""

    index: int
    names: tuple[int, int]  # A node, B node
    column: dict[str, int]  # value columns by title
    status: int  # without the marker


def fit(natural: Natural, columns: tuple[Column, ...], width: int | None) -> Layout:
    """The richest layout whose width is at most ``width`` (the natural one when ``None``)."""
    layout = Layout(columns, LONG_MARKER, natural.names)
    if width is None:
        return layout
    floor: int | None = None
    for kind, value in _steps(columns):
        if kind == "drop":
            layout = Layout(tuple(c for c in layout.columns if c.drop_rank != value),
                            layout.marker, layout.name_widths)
        elif kind == "marker":
            layout = Layout(layout.columns, SHORT_MARKER, layout.name_widths)
        elif kind == "floor":
            floor = value
        names = _names(natural, layout, width, floor)
        if names is not None:
            return Layout(layout.columns, layout.marker, names)
    return Layout(layout.columns, layout.marker, _names(natural, layout, width, 1) or (1, 1))


def _steps(columns: tuple[Column, ...]) -> list[tuple[str, int]]:
    """What to give up, in order: ``("drop", rank)``, ``("marker", 0)``, ``("floor", n)``
    (node names may shrink to ``n`` characters); ``("natural", 0)`` tries the table as is."""
    ranks = sorted({c.drop_rank for c in columns if c.drop_rank}, reverse=True)
    return [("natural", 0), *(("drop", r) for r in ranks if r > 4), ("marker", 0),
            ("floor", 24), *(("drop", r) for r in ranks if 2 < r <= 4), ("floor", 12),
            *(("drop", r) for r in ranks if r <= 2), ("floor", 4)]


def _names(natural: Natural, layout: Layout, width: int,
           floor: int | None) -> tuple[int, int] | None:
    """Widths of the two name columns that fit, or None when ``floor`` cannot be kept."""
    count = 4 + len(layout.columns)  # #, A node, B node, values..., status
    fixed = (natural.index + natural.status + len(layout.marker)
             + sum(natural.column[c.title] for c in layout.columns) + SEPARATOR * (count - 1))
    room = width - fixed
    na, nb = natural.names
    if na + nb <= room:
        return na, nb
    if floor is None:
        return None
    half = room // 2
    if na <= half:
        wa, wb = na, room - na
    elif nb <= half:
        wa, wb = room - nb, nb
    else:
        wa, wb = room - half, half
    if wa < min(na, floor) or wb < min(nb, floor):
        return None
    return wa, wb
