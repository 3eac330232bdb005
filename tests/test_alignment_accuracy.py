"""Alignment measured against known ground truth on real graph pairs whose names differ."""

from __future__ import annotations

import random
import warnings

import pytest

from conftest import FIXTURES, trained_smallcnn
from parity.align import Alignment, align
from parity.graph import Graph, Node

pytest.importorskip("torch", reason="parity[torch] not installed")
pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")

import parity  # noqa: E402
from parity.api import open_model  # noqa: E402

BLOCK = ["conv1", "bn1", "relu", "conv2", "bn2"]
TORCH_TO_ONNX = {"x": "input", "conv1": "/conv1/Conv", "bn1": "/bn1/BatchNormalization",
                 "relu": "/relu/Relu", "maxpool": "/maxpool/MaxPool",
                 "branch_a": "/branch_a/Conv", "branch_b": "/branch_b/Conv", "cat": "/Concat",
                 "pool": "/pool/MaxPool", "flatten": "/Flatten", "fc": "/fc/Gemm"}
for layer in ("layer1", "layer2"):
    prefix = f"/{layer}/{layer}.0"
    ops = {"conv1": "Conv", "bn1": "BatchNormalization", "relu": "Relu", "conv2": "Conv",
           "bn2": "BatchNormalization"}
    for module in BLOCK:
        TORCH_TO_ONNX[f"{layer}.0.{module}"] = f"{prefix}/{module}/{ops[module]}"
    TORCH_TO_ONNX[f"{layer}.0/add"] = f"{prefix}/Add"
    TORCH_TO_ONNX[f"{layer}.0.relu:1"] = f"{prefix}/relu_1/Relu"

# With BatchNorm folded into Conv, the torch BN output is the ONNX Conv output.
FOLDED = {k: v for k, v in TORCH_TO_ONNX.items() if "BatchNormalization" not in v}
for bn in ("bn1", "layer1.0.bn1", "layer1.0.bn2", "layer2.0.bn1", "layer2.0.bn2"):
    conv = bn.replace("bn", "conv")
    FOLDED[bn] = FOLDED.pop(conv)


def accuracy(alignment: Alignment, truth: dict[str, str]) -> float:
    found = {(m.a, m.b) for m in alignment.pairs}
    return sum((a, b) in found for a, b in truth.items()) / len(truth)


def renamed(graph: Graph, seed: int) -> tuple[Graph, dict[str, str]]:
    """The graph with every node name replaced by a random string, and the renaming."""
    rng = random.Random(seed)
    new = {n.name: "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=10)) for n in graph.nodes}
    nodes = tuple(
        Node(new[n.name], n.op, tuple(new.get(i, i) for i in n.inputs), n.attrs, n.shape, "")
        for n in graph.nodes
    )
    return Graph(nodes, graph.inputs, tuple(new.get(o, o) for o in graph.outputs)), new


def test_torchscript_vs_onnx_export():
    alignment = align(open_model(FIXTURES / "smallcnn.pt").graph,
                      open_model(FIXTURES / "smallcnn.onnx").graph)
    assert accuracy(alignment, TORCH_TO_ONNX) == 1.0


def test_torchscript_vs_onnx_with_batchnorm_folded():
    alignment = align(open_model(FIXTURES / "smallcnn.pt").graph,
                      open_model(FIXTURES / "smallcnn_folded.onnx").graph)
    assert accuracy(alignment, FOLDED) == 1.0
    assert set(alignment.skipped_a) == {"conv1", "layer1.0.conv1", "layer1.0.conv2",
                                        "layer2.0.conv1", "layer2.0.conv2"}


def test_random_names_align_by_structure_alone():
    torch_graph = open_model(FIXTURES / "smallcnn.pt").graph
    onnx_graph, new = renamed(open_model(FIXTURES / "smallcnn.onnx").graph, seed=1)
    truth = {a: new.get(b, b) for a, b in TORCH_TO_ONNX.items()}
    alignment = align(torch_graph, onnx_graph)
    assert accuracy(alignment, truth) >= 0.95
    assert {m.how for m in alignment.pairs} == {"input", "structure"}


def test_random_names_with_batchnorm_folded_pair_the_batchnorm():
    """With no names, the ONNX Conv that absorbed a BatchNorm pairs with torch's bn (the
    end of conv -> bn -> relu), not with the raw conv."""
    torch_graph = open_model(FIXTURES / "smallcnn.pt").graph
    onnx_graph, new = renamed(open_model(FIXTURES / "smallcnn_folded.onnx").graph, seed=1)
    alignment = align(torch_graph, onnx_graph)
    assert accuracy(alignment, {a: new.get(b, b) for a, b in FOLDED.items()}) == 1.0
    assert set(alignment.skipped_a) == {"conv1", "layer1.0.conv1", "layer1.0.conv2",
                                        "layer2.0.conv1", "layer2.0.conv2"}


def test_random_names_still_find_the_first_divergence(tmp_path):
    import onnx

    model = onnx.load(str(FIXTURES / "smallcnn_bad_eps.onnx"))
    rng = random.Random(2)
    renaming = {}
    for node in model.graph.node:
        renaming[node.name] = node.name = f"n{rng.randrange(10**9)}"
    path = tmp_path / "renamed.onnx"
    onnx.save(model, str(path))
    report = parity.compare(FIXTURES / "smallcnn.pt", path, input_shape=(1, 3, 32, 32))
    first = report.first_divergence
    assert (first.a, first.b) == ("layer2.0.bn2",
                                  renaming["/layer2/layer2.0/bn2/BatchNormalization"])


def test_dynamo_exporter(tmp_path):
    import torch

    model = trained_smallcnn()
    path = tmp_path / "dynamo.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, 32, 32),), str(path), dynamo=True,
                          verbose=False)
    report = parity.compare(FIXTURES / "smallcnn.pt", path, input_shape=(1, 3, 32, 32))
    assert report.ok
    aligned = {p.a for p in report.pairs}
    assert len(aligned & set(FOLDED)) / len(FOLDED) >= 0.95
    assert report.unmatched_a == ()


@pytest.mark.usefixtures("caffe_and_mxnet")
def test_mxnet_vs_caffe_fixture_and_random_names():
    mxnet = open_model(FIXTURES / "mobilefacenet" / "model-symbol.json").graph
    caffe = open_model(FIXTURES / "mobilefacenet" / "model.prototxt").graph
    truth = {"_mulscalar0": "data"}
    for node in mxnet.nodes:
        if node.name == "_minusscalar0" or node.name in truth:
            continue
        truth[node.name] = f"{node.name}_scale" if node.op == "BatchNorm" else node.name
    assert accuracy(align(mxnet, caffe), truth) == 1.0
    caffe_renamed, new = renamed(caffe, seed=3)
    truth_renamed = {a: new.get(b, b) for a, b in truth.items()}
    assert accuracy(align(mxnet, caffe_renamed), truth_renamed) >= 0.95


@pytest.fixture
def caffe_and_mxnet():
    pytest.importorskip("cv2", reason="parity[caffe] not installed")
    pytest.importorskip("parity.backends.mxnet_symbol", reason="parity[mxnet] not installed")
