"""Presentation of a :class:`Report`: terminal table, markdown, JSON."""

from __future__ import annotations

import io
import json

import numpy as np
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from .graph import Graph, dims_text
from .mapping import Alignment
from .metrics import Metrics
from .report import OK, Hint, PairResult, Report

_CONTEXT = 8  # rows shown on each side of the first divergence in compact mode
_COMPACT_ABOVE = 40


def render_json(report: Report) -> str:
    """The documented JSON contract, indented."""
    return json.dumps(report.to_dict(), indent=2)


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
            line += f"\n  same cause at {len(others)} more node(s): {_names(others)}"
        parts.append(Text(line, style="yellow"))
    return Group(*parts)


def grouped_hints(report: Report) -> list[tuple[Hint, list[str]]]:
    """Hints with one code listed once, with the other nodes it was found at."""
    groups: dict[str, tuple[Hint, list[str]]] = {}
    for hint in report.hints:
        if hint.code in groups:
            groups[hint.code][1].append(hint.node)
        else:
            groups[hint.code] = (hint, [])
    return list(groups.values())


def _names(names: list[str], shown: int = 6) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def summary_line(report: Report) -> str:
    """One sentence: how many pairs, how many failed, where it first diverged."""
    failed = sum(p.failed for p in report.pairs)
    text = (f"{len(report.pairs)} pairs compared, {failed} outside tolerance; "
            f"unmatched: {len(report.unmatched_a)} in A, {len(report.unmatched_b)} in B")
    skipped = len(report.skipped_a) + len(report.skipped_b)
    if skipped:
        text += f"; {skipped} skipped (fused chains, in-graph normalisation)"
    transposed = sum(p.how.endswith("+nhwc") for p in report.pairs)
    if transposed:
        text += f"\n{transposed} channels-last (NHWC) tensors compared after transposing to NCHW"
    first = report.first_divergence
    if not report.pairs:
        return "nothing compared: no node of A was aligned with a node of B"
    if report.low_coverage:
        compared = report.compared_nodes
        cov_a, cov_b = report.coverage
        text += (f"\nnot ok: only {compared} of {compared + len(report.unmatched_a)} nodes of A "
                 f"({cov_a:.0%}) and {compared} of {compared + len(report.unmatched_b)} of B "
                 f"({cov_b:.0%}) were compared (minimum {report.min_coverage:.0%}): check the "
                 "pairing with parity align, or give a --map file")
    if first is not None:
        text += f"\nfirst divergence: {first.a} <-> {first.b} ({first.op}) {_first_detail(first)}"
    elif report.ok:
        text += "\nok: every aligned pair is within tolerance"
    return text


def _first_detail(pair: PairResult) -> str:
    m = pair.metrics
    if m is None:
        return f"shape {dims_text(pair.shape_a)} vs {dims_text(pair.shape_b)}"
    if nonfinite(m):
        return f"{nonfinite(m)} (max-abs {m.max_abs:.3g} over finite values)"
    return f"max-abs {m.max_abs:.3g}, cosine {m.cosine:.6f}"


def nonfinite(m: Metrics) -> str:
    """``NaN 3 in A, 0 in B; Inf ...`` when either side has non-finite values, else ``""``."""
    parts = [f"{kind} {a} in A, {b} in B" for kind, a, b in
             (("NaN", m.nan_a, m.nan_b), ("Inf", m.inf_a, m.inf_b)) if a or b]
    return "; ".join(parts)


def _status(pair: PairResult) -> str:
    extra = nonfinite(pair.metrics) if pair.metrics is not None else ""
    return f"{pair.status} ({extra})" if extra else pair.status


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
        status = _status(pair) + ("  ◀ first divergence" if pair is first else "")
        table.add_row(str(index), pair.a, pair.b, pair.op, *_cells(pair), status, style=style)
    return table


def _cells(pair: PairResult) -> tuple[str, str, str, str]:
    shape = pair.dims()
    m = pair.metrics
    if m is None:
        return shape, "-", "-", "-"
    return shape, f"{m.max_abs:.3g}", f"{m.mean_abs:.3g}", f"{m.cosine:.6f}"


def render_markdown(report: Report) -> str:
    """A GitHub-ready report: header, summary, the full table, hints."""
    lines = [
        "### parity report: " + ("ok" if report.ok else "divergence found"),
        "",
        f"- **A**: `{report.a.path}` ({report.a.backend})" +
        (f", fed {report.a.inputs}" if report.a.inputs else ""),
        f"- **B**: `{report.b.path}` ({report.b.backend})" +
        (f", fed {report.b.inputs}" if report.b.inputs else ""),
        f"- **tolerance**: atol={report.tolerance.atol:g}, rtol={report.tolerance.rtol:g}",
        "",
        *(f"> {line}" for line in summary_line(report).splitlines()),
        "",
        "| # | A node | B node | op | shape | max-abs | mean-abs | cosine | status |",
        "|---:|---|---|---|---|---:|---:|---:|---|",
    ]
    first = report.first_divergence
    for index, pair in enumerate(report.pairs):
        shape, max_abs, mean_abs, cosine = _cells(pair)
        status = f"**{_status(pair)}** ← first divergence" if pair is first else (
            pair.status if pair.status == OK else f"**{_status(pair)}**")
        cells = [str(index), f"`{pair.a}`", f"`{pair.b}`", pair.op, shape, max_abs, mean_abs,
                 cosine, status]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if report.hints:
        lines += ["", "**Hints**", ""]
        for hint, others in grouped_hints(report):
            more = f" (same cause at {len(others)} more: {_names(others)})" if others else ""
            lines.append(f"- `{hint.code}` at `{hint.node}`: {hint.message}{more}")
    return "\n".join(lines) + "\n"


def alignment_dict(alignment: Alignment, a: Graph, b: Graph) -> dict[str, object]:
    """The alignment as JSON-ready data: pairs with ops, shapes and how each was found."""

    def shape(graph: Graph, name: str) -> list[int | None] | None:
        if name in graph.input_names:
            spec = graph.inputs[graph.input_names.index(name)]
            return None if spec.shape is None else list(spec.shape)
        node_shape = graph.node(name).shape
        return None if node_shape is None else list(node_shape)

    return {
        "pairs": [
            {"a": m.a, "b": m.b, "op_a": a.op_of(m.a), "op_b": b.op_of(m.b),
             "shape_a": shape(a, m.a), "shape_b": shape(b, m.b), "how": m.how}
            for m in alignment.pairs
        ],
        "unmatched_a": list(alignment.unmatched_a),
        "unmatched_b": list(alignment.unmatched_b),
        "skipped_a": list(alignment.skipped_a),
        "skipped_b": list(alignment.skipped_b),
    }


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
