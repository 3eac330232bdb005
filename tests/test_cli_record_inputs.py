"""``parity align`` and ``parity inspect`` on a factory torch.fx cannot trace (transformers'
BERT, recorded by an eager pass): they take compare's input options and show the ops that
pass ran, so align's pairs are the ones compare uses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

pytest.importorskip("torch", reason="parity[torch] not installed")
pytest.importorskip("transformers", reason="transformers is in the test extra")

from parity.cli import cli  # noqa: E402

pytestmark = pytest.mark.slow


def _json(*args: str) -> Any:
    result = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert result.exit_code in (0, 1), result.output[-3000:]
    return json.loads(result.stdout)


def _pairs(data: dict[str, Any]) -> list[tuple[str, str]]:
    return [(pair["a"], pair["b"]) for pair in data["pairs"]]


@pytest.fixture(scope="module")
def bert(real_corpus: Any) -> tuple[str, str, str]:
    """The BERT factory (2 layers, width 32), its dynamo export and its inputs (int64 ids,
    a padded mask) as an .npz."""
    return (real_corpus.export("bert", "factory"), real_corpus.export("bert", "onnx_dynamo"),
            str(real_corpus.inputs_file("bert")))


@pytest.mark.parametrize("source", [["--random"], ["--inputs"], []],
                         ids=["random", "inputs", "default"])
def test_align_shows_the_pairs_compare_uses(bert: tuple[str, str, str],
                                            source: list[str]) -> None:
    factory, onnx, inputs = bert
    args = [factory, onnx, *(source + [inputs] if source == ["--inputs"] else source)]
    compared = _json("compare", *args)
    aligned = _json("align", *args)
    assert compared["ok"], compared["first_divergence"]
    assert _pairs(aligned) == _pairs(compared)
    assert len(aligned["pairs"]) >= 45
    ops = {pair["op_a"] for pair in aligned["pairs"]}
    assert {"aten::linear", "aten::layer_norm", "aten::gelu", "aten::embedding"} <= ops
    assert not aligned["unmatched_a"] and not aligned["unmatched_b"]


def test_inspect_shows_the_recorded_ops(bert: tuple[str, str, str]) -> None:
    factory, _, inputs = bert
    data = _json("inspect", factory, "--inputs", inputs)
    ops = [node["op"] for node in data["nodes"]]
    assert ops.count("aten::linear") == 12  # 2 layers x (q, k, v, out, intermediate, output)
    assert "BertLayer" not in ops  # no module of the tree


def test_inspect_without_a_shape_shows_the_module_tree_and_says_why(
        bert: tuple[str, str, str]) -> None:
    """Alone, the factory declares no shape for a random draw: a note, then the tree."""
    result = CliRunner().invoke(cli, ["inspect", bert[0], "--format", "json"])
    assert result.exit_code == 0, result.output[-3000:]
    assert "shows its module tree, not the ops it runs" in result.stderr
    assert "--input-shape" in result.stderr
    assert "BertLayer" in {node["op"] for node in json.loads(result.stdout)["nodes"]}


def test_align_refuses_two_input_sources(bert: tuple[str, str, str]) -> None:
    factory, onnx, inputs = bert
    result = CliRunner().invoke(cli, ["align", factory, onnx, "--random", "--inputs", inputs])
    assert result.exit_code == 2
    assert "choose one input source, not --inputs and --random" in result.stderr
