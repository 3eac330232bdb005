"""The shared real-model corpus: real architectures, seeded random weights, every form.

Models come from ``transformers`` configs (BERT, RoBERTa, T5's encoder, GPT-2, LLaMA,
BLOOM, GPT-NeoX, Phi-3, CodeGen, Gemma 2, MPT, Qwen2, Mixtral (4 experts, top-2), Falcon, OPT, ViT,
ResNet, ConvNeXt, ConvNeXt V2, MobileNetV2, MobileViT, EfficientNet, Swin, SegFormer,
PoolFormer, LeViT, Wav2Vec2) and ``mxnet.gluon.model_zoo.vision`` (ResNet-18 v1,
MobileNetV2 1.0, DenseNet-121, VGG-11); nothing is downloaded. ``size="small"`` is for
tests (1-2 layers, tiny widths, 32 px images (64 px for LeViT and the MXNet MobileNetV2 and
VGG, 224 px for DenseNet-121, whose last pool is a fixed 7x7), 16 tokens, 800 audio
samples); ``size="full"`` for benchmarks (BERT-base, RoBERTa-base, t5-small's encoder,
GPT-2, a BERT-base-sized LLaMA, BLOOM, Phi-3, CodeGen, Gemma 2, MPT, Qwen2, Mixtral (8 experts) and
Falcon, opt-125m, pythia-160m's GPT-NeoX, wav2vec2-base on 1 s of audio, ViT-B/16,
ResNet-50, ConvNeXt-tiny, ConvNeXt V2-tiny, MobileNetV2, MobileViT-small, EfficientNet-B0,
Swin-tiny, SegFormer-B0, PoolFormer-S12, LeViT-128S at 224 px / 128 tokens, and the MXNet
models at 224 px); ``python -m tests.realmodels DIR --size full`` writes them to a folder.
BatchNorm statistics (and LeViT's attention biases) are randomised (seeded) so eps and the
bias tables matter; so are GPT-NeoX's, MPT's and Falcon's LayerNorms and Gemma 2's RMSNorms
(their ``1 + weight`` starts at 1). Gemma 2 runs eager attention (soft-capped scores, a
sliding window of 8 on layer 0); Mixtral's experts run batched
(``experts_implementation="batched_mm"``), routed by the traced input.

API (import as ``realmodels`` from tests, ``tests.realmodels`` from the repository root)::

    MODELS                      # name -> Model(framework, kind, forms)
    PAIRS                       # every correct (model, form_a, form_b) to compare
    build(name, size)           # the nn.Module (eval) or gluon HybridBlock
    inputs(name, size, pixels=False, seed=0, padding=None)   # {input name: array}
    export(name, form, size, cache_dir)    # -> model spec parity opens (str)
    export_bug(bug_id, size, cache_dir)    # an injected bug of bugs.ALL_BUGS, same
    inputs_file(name, size, cache_dir, ...)   # the inputs as an .npz (for --inputs)
    Corpus(cache_dir, size)     # export/export_bug/inputs/inputs_file bound to a cache, size

In tests use the session fixture ``real_corpus`` (a small-size :class:`Corpus` in the
session's temporary folder, from ``tests/conftest.py``)::

    def test_x(real_corpus):
        report = parity.compare(real_corpus.export("bert", "onnx_dynamo"),
                                real_corpus.export("bert", "pt"),
                                inputs=real_corpus.inputs("bert"))

Forms: ``pt`` (torch.jit.trace), ``pt2`` (torch.export), ``factory`` (``model.py:build``,
rebuilding the same seeded model), ``onnx_legacy`` (``torch.onnx.export(dynamo=False)``,
BatchNorm folded), ``onnx_dynamo`` (the default dynamo exporter), ``openvino``
(``openvino.convert_model`` + ``save_model``, weights compressed to f16), ``onnx2torch`` (the
third-party converter onnx2torch on the legacy export, traced to .pt; ViT, ResNet,
ConvNeXt, MobileNetV2 and Swin); for MXNet models
``mxnet`` (symbol JSON + params), ``mx_onnx`` (``mx.onnx.export_model``) and ``caffe``
(prototxt + caffemodel from the repository's MXNet->Caffe converter).

Inputs: images are ``(1, 3, S, S)`` float32, ImageNet-normalised, or 0..255 with
``pixels=True``; text models take int64 ``input_ids`` in ``[1, vocab)`` and an int64
``attention_mask`` whose last quarter is padding (0, and id 0 there); the speech model a
float32 waveform ``input_values`` (1, samples).

Every export is written once per ``cache_dir`` and reused; a process builds each model once.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from . import feeds


@dataclass(frozen=True)
class Model:
    """A corpus model: its framework (``torch``/``mxnet``), input kind and forms."""

    framework: str
    kind: str  # "image", "tokens" or "audio"
    forms: tuple[str, ...]


class Pair(NamedTuple):
    """A correct conversion to compare: model ``name``, ``a`` and ``b`` forms."""

    model: str
    a: str
    b: str

    @property
    def id(self) -> str:
        return f"{self.model}-{self.a}-{self.b}"


TORCH_FORMS = ("pt", "pt2", "factory", "onnx_legacy", "onnx_dynamo")
MXNET_FORMS = ("mxnet", "mx_onnx", "caffe")
# onnx2torch 1.5.15 converts these models' legacy exports; it lacks GreaterOrEqual-16 (BERT),
# LessOrEqual-16 (GPT-2) and auto_pad SAME_UPPER (EfficientNet's depthwise convs).
_ONNX2TORCH = ("vit", "resnet", "convnext", "mobilenet_v2", "swin")

MODELS: dict[str, Model] = {
    **{name: Model("torch", "tokens", TORCH_FORMS) for name in ("bert", "gpt2", "llama")},
    "roberta": Model("torch", "tokens", ("pt", "pt2", "onnx_legacy", "onnx_dynamo")),
    "t5": Model("torch", "tokens", ("pt", "pt2", "onnx_legacy", "onnx_dynamo")),
    "bloom": Model("torch", "tokens", ("pt", "onnx_legacy", "onnx_dynamo")),
    "gpt_neox": Model("torch", "tokens", ("pt", "pt2", "onnx_legacy", "onnx_dynamo")),
    # Phi-3's rotary slices cut the whole head and nothing (bounds computed at run time),
    # which the dynamo export does not write: aligned by the shapes they cut
    "phi3": Model("torch", "tokens", ("pt", "pt2", "onnx_legacy", "onnx_dynamo")),
    "codegen": Model("torch", "tokens", ("pt", "pt2", "onnx_legacy", "onnx_dynamo")),
    **{name: Model("torch", "tokens", TORCH_FORMS) for name in ("gemma2", "mpt", "qwen2",
                                                                 "mixtral", "falcon", "opt")},
    "wav2vec2": Model("torch", "audio", ("pt", "pt2", "onnx_legacy", "onnx_dynamo")),
    **{name: Model("torch", "image", TORCH_FORMS + ("onnx2torch",) * (name in _ONNX2TORCH))
       for name in ("vit", "resnet", "convnext", "mobilenet_v2", "efficientnet", "swin")},
    "levit": Model("torch", "image", ("pt", "pt2", "onnx_legacy", "onnx_dynamo")),
    # ConvNeXt V2 (global response norm) and MobileViT (attention over unfolded patches):
    # TorchScript and the legacy export, also run in OpenVINO (tests/test_deploy_realmodels.py)
    **{name: Model("torch", "image", ("pt", "onnx_legacy")) for name in ("convnextv2",
                                                                        "mobilevit")},
    # SegFormer (bilinear resizes in its decode head) and PoolFormer (padded average pools):
    # the ops the others lack, for injected bugs; TorchScript and the legacy export only.
    **{name: Model("torch", "image", ("pt", "onnx_legacy")) for name in ("segformer",
                                                                        "poolformer")},
    "mx_resnet18": Model("mxnet", "image", MXNET_FORMS),
    "mx_mobilenet_v2": Model("mxnet", "image", MXNET_FORMS),
    "mx_densenet121": Model("mxnet", "image", MXNET_FORMS),
    # VGG-11: the one corpus model whose dense layer reads a flattened map (2x2 at 64 px)
    "mx_vgg11": Model("mxnet", "image", ("mxnet", "caffe")),
}
# openvino.convert_model of the module, saved as users save it (weights compressed to f16).
# Not LeViT (OpenVINO cannot trace it) nor EfficientNet (its ceil-mode pooler, a kernel
# larger than the map, does not run on OpenVINO's CPU plugin).
MODELS.update({name: replace(model, forms=model.forms + ("openvino",))
               for name, model in MODELS.items()
               if model.framework == "torch" and name not in ("levit", "efficientnet")})

_TORCH_PAIRS = (("pt", "onnx_legacy"), ("pt", "onnx_dynamo"), ("pt2", "onnx_legacy"),
                ("pt2", "onnx_dynamo"), ("factory", "onnx_dynamo"),
                ("onnx_legacy", "onnx_dynamo"), ("onnx2torch", "onnx_legacy"),
                ("onnx2torch", "onnx_dynamo"), ("pt", "openvino"))
_MXNET_PAIRS = (("mxnet", "mx_onnx"), ("mxnet", "caffe"), ("mx_onnx", "caffe"))

PAIRS: list[Pair] = [
    Pair(name, a, b)
    for name, model in MODELS.items()
    for a, b in (_TORCH_PAIRS if model.framework == "torch" else _MXNET_PAIRS)
    if a in model.forms and b in model.forms
]


def build(name: str, size: str = "small") -> Any:
    """The model ``name`` at ``size``: an eval-mode ``nn.Module`` or a gluon HybridBlock."""
    if MODELS[name].framework == "torch":
        from . import torch_models

        return torch_models.build(name, size)
    from . import mxnet_models

    return mxnet_models.build(name, size, image_size(name, size))


def image_size(name: str, size: str = "small") -> int:
    """The side of the square images model ``name`` takes at ``size``.

    VGG-11 gets 64 px when small, so its dense head reads a 2x2 map, not a 1x1 one.
    LeViT gets 64 px when small: its stem's four stride-2 convolutions leave 4x4 tokens.
    The MXNet MobileNetV2 gets 64 px when small: at 32 px its last blocks run on 1x1 maps,
    where OpenCV DNN's depthwise 3x3 convolution (pad 1) is wrong (max-abs 0.03, cosine
    0.53 against MXNet and a numpy reference), a runtime bug, not a conversion's.
    DenseNet-121 ends in a fixed 7x7 average pool over its 1/32 map: 224 px at any size.
    """
    if size == "full" or name == "mx_densenet121":
        return 224
    return 64 if name in ("mx_mobilenet_v2", "mx_vgg11", "levit") else 32


# the full-size text models' vocabularies (LLaMA's is 32,000: GPT-2's ids would overrun it)
_FULL_VOCAB = {"bert": 30522, "roberta": 50265, "t5": 32128, "gpt2": 50257, "llama": 32000,
               "bloom": 250880, "gpt_neox": 50304, "phi3": 32064, "codegen": 51200,
               "gemma2": 32000, "mpt": 50432, "qwen2": 32000, "mixtral": 32000,
               "falcon": 65024, "opt": 50272}


def inputs(name: str, size: str = "small", *, pixels: bool = False, seed: int = 0,
           padding: int | None = None) -> dict[str, np.ndarray]:
    """Seeded inputs keyed by the model's input names (see the module docstring)."""
    model = MODELS[name]
    if model.kind == "tokens":
        length, vocab = (16, 100) if size == "small" else (128, _FULL_VOCAB[name])
        return feeds.tokens(length, vocab, padding=padding, seed=seed)
    if model.kind == "audio":  # 50 ms at 16 kHz small (39 frames), 1 s full
        return {"input_values": feeds.audio(800 if size == "small" else 16000, seed=seed)}
    key = "data" if model.framework == "mxnet" else "pixel_values"
    return {key: feeds.image(image_size(name, size), pixels=pixels, seed=seed)}


def inputs_file(name: str, size: str, cache_dir: str | Path, **options: Any) -> Path:
    """:func:`inputs` saved as ``.npz`` under ``cache_dir`` (options as :func:`inputs`)."""
    tag = "-".join(f"{k}{v}" for k, v in sorted(options.items())) or "default"
    path = Path(cache_dir) / size / name / f"inputs-{tag}.npz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **inputs(name, size, **options))
    return path


_BUILT: dict[tuple[str, str], Any] = {}


def export(name: str, form: str, size: str = "small", cache_dir: str | Path = ".") -> str:
    """Model ``name`` written in ``form`` under ``cache_dir`` (once); the spec parity opens."""
    model = MODELS[name]
    if form not in model.forms:
        raise ValueError(f"{name} has no form {form!r} (it has {', '.join(model.forms)})")
    folder = Path(cache_dir) / size / name
    folder.mkdir(parents=True, exist_ok=True)
    if model.framework == "torch":
        return _export_torch(name, form, size, folder)
    return _export_mxnet(name, form, size, folder)


def _built(name: str, size: str) -> Any:
    if (name, size) not in _BUILT:
        _BUILT[(name, size)] = build(name, size)
    return _BUILT[(name, size)]


def _export_torch(name: str, form: str, size: str, folder: Path) -> str:
    from . import torch_forms

    if form == "factory":
        return torch_forms.factory(name, size, folder / "model.py")
    target = folder / {"pt": "model.pt", "pt2": "model.pt2", "onnx_legacy": "legacy.onnx",
                       "onnx_dynamo": "dynamo.onnx", "onnx2torch": "onnx2torch.pt",
                       "openvino": "openvino.xml"}[form]
    if form == "onnx2torch" and not target.exists():
        from . import onnx2torch_form

        source = Path(_export_torch(name, "onnx_legacy", size, folder))
        onnx2torch_form.convert(source, inputs(name, size), target)
    elif not target.exists():
        # A fresh copy each time: tracing changes some models (Swin keeps a traced window
        # size as a tensor, and torch.export then fails on a data-dependent guard).
        model, example = copy.deepcopy(_built(name, size)), inputs(name, size)
        if form == "pt":
            torch_forms.torchscript(model, example, target)
        elif form == "pt2":
            torch_forms.exported(model, example, target)
        elif form == "openvino":
            torch_forms.openvino(model, example, target)
        else:
            torch_forms.onnx(model, example, target, dynamo=form == "onnx_dynamo")
    return str(target)


def export_bug(bug_id: str, size: str = "small", cache_dir: str | Path = ".") -> str:
    """The injected bug ``bug_id`` of :data:`realmodels.bugs.ALL_BUGS` written (once) under
    ``cache_dir``: its model in its form with the bug in; the spec parity opens."""
    from .bugs import ALL_BUGS

    bug = ALL_BUGS[bug_id]
    folder = Path(cache_dir) / size / bug.model / f"bug-{bug_id}"
    folder.mkdir(parents=True, exist_ok=True)
    if MODELS[bug.model].framework == "mxnet":
        from . import mxnet_models

        symbol = Path(export(bug.model, "mxnet", size, cache_dir))
        target = folder / "deploy.prototxt"
        if not target.exists():
            side = image_size(bug.model, size)
            mxnet_models.to_caffe(symbol, (1, 3, side, side), target, inject=bug.inject)
        return str(target)
    from . import torch_forms

    target = folder / (f"{bug.form}.onnx" if bug.form.startswith("onnx") else
                       {"openvino": "openvino.xml", "tflite": "model.tflite"}[bug.form])
    if not target.exists():
        model = copy.deepcopy(_built(bug.model, size))
        bug.inject(model)
        if bug.form in ("openvino", "tflite"):
            getattr(torch_forms, bug.form)(model, inputs(bug.model, size), target)
        else:
            torch_forms.onnx(model, inputs(bug.model, size), target,
                             dynamo=bug.form == "onnx_dynamo", training=bug.training)
        if bug.edit is not None:
            bug.edit(target)
    return str(target)


def _export_mxnet(name: str, form: str, size: str, folder: Path) -> str:
    from . import mxnet_models

    symbol = folder / "model-symbol.json"
    if not symbol.exists():
        mxnet_models.symbol(_built(name, size), folder / "model")
    side = image_size(name, size)
    shape = (1, 3, side, side)
    if form == "mxnet":
        return str(symbol)
    if form == "mx_onnx":
        target = folder / "model.onnx"
        if not target.exists():
            mxnet_models.to_onnx(symbol, shape, target)
        return str(target)
    target = folder / "deploy.prototxt"
    if not target.exists():
        mxnet_models.to_caffe(symbol, shape, target)
    return str(target)


class Corpus:
    """:func:`export` and :func:`inputs_file` bound to one cache folder and size."""

    def __init__(self, cache_dir: str | Path, size: str = "small") -> None:
        self.cache_dir = Path(cache_dir)
        self.size = size

    def export(self, name: str, form: str) -> str:
        return export(name, form, self.size, self.cache_dir)

    def inputs(self, name: str, **options: Any) -> dict[str, np.ndarray]:
        return inputs(name, self.size, **options)

    def export_bug(self, bug_id: str) -> str:
        return export_bug(bug_id, self.size, self.cache_dir)

    def inputs_file(self, name: str, **options: Any) -> Path:
        return inputs_file(name, self.size, self.cache_dir, **options)
