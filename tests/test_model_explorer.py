"""--model-explorer DIR: node data that Model Explorer's own schema and ONNX adapter accept."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from conftest import FIXTURES
from parity.cli import cli

ndb = pytest.importorskip("model_explorer.node_data_builder",
                          reason="the test extra (ai-edge-model-explorer) is not installed")
dacite = pytest.importorskip("dacite", reason="ai-edge-model-explorer's dacite not installed")
pytest.importorskip("torch", reason="parity[torch] not installed")
pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")

BAD = str(FIXTURES / "smallcnn_bad_eps.onnx")
FIRST = "/layer2/layer2.0/bn2/BatchNormalization"


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("me")
    result = CliRunner().invoke(cli, ["compare", BAD, str(FIXTURES / "smallcnn.pt"), "-q",
                                      "--model-explorer", str(folder)])
    assert result.exit_code == 1, result.output
    assert f"Model Explorer node data written to {folder}" in result.output
    return folder


def load(path):
    """The file through Model Explorer's own dataclasses, strictly (no unknown keys)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    graph = dacite.from_dict(ndb.GraphNodeData, data, config=dacite.Config(strict=True))
    assert json.loads(graph.to_json_string())["results"] == data["results"]  # nothing lost
    return graph


def test_one_file_per_side_in_model_explorers_schema(written):
    assert sorted(p.name for p in written.iterdir()) == [
        "A-smallcnn_bad_eps.onnx.json", "B-smallcnn.pt.json"]
    a = load(written / "A-smallcnn_bad_eps.onnx.json")
    b = load(written / "B-smallcnn.pt.json")
    assert len(a.results) == len(b.results) == 25
    assert "layer2.0.bn2" in b.results and FIRST in a.results


def test_nodes_coloured_by_error_and_the_first_divergence_stands_out(written):
    results = load(written / "A-smallcnn_bad_eps.onnx.json").results
    first = results[FIRST]
    assert first.value == pytest.approx(0.0837, abs=1e-4)
    assert (first.bgColor, first.textColor) == ("#d50000", "#ffffff")
    assert sum(r.bgColor == "#d50000" for r in results.values()) == 1
    assert results["/conv1/Conv"].bgColor == "#c8e6c9"  # within tolerance
    downstream = results["/layer2/layer2.0/Add"]
    assert downstream.bgColor not in ("#c8e6c9", "#d50000") and downstream.value > 0.01


def test_node_ids_are_the_onnx_adapters(written):
    """Every key names a node of the graph Model Explorer's ONNX adapter builds."""
    adapter = pytest.importorskip("model_explorer_onnx.main",
                                  reason="the test extra (model-explorer-onnx) is not installed")
    graphs = adapter.ONNXAdapter().convert(BAD, {})["graphs"]
    ids = {node.id for graph in graphs for node in graph.nodes}
    keys = set(load(written / "A-smallcnn_bad_eps.onnx.json").results)
    assert keys <= ids, keys - ids


def _ramp(past):
    """The failing colour ``past`` times over the limit (one step a decade, six decades)."""
    from parity.render.model_explorer import FAIL_COLORS, _mix

    return _mix(*FAIL_COLORS, math.log10(max(past, 1.0)) / 6)


def test_failing_nodes_are_coloured_by_their_own_noise_bound():
    """Under the numerics rule the ramp is error over each pair's bound, not max-abs: two
    pairs with the same max-abs but different bounds get different colours."""
    import parity
    from parity.render.model_explorer import node_data

    report = parity.compare(BAD, FIXTURES / "smallcnn.pt")
    results = node_data(report, "a")["results"]
    after = [p for p in report.pairs if p.failed and p is not report.first_divergence]
    assert len(after) >= 5
    for pair in after:
        assert results[pair.a]["bgColor"] == _ramp(pair.verdict.ratio), pair.a
    add, relu = (next(p for p in after if p.a == n)
                 for n in ("/layer2/layer2.0/Add", "/layer2/layer2.0/relu_1/Relu"))
    assert add.metrics.max_abs == pytest.approx(relu.metrics.max_abs)
    assert add.verdict.ratio > 1.5 * relu.verdict.ratio
    assert results[add.a]["bgColor"] != results[relu.a]["bgColor"]


def test_under_an_explicit_tolerance_the_ramp_is_max_abs_over_atol():
    import parity
    from parity.render.model_explorer import node_data

    report = parity.compare(BAD, FIXTURES / "smallcnn.pt", atol=["1e-3", "/fc*=1e-4"])
    results = node_data(report, "a")["results"]
    failing = [p for p in report.pairs if p.failed and p is not report.first_divergence]
    assert "/fc/Gemm" in {p.a for p in failing}
    for pair in failing:
        atol = 1e-4 if pair.a == "/fc/Gemm" else 1e-3  # each pair's own tolerance
        assert results[pair.a]["bgColor"] == _ramp(pair.metrics.max_abs / atol), pair.a
