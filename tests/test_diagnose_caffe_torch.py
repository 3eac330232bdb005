"""Caffe -> PyTorch on a real architecture: the gluon model zoo's ResNet-18 converted to
Caffe by the repo's MXNet -> Caffe converter (tests/realmodels), then to PyTorch by loading
the caffemodel's blobs into transformers' ResNet-18 (the same architecture, v1 blocks). The
correct conversion is quiet; each converter mistake is named at its layer."""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import exact_hint

torch = pytest.importorskip("torch", reason="parity[torch] not installed")
transformers = pytest.importorskip("transformers", reason="transformers not installed")
pytest.importorskip("cv2", reason="parity[caffe] (OpenCV) not installed")
pytest.importorskip("parity.backends.mxnet_symbol", reason="parity[mxnet] not installed")

from realmodels.caffe_torch import from_caffe  # noqa: E402
from torch import nn  # noqa: E402

import parity  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ATOL = 1e-4


class Route:
    """The Caffe model, its inputs and the torch conversion, built once; each converter
    mistake traced to TorchScript and compared against the Caffe model."""

    def __init__(self, corpus: Any, folder: Path) -> None:
        self.folder = folder
        self.prototxt = corpus.export("mx_resnet18", "caffe")
        self.inputs = corpus.inputs("mx_resnet18")["data"]
        self.caffe = parity.open_model(self.prototxt)
        self.torch = from_caffe(self.caffe)

    def compare(self, bug: str, change: Callable[[nn.Module], None]) -> parity.Report:
        model = copy.deepcopy(self.torch)
        with torch.no_grad():
            change(model)
        path = self.folder / f"resnet18-{bug}.pt"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.jit.save(torch.jit.trace(model, torch.from_numpy(self.inputs)), str(path))
        return parity.compare(self.caffe, path, inputs=self.inputs, atol=ATOL)


@pytest.fixture(scope="session")
def route(real_corpus, tmp_path_factory) -> Route:
    return Route(real_corpus, tmp_path_factory.mktemp("caffe_torch"))


def _first(report: parity.Report) -> str:
    assert report.first_divergence is not None, "no divergence found"
    return report.first_divergence.a


def test_correct_conversion_is_quiet(route):
    report = route.compare("correct", lambda model: None)
    assert report.ok and not report.hints, (report.first_divergence, report.hints)


def _norm(model: nn.Module, index: int) -> nn.BatchNorm2d:
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)][index]


def test_batchnorm_eps_written_as_keras_default(route):
    report = route.compare("eps", lambda model: setattr(_norm(model, 3), "eps", 1e-3))
    hint = exact_hint(report, "bn_eps_mismatch")
    assert hint.node == _first(report) == "resnetv10_stage1_batchnorm2_fwd_scale"
    assert "A (caffe) uses 1e-05, B (pytorch) uses 0.001" in hint.message
    assert "set `batch_norm_param { eps: 0.001 }` on layer `resnetv10_stage1_batchnorm2_fwd`" \
        in hint.message


def test_pooling_rounding_lost_in_the_conversion(route):
    report = route.compare("ceil", lambda model: setattr(
        next(m for m in model.modules() if isinstance(m, nn.MaxPool2d)), "ceil_mode", True))
    hint = exact_hint(report, "pool_ceil_mode")
    assert hint.node == _first(report) == "resnetv10_pool0_fwd"
    assert "B rounds the pooled size up" in hint.message
