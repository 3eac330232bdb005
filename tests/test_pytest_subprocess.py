"""A failing assert_parity inside a real pytest run (a subprocess) prints the compact message."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import FIXTURES

pytest.importorskip("torch", reason="parity[torch] not installed")
pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")


def test_failing_assert_parity_in_a_pytest_subprocess(tmp_path):
    test_file = tmp_path / "test_conversion.py"
    test_file.write_text(
        "import parity\n\n"
        "def test_export():\n"
        f"    parity.assert_parity({str(FIXTURES / 'smallcnn_bad_eps.onnx')!r},\n"
        f"                         {str(FIXTURES / 'smallcnn.pt')!r}, seed=0)\n"
    )
    reports = tmp_path / "reports"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(test_file), "-q", "-p", "no:cacheprovider",
         "--parity-report", str(reports)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    section = out[out.index("___ test_export ___"):].splitlines()
    message = next(i for i, line in enumerate(section) if "models diverge at pair #16" in line)
    assert message < 20, "\n".join(section[:30])
    assert re.match(r"E +parity.errors.ParityAssertionError: models diverge", section[message])
    assert "parity/" not in "\n".join(line for line in section if line.endswith("Error")
                                      or ".py:" in line), out  # no frame of parity's source
    assert not any(line.lstrip().startswith(("def assert_ok", "def assert_parity"))
                   for line in section)
    assert ("models diverge at pair #16 of 25: /layer2/layer2.0/bn2/BatchNormalization "
            "<-> layer2.0.bn2") in out
    assert "hint [bn_eps_mismatch]" in out
    assert "/layer2/layer2.0/relu_1/Relu" in out  # a row after the divergence...
    assert "/layer1/layer1.0/conv1/Conv" not in out  # ...but not the whole table
    written = sorted(p.name for p in reports.iterdir())
    assert written == [f"test_conversion.py_test_export.{s}" for s in ("html", "json", "md")]
