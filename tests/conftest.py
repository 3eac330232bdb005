"""Shared paths and helpers for the test suite."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

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


def fixture_module(name: str) -> ModuleType:
    """A module of fixtures/ imported by path (fixtures/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"fixture_{name}", FIXTURES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def trained_smallcnn() -> Any:
    """fixtures/smallcnn.py's model with the fixture weights, in eval mode."""
    import torch

    model = fixture_module("smallcnn").build()
    model.load_state_dict(torch.load(FIXTURES / "smallcnn_state.pt", weights_only=True))
    return model.eval()


@pytest.fixture(scope="session")
def real_corpus(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The shared real-model corpus (small size), exported once per session; see
    ``tests/realmodels/__init__.py``."""
    pytest.importorskip("torch", reason="parity[torch] not installed")
    import realmodels

    return realmodels.Corpus(tmp_path_factory.mktemp("realmodels"))
