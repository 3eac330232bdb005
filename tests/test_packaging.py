"""The wheel ships backends/ as parity.backends and no top-level 'backends' package."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT


@pytest.mark.slow
def test_wheel_contents(tmp_path):
    pytest.importorskip("setuptools", reason="building the wheel needs setuptools")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    wheel = next(tmp_path.glob("parity-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "parity/backends/onnxrt.py" in names
    assert "parity/backends/pytorch.py" in names
    assert "parity/cli.py" in names
    assert not any(n.startswith("backends/") for n in names)
    for init in (ROOT / "parity").rglob("__init__.py"):
        assert init.relative_to(ROOT).as_posix() in names, f"{init.parent} missing from the wheel"
    for init in (ROOT / "backends").rglob("__init__.py"):
        assert "parity/" + init.relative_to(ROOT).as_posix() in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "parity = parity.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_top_level_backends_import_is_refused():
    result = subprocess.run([sys.executable, "-c", "import backends"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "import the adapters as parity.backends" in result.stderr
