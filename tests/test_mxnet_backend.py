"""The MXNet adapter on real MXNet forward passes: the MobileFaceNet fixture and tiny models."""

from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES
from parity.api import compare, open_model
from parity.errors import InputError, ModelLoadError, UsageError
from parity.registry import backend_class

if importlib.util.find_spec("mxnet") is None:
    pytest.skip("parity[mxnet] not installed", allow_module_level=True)

MXNetBackend = backend_class("mxnet")  # first, so mxnet imports with the numpy.bool shim
mx = importlib.import_module("mxnet")

FOLDER = FIXTURES / "mobilefacenet"
SYMBOL = FOLDER / "model-symbol.json"
PARAMS = FOLDER / "model-0000.params"
FACE_SHAPE = (1, 3, 112, 112)
TINY_SHAPE = (1, 3, 9, 9)


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return np.random.RandomState(0).uniform(0, 255, FACE_SHAPE).astype(np.float32)


@pytest.fixture(scope="module")
def model() -> MXNetBackend:
    return open_model(SYMBOL)


def tiny_symbol() -> mx.sym.Symbol:
    """conv -> BN (no eps) -> max pool 'full' -> slice -> avg pool 'valid' -> FC -> softmax."""
    data = mx.sym.Variable("data")
    body = mx.sym.Convolution(data, num_filter=4, kernel=(3, 3), pad=(1, 1), name="conv")
    body = mx.sym.BatchNorm(body, fix_gamma=False, name="bn")
    body = mx.sym.Pooling(body, kernel=(2, 2), stride=(2, 2), pool_type="max",
                          pooling_convention="full", name="pool_full")
    halves = mx.sym.SliceChannel(body, num_outputs=2, name="halves")
    body = mx.sym.Pooling(halves[1], kernel=(2, 2), stride=(2, 2), pool_type="avg",
                          name="pool_valid")
    body = mx.sym.FullyConnected(body, num_hidden=3, name="fc")
    return mx.sym.SoftmaxOutput(body, name="softmax")


def save_tiny(folder: Path, epochs: tuple[int, ...], skip: str = "") -> Path:
    """``tiny-symbol.json`` and one ``tiny-NNNN.params`` per epoch (seeded by the epoch)."""
    symbol = tiny_symbol()
    symbol.save(str(folder / "tiny-symbol.json"))
    arg_shapes, _, aux_shapes = symbol.infer_shape(data=TINY_SHAPE)
    shapes = {f"arg:{n}": s for n, s in zip(symbol.list_arguments(), arg_shapes)
              if n not in ("data", "softmax_label")}
    shapes.update((f"aux:{n}", s) for n, s in zip(symbol.list_auxiliary_states(), aux_shapes))
    for epoch in epochs:
        rng = np.random.RandomState(epoch)
        mx.nd.save(str(folder / f"tiny-{epoch:04d}.params"), {
            name: mx.nd.array(rng.uniform(0.5, 1.5, shape))
            for name, shape in shapes.items() if name != f"arg:{skip}"})
    return folder / "tiny-symbol.json"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("tiny"), epochs=(1, 3))


def plain_forward(prefix: Path, epoch: int, data: np.ndarray) -> np.ndarray:
    """The final output as MXNet's own Module API computes it."""
    symbol, args, aux = mx.model.load_checkpoint(str(prefix), epoch)
    labels = [name for name in symbol.list_arguments() if name.endswith("_label")]
    module = mx.mod.Module(symbol, data_names=["data"], label_names=labels, context=mx.cpu())
    module.bind(data_shapes=[("data", data.shape)], for_training=False,
                label_shapes=[(name, data.shape[:1]) for name in labels] or None)
    module.set_params(args, aux)
    module.forward(mx.io.DataBatch([mx.nd.array(data)]), is_train=False)
    return module.get_outputs()[0].asnumpy()


def test_registry_and_files(model):
    assert isinstance(model, MXNetBackend) and model.name == "mxnet"
    assert (model.symbol_path, model.params_path) == (SYMBOL, PARAMS)
    assert model.graph.input_names == ("data",) and model.graph.outputs == ("fc1",)
    assert model.graph.node("conv_1_batchnorm").attrs["eps"] == 1e-3
    assert model.graph.node("fc1").attrs["fix_gamma"] is True
    assert model.graph.node("conv_2_dw_conv2d").attrs["group"] == 16


def test_one_forward_pass_returns_every_node(model, face, monkeypatch):
    passes = []
    forward = mx.executor.Executor.forward

    def counting(self, *args, **kwargs):
        passes.append(kwargs.get("is_train"))
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(mx.executor.Executor, "forward", counting)
    names = [node.name for node in model.graph]
    outputs = model.run({"data": face}, names)
    assert passes == [False]
    assert list(outputs) == names
    assert outputs["conv_1_conv2d"].shape == (1, 16, 56, 56)
    assert outputs["conv_6dw7_7_conv2d"].shape == (1, 64, 1, 1)
    np.testing.assert_allclose(outputs["fc1"], plain_forward(FOLDER / "model", 0, face),
                               rtol=1e-6, atol=1e-6)


def test_batchnorm_uses_mxnet_default_eps(model, face):
    outputs = model.run({"data": face}, ["conv_1_conv2d", "conv_1_batchnorm"])
    params = {k: v.asnumpy().reshape(1, -1, 1, 1) for k, v in model.params.items()
              if k.startswith("conv_1_batchnorm_")}

    def batchnorm(eps: float) -> np.ndarray:
        scale = params["conv_1_batchnorm_gamma"] / np.sqrt(
            params["conv_1_batchnorm_moving_var"] + eps)
        return ((outputs["conv_1_conv2d"] - params["conv_1_batchnorm_moving_mean"]) * scale
                + params["conv_1_batchnorm_beta"])

    np.testing.assert_allclose(outputs["conv_1_batchnorm"], batchnorm(1e-3), atol=1e-4)
    assert np.abs(outputs["conv_1_batchnorm"] - batchnorm(2e-5)).max() > 1e-2


def test_executor_is_bound_once_per_fetch_and_shape(model, face, monkeypatch):
    binds = []
    simple_bind = mx.sym.Symbol.simple_bind

    def counting(self, *args, **kwargs):
        binds.append(kwargs.get("data"))
        return simple_bind(self, *args, **kwargs)

    monkeypatch.setattr(mx.sym.Symbol, "simple_bind", counting)
    first = model.run({"data": face}, ["_plus1", "fc1"])
    again = model.run({"data": face}, ["_plus1", "fc1"])
    model.run({"data": np.concatenate([face, face])}, ["_plus1", "fc1"])
    assert binds == [FACE_SHAPE, (2, *FACE_SHAPE[1:])]
    np.testing.assert_array_equal(first["fc1"], again["fc1"])


def test_params_file_as_the_model(model, face):
    by_params = open_model(PARAMS)
    assert (by_params.symbol_path, by_params.params_path) == (SYMBOL, PARAMS)
    np.testing.assert_array_equal(by_params.run({"data": face}, ["fc1"])["fc1"],
                                  model.run({"data": face}, ["fc1"])["fc1"])


def test_input_shape_the_model_cannot_take(model):
    with pytest.raises(InputError, match="MXNet cannot run input shapes"):
        model.run({"data": np.zeros((1, 3, 32, 32), np.float32)}, ["fc1"])


def test_pooling_convention_and_multi_output_nodes(tiny):
    backend = open_model(tiny)
    graph = backend.graph
    assert graph.node("pool_full").attrs["ceil_mode"] is True
    assert graph.node("pool_valid").attrs["ceil_mode"] is False
    assert graph.node("bn").attrs["eps"] == 1e-3
    assert graph.input_names == ("data",)
    data = np.random.RandomState(1).normal(size=TINY_SHAPE).astype(np.float32)
    out = backend.run({"data": data}, ["pool_full", "halves", "pool_valid", "softmax"])
    assert out["pool_full"].shape == (1, 4, 5, 5)
    np.testing.assert_array_equal(out["halves"], out["pool_full"][:, :2])
    assert out["pool_valid"].shape == (1, 2, 2, 2)
    np.testing.assert_allclose(out["softmax"], plain_forward(tiny.with_name("tiny"), 3, data),
                               rtol=1e-6)


def test_epoch_selection(tiny):
    assert MXNetBackend(tiny).params_path.name == "tiny-0003.params"
    assert MXNetBackend(tiny, epoch=1).params_path.name == "tiny-0001.params"
    assert MXNetBackend(tiny, epoch="3").params_path.name == "tiny-0003.params"
    explicit = tiny.with_name("tiny-0001.params")
    assert MXNetBackend(tiny, explicit, epoch=3).params_path == explicit
    with pytest.raises(ModelLoadError, match=r"tiny-symbol\.json: no weights for epoch 2: "
                                             r"tiny-0002\.params not found"):
        MXNetBackend(tiny, epoch=2)
    with pytest.raises(UsageError, match="epoch must be a whole number"):
        MXNetBackend(tiny, epoch="last")


def test_missing_params_file(tmp_path):
    symbol = tmp_path / "model-symbol.json"
    symbol.write_bytes(SYMBOL.read_bytes())
    with pytest.raises(ModelLoadError, match=r"model-symbol\.json: no weights found: "
                                             r"looked for model-NNNN\.params"):
        open_model(symbol)


def test_params_without_symbol(tmp_path):
    params = tmp_path / "model-0000.params"
    params.write_bytes(PARAMS.read_bytes())
    with pytest.raises(ModelLoadError, match=r"model-0000\.params: no symbol file next to it: "
                                             r"looked for model-symbol\.json"):
        open_model(params)


def test_corrupt_files(tmp_path):
    symbol = tmp_path / "model-symbol.json"
    symbol.write_text('{"nodes": [{"op": "null", "name": "data"')
    params = tmp_path / "model-0000.params"
    params.write_bytes(PARAMS.read_bytes())
    with pytest.raises(ModelLoadError, match=r"model-symbol\.json: not valid JSON"):
        MXNetBackend(symbol)
    symbol.write_bytes(SYMBOL.read_bytes())
    params.write_bytes(PARAMS.read_bytes()[:1000])
    with pytest.raises(ModelLoadError, match=r"model-0000\.params: not a readable MXNet params"):
        MXNetBackend(symbol)


def test_params_lacking_a_weight(tmp_path):
    symbol = save_tiny(tmp_path, epochs=(0,), skip="fc_weight")
    with pytest.raises(ModelLoadError, match=r"tiny-0000\.params: lacks parameters that "
                                             r"tiny-symbol\.json reads: fc_weight"):
        MXNetBackend(symbol)


def test_converter_eps_bug_is_the_first_divergence(tmp_path):
    """The fixture's purpose: eps 2e-5 instead of MXNet's default shows at conv_1_batchnorm."""
    cv2 = pytest.importorskip("cv2", reason="opencv reads the face photo")
    symbol = json.loads(SYMBOL.read_text())
    for node in symbol["nodes"]:
        if node["name"] == "conv_1_batchnorm":
            node["attrs"]["eps"] = "2e-05"
    converted = tmp_path / "model-symbol.json"
    converted.write_text(json.dumps(symbol))
    (tmp_path / "model-0000.params").write_bytes(PARAMS.read_bytes())
    rgb = cv2.imread(str(FIXTURES / "face.jpg"))[:, :, ::-1]
    face = rgb.transpose(2, 0, 1)[None].astype(np.float32)
    report = compare(SYMBOL, converted, inputs=face)
    first = report.first_divergence
    assert (first.a, first.b) == ("conv_1_batchnorm", "conv_1_batchnorm")
    assert first.metrics.max_abs > 1e-2
