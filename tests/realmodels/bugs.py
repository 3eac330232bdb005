"""Injected conversion bugs on corpus models, each with the one layer where it must be found.

A bug is a correct conversion with one thing changed the way a converter gets it wrong: a
copy of the torch model with one module's computation changed, then exported; or the
repository's MXNet->Caffe conversion with one layer of its output changed before it is
written. ``reference`` is the correct form it is compared against (side A) and ``layer``
the node of side A that must be the first divergence: the injected layer's own node, named
as TorchScript names it (ModuleList indices without their attribute: ``encoder.1.0``), or,
where the exporter folds the BatchNorm after an injected conv into it (the dynamo
exporter's optimiser does), the BatchNorm's node, the end of the folded pair.

``BUGS`` maps a bug id to its :class:`Bug` (tests/test_injected_real.py), ``CAUSE_BUGS``
those of the causes it does not reach (tests/test_injected_real_causes.py), ``ALL_BUGS``
both; :func:`realmodels.export_bug` writes any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Bug:
    """One injected bug: ``model`` in ``form`` with ``inject`` applied, found at ``layer``.

    ``inject`` takes the torch module (and changes it in place) for torch forms, or the
    list of Caffe layer dicts for ``caffe``. ``shape`` says the bug changes the layer's
    output shape (found as a shape mismatch rather than by its error); ``pixels`` that it
    shows on 0-255 images only (normalised ones never reach it). ``training`` exports the
    torch model in training mode (the legacy exporter's ``TrainingMode.TRAINING``, as when
    ``model.eval()`` was forgotten); ``edit`` rewrites the exported ONNX file in place (an
    :mod:`realmodels.onnx_edits` function, for a converter's pass after the export)."""

    model: str
    reference: str
    form: str
    layer: str
    inject: Callable[[Any], None]
    shape: bool = False
    pixels: bool = False
    training: bool = False
    edit: Callable[[Path], object] | None = None


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
    """One convolution's (or linear layer's) weights scaled by 1.05."""
    def inject(model: Any) -> None:
        import torch

        with torch.no_grad():
            model.get_submodule(path).weight.mul_(1.05)

    return inject


def _expert_weights(path: str, expert: int) -> Callable[[Any], None]:
    """One expert's weights scaled by 1.05 in a stacked [experts, out, in] parameter (a
    mixture-of-experts layer whose experts run batched)."""
    def inject(model: Any) -> None:
        import torch

        with torch.no_grad():
            getattr(model.get_submodule(path.rpartition(".")[0]),
                    path.rpartition(".")[2])[expert].mul_(1.05)

    return inject


def _module_kernel_flipped(path: str, channel: int) -> Callable[[Any], None]:
    """One output channel of a convolution with its kernel mirrored left to right (a
    correlation converted as a convolution, in one channel)."""
    def inject(model: Any) -> None:
        import torch

        with torch.no_grad():
            weight = model.get_submodule(path).weight
            weight[channel] = weight[channel].flip(-1)

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


def _rms_eps(path: str, eps: float) -> Callable[[Any], None]:
    """An RMSNorm's eps written as ``eps`` (LLaMA's 1e-6 as a converter's default)."""
    def inject(model: Any) -> None:
        model.get_submodule(path).variance_epsilon = eps

    return inject


def _attention_scale(power: float) -> Callable[[Any], None]:
    """Every LLaMA attention's scale written as ``head_dim ** power`` (``-1``: 1/d for
    1/sqrt(d)); it reaches ``scaled_dot_product_attention`` as its ``scale`` argument."""
    def inject(model: Any) -> None:
        for layer in model.model.layers:
            layer.self_attn.scaling = layer.self_attn.head_dim ** power

    return inject


def _query_key_swapped(path: str) -> Callable[[Any], None]:
    """A GPT-NeoX attention that takes its fused projection's pieces as (k, q, v): a
    converter that reads the q/k/v layout in another order. The pieces agree; the
    attention reads them the other way round (its scores transposed)."""
    def inject(model: Any) -> None:
        import torch

        attention = model.get_submodule(path)
        forward, chunk = attention.forward, torch.Tensor.chunk

        def swapped(tensor: Any, chunks: int, dim: int = 0) -> tuple:
            pieces = chunk(tensor, chunks, dim)
            return (pieces[1], pieces[0], *pieces[2:])

        def patched(*args: Any, **kwargs: Any) -> Any:
            torch.Tensor.chunk = swapped
            try:
                return forward(*args, **kwargs)
            finally:
                torch.Tensor.chunk = chunk

        attention.forward = patched

    return inject


def _attention_bias_heads_swapped(path: str) -> Callable[[Any], None]:
    """A LeViT attention's bias table with its heads in reverse order (a converter that
    reads the (heads, offsets) table the other way round)."""
    def inject(model: Any) -> None:
        import torch

        attention = model.get_submodule(path)
        with torch.no_grad():
            attention.attention_biases.copy_(attention.attention_biases.flip(0))
        attention.attention_bias_cache = {}

    return inject


def _alibi_slopes_reversed(model: Any) -> None:
    """BLOOM's ALiBi slope table with its heads in reverse order (a converter that writes
    the per-head slopes the other way round): the slopes are computed while tracing, so
    the export holds the flipped table as a constant."""
    from transformers.models.bloom import modeling_bloom

    bloom, slopes = model.model, modeling_bloom._get_alibi_slopes
    forward = bloom.forward

    def patched(*args: Any, **kwargs: Any) -> Any:
        modeling_bloom._get_alibi_slopes = lambda *a, **k: slopes(*a, **k).flip(0)
        try:
            return forward(*args, **kwargs)
        finally:
            modeling_bloom._get_alibi_slopes = slopes

    bloom.forward = patched


def _softcap(path: str, cap: float) -> Callable[[Any], None]:
    """A Gemma 2 attention's score soft-cap (``tanh(s / cap) * cap``) written as ``cap``
    (a converter that reads another config's value)."""
    def inject(model: Any) -> None:
        model.get_submodule(path).attn_logit_softcapping = cap

    return inject


def _mpt_alibi_slopes_reversed(model: Any) -> None:
    """MPT's ALiBi table with its heads in reverse order (a converter that writes the
    per-head slopes the other way round): built while tracing, a constant of the export."""
    mpt = model.model
    build = mpt.build_mpt_alibi_tensor

    def reversed_heads(*args: Any, **kwargs: Any) -> Any:
        return build(*args, **kwargs).flip(0)

    mpt.build_mpt_alibi_tensor = reversed_heads


def _rope_theta(theta: float) -> Callable[[Any], None]:
    """The rotary embeddings' base written as ``theta`` (the config's 1e4 as released
    Qwen2's 1e6): the inverse frequencies, a buffer the cos/sin tables are computed from."""
    def inject(model: Any) -> None:
        import torch

        rotary = model.model.rotary_emb
        dim = rotary.inv_freq.numel() * 2
        with torch.no_grad():
            rotary.inv_freq.copy_(1.0 / theta ** (torch.arange(0, dim, 2).float() / dim))
            rotary.original_inv_freq = rotary.inv_freq.clone()

    return inject


def _unchanged(model: Any) -> None:
    """Nothing changed in the model: the bug is in how it is exported or rewritten."""


def _module_stats(path: str, channel: int) -> Callable[[Any], None]:
    """One channel's BatchNorm running variance doubled (folded with other statistics)."""
    def inject(model: Any) -> None:
        import torch

        with torch.no_grad():
            model.get_submodule(path).running_var[channel] *= 2

    return inject


def _module_padding(path: str, padding: tuple[int, int, int, int]) -> Callable[[Any], None]:
    """A ZeroPad2d's (left, right, top, bottom) padding put on other sides (TF SAME's odd
    pixel before instead of after)."""
    def inject(model: Any) -> None:
        model.get_submodule(path).padding = padding

    return inject


def _module_count_pad(path: str) -> Callable[[Any], None]:
    """Average pooling that counts its zero padding (count_include_pad) where the model
    does not."""
    def inject(model: Any) -> None:
        model.get_submodule(path).count_include_pad = True

    return inject


def _resize_changed(path: str, **changes: Any) -> Callable[[Any], None]:
    """Every resize in module ``path`` that changes the size run with ``changes`` to
    ``interpolate``'s options (bilinear as nearest, align_corners flipped)."""
    def inject(model: Any) -> None:
        import torch

        module = model.get_submodule(path)
        original = module.forward

        def forward(*args: Any, **kwargs: Any) -> Any:
            interpolate = torch.nn.functional.interpolate

            def changed(x: Any, size: Any = None, **options: Any) -> Any:
                if size is not None and tuple(x.shape[2:]) != tuple(size):
                    options.update(changes)
                return interpolate(x, size=size, **options)

            torch.nn.functional.interpolate = changed
            try:
                return original(*args, **kwargs)
            finally:
                torch.nn.functional.interpolate = interpolate

        module.forward = forward

    return inject


def _conv1x1_channels_last(path: str) -> Callable[[Any], None]:
    """A 1x1 convolution converted to a dense layer over the channels-last tensor, its output
    left NHWC (the transpose back to NCHW missing): the model's output is channels-last."""
    def inject(model: Any) -> None:
        import torch

        conv = model.get_submodule(path)
        dense = torch.nn.Linear(conv.in_channels, conv.out_channels)
        with torch.no_grad():
            dense.weight.copy_(conv.weight.flatten(1))
            dense.bias.copy_(conv.bias)

        class ChannelsLast(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.dense = dense

            def forward(self, x: Any) -> Any:
                return self.dense(x.permute(0, 2, 3, 1))

        parent, _, child = path.rpartition(".")
        setattr(model.get_submodule(parent), child, ChannelsLast())

    return inject


def _patch_merging_axis(path: str, axis: int) -> Callable[[Any], None]:
    """Concat axis: Swin's patch merging concatenates its four interleaved sub-grids along
    ``axis`` instead of the channels; the view after it keeps the shape, not the values."""
    def inject(model: Any) -> None:
        import torch

        merging = model.get_submodule(path)

        def forward(input_feature: Any, input_dimensions: tuple[int, int]) -> Any:
            height, width = input_dimensions
            batch_size, _, num_channels = input_feature.shape
            grid = input_feature.view(batch_size, height, width, num_channels)
            merged = torch.cat([grid[:, row::2, col::2, :] for col in range(2)
                                for row in range(2)], dim=axis)
            return merging.reduction(merging.norm(
                merged.reshape(batch_size, -1, 4 * num_channels)))

        merging.forward = forward

    return inject


def _float16(path: Path) -> object:
    from .onnx_edits import to_float16

    return to_float16(path, path)


def _output_nhwc(path: Path) -> object:
    from .onnx_edits import output_to_nhwc

    return output_to_nhwc(path, path)


def _keys_softmax_on_queries(path: Path) -> object:
    from .onnx_edits import softmax_axis

    return softmax_axis(path, path, "/model/layers.1/self_attn/Softmax", -2)


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


def _columns_channels_last(name: str, chw: tuple[int, int, int]
                           ) -> Callable[[list[dict[str, Any]]], None]:
    """Flatten order: a dense layer's weight columns in H,W,C order (a converter that took
    the source for a channels-last framework) where the tensor arrives flattened C,H,W."""
    def inject(layers: list[dict[str, Any]]) -> None:
        blobs = _layer(layers, name)["blobs"]
        out = blobs[0].shape[0]
        hwc = blobs[0].reshape(out, *chw).transpose(0, 2, 3, 1).reshape(out, -1)
        blobs[0] = np.ascontiguousarray(hwc, dtype=np.float32)

    return inject


_R18 = "resnetv10_"
_MB2 = "mobilenetv20_features_"

_RES = "model.resnet."
_MOB = "model.mobilenet_v2."
_EFF = "model.efficientnet."
_SEG = "model.decode_head"

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

# Bugs of the causes tests/test_injected_real.py does not reach: each asserted with its hint
# in tests/test_injected_real_causes.py.
CAUSE_BUGS: dict[str, Bug] = {
    "resnet-bn-stats": Bug("resnet", "pt", "onnx_legacy",
                           f"{_RES}encoder.1.0.layer.0.normalization",
                           _module_stats(f"{_RES}encoder.stages.1.layers.0.layer.0.normalization",
                                         3)),
    "resnet-train-mode": Bug("resnet", "pt", "onnx_legacy",
                             f"{_RES}embedder.embedder.normalization", _unchanged,
                             training=True),
    "resnet-float16": Bug("resnet", "pt", "onnx_legacy",
                          f"{_RES}embedder.embedder.normalization", _unchanged, edit=_float16),
    "efficientnet-pad-placement": Bug("efficientnet", "pt", "onnx_legacy",
                                      f"{_EFF}embeddings.padding",
                                      _module_padding(f"{_EFF}embeddings.padding", (1, 0, 1, 0))),
    "poolformer-count-pad": Bug("poolformer", "pt", "onnx_legacy",
                                "model.poolformer.encoder.0.pooling.pool",
                                _module_count_pad("model.poolformer.encoder.block.0.0.pooling.pool")),
    "segformer-resize-nearest": Bug("segformer", "pt", "onnx_legacy",
                                    f"{_SEG}/upsample_bilinear2d:1",
                                    _resize_changed(_SEG, mode="nearest", align_corners=None)),
    "segformer-resize-align-corners": Bug("segformer", "pt", "onnx_legacy",
                                          f"{_SEG}/upsample_bilinear2d:1",
                                          _resize_changed(_SEG, align_corners=True)),
    "mx_vgg11-flatten-order": Bug("mx_vgg11", "mxnet", "caffe", "vgg0_dense0_fwd",
                                  _columns_channels_last("vgg0_dense0_fwd", (64, 2, 2))),
    "swin-concat-axis": Bug("swin", "pt", "onnx_legacy", "model.swin.encoder.0.downsample/cat",
                            _patch_merging_axis("model.swin.encoder.layers.0.downsample", 1)),
    "segformer-output-nhwc": Bug("segformer", "pt", "onnx_legacy", f"{_SEG}.classifier",
                                 _conv1x1_channels_last(f"{_SEG}.classifier")),
    "llama-rmsnorm-eps": Bug("llama", "pt", "onnx_legacy",
                             "model.1.post_attention_layernorm:3",
                             _rms_eps("model.layers.1.post_attention_layernorm", 1e-4)),
    "llama-attention-scale": Bug("llama", "pt", "onnx_legacy",
                                 "model.0.self_attn/scaled_dot_product_attention",
                                 _attention_scale(-1.0)),
    "llama-attention-scale-dynamo": Bug("llama", "pt2", "onnx_dynamo",
                                        "model.layers.0.self_attn/scaled_dot_product_attention",
                                        _attention_scale(-1.0)),
    "levit-attention-bias-heads": Bug(
        "levit", "pt", "onnx_legacy", "model.levit.encoder.0.0.module/add",
        _attention_bias_heads_swapped("model.levit.encoder.stages.0.layers.0.module")),
    # the slopes times the positions: TorchScript's ``mul:1`` (its second Mul in BLOOM's scope)
    "bloom-alibi-slopes-reversed": Bug("bloom", "pt", "onnx_legacy", "model/mul:1",
                                       _alibi_slopes_reversed),
    "bloom-alibi-slopes-reversed-dynamo": Bug("bloom", "pt", "onnx_dynamo", "model/mul:1",
                                              _alibi_slopes_reversed),
    "gpt_neox-query-key-swapped": Bug("gpt_neox", "pt", "onnx_legacy",
                                      "model.1.attention/scaled_dot_product_attention",
                                      _query_key_swapped("model.layers.1.attention")),
    "llama-softmax-axis": Bug("llama", "pt", "onnx_legacy",
                              "model.1.self_attn/scaled_dot_product_attention", _unchanged,
                              edit=_keys_softmax_on_queries),
    # T5's mean squares are near 1: its eps 1e-6 lands in float32 as 9.5e-7 or 1.01e-6
    "t5-rmsnorm-eps": Bug("t5", "pt", "onnx_dynamo", "model.encoder.1.1.layer_norm:3",
                          _rms_eps("model.encoder.block.1.layer.1.layer_norm", 1e-5)),
    "wav2vec2-conv-weights": Bug("wav2vec2", "pt", "onnx_legacy", "model.feature_extractor.1.conv",
                                 _module_weights("model.feature_extractor.conv_layers.1.conv")),
    # against torch.export: its submodules are plain Modules, the layer's tensors are read
    # by the node's op
    "llama-up-proj-weights-pt2": Bug("llama", "pt2", "onnx_dynamo", "model.layers.1.mlp.up_proj",
                                     _module_weights("model.layers.1.mlp.up_proj")),
    # after both layers' rotary embeddings, whose whole-head and empty slices TorchScript
    # computes and the dynamo export leaves out
    "phi3-o-proj-weights-dynamo": Bug("phi3", "pt", "onnx_dynamo", "model.1.self_attn.o_proj",
                                      _module_weights("model.layers.1.self_attn.o_proj")),
    "resnet-bn-stats-pt2": Bug("resnet", "pt2", "onnx_legacy",
                               f"{_RES}encoder.stages.1.layers.0.layer.0.normalization",
                               _module_stats(f"{_RES}encoder.stages.1.layers.0.layer.0.normalization",
                                             3)),
    "gemma2-softcap": Bug("gemma2", "pt", "onnx_legacy", "model.1.self_attn/div",
                          _softcap("model.layers.1.self_attn", 50.0)),
    "mpt-alibi-slopes-reversed": Bug("mpt", "pt", "onnx_legacy", "model.0.attn/add",
                                     _mpt_alibi_slopes_reversed),
    "qwen2-rope-theta": Bug("qwen2", "pt", "onnx_legacy", "model.0.self_attn/mul",
                            _rope_theta(1e6)),
    # the router's linear (the top-2 routing follows from it): its second op in TorchScript
    "mixtral-router-weights": Bug("mixtral", "pt", "onnx_legacy", "model.1.mlp.gate:1",
                                  _module_weights("model.layers.1.mlp.gate")),
    # one expert of the batched experts' gate/up projection: its rows gathered per token
    "mixtral-expert-weights": Bug("mixtral", "pt", "onnx_legacy", "model.1.mlp.experts/index",
                                  _expert_weights("model.layers.1.mlp.experts.gate_up_proj", 2)),
    "falcon-mlp-weights": Bug("falcon", "pt", "onnx_legacy", "model.1.mlp.dense_h_to_4h",
                              _module_weights("model.h.1.mlp.dense_h_to_4h")),
    "opt-fc1-weights": Bug("opt", "pt", "onnx_legacy", "model.decoder.1.fc1",
                           _module_weights("model.decoder.layers.1.fc1")),
    "segformer-output-transposed": Bug("segformer", "pt", "onnx_legacy", f"{_SEG}.classifier",
                                       _unchanged, shape=True, edit=_output_nhwc),
    # 1/d for 1/sqrt(d): OpenVINO's ScaledDotProductAttention takes it as its scale input
    "llama-attention-scale-openvino": Bug("llama", "pt", "openvino",
                                          "model.0.self_attn/scaled_dot_product_attention",
                                          _attention_scale(-1.0)),
    # through litert-torch's TFLite: RMSNorm spelled out as MUL(x, x) -> MEAN -> ADD -> RSQRT
    "llama-rmsnorm-eps-tflite": Bug("llama", "pt", "tflite",
                                    "model.1.post_attention_layernorm:3",
                                    _rms_eps("model.layers.1.post_attention_layernorm", 1e-4)),
    "bert-ffn-weights-tflite": Bug("bert", "pt", "tflite", "model.encoder.1.intermediate.dense",
                                   _module_weights("model.encoder.layer.1.intermediate.dense")),
    # an OpenVINO IR saved as users save it (weights compressed to f16), one channel wrong
    "resnet-conv-channel-openvino": Bug(
        "resnet", "pt", "openvino", f"{_RES}encoder.1.0.layer.0.normalization",
        _module_kernel_flipped(f"{_RES}encoder.stages.1.layers.0.layer.0.convolution", 3)),
}

ALL_BUGS: dict[str, Bug] = {**BUGS, **CAUSE_BUGS}


def replay_at_first_divergence(report: Any) -> str:
    """What the isolated replay says of the first divergence ("own_math", "received_error"),
    or "-" where no replay ran (a shape mismatch, an op no reference engine computes)."""
    first = report.first_divergence
    verdicts = {h.evidence["replay"]["verdict"] for h in report.hints
                if first is not None and h.node == first.a and "replay" in h.evidence}
    return ", ".join(sorted(verdicts)) or "-"
