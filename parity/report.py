"""The result of a comparison, and its JSON contract (see docs/json-report.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .graph import dims_text
from .metrics import Metrics, Tolerance
from .verdict import Criteria, ErrorStat, Override, Verdict

OK, FAIL, SHAPE_MISMATCH = "ok", "fail", "shape_mismatch"
# Version of the JSON contract (docs/json-report.md): 2 added the verdict of each pair
# (rule, error vs scale, noise bound, amplification) and several inputs.
JSON_VERSION = 2
# Below this fraction of either side's nodes compared, a comparison is not "ok".
DEFAULT_MIN_COVERAGE = 0.5


@dataclass(frozen=True)
class Side:
    """One model of the comparison and what it was fed."""

    path: str
    backend: str
    inputs: str = ""


@dataclass(frozen=True)
class PairResult:
    """One aligned pair of nodes and how far apart their values are."""

    a: str
    b: str
    op: str
    how: str
    shape_a: tuple[int, ...]
    shape_b: tuple[int, ...]
    status: str
    metrics: Metrics | None = None
    channel_max_abs: tuple[float, ...] | None = None
    verdict: Verdict | None = None
    worst_input: str | None = None

    @property
    def failed(self) -> bool:
        return self.status != OK

    @property
    def is_input(self) -> bool:
        """The models' (effective) inputs, not a node of the graph."""
        return self.how.split("+")[0] == "input"

    def dims(self, sep: str = "x") -> str:
        """``1x16x8x8``, or ``A / B`` when the two sides' shapes differ."""
        text = dims_text(self.shape_a, sep)
        if self.shape_b != self.shape_a:
            text += f" / {dims_text(self.shape_b, sep)}"
        return text

    def to_dict(self) -> dict[str, Any]:
        m = self.metrics
        return {
            "a": self.a,
            "b": self.b,
            "op": self.op,
            "how": self.how,
            "shape_a": list(self.shape_a),
            "shape_b": list(self.shape_b),
            "max_abs": _finite_or_none(m.max_abs) if m else None,
            "mean_abs": _finite_or_none(m.mean_abs) if m else None,
            "max_rel": _finite_or_none(m.max_rel) if m else None,
            "cosine": _finite_or_none(m.cosine) if m else None,
            "nan": [m.nan_a, m.nan_b] if m else None,
            "inf": [m.inf_a, m.inf_b] if m else None,
            "nonfinite_mismatch": m.unmatched if m else None,
            "masked": m.masked if m else None,
            "status": self.status,
            **_verdict_dict(self.verdict),
            "worst_input": self.worst_input,
            "channel_max_abs": None if self.channel_max_abs is None else [
                _finite_or_none(v) for v in self.channel_max_abs],
        }


def _verdict_dict(v: Verdict | None) -> dict[str, Any]:
    """The judgement of a pair; all null for a shape mismatch."""
    if v is None:
        return dict.fromkeys(("rule", "error", "bound", "ratio", "amplification"))
    return {"rule": v.rule, "error": _finite_or_none(v.error),
            "bound": None if v.bound is None else _finite_or_none(v.bound),
            "ratio": None if v.ratio is None else _finite_or_none(v.ratio),
            "amplification": None if v.amplification is None
            else _finite_or_none(v.amplification)}


@dataclass(frozen=True)
class Hint:
    """A likely cause of a divergence, with the evidence for it."""

    code: str
    node: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    """Everything one comparison found, in A's topological order."""

    a: Side
    b: Side
    tolerance: Tolerance | None
    pairs: tuple[PairResult, ...]
    unmatched_a: tuple[str, ...]
    unmatched_b: tuple[str, ...]
    first_divergence: PairResult | None
    hints: tuple[Hint, ...] = ()
    skipped_a: tuple[str, ...] = ()
    skipped_b: tuple[str, ...] = ()
    min_coverage: float = DEFAULT_MIN_COVERAGE
    # parity, Python, OS and framework versions of the run (see parity.environment)
    environment: dict[str, str] = field(default_factory=dict)
    overrides: tuple[Override, ...] = ()
    samples: tuple[str, ...] = ()
    error_stat: ErrorStat = ErrorStat()

    @property
    def criteria(self) -> Criteria:
        """The global tolerance (None: the numerics rule), the per-node overrides and the
        error statistic judged."""
        return Criteria(self.tolerance, self.overrides, self.error_stat)

    @property
    def ok(self) -> bool:
        """True only when enough was compared and every pair is within tolerance."""
        return (bool(self.pairs) and not any(p.failed for p in self.pairs)
                and not self.low_coverage)

    @property
    def compared_nodes(self) -> int:
        """How many node pairs were compared, the inputs aside."""
        return sum(not p.is_input for p in self.pairs)

    @property
    def coverage(self) -> tuple[float, float]:
        """Fraction of each side's comparable nodes that were compared (skipped ones aside)."""
        return (_fraction(self.compared_nodes, len(self.unmatched_a)),
                _fraction(self.compared_nodes, len(self.unmatched_b)))

    @property
    def low_coverage(self) -> bool:
        """Too few nodes were paired for "ok" to mean anything."""
        return min(self.coverage) < self.min_coverage

    def pair_status(self, node_a: str) -> str | None:
        """Status of the pair whose A node is ``node_a``; None when it was not compared."""
        return next((p.status for p in self.pairs if p.a == node_a), None)

    def assert_ok(self) -> None:
        """Raise :class:`~parity.errors.ParityAssertionError` (an ``AssertionError``) showing
        the first divergence and its context; the exception's ``.report`` is this report."""
        __tracebackhide__ = True
        if not self.ok:
            from .errors import ParityAssertionError
            from .render.failure import render_failure

            raise ParityAssertionError(render_failure(self), self)

    def _repr_html_(self) -> str:
        """Jupyter: the HTML report's header, plot and table in the cell."""
        from .render.html import render_fragment

        return render_fragment(self)

    def _repr_markdown_(self) -> str:
        """Jupyter (and tools that render markdown): the markdown report."""
        from .render.markdown import render_markdown

        return render_markdown(self)

    def __repr__(self) -> str:
        """Short, for pytest's assertion messages: the full report is the renderers' job."""
        first = self.first_divergence
        where = f", first divergence at {first.a!r}" if first is not None else ""
        return (f"Report(ok={self.ok}, {len(self.pairs)} pairs, "
                f"{sum(p.failed for p in self.pairs)} failed{where})")

    def to_dict(self) -> dict[str, Any]:
        first = self.first_divergence
        return {
            "ok": self.ok,
            "a": {"path": self.a.path, "backend": self.a.backend, "inputs": self.a.inputs},
            "b": {"path": self.b.path, "backend": self.b.backend, "inputs": self.b.inputs},
            "version": JSON_VERSION,
            "tolerance": criteria_dict(self.criteria),
            "samples": list(self.samples),
            "pairs": [p.to_dict() for p in self.pairs],
            "unmatched_a": list(self.unmatched_a),
            "unmatched_b": list(self.unmatched_b),
            "coverage": {"a": self.coverage[0], "b": self.coverage[1],
                         "min": self.min_coverage},
            "skipped_a": list(self.skipped_a),
            "skipped_b": list(self.skipped_b),
            "first_divergence": None if first is None else {
                "a": first.a,
                "b": first.b,
                "op": first.op,
                "status": first.status,
                "max_abs": _finite_or_none(first.metrics.max_abs) if first.metrics else None,
                **_verdict_dict(first.verdict),
                "worst_input": first.worst_input,
            },
            "hints": [
                {"code": h.code, "node": h.node, "message": h.message, "evidence": h.evidence}
                for h in self.hints
            ],
            "environment": dict(self.environment),
        }


def criteria_dict(criteria: Criteria) -> dict[str, Any]:
    """``tolerance`` of the JSON report: the rule, the global atol/rtol, the overrides."""
    tol = criteria.tolerance
    return {"rule": "numerics" if tol is None else "allclose",
            "atol": None if tol is None else tol.atol,
            "rtol": None if tol is None else tol.rtol,
            "overrides": [{"pattern": o.pattern, "atol": o.atol, "rtol": o.rtol}
                          for o in criteria.overrides],
            **criteria.error_stat.to_dict()}


def criteria_from_dict(data: dict[str, Any]) -> Criteria:
    """The inverse of :func:`criteria_dict` (version 1 reports held only atol/rtol; the
    error statistic is absent from reports made before ``--error-stat``)."""
    if data.get("rule", "allclose") == "numerics":
        tol = None
    else:
        tol = Tolerance(float(data["atol"]), float(data["rtol"]))
    overrides = tuple(Override(o["pattern"], o.get("atol"), o.get("rtol"))
                      for o in data.get("overrides", ()))
    stat = ErrorStat.from_options(data.get("error_stat"), data.get("error_quantile"))
    return Criteria(tol, overrides, stat)


def verdict_from_dict(data: dict[str, Any]) -> Verdict | None:
    """A pair's verdict from its JSON keys, None when it has none."""
    if data.get("rule") is None:
        return None
    inf = float("inf")
    error = data.get("error")
    return Verdict(data["rule"], data["status"] == OK, inf if error is None else error,
                   data.get("bound"), data.get("amplification"))


def _fraction(compared: int, unmatched: int) -> float:
    total = compared + unmatched
    return compared / total if total else 1.0


def _finite_or_none(value: float) -> float | None:
    """JSON has no NaN or infinity: such values become null."""
    return value if value == value and abs(value) != float("inf") else None
