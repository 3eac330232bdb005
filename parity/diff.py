"""The diff engine: run both models once, compare aligned pairs, find the first divergence."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .backend import Backend
from .diagnose import Evidence, diagnose
from .graph import Graph
from .layout import same_layout
from .mapping import Alignment
from .metrics import Tolerance, channel_max_abs, compare_arrays, squeeze_to_common
from .report import FAIL, OK, SHAPE_MISMATCH, PairResult, Report, Side

_DIAGNOSED_ROOTS = 8  # divergence roots whose tensors are kept for diagnosis


def diff_models(
    a: Backend,
    b: Backend,
    feeds_a: Mapping[str, np.ndarray],
    feeds_b: Mapping[str, np.ndarray],
    alignment: Alignment,
    tolerance: Tolerance,
    *,
    inputs_a: str = "",
    inputs_b: str = "",
) -> Report:
    """Compare every aligned pair from one forward pass of each model."""
    values_a = a.run(feeds_a, [m.a for m in alignment.pairs])
    values_b = b.run(feeds_b, [m.b for m in alignment.pairs])
    results = []
    for m in alignment.pairs:
        va, vb, note = same_layout(a.graph, b.graph, m.a, m.b, values_a[m.a], values_b[m.b])
        values_a[m.a], values_b[m.b] = va, vb  # diagnosis sees what was compared
        results.append(diff_pair(m.a, m.b, a.graph.op_of(m.a), m.how + note, va, vb, tolerance))
    pairs = tuple(results)
    roots = divergence_roots(a.graph, pairs)
    keep = _kept_for_diagnosis(a.graph, pairs, roots)
    evidence = Evidence(
        a, b, alignment, pairs, tuple(roots), tolerance,
        {p.a: values_a[p.a] for p in keep}, {p.b: values_b[p.b] for p in keep},
    )
    del values_a, values_b
    return Report(
        a=Side(str(a.path), a.name, inputs_a),
        b=Side(str(b.path), b.name, inputs_b),
        tolerance=tolerance,
        pairs=pairs,
        unmatched_a=alignment.unmatched_a,
        unmatched_b=alignment.unmatched_b,
        skipped_a=alignment.skipped_a,
        skipped_b=alignment.skipped_b,
        first_divergence=roots[0] if roots else None,
        hints=diagnose(evidence),
    )


def _kept_for_diagnosis(
    graph: Graph, pairs: tuple[PairResult, ...], roots: list[PairResult]
) -> list[PairResult]:
    """Input pairs, divergence roots and the pairs right upstream of each root."""
    by_a = {p.a: p for p in pairs}
    nearest = graph.nearest(by_a)
    keep = {p.a: p for p in pairs if p.how == "input"}
    for root in roots[:_DIAGNOSED_ROOTS]:
        keep[root.a] = root
        keep.update((name, by_a[name]) for name in nearest.get(root.a, ()))
    return list(keep.values())


def diff_pair(
    a: str, b: str, op: str, how: str, va: np.ndarray, vb: np.ndarray, tol: Tolerance
) -> PairResult:
    """Metrics and status of one pair; shapes that cannot be reconciled fail as such."""
    common = squeeze_to_common(va, vb)
    if common is None:
        return PairResult(a, b, op, how, va.shape, vb.shape, SHAPE_MISMATCH)
    metrics = compare_arrays(*common, tol)
    if metrics.passed:
        return PairResult(a, b, op, how, va.shape, vb.shape, OK, metrics)
    channels = channel_max_abs(*common)
    return PairResult(a, b, op, how, va.shape, vb.shape, FAIL, metrics, channels)


def divergence_roots(graph: Graph, pairs: tuple[PairResult, ...]) -> list[PairResult]:
    """Failing pairs whose nearest compared ancestors in ``graph`` all passed.

    These are where error starts rather than where it is carried along.
    """
    status = {p.a: p for p in pairs}
    nearest = graph.nearest(status)
    return [
        p for p in pairs
        if p.failed and not any(status[up].failed for up in nearest.get(p.a, ()))
    ]


def first_divergence(graph: Graph, pairs: tuple[PairResult, ...]) -> PairResult | None:
    """The earliest divergence root in topological order, if any pair failed."""
    roots = divergence_roots(graph, pairs)
    return roots[0] if roots else None
