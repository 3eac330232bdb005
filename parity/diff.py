"""The diff engine: run both models once per input, judge aligned pairs, find the first
divergence (the first pair that introduces error beyond what its inputs explain)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .align import Alignment, Match
from .backend import Backend
from .diagnose import Evidence, diagnose
from .graph import Graph
from .layout import same_layout
from .metrics import Groups, Tolerance, channel_max_abs, measure, squeeze_to_common
from .pairing import paired
from .report import DEFAULT_MIN_COVERAGE, FAIL, OK, SHAPE_MISMATCH, PairResult, Report, Side
from .verdict import Criteria, Judge
from .verdict.quantization import Quantization
from .verdict.statistic import reduce

_DIAGNOSED_ROOTS = 8  # divergence roots whose tensors are kept for diagnosis
OnPair = Callable[[str, np.ndarray, np.ndarray, int], None]


Feed = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Sample:
    """One input: what each side is fed, and a label naming it in the report; or, with
    ``load``, how to read it when its turn comes (so many inputs are never all in memory)."""

    label: str
    feeds_a: Feed | None = None
    feeds_b: Feed | None = None
    load: Callable[[], tuple[Feed, Feed]] | None = None

    def feeds(self) -> tuple[Feed, Feed]:
        """Both sides' arrays, read now when the sample is lazy."""
        if self.load is not None:
            return self.load()
        assert self.feeds_a is not None and self.feeds_b is not None
        return self.feeds_a, self.feeds_b


@dataclass
class _Run:
    """One sample's judged pairs and the tensors kept for diagnosis."""

    pairs: tuple[PairResult, ...]
    kept_a: dict[str, np.ndarray]
    kept_b: dict[str, np.ndarray]


def diff_models(
    a: Backend,
    b: Backend,
    samples: Sequence[Sample],
    alignment: Alignment,
    criteria: Criteria,
    *,
    inputs_a: str = "",
    inputs_b: str = "",
    on_pair: OnPair | None = None,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
) -> Report:
    """Compare every aligned pair, one forward pass of each model per sample.

    Each pair's verdict is its worst over the samples (the report names that sample when
    there are several); diagnosis looks at the sample worst at the first divergence.
    ``on_pair(a_name, value_a, value_b, sample_index)`` sees every pair of every sample
    (``--save-tensors``). Samples are run one after the other, a lazy one read when its
    turn comes, and only one sample's tensors kept for diagnosis (see
    :class:`_WorstSoFar`), so memory does not grow with the number of samples.
    """
    labels = [s.label for s in samples]
    worst = _WorstSoFar(a.graph, labels)
    for i, sample in enumerate(samples):
        worst.add(i, _run_sample(a, b, *sample.feeds(), alignment, criteria, on_pair, i))
    pairs, first = worst.labelled()
    chosen = worst.chosen
    assert chosen is not None, "diff_models needs at least one sample"
    evidence = Evidence(a, b, alignment, chosen.pairs,
                        tuple(divergence_roots(a.graph, chosen.pairs)),
                        criteria.tolerance or Tolerance(), chosen.kept_a, chosen.kept_b)
    return Report(
        a=Side(a.label, a.name, inputs_a),
        b=Side(b.label, b.name, inputs_b),
        tolerance=criteria.tolerance,
        pairs=pairs,
        unmatched_a=alignment.unmatched_a,
        unmatched_b=alignment.unmatched_b,
        skipped_a=alignment.skipped_a,
        skipped_b=alignment.skipped_b,
        first_divergence=first,
        hints=diagnose(evidence),
        min_coverage=min_coverage,
        overrides=criteria.overrides,
        samples=tuple(labels) if len(labels) > 1 else (),
        error_stat=criteria.error_stat,
    )


def _run_sample(a: Backend, b: Backend, feeds_a: Feed, feeds_b: Feed, alignment: Alignment,
                criteria: Criteria, on_pair: OnPair | None, index: int = 0) -> _Run:
    """One forward pass of each side, every pair judged as soon as both values exist.

    Pairs are compared as they arrive (see :mod:`parity.pairing`) and their tensors let
    go, except those diagnosis needs: input pairs, divergence roots and the pairs right
    upstream of a root (kept while a pair downstream of them may still become a root).
    """
    matches = alignment.pairs
    stream_a = a.stream(feeds_a, [m.a for m in matches])
    stream_b = b.stream(feeds_b, [m.b for m in matches])
    quantization = Quantization.of(a, b)
    judge = Judge(a.graph, b.graph, matches, criteria, quantization,
                  discrete=(a.discrete, b.discrete))
    retention = _Retention(a.graph, matches)
    results: dict[str, PairResult] = {}
    for m, va, vb in paired(stream_a, stream_b, matches):
        va, vb, note = same_layout(a.graph, b.graph, m.a, m.b, va, vb)
        if quantization is not None:
            va, vb, clipped = quantization.at_folded_clip(m.a, m.b, va, vb)
            note += clipped
        result, groups = diff_pair(m, a.graph.op_of(m.a), note, va, vb, judge)
        if groups is not None and retention.is_root(result, results):
            result = replace(result, channel_max_abs=channel_max_abs(groups))
        results[m.a] = result
        retention.add(result, va, vb, results)
        if on_pair is not None:
            on_pair(m.a, va, vb, index)
    return _Run(tuple(results[m.a] for m in matches), retention.kept_a, retention.kept_b)


def diff_pair(match: Match, op: str, note: str, va: np.ndarray, vb: np.ndarray,
              judge: Judge) -> tuple[PairResult, Groups | None]:
    """Metrics and verdict of one pair; shapes that cannot be reconciled fail as such."""
    how = match.how + note
    common = squeeze_to_common(va, vb)
    if common is None:
        return PairResult(match.a, match.b, op, how, va.shape, vb.shape, SHAPE_MISMATCH), None
    metrics, groups = measure(*common, judge.tolerance(match))
    stat = judge.statistic(match)
    reduced = None if stat is None else reduce(stat, judge.criteria.error_stat.quantile,
                                               *common, mask_limit=metrics.mask_limit)
    verdict = judge.judge(match, metrics, groups, common[1].shape, (va.dtype, vb.dtype),
                          reduced)
    status = OK if verdict.passed else FAIL
    return PairResult(match.a, match.b, op, how, va.shape, vb.shape, status, metrics,
                      verdict=verdict), groups


class _WorstSoFar:
    """Each pair's worst result over the samples seen, and the one run diagnosis needs.

    The first divergence is the first failing pair in A's order (its compared inputs,
    earlier, pass). A new sample can only make pairs worse: the first divergence stays
    where it was or moves to a pair that is worst on the new sample. So the run worst at
    the first divergence is always the one kept or the new one, and the others' tensors
    are let go as soon as a sample is merged.
    """

    def __init__(self, graph: Graph, labels: list[str]) -> None:
        self.graph = graph
        self.labels = labels
        self.pairs: tuple[PairResult, ...] = ()
        self.chosen: _Run | None = None
        self._worst: list[int] = []  # per pair, the sample it is worst on
        self._chosen = 0

    def add(self, index: int, run: _Run) -> None:
        """Merge sample ``index``'s results (samples come in order, from 0)."""
        if self.chosen is None:
            self.pairs, self.chosen, self._worst = run.pairs, run, [index] * len(run.pairs)
        else:
            merged = []
            for k, (old, new) in enumerate(zip(self.pairs, run.pairs)):
                if _badness(new) > _badness(old):  # the earlier sample on a tie
                    old, self._worst[k] = new, index
                merged.append(old)
            self.pairs = tuple(merged)
        roots = divergence_roots(self.graph, self.pairs)
        if roots:
            worst = self._worst[[p.a for p in self.pairs].index(roots[0].a)]
            if worst == index and index != self._chosen:
                self.chosen, self._chosen = run, index

    def labelled(self) -> tuple[tuple[PairResult, ...], PairResult | None]:
        """The worst results, each naming its sample when there are several, and the
        first divergence among them."""
        pairs = self.pairs
        if len(self.labels) > 1:
            pairs = tuple(replace(p, worst_input=self.labels[w])
                          for p, w in zip(pairs, self._worst))
        roots = divergence_roots(self.graph, pairs)
        return pairs, roots[0] if roots else None


def _badness(result: PairResult) -> tuple[bool, float]:
    """Order of results from best to worst: failing last, then by error over bound."""
    v = result.verdict
    if v is None:
        return True, float("inf")
    ratio = v.ratio if v.ratio is not None else (result.metrics.max_abs if result.metrics
                                                  else float("inf"))
    return not v.passed, ratio


class _Retention:
    """Which compared tensors stay alive: the ones diagnosis may still need."""

    def __init__(self, graph: Graph, matches: tuple[Match, ...]) -> None:
        self.nearest = graph.nearest({m.a for m in matches})
        self.waiting = Counter(up for m in matches for up in self.nearest.get(m.a, ()))
        self.live: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}
        self.kept_a: dict[str, np.ndarray] = {}
        self.kept_b: dict[str, np.ndarray] = {}
        self.roots = 0

    def is_root(self, result: PairResult, results: dict[str, PairResult]) -> bool:
        """Failing, with every compared pair upstream already judged and passing."""
        upstream = self.nearest.get(result.a, ())
        return result.failed and all(u in results and not results[u].failed for u in upstream)

    def add(self, result: PairResult, va: np.ndarray, vb: np.ndarray,
            results: dict[str, PairResult]) -> None:
        """Account for one compared pair; drop upstream tensors nobody can need any more."""
        upstream = self.nearest.get(result.a, ())
        is_root = self.is_root(result, results)
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


def divergence_roots(graph: Graph, pairs: tuple[PairResult, ...]) -> list[PairResult]:
    """Failing pairs whose nearest compared ancestors in ``graph`` all passed.

    These are where error is introduced rather than carried along: under the numerics
    rule a pair fails only when its error is more than its inputs' error (each counted up
    to its own bound) can explain.
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
