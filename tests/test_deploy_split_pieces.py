"""Each piece of a split is a node in the deployment backends too: OpenVINO's ``Split`` /
``VariadicSplit`` and MXNet's ``SliceChannel`` name their further pieces ``name:1``,
``name:2``, as ONNX Runtime names a ``Split``'s outputs, and what reads the 2nd or 3rd
piece reads that piece (GPT-2's k and v, cut from one ``c_attn``).

Seen as its first piece only, a split left everything that reads k and v unmatched
(GPT-2's ONNX exports in OpenVINO paired 0.80-0.90 of their nodes, a gluon attention
against its ONNX export 0.86) and a wrong constant on k's path was left unpaired.

No corpus model reaches MXNet's split (the model zoo's vision networks have none), so the
MXNet tests build a small gluon self-attention with ``F.split`` in its forward.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import parity
from parity.api import open_model

pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")


def _pieces(path: str | Path, backend: str | None = None) -> list[str]:
    """The split pieces of a model's graph, in graph order."""
    graph = open_model(path, backend=backend).graph
    return [n.name for n in graph.nodes if n.op in ("Split", "VariadicSplit", "SliceChannel")]


def _scale_off_after_second_piece(path: str | Path, target: Path) -> tuple[Path, str]:
    """The ONNX model at ``path`` with the first ``Mul`` by a constant downstream of its
    first Split's 2nd piece (k's scale) 10% off, saved at ``target``; ``target`` and the
    Mul's name."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    constants = {t.name: t for t in graph.initializer}
    tensor = next(n for n in graph.node if n.op_type == "Split").output[1]
    while True:
        node = next(n for n in graph.node if tensor in n.input)
        constant = next((t for t in node.input if t in constants), None)
        if node.op_type == "Mul" and constant is not None:
            break
        tensor = node.output[0]
    wrong = numpy_helper.to_array(constants[constant]) * np.float32(1.1)
    graph.initializer.append(numpy_helper.from_array(wrong, f"{constant}_wrong"))
    node.input[list(node.input).index(constant)] = f"{constant}_wrong"
    onnx.save(model, str(target))
    return target, node.name


@pytest.mark.slow
@pytest.mark.parametrize("form", ["onnx_legacy", "onnx_dynamo"])
def test_gpt2_split_pieces_pair_in_openvino(real_corpus, form):
    """GPT-2's q, k, v from one Split: every piece a node in OpenVINO, paired with the
    piece of the same name in ONNX Runtime (coverage 0.80-0.90 -> 1.00)."""
    pytest.importorskip("openvino")
    path = real_corpus.export("gpt2", form)
    pieces = _pieces(path, "openvino")
    assert len(pieces) == 6 and pieces[1:3] == [f"{pieces[0]}:1", f"{pieces[0]}:2"]
    report = parity.compare(path, path, b_backend="openvino", inputs=real_corpus.inputs("gpt2"))
    assert report.ok, report.first_divergence
    assert min(report.coverage) == 1.0, (report.unmatched_a, report.unmatched_b)
    paired = {p.a: p.b for p in report.pairs if p.metrics is not None}
    assert {piece: paired.get(piece) for piece in pieces} == {p: p for p in pieces}


@pytest.mark.slow
def test_a_bug_on_the_second_piece_is_found_at_its_layer_in_openvino(real_corpus, tmp_path):
    """k's scale (the dynamo export's Mul by sqrt(1/sqrt(head_dim)) on the Split's 2nd
    piece) 10% off, run in OpenVINO: the first divergence is that Mul (unpaired while a
    split was one node)."""
    pytest.importorskip("openvino")
    path = real_corpus.export("gpt2", "onnx_dynamo")
    wrong, mul = _scale_off_after_second_piece(path, tmp_path / "wrong.onnx")
    report = parity.compare(path, wrong, b_backend="openvino",
                            inputs=real_corpus.inputs("gpt2"))
    assert not report.ok and min(report.coverage) == 1.0
    first = report.first_divergence
    assert (first.a, first.b) == (mul, mul), first


@pytest.mark.slow
def test_gpt2_pt_pieces_pair_with_the_openvino_ir_from_torch(real_corpus, tmp_path):
    """``openvino.convert_model`` of GPT-2 writes its split as a VariadicSplit; TorchScript's
    pieces pair with its pieces by scope, and torch's SDPA with OpenVINO's."""
    ov = pytest.importorskip("openvino")
    import realmodels
    import torch

    inputs = real_corpus.inputs("gpt2")
    converted = ov.convert_model(realmodels.build("gpt2", "small"),
                                 example_input={k: torch.from_numpy(v) for k, v in inputs.items()})
    ir = tmp_path / "gpt2.xml"
    ov.save_model(converted, str(ir), compress_to_fp16=False)
    report = parity.compare(real_corpus.export("gpt2", "pt"), ir, inputs=inputs)
    assert report.ok, report.first_divergence
    paired = {p.a: p.b for p in report.pairs}
    for layer in (0, 1):
        for suffix in ("", ":1", ":2"):
            assert paired[f"model.{layer}.attn/split{suffix}"] == (
                f"__module.model.h.{layer}.attn/prim::ListUnpack/VariadicSplit{suffix}")
        assert paired[f"model.{layer}.attn/scaled_dot_product_attention"].endswith(
            "/ScaledDotProductAttention")


@pytest.fixture(scope="module")
def mxnet_attention(tmp_path_factory):
    """A gluon self-attention whose q, k and v are ``F.split`` of one Dense, exported as a
    symbol and by ``mx.onnx.export_model``; and its input."""
    # imported through the corpus, which sets what MXNet 1.9.1 needs of numpy and the env
    mxnet_models = pytest.importorskip("realmodels.mxnet_models", reason="mxnet not installed")
    folder = tmp_path_factory.mktemp("mx_attention")
    x = np.random.default_rng(0).standard_normal((1, 6, 16)).astype(np.float32)
    symbol = mxnet_models.symbol(_gluon_attention(x), folder / "attention")
    onnx_path = _with_split_counts(mxnet_models.to_onnx(symbol, x.shape, folder / "attention.onnx"))
    return symbol, onnx_path, x


def _gluon_attention(x: np.ndarray):
    """The seeded, hybridized block, run once on ``x`` (1, 6, 16): two heads of 8."""
    import mxnet as mx
    from mxnet.gluon import nn

    class Attention(nn.HybridBlock):
        def __init__(self) -> None:
            super().__init__()
            with self.name_scope():
                self.qkv = nn.Dense(48, flatten=False)
                self.proj = nn.Dense(16, flatten=False)

        def hybrid_forward(self, F, x):  # noqa: N803 (gluon's name for the namespace)
            q, k, v = (F.reshape(F.transpose(F.reshape(t, (1, 6, 2, 8)), (0, 2, 1, 3)),
                                 (2, 6, 8))
                       for t in F.split(self.qkv(x), num_outputs=3, axis=-1))
            weights = F.softmax(F.batch_dot(q, k * 8 ** -0.5, transpose_b=True), axis=-1)
            heads = F.reshape(F.batch_dot(weights, v), (1, 2, 6, 8))
            return self.proj(F.reshape(F.transpose(heads, (0, 2, 1, 3)), (1, 6, 16)))

    mx.random.seed(0)
    net = Attention()
    net.initialize(mx.init.Xavier())
    net.hybridize()
    net(mx.nd.array(x))
    return net


def _with_split_counts(path: Path) -> Path:
    """mx2onnx (MXNet 1.9.1) writes Split in its opset-13 form (the outputs only) into a
    model of the installed onnx's newest opset, where Split needs ``num_outputs``: set it
    to the outputs it writes, as the exporter would for that opset."""
    import onnx
    from onnx import helper

    model = onnx.load(str(path))
    for node in model.graph.node:
        if node.op_type == "Split" and len(node.input) < 2 and not any(
                a.name == "num_outputs" for a in node.attribute):
            node.attribute.append(helper.make_attribute("num_outputs", len(node.output)))
    onnx.save(model, str(path))
    return path


def test_mxnet_split_is_a_node_per_piece(mxnet_attention):
    symbol, _, _ = mxnet_attention
    graph = open_model(symbol).graph
    first, *rest = _pieces(symbol)
    assert rest == [f"{first}:1", f"{first}:2"]
    for piece in (first, *rest):  # each piece's own Reshape into heads reads it
        assert [graph.op_of(n) for n in graph.consumers[piece]] == ["Reshape"]


def test_mxnet_split_pieces_pair_with_its_onnx_export(mxnet_attention):
    symbol, onnx_path, x = mxnet_attention
    report = parity.compare(symbol, onnx_path, inputs={"data": x})
    assert report.ok, report.first_divergence
    assert min(report.coverage) == 1.0, (report.unmatched_a, report.unmatched_b)
    paired = {p.a: p.b for p in report.pairs}
    assert {p: paired[p] for p in _pieces(symbol)} == dict(zip(_pieces(symbol),
                                                               _pieces(onnx_path)))


def test_a_bug_on_the_second_piece_is_found_at_its_layer_in_mxnet(mxnet_attention, tmp_path):
    """k's scale 10% off in the ONNX export: found at that Mul, after k's piece."""
    symbol, onnx_path, x = mxnet_attention
    wrong, mul = _scale_off_after_second_piece(onnx_path, tmp_path / "wrong.onnx")
    report = parity.compare(symbol, wrong, inputs={"data": x})
    assert not report.ok and min(report.coverage) == 1.0
    first = report.first_divergence
    assert first.b == mul and open_model(symbol).graph.op_of(first.a) == "_mul_scalar", first
