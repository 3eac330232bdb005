"""One pair of the sweep, run where the engine puts it (a pool process or a Ray task).

Everything returned is plain data (picklable, JSON-ready): the outcome's numbers and the
pair's JSON report, which the driver writes as the pair's saved run.
"""

from __future__ import annotations

import math
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .spec import PairSpec

OK, LOW_COVERAGE, DIVERGED, ERROR = "ok", "low_coverage", "diverged", "error"


@dataclass(frozen=True)
class PairOutcome:
    """What one pair's comparison found; ``report`` is its JSON report (None on error)."""

    id: str
    status: str
    pairs: int = 0
    coverage: float = 0.0
    first_a: str | None = None
    first_op: str | None = None
    first_max_abs: float | None = None
    worst_max_abs: float | None = None
    hint: str | None = None
    error: str | None = None
    seconds: float = 0.0
    report: dict[str, Any] | None = None

    def to_dict(self, *, timings: bool = True) -> dict[str, Any]:
        data = asdict(self)
        del data["report"]
        if not timings:
            del data["seconds"]
        return data


def run_pair(spec: PairSpec, save_tensors: str | None = None) -> PairOutcome:
    """Compare ``spec.a`` with ``spec.b`` once; any failure becomes an ``error`` outcome.

    ``save_tensors``: a folder to save this pair's tensors in (``--save-tensors``).
    """
    from ..api import compare
    from ..errors import ParityError

    started = time.perf_counter()
    try:
        report = compare(spec.a, spec.b, **compare_arguments(spec), save_tensors=save_tensors)
    except ParityError as exc:
        return PairOutcome(spec.id, ERROR, error=str(exc),
                           seconds=time.perf_counter() - started)
    except Exception as exc:  # a converter's model may crash its framework: report, go on
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return PairOutcome(spec.id, ERROR, error=f"{type(exc).__name__}: {exc} "
                           f"({where.filename}:{where.lineno})",
                           seconds=time.perf_counter() - started)
    return _outcome(spec, report, time.perf_counter() - started)


def compare_arguments(spec: PairSpec) -> dict[str, Any]:
    """Keyword arguments of :func:`parity.compare` for ``spec``."""
    from ..align.mapping_file import read_mapping

    arguments: dict[str, Any] = {"seed": spec.seed, "input_shape": spec.input_shape,
                                 "image": spec.image, "inputs": spec.arrays, **spec.settings}
    if spec.mapping:
        arguments["mapping"] = read_mapping(Path(spec.mapping))
    return arguments


def _outcome(spec: PairSpec, report: Any, seconds: float) -> PairOutcome:
    first = report.first_divergence
    errors = [p.metrics.max_abs for p in report.pairs if p.metrics is not None]
    worst = max(errors, key=lambda e: math.inf if math.isnan(e) else e) if errors else None
    status = OK if report.ok else DIVERGED if first is not None else LOW_COVERAGE
    return PairOutcome(
        spec.id, status,
        pairs=len(report.pairs),
        coverage=round(min(report.coverage), 4),
        first_a=first.a if first else None,
        first_op=first.op if first else None,
        first_max_abs=_number(first.metrics.max_abs) if first and first.metrics else None,
        worst_max_abs=_number(worst),
        hint=report.hints[0].code if report.hints else None,
        seconds=seconds,
        report=report.to_dict(),
    )


def _number(value: float | None) -> float | None:
    """JSON-safe: NaN and infinities become None (the status says what happened)."""
    return value if value is not None and math.isfinite(value) else None
