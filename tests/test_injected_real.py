"""Injected conversion bugs on the real-model corpus: each one is the first divergence.

Every bug of ``realmodels.bugs.BUGS`` (flatten and concat order in ViT's embeddings; BN
eps, one conv's weights x1.05, pool ceil mode, channel order, a lost ReLU6 clip and a dense
layer's concat order in the repository's MXNet->Caffe conversion of gluon ResNet-18,
MobileNetV2 and DenseNet-121) is compared at
default settings against the correct form of the same model: exit 1, ``first_divergence``
exactly the injected layer, with an error far over its noise bound (or a shape mismatch
where the bug changes the shape), and no pair before it failed.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("torch", reason="parity[torch] not installed")
pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")
pytest.importorskip("transformers", reason="the test extra (transformers) is not installed")

from realmodels import MODELS  # noqa: E402
from realmodels.bugs import BUGS  # noqa: E402

import parity  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("bug_id", list(BUGS))
def test_an_injected_bug_is_the_first_divergence(bug_id: str, real_corpus: Any) -> None:
    bug = BUGS[bug_id]
    if MODELS[bug.model].framework == "mxnet":
        pytest.importorskip("parity.backends.mxnet_symbol", reason="parity[mxnet] not installed")
        pytest.importorskip("cv2", reason="parity[caffe] (OpenCV) not installed")
    report = parity.compare(real_corpus.export(bug.model, bug.reference),
                            real_corpus.export_bug(bug_id),
                            inputs=real_corpus.inputs(bug.model, pixels=bug.pixels))
    first = report.first_divergence
    assert not report.ok and first is not None, f"{bug_id}: no divergence found"
    assert first.a == bug.layer, f"{bug_id}: first divergence {first.a} ~ {first.b}"
    if bug.shape:
        assert first.status == "shape_mismatch", first
    else:
        assert first.verdict.ratio > 100, first.verdict
    before = report.pairs[:report.pairs.index(first)]
    assert not any(pair.failed for pair in before)
    noise = [p.verdict.ratio for p in before if p.verdict and p.verdict.ratio is not None]
    assert max(noise, default=0.0) < 0.5
