"""The sweep's one summary: every pair's outcome in the file's order, the worst one named.

Written as ``summary.json`` and ``summary.md`` in the output folder, beside
``pairs/<model>__<exporter>__<input>/report.json`` (each pair's saved run: ``parity report``
re-renders it). Pairs rank error > diverged > low coverage > ok, then by the largest
max-abs error of any compared node.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .pair import DIVERGED, ERROR, LOW_COVERAGE, OK, PairOutcome
from .spec import Sweep

_RANK = {ERROR: 3, DIVERGED: 2, LOW_COVERAGE: 1, OK: 0}
COLUMNS = ("pair", "status", "nodes", "first divergence", "op", "max abs there",
           "worst max abs", "hint")


@dataclass(frozen=True)
class Summary:
    """Outcomes of one sweep run; ``engine`` and ``seconds`` say how it was run."""

    sweep: Sweep
    outcomes: tuple[PairOutcome, ...]
    engine: str
    seconds: float

    @classmethod
    def of(cls, sweep: Sweep, outcomes: Iterable[PairOutcome], engine: str,
           seconds: float) -> Summary:
        by_id = {outcome.id: outcome for outcome in outcomes}
        return cls(sweep, tuple(by_id[p.id] for p in sweep.pairs), engine, seconds)

    @property
    def ok(self) -> bool:
        return all(o.status == OK for o in self.outcomes)

    @property
    def worst(self) -> PairOutcome | None:
        """The pair that went most wrong (the closest to its tolerance when all pass)."""
        return max(self.outcomes, key=_severity, default=None)

    def counts(self) -> dict[str, int]:
        return {status: sum(o.status == status for o in self.outcomes) for status in _RANK}

    def pairs_per_minute(self) -> float:
        return 60 * len(self.outcomes) / self.seconds if self.seconds else 0.0

    def to_dict(self, *, timings: bool = True) -> dict[str, Any]:
        """The JSON summary; ``timings=False`` leaves out what differs from run to run."""
        worst = self.worst
        data: dict[str, Any] = {
            "sweep": str(self.sweep.path),
            "ok": self.ok,
            "counts": self.counts(),
            "worst": worst.id if worst else None,
            "pairs": [o.to_dict(timings=timings) for o in self.outcomes],
        }
        if timings:
            data.update(engine=self.engine, seconds=round(self.seconds, 3),
                        pairs_per_minute=round(self.pairs_per_minute(), 2))
        return data

    def rows(self) -> list[tuple[str, ...]]:
        """One row of COLUMNS per pair."""
        return [(o.id, o.status, str(o.pairs), o.first_a or "-", o.first_op or "-",
                 _number(o.first_max_abs), _number(o.worst_max_abs),
                 o.hint or (o.error or "")) for o in self.outcomes]

    def headline(self) -> str:
        counts = ", ".join(f"{n} {status}" for status, n in self.counts().items() if n)
        worst = self.worst
        line = (f"{len(self.outcomes)} pairs: {counts}; {self.seconds:.1f} s on {self.engine} "
                f"({self.pairs_per_minute():.1f} pairs/min)")
        return f"{line}; worst pair: {worst.id} ({worst.status})" if worst else line


def render_markdown(summary: Summary) -> str:
    lines = [f"### parity sweep: {'ok' if summary.ok else 'divergence found'}", "",
             summary.headline(), "", "| " + " | ".join(COLUMNS) + " |",
             "|" + " --- |" * len(COLUMNS)]
    for row in summary.rows():
        cells = [cell.replace("|", "\\|") for cell in row]
        lines.append("| " + " | ".join(f"`{c}`" if i in (0, 3) and c != "-" else c
                                       for i, c in enumerate(cells)) + " |")
    return "\n".join(lines) + "\n"


def render_json(summary: Summary) -> str:
    return json.dumps(summary.to_dict(), indent=2)


def renderable(summary: Summary) -> Any:
    """A rich table for the terminal, the worst pair marked."""
    from rich.table import Table

    table = Table(title=summary.headline(), title_justify="left", show_edge=False,
                  header_style="bold")
    for column in COLUMNS:
        table.add_column(column)
    worst = summary.worst
    for outcome, row in zip(summary.outcomes, summary.rows()):
        style = "bold red" if outcome is worst and outcome.status != OK else None
        table.add_row(*row, style=style)
    return table


def write(summary: Summary, folder: Path) -> None:
    """``summary.json``, ``summary.md`` and each pair's ``pairs/<slug>/report.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    for pair, outcome in zip(summary.sweep.pairs, summary.outcomes):
        saved = folder / "pairs" / pair.slug
        saved.mkdir(parents=True, exist_ok=True)
        if outcome.report is not None:
            (saved / "report.json").write_text(json.dumps(outcome.report, indent=2),
                                               encoding="utf-8")
        else:
            (saved / "error.txt").write_text(f"{outcome.error}\n", encoding="utf-8")
    (folder / "summary.json").write_text(render_json(summary), encoding="utf-8")
    (folder / "summary.md").write_text(render_markdown(summary), encoding="utf-8")


def _severity(outcome: PairOutcome) -> tuple[int, float]:
    error = outcome.worst_max_abs
    if error is None:
        error = math.inf if outcome.status == DIVERGED else 0.0
    return _RANK[outcome.status], error


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
