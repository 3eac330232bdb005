"""Text pieces every format shares: the summary sentence, grouped hints, metric cells."""

from __future__ import annotations

from parity.graph import dims_text
from parity.metrics import Metrics
from parity.report import Hint, PairResult, Report


def grouped_hints(report: Report) -> list[tuple[Hint, list[str]]]:
    """Hints with one code listed once, with the other nodes it was found at."""
    groups: dict[str, tuple[Hint, list[str]]] = {}
    for hint in report.hints:
        if hint.code in groups:
            groups[hint.code][1].append(hint.node)
        else:
            groups[hint.code] = (hint, [])
    return list(groups.values())


def names_list(names: list[str], shown: int = 6) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def summary_line(report: Report) -> str:
    """One sentence: how many pairs, how many failed, where it first diverged."""
    failed = sum(p.failed for p in report.pairs)
    text = (f"{len(report.pairs)} pairs compared, {failed} outside tolerance; "
            + unmatched_text(report))
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
        text += (f"\nfirst divergence: {first.a} <-> {first.b} ({first.op}) "
                 f"{first_detail(first, report.error_stat.label())}")
    elif report.ok:
        text += "\nok: every aligned pair is within tolerance"
    return text


def first_detail(pair: PairResult, stat: str = "err") -> str:
    m = pair.metrics
    if m is None:
        return f"shape {dims_text(pair.shape_a)} vs {dims_text(pair.shape_b)}"
    if nonfinite(m):
        return f"{nonfinite(m)} (max-abs {m.max_abs:.3g} over finite values)"
    text = f"max-abs {m.max_abs:.3g}, cosine {m.cosine:.6f}"
    return text + (f"; {judged(pair, stat)}" if pair.verdict is not None else "")


def judged(pair: PairResult, stat: str = "err") -> str:
    """The pair's verdict in words: its error (``stat`` the statistic judged, as
    :meth:`~parity.verdict.ErrorStat.label` names it) against the noise bound, or the
    allclose rule that judged it, and its amplification of the error it received."""
    v = pair.verdict
    if v is None:
        return pair.status
    error = "error" if stat == "err" else f"{stat} error"
    if v.bound is not None:
        text = f"{error} {v.error:.3g} of scale vs noise bound {v.bound:.2g} ({v.ratio:.3g}x)"
    else:
        text = f"{error} {v.error:.3g} of scale, judged by {v.rule}"
    if v.amplification is not None:
        text += f", amplification {v.amplification:.3g}x"
    if pair.worst_input:
        text += f", worst on {pair.worst_input}"
    return text


def nonfinite(m: Metrics) -> str:
    """``NaN 3 in A, 0 in B; Inf ...`` when either side has non-finite values, else ``""``."""
    parts = [f"{kind} {a} in A, {b} in B" for kind, a, b in
             (("NaN", m.nan_a, m.nan_b), ("Inf", m.inf_a, m.inf_b)) if a or b]
    if m.unmatched:
        parts.append(f"{m.unmatched} not at the same places")
    return "; ".join(parts)


def status_text(pair: PairResult) -> str:
    extra = nonfinite(pair.metrics) if pair.metrics is not None else ""
    return f"{pair.status} ({extra})" if extra else pair.status


def unmatched_text(report: Report, shown: int = 3) -> str:
    """``unmatched: 94 in A (/Shape, /Gather, /Unsqueeze and 91 more), 0 in B``."""
    parts = []
    for side, names in (("A", report.unmatched_a), ("B", report.unmatched_b)):
        listed = f" ({names_list(list(names), shown)})" if names else ""
        parts.append(f"{len(names)} in {side}{listed}")
    return "unmatched: " + ", ".join(parts)


def verdict_line(report: Report) -> str:
    """The one line ``-q`` prints: ok, or where the models first diverge."""
    first = report.first_divergence
    if first is not None:
        index = report.pairs.index(first)
        return (f"parity: diverge at pair #{index} of {len(report.pairs)}: {first.a} <-> "
                f"{first.b} ({first.op}) {first_detail(first, report.error_stat.label())}")
    if not report.pairs:
        return "parity: not ok: no node of A was aligned with a node of B"
    if report.low_coverage:
        return (f"parity: not ok: only {min(report.coverage):.0%} of a side's nodes compared "
                f"(minimum {report.min_coverage:.0%})")
    if not report.ok:
        failed = sum(p.failed for p in report.pairs)
        return f"parity: not ok: {failed} of {len(report.pairs)} pairs outside tolerance"
    return f"parity: ok: {len(report.pairs)} pairs within tolerance"
