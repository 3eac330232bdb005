"""Alignment on real exporter graphs: transformer blocks and ConvNeXt, TorchScript vs both
torch.onnx exporters (and the two exporters against each other).

Every pair is checked against the module each node comes from (both sides record module
scopes), a torch ``linear`` must be paired with the module's output (the Add after the
MatMul, or a Gemm), coverage of comparable nodes must reach 95%, and a correct conversion
must not show a divergence.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="parity[torch] not installed")
pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")
pytest.importorskip("onnxscript", reason="the dynamo exporter needs onnxscript")

from parity.align import Alignment, align  # noqa: E402
from parity.align.scopes import index_free  # noqa: E402
from parity.api import compare, open_model  # noqa: E402
from parity.graph import Graph  # noqa: E402
from parity.ops import family  # noqa: E402

FORMS = ("pt", "ts.onnx", "dyn.onnx")
COMPARISONS = (("pt", "ts.onnx"), ("pt", "dyn.onnx"), ("ts.onnx", "dyn.onnx"))


def _encoder():
    import torch

    layer = torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
    model = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    return model.eval(), torch.randn(1, 6, 32)


def _silu_mlp():
    import torch

    class Mlp(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.up = torch.nn.Linear(16, 32)
            self.act = torch.nn.SiLU()
            self.norm = torch.nn.LayerNorm(32)
            self.down = torch.nn.Linear(32, 16)

        def forward(self, x):
            return self.down(self.norm(self.act(self.up(x)))) + x

    return Mlp().eval(), torch.randn(1, 5, 16)


def _bert():
    transformers = pytest.importorskip("transformers")
    import torch

    config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=64,
                                     max_position_embeddings=32)
    bert = transformers.BertModel(config).eval()

    class Bert(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, ids):
            return self.bert(input_ids=ids).last_hidden_state

    return Bert().eval(), torch.randint(0, 100, (1, 8))


def _convnext():
    transformers = pytest.importorskip("transformers")
    import torch

    config = transformers.ConvNextConfig(num_channels=3, hidden_sizes=[8, 16], depths=[1, 1],
                                         num_stages=2, image_size=32)
    convnext = transformers.ConvNextModel(config).eval()

    class ConvNext(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = convnext

        def forward(self, x):
            return self.m(pixel_values=x).last_hidden_state

    return ConvNext().eval(), torch.randn(1, 3, 32, 32)


MODELS = {"encoder": _encoder, "silu_mlp": _silu_mlp, "bert": _bert, "convnext": _convnext}
SHAPES = {"encoder": (1, 6, 32), "silu_mlp": (1, 5, 16), "convnext": (1, 3, 32, 32)}


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """``{model: {form: path}}``, each model traced and exported both ways once."""
    import torch

    folder = tmp_path_factory.mktemp("exporters")
    cache: dict[str, dict[str, Path]] = {}

    def build(name: str) -> dict[str, Path]:
        if name not in cache:
            torch.manual_seed(0)
            model, example = MODELS[name]()
            paths = {form: folder / f"{name}.{form}" for form in FORMS}
            fastpath = torch.backends.mha.get_fastpath_enabled()
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.backends.mha.set_fastpath_enabled(False)
                try:
                    torch.jit.trace(model, (example,), check_trace=False).save(str(paths["pt"]))
                    torch.onnx.export(model, (example,), str(paths["ts.onnx"]), dynamo=False,
                                      opset_version=17)
                    torch.onnx.export(model, (example,), str(paths["dyn.onnx"]), verbose=False)
                finally:  # later tests check that capture restores the setting it found
                    torch.backends.mha.set_fastpath_enabled(fastpath)
            cache[name] = paths
        return cache[name]

    return build


def coverage(alignment: Alignment) -> float:
    """The smaller side's share of comparable nodes that were paired (inputs aside)."""
    compared = sum(m.how != "input" for m in alignment.pairs)
    unmatched = max(len(alignment.unmatched_a), len(alignment.unmatched_b))
    return compared / (compared + unmatched)


def wrong_pairs(a: Graph, b: Graph, alignment: Alignment) -> list[str]:
    """Pairs whose nodes come from different modules, or a Linear paired before its bias."""
    wrong = []
    for m in alignment.pairs:
        if m.how == "input":
            continue
        x, y = a.node(m.a), b.node(m.b)
        if index_free(x.scope) != index_free(y.scope):
            wrong.append(f"{m.a} ({x.scope}) <-> {m.b} ({y.scope})")
        ops = {family(x.op), family(y.op)}
        if "linear" in ops and {x.op, y.op} & {"MatMul"} and x.op != y.op and (
                b.consumers.get(m.b) and family(b.node(b.consumers[m.b][0]).op) == "add"):
            wrong.append(f"{m.a} paired with {m.b} before its bias Add")
    return wrong


@pytest.mark.slow
@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("form_a, form_b", COMPARISONS)
def test_pairs_follow_modules_and_cover_the_graph(exported, model, form_a, form_b):
    paths = exported(model)
    a, b = open_model(paths[form_a]).graph, open_model(paths[form_b]).graph
    alignment = align(a, b)
    assert wrong_pairs(a, b, alignment) == []
    assert coverage(alignment) >= 0.95, (alignment.unmatched_a, alignment.unmatched_b)
    layer_norms = [m for m in alignment.pairs if family(a.op_of(m.a)) == "layernorm"]
    assert layer_norms and all(family(b.op_of(m.b)) == "layernorm" for m in layer_norms)
    assert all(0 < m.confidence <= 1 for m in alignment.pairs)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["encoder", "silu_mlp", "convnext"])
def test_correct_exports_show_no_divergence(exported, model):
    paths = exported(model)
    for form_a, form_b in COMPARISONS:
        report = compare(paths[form_a], paths[form_b], input_shape=SHAPES[model])
        assert report.ok, (form_a, form_b, report.first_divergence)


@pytest.mark.slow
def test_weights_and_shape_arithmetic_are_inert(exported):
    paths = exported("encoder")
    torch_graph, onnx_graph = (open_model(paths[f]).graph for f in ("pt", "ts.onnx"))
    alignment = align(torch_graph, onnx_graph)
    inert = {onnx_graph.node(name).op for name in alignment.inert_b}
    assert {"Identity", "Mod"} <= inert  # weight copies; the head-size index arithmetic
    assert not {"Identity", "Mod"} & {onnx_graph.node(n).op for n in alignment.unmatched_b}
    assert not any(torch_graph.node(m.a).op in ("aten::mul", "aten::div")
                   for m in alignment.pairs if m.how != "input")  # size arithmetic


@pytest.mark.slow
@pytest.mark.parametrize("model", ["encoder", "bert", "convnext"])
@pytest.mark.parametrize("form", ["ts.onnx", "dyn.onnx"])
def test_structure_alone_finds_the_same_pairs_without_names(exported, model, form):
    """ONNX node names replaced by random strings and scopes dropped: structure, folds and
    decompositions must find every pair names and scopes found."""
    from test_alignment_accuracy import renamed

    paths = exported(model)
    torch_graph, named = open_model(paths["pt"]).graph, open_model(paths[form]).graph
    truth = {m.a: m.b for m in align(torch_graph, named).pairs}
    nameless, new = renamed(named, seed=3)
    found = {m.a: m.b for m in align(torch_graph, nameless).pairs}
    assert found == {a: new.get(b, b) for a, b in truth.items()}
