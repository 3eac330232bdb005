"""The seed's Keras -> MXNet (MMdnn-style) conversion, checked layer by layer."""

from __future__ import annotations

import pytest

from conftest import FIXTURES

pytest.importorskip("parity.backends.keras_model", reason="parity[keras] not installed")
pytest.importorskip("parity.backends.mxnet_symbol", reason="parity[mxnet] not installed")
pytest.importorskip("cv2", reason="--image needs parity[caffe] (OpenCV)")

import parity  # noqa: E402

KERAS = FIXTURES / "keras"
FACE = FIXTURES / "face.jpg"


def compare(variant: str) -> parity.Report:
    return parity.compare(KERAS / "resnet_small.h5", KERAS / f"{variant}-symbol.json",
                          image=FACE)


def test_right_conversion_agrees_at_float32_rounding():
    report = compare("resnet_small")
    assert report.ok and report.hints == ()
    assert report.unmatched_a == ()
    assert report.unmatched_b == ()
    assert "conv3_block1_2_conv_pad" in report.skipped_b  # MMdnn's explicit pad: an extra step
    renamed = {(p.a, p.b) for p in report.pairs if p.a != p.b}
    assert {("conv2_block1_add", "broadcast_add0"), ("fc1", "fc1_activation"),
            ("predictions", "softmax"), ("rescaling", "rescaling_add")} <= renamed
    assert all(p.how.endswith("+nhwc") for p in report.pairs if len(p.shape_a) == 4)
    assert report.pairs[-1].metrics.max_abs < 1e-6


def test_lost_batchnorm_eps_is_found_at_the_first_batchnorm():
    report = compare("resnet_small_bad_eps")
    assert report.first_divergence.a == "conv1_bn"
    assert report.hints[0].code == "bn_eps_mismatch" and report.hints[0].node == "conv1_bn"


def test_unpermuted_dense_fails_at_the_dense_after_flatten():
    report = compare("resnet_small_flatten")
    first = report.first_divergence
    assert (first.a, first.b) == ("fc1", "fc1_activation")
    assert report.pair_status("flatten") == "ok"
    assert [(h.code, h.node) for h in report.hints] == [("flatten_order", "fc1")]
