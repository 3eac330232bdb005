"""Markdown: a report sized for a GitHub issue or pull-request comment.

The summary comes first (verdict, the first divergence with its metrics, the hints), then
the rows around the first divergence, then the whole table folded in ``<details>``, then
the environment a bug report needs. The whole text stays under GitHub's comment limit:
rows that do not fit are left to the JSON or HTML report.
"""

from __future__ import annotations

from parity.metrics import Metrics
from parity.report import OK, PairResult, Report

from .columns import pair_columns
from .summary import (
    grouped_hints,
    judged,
    names_list,
    nonfinite,
    status_text,
    unmatched_text,
)

BUDGET = 60_000  # characters; GitHub rejects comments over 65,536
CONTEXT = 3  # rows on each side of the first divergence in the summary table


def render_markdown(report: Report, budget: int = BUDGET) -> str:
    """The report as GitHub-flavoured markdown, at most about ``budget`` characters."""
    head = "\n".join(_summary(report) + _around(report)) + "\n"
    tail = "\n".join(_environment(report)) + "\n"
    room = budget - len(head) - len(tail)
    return head + "\n".join(_folded_table(report, room)) + "\n" + tail


def _summary(report: Report) -> list[str]:
    first = report.first_divergence
    failed = sum(p.failed for p in report.pairs)
    if report.ok:
        title = f"### parity: ok, {len(report.pairs)} pairs within tolerance"
    elif first is not None:
        title = f"### parity: models diverge at `{first.a}` ({first.op})"
    else:
        title = "### parity: not ok"
    lines = [title, "",
             f"**{failed} of {len(report.pairs)} pairs outside tolerance** "
             f"({report.criteria.text()}); {unmatched_text(report)}."]
    if first is not None:
        index = report.pairs.index(first)
        lines += ["", f"**First divergence**, pair #{index}: `{first.a}` ↔ `{first.b}` "
                      f"({first.op}, {first.dims()}): "
                      f"{_metrics(first, report.error_stat.label())}."]
    if report.low_coverage and report.pairs:
        cov_a, cov_b = report.coverage
        lines += ["", f"**Low coverage**: only {cov_a:.0%} of A's and {cov_b:.0%} of B's nodes "
                      f"were compared (minimum {report.min_coverage:.0%}); check the pairing "
                      "with `parity align`, or give a mapping file."]
    for hint, others in grouped_hints(report):
        more = f" Same cause at {len(others)} more: {names_list(others)}." if others else ""
        lines += ["", f"> **Hint** `{hint.code}` at `{hint.node}`: {hint.message}{more}"]
    lines += ["", f"- **A**: `{report.a.path}` ({report.a.backend})" + _fed(report.a.inputs),
              f"- **B**: `{report.b.path}` ({report.b.backend})" + _fed(report.b.inputs)]
    return lines


def _fed(inputs: str) -> str:
    return f", fed {inputs}" if inputs else ""


def _metrics(pair: PairResult, stat: str) -> str:
    m: Metrics | None = pair.metrics
    if m is None:
        return "shapes differ"
    text = (f"max-abs {m.max_abs:.3g}, mean-abs {m.mean_abs:.3g}, max-rel {m.max_rel:.3g}, "
            f"cosine {m.cosine:.6f}" + (f"; {judged(pair, stat)}" if pair.verdict else ""))
    return text + (f"; {nonfinite(m)}" if nonfinite(m) else "")


def _around(report: Report) -> list[str]:
    """The rows around the first divergence (nothing when there is none)."""
    first = report.first_divergence
    if first is None or len(report.pairs) <= 2 * CONTEXT + 1:
        return []
    centre = report.pairs.index(first)
    rows = range(max(0, centre - CONTEXT), min(len(report.pairs), centre + CONTEXT + 1))
    return ["", "#### Around the first divergence", "", *_header(report),
            *(_row(report, i) for i in rows)]


def _folded_table(report: Report, room: int) -> list[str]:
    """Every pair inside ``<details>``; when ``room`` characters cannot hold them all, the
    rows on both sides of the first divergence that fit."""
    lines = ["", "<details>", f"<summary>All {len(report.pairs)} pairs</summary>", "",
             *_header(report)]
    room -= sum(len(line) + 1 for line in lines) + 200  # the closing lines and the cut note
    rows = [_row(report, i) for i in range(len(report.pairs))]
    lo, hi = _window([len(row) + 1 for row in rows], _centre(report), room)
    lines += rows[lo:hi]
    if hi - lo < len(rows):
        lines += ["", f"Pairs #{lo} to #{hi - 1} of {len(rows)}, around the first divergence; "
                      "the others do not fit in a comment: see the JSON or HTML report "
                      "(`parity report DIR --format html`)."]
    return [*lines, "", "</details>"]


def _centre(report: Report) -> int:
    first = report.first_divergence
    failed = [i for i, p in enumerate(report.pairs) if p.failed]
    return report.pairs.index(first) if first is not None else (failed or [0])[0]


def _window(sizes: list[int], centre: int, room: int) -> tuple[int, int]:
    """The widest ``[lo, hi)`` around ``centre`` whose sizes add up to at most ``room``."""
    if sum(sizes) <= room:
        return 0, len(sizes)
    lo, hi, used = centre, centre, 0
    while True:
        grew = False
        for side in ("up", "down"):
            if side == "down" and hi < len(sizes) and used + sizes[hi] <= room:
                used, hi, grew = used + sizes[hi], hi + 1, True
            elif side == "up" and lo > 0 and hi > centre and used + sizes[lo - 1] <= room:
                used, lo, grew = used + sizes[lo - 1], lo - 1, True
        if not grew:
            return lo, hi


def _header(report: Report) -> list[str]:
    columns = pair_columns(report)
    titles = ["#", "A node", "B node", *(c.title for c in columns), "status"]
    aligns = ["---:", "---", "---", *("---:" if c.numeric else "---" for c in columns),
              "---"]
    return ["| " + " | ".join(titles) + " |", "|" + "|".join(aligns) + "|"]


def _row(report: Report, index: int) -> str:
    pair = report.pairs[index]
    if pair is report.first_divergence:
        status = f"**{status_text(pair)}** ← first divergence"
    else:
        status = pair.status if pair.status == OK else f"**{status_text(pair)}**"
    cells = [str(index), f"`{pair.a}`", f"`{pair.b}`",
             *(c.cell(pair) for c in pair_columns(report)), status]
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _environment(report: Report) -> list[str]:
    if not report.environment:
        return []
    items = " · ".join(f"{name} {value}" for name, value in report.environment.items())
    return ["", "#### Environment", "", items]
