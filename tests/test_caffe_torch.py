"""Caffe (via OpenCV DNN) vs its PyTorch conversion: pooling rounding and concat order."""

from __future__ import annotations

import pytest

from conftest import FIXTURES

pytest.importorskip("cv2", reason="parity[caffe] (OpenCV) not installed")
pytest.importorskip("torch", reason="parity[torch] not installed")

import parity  # noqa: E402
from parity.api import open_model  # noqa: E402

HERE = FIXTURES / "caffe_torch"


def compare(factory: str) -> parity.Report:
    torch_model = open_model(f"{HERE / 'net.py'}:{factory}", HERE / "state.pt")
    return parity.compare(HERE / "deploy.prototxt", torch_model, image=FIXTURES / "face.jpg")


def test_right_conversion_agrees_and_uses_the_declared_normalisation():
    report = compare("build")
    assert report.ok and report.hints == ()
    assert "mean 127.5, scale 0.0078125" in report.a.inputs
    assert "transform_param" in report.a.inputs


def test_floor_pooling_is_caught_at_the_first_pooling():
    report = compare("build_floor")
    first = report.first_divergence
    assert (first.a, first.status) == ("pool1", "shape_mismatch")
    assert first.shape_a == (1, 16, 16, 16) and first.shape_b == (1, 16, 15, 15)
    assert [(h.code, h.node) for h in report.hints] == [("pool_ceil_mode", "pool1")]
    assert "ceil_mode=True" in report.hints[0].message


def test_swapped_concat_diverges_at_the_concat():
    report = compare("build_swapped")
    assert (report.first_divergence.a, report.first_divergence.b) == ("concat", "cat")
