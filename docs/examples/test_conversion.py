"""Parity tests for a model conversion, runnable on the fixtures bundled with parity.

    pytest docs/examples/test_conversion.py --parity-report parity-reports

B is the reference (the model you trust), A the converted model under test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import parity

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
REFERENCE = FIXTURES / "smallcnn.pt"  # the original model (TorchScript)
CONVERTED = FIXTURES / "smallcnn.onnx"  # its ONNX export
BROKEN = FIXTURES / "smallcnn_bad_eps.onnx"  # an export with one BatchNorm eps wrong


def test_export_matches_reference():
    """The Python API alone: raises AssertionError naming the first divergent layer."""
    parity.assert_parity(CONVERTED, REFERENCE, seed=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_export_matches_on_several_inputs(parity_compare, seed):
    """The fixture: reports are counted in the summary and written on failure."""
    parity_compare(CONVERTED, REFERENCE, seed=seed).assert_ok()


@pytest.mark.parity(atol=1e-4, rtol=1e-4)
def test_marker_sets_the_tolerance(parity_compare):
    report = parity_compare(CONVERTED, REFERENCE)
    report.assert_ok()
    assert (report.tolerance.atol, report.tolerance.rtol) == (1e-4, 1e-4)


def test_broken_export_is_caught(parity_compare):
    """A regression test for the checker itself: the wrong eps is found where it is."""
    report = parity_compare(BROKEN, REFERENCE)
    assert not report.ok
    assert report.first_divergence.b == "layer2.0.bn2"
