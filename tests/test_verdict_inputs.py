"""Several inputs are read one at a time: memory stays bounded, a bad file late in the list
still fails with one line naming it (exit 2) before the first run, reports are unchanged.

The fixture SmallCNN (ONNX) against its copy with one BatchNorm eps changed, fed a folder
of .npz inputs.
"""

from __future__ import annotations

import json
import weakref
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")

from click.testing import CliRunner  # noqa: E402

import parity  # noqa: E402
import parity.api  # noqa: E402
from parity.cli import cli  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ONNX = str(FIXTURES / "smallcnn.onnx")
BAD = str(FIXTURES / "smallcnn_bad_eps.onnx")
COUNT = 6


def _folder(tmp_path: Path, count: int = COUNT) -> Path:
    folder = tmp_path / "inputs"
    folder.mkdir()
    for i in range(count):
        scale = 0.5 + i  # inputs of growing size: the last one is the worst
        image = np.random.default_rng(i).standard_normal((1, 3, 32, 32)) * scale
        np.savez(folder / f"x{i:02d}.npz", input=image.astype(np.float32))
    return folder


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["compare", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize(("content", "says"), [
    (b"not an array", "not a readable .npy/.npz array file"),
    (None, "truncated"),
    ("pickle", "holds Python objects (a pickle), refused"),
])
def test_a_bad_file_late_in_the_list_fails_in_one_line_before_the_first_run(
        tmp_path, monkeypatch, content, says):
    folder = _folder(tmp_path)
    bad = folder / "z_last.npz"
    if content is None:  # an .npy whose data was cut short
        bad = folder / "z_last.npy"
        np.save(bad, np.zeros((1, 3, 32, 32), np.float32))
        bad.write_bytes(bad.read_bytes()[:-100])
    elif content == "pickle":
        np.savez(bad, input=np.array([{"a": 1}], dtype=object))
    else:
        bad.write_bytes(content)
    runs = []
    original = parity.api.diff_models
    monkeypatch.setattr(parity.api, "diff_models",
                        lambda *args, **kwargs: runs.append(1) or original(*args, **kwargs))
    code, output = _cli(ONNX, BAD, "--inputs", str(folder))
    assert code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and says in lines[0], output
    assert "Traceback" not in output and not runs  # refused before any model ran


def test_bad_values_late_in_the_list_fail_in_one_line_when_reached(tmp_path):
    folder = _folder(tmp_path)
    values = np.zeros((1, 3, 32, 32), np.float32)
    values[0, 0, 0, 0] = np.nan
    np.savez(folder / "z_last.npz", input=values)
    code, output = _cli(ONNX, BAD, "--inputs", str(folder))
    assert code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and str(folder / "z_last.npz") in lines[0] and "NaN" in lines[0]


def test_inputs_are_read_one_at_a_time(tmp_path, monkeypatch):
    """Input arrays alive at once: the first input (kept for the report) and the one
    being run, however many there are."""
    folder = _folder(tmp_path)
    seen: list[weakref.ref] = []
    alive = [0]
    original = parity.api.load_arrays

    def spy(path: Path):
        arrays = original(path)
        alive[0] = max(alive[0], 1 + sum(ref() is not None for ref in seen))
        seen.extend(weakref.ref(array) for _, array in arrays)
        return arrays

    monkeypatch.setattr(parity.api, "load_arrays", spy)
    report = parity.compare(ONNX, BAD, inputs=folder)
    assert len(seen) == COUNT and alive[0] <= 3, alive[0]
    assert report.samples == tuple(str(p) for p in sorted(folder.iterdir()))


def test_the_report_is_each_pairs_worst_over_the_inputs(tmp_path):
    folder = _folder(tmp_path)
    files = sorted(folder.iterdir())
    each = [parity.compare(ONNX, BAD, inputs=path) for path in files]
    merged = parity.compare(ONNX, BAD, inputs=folder)
    assert [p.a for p in merged.pairs] == [p.a for p in each[0].pairs]
    for index, pair in enumerate(merged.pairs):
        ratios = [r.pairs[index].verdict.ratio for r in each]
        worst = ratios.index(max(ratios))  # the first of equals
        assert pair.verdict.ratio == pytest.approx(ratios[worst], rel=1e-12)
        assert pair.worst_input == str(files[worst])
    first = merged.first_divergence
    assert first is not None and first.a == each[-1].first_divergence.a
    out = tmp_path / "report.json"
    code, output = _cli(ONNX, BAD, "--inputs", str(folder), "--format", "json",
                        "--output", str(out))
    assert code == 1, output
    data = json.loads(out.read_text())
    assert data["samples"] == [str(p) for p in files]
    assert data["first_divergence"]["worst_input"] == first.worst_input
