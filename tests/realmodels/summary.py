"""A markdown table a corpus test file fills as its cases run: printed in pytest's terminal
summary and written to ``<pytest basetemp>/<name>.md``."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class SummaryTable:
    """Register with :meth:`register` (a session fixture), :meth:`add` one row per case."""

    def __init__(self, title: str, columns: list[str], path: Path) -> None:
        self.title = title
        self.columns = columns
        self.path = path
        self.rows: list[list[str]] = []

    @classmethod
    def register(cls, config: Any, basetemp: Path, name: str, title: str,
                 columns: list[str]) -> SummaryTable:
        table = cls(title, columns, basetemp / f"{name}.md")
        config.pluginmanager.register(table, f"parity-{name}-table")
        return table

    def add(self, *cells: Any) -> None:
        self.rows.append([str(cell) for cell in cells])

    def text(self) -> str:
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines) + "\n"

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.rows:
            return
        self.path.write_text(self.text(), encoding="utf-8")
        terminalreporter.section(self.title)
        for line in self.text().splitlines():
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"(written to {self.path})")
