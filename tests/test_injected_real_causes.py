"""Injected bugs on the real-model corpus for the causes tests/test_injected_real.py does not
reach: each found at its layer and named by its cause, with the differing values.

torch -> ONNX (``realmodels.bugs.CAUSE_BUGS``): ResNet folded with other running statistics
and exported in training mode, ResNet through a float16 pass, EfficientNet's TF SAME pad on
the wrong side, PoolFormer's average pool counting its padding, SegFormer's decode-head
resize as nearest and with align_corners, its 1x1 classifier converted to a dense layer
over the channels-last tensor (its output left NHWC) and its output transposed to NHWC
after the last layer, Swin's patch merging concatenated along the height instead of the
channels, LeViT's attention biases and BLOOM's ALiBi slopes (legacy and dynamo exports)
with their heads reversed, LLaMA's RMSNorm eps (an Add before the rsqrt), its attention
scale (1/d for 1/sqrt(d), legacy and dynamo exports) and softmax axis, T5's RMSNorm eps,
LLaMA's up-projection weights and ResNet's folded statistics against a torch.export
program, a Wav2Vec2 Conv1d's weights, Phi-3's attention out-projection weights against its
dynamo export (past both layers' rotary embeddings), Gemma 2's attention soft-cap divided
by another number, MPT's ALiBi slopes with their heads reversed, Qwen2's rotary base (1e6
for 1e4), Mixtral's router weights and one expert's stacked weights, a Falcon and an OPT
MLP linear's weights, one channel
of a ResNet convolution mirrored in an OpenVINO IR whose weights are compressed to f16 and
LLaMA's attention scale (1/d) in one; GPT-2 with massive MLP activations through
onnxruntime's float16 converter (an overflow). MXNet -> Caffe: VGG-11's first dense layer
with its weight columns in H,W,C order, and the Caffe side fed the image without the mean
subtraction. Caffe -> PyTorch (ResNet-18, tests/realmodels/caffe_torch.py): the converted
model traced with its stem's BatchNorm in training mode, and with its first convolution's
input channels reversed.
Each must exit 1 (``report.ok`` False) with ``first_divergence`` exactly the injected
layer, no pair before it failed, the cause's hint code at that layer and the differing
values in its message. The correct pairs of the same models are quiet
(tests/test_real_corpus.py, and here for the Caffe -> PyTorch conversion and the
massive-activation GPT-2 in float32).
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import pytest

from conftest import FIXTURES

torch = pytest.importorskip("torch", reason="parity[torch] not installed")
pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")
pytest.importorskip("transformers", reason="the test extra (transformers) is not installed")

from realmodels import MODELS  # noqa: E402
from realmodels.bugs import CAUSE_BUGS, replay_at_first_divergence  # noqa: E402
from realmodels.summary import SummaryTable  # noqa: E402

import parity  # noqa: E402

pytestmark = pytest.mark.slow

# bug -> (hint code at the injected layer, fragments its message must hold, compare options)
CAUSES: dict[str, tuple[str, tuple[str, ...], dict[str, Any]]] = {
    "resnet-bn-stats": ("bn_stats_differ", (
        "was folded with other running statistics", "variance in channel(s) 3",
        "folded vs"), {}),
    "resnet-train-mode": ("train_mode", (
        "B ran `/model/resnet/embedder/embedder/normalization/BatchNormalization` with batch "
        "statistics", "model.eval()"), {}),
    # float16 rounding passes the default bound; at a float32 tolerance it is named as such
    "resnet-float16": ("precision", (
        "B computes in float16 where A uses float32", "--atol"), {"atol": 1e-5, "rtol": 1e-5}),
    "efficientnet-pad-placement": ("pad_placement", (
        "pads (top, left, bottom, right)", "`model.efficientnet.embeddings.padding` (0, 0, 1, 1)",
        "`/model/efficientnet/embeddings/padding/Pad` (1, 1, 0, 0)"), {}),
    "poolformer-count-pad": ("pool_padding", (
        "count_include_pad: A (pytorch) `model.poolformer.encoder.0.pooling.pool` False",
        "AveragePool` True"), {}),
    "segformer-resize-nearest": ("resize_mode", (
        "resize mode: A (pytorch) `model.decode_head/upsample_bilinear2d:1` bilinear",
        "`/model/decode_head/Resize_1` nearest"), {}),
    "segformer-resize-align-corners": ("resize_mode", (
        "coordinate mapping: A (pytorch) `model.decode_head/upsample_bilinear2d:1` half_pixel",
        "`/model/decode_head/Resize_1` align_corners"), {}),
    "mx_vgg11-flatten-order": ("flatten_order", (
        "B's `vgg0_dense0_fwd` weights expect the input flattened as H,W,C",
        "arrives C,H,W (C=64, H=2, W=2)"), {}),
    "swin-concat-axis": ("axis_mismatch", (
        "axis: A (pytorch) `model.swin.encoder.0.downsample/cat` -1",
        "`/model/swin/encoder/layers.0/downsample/Concat` 1"), {}),
    "segformer-output-nhwc": ("layout", (
        "A's `model.decode_head.classifier` is NCHW 1x4x8x8",
        "`/model/decode_head/classifier/dense/Add` is NHWC 1x8x8x4"), {}),
    # RMSNorm spelled out: its eps is the Add before the rsqrt (Sqrt + Div in ONNX)
    "llama-rmsnorm-eps": ("norm_eps_mismatch", (
        "adds 1e-06 in A where B's `/model/layers.1/post_attention_layernorm/Add` adds 0.0001",
        "the eps of the normalisation"), {}),
    # the attention scale 1/d for 1/sqrt(d): SDPA's scale argument against the exporters'
    # decomposition, which splits it between q and k (a Mul by sqrt(scale) on each)
    "llama-attention-scale": ("attribute_mismatch", (
        "scales its attention scores (q.k) by 0.3536 (1/sqrt(d), d=8) in A (its scale argument)",
        "scales them by 0.125 (1/d, d=8)", "`/model/layers.0/self_attn/Mul_6`"), {}),
    "llama-attention-scale-dynamo": ("attribute_mismatch", (
        "by 0.3536 (1/sqrt(d), d=8) in A", "`node_scaled_dot_product_attention` scales them by "
        "0.125 (1/d, d=8)"), {}),
    # a constant tensor added (no module holds it: a gather of a parameter, an initializer)
    "levit-attention-bias-heads": ("weights_differ", (
        "`model.levit.encoder.0.0.module/add` adds a constant tensor that B's "
        "`/model/levit/encoder/stages.0/layers.0/module/Add` does not match",
        "B's tensor is A's with axis 1 in reverse order"), {}),
    # one slope per head times the positions: the input broadcast to the output's heads,
    # read through TorchScript's whole-axis slice and the legacy export's Cast to float
    "bloom-alibi-slopes-reversed": ("weights_differ", (
        "`model/mul:1` multiplies by a constant tensor that B's `/model/Mul_1` does not match",
        "0.25 in A vs 0.003906 in B", "B's tensor is A's with axis 1 in reverse order",
        "ALiBi slopes"), {}),
    # the dynamo export reads the mask itself where TorchScript casts it first (a no-op)
    "bloom-alibi-slopes-reversed-dynamo": ("weights_differ", (
        "B's `node_mul_1` does not match", "0.25 in A vs 0.003906 in B",
        "B's tensor is A's with axis 1 in reverse order"), {}),
    # a fused projection's pieces taken as (k, q, v): SDPA against the exporter's scores
    # MatMul, which reads the rotated key first
    "gpt_neox-query-key-swapped": ("operand_order", (
        "B's attention scores `/model/layers.1/attention/MatMul` multiply what A's "
        "`model.1.attention/cat:3` holds by what `model.1.attention/cat:2` holds",
        "the query and key are swapped"), {}),
    # the exporters' SDPA decomposition with its Softmax over the queries
    "llama-softmax-axis": ("axis_mismatch", (
        "B's `/model/layers.1/self_attn/Softmax` normalises the attention weights over axis -2",
        "over the keys (axis -1)"), {}),
    # T5's eps added to mean squares near 1, 1e-5 for 1e-6: read through float32 rounding
    "t5-rmsnorm-eps": ("norm_eps_mismatch", (
        "adds 1e-06 in A where B's `node_add_16` adds 1e-05", "the eps of the normalisation"),
        {}),
    # a Conv1d: its padding (1,) is ONNX's (1, 1), not a pads mismatch
    "wav2vec2-conv-weights": ("weights_differ", (
        "`model.feature_extractor.1.conv`: its input agrees but its parameters differ",), {}),
    # against a torch.export program, whose submodules are plain Modules (their tensors read
    # by the node's op): silent before
    "llama-up-proj-weights-pt2": ("weights_differ", (
        "`model.layers.1.mlp.up_proj`: its input agrees but its parameters differ",), {}),
    "phi3-o-proj-weights-dynamo": ("weights_differ", (
        "`model.1.self_attn.o_proj`: its input agrees but its parameters differ",), {}),
    "resnet-bn-stats-pt2": ("bn_stats_differ", (
        "was folded with other running statistics", "variance in channel(s) 3"), {}),
    # a Transpose appended after the last layer: only the models' outputs show it
    # the soft-cap's division, tanh(s / cap) * cap: one number each side
    "gemma2-softcap": ("attribute_mismatch", (
        "`model.1.self_attn/div` divides by 5 in A where B's `/model/layers.1/self_attn/Div` "
        "divides by 50",), {}),
    # MPT's ALiBi table, a constant added to the scores: its heads reversed
    "mpt-alibi-slopes-reversed": ("weights_differ", (
        "`model.0.attn/add` adds a constant tensor that B's `/model/blocks.0/attn/Add_1` "
        "does not match", "B's tensor is A's with axis 1 in reverse order"), {}),
    # the rotary cos table another base computes, multiplied into q
    "qwen2-rope-theta": ("weights_differ", (
        "`model.0.self_attn/mul` multiplies by a constant tensor that B's "
        "`/model/layers.0/self_attn/Mul` does not match",), {}),
    "mixtral-router-weights": ("weights_differ", (
        "`model.1.mlp.gate:1`: its input agrees but its parameters differ",), {}),
    # one expert of the batched experts' stacked weights, its rows gathered per token
    "mixtral-expert-weights": ("weights_differ", (
        "`model.1.mlp.experts/index`: its input agrees but its parameters differ",
        "in expert(s) (the entries of its first axis the index picks) 2)"), {}),
    "falcon-mlp-weights": ("weights_differ", (
        "`model.1.mlp.dense_h_to_4h`: its input agrees but its parameters differ",), {}),
    "opt-fc1-weights": ("weights_differ", (
        "`model.decoder.1.fc1`: its input agrees but its parameters differ",), {}),
    "segformer-output-transposed": ("layout", (
        "A's `model.decode_head.classifier` is NCHW 1x4x8x8",
        "`/output/Transpose` is NHWC 1x8x8x4",
        "B hands its output back in the other layout: transpose it back (perm (0, 3, 1, 2))"),
        {}),
    # OpenVINO's attention op reads its scale as an input
    "llama-attention-scale-openvino": ("attribute_mismatch", (
        "by 0.3536 (1/sqrt(d), d=8) in A (its scale argument)",
        "scales them by 0.125 (1/d, d=8) (its scale argument)"), {}),
    # an IR with its weights compressed to f16: the rounding is no difference, the one
    # channel's mirrored kernel is
    "resnet-conv-channel-openvino": ("weights_differ", (
        "are not the re-folded filters", "in output channel(s) 3)"), {}),
    # through litert-torch's TFLite: the eps is the ADD before the RSQRT, the weights a
    # FULLY_CONNECTED's
    "llama-rmsnorm-eps-tflite": ("norm_eps_mismatch", (
        "adds 1e-06 in A where B's", "adds 0.0001", "the eps of the normalisation"), {}),
    "bert-ffn-weights-tflite": ("weights_differ", (
        "`model.encoder.1.intermediate.dense`: its input agrees but its parameters differ",),
        {}),
}


@pytest.fixture(scope="session")
def cause_table(tmp_path_factory: pytest.TempPathFactory,
                pytestconfig: pytest.Config) -> SummaryTable:
    return SummaryTable.register(
        pytestconfig, tmp_path_factory.getbasetemp(), "injected-causes",
        "parity injected causes on the real-model corpus",
        ["bug", "A -> B", "first divergence", "hints there", "replay", "message excerpt"])


def _assert_named(report: parity.Report, bug: str, pair: str, layer: str, code: str,
                  fragments: tuple[str, ...], table: SummaryTable) -> None:
    first = report.first_divergence
    hints = [h for h in report.hints if first is not None and h.node == first.a]
    replay = replay_at_first_divergence(report)
    table.add(bug, pair, f"{first.a} ~ {first.b}" if first else "-",
              ", ".join(h.code for h in hints) or "-", replay,
              hints[0].message[:90].replace("|", "/") if hints else "-")
    assert not report.ok and first is not None, "no divergence found"
    assert first.a == layer, f"first divergence {first.a} ~ {first.b}"
    before = report.pairs[:report.pairs.index(first)]
    assert not any(pair.failed for pair in before)
    assert [h.code for h in hints] == [code], report.hints
    for fragment in fragments:
        assert fragment in hints[0].message, hints[0].message
    assert replay in ("own_math", "-"), f"the replay at the injected layer says {replay}"


@pytest.mark.parametrize("bug_id", list(CAUSES))
def test_an_injected_cause_is_named_at_its_layer(bug_id: str, real_corpus: Any,
                                                 cause_table: SummaryTable) -> None:
    bug = CAUSE_BUGS[bug_id]
    code, fragments, options = CAUSES[bug_id]
    if MODELS[bug.model].framework == "mxnet":
        pytest.importorskip("parity.backends.mxnet_symbol", reason="parity[mxnet] not installed")
        pytest.importorskip("cv2", reason="parity[caffe] (OpenCV) not installed")
    report = parity.compare(real_corpus.export(bug.model, bug.reference),
                            real_corpus.export_bug(bug_id),
                            inputs=real_corpus.inputs(bug.model, pixels=bug.pixels), **options)
    _assert_named(report, bug_id, f"{bug.reference} -> {bug.form}", bug.layer, code,
                  fragments, cause_table)


def test_every_cause_bug_is_asserted() -> None:
    assert set(CAUSES) == set(CAUSE_BUGS)


# -- MXNet -> Caffe: the image fed to the Caffe side without the mean subtraction -----------

_IMAGENET = {"mean": (123.675, 116.28, 103.53), "std": (58.395, 57.12, 57.375)}


def test_caffe_side_fed_without_the_mean(real_corpus: Any, cause_table: SummaryTable) -> None:
    pytest.importorskip("parity.backends.mxnet_symbol", reason="parity[mxnet] not installed")
    pytest.importorskip("cv2", reason="parity[caffe] (OpenCV) not installed")
    report = parity.compare(real_corpus.export("mx_resnet18", "mxnet"),
                            real_corpus.export("mx_resnet18", "caffe"),
                            image=FIXTURES / "face.jpg", preprocess_a=_IMAGENET,
                            preprocess_b={"mean": (0.0,), "std": _IMAGENET["std"]})
    # B = A + mean / std per channel: 123.675 / 58.395 = 2.118, ...
    _assert_named(report, "mx_resnet18-no-mean", "mxnet -> caffe", "data", "input_normalization",
                  ("1x+2.118", "1x+2.036", "1x+1.804"), cause_table)


# -- Caffe -> PyTorch: mistakes in the converted ResNet-18 ----------------------------------


@pytest.fixture(scope="module")
def caffe_route(real_corpus: Any) -> tuple[Any, Any, Any]:
    """The corpus's Caffe ResNet-18 (opened), its input and its PyTorch conversion."""
    pytest.importorskip("parity.backends.mxnet_symbol", reason="parity[mxnet] not installed")
    pytest.importorskip("cv2", reason="parity[caffe] (OpenCV) not installed")
    from realmodels.caffe_torch import from_caffe

    caffe = parity.open_model(real_corpus.export("mx_resnet18", "caffe"))
    return caffe, real_corpus.inputs("mx_resnet18")["data"], from_caffe(caffe)


_STEM = "model.resnet.embedder.embedder."


def _stem_norm_training(model: Any) -> None:
    """The stem's BatchNorm left in training mode (as when a converter swaps that module in
    after ``model.eval()``; the whole model cannot train at 32 px, its last BatchNorms see
    one value per channel)."""
    model.get_submodule(f"{_STEM}normalization").train()


def _stem_conv_bgr(model: Any) -> None:
    """The first convolution's input channels reversed (Caffe's BGR weights taken for RGB)."""
    conv = model.get_submodule(f"{_STEM}convolution")
    conv.weight.copy_(conv.weight.flip(1))


# mistake -> (change to the converted model, layer found, code, message fragments)
CAFFE_TORCH = {
    "train-bn": (_stem_norm_training, "resnetv10_batchnorm0_fwd_scale", "train_mode",
                 ("B ran `model.resnet.embedder.embedder.normalization` with batch statistics",
                  "model.eval()")),
    "bgr-weights": (_stem_conv_bgr, "resnetv10_conv0_fwd", "channel_order",
                    ("first convolution's weights have their input channels reversed in B",
                     "`model.resnet.embedder.embedder.convolution`")),
}


def _traced(model: Any, example: Any, path: Path, change: Any = None) -> Path:
    """``model`` with ``change`` applied, traced to TorchScript."""
    model = copy.deepcopy(model).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if change is not None:
            change(model)
        torch.jit.save(torch.jit.trace(model, torch.from_numpy(example)), str(path))
    return path


def test_caffe_to_torch_correct_conversion_is_quiet(caffe_route, tmp_path) -> None:
    caffe, example, model = caffe_route
    report = parity.compare(caffe, _traced(model, example, tmp_path / "eval.pt"),
                            inputs=example)
    assert report.ok and not report.hints, (report.first_divergence, report.hints)


@pytest.mark.parametrize("mistake", list(CAFFE_TORCH))
def test_caffe_to_torch_mistake_is_named(mistake: str, caffe_route, tmp_path,
                                         cause_table: SummaryTable) -> None:
    caffe, example, model = caffe_route
    change, layer, code, fragments = CAFFE_TORCH[mistake]
    report = parity.compare(caffe, _traced(model, example, tmp_path / "b.pt", change),
                            inputs=example)
    _assert_named(report, f"resnet18-caffe-torch-{mistake}", "caffe -> pt", layer, code,
                  fragments, cause_table)


# -- torch -> ONNX float16: GPT-2 whose MLP activations pass float16's range ----------------


def _massive_mlp(model: Any, scale: float = 2e4) -> Any:
    """GPT-2's first MLP with its hidden activations ``scale`` times larger and its
    projection as much smaller: a valid float32 model (the "massive activations" of large
    language models) whose GELU ``x ** 3`` passes 65504."""
    mlp = model.model.h[0].mlp
    with torch.no_grad():
        mlp.c_fc.weight.mul_(scale)
        mlp.c_fc.bias.mul_(scale)
        mlp.c_proj.weight.div_(scale)
    return model


@pytest.fixture(scope="module")
def massive_gpt2(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    """The massive-activation GPT-2 as TorchScript and as legacy ONNX, and its input."""
    import realmodels
    from realmodels import torch_forms

    folder = tmp_path_factory.mktemp("massive-gpt2")
    model, example = _massive_mlp(realmodels.build("gpt2")), realmodels.inputs("gpt2")
    torch_forms.torchscript(copy.deepcopy(model), example, folder / "model.pt")
    torch_forms.onnx(model, example, folder / "model.onnx", dynamo=False)
    return folder / "model.pt", folder / "model.onnx", example


def test_massive_activations_pass_in_float32(massive_gpt2: tuple[Path, Path, Any]) -> None:
    script, onnx_file, example = massive_gpt2
    report = parity.compare(script, onnx_file, inputs=example)
    assert report.ok and not report.hints, (report.first_divergence, report.hints)


def test_a_float16_overflow_is_named(massive_gpt2: tuple[Path, Path, Any], tmp_path: Path,
                                     cause_table: SummaryTable) -> None:
    """onnxruntime's float16 converter (inputs and outputs kept float32): B's GELU Pow
    overflows to inf where A's values reach ~1e11."""
    from realmodels.onnx_edits import to_float16

    script, onnx_file, example = massive_gpt2
    report = parity.compare(script, to_float16(onnx_file, tmp_path / "half.onnx"),
                            inputs=example)
    _assert_named(report, "gpt2-float16-overflow", "pt -> onnx float16", "model.0.mlp.act:1",
                  "float_overflow", (
                      "B computes in float16 and overflows at `/model/h.0/mlp/act/Pow`",
                      "beyond float16's largest finite value 65504"), cause_table)
    assert report.hints[0].evidence["beyond_range"] == report.hints[0].evidence["non_finite"]
