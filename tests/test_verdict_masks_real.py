"""A real BERT whose attention mask is added as ``(1 - mask) * -1e4``, as older BERT code
(and many converters) build it: correct exports pass, judged on the open scores; a bug in
the attention scores is found at its layer.

The corpus BERT (a small config, random weights) with eager attention, which takes the 4-D
additive mask as it is (``realmodels.torch_models.bert_additive_mask``); A is the
``torch.export`` program, B its two ONNX exports.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="parity[torch] not installed")
pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")
pytest.importorskip("transformers", reason="transformers not installed")

from click.testing import CliRunner  # noqa: E402
from realmodels import feeds, torch_forms, torch_models  # noqa: E402

import parity  # noqa: E402
from parity.cli import cli  # noqa: E402

BUGGY_LAYER = 1
pytestmark = pytest.mark.slow


def _scaled_scores(model: torch.nn.Module) -> None:
    """The bug: one layer's attention scores scaled by 1.05 too much (a head size taken
    from the wrong dimension)."""
    model.model.encoder.layer[BUGGY_LAYER].attention.self.scaling *= 1.05


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("legacy-mask-bert")
    example = feeds.tokens(16, torch_models.VOCAB["small"])
    model = torch_models.bert_additive_mask("small")
    paths: dict[str, Any] = {"inputs": folder / "inputs.npz"}
    np.savez(paths["inputs"], **example)
    torch_forms.exported(copy.deepcopy(model), example, folder / "model.pt2")
    paths["pt2"] = str(folder / "model.pt2")
    for form in ("onnx_legacy", "onnx_dynamo"):
        target = folder / f"{form}.onnx"
        torch_forms.onnx(copy.deepcopy(model), example, target, dynamo=form == "onnx_dynamo")
        paths[form] = str(target)
    broken = copy.deepcopy(model)
    _scaled_scores(broken)
    torch_forms.onnx(broken, example, folder / "bug.onnx", dynamo=True)
    paths["bug"] = str(folder / "bug.onnx")
    paths["example"] = example
    return paths


def _pair(report: parity.Report, suffix: str, layer: int) -> Any:
    return next(p for p in report.pairs
                if p.a.endswith(suffix) and f"layer.{layer}." in p.a)


@pytest.mark.parametrize("form", ["onnx_legacy", "onnx_dynamo"])
def test_a_correct_export_passes_judged_on_the_open_scores(exported, form):
    report = parity.compare(exported["pt2"], exported[form], inputs=exported["example"])
    assert report.ok, report.first_divergence
    for layer in (0, 1):
        scores, masked = (_pair(report, s, layer) for s in ("attention.self/mul",
                                                            "attention.self/add"))
        padded = 4 * 2 * 16  # 4 padded keys, 2 heads, 16 queries
        assert masked.metrics.masked == padded
        # the scale and the error are the open scores', as at the pair before the mask
        assert masked.metrics.scale == pytest.approx(scores.metrics.scale, rel=0.5)
        assert masked.verdict.error == pytest.approx(scores.verdict.error, rel=0.5)
        assert 0.5 < masked.verdict.amplification < 2
    assert max(p.verdict.ratio for p in report.pairs if p.verdict.ratio is not None) < 0.5


def test_a_bug_in_the_attention_scores_is_found_at_its_layer(exported):
    report = parity.compare(exported["pt2"], exported["bug"], inputs=exported["example"])
    assert not report.ok
    first = report.first_divergence
    assert first.a == f"model.encoder.layer.{BUGGY_LAYER}.attention.self/mul"
    assert first.verdict.ratio > 100
    masked = _pair(report, "attention.self/add", BUGGY_LAYER)
    assert masked.metrics.masked == 4 * 2 * 16 and masked.verdict.error > 1e-3


def test_the_cli_exits_0_on_the_correct_export_and_1_on_the_bug(exported):
    inputs = str(exported["inputs"])
    for path, code in ((exported["onnx_dynamo"], 0), (exported["bug"], 1)):
        result = CliRunner().invoke(cli, ["compare", exported["pt2"], path, "--inputs", inputs])
        assert result.exit_code == code, result.output
