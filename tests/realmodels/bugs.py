"""Injected conversion bugs on corpus models, each with the one layer where it must be found.

A bug is a correct conversion with one thing changed the way a converter gets it wrong: a
copy of the torch model with one module's computation changed, then exported; or the
repository's MXNet->Caffe conversion with one layer of its output changed before it is
written. ``reference`` is the correct form it is compared against (side A) and ``layer``
the node of side A that must be the first divergence: the injected layer's own node, named
as TorchScript names it (ModuleList indices without their attribute: ``encoder.1.0``), or,
where the exporter folds the BatchNorm after an injected conv into it (the dynamo
exporter's optimiser does), the BatchNorm's node, the end of the folded pair.

``BUGS`` maps a bug id to its :class:`Bug`; :func:`realmodels.export_bug` writes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Bug:
    """One injected bug: ``model`` in ``form`` with ``inject`` applied, found at ``layer``.

    ``inject`` takes the torch module (and changes it in place) for torch forms, or the
    list of Caffe layer dicts for ``caffe``. ``shape`` says the bug changes the layer's
    output shape (found as a shape mismatch rather than by its error); ``pixels`` that it
    shows on 0-255 images only (normalised ones never reach it)."""

    model: str
    reference: str
    form: str
    layer: str
    inject: Callable[[Any], None]
    shape: bool = False
    pixels: bool = False


# -- torch: ViT's patch embedding and token concatenation --------------------------------------

def _patch_grid_transposed(model: Any) -> None:
    """Flatten order: the patch grid read column by column (an NHWC/NCHW mix-up)."""
    patches = model.model.vit.embeddings.patch_embeddings

    def forward(pixel_values: Any, interpolate_pos_encoding: bool = False) -> Any:
        return patches.projection(pixel_values).transpose(2, 3).flatten(2).transpose(1, 2)

    patches.forward = forward


def _class_token_last(model: Any) -> None:
    """Concat order: the class token appended after the patches instead of before them."""
    import torch

    embeddings = model.model.vit.embeddings

    def forward(pixel_values: Any, bool_masked_pos: Any = None,
                interpolate_pos_encoding: bool = False) -> Any:
        patches = embeddings.patch_embeddings(pixel_values)
        cls_tokens = embeddings.cls_token.expand(patches.shape[0], -1, -1)
        tokens = torch.cat((patches, cls_tokens), dim=1)
        return embeddings.dropout(tokens + embeddings.position_embeddings)

    embeddings.forward = forward


def _module_eps(path: str) -> Callable[[Any], None]:
    """BatchNorm eps 1e-5 exported as 1e-3."""
    def inject(model: Any) -> None:
        model.get_submodule(path).eps *= 100

    return inject


def _module_weights(path: str) -> Callable[[Any], None]:
    """One convolution's weights scaled by 1.05."""
    def inject(model: Any) -> None:
        import torch

        with torch.no_grad():
            model.get_submodule(path).weight.mul_(1.05)

    return inject


def _module_channels_reversed(path: str) -> Callable[[Any], None]:
    """RGB/BGR: the first convolution's input channels in reverse order."""
    def inject(model: Any) -> None:
        import torch

        conv = model.get_submodule(path)
        with torch.no_grad():
            conv.weight.copy_(conv.weight.flip(1))

    return inject


def _module_ceil_mode(path: str) -> Callable[[Any], None]:
    """Max pooling's output size rounded up instead of down."""
    def inject(model: Any) -> None:
        model.get_submodule(path).ceil_mode = True

    return inject


def _module_clip_lost(path: str) -> Callable[[Any], None]:
    """ReLU6 exported as plain ReLU."""
    def inject(model: Any) -> None:
        import torch

        parent, _, child = path.rpartition(".")
        setattr(model.get_submodule(parent), child, torch.nn.ReLU())

    return inject


# -- MXNet -> Caffe: one layer of the converter's output changed -------------------------------

def _layer(layers: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(layer for layer in layers if layer["name"] == name)


def _eps(name: str) -> Callable[[list[dict[str, Any]]], None]:
    """BatchNorm eps 1e-5 written as 1e-3."""
    def inject(layers: list[dict[str, Any]]) -> None:
        param = _layer(layers, name)["batch_norm_param"]
        _layer(layers, name)["batch_norm_param"] = {**param, "eps": param["eps"] * 100}

    return inject


def _weights(name: str) -> Callable[[list[dict[str, Any]]], None]:
    """One convolution's weights scaled by 1.05."""
    def inject(layers: list[dict[str, Any]]) -> None:
        blobs = _layer(layers, name)["blobs"]
        blobs[0] = (blobs[0] * 1.05).astype(np.float32)

    return inject


def _channels_reversed(name: str) -> Callable[[list[dict[str, Any]]], None]:
    """RGB/BGR: the first convolution's input channels in reverse order."""
    def inject(layers: list[dict[str, Any]]) -> None:
        blobs = _layer(layers, name)["blobs"]
        blobs[0] = np.ascontiguousarray(blobs[0][:, ::-1])

    return inject


def _ceil_mode(name: str) -> Callable[[list[dict[str, Any]]], None]:
    """Pooling output size rounded up (Caffe's default) where MXNet rounds down."""
    def inject(layers: list[dict[str, Any]]) -> None:
        layer = _layer(layers, name)
        layer["pooling_param"] = {**layer["pooling_param"], "round_mode": "CEIL"}

    return inject


def _bottoms_swapped(name: str) -> Callable[[list[dict[str, Any]]], None]:
    """Concat order: a dense layer's new features written before its input instead of after."""
    def inject(layers: list[dict[str, Any]]) -> None:
        layer = _layer(layers, name)
        layer["bottom"] = layer["bottom"][::-1]

    return inject


def _clip_lost(name: str) -> Callable[[list[dict[str, Any]]], None]:
    """ReLU6 written as plain ReLU (MMdnn's MobileNetV2 bug)."""
    def inject(layers: list[dict[str, Any]]) -> None:
        _layer(layers, name)["type"] = "ReLU"

    return inject


_R18 = "resnetv10_"
_MB2 = "mobilenetv20_features_"

_RES = "model.resnet."
_MOB = "model.mobilenet_v2."

BUGS: dict[str, Bug] = {
    "resnet-bn-eps": Bug("resnet", "pt", "onnx_dynamo",
                         f"{_RES}encoder.1.0.layer.1.normalization",
                         _module_eps(f"{_RES}encoder.stages.1.layers.0.layer.1.normalization")),
    "resnet-pool-ceil": Bug("resnet", "pt", "onnx_legacy", f"{_RES}embedder.pooler",
                            _module_ceil_mode(f"{_RES}embedder.pooler"), shape=True),
    "mobilenet_v2-depthwise-weights": Bug(
        "mobilenet_v2", "pt", "onnx_dynamo", f"{_MOB}2.conv_3x3.normalization",
        _module_weights(f"{_MOB}layer.2.conv_3x3.convolution")),
    "mobilenet_v2-clip-lost": Bug("mobilenet_v2", "pt", "onnx_legacy",
                                  f"{_MOB}conv_stem.first_conv.activation",
                                  _module_clip_lost(f"{_MOB}conv_stem.first_conv.activation"),
                                  pixels=True),
    "efficientnet-channel-order": Bug(
        "efficientnet", "pt", "onnx_dynamo", "model.efficientnet.embeddings.batchnorm",
        _module_channels_reversed("model.efficientnet.embeddings.convolution")),
    "vit-flatten-order": Bug("vit", "pt", "onnx_legacy",
                             "model.vit.embeddings.patch_embeddings/flatten",
                             _patch_grid_transposed),
    "vit-concat-order": Bug("vit", "pt", "onnx_legacy", "model.vit.embeddings/cat",
                            _class_token_last),
    "mx_resnet18-bn-eps": Bug("mx_resnet18", "mxnet", "caffe",
                              f"{_R18}stage2_batchnorm1_fwd", _eps(f"{_R18}stage2_batchnorm1_fwd")),
    "mx_resnet18-conv-weights": Bug("mx_resnet18", "mxnet", "caffe", f"{_R18}stage3_conv0_fwd",
                                    _weights(f"{_R18}stage3_conv0_fwd")),
    "mx_resnet18-pool-ceil": Bug("mx_resnet18", "mxnet", "caffe", f"{_R18}pool0_fwd",
                                 _ceil_mode(f"{_R18}pool0_fwd"), shape=True),
    "mx_resnet18-channel-order": Bug("mx_resnet18", "mxnet", "caffe", f"{_R18}conv0_fwd",
                                     _channels_reversed(f"{_R18}conv0_fwd")),
    "mx_mobilenet_v2-bn-eps": Bug("mx_mobilenet_v2", "mxnet", "caffe",
                                  f"{_MB2}linearbottleneck5_batchnorm1_fwd",
                                  _eps(f"{_MB2}linearbottleneck5_batchnorm1_fwd")),
    "mx_mobilenet_v2-depthwise-weights": Bug(
        "mx_mobilenet_v2", "mxnet", "caffe", f"{_MB2}linearbottleneck3_conv1_fwd",
        _weights(f"{_MB2}linearbottleneck3_conv1_fwd")),
    "mx_mobilenet_v2-channel-order": Bug("mx_mobilenet_v2", "mxnet", "caffe", f"{_MB2}conv0_fwd",
                                         _channels_reversed(f"{_MB2}conv0_fwd")),
    "mx_mobilenet_v2-clip-lost": Bug("mx_mobilenet_v2", "mxnet", "caffe",
                                     f"{_MB2}linearbottleneck0_relu60_relu6",
                                     _clip_lost(f"{_MB2}linearbottleneck0_relu60_relu6"),
                                     pixels=True),
    "mx_densenet121-concat-order": Bug("mx_densenet121", "mxnet", "caffe",
                                       "densenet0_stage2_concat3",
                                       _bottoms_swapped("densenet0_stage2_concat3")),
}
