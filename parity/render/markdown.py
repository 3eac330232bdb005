"""Markdown: a report to paste into a GitHub issue or pull request."""

from __future__ import annotations

from parity.report import OK, Report

from .summary import grouped_hints, metric_cells, names_list, status_text, summary_line


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
        shape, max_abs, mean_abs, cosine = metric_cells(pair)
        status = f"**{status_text(pair)}** ← first divergence" if pair is first else (
            pair.status if pair.status == OK else f"**{status_text(pair)}**")
        cells = [str(index), f"`{pair.a}`", f"`{pair.b}`", pair.op, shape, max_abs, mean_abs,
                 cosine, status]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if report.hints:
        lines += ["", "**Hints**", ""]
        for hint, others in grouped_hints(report):
            more = f" (same cause at {len(others)} more: {names_list(others)})" if others else ""
            lines.append(f"- `{hint.code}` at `{hint.node}`: {hint.message}{more}")
    return "\n".join(lines) + "\n"
