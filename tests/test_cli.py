"""The command line through click's CliRunner, and start-up import hygiene."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import FIXTURES
from parity.cli import cli

ONNX = str(FIXTURES / "smallcnn.onnx")
BAD = str(FIXTURES / "smallcnn_bad_eps.onnx")
SCRIPT = str(FIXTURES / "smallcnn.pt")
needs_frameworks = pytest.mark.usefixtures("frameworks")


@pytest.fixture
def frameworks():
    pytest.importorskip("torch", reason="parity[torch] not installed")
    pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@needs_frameworks
def test_compare_ok_exits_zero_and_shows_table():
    result = invoke("compare", ONNX, SCRIPT, "--random", "--seed", "0")
    assert result.exit_code == 0, result.output
    assert "every aligned pair is within tolerance" in result.output
    assert "layer1.0.conv1" in result.output


@needs_frameworks
def test_compare_divergence_exits_one_and_names_the_layer():
    result = invoke("compare", BAD, SCRIPT, "--random", "--seed", "0")
    assert result.exit_code == 1
    assert "first divergence: /layer2/layer2.0/bn2/BatchNormalization <-> layer2.0.bn2" in (
        result.output)
    assert "max-abs" in result.output


@needs_frameworks
def test_json_report_contract(tmp_path):
    out = tmp_path / "report.json"
    result = invoke("compare", BAD, SCRIPT, "--format", "json", "--output", str(out))
    assert result.exit_code == 1
    report = json.loads(out.read_text())
    assert set(report) >= {"ok", "a", "b", "tolerance", "pairs", "unmatched_a", "unmatched_b",
                           "first_divergence", "hints"}
    assert report["ok"] is False
    assert report["a"] == {"path": BAD, "backend": "onnxrt",
                           "inputs": "random normal, seed 0: input (1, 3, 32, 32) float32"}
    assert report["version"] == 2
    assert report["tolerance"] == {"rule": "numerics", "atol": None, "rtol": None,
                                   "overrides": [], "error_stat": None,
                                   "error_quantile": None}
    pair = report["pairs"][0]
    assert set(pair) >= {"a", "b", "op", "shape_a", "shape_b", "max_abs", "mean_abs", "max_rel",
                         "cosine", "status", "rule", "error", "bound", "ratio", "amplification",
                         "worst_input"}
    assert {p["rule"] for p in report["pairs"]} == {"numerics"}
    assert {p["status"] for p in report["pairs"]} <= {"ok", "fail", "shape_mismatch"}
    assert report["first_divergence"]["b"] == "layer2.0.bn2"
    assert report["first_divergence"]["max_abs"] > 1e-3
    assert report["first_divergence"]["ratio"] > 1
    assert [(h["code"], h["node"]) for h in report["hints"]] == [
        ("bn_eps_mismatch", "/layer2/layer2.0/bn2/BatchNormalization")]
    assert set(report["hints"][0]) == {"code", "node", "message", "evidence"}


@needs_frameworks
def test_markdown_report_is_a_github_table():
    result = invoke("compare", BAD, SCRIPT, "--format", "markdown")
    lines = result.output.splitlines()
    assert lines[0] == ("### parity: models diverge at `/layer2/layer2.0/bn2/BatchNormalization` "
                        "(BatchNormalization)")
    header = next(i for i, line in enumerate(lines) if line.startswith("| # |"))
    assert lines[header + 1].startswith("|---:|")
    assert any("← first divergence" in line and "layer2.0.bn2" in line for line in lines)


@needs_frameworks
def test_input_file_is_fed_to_both(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.ones((1, 3, 32, 32), np.float32))
    result = invoke("compare", ONNX, SCRIPT, "--input", str(path), "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.output)["b"]["inputs"].startswith(str(path))


@needs_frameworks
def test_wrong_input_shape_is_a_one_line_error(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.ones((1, 3, 8, 8), np.float32))
    result = CliRunner().invoke(cli, ["compare", ONNX, SCRIPT, "--input", str(path)])
    assert result.exit_code == 2
    assert f"{path}: array for input 'input' has shape (1, 3, 8, 8), but {ONNX} wants " \
           "(1, 3, 32, 32)" in result.output
    assert "Traceback" not in result.output


@needs_frameworks
def test_inspect_lists_nodes():
    result = invoke("inspect", ONNX)
    assert result.exit_code == 0
    assert "/layer2/layer2.0/bn2/BatchNormalization" in result.output
    data = json.loads(invoke("inspect", SCRIPT, "--format", "json").output)
    assert data["backend"] == "pytorch"
    assert any(n["name"] == "layer1.0/add" for n in data["nodes"])


@pytest.mark.parametrize(("args", "message"), [
    (["compare", "missing.onnx", ONNX], "missing.onnx: file not found"),
    (["compare", ONNX, ONNX, "--random", "--input", "x.npy"], "choose one input source"),
    (["compare", ONNX, ONNX, "--input-shape", "1,a"], "--input-shape"),
])
def test_usage_errors_exit_two_with_one_line(args, message):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_mislabelled_file_is_caught(tmp_path):
    fake = tmp_path / "model.onnx"
    fake.write_text("layer { name: 'x' }")
    result = CliRunner().invoke(cli, ["inspect", str(fake)])
    assert result.exit_code == 2
    assert "model.onnx: named .onnx but is not an ONNX protobuf" in result.output


def test_debug_flag_shows_traceback():
    result = CliRunner().invoke(cli, ["--debug", "compare", "missing.onnx", ONNX])
    assert result.exit_code == 2
    assert "Traceback" in result.output


def test_help_and_import_load_no_framework():
    code = (
        "import sys\n"
        "from parity.cli import cli\n"
        "import parity\n"
        "try:\n"
        "    cli(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = {'torch', 'onnxruntime', 'onnx', 'mxnet', 'cv2'} & set(sys.modules)\n"
        "print('HEAVY', sorted(heavy))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout
    assert "HEAVY []" in output


@needs_frameworks
def test_mapping_file_overrides_alignment_and_bad_names_are_one_line(tmp_path):
    good = tmp_path / "map.toml"
    good.write_text('"layer1.0.conv1" = "/layer1/layer1.0/conv2/Conv"\n')
    result = invoke("align", SCRIPT, ONNX, "--map", str(good), "--format", "json")
    pairs = {p["a"]: (p["b"], p["how"]) for p in json.loads(result.output)["pairs"]}
    assert pairs["layer1.0.conv1"] == ("/layer1/layer1.0/conv2/Conv", "manual")
    bad = tmp_path / "bad.toml"
    bad.write_text('"layer1.0.cnv1" = "/layer1/layer1.0/conv1/Conv"\n')
    result = CliRunner().invoke(cli, ["compare", SCRIPT, ONNX, "--map", str(bad)])
    assert result.exit_code == 2
    assert "no node named 'layer1.0.cnv1'; closest: layer1.0.conv1" in result.output
    assert len(result.output.strip().splitlines()) == 1
