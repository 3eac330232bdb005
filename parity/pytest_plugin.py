"""pytest plugin: the ``parity_compare`` fixture, the ``parity`` marker, reports of failures.

* ``parity_compare(a, b, **kwargs)`` is :func:`parity.compare` with the defaults of the
  test's ``@pytest.mark.parity(atol=..., rtol=..., seed=..., error_stat=...)``; it records
  every report.
* ``--parity-report DIR`` writes JSON, markdown and HTML for every diverging comparison
  made through the fixture, or whose ``Report.assert_ok()`` (``parity.assert_parity``)
  failed a test, as ``DIR/<sanitised test id>.{json,md,html}``.
* A failure raised by parity shows its message after the test's own frames, without
  parity's (``__tracebackhide__`` where they are known, a filter for the rest).
* A terminal summary counts comparisons and divergences.

Importing this module loads no framework (backends load when a test opens a model), and
the renderers only when a report is written.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import parity
from parity.api import compare
from parity.error_stat_names import CHOICES
from parity.errors import ParityAssertionError, ParityError
from parity.report import Report

MARKER_KEYS = ("atol", "rtol", "seed", "error_stat", "error_quantile")


@dataclass
class ParitySession:
    """Reports made during the run, by test id, and where failing ones are written."""

    report_dir: Path | None
    reports: dict[str, list[Report]] = field(default_factory=dict)
    stems: dict[str, str] = field(default_factory=dict)  # file name stem -> test id

    def record(self, nodeid: str, report: Report) -> None:
        """Remember ``report`` for test ``nodeid`` (once, however often it is seen)."""
        reports = self.reports.setdefault(nodeid, [])
        if not any(r is report for r in reports):
            reports.append(report)

    def counts(self) -> tuple[int, int]:
        """Comparisons recorded and how many of them diverged."""
        everything = [r for reports in self.reports.values() for r in reports]
        return len(everything), sum(not r.ok for r in everything)

    def write_failures(self, nodeid: str) -> None:
        """JSON, markdown and HTML of each diverging report of ``nodeid``, named after it."""
        failing = [r for r in self.reports.get(nodeid, ()) if not r.ok]
        if self.report_dir is None or not failing:
            return
        self.report_dir.mkdir(parents=True, exist_ok=True)
        name = self._stem(nodeid)
        for number, report in enumerate(failing, 1):
            write_report(report, self.report_dir / (name if number == 1 else f"{name}-{number}"))

    def _stem(self, nodeid: str) -> str:
        """A file-system-safe name for ``nodeid``, unique within this run."""
        name = sanitise(nodeid)
        if self.stems.setdefault(name, nodeid) != nodeid:
            name = _hashed(name, nodeid)
            self.stems[name] = nodeid
        return name


SESSION_KEY = pytest.StashKey[ParitySession]()


def sanitise(nodeid: str) -> str:
    """``tests/test_x.py::test_y[a/b]`` -> ``tests_test_x.py_test_y_a_b`` (at most 120 chars)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid).strip("._") or "test"
    return _hashed(name, nodeid) if len(name) > 120 else name


def _hashed(name: str, nodeid: str) -> str:
    """``name`` cut to 100 characters, made unique by a hash of ``nodeid``."""
    return f"{name[:100]}-{hashlib.sha1(nodeid.encode()).hexdigest()[:10]}"


def write_report(report: Report, stem: Path) -> None:
    """``stem.json``, ``stem.md`` and ``stem.html`` (``stem`` may contain dots)."""
    from parity.render.html import render_html  # rich: only when writing
    from parity.render.json import render_json
    from parity.render.markdown import render_markdown

    for suffix, render in ((".json", render_json), (".md", render_markdown),
                           (".html", render_html)):
        stem.with_name(stem.name + suffix).write_text(render(report), encoding="utf-8")


# ---------------------------------------------------------------- hooks

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("parity", "layer-by-layer numerical parity (parity)")
    group.addoption(
        "--parity-report", metavar="DIR", default=None,
        help="Write JSON, markdown and HTML reports of every diverging comparison to "
             "DIR/<test id>/.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "parity(atol=None, rtol=None, seed=None, error_stat=None, error_quantile=None): "
                   "defaults for the parity_compare fixture in this test",
    )
    directory = config.getoption("parity_report")
    report_dir = None if directory is None else config.invocation_params.dir / directory
    config.stash[SESSION_KEY] = ParitySession(report_dir)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Reject malformed ``parity`` markers before any test runs."""
    for item in items:
        marker_defaults(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Record the report a failing ``assert_ok`` raised with; show parity's failures without
    parity's frames; write failures after teardown."""
    test_report = yield
    session = item.config.stash[SESSION_KEY]
    report = None if call.excinfo is None else raising_report(call.excinfo)
    if report is not None:
        session.record(item.nodeid, report)
    if call.excinfo is not None and test_report.failed and _from_parity(call.excinfo):
        call.excinfo.traceback = call.excinfo.traceback.filter(_outside_parity)
        test_report.longrepr = item.repr_failure(call.excinfo)
    if call.when == "teardown":
        session.write_failures(item.nodeid)
    return test_report


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = config.stash[SESSION_KEY]
    total, diverged = session.counts()
    if not total:
        return
    line = f"parity: {_plural(total, 'comparison')}, {diverged} diverged"
    if session.report_dir is not None and diverged:
        line += f"; reports written to {session.report_dir}"
    terminalreporter.section("parity", sep="-", bold=False)
    terminalreporter.write_line(line, red=bool(diverged), green=not diverged)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def raising_report(excinfo: pytest.ExceptionInfo[BaseException]) -> Report | None:
    """The report a failing ``assert_ok`` (``parity.assert_parity``) raised with, if any."""
    error = excinfo.value
    return error.report if isinstance(error, ParityAssertionError) else None


_PARITY_DIR = Path(parity.__file__).resolve().parent


def _from_parity(excinfo: pytest.ExceptionInfo[BaseException]) -> bool:
    return isinstance(excinfo.value, (ParityAssertionError, ParityError))


def _outside_parity(entry: Any) -> bool:
    """A traceback entry of the user's code, not of parity's own modules."""
    path = Path(str(entry.path)).resolve()
    return _PARITY_DIR not in path.parents


# ---------------------------------------------------------------- marker and fixture

def marker_defaults(item: pytest.Item) -> dict[str, Any]:
    """Keyword arguments of the ``parity`` markers on ``item``, the closest winning."""
    defaults: dict[str, Any] = {}
    for mark in reversed(list(item.iter_markers("parity"))):
        if mark.args:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.parity takes keyword "
                                    f"arguments only ({', '.join(MARKER_KEYS)})")
        for key, value in mark.kwargs.items():
            defaults[key] = _checked(item.nodeid, key, value)
    return defaults


def _checked(nodeid: str, key: str, value: Any) -> Any:
    where = f"{nodeid}: @pytest.mark.parity"
    if key not in MARKER_KEYS:
        raise pytest.UsageError(f"{where}: unknown argument {key!r} "
                                f"(allowed: {', '.join(MARKER_KEYS)})")
    if key == "error_stat":
        if value not in CHOICES:
            raise pytest.UsageError(f"{where}: error_stat must be one of {', '.join(CHOICES)}, "
                                    f"got {value!r}")
        return value
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if key == "error_quantile" and not (number and 0 < value < 1):
        raise pytest.UsageError(f"{where}: error_quantile must be between 0 and 1, "
                                f"got {value!r}")
    if key == "seed" and not (number and isinstance(value, int) and value >= 0):
        raise pytest.UsageError(f"{where}: seed must be a non-negative int, got {value!r}")
    if key != "seed" and not (number and math.isfinite(value) and value >= 0):
        raise pytest.UsageError(f"{where}: {key} must be a non-negative number, got {value!r}")
    return value


@pytest.fixture
def parity_compare(request: pytest.FixtureRequest) -> Callable[..., Report]:
    """:func:`parity.compare` with this test's ``parity`` marker defaults; records reports."""
    defaults = marker_defaults(request.node)
    session = request.config.stash[SESSION_KEY]

    @functools.wraps(compare)
    def run(a: Any, b: Any, **kwargs: Any) -> Report:
        report = compare(a, b, **{**defaults, **kwargs})
        session.record(request.node.nodeid, report)
        return report

    return run
