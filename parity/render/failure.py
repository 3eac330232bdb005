"""The compact text of a failed comparison, for ``AssertionError`` messages.

The first divergence, its metrics and hints, both sides, and the table rows around it;
not the whole table.
"""

from __future__ import annotations

from collections.abc import Sequence

from parity.graph import dims_text
from parity.report import Report, Side

from .summary import grouped_hints, judged, nonfinite

CONTEXT = 3  # table rows shown on each side of the first divergence


def render_failure(report: Report, context: int = CONTEXT) -> str:
    """A compact ``AssertionError`` message: the first divergence, its metrics and hints,
    both sides, and the table rows around it."""
    lines = _divergence_lines(report) + _hint_lines(report)
    lines += [f"A: {_side(report.a)}", f"B: {_side(report.b)}", _counts(report)]
    if report.pairs:
        lines += ["", *_table_lines(report, context)]
    return "\n".join(lines)


def _divergence_lines(report: Report) -> list[str]:
    first = report.first_divergence
    if first is None:
        return ["models diverge: " + ("no node of A was aligned with a node of B"
                                      if not report.pairs else "pairs outside tolerance")]
    index = report.pairs.index(first)
    lines = [f"models diverge at pair #{index} of {len(report.pairs)}: "
             f"{first.a} <-> {first.b} ({first.op})"]
    m = first.metrics
    if m is None:
        lines.append(f"  shapes {dims_text(first.shape_a)} vs {dims_text(first.shape_b)}")
    else:
        lines.append(f"  {judged(first, report.error_stat.label())}, max-abs {m.max_abs:.3g}, "
                     f"mean-abs {m.mean_abs:.3g}, max-rel {m.max_rel:.3g}, "
                     f"cosine {m.cosine:.6f}" + (f", {nonfinite(m)}" if nonfinite(m) else ""))
    if first.channel_max_abs:
        lines.append("  worst channels: " + _worst_channels(first.channel_max_abs))
    return lines


def _hint_lines(report: Report) -> list[str]:
    """Each hint once, with the other nodes where the same cause was found."""
    lines = []
    for hint, others in grouped_hints(report):
        lines.append(f"  hint [{hint.code}] {hint.node}: {hint.message}")
        if others:
            more = f", ... ({len(others)} in all)" if len(others) > 3 else ""
            lines.append(f"    same cause at: {', '.join(others[:3])}{more}")
    return lines


def _worst_channels(values: Sequence[float], count: int = 3) -> str:
    order = sorted(range(len(values)), key=lambda i: values[i], reverse=True)[:count]
    return ", ".join(f"{i} ({values[i]:.3g})" for i in order) + f" of {len(values)}"


def _side(side: Side) -> str:
    return f"{side.path} [{side.backend}]" + (f", fed {side.inputs}" if side.inputs else "")


def _counts(report: Report) -> str:
    failed = sum(p.failed for p in report.pairs)
    text = (f"{failed} of {len(report.pairs)} pairs outside tolerance; unmatched: "
            f"{len(report.unmatched_a)} in A, {len(report.unmatched_b)} in B")
    if report.low_coverage:
        cov_a, cov_b = report.coverage
        text += (f"; only {cov_a:.0%} of A's and {cov_b:.0%} of B's nodes compared "
                 f"(minimum {report.min_coverage:.0%})")
    return text


def _table_lines(report: Report, context: int) -> list[str]:
    """Aligned text rows from ``context`` before the first divergence to ``context`` after."""
    first = report.first_divergence
    failed = [i for i, p in enumerate(report.pairs) if p.failed]
    centre = report.pairs.index(first) if first is not None else (failed or [0])[0]
    start, stop = max(0, centre - context), min(len(report.pairs), centre + context + 1)
    rows = [["", "#", "A node", "B node", "op", "max-abs", "cosine", "status"]]
    for index in range(start, stop):
        pair = report.pairs[index]
        marker = ">" if index == centre else ""
        metrics = (["-", "-"] if pair.metrics is None else
                   [f"{pair.metrics.max_abs:.3g}", f"{pair.metrics.cosine:.6f}"])
        rows.append([marker, str(index), pair.a, pair.b, pair.op, *metrics, pair.status])
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    right = {1, 5, 6}
    lines = ["  ".join(cell.rjust(w) if c in right else cell.ljust(w)
                       for c, (cell, w) in enumerate(zip(row, widths))).rstrip()
             for row in rows]
    hidden = len(report.pairs) - (stop - start)
    if hidden:
        lines.append(f"({hidden} more rows in the exception's .report, or the files of "
                     "pytest --parity-report DIR)")
    return lines

