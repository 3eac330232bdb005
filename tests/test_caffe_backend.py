"""The OpenCV-run Caffe backend on small models written at test time (real forward passes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from conftest import FIXTURES, fixture_module

cv2 = pytest.importorskip("cv2", reason="parity[caffe] not installed")
pytest.importorskip("google.protobuf", reason="parity[caffe] not installed")

import parity  # noqa: E402
from parity.api import open_model  # noqa: E402
from parity.errors import ModelLoadError  # noqa: E402

LAYERS = ["conv1", "bn1", "scale1", "relu1", "dw2", "prelu2", "add", "pool", "fc"]


caffe_proto = fixture_module("caffe_proto")


def _weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    normal = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    return {
        "w1": normal(4, 3, 3, 3), "b1": normal(4), "mean": normal(4),
        "var": rng.uniform(0.01, 0.1, 4).astype(np.float32), "gamma": normal(4),
        "beta": normal(4), "w2": normal(4, 1, 3, 3), "slope": rng.uniform(0, 0.5, 4).astype(
            np.float32), "wfc": normal(5, 64), "bfc": normal(5),
    }


def small_net(eps: float = 1e-3, pool_param: dict[str, Any] | None = None) -> dict[str, Any]:
    """conv -> BN -> Scale -> ReLU in place, depthwise conv + PReLU, residual add, pool, fc."""
    w = _weights()
    factor = np.array([2.0], np.float32)  # Caffe's moving-average scale factor
    return {
        "name": "small", "input": ["data"], "input_shape": [{"dim": [1, 3, 8, 8]}],
        "layer": [
            {"name": "conv1", "type": "Convolution", "bottom": ["data"], "top": ["conv1"],
             "convolution_param": {"num_output": 4, "kernel_size": [3], "pad": [1]},
             "blobs": [w["w1"], w["b1"]]},
            {"name": "bn1", "type": "BatchNorm", "bottom": ["conv1"], "top": ["conv1"],
             "batch_norm_param": {"use_global_stats": True, "eps": eps},
             "blobs": [w["mean"] * factor, w["var"] * factor, factor]},
            {"name": "scale1", "type": "Scale", "bottom": ["conv1"], "top": ["conv1"],
             "scale_param": {"bias_term": True}, "blobs": [w["gamma"], w["beta"]]},
            {"name": "relu1", "type": "ReLU", "bottom": ["conv1"], "top": ["conv1"]},
            {"name": "dw2", "type": "Convolution", "bottom": ["conv1"], "top": ["dw2"],
             "convolution_param": {"num_output": 4, "kernel_size": [3], "pad": [1], "group": 4,
                                   "bias_term": False},
             "blobs": [w["w2"]]},
            {"name": "prelu2", "type": "PReLU", "bottom": ["dw2"], "top": ["dw2"],
             "blobs": [w["slope"]]},
            {"name": "add", "type": "Eltwise", "bottom": ["conv1", "dw2"], "top": ["add"]},
            {"name": "pool", "type": "Pooling", "bottom": ["add"], "top": ["pool"],
             "pooling_param": {"pool": "MAX", "kernel_size": 3, "stride": 2,
                               **(pool_param or {})}},
            {"name": "fc", "type": "InnerProduct", "bottom": ["pool"], "top": ["fc"],
             "inner_product_param": {"num_output": 5}, "blobs": [w["wfc"], w["bfc"]]},
        ],
    }


def write_model(folder: Path, stem: str = "small", weights_stem: str | None = None,
                **options: Any) -> Path:
    net = small_net(**options)
    caffe_proto.write_caffemodel(folder / f"{weights_stem or stem}.caffemodel", net)
    return caffe_proto.write_prototxt(folder / f"{stem}.prototxt", net)


def conv2d(x: np.ndarray, w: np.ndarray, pad: int, group: int = 1) -> np.ndarray:
    """Stride-1 convolution of one CHW image in float64."""
    padded = np.pad(x.astype(np.float64), ((0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(padded, w.shape[2:], axis=(1, 2))
    per_in, per_out = x.shape[0] // group, w.shape[0] // group
    return np.concatenate([
        np.einsum("chwij,ocij->ohw", windows[g * per_in:(g + 1) * per_in],
                  w[g * per_out:(g + 1) * per_out])
        for g in range(group)
    ])


def max_pool_ceil(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """Max pooling of a square CHW image, output size rounded up as Caffe does."""
    size = -(-(x.shape[1] - k) // s) + 1
    extra = (size - 1) * s + k - x.shape[1]
    padded = np.pad(x, ((0, 0), (0, extra), (0, extra)), constant_values=-np.inf)
    return sliding_window_view(padded, (k, k), axis=(1, 2))[:, ::s, ::s].max(axis=(3, 4))


def reference(x: np.ndarray, eps: float) -> dict[str, np.ndarray]:
    """The small net computed in numpy (float64)."""
    w = _weights()
    c = lambda v: v[:, None, None]  # noqa: E731
    out = {"conv1": conv2d(x[0], w["w1"], 1) + c(w["b1"])}
    out["bn1"] = (out["conv1"] - c(w["mean"])) / np.sqrt(c(w["var"]) + eps)
    out["scale1"] = out["bn1"] * c(w["gamma"]) + c(w["beta"])
    out["relu1"] = np.maximum(out["scale1"], 0)
    out["dw2"] = conv2d(out["relu1"], w["w2"], 1, group=4)
    out["prelu2"] = np.where(out["dw2"] > 0, out["dw2"], out["dw2"] * c(w["slope"]))
    out["add"] = out["relu1"] + out["prelu2"]
    out["pool"] = max_pool_ceil(out["add"], 3, 2)
    out["fc"] = w["wfc"] @ out["pool"].ravel() + w["bfc"]
    return {name: value[None] for name, value in out.items()}


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return write_model(tmp_path)


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)


def test_graph_describes_layers_in_place_chain_and_shapes(model: Path):
    backend = open_model(model)
    graph = backend.graph
    assert backend.name == "caffe" and backend.weights == model.with_suffix(".caffemodel")
    assert [n.name for n in graph] == LAYERS
    assert [graph.node(n).inputs for n in ("bn1", "scale1", "relu1", "dw2", "add")] == [
        ("conv1",), ("bn1",), ("scale1",), ("relu1",), ("relu1", "prelu2")]
    assert graph.node("bn1").attrs["eps"] == pytest.approx(1e-3)
    assert graph.node("dw2").attrs["group"] == 4
    assert graph.node("pool").attrs["ceil_mode"] is True
    assert graph.node("pool").shape == (1, 4, 4, 4)
    assert graph.node("fc").shape == (1, 5)
    assert [(s.name, s.shape) for s in graph.inputs] == [("data", (1, 3, 8, 8))]
    assert graph.outputs == ("fc",)


def test_every_layer_matches_numpy_including_in_place_layers(model: Path, image: np.ndarray):
    outputs = open_model(model).run({"data": image}, LAYERS)
    expected = reference(image, eps=1e-3)
    for name in LAYERS:
        np.testing.assert_allclose(outputs[name], expected[name], rtol=1e-4, atol=1e-4,
                                   err_msg=name)
    assert not np.allclose(outputs["conv1"], outputs["relu1"])


class CountingNet:
    """Wraps an OpenCV net and records every ``forward`` call."""

    def __init__(self, net: Any) -> None:
        self._net = net
        self.calls: list[Any] = []

    def forward(self, names: Any) -> Any:
        self.calls.append(names)
        return self._net.forward(names)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._net, name)


def test_one_forward_call_fetches_every_requested_layer(model: Path, image: np.ndarray):
    backend = open_model(model)
    counting = CountingNet(backend.net)
    backend.net = counting
    backend.run({"data": image}, ["data", *LAYERS])
    assert counting.calls == [LAYERS]


def test_a_subset_fetch_gives_the_same_values_as_a_full_fetch(model: Path, image: np.ndarray):
    backend = open_model(model)
    full = backend.run({"data": image}, LAYERS)
    for subset in (["relu1"], ["conv1", "relu1"], ["bn1", "add"], ["scale1"]):
        part = backend.run({"data": image}, subset)
        for name in subset:
            np.testing.assert_array_equal(part[name], full[name], err_msg=f"{subset}: {name}")


def test_eps_comes_from_the_prototxt_not_the_caffemodel(tmp_path: Path, image: np.ndarray):
    caffe_proto.write_caffemodel(tmp_path / "shared.caffemodel", small_net(eps=0.5))
    caffe_proto.write_prototxt(tmp_path / "model.prototxt", small_net(eps=2e-5))
    caffe_proto.write_prototxt(tmp_path / "model_fixed.prototxt", small_net(eps=1e-3))
    for stem, eps in (("model", 2e-5), ("model_fixed", 1e-3)):
        backend = open_model(tmp_path / f"{stem}.prototxt")
        assert backend.weights == tmp_path / "shared.caffemodel"
        got = backend.run({"data": image}, ["bn1"])["bn1"]
        np.testing.assert_allclose(got, reference(image, eps)["bn1"], rtol=1e-4, atol=1e-4)


def test_compare_finds_the_batchnorm_whose_eps_differs(tmp_path: Path):
    caffe_proto.write_caffemodel(tmp_path / "shared.caffemodel", small_net())
    bad = caffe_proto.write_prototxt(tmp_path / "bad.prototxt", small_net(eps=0.5))
    good = caffe_proto.write_prototxt(tmp_path / "good.prototxt", small_net(eps=1e-3))
    report = parity.compare(good, bad)
    assert not report.ok
    assert (report.first_divergence.a, report.first_divergence.b) == ("bn1", "bn1")


@pytest.mark.parametrize(("pool_param", "size"), [({}, 4), ({"round_mode": "FLOOR"}, 3)])
def test_pooling_rounding_reaches_opencv(tmp_path: Path, image: np.ndarray,
                                         pool_param: dict[str, Any], size: int):
    backend = open_model(write_model(tmp_path, pool_param=pool_param))
    assert backend.graph.node("pool").attrs["ceil_mode"] is (size == 4)
    assert backend.run({"data": image}, ["pool"])["pool"].shape == (1, 4, size, size)


def test_input_layers_with_two_inputs(tmp_path: Path):
    shapes = [{"dim": [1, 2, 3, 3]}, {"dim": [1, 1, 3, 3]}]  # OpenCV wants one per top
    net = {"layer": [
        {"name": "inputs", "type": "Input", "top": ["a", "b"], "input_param": {"shape": shapes}},
        {"name": "cat", "type": "Concat", "bottom": ["a", "b"], "top": ["cat"]},
        {"name": "relu", "type": "ReLU", "bottom": ["cat"], "top": ["cat"]},
    ]}
    caffe_proto.write_caffemodel(tmp_path / "two.caffemodel", net)
    backend = open_model(caffe_proto.write_prototxt(tmp_path / "two.prototxt", net))
    a, b = np.full((1, 2, 3, 3), -1.0, np.float32), np.full((1, 1, 3, 3), 2.0, np.float32)
    out = backend.run({"a": a, "b": b}, ["cat", "relu"])
    np.testing.assert_array_equal(out["cat"], np.concatenate([a, b], axis=1))
    np.testing.assert_array_equal(out["relu"], np.maximum(out["cat"], 0))
    assert backend.graph.node("cat").shape == (1, 3, 3, 3)
    assert [(s.name, s.shape) for s in backend.graph.inputs] == [("a", (1, 2, 3, 3)),
                                                                 ("b", (1, 1, 3, 3))]


def test_caffemodel_given_as_model_finds_its_prototxt(model: Path, image: np.ndarray):
    backend = open_model(model.with_suffix(".caffemodel"))
    assert backend.prototxt == model
    assert backend.run({"data": image}, ["fc"])["fc"].shape == (1, 5)


def test_explicit_weights_win(tmp_path: Path, model: Path):
    other = caffe_proto.write_caffemodel(tmp_path / "other.caffemodel", small_net())
    assert open_model(model, weights=other).weights == other


def test_missing_weights_name_the_prototxt_and_what_was_looked_for(tmp_path: Path):
    prototxt = caffe_proto.write_prototxt(tmp_path / "net.prototxt", small_net())
    with pytest.raises(ModelLoadError, match=r"net\.prototxt: no weights: looked for "
                                             r"net\.caffemodel or a single \.caffemodel"):
        open_model(prototxt)
    for name in ("a.caffemodel", "b.caffemodel"):
        caffe_proto.write_caffemodel(tmp_path / name, small_net())
    with pytest.raises(ModelLoadError, match=r"\(found 2\); pass --weights"):
        open_model(prototxt)
    with pytest.raises(ModelLoadError, match="no prototxt for these weights"):
        open_model(tmp_path / "a.caffemodel")


def test_prototxt_errors_carry_line_numbers(tmp_path: Path):
    caffe_proto.write_caffemodel(tmp_path / "net.caffemodel", small_net())
    path = tmp_path / "net.prototxt"
    path.write_text('input: "data"\nlayer {\n  name: "x"\n  type "ReLU"\n}\n', encoding="utf-8")
    with pytest.raises(ModelLoadError, match=r"line 4: expected ':' or '\{' after 'type'"):
        open_model(path)
    path.write_text('input: "data"\nlayer { name: "r" type: "ReLU" bottom: "nope" top: "r" }\n',
                    encoding="utf-8")
    with pytest.raises(ModelLoadError, match="line 2: layer 'r' reads blob 'nope'"):
        open_model(path)


def test_unreadable_caffemodel_is_a_load_error(tmp_path: Path):
    prototxt = caffe_proto.write_prototxt(tmp_path / "net.prototxt", small_net())
    (tmp_path / "net.caffemodel").write_bytes(b"\xff\x00 not a protobuf" * 8)
    with pytest.raises(ModelLoadError, match="net.caffemodel: not a readable Caffe weights file"):
        open_model(prototxt)


def test_caffemodel_bytes_are_deterministic_and_read_back():
    net = small_net()
    data = caffe_proto.caffemodel_bytes(net)
    assert data == caffe_proto.caffemodel_bytes(small_net())
    parsed = caffe_proto.message("NetParameter")
    parsed.ParseFromString(data)
    assert [layer.name for layer in parsed.layer] == LAYERS
    blob = parsed.layer[0].blobs[0]
    assert list(blob.shape.dim) == [4, 3, 3, 3]
    np.testing.assert_array_equal(np.array(blob.data, np.float32), _weights()["w1"].ravel())


def test_mobilefacenet_fixture_seed_eps_shows_at_the_first_batchnorm():
    folder = FIXTURES / "mobilefacenet"
    seed, fixed = open_model(folder / "model.prototxt"), open_model(folder / "model_fixed.prototxt")
    assert seed.weights == fixed.weights == folder / "model.caffemodel"
    fixed_eps = {n.name: n.attrs["eps"] for n in fixed.graph if n.op == "BatchNorm"}
    assert fixed_eps.pop("fc1") == pytest.approx(2e-5)
    assert fixed_eps and all(eps == pytest.approx(1e-3) for eps in fixed_eps.values())
    assert all(n.attrs["eps"] == pytest.approx(2e-5) for n in seed.graph if n.op == "BatchNorm")
    report = parity.compare(fixed, seed)
    assert (report.first_divergence.a, report.first_divergence.b) == ("conv_1_batchnorm",) * 2
