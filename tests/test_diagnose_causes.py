"""Injected conversion bugs on real architectures, torch -> ONNX: each found at its layer
with its cause and both values; the correct conversions stay quiet.

Every bug is injected the way a converter gets it wrong: a copy of the model with one
thing changed (ReLU6 written as ReLU, a LeakyReLU slope, count_include_pad, ...) is
exported to ONNX and compared against the TorchScript trace of the original.
"""

from __future__ import annotations

import copy
import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import FIXTURES, exact_hint, only_hint, trained_smallcnn

torch = pytest.importorskip("torch", reason="parity[torch] not installed")
pytest.importorskip("onnx", reason="parity[onnx] not installed")
pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")
transformers = pytest.importorskip("transformers", reason="transformers not installed")

from realmodels.torch_models import ImageModel  # noqa: E402
from torch import nn  # noqa: E402

import parity  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ATOL = 1e-4  # float32 error accumulated over a real model's depth stays below this


class Decoder(nn.Module):
    """An FPN-style decoder: strided convs down, bilinear upsampling back, a skip add."""

    def __init__(self, mode: str = "bilinear", align_corners: bool | None = False) -> None:
        super().__init__()
        self.down1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.down2 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.relu = nn.ReLU()
        self.up = nn.Upsample(scale_factor=2, mode=mode, align_corners=align_corners)
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.relu(self.down1(x))
        deep = self.relu(self.down2(skip))
        return self.head(self.up(deep) + skip)


class Encoder(nn.Module):
    """A pre-norm transformer encoder block (ViT's), written out so both exports align."""

    def __init__(self, dim: int = 16, heads: int = 2, eps: float = 1e-12,
                 gelu: str = "none", softmax_dim: int = -1) -> None:
        super().__init__()
        self.heads, self.softmax_dim = heads, softmax_dim
        self.embed = nn.Linear(dim, dim)  # BERT's initialisation: small embeddings, where
        nn.init.normal_(self.embed.weight, std=0.02)  # LayerNorm's eps matters
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.fc1 = nn.Linear(dim, 2 * dim)
        self.act = nn.GELU(approximate=gelu)
        self.fc2 = nn.Linear(2 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, d = x.shape  # one sequence of tokens: the linear layers export as Gemm
        x = self.embed(x)
        y = self.norm1(x)
        q = self.q(y).reshape(t, self.heads, -1).permute(1, 0, 2)
        k = self.k(y).reshape(t, self.heads, -1).permute(1, 2, 0)
        v = self.v(y).reshape(t, self.heads, -1).permute(1, 0, 2)
        scores = torch.softmax(q @ k * 0.5, dim=self.softmax_dim)
        x = x + self.proj((scores @ v).permute(1, 0, 2).reshape(t, d))
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


class Excite(nn.Module):
    """MobileNetV3's block: conv, hardswish, squeeze-and-excite gated by a hard sigmoid."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.act = nn.Hardswish()
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(8, 4, 1)
        self.relu = nn.ReLU()
        self.expand = nn.Conv2d(4, 8, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv(x))
        return x * self.gate(self.expand(self.relu(self.reduce(self.squeeze(x)))))


def trace(model: nn.Module, example: torch.Tensor, path: Path) -> Path:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(model, example), str(path))
    return path


def export(model: nn.Module, example: torch.Tensor, path: Path, fold: bool = False,
           opset: int = 20) -> Path:
    """``model`` exported by the TorchScript-based exporter; BatchNorm folded into the
    convolutions (its default) or kept."""
    mode = torch.onnx.TrainingMode.EVAL if fold else torch.onnx.TrainingMode.PRESERVE
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=opset,
                          training=mode, input_names=["input"])
    return path


def replace_modules(model: nn.Module, wanted: type, make: Callable[[nn.Module], nn.Module]
                    ) -> nn.Module:
    """A copy of ``model`` with every ``wanted`` submodule replaced by ``make(old)``."""
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, wanted):
                setattr(parent, name, make(child))
    return model


def with_attribute(model: nn.Module, wanted: type, **values: object) -> nn.Module:
    """A copy of ``model`` whose ``wanted`` submodules have ``values`` set."""
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(module, wanted):
            for key, value in values.items():
                setattr(module, key, value)
    return model


def randomise_batchnorm(model: nn.Module) -> nn.Module:
    """Per-channel running statistics and affine parameters, so eps and folds matter."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            c = module.num_features
            module.running_mean.copy_(torch.randn(c, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(c, generator=generator) * 0.05 + 0.005)
            module.weight.data.copy_(torch.rand(c, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(c, generator=generator) * 0.1)
    return model


class Zoo:
    """Each real model traced and opened once; buggy copies exported on demand into one
    folder, each compared once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.models: dict[str, tuple[nn.Module, torch.Tensor, Path]] = {}
        self.opened: dict[str, Any] = {}
        self.reports: dict[tuple[str, str, bool], parity.Report] = {}

    def reference(self, name: str) -> Any:
        """The TorchScript original, opened once (its backend serves every comparison)."""
        if name not in self.opened:
            self.opened[name] = parity.open_model(self.original(name)[2])
        return self.opened[name]

    def original(self, name: str) -> tuple[nn.Module, torch.Tensor, Path]:
        if name not in self.models:
            torch.manual_seed(0)
            model, example = BUILDERS[name]()
            model = model.eval()
            self.models[name] = (model, example, trace(model, example,
                                                       self.folder / f"{name}.pt"))
        return self.models[name]

    def converted(self, name: str, bug: str, model: nn.Module, fold: bool = False,
                  opset: int = 20) -> Path:
        _, example, _ = self.original(name)
        return export(model.eval(), example, self.folder / f"{name}-{bug}.onnx", fold, opset)

    def edited(self, name: str, bug: str, edit: Callable[[Any], object], fold: bool = False,
               opset: int = 20) -> parity.Report:
        """The correct export with ``edit(onnx_model)`` applied: the converter's mistake
        written into the file."""
        import onnx

        path = self.converted(name, bug, self.original(name)[0], fold, opset)
        proto = onnx.load(str(path))
        edit(proto)
        onnx.save(proto, str(path))
        return parity.compare(self.reference(name), path, seed=0, atol=ATOL)

    def compare(self, name: str, bug: str, change: Callable[[nn.Module], nn.Module],
                fold: bool = False) -> parity.Report:
        if (name, bug, fold) not in self.reports:
            model, _, _ = self.original(name)
            buggy = self.converted(name, bug, change(model), fold)
            self.reports[name, bug, fold] = parity.compare(self.reference(name), buggy, seed=0,
                                                           atol=ATOL)
        return self.reports[name, bug, fold]


def _mobilenet_v2() -> tuple[nn.Module, torch.Tensor]:
    config = transformers.MobileNetV2Config(image_size=32, depth_multiplier=0.25,
                                            num_labels=10)
    model = ImageModel(transformers.MobileNetV2ForImageClassification(config))
    return randomise_batchnorm(model), torch.randn(1, 3, 32, 32)


def _resnet_leaky() -> tuple[nn.Module, torch.Tensor]:
    config = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                       layer_type="basic", num_labels=10,
                                       hidden_act="leaky_relu")
    model = ImageModel(transformers.ResNetForImageClassification(config))
    return with_attribute(randomise_batchnorm(model), nn.LeakyReLU,
                          negative_slope=0.1), torch.randn(1, 3, 32, 32)


def _poolformer() -> tuple[nn.Module, torch.Tensor]:
    config = transformers.PoolFormerConfig(hidden_sizes=[8, 16], depths=[1, 1],
                                           num_encoder_blocks=2, patch_sizes=[7, 3],
                                           strides=[4, 2], padding=[2, 1], num_labels=10)
    return ImageModel(transformers.PoolFormerForImageClassification(config)), torch.randn(
        1, 3, 32, 32)


def _vit(initializer_range: float = 0.02) -> tuple[nn.Module, torch.Tensor]:
    config = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=32,
                                    num_hidden_layers=1, num_attention_heads=2,
                                    intermediate_size=64, num_labels=10,
                                    initializer_range=initializer_range)
    return ImageModel(transformers.ViTForImageClassification(config)), torch.randn(1, 3, 32, 32)


def _corpus(name: str) -> Callable[[], tuple[nn.Module, torch.Tensor]]:
    """A model of the real-model corpus (tests/realmodels), small config."""
    from realmodels import torch_models

    return lambda: (torch_models.build(name), torch.randn(1, 3, 32, 32))


def _segformer() -> tuple[nn.Module, torch.Tensor]:
    config = transformers.SegformerConfig(
        num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16],
        num_attention_heads=[1, 2], decoder_hidden_size=16, num_labels=4, patch_sizes=[7, 3],
        strides=[4, 2])
    return ImageModel(transformers.SegformerForSemanticSegmentation(config)), torch.randn(
        1, 3, 32, 32)


class FaceEmbedding(nn.Module):
    """ArcFace's embedding head on a ResNet: pooled features, Linear, BatchNorm1d (eps 1e-3,
    Keras' default, as in models converted from Keras)."""

    def __init__(self) -> None:
        super().__init__()
        config = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16],
                                           depths=[1, 1], layer_type="basic")
        self.backbone = transformers.ResNetModel(config)
        self.fc = nn.Linear(16, 8)
        self.features = nn.BatchNorm1d(8, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.backbone(pixel_values=x).pooler_output.flatten(1)
        return self.features(self.fc(pooled))


def _face() -> tuple[nn.Module, torch.Tensor]:
    from realmodels import torch_models

    model = FaceEmbedding()
    torch_models._randomise_batchnorm(model, 32)
    return model, torch.randn(1, 3, 32, 32)


BUILDERS: dict[str, Callable[[], tuple[nn.Module, torch.Tensor]]] = {
    "mobilenet_v2": _mobilenet_v2,
    "resnet_leaky": _resnet_leaky,
    "poolformer": _poolformer,
    "vit": _vit,
    # weights at a trained model's scale: GELU's inputs reach the range where tanh differs
    "vit_trained_scale": lambda: _vit(initializer_range=0.3),
    "decoder": lambda: (Decoder(), torch.randn(1, 3, 16, 16)),
    "excite": lambda: (Excite(), torch.randn(1, 3, 16, 16)),
    "encoder": lambda: (Encoder(), torch.randn(5, 16)),
    "smallcnn": lambda: (trained_smallcnn(), torch.randn(1, 3, 32, 32)),
    "efficientnet": _corpus("efficientnet"),
    "resnet": _corpus("resnet"),
    "convnext": _corpus("convnext"),
    "segformer": _segformer,
    "face": _face,
}


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Zoo:
    return Zoo(tmp_path_factory.mktemp("zoo"))


def first(report: parity.Report) -> str:
    assert report.first_divergence is not None, "no divergence found"
    return report.first_divergence.a


# -- correct conversions are quiet ---------------------------------------------------------


@pytest.mark.parametrize(("name", "folds"), [
    ("mobilenet_v2", (False,)), ("resnet_leaky", (False, True)), ("poolformer", (False,)),
    ("decoder", (False,)), ("encoder", (False,)), ("smallcnn", (False, True)),
    ("efficientnet", (False,)), ("convnext", (False,)), ("segformer", (False,)),
    ("face", (False,))])
def test_correct_conversion_is_quiet(zoo, name, folds):
    model, _, _ = zoo.original(name)
    for fold in folds:
        report = parity.compare(zoo.reference(name), zoo.converted(
            name, f"correct{fold}", model, fold), seed=0, atol=ATOL)
        assert report.hints == () or {h.code for h in report.hints} == {"precision"}, (
            report.hints)


# -- activations ----------------------------------------------------------------------------


def test_relu6_converted_as_relu(zoo):
    report = zoo.compare("mobilenet_v2", "relu", lambda m: replace_modules(
        m, nn.ReLU6, lambda _: nn.ReLU()))
    hint = exact_hint(report, "activation_changed")
    assert hint.node == first(report) and hint.node.endswith(".activation")
    assert "clip bounds" in hint.message and "[0, 6]" in hint.message
    assert "[0, inf)" in hint.message
    assert hint.evidence["attributes"]["clip"]["b"] == [0.0, "inf"]
    assert "Recomputing A's input with B's setting reproduces B's output" in hint.message


def test_leaky_relu_slope_written_as_default(zoo):
    report = zoo.compare("resnet_leaky", "slope", lambda m: with_attribute(
        m, nn.LeakyReLU, negative_slope=0.01))
    hint = exact_hint(report, "activation_changed")
    assert hint.node == first(report) == "model.resnet.embedder.embedder.activation"
    assert "negative slope" in hint.message and " 0.1," in hint.message
    assert "0.01" in hint.message and "set `alpha` of node" in hint.message


def test_exact_gelu_converted_as_tanh_approximation(zoo):
    report = zoo.compare("encoder", "gelu", lambda m: replace_modules(
        m, nn.GELU, lambda _: nn.GELU(approximate="tanh")))
    hint = exact_hint(report, "activation_changed")
    assert hint.node == first(report) == "act"
    assert "approximation: A (pytorch) `act` none, B (onnxrt)" in hint.message
    assert "tanh" in hint.message and "reproduces B's output" in hint.message


def test_exact_gelu_converted_as_tanh_in_vit(zoo):
    """transformers' ViT computes its exact GELU in a GELUActivation module (not nn.GELU)."""
    from transformers.activations import GELUActivation

    report = zoo.compare("vit_trained_scale", "gelu", lambda m: replace_modules(
        m, GELUActivation, lambda _: nn.GELU(approximate="tanh")))
    hint = exact_hint(report, "activation_changed")
    assert hint.node == first(report) == "model.vit.0.mlp.activation_fn"
    assert "approximation: A (pytorch) `model.vit.0.mlp.activation_fn` none" in hint.message
    assert "`/model/vit/layers.0/mlp/activation_fn/Gelu` tanh" in hint.message
    assert hint.evidence["replay"]["verdict"] == "own_math"


def test_hard_sigmoid_converted_with_the_keras_slope(zoo):
    """torch's hardsigmoid is relu6(x + 3) / 6 (alpha 1/6); Keras' slope is 0.2."""
    import onnx

    _, _, script = zoo.original("excite")
    path = zoo.converted("excite", "keras_slope", zoo.original("excite")[0])
    model = onnx.load(str(path))
    gate = next(n for n in model.graph.node if n.op_type == "HardSigmoid")
    next(a for a in gate.attribute if a.name == "alpha").f = 0.2
    onnx.save(model, str(path))
    report = parity.compare(script, path, seed=0, atol=ATOL)
    hint = exact_hint(report, "activation_changed")
    assert hint.node == first(report) == "gate"
    assert "alpha: A (pytorch) `gate` 0.166667, B (onnxrt) `/gate/HardSigmoid` 0.2" in (
        hint.message)
    assert "set `alpha` of node `/gate/HardSigmoid` to 0.166667" in hint.message
    assert hint.evidence["replay"]["verdict"] == "own_math"


# -- pooling, padding, resize ---------------------------------------------------------------


def test_average_pool_counts_the_padding(zoo):
    report = zoo.compare("poolformer", "count_pad", lambda m: with_attribute(
        m, nn.AvgPool2d, count_include_pad=True))
    hint = report.hints[0]
    assert {h.code for h in report.hints} == {"pool_padding"}
    assert hint.node == first(report) == "model.poolformer.encoder.0.pooling.pool"
    assert "count_include_pad: A (pytorch)" in hint.message
    assert "False, B (onnxrt)" in hint.message and "True" in hint.message


def test_tf_same_padding_on_the_wrong_side(zoo, monkeypatch):
    from transformers.models.mobilenet_v2 import modeling_mobilenet_v2 as mobilenet

    def before_not_after(features, conv_layer):
        """The converter's SAME padding: the odd pixel on top/left instead of bottom/right."""
        pads = []
        for size, stride, kernel in zip(features.shape[-2:], conv_layer.stride,
                                        conv_layer.kernel_size):
            total = max(kernel - (stride if size % stride == 0 else size % stride), 0)
            pads.append((total - total // 2, total // 2))
        (top, bottom), (left, right) = pads
        return nn.functional.pad(features, (left, right, top, bottom))

    zoo.original("mobilenet_v2")
    monkeypatch.setattr(mobilenet, "apply_tf_padding", before_not_after)
    report = zoo.compare("mobilenet_v2", "pad_side", lambda m: m)
    hint = exact_hint(report, "pad_placement")
    assert hint.node == first(report) and hint.node.endswith("/pad")
    assert "pads (top, left, bottom, right)" in hint.message
    assert "(0, 0, 1, 1)" in hint.message and "(1, 1, 0, 0)" in hint.message
    assert "reproduces B's output" in hint.message


def test_bilinear_align_corners_flipped(zoo):
    report = zoo.compare("decoder", "align", lambda m: replace_modules(
        m, nn.Upsample, lambda _: nn.Upsample(scale_factor=2, mode="bilinear",
                                              align_corners=True)))
    hint = exact_hint(report, "resize_mode")
    assert hint.node == first(report) == "up"
    assert "coordinate mapping: A (pytorch) `up` half_pixel, B (onnxrt)" in hint.message
    assert "align_corners" in hint.message and "reproduces B's output" in hint.message


def test_bilinear_upsampling_converted_as_nearest(zoo):
    report = zoo.compare("decoder", "nearest", lambda m: replace_modules(
        m, nn.Upsample, lambda _: nn.Upsample(scale_factor=2, mode="nearest")))
    hint = exact_hint(report, "resize_mode")
    assert hint.node == first(report) == "up"
    assert "resize mode: A (pytorch) `up` bilinear" in hint.message and "nearest" in hint.message


# -- normalisation, axes ---------------------------------------------------------------------


def test_layernorm_eps_written_as_default(zoo):
    report = zoo.compare("encoder", "ln_eps", lambda m: with_attribute(
        m, nn.LayerNorm, eps=1e-5))
    hint = only_hint(report, "norm_eps_mismatch")  # both LayerNorms, norm1 first
    assert hint.node == first(report) == "norm1"
    assert "eps: A (pytorch) `norm1` 1e-12, B (onnxrt)" in hint.message and "1e-05" in hint.message
    assert "reproduces B's output" in hint.message


def test_layernorm_eps_written_as_default_in_vit(zoo):
    report = zoo.compare("vit", "ln_eps", lambda m: with_attribute(m, nn.LayerNorm, eps=1e-5))
    hint = only_hint(report, "norm_eps_mismatch")
    assert hint.node == first(report) == "model.vit.0.layernorm_before"
    assert "eps: A (pytorch) `model.vit.0.layernorm_before` 1e-12" in hint.message
    assert "reproduces B's output" in hint.message


def test_softmax_over_the_wrong_axis(zoo):
    report = zoo.compare("encoder", "softmax", lambda m: with_attribute(
        m, type(m), softmax_dim=-2))
    hint = exact_hint(report, "axis_mismatch")
    assert hint.node == first(report) == "softmax"
    assert "axis: A (pytorch) `softmax` -1, B (onnxrt)" in hint.message
    assert "reproduces B's output" in hint.message


# -- BatchNorm folded into the convolution ------------------------------------------------


def _second_bn(model: nn.Module) -> nn.BatchNorm2d:
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)][1]


def test_folded_batchnorm_eps(zoo):
    def eps(model):
        model = copy.deepcopy(model)
        _second_bn(model).eps = 1e-3
        return model

    report = zoo.compare("smallcnn", "fold_eps", eps, fold=True)
    hint = exact_hint(report, "bn_eps_mismatch")
    assert hint.node == first(report) == "layer1.0.bn1"
    assert hint.evidence["folded"] and hint.evidence["eps_b"] == pytest.approx(1e-3, rel=1e-2)
    assert np.allclose(hint.evidence["eps_per_channel"], 1e-3, rtol=1e-2)
    assert "uses 1e-05" in hint.message and "folded in with eps 0.001" in hint.message


def test_folded_conv_weights_scaled(zoo):
    def scaled(model):
        model = copy.deepcopy(model)
        with torch.no_grad():
            model.layer1[0].conv1.weight *= 1.05
        return model

    report = zoo.compare("smallcnn", "fold_weights", scaled, fold=True)
    hint = exact_hint(report, "weights_differ")
    assert hint.node == first(report) == "layer1.0.bn1"
    assert hint.evidence["folded"] and "re-folded filters x1.05" in hint.message


def test_folded_batchnorm_running_statistics(zoo):
    def stats(model):
        model = copy.deepcopy(model)
        with torch.no_grad():
            _second_bn(model).running_var[3] *= 2
        return model

    report = zoo.compare("smallcnn", "fold_stats", stats, fold=True)
    hint = exact_hint(report, "bn_stats_differ")
    assert hint.node == first(report) == "layer1.0.bn1"
    assert hint.evidence["var_channels"] == [3] and "variance in channel(s) 3" in hint.message


_RESNET_SHORTCUT = "model.resnet.encoder.stages.1.layers.0.shortcut"


def _shortcut_changed(change: Callable[[nn.Module], None]) -> Callable[[nn.Module], nn.Module]:
    def changed(model: nn.Module) -> nn.Module:
        model = copy.deepcopy(model)
        with torch.no_grad():
            change(model.get_submodule(_RESNET_SHORTCUT))
        return model
    return changed


def test_folded_batchnorm_eps_in_a_real_resnet(zoo):
    """transformers' ResNet traced (its TorchScript scope drops `stages`/`layers`) against
    the legacy export, which folds the shortcut's BatchNorm into its 1x1 convolution."""
    def eps(shortcut: nn.Module) -> None:
        shortcut.normalization.eps = 1e-3

    report = zoo.compare("resnet", "fold_eps", _shortcut_changed(eps), fold=True)
    hint = exact_hint(report, "bn_eps_mismatch")
    assert hint.node == first(report) == "model.resnet.encoder.1.0.shortcut.normalization"
    assert hint.evidence["folded"] and np.allclose(hint.evidence["eps_per_channel"], 1e-3,
                                                   rtol=1e-2)
    assert "uses 1e-05" in hint.message and "folded in with eps 0.001" in hint.message


def test_folded_conv_weights_scaled_in_a_real_resnet(zoo):
    def scaled(shortcut: nn.Module) -> None:
        shortcut.convolution.weight *= 1.05

    report = zoo.compare("resnet", "fold_weights", _shortcut_changed(scaled), fold=True)
    hint = exact_hint(report, "weights_differ")
    assert hint.node == first(report) == "model.resnet.encoder.1.0.shortcut.normalization"
    assert hint.evidence["folded"] and "re-folded filters x1.05" in hint.message


def test_one_folded_filter_changed(zoo):
    def one(model):
        model = copy.deepcopy(model)
        with torch.no_grad():
            model.layer1[0].conv1.weight[2, 1, 0, 0] += 0.3
        return model

    report = zoo.compare("smallcnn", "fold_filter", one, fold=True)
    hint = exact_hint(report, "weights_differ")
    assert hint.node == first(report) == "layer1.0.bn1"
    assert hint.evidence["parameters"]["weight"]["channels"] == [2]
    assert "are not the re-folded filters" in hint.message


# -- isolated replay ------------------------------------------------------------------------


@pytest.mark.parametrize("bug", ["relu", "slope", "align", "gelu", "fold_eps", "fold_weights"])
def test_replay_says_the_layer_own_math_differs(zoo, bug):
    cases = {
        "relu": ("mobilenet_v2", lambda m: replace_modules(m, nn.ReLU6, lambda _: nn.ReLU()),
                 False),
        "slope": ("resnet_leaky", lambda m: with_attribute(m, nn.LeakyReLU,
                                                           negative_slope=0.01), False),
        "align": ("decoder", lambda m: replace_modules(m, nn.Upsample, lambda _: nn.Upsample(
            scale_factor=2, mode="bilinear", align_corners=True)), False),
        "gelu": ("encoder", lambda m: replace_modules(m, nn.GELU, lambda _: nn.GELU(
            approximate="tanh")), False),
        "fold_eps": ("smallcnn", lambda m: _changed(m, lambda c: setattr(
            _second_bn(c), "eps", 1e-3)), True),
        "fold_weights": ("smallcnn", lambda m: _changed(m, lambda c: c.layer1[0].conv1.weight
                                                        .data.mul_(1.05)), True),
    }
    name, change, fold = cases[bug]
    report = zoo.compare(name, bug, change, fold)
    hint = next(h for h in report.hints if h.node == first(report))
    assert hint.evidence["replay"]["verdict"] == "own_math", hint.evidence
    assert hint.evidence["replay"]["engine"] == "onnx reference evaluator"
    assert "this layer's own math differs" in hint.message


def _changed(model: nn.Module, edit: Callable[[nn.Module], object]) -> nn.Module:
    model = copy.deepcopy(model)
    with torch.no_grad():
        edit(model)
    return model


def test_replay_downstream_of_the_bug_says_received_error(zoo):
    """Every tensor kept: the head convolution after a wrong resize, replayed on A's input,
    matches A: it only received error."""
    from parity.align import align
    from parity.api import make_feeds
    from parity.diagnose import Evidence
    from parity.diagnose.replay import replay
    from parity.diff import Sample, diff_models
    from parity.metrics import Tolerance
    from parity.verdict import Criteria

    model, _, script = zoo.original("decoder")
    buggy = zoo.converted("decoder", "align", replace_modules(
        model, nn.Upsample, lambda _: nn.Upsample(scale_factor=2, mode="bilinear",
                                                  align_corners=True)))
    a, b = parity.open_model(script), parity.open_model(buggy)
    feeds_a, feeds_b = make_feeds(a, b, None, seed=0)
    alignment = align(a.graph, b.graph)
    b_of = {m.a: m.b for m in alignment.pairs}
    kept_a: dict[str, np.ndarray] = {}
    kept_b: dict[str, np.ndarray] = {}

    def keep(name: str, va: np.ndarray, vb: np.ndarray, sample: int) -> None:
        kept_a[name], kept_b[b_of[name]] = va, vb

    tolerance = Tolerance(ATOL, 1e-5)
    report = diff_models(a, b, [Sample("random", feeds_a.arrays, feeds_b.arrays)], alignment,
                         Criteria(tolerance), on_pair=keep)
    evidence = Evidence(a, b, alignment, report.pairs, (), tolerance, kept_a, kept_b)
    pairs = {p.a: p for p in report.pairs}
    assert pairs["head"].failed and pairs["up"].failed
    downstream = replay(evidence, pairs["head"])
    assert downstream is not None and not downstream.own_math
    assert "received error from upstream" in downstream.sentence()
    at_bug = replay(evidence, pairs["up"])
    assert at_bug is not None and at_bug.own_math and at_bug.max_abs > 0.01


# -- MXNet -> Caffe, Caffe -> PyTorch ------------------------------------------------------

MOBILEFACENET = FIXTURES / "mobilefacenet"
CAFFE_TORCH = FIXTURES / "caffe_torch"
FACE = FIXTURES / "face.jpg"


@pytest.fixture
def mxnet_caffe(tmp_path: Path) -> Callable[[str, str], parity.Report]:
    """MobileFaceNet's MXNet symbol against its Caffe conversion with ``old`` -> ``new``
    in the prototxt (the converter's mistake); the caffemodel is the correct one."""
    pytest.importorskip("cv2", reason="parity[caffe] (OpenCV) not installed")
    pytest.importorskip("parity.backends.mxnet_symbol", reason="parity[mxnet] not installed")
    shutil.copy(MOBILEFACENET / "model.caffemodel", tmp_path / "model.caffemodel")

    def compare(old: str, new: str) -> parity.Report:
        text = (MOBILEFACENET / "model_fixed.prototxt").read_text(encoding="utf-8")
        assert old in text
        (tmp_path / "model.prototxt").write_text(text.replace(old, new, 1), encoding="utf-8")
        return parity.compare(MOBILEFACENET / "model-symbol.json", tmp_path / "model.prototxt",
                              image=FACE)

    return compare


def test_mxnet_prelu_converted_as_a_caffe_leaky_relu(mxnet_caffe):
    report = mxnet_caffe('name: "conv_2_dw_relu"\n  type: "PReLU"',
                         'name: "conv_2_dw_relu"\n  type: "ReLU"\n'
                         '  relu_param { negative_slope: 0.25 }')
    hint = exact_hint(report, "activation_changed")
    assert hint.node == first(report) == "conv_2_dw_relu"
    assert "A (mxnet) `conv_2_dw_relu` prelu, B (caffe) `conv_2_dw_relu` leaky_relu" in (
        hint.message)
    assert hint.evidence["replay"]["verdict"] == "own_math"
    assert hint.evidence["replay"]["engine"] == "numpy reference"


def test_mxnet_conv_padding_lost_in_the_caffe_conversion(mxnet_caffe):
    report = mxnet_caffe("bias_term: false\n    pad: 1\n    kernel_size: 3\n    group: 16",
                         "bias_term: false\n    pad: 0\n    kernel_size: 3\n    group: 16")
    hint = exact_hint(report, "attribute_mismatch")
    assert hint.node == first(report) == "conv_2_dw_conv2d"
    assert "pads (top, left, bottom, right): A (mxnet) `conv_2_dw_conv2d` (1, 1, 1, 1), " \
           "B (caffe) `conv_2_dw_conv2d` (0, 0, 0, 0)" in hint.message
    assert "set `pad: (1, 1)` in the convolution_param of layer `conv_2_dw_conv2d`" in (
        hint.message)


@pytest.fixture
def caffe_torch(tmp_path: Path) -> Callable[[str], parity.Report]:
    """The Caffe fixture net against a hand conversion to torch with ``edit`` applied."""
    pytest.importorskip("cv2", reason="parity[caffe] (OpenCV) not installed")

    def compare(edit: str, state: Path = CAFFE_TORCH / "state.pt") -> parity.Report:
        (tmp_path / "converted.py").write_text(
            "import importlib.util\nfrom torch import nn\n"
            "spec = importlib.util.spec_from_file_location("
            f"'net', {str(CAFFE_TORCH / 'net.py')!r})\n"
            "net = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(net)\n\n\n"
            f"def build():\n    model = net.build()\n    {edit}\n    return model\n",
            encoding="utf-8")
        model = parity.open_model(f"{tmp_path / 'converted.py'}:build", state)
        return parity.compare(CAFFE_TORCH / "deploy.prototxt", model, image=FACE)

    return compare


def test_caffe_relu_converted_as_torch_leaky_relu(caffe_torch):
    report = caffe_torch("model.relu1 = nn.LeakyReLU(0.1)")
    hint = exact_hint(report, "activation_changed")
    assert hint.node == first(report) == "relu1"
    assert "clip bounds" in hint.message or "activation" in hint.message
    assert "leaky_relu" in hint.message
    assert hint.evidence["replay"]["verdict"] == "own_math"


def test_caffe_conv_weights_scaled_in_the_torch_conversion(caffe_torch, tmp_path):
    state = torch.load(CAFFE_TORCH / "state.pt", weights_only=True)
    state["branch_b.weight"][3] *= 1.05  # one filter converted with a stray scale
    torch.save(state, tmp_path / "state.pt")
    report = caffe_torch("pass", tmp_path / "state.pt")
    hint = exact_hint(report, "weights_differ")
    assert hint.node == first(report) == "branch_b"
    assert hint.evidence["parameters"]["weight"]["channels"] == [3]
    assert hint.evidence["replay"]["verdict"] == "own_math"
    assert hint.evidence["replay"]["engine"] == "numpy reference"


# -- today's codes on a real architecture ---------------------------------------------------


def test_resnet_stem_pooling_rounds_up_in_the_conversion(zoo):
    report = zoo.compare("resnet_leaky", "ceil", lambda m: with_attribute(
        m, nn.MaxPool2d, ceil_mode=True))
    hint = exact_hint(report, "pool_ceil_mode")
    assert hint.node == first(report) == "model.resnet.embedder.pooler"
    assert "(1x8x8x8 vs 1x8x9x9): B rounds the pooled size up" in hint.message


def test_resnet_exported_in_training_mode(zoo):
    model, example, _ = zoo.original("resnet_leaky")
    path = zoo.folder / "resnet_leaky-train.onnx"
    training = copy.deepcopy(model).train()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(training, (example,), str(path), dynamo=False, opset_version=20,
                          training=torch.onnx.TrainingMode.TRAINING, input_names=["input"],
                          do_constant_folding=False)
    report = parity.compare(zoo.reference("resnet_leaky"), path, seed=0, atol=ATOL)
    hint = exact_hint(report, "train_mode")
    assert hint.node == first(report) == "model.resnet.embedder.embedder.normalization"
    assert "B ran" in hint.message and "model.eval()" in hint.message


# -- the real-model corpus: correct conversions, however well aligned, get no hint ------------

QUIET_CORPUS = [("bert", "pt2", "onnx_legacy"), ("gpt2", "onnx_legacy", "onnx_dynamo"),
                ("vit", "pt2", "onnx_legacy"), ("resnet", "pt2", "onnx_legacy"),
                ("mx_resnet18", "mxnet", "caffe")]


@pytest.mark.slow
@pytest.mark.parametrize(("model", "a", "b"), QUIET_CORPUS,
                         ids=["-".join(case) for case in QUIET_CORPUS])
def test_corpus_correct_pairs_get_no_hint(real_corpus, model, a, b):
    if model.startswith("mx_"):
        pytest.importorskip("parity.backends.mxnet_symbol", reason="parity[mxnet] not installed")
        pytest.importorskip("cv2", reason="parity[caffe] (OpenCV) not installed")
    report = parity.compare(real_corpus.export(model, a), real_corpus.export(model, b),
                            inputs=real_corpus.inputs(model))
    assert {h.code for h in report.hints} <= {"precision"}, report.hints


# -- more causes on real architectures ------------------------------------------------------


def _attribute(node: Any, name: str) -> Any:
    return next(a for a in node.attribute if a.name == name)


def _nodes(model: Any, op: str) -> list[Any]:
    return [n for n in model.graph.node if n.op_type == op]


def _silu(model: nn.Module) -> type:
    return type(next(m for m in model.modules() if type(m).__name__ == "SiLU"))


def test_efficientnet_silu_converted_as_hardswish(zoo):
    report = zoo.compare("efficientnet", "hardswish", lambda m: replace_modules(
        m, _silu(m), lambda _: nn.Hardswish()))
    hint = exact_hint(report, "activation_changed")
    assert hint.node == first(report) == "model.efficientnet.embeddings.activation"
    assert "activation: A (pytorch) `model.efficientnet.embeddings.activation` silu" in (
        hint.message)
    assert "HardSwish` hardswish" in hint.message and "reproduces B's output" in hint.message


class QuickSiLU(nn.Module):
    """The converter's SiLU: x * sigmoid(1.702 x), the sigmoid approximation of GELU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


def test_efficientnet_silu_decomposed_with_the_gelu_constant(zoo):
    report = zoo.compare("efficientnet", "quick", lambda m: replace_modules(
        m, _silu(m), lambda _: QuickSiLU()))
    hint = exact_hint(report, "activation_changed")
    assert hint.node == first(report) == "model.efficientnet.embeddings.activation"
    assert "A (pytorch) `model.efficientnet.embeddings.activation` silu" in hint.message
    assert "computes x·sigmoid(1.702·x) (the sigmoid approximation of GELU)" in hint.message
    assert hint.evidence["replay"]["verdict"] == "own_math"


def test_poolformer_groupnorm_eps_written_as_keras_default(zoo):
    """torch exports GroupNorm as Reshape, InstanceNormalization, Reshape, Mul, Add; the
    alignment leaves those unmatched, the check reads them all."""
    report = zoo.compare("poolformer", "gn_eps", lambda m: with_attribute(
        m, nn.GroupNorm, eps=1e-3))
    hint = report.hints[0]
    assert {h.code for h in report.hints} == {"norm_eps_mismatch"}
    assert hint.node == first(report)
    assert "eps: A (pytorch) `model.poolformer.encoder.0.before_norm` 1e-05, B (onnxrt) " \
           "`/model/poolformer/encoder/block.0.0/before_norm/InstanceNormalization` 0.001" in (
               hint.message)


def test_vit_layernorm_reduces_over_the_token_axis(zoo):
    """opset 16 spells LayerNorm out (ReduceMean, Sub, Pow, ReduceMean...): the converter
    wrote the reductions over axis 1 (tokens) instead of -1 (features)."""
    def token_axis(model):
        for node in _nodes(model, "ReduceMean")[:2]:  # the first LayerNorm's two means
            _attribute(node, "axes").ints[:] = [1]

    report = zoo.edited("vit", "ln_axes", token_axis, opset=16)
    hint = exact_hint(report, "axis_mismatch")
    assert hint.node == first(report) == "model.vit.0.layernorm_before"
    assert "axes: A (pytorch) `model.vit.0.layernorm_before` (-1), B (onnxrt) " \
           "`/model/vit/layers.0/layernorm_before/ReduceMean_1` (1)" in hint.message


def test_convnext_permutation_swaps_height_and_width(zoo):
    def swapped(model):
        _attribute(_nodes(model, "Transpose")[2], "perm").ints[:] = [0, 3, 2, 1]

    report = zoo.edited("convnext", "perm", swapped)
    hint = exact_hint(report, "attribute_mismatch")
    # the permuted tensors compare as a layout change: the error shows at the LayerNorm
    assert hint.node == first(report) == "model.convnext.encoder.0.0.layernorm"
    assert "permutation: A (pytorch) `model.convnext.encoder.0.0/permute` (0, 2, 3, 1), " \
           "B (onnxrt)" in hint.message and "(0, 3, 2, 1)" in hint.message


def test_resnet_convolution_dilated_in_the_conversion(zoo):
    def dilated(model):
        conv = [n for n in _nodes(model, "Conv") if list(_attribute(n, "kernel_shape").ints)
                == [3, 3]][-1]
        _attribute(conv, "dilations").ints[:] = [2, 2]
        _attribute(conv, "pads").ints[:] = [2, 2, 2, 2]

    report = zoo.edited("face", "dilation", dilated)
    hint = exact_hint(report, "attribute_mismatch")
    assert hint.node == first(report)
    assert "dilation: A (pytorch)" in hint.message and "(1, 1), B (onnxrt)" in hint.message
    assert "(2, 2)" in hint.message


def test_mobilenet_depthwise_expanded_without_groups(zoo):
    """A converter for a runtime without depthwise convolution expands it to a dense one,
    tiling each filter over every input channel instead of the diagonal."""
    from onnx import numpy_helper

    def dense(model):
        conv = next(n for n in _nodes(model, "Conv") if _attribute(n, "group").i > 1)
        weight = next(i for i in model.graph.initializer if i.name == conv.input[1])
        tiled = np.repeat(numpy_helper.to_array(weight), _attribute(conv, "group").i, axis=1)
        weight.CopyFrom(numpy_helper.from_array(tiled, weight.name))
        _attribute(conv, "group").i = 1

    report = zoo.edited("mobilenet_v2", "groups", dense)
    hint = exact_hint(report, "attribute_mismatch")
    assert hint.node == first(report) == "model.mobilenet_v2.conv_stem.conv_3x3.convolution"
    assert "groups: A (pytorch)" in hint.message and " 8, B (onnxrt)" in hint.message
    assert "set `group` of node" in hint.message and "to 8" in hint.message


def test_segformer_resize_sizes_baked_for_another_input(zoo):
    """The decode head resizes every stage to the first one's size; the converter baked
    the sizes of a 64-pixel input."""
    from onnx import numpy_helper

    def baked(model):
        for node in _nodes(model, "Resize"):
            name = f"{node.name}_baked_sizes"
            model.graph.initializer.append(numpy_helper.from_array(
                np.array([1, 16, 16, 16], np.int64), name))
            node.input[3] = name

    report = zoo.edited("segformer", "sizes", baked)
    hint = report.hints[0]
    assert {h.code for h in report.hints} == {"resize_size"}
    assert hint.node == first(report) == "model.decode_head/upsample_bilinear2d"
    assert "sizes: A (pytorch) `model.decode_head/upsample_bilinear2d` (8, 8), B (onnxrt) " \
           "`/model/decode_head/Resize` (16, 16)" in hint.message


def _linear_bn_folded(eps: float | None) -> Callable[[nn.Module], nn.Module]:
    def fold(model: nn.Module) -> nn.Module:
        from torch.nn.utils.fusion import fuse_linear_bn_eval

        model = copy.deepcopy(model)
        if eps is not None:
            model.features.eps = eps
        model.fc = fuse_linear_bn_eval(model.fc, model.features)
        model.features = nn.Identity()
        return model

    return fold


def test_linear_batchnorm_fold_is_quiet_when_right(zoo):
    report = zoo.compare("face", "linear_fold", _linear_bn_folded(None))
    assert report.ok and not report.hints


def test_linear_batchnorm_folded_with_the_default_eps(zoo):
    report = zoo.compare("face", "linear_fold_eps", _linear_bn_folded(1e-5))
    hint = exact_hint(report, "bn_eps_mismatch")
    assert hint.node == first(report) == "features"
    assert "A's `features` uses 0.001, while B's `/fc/Gemm` has it folded in with eps 1e-05" \
        in hint.message
    assert np.allclose(hint.evidence["eps_per_channel"], 1e-5, rtol=1e-2)


@pytest.fixture(scope="session")
def mobilenet_int8(zoo) -> dict[str, Path]:
    """MobileNetV2 (BatchNorm folded) and its int8 QDQ quantization by onnxruntime's
    quantizer, calibrated on four seeded images; a copy with one activation scale 0.3x."""
    import onnx
    from onnx import numpy_helper
    from onnxruntime import quantization

    model, _, _ = zoo.original("mobilenet_v2")
    source = zoo.converted("mobilenet_v2", "float", model, fold=True)

    class Calibration(quantization.CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"input": np.random.default_rng(seed).standard_normal(
                (1, 3, 32, 32)).astype(np.float32)} for seed in range(4)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    int8 = zoo.folder / "mobilenet_v2-int8.onnx"
    quantization.quantize_static(
        str(source), str(int8), Calibration(), quant_format=quantization.QuantFormat.QDQ,
        activation_type=quantization.QuantType.QInt8, weight_type=quantization.QuantType.QInt8)
    proto = onnx.load(str(int8))
    produced = {out: node for node in proto.graph.node for out in node.output}
    after_conv = [n for n in _nodes(proto, "QuantizeLinear")
                  if n.input[0] in produced and produced[n.input[0]].op_type == "Conv"]
    scale = next(i for i in proto.graph.initializer if i.name == after_conv[1].input[1])
    scale.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(scale) * np.float32(0.3),
                                           scale.name))
    narrow = zoo.folder / "mobilenet_v2-int8-narrow.onnx"
    onnx.save(proto, str(narrow))
    return {"float": source, "int8": int8, "narrow": narrow}


def test_int8_quantization_is_quiet_when_right(mobilenet_int8):
    report = parity.compare(mobilenet_int8["float"], mobilenet_int8["int8"], seed=0)
    assert report.ok and not report.hints


def test_int8_scale_too_small_saturates(mobilenet_int8):
    report = parity.compare(mobilenet_int8["float"], mobilenet_int8["narrow"], seed=0)
    hint = exact_hint(report, "quant_saturation")
    assert hint.node == first(report) == "/model/mobilenet_v2/conv_stem/conv_3x3/activation/Clip"
    assert "is quantized (step 0.00" in hint.message and "values are clipped" in hint.message
    assert hint.evidence["range"][0] == 0.0 and hint.evidence["float_range"][1] > (
        hint.evidence["range"][1] * 2)
