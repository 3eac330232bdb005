"""The terminal report: header, pair table, summary and hints; the alignment table; tensor stats."""

from __future__ import annotations

import io

import numpy as np
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from parity.align import Alignment
from parity.graph import Graph, dims_text
from parity.report import Report

from .json import alignment_dict
from .summary import grouped_hints, metric_cells, names_list, status_text, summary_line

_CONTEXT = 8  # rows shown on each side of the first divergence in compact mode
_COMPACT_ABOVE = 40


def render_text(report: Report, *, width: int | None = None, show_all: bool = False,
                color: bool = False) -> str:
    """The terminal report as plain text (or with ANSI colour when ``color``)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width or 140, color_system="standard" if color else None,
                      force_terminal=color)
    console.print(report_renderable(report, show_all=show_all))
    return buffer.getvalue()


def report_renderable(report: Report, *, show_all: bool = False) -> Group:
    """Header, pair table (compact around the first divergence), summary and hints."""
    header = Text()
    header.append("A: ", style="bold")
    header.append(f"{report.a.path} [{report.a.backend}]\n")
    if report.a.inputs:
        header.append(f"   fed {report.a.inputs}\n", style="dim")
    header.append("B: ", style="bold")
    header.append(f"{report.b.path} [{report.b.backend}]\n")
    if report.b.inputs:
        header.append(f"   fed {report.b.inputs}\n", style="dim")
    header.append(f"tolerance: atol={report.tolerance.atol:g} rtol={report.tolerance.rtol:g}")
    parts: list[object] = [header, _table(report, show_all)]
    parts.append(Text(summary_line(report), style="bold green" if report.ok else "bold red"))
    for hint, others in grouped_hints(report):
        line = f"hint [{hint.code}] {hint.node}: {hint.message}"
        if others:
            line += f"\n  same cause at {len(others)} more node(s): {names_list(others)}"
        parts.append(Text(line, style="yellow"))
    return Group(*parts)


def visible_rows(report: Report, show_all: bool) -> list[int | None]:
    """Row indices to show; ``None`` marks elided rows. Compact on big graphs."""
    count = len(report.pairs)
    if show_all or count <= _COMPACT_ABOVE:
        return list(range(count))
    first = report.first_divergence
    centre = report.pairs.index(first) if first is not None else count - 1
    keep = set(range(3)) | set(range(count - 3, count))
    keep |= set(range(max(0, centre - _CONTEXT), min(count, centre + _CONTEXT + 1)))
    rows: list[int | None] = []
    for i in range(count):
        if i in keep:
            rows.append(i)
        elif rows and rows[-1] is not None:
            rows.append(None)
    return rows


def _table(report: Report, show_all: bool) -> Table:
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    for column, justify in (("#", "right"), ("A node", "left"), ("B node", "left"),
                            ("op", "left"), ("shape", "left"), ("max-abs", "right"),
                            ("mean-abs", "right"), ("cosine", "right"), ("status", "left")):
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    first = report.first_divergence
    for index in visible_rows(report, show_all):
        if index is None:
            table.add_row("…", "…", "", "", "", "", "", "", "")
            continue
        pair = report.pairs[index]
        style = "bold red reverse" if pair is first else ("red" if pair.failed else None)
        status = status_text(pair) + ("  ◀ first divergence" if pair is first else "")
        table.add_row(str(index), pair.a, pair.b, pair.op, *metric_cells(pair), status, style=style)
    return table





def alignment_renderable(alignment: Alignment, a: Graph, b: Graph) -> Group:
    """The alignment table a user checks before writing a mapping file."""
    data = alignment_dict(alignment, a, b)
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    for column in ("#", "A node", "B node", "A op", "B op", "A shape", "B shape", "how"):
        table.add_column(column, overflow="fold")
    for index, pair in enumerate(data["pairs"]):  # type: ignore[arg-type]
        table.add_row(str(index), pair["a"], pair["b"], pair["op_a"], pair["op_b"],
                      dims_text(pair["shape_a"]), dims_text(pair["shape_b"]),
                      pair["how"])
    parts: list[object] = [table]
    for key, label in (("unmatched_a", "unmatched in A"), ("unmatched_b", "unmatched in B"),
                       ("skipped_a", "skipped in A"), ("skipped_b", "skipped in B")):
        names = data[key]
        if names:
            parts.append(Text(f"{label} ({len(names)}): " + ", ".join(names)))  # type: ignore
    return Group(*parts)



def tensor_stats(name: str, value: np.ndarray) -> str:
    """One node's tensor in a few lines: shape, dtype, range, moments, NaN/Inf, first values."""
    finite = value[np.isfinite(value)] if value.size else value
    lines = [f"{name}: shape {dims_text(value.shape)} {value.dtype}"]
    if finite.size:
        lines.append(f"  min {finite.min():.6g}  max {finite.max():.6g}  mean {finite.mean():.6g}"
                     f"  std {finite.std():.6g}  |max| {np.abs(finite).max():.6g}")
    lines.append(f"  NaN {int(np.isnan(value).sum())}  Inf {int(np.isinf(value).sum())}")
    head = ", ".join(f"{v:.6g}" for v in value.ravel()[:8])
    lines.append(f"  first values: {head}{', ...' if value.size > 8 else ''}")
    return "\n".join(lines)
