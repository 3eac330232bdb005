"""The diff engine: run both models once, compare aligned pairs, find the first divergence."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping

import numpy as np

from .align import Alignment, Match
from .backend import Backend
from .diagnose import Evidence, diagnose
from .graph import Graph
from .layout import same_layout
from .metrics import Tolerance, channel_max_abs, compare_arrays, squeeze_to_common
from .pairing import paired
from .quantized import QuantizationBound
from .report import DEFAULT_MIN_COVERAGE, FAIL, OK, SHAPE_MISMATCH, PairResult, Report, Side

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
    on_pair: Callable[[str, np.ndarray, np.ndarray], None] | None = None,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
) -> Report:
    """Compare every aligned pair from one forward pass of each model.

    Pairs are compared as they arrive (see :mod:`parity.pairing`) and their tensors let go,
    except those diagnosis needs: input pairs, divergence roots and the pairs right
    upstream of a root (kept while a pair downstream of them may still become a root).
    ``on_pair(a_name, value_a, value_b)`` sees every compared pair (``--save-tensors``).
    """
    matches = alignment.pairs
    stream_a = a.stream(feeds_a, [m.a for m in matches])
    stream_b = b.stream(feeds_b, [m.b for m in matches])
    retention = _Retention(a.graph, matches)
    quantization = QuantizationBound.needed(a, b, [m.a for m in matches])
    results: dict[str, PairResult] = {}
    for m, va, vb in paired(stream_a, stream_b, matches):
        va, vb, note = same_layout(a.graph, b.graph, m.a, m.b, va, vb)
        result = diff_pair(m.a, m.b, a.graph.op_of(m.a), m.how + note, va, vb, tolerance)
        if quantization is not None:
            result = quantization.judge(result, va, vb)
        results[m.a] = result
        retention.add(result, va, vb, results)
        if on_pair is not None:
            on_pair(m.a, va, vb)
    pairs = tuple(results[m.a] for m in matches)
    roots = divergence_roots(a.graph, pairs)
    evidence = Evidence(a, b, alignment, pairs, tuple(roots), tolerance,
                        retention.kept_a, retention.kept_b)
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
        min_coverage=min_coverage,
    )


class _Retention:
    """Which compared tensors stay alive: the ones diagnosis may still need."""

    def __init__(self, graph: Graph, matches: tuple[Match, ...]) -> None:
        self.nearest = graph.nearest({m.a for m in matches})
        self.waiting = Counter(up for m in matches for up in self.nearest.get(m.a, ()))
        self.live: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}
        self.kept_a: dict[str, np.ndarray] = {}
        self.kept_b: dict[str, np.ndarray] = {}
        self.roots = 0

    def add(self, result: PairResult, va: np.ndarray, vb: np.ndarray,
            results: dict[str, PairResult]) -> None:
        """Account for one compared pair; drop upstream tensors nobody can need any more."""
        upstream = self.nearest.get(result.a, ())
        is_root = result.failed and all(u in results and not results[u].failed for u in upstream)
        if result.is_input or (is_root and self.roots < _DIAGNOSED_ROOTS):
            self._keep(result.a, result.b, va, vb)
            if is_root:
                self.roots += 1
                for up in upstream:
                    if up in self.live:
                        self._keep(up, *self.live[up])
        if self.waiting[result.a]:
            self.live[result.a] = (result.b, va, vb)
        for up in upstream:
            self.waiting[up] -= 1
            if self.waiting[up] <= 0:
                self.live.pop(up, None)

    def _keep(self, a: str, b: str, va: np.ndarray, vb: np.ndarray) -> None:
        self.kept_a[a], self.kept_b[b] = va, vb


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
