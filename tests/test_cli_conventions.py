"""Conventions users bring from pytest, ruff and pip: [tool.parity] defaults, PARITY_*
environment variables, shell completion; and small report details (labels, shapes)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import FIXTURES, ROOT
from parity.cli import cli

BAD = str(FIXTURES / "smallcnn_bad_eps.onnx")
TORCH = str(FIXTURES / "smallcnn.pt")
needs_frameworks = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("torch", "onnxruntime")),
    reason="parity[torch] and parity[onnx] not installed")


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None):
    """``parity`` in ``cwd`` (where the nearest pyproject.toml is looked for)."""
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=cwd):
        return runner.invoke(cli, args, env=env or {}), Path.cwd()


@needs_frameworks
def test_pyproject_tool_parity_sets_defaults_and_flags_win(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.parity]\natol = 0.1\nrtol = 0.1\n\n[tool.parity.compare]\nquiet = true\n')
    result, _ = run(["compare", BAD, TORCH], tmp_path)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("parity: ok: 25 pairs within tolerance")
    result, _ = run(["compare", BAD, TORCH, "--atol", "1e-5", "--rtol", "1e-5"], tmp_path)
    assert result.exit_code == 1 and "parity: diverge at pair #16" in result.output


@needs_frameworks
def test_environment_variables_override_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.parity]\natol = 0.1\nrtol = 0.1\n")
    env = {"PARITY_COMPARE_ATOL": "1e-5", "PARITY_COMPARE_RTOL": "1e-5",
           "PARITY_COMPARE_QUIET": "1"}
    result, _ = run(["compare", BAD, TORCH], tmp_path, env)
    assert result.exit_code == 1
    assert result.output.splitlines()[0].startswith("parity: diverge at pair #16 of 25")


@pytest.mark.parametrize(("toml", "message"), [
    ("[tool.parity]\natoll = 1\n", "[tool.parity] atoll: not an option of any command"),
    ("[tool.parity.compare]\nnode = 'x'\n", "[tool.parity.compare] node: not an option"),
    ("[tool.parity.comapre]\natol = 1\n", "[tool.parity.comapre]: no such command"),
    ("[tool.parity\n", "cannot read [tool.parity]"),
])
def test_bad_pyproject_is_one_line_naming_the_file(tmp_path, toml, message):
    (tmp_path / "pyproject.toml").write_text(toml)
    result, _ = run(["backends"], tmp_path)
    assert result.exit_code == 2
    assert result.output.startswith(f"parity: error: {tmp_path / 'pyproject.toml'}: {message}")
    assert "Traceback" not in result.output


def test_shell_completion_script():
    env = {"_PARITY_COMPLETE": "bash_source"}
    out = subprocess.run([sys.executable, "-c", "from parity.cli import main; main()"],
                         env={**os.environ, **env}, capture_output=True,
                         text=True, timeout=60, cwd=ROOT).stdout
    assert "_parity_completion" in out and "complete " in out


def test_image_without_opencv_names_the_image_extra(monkeypatch, tmp_path):
    from parity.errors import BackendUnavailable
    from parity.preprocess import read_image

    monkeypatch.setitem(sys.modules, "cv2", None)  # as if OpenCV were not installed
    with pytest.raises(BackendUnavailable, match=r"pip install 'parity\[image\]'"):
        read_image(tmp_path / "face.jpg")


@needs_frameworks
def test_inspect_says_when_a_model_records_no_input_shape():
    result = CliRunner().invoke(cli, ["inspect", TORCH])
    first = result.output.splitlines()[0]
    assert first.startswith("input x: shape not recorded") and "None" not in first


@needs_frameworks
def test_two_factories_of_one_file_read_apart(tmp_path):
    models = tmp_path / "models.py"
    models.write_text("\n".join([
        "import torch", "",
        "def good():", "    torch.manual_seed(0)",
        "    return torch.nn.Sequential(torch.nn.Linear(4, 4)).eval()", "",
        "def bad():", "    m = good()", "    with torch.no_grad():",
        "        m[0].bias += 0.01", "    return m", ""]))
    result = CliRunner().invoke(cli, ["compare", f"{models}:bad", f"{models}:good",
                                      "--input-shape", "1,4"])
    assert f"A: {models}:bad [pytorch]" in result.output
    assert f"B: {models}:good [pytorch]" in result.output


def test_demo_script_is_valid_bash():
    assert subprocess.run(["bash", "-n", str(ROOT / "scripts" / "demo.sh")]).returncode == 0
