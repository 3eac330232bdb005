"""--save-tensors, parity report DIR, and parity run MODEL --node."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import FIXTURES
from parity.cli import cli

pytest.importorskip("torch", reason="parity[torch] not installed")
pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")

BAD = str(FIXTURES / "smallcnn_bad_eps.onnx")
SCRIPT = str(FIXTURES / "smallcnn.pt")


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_saved_run_rerenders_without_running_anything(tmp_path):
    folder = tmp_path / "run"
    live = invoke("compare", BAD, SCRIPT, "--format", "json", "--save-tensors", str(folder))
    assert live.exit_code == 1
    saved = invoke("report", str(folder), "--format", "json")
    assert saved.exit_code == 1
    assert json.loads(saved.output) == json.loads(live.output)
    report = json.loads(live.output)
    tensors_a, tensors_b = np.load(folder / "tensors_a.npz"), np.load(folder / "tensors_b.npz")
    assert len(tensors_a.files) == len(report["pairs"]) == len(tensors_b.files)
    index = next(i for i, p in enumerate(report["pairs"]) if p["b"] == "layer2.0.bn2")
    diff = np.abs(tensors_a[f"p{index:04d}"] - tensors_b[f"p{index:04d}"]).max()
    assert diff == pytest.approx(report["pairs"][index]["max_abs"])
    markdown = invoke("report", str(folder), "--format", "markdown")
    assert "layer2.0.bn2" in markdown.output and "bn_eps_mismatch" in markdown.output


def test_html_report_needs_an_output_file(tmp_path):
    result = CliRunner().invoke(cli, ["compare", BAD, SCRIPT, "--format", "html"])
    assert result.exit_code == 2 and "--format html needs --output" in result.output
    out = tmp_path / "r.html"
    assert invoke("compare", BAD, SCRIPT, "--format", "html", "--output", str(out)).exit_code == 1
    assert "<svg" in out.read_text()


def test_report_of_a_missing_folder_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "no saved report here" in result.output


def test_run_to_a_node_prints_stats_and_saves(tmp_path):
    out = tmp_path / "bn.npy"
    result = invoke("run", SCRIPT, "--node", "layer2.0.bn2", "--input-shape", "1,3,32,32",
                    "--save", str(out))
    assert result.exit_code == 0
    assert "layer2.0.bn2: shape 1x16x16x16 float32" in result.output
    assert "NaN 0  Inf 0" in result.output
    assert np.load(out).shape == (1, 16, 16, 16)
    unknown = CliRunner().invoke(cli, ["run", SCRIPT, "--node", "layer2.0.bn9",
                                       "--input-shape", "1,3,32,32"])
    assert unknown.exit_code == 2 and "closest: layer2.0.bn" in unknown.output
