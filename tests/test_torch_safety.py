"""TorchScript and torch.export graphs are checked before they run (backends/_torch_safety.py).

The payloads of the corpus are real: trusted, each does what it would have done. Real
architectures (transformers BERT traced, ConvNeXt exported, a scripted module with control
flow) use only allowed ops and load untouched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from corpus.build_corpus import build_case

from parity.api import open_model
from parity.errors import ParityError

torch = pytest.importorskip("torch")
safety = pytest.importorskip("parity.backends._torch_safety")


def test_from_file_payload_writes_when_trusted(tmp_path: Path) -> None:
    case = build_case(tmp_path, "torchscript_writes_a_file")
    marker = Path(case.markers[0])
    with open_model(case.args[1], trust_code=True) as model:
        model.run({model.graph.inputs[0].name: np.zeros(1, np.float32)}, model.graph.outputs)
    assert marker.exists() and marker.stat().st_size == 16


def test_from_file_payload_reads_when_trusted(tmp_path: Path) -> None:
    case = build_case(tmp_path, "torchscript_reads_a_file")
    secret = sum((tmp_path / case.name / "secret.txt").read_bytes()[:16])
    with open_model(case.args[1], trust_code=True) as model:
        values = model.run({model.graph.inputs[0].name: np.zeros(1, np.float32)},
                           model.graph.outputs)
    assert next(iter(values.values()))[0] == secret


def test_setstate_payload_runs_inside_torch_jit_load(tmp_path: Path) -> None:
    case = build_case(tmp_path, "torchscript_setstate_writes_a_file")
    torch.jit.load(case.args[1])
    assert Path(case.markers[0]).exists()


def test_exported_payload_writes_when_trusted(tmp_path: Path) -> None:
    case = build_case(tmp_path, "exported_program_writes_a_file")
    program = torch.export.load(case.args[1])
    program.module()(torch.zeros(16))
    assert Path(case.markers[0]).exists()


@pytest.mark.parametrize("op", ["aten::from_file", "aten::save", "prim::Print",
                                "prim::rpc_async", "c10d::allreduce_", "profiler::_record"])
def test_side_effecting_and_unknown_ops_are_refused(op: str) -> None:
    assert safety.refusal(op)


@pytest.mark.parametrize("op", ["aten::conv2d", "aten::scaled_dot_product_attention",
                                "prim::If", "prim::CallMethod", "quantized::conv2d"])
def test_tensor_ops_are_allowed(op: str) -> None:
    assert safety.refusal(op) is None


def _bert() -> tuple[object, tuple[object, ...]]:
    import transformers

    config = transformers.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=64, vocab_size=100)
    return transformers.BertModel(config).eval(), (torch.randint(0, 100, (1, 8)),)


def _convnext() -> tuple[object, tuple[object, ...]]:
    import transformers

    config = transformers.ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2)
    return transformers.ConvNextModel(config).eval(), (torch.randn(1, 3, 32, 32),)


class _Gated(torch.nn.Module):
    """Control flow, a loop and a submodule call: what torch.jit.script keeps as blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(2):
            x = self.linear(x) if bool(x.sum() > 0) else torch.relu(x)
        return x


@pytest.mark.slow
def test_real_models_load(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    bert, bert_args = _bert()
    torch.jit.trace(bert, bert_args, strict=False).save(str(tmp_path / "bert.pt"))
    torch.jit.script(_Gated()).save(str(tmp_path / "gated.pt"))
    convnext, convnext_args = _convnext()
    torch.export.save(torch.export.export(convnext, convnext_args), str(tmp_path / "cn.pt2"))
    scripted = safety.load_checked(tmp_path / "gated.pt", lambda p: torch.jit.load(str(p)))
    assert scripted(torch.ones(1, 4)).shape == (1, 4)
    for name in ("bert.pt", "cn.pt2"):
        with open_model(tmp_path / name) as model:
            assert model.graph.nodes, name


def test_refusal_is_one_line_naming_the_file(tmp_path: Path) -> None:
    case = build_case(tmp_path, "torchscript_reads_a_file")
    with pytest.raises(ParityError, match=r"model\.pt: refused to run: .*aten::from_file"):
        open_model(case.args[1])


def _halved(x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(x) * 0.5


class _Calls(torch.nn.Module):
    """A submodule's method and a free function: code outside the top module's graph."""

    def __init__(self) -> None:
        super().__init__()
        self.gated = _Gated()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _halved(self.gated(x)).tanh()


def test_the_op_walk_reads_every_op_the_inlined_graphs_hold() -> None:
    """Each type's own graphs (a free function's call read inlined) hold every op kind of
    the inlined graphs, so reading them refuses whatever reading inlined code would."""
    scripted = torch.jit.script(_Calls())
    inlined = {kind for sub in scripted.modules() for name in sub._c._method_names()
               for kind in safety._graph_ops(sub._c._get_method(name).inlined_graph)}
    read = set(safety._script_ops(scripted))
    assert {"aten::sigmoid", "aten::tanh", "aten::relu", "aten::linear"} <= inlined
    assert inlined <= read
