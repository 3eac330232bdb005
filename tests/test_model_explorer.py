"""--model-explorer DIR: node data that Model Explorer's own schema and ONNX adapter accept."""

from __future__ import annotations

import json

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
