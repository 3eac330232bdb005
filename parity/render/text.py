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

from .columns import Column, pair_columns
from .fit import Layout, Natural, fit, middle_ellipsis
from .json import alignment_dict
from .summary import grouped_hints, names_list, status_text, summary_line, verdict_line

_CONTEXT = 8  # rows shown on each side of the first divergence in compact mode
_COMPACT_ABOVE = 40
_UNLIMITED = 100_000  # console width when nothing is to be wrapped


def render_text(report: Report, *, width: int | None = None, show_all: bool = False,
                color: bool = False, verbosity: int = 0) -> str:
    """The terminal report as plain text (or with ANSI colour when ``color``).

    ``width`` fits the table into that many columns and wraps prose at word boundaries;
    ``None`` leaves the table at its natural width and prose on one line per paragraph
    (for logs and files). ``verbosity`` -1 is the verdict line only, 1 adds how each pair
    was aligned and every unmatched and skipped node.
    """
    buffer = io.StringIO()
    console = Console(file=buffer, width=width or _UNLIMITED, force_terminal=color,
                      color_system="standard" if color else None, highlight=False)
    print_report(console, report, width=width, show_all=show_all, verbosity=verbosity)
    return buffer.getvalue()


def print_report(console: Console, report: Report, *, width: int | None, show_all: bool = False,
                 verbosity: int = 0, wrap: bool | None = None) -> None:
    """Print the report on ``console`` (see :func:`render_text`); ``wrap`` (default: when
    there is a ``width``) wraps prose at the console's width, else one line a paragraph."""
    soft_wrap = not (width is not None if wrap is None else wrap)
    if verbosity < 0:
        console.print(verdict_text(report), soft_wrap=soft_wrap)
        return
    console.print(report_renderable(report, width=width, show_all=show_all,
                                    verbosity=verbosity), soft_wrap=soft_wrap)


def print_brief(console: Console, report: Report, *, wrap: bool) -> None:
    """The verdict, the first divergence and the hints: what a terminal shows when the
    report itself went to a file."""
    console.print(Group(*_summary_parts(report)), soft_wrap=not wrap)


def verdict_text(report: Report) -> Text:
    return Text(verdict_line(report), style="bold green" if report.ok else "bold red")


def report_renderable(report: Report, *, width: int | None = None, show_all: bool = False,
                      verbosity: int = 0) -> Group:
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
    header.append(f"verdict: {report.criteria.text()}")
    parts: list[object] = [header, _table(report, show_all, width, verbosity > 0)]
    if verbosity > 0:
        parts += _node_lists(report)
    return Group(*parts, *_summary_parts(report))


def _summary_parts(report: Report) -> list[Text]:
    parts = [Text(summary_line(report), style="bold green" if report.ok else "bold red")]
    for hint, others in grouped_hints(report):
        line = f"hint [{hint.code}] {hint.node}: {hint.message}"
        if others:
            line += f"\n  same cause at {len(others)} more node(s): {names_list(others)}"
        parts.append(Text(line, style="yellow"))
    return parts


def _node_lists(report: Report) -> list[Text]:
    """Every unmatched and skipped node (``-v``)."""
    lists = (("unmatched in A", report.unmatched_a), ("unmatched in B", report.unmatched_b),
             ("skipped in A", report.skipped_a), ("skipped in B", report.skipped_b))
    return [Text(f"{label} ({len(names)}): " + ", ".join(names), style="dim")
            for label, names in lists if names]


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


_HOW = Column("how", lambda pair: pair.how)


def _table(report: Report, show_all: bool, width: int | None, with_how: bool) -> Table:
    """The pair table, fitted into ``width`` columns (see :mod:`parity.render.fit`)."""
    rows = visible_rows(report, show_all)
    pairs = [report.pairs[i] for i in rows if i is not None]
    columns = (*pair_columns(report), _HOW) if with_how else pair_columns(report)
    first = report.first_divergence
    natural = Natural(
        index=max([1, *(len(str(i)) for i in rows if i is not None)]),
        names=(max([6, *(len(p.a) for p in pairs)]), max([6, *(len(p.b) for p in pairs)])),
        column={c.title: max([len(c.title), *(len(c.cell(p)) for p in pairs)])
                for c in columns},
        status=max([6, *(len(status_text(p)) for p in pairs)]),
    )
    layout = fit(natural, columns, width)
    if first not in pairs:
        layout = Layout(layout.columns, "", layout.name_widths)
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    table.add_column("#", justify="right", no_wrap=True)
    for title, name_width in zip(("A node", "B node"), layout.name_widths):
        table.add_column(title, no_wrap=True, max_width=name_width)
    for column in layout.columns:
        table.add_column(column.title, justify="right" if column.numeric else "left",
                         no_wrap=True)
    table.add_column("status", no_wrap=True)
    for index in rows:
        if index is None:
            table.add_row("…", "…", "…", *("" for _ in layout.columns), "")
            continue
        pair = report.pairs[index]
        style = "bold red reverse" if pair is first else ("red" if pair.failed else None)
        status = status_text(pair) + (layout.marker if pair is first else "")
        wa, wb = layout.name_widths
        table.add_row(str(index), middle_ellipsis(pair.a, wa), middle_ellipsis(pair.b, wb),
                      *(c.cell(pair) for c in layout.columns), status, style=style)
    return table


def alignment_renderable(alignment: Alignment, a: Graph, b: Graph) -> Group:
    """The alignment table a user checks before writing a mapping file."""
    data = alignment_dict(alignment, a, b)
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    for column in ("#", "A node", "B node", "A op", "B op", "A shape", "B shape", "how",
                   "conf"):
        table.add_column(column, overflow="fold")
    for index, pair in enumerate(data["pairs"]):  # type: ignore[arg-type]
        table.add_row(str(index), pair["a"], pair["b"], pair["op_a"], pair["op_b"],
                      dims_text(pair["shape_a"]), dims_text(pair["shape_b"]),
                      pair["how"], f"{pair['confidence']:.2f}")
    parts: list[object] = [table]
    for key, label in (("unmatched_a", "unmatched in A"), ("unmatched_b", "unmatched in B"),
                       ("skipped_a", "skipped in A"), ("skipped_b", "skipped in B")):
        names = data[key]
        if names:
            parts.append(Text(f"{label} ({len(names)}): " + ", ".join(names)))  # type: ignore
    inert = len(data["inert_a"]) + len(data["inert_b"])  # type: ignore[arg-type]
    if inert:
        parts.append(Text(f"not compared: {inert} nodes compute no activation (weights, "
                          "constants, shape arithmetic, dead code)"))
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
