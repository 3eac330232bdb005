"""The per-pair value columns every table shows (terminal, markdown), in one place.

A renderer adds ``#``, the node names and the status around these. A new metric column is
one entry here; ``drop_rank`` says how early a narrow terminal drops it. Renderers take
them from :func:`pair_columns`, which titles the error column after the statistic judged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from parity.report import PairResult, Report


@dataclass(frozen=True)
class Column:
    """A titled cell per pair; ``numeric`` columns are right-aligned."""

    title: str
    cell: Callable[[PairResult], str]
    numeric: bool = False
    drop_rank: int = 0  # narrow terminals drop the highest rank first; 0: never dropped


def _metric(name: str, spec: str) -> Callable[[PairResult], str]:
    def cell(pair: PairResult) -> str:
        return "-" if pair.metrics is None else format(getattr(pair.metrics, name), spec)

    return cell


def _verdict(name: str, spec: str, suffix: str = "") -> Callable[[PairResult], str]:
    def cell(pair: PairResult) -> str:
        value = None if pair.verdict is None else getattr(pair.verdict, name)
        return "-" if value is None else format(value, spec) + suffix

    return cell


ERROR_TITLE = "err/scale"
PAIR_COLUMNS: tuple[Column, ...] = (
    Column("op", lambda pair: pair.op, drop_rank=3),
    Column("shape", lambda pair: pair.dims(), drop_rank=4),
    Column("max-abs", _metric("max_abs", ".3g"), numeric=True),
    Column("mean-abs", _metric("mean_abs", ".3g"), numeric=True, drop_rank=5),
    Column("cosine", _metric("cosine", ".6f"), numeric=True, drop_rank=1),
    # error relative to scale, its ratio to the noise bound (numerics rule), and the
    # amplification of the error the pair's inputs carried
    Column(ERROR_TITLE, _verdict("error", ".2g"), numeric=True, drop_rank=6),
    Column("/noise", _verdict("ratio", ".2g"), numeric=True),
    Column("amp", _verdict("amplification", ".2g", "x"), numeric=True, drop_rank=7),
)


def pair_columns(report: Report) -> tuple[Column, ...]:
    """The columns of ``report``'s table: the error column is ``median/scale``,
    ``q0.99/scale``... under ``--error-stat`` (and then never dropped), ``err/scale``
    (the RMS) otherwise."""
    label = report.error_stat.label()
    if label == "err":
        return PAIR_COLUMNS
    return tuple(replace(c, title=f"{label}/scale", drop_rank=0) if c.title == ERROR_TITLE
                 else c for c in PAIR_COLUMNS)
