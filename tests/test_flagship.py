"""The seed's story: MobileFaceNet converted MXNet -> Caffe, BatchNorm eps lost on the way."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import FIXTURES
from parity.cli import cli

pytest.importorskip("cv2", reason="parity[caffe] (OpenCV) not installed")
pytest.importorskip("parity.backends.mxnet_symbol", reason="parity[mxnet] not installed")

MOBILEFACENET = FIXTURES / "mobilefacenet"
SYMBOL = str(MOBILEFACENET / "model-symbol.json")
FACE = str(FIXTURES / "face.jpg")


def run_flagship(prototxt: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, ["compare", SYMBOL, str(MOBILEFACENET / prototxt),
                                      "--image", FACE, "--format", "json"],
                                catch_exceptions=False)
    return result.exit_code, json.loads(result.output)


def test_buggy_conversion_diverges_at_the_first_batchnorm():
    code, report = run_flagship("model.prototxt")
    assert code == 1
    first = report["first_divergence"]
    # MXNet's BatchNorm is compared with Caffe's Scale: BatchNorm + Scale is one BN.
    assert (first["a"], first["b"]) == ("conv_1_batchnorm", "conv_1_batchnorm_scale")
    assert first["max_abs"] > 1e-2
    pairs = {p["a"]: p for p in report["pairs"]}
    assert pairs["conv_1_conv2d"]["status"] == "ok"
    assert "conv_1_batchnorm" in report["skipped_b"]


def test_in_graph_normalisation_is_matched_to_the_caffe_input_blob():
    _, report = run_flagship("model.prototxt")
    first_pair = report["pairs"][0]
    assert (first_pair["a"], first_pair["b"], first_pair["how"]) == ("_mulscalar0", "data",
                                                                      "input")
    assert first_pair["status"] == "ok"
    assert "mean 127.5, scale 0.0078125" in report["b"]["inputs"]
    assert report["skipped_a"] == ["_minusscalar0"]


def test_fixed_conversion_agrees_to_float32_rounding():
    code, report = run_flagship("model_fixed.prototxt")
    assert code == 0, [p for p in report["pairs"] if p["status"] != "ok"]
    assert report["unmatched_a"] == report["unmatched_b"] == []
    embedding = report["pairs"][-1]
    assert (embedding["a"], embedding["b"]) == ("fc1", "fc1_scale")
    assert embedding["max_abs"] <= 1e-5


def test_forgotten_normalisation_on_the_caffe_side_shows_at_the_input():
    fixed = str(MOBILEFACENET / "model_fixed.prototxt")
    result = CliRunner().invoke(cli, ["compare", SYMBOL, fixed, "--image", FACE,
                                      "--b-mean", "0", "--b-scale", "1"])
    assert result.exit_code == 1
    assert "first divergence: _mulscalar0 <-> data (_mul_scalar)" in result.output
