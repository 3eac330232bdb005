"""pytest collects ``*.sweep.toml`` files: one test per pair, ``model/exporter/input``.

``pytest tests/regression.sweep.toml`` (or any folder holding one) runs every pair of the
sweep in the test process; a pair fails with the first divergence, as
``parity.assert_parity`` shows it. Registered as the ``parity_sweep`` plugin.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SUFFIX = ".sweep.toml"


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name.endswith(SUFFIX):
        return SweepFile.from_parent(parent, path=file_path)
    return None


class SweepFile(pytest.File):
    """A sweep file; its pairs are the tests."""

    def collect(self) -> Iterator[pytest.Item]:
        from .spec import read_sweep

        for spec in read_sweep(self.path).pairs:
            yield SweepPair.from_parent(self, name=spec.id, spec=spec)


class SweepPair(pytest.Item):
    """One pair of a sweep file, compared in this process."""

    def __init__(self, *, spec: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec

    def runtest(self) -> None:
        from ..api import assert_parity
        from .pair import compare_arguments

        assert_parity(self.spec.a, self.spec.b, **compare_arguments(self.spec))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str | Any:
        from ..errors import ParityError

        if isinstance(excinfo.value, (AssertionError, ParityError)):
            return f"{self.spec.id}: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"sweep pair {self.spec.id}"
