"""Shared paths and helpers for the test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from parity.report import Hint, Report

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


def only_hint(report: Report, code: str) -> Hint:
    """The first hint of the report; every hint must carry ``code``."""
    assert report.hints and {h.code for h in report.hints} == {code}, report.hints
    return report.hints[0]


def exact_hint(report: Report, code: str) -> Hint:
    """The one hint of the report, which must carry ``code``."""
    assert [h.code for h in report.hints] == [code], report.hints
    return report.hints[0]
