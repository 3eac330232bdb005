"""Injected conversion bugs on the real-model corpus: each one is the first divergence.

Every bug of ``realmodels.bugs.BUGS`` is compared at default settings against the correct
form of the same model. torch -> ONNX: flatten and concat order in ViT's embeddings,
ResNet's BN eps and max-pool ceil mode, a MobileNetV2 depthwise conv x1.05 and its first
ReLU6 exported as ReLU, EfficientNet's input channels reversed. MXNet -> Caffe (the
repository's converter on gluon ResNet-18, MobileNetV2, DenseNet-121): BN eps, a conv x1.05,
pool ceil mode, channel order, ReLU6 lost, a dense layer's concat order. Each must exit 1
with ``first_divergence`` exactly the injected layer (see ``realmodels.bugs``), its error
far over its noise bound (or a shape mismatch where the bug changes the shape), and no
pair before it failed.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("torch", reason="parity[torch] not installed")
pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")
pytest.importorskip("transformers", reason="the test extra (transformers) is not installed")

from realmodels import MODELS  # noqa: E402
from realmodels.bugs import BUGS, replay_at_first_divergence  # noqa: E402
from realmodels.summary import SummaryTable  # noqa: E402

import parity  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def bug_table(tmp_path_factory: pytest.TempPathFactory,
              pytestconfig: pytest.Config) -> SummaryTable:
    return SummaryTable.register(
        pytestconfig, tmp_path_factory.getbasetemp(), "injected-bugs",
        "parity injected bugs on the real-model corpus",
        ["bug", "A", "B", "injected layer", "first divergence", "ratio / amplification",
         "largest noise ratio before", "replay", "exit"])


def _row(table: SummaryTable, bug_id: str, report: parity.Report) -> None:
    bug, first = BUGS[bug_id], report.first_divergence
    before = report.pairs[:report.pairs.index(first)] if first else report.pairs
    noise = max((p.verdict.ratio for p in before if p.verdict and p.verdict.ratio is not None),
                default=0.0)
    found = f"{first.a} ~ {first.b}" if first else "-"
    amplification = first.verdict.amplification if first and first.verdict else None
    size = (f"{first.verdict.ratio:.3g} / "
            + ("-" if amplification is None else f"{amplification:.3g}")
            if first and first.verdict and first.verdict.ratio is not None
            else (first.status if first else "-"))
    table.add(bug_id, bug.reference, bug.form, bug.layer, found, size, f"{noise:.2f}",
              replay_at_first_divergence(report), 0 if report.ok else 1)


# The cause named at the injected layer.
CAUSES = {
    "resnet-bn-eps": "bn_eps_mismatch", "resnet-pool-ceil": "pool_ceil_mode",
    "mobilenet_v2-clip-lost": "activation_changed",
    "mobilenet_v2-depthwise-weights": "weights_differ",
    "efficientnet-channel-order": "channel_order",
    "vit-flatten-order": "flatten_order", "vit-concat-order": "concat_order",
    "mx_resnet18-bn-eps": "bn_eps_mismatch", "mx_resnet18-conv-weights": "weights_differ",
    "mx_resnet18-pool-ceil": "pool_ceil_mode", "mx_resnet18-channel-order": "channel_order",
    "mx_mobilenet_v2-bn-eps": "bn_eps_mismatch",
    "mx_mobilenet_v2-depthwise-weights": "weights_differ",
    "mx_mobilenet_v2-channel-order": "channel_order",
    "mx_mobilenet_v2-clip-lost": "activation_changed",
    "mx_densenet121-concat-order": "concat_order",
}


@pytest.mark.parametrize("bug_id", list(BUGS))
def test_an_injected_bug_is_the_first_divergence(bug_id: str, real_corpus: Any,
                                                 bug_table: SummaryTable) -> None:
    bug = BUGS[bug_id]
    if MODELS[bug.model].framework == "mxnet":
        pytest.importorskip("parity.backends.mxnet_symbol", reason="parity[mxnet] not installed")
        pytest.importorskip("cv2", reason="parity[caffe] (OpenCV) not installed")
    report = parity.compare(real_corpus.export(bug.model, bug.reference),
                            real_corpus.export_bug(bug_id),
                            inputs=real_corpus.inputs(bug.model, pixels=bug.pixels))
    _row(bug_table, bug_id, report)
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
    if bug_id in CAUSES:
        assert [h.code for h in report.hints if h.node == first.a] == [CAUSES[bug_id]], (
            report.hints)
    replay = replay_at_first_divergence(report)
    assert replay in ("own_math", "-"), f"{bug_id}: the replay at the injected layer says {replay}"
