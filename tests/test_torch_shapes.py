"""Shapes of torch graphs before their values are compared: torch.export's fake values,
and for a TorchScript graph whose slices compute their bounds, one pass on the first
input (what those slices cut: here the whole axis and nothing)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="parity[torch] not installed")
pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")

import parity  # noqa: E402
from parity.api import open_model  # noqa: E402


class PartialRotary(torch.nn.Module):
    """Phi-3's ``q[..., :rotary_dim]`` and ``q[..., rotary_dim:]`` with ``rotary_dim`` read
    from ``cos``'s shape: traced, both bounds are computed; here they cut the whole last
    axis and nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(8, 8)

    def forward(self, x: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
        q = self.proj(x)
        rotary_dim = cos.shape[-1]
        rot, kept = q[..., :rotary_dim], q[..., rotary_dim:]
        return torch.relu(torch.cat([rot * cos, kept], dim=-1))


def _feeds() -> dict[str, np.ndarray]:
    generator = np.random.default_rng(0)
    return {"x": generator.standard_normal((1, 4, 8), dtype=np.float32),
            "cos": generator.standard_normal((1, 4, 8), dtype=np.float32)}


def _args() -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(v) for v in _feeds().values())


def test_torchscript_shapes_come_from_a_pass_when_slices_compute_their_bounds(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "rotary.pt"
    torch.jit.trace(PartialRotary().eval(), _args()).save(str(path))
    model = open_model(path)
    slices = [n.name for n in model.graph.nodes if n.op == "aten::slice"]
    assert len(slices) == 2 and all(model.graph.node(s).shape is None for s in slices)
    model.observe(_feeds())
    assert [model.graph.node(s).shape for s in slices] == [(1, 4, 8), (1, 4, 0)]
    assert model.graph.node("proj").shape == (1, 4, 8)


def test_exported_program_nodes_carry_their_shapes(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "rotary.pt2"
    torch.export.save(torch.export.export(PartialRotary().eval(), _args()), str(path))
    shapes = {n.op: n.shape for n in open_model(path).graph.nodes}
    assert shapes["aten::linear"] == (1, 4, 8) and shapes["aten::relu"] == (1, 4, 8)


def test_whole_and_empty_slices_align_with_the_onnx_export(tmp_path):
    torch.manual_seed(0)
    module = PartialRotary().eval()
    script, onnx_path = tmp_path / "rotary.pt", tmp_path / "rotary.onnx"
    torch.jit.trace(module, _args()).save(str(script))
    torch.onnx.export(module, _args(), str(onnx_path), input_names=["x", "cos"], dynamo=False)
    report = parity.compare(script, onnx_path, inputs=_feeds())
    assert report.ok and report.coverage == (1.0, 1.0), (report.unmatched_a,
                                                         report.unmatched_b)
    # the two inputs, the linear, the Mul by cos and the ReLU: no slice, no concat
    assert len(report.pairs) == 5
    assert not any(word in p.a for p in report.pairs for word in ("slice", "cat"))


def test_align_runs_the_torchscript_graph_for_the_pairs_compare_uses(tmp_path):
    """Without an input option, align draws compare's random input: the TorchScript graph
    gets its shapes, and its whole and empty slices are left out as in compare."""
    import json

    from click.testing import CliRunner

    from parity.cli import cli

    torch.manual_seed(0)
    module = PartialRotary().eval()
    script, onnx_path = tmp_path / "rotary.pt", tmp_path / "rotary.onnx"
    torch.jit.trace(module, _args()).save(str(script))
    torch.onnx.export(module, _args(), str(onnx_path), input_names=["x", "cos"], dynamo=False)
    result = CliRunner().invoke(cli, ["align", str(script), str(onnx_path), "--format", "json"])
    assert result.exit_code == 0, result.output[-3000:]
    aligned = json.loads(result.stdout)
    compared = parity.compare(script, onnx_path, inputs=_feeds())
    assert [(p["a"], p["b"]) for p in aligned["pairs"]] == [(p.a, p.b) for p in compared.pairs]
    assert not aligned["unmatched_a"] and not aligned["unmatched_b"]


def test_the_pass_that_gives_the_shapes_is_the_one_capture_pass(tmp_path, monkeypatch):
    from parity.backends._torch_capture import TorchScriptCapture

    torch.manual_seed(0)
    module = PartialRotary().eval()
    script, onnx_path = tmp_path / "rotary.pt", tmp_path / "rotary.onnx"
    torch.jit.trace(module, _args()).save(str(script))
    torch.onnx.export(module, _args(), str(onnx_path), input_names=["x", "cos"], dynamo=False)
    passes, streams = [], []
    run, stream = TorchScriptCapture._run, TorchScriptCapture.stream
    monkeypatch.setattr(TorchScriptCapture, "_run",
                        lambda self, args, keys: passes.append(len(keys)) or run(self, args, keys))
    monkeypatch.setattr(TorchScriptCapture, "stream",
                        lambda self, args, keys: streams.append(1) or stream(self, args, keys))
    report = parity.compare(script, onnx_path, inputs=_feeds())
    # observe()'s pass made every value; the stream of the same input hands them out
    assert report.ok and len(passes) == 1 and not streams
