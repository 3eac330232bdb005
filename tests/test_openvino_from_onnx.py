"""ONNX -> OpenVINO (``openvino.convert_model`` of the exported ONNX file, a common
deployment path): a correct conversion exits 0 against the ONNX file it came from.

OpenVINO computes a text model's attention mask once and every layer reads it (its
common-subexpression pass), so on the ONNX side the later layers' mask ``Where`` is
unpaired and the nearest compared ancestor of their score ``Add`` is the boolean mask
``And``. A boolean or integer pair is no input of a float layer's noise
(``Backend.discrete``, ``verdict/judge._Carried.exact``); counted, its 0/1 values shrank
BERT's layer-1 bound 24x (a false divergence, ratio 6.5)."""

from pathlib import Path

import pytest

ov = pytest.importorskip("openvino", reason="parity[openvino] not installed")
pytest.importorskip("transformers", reason="the test extra (transformers) is not installed")

import parity  # noqa: E402


def _from_onnx(source: str) -> Path:
    target = Path(source).with_name("from_onnx.xml")
    if not target.exists():
        ov.save_model(ov.convert_model(source), str(target))
    return target


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama"])
def test_a_text_model_in_openvino_matches_its_onnx(real_corpus, name):
    source = real_corpus.export(name, "onnx_legacy")
    report = parity.compare(source, _from_onnx(source), inputs=real_corpus.inputs(name))
    assert report.ok, report.first_divergence
    assert min(report.coverage) >= 0.95, report.coverage
    scores = [p for p in report.pairs if p.a.endswith("attention/self/Add")
              or p.a.endswith("attn/Add") or p.a.endswith("self_attn/Add_2")]
    assert scores and all(p.verdict.ratio < 1.0 for p in scores), [
        (p.a, p.verdict.ratio) for p in scores]
