"""How close noise and bug come under the numerics rule, on the real-model corpus.

For each corpus model, correct conversions (``.pt2`` against both ONNX exports, the two
exports against each other; the MXNet models against their ONNX and Caffe conversions):
the pairs compared and the largest error/bound ratio among the passing pairs (the closest
noise came to failing). Then one bug injected at a time into the dynamo ONNX export (a
BatchNorm or LayerNorm eps ×100, one conv's or linear's weights ×1.05, ReLU6 converted as
ReLU) or into the MXNet models' Caffe and ONNX conversions (the middle BatchNorm's eps
×100, the middle conv's weights ×1.05), and every bug of the corpus's own list
(``tests/realmodels/bugs.py``: flatten and concat order, MXNet->Caffe eps, weights, pool,
channel order, clip): where the first divergence is, its ratio, and the largest noise ratio
before it.

    python -m benchmarks.verdict_margins [--size small|full] [--cache DIR] [--part P]
        [--models resnet,bert,mx_densenet121]

``--size full`` is ResNet-50, BERT-base, DenseNet-121 and the others at full size
(224 px, 128 tokens); ``--models`` limits both tables to those models.

prints two markdown tables (docs/numerics.md quotes them).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import parity
from tests import realmodels
from tests.realmodels import torch_forms

CORRECT = {
    "torch": (("pt2", "onnx_legacy"), ("pt2", "onnx_dynamo"), ("onnx_legacy", "onnx_dynamo")),
    "mxnet": (("mxnet", "mx_onnx"), ("mxnet", "caffe"), ("mx_onnx", "caffe")),
}
MODELS = ("resnet", "mobilenet_v2", "efficientnet", "convnext", "vit", "levit", "bert",
          "roberta", "t5", "gpt2", "llama", "wav2vec2", "mx_resnet18", "mx_mobilenet_v2",
          "mx_densenet121")
_INPUT = {"image": "normalised", "tokens": "tokens", "audio": "waveform"}


def correct_rows(corpus: realmodels.Corpus, models: tuple[str, ...] = MODELS) -> list[str]:
    rows = []
    for name in models:
        model = realmodels.MODELS[name]
        for a, b in CORRECT[model.framework]:
            both = model.kind == "image" and (a, b) in (("pt2", "onnx_dynamo"),
                                                        ("mxnet", "caffe"))
            for pixels in (False, True) if both else (False,):
                report = parity.compare(corpus.export(name, a), corpus.export(name, b),
                                        inputs=realmodels.inputs(name, corpus.size,
                                                                 pixels=pixels))
                ratio, where = _largest(report.pairs)
                rows.append(f"| {name} | {a} vs {b} | {'0-255' if pixels else _INPUT[model.kind]} "
                            f"| {len(report.pairs)} | {'0' if report.ok else '1'} "
                            f"| {ratio:.2f} | {where} |")
    return rows


def _largest(pairs: Any) -> tuple[float, str]:
    judged = [(p.verdict.ratio, p.a) for p in pairs
              if p.verdict and p.verdict.ratio is not None and not p.failed]
    return max(judged, default=(0.0, "-"))


def _modules(model: Any, kind: str) -> list[tuple[str, Any]]:
    import torch.nn as nn

    types = {"norm": (nn.BatchNorm2d, nn.LayerNorm), "lnorm": (nn.LayerNorm,),
             "conv": (nn.Conv2d,), "linear": (nn.Linear,), "relu6": (nn.ReLU6,)}[kind]
    return [(n, m) for n, m in model.named_modules() if isinstance(m, types)]


def _eps(module: Any) -> None:
    module.eps *= 100


def _default_eps(module: Any) -> None:
    """A LayerNorm of eps 1e-12 (BERT, ViT) written with torch's default, 1e-5."""
    module.eps = 1e-5


def _weights(module: Any) -> None:
    import torch

    with torch.no_grad():
        module.weight.mul_(1.05)


def _relu(model: Any, name: str) -> None:
    import torch.nn as nn

    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, nn.ReLU())


BUGS: dict[str, tuple[str, str, Callable[..., None]]] = {
    "eps x100": ("norm", "module", _eps),
    "LayerNorm eps 1e-12 as 1e-5": ("lnorm", "module", _default_eps),
    "weights x1.05": ("conv", "module", _weights),
    "linear x1.05": ("linear", "module", _weights),
    "ReLU6 as ReLU": ("relu6", "model", _relu),
}
_APPLIES = {"norm": ("resnet", "mobilenet_v2", "efficientnet", "convnext", "vit", "bert",
                     "gpt2"),
            "conv": ("resnet", "mobilenet_v2", "efficientnet", "convnext"),
            "lnorm": ("vit", "bert"), "linear": ("vit", "bert"), "relu6": ("mobilenet_v2",)}


def bug_rows(corpus: realmodels.Corpus, folder: Path,
             models: tuple[str, ...] = MODELS) -> list[str]:
    rows = []
    for bug, (kind, target, mutate) in BUGS.items():
        for name in (m for m in _APPLIES[kind] if m in models):
            source = realmodels.build(name, corpus.size)
            candidates = _modules(source, kind)
            if not candidates:
                continue
            # the middle layer of its kind; the first ReLU6, which bright pixels reach
            layer = candidates[0 if kind == "relu6" else len(candidates) // 2][0]
            broken = copy.deepcopy(source)
            if target == "model":
                mutate(broken, layer)
            else:
                mutate(broken.get_submodule(layer))
            example = realmodels.inputs(name, corpus.size)
            path = folder / f"{name}-{kind}.onnx"
            torch_forms.onnx(broken, example, path, dynamo=True)
            inputs = realmodels.inputs(name, corpus.size, pixels=kind == "relu6")
            report = parity.compare(corpus.export(name, "pt2"), str(path), inputs=inputs)
            rows.append(_bug_row(name, bug, layer, report, folds=kind == "conv"))
            _remove(path)
    return rows


def mask_rows(corpus: realmodels.Corpus, folder: Path,
              models: tuple[str, ...] = MODELS) -> tuple[list[str], list[str]]:
    """BERT with its mask added as ``(1 - mask) * -1e4`` (eager attention): ``.pt2``
    against its dynamo export (a correct row), and against the export of a copy whose
    middle layer scales its attention scores by 1.05 too much (a bug row)."""
    if "bert" not in models:
        return [], []
    from tests.realmodels import torch_models

    model = torch_models.bert_additive_mask(corpus.size)
    example = realmodels.inputs("bert", corpus.size)
    source = torch_forms.exported(copy.deepcopy(model), example, folder / "mask.pt2")
    target = torch_forms.onnx(copy.deepcopy(model), example, folder / "mask.onnx", dynamo=True)
    report = parity.compare(str(source), str(target), inputs=example)
    ratio, where = _largest(report.pairs)
    masked = [p for p in report.pairs if p.metrics is not None and p.metrics.masked]
    correct = [f"| bert, mask -1e4 | pt2 vs onnx_dynamo | tokens, padded mask "
               f"| {len(report.pairs)} | {'0' if report.ok else '1'} | {ratio:.2f} "
               f"| {where} ({len(masked)} pairs with the fill left out) |"]
    _remove(target)
    layers = model.model.encoder.layer
    middle = len(layers) // 2
    layers[middle].attention.self.scaling *= 1.05
    broken = torch_forms.onnx(model, example, folder / "mask-bug.onnx", dynamo=True)
    report = parity.compare(str(source), str(broken), inputs=example)
    layer = f"model.encoder.layer.{middle}.attention.self/mul"
    bug = [_bug_row("bert, mask -1e4", "attention scores x1.05", layer, report, exact=True)]
    for path in (source, broken):
        _remove(path)
    return correct, bug


def _remove(path: Path) -> None:
    """A model file and its external data (full-size exports are large)."""
    for written in (path, path.with_name(path.name + ".data")):
        written.unlink(missing_ok=True)


def mxnet_bug_rows(corpus: realmodels.Corpus, folder: Path,
                   models: tuple[str, ...] = MODELS) -> list[str]:
    """The middle BatchNorm's eps x100 and the middle conv's weights x1.05, each in the
    Caffe and in the ONNX conversion of every MXNet model, compared with the MXNet model."""
    from tests.realmodels import bugs, mxnet_models

    rows = []
    for name in (m for m in models if realmodels.MODELS[m].framework == "mxnet"):
        symbol = Path(corpus.export(name, "mxnet"))
        nodes = json.loads(symbol.read_text())["nodes"]
        norm = _middle(nodes, "BatchNorm")
        conv = _middle(nodes, "Convolution")
        side = realmodels.image_size(name, corpus.size)
        inputs = corpus.inputs(name)
        for bug, layer, caffe_edit, onnx_edit in (
                ("eps x100", norm, bugs._eps(norm), _onnx_eps(norm)),
                ("weights x1.05", conv, bugs._weights(conv), _onnx_weights(conv))):
            tag = f"{name}-{bug.split()[0]}"
            caffe = mxnet_models.to_caffe(symbol, (1, 3, side, side),
                                          folder / f"{tag}.prototxt", inject=caffe_edit)
            onnx_path = onnx_edit(Path(corpus.export(name, "mx_onnx")), folder / f"{tag}.onnx")
            for form, path in (("caffe", caffe), ("mx_onnx", onnx_path)):
                report = parity.compare(str(symbol), str(path), inputs=inputs)
                rows.append(_bug_row(name, f"{form} {bug}", layer, report, exact=True))
    return rows


def _middle(nodes: list[dict[str, Any]], op: str) -> str:
    names = [n["name"] for n in nodes if n["op"] == op]
    return names[len(names) // 2]


def _onnx_eps(node_name: str) -> Callable[[Path, Path], Path]:
    """The BatchNormalization named ``node_name`` with epsilon x100."""
    def edit(source: Path, target: Path) -> Path:
        import onnx

        model = onnx.load(str(source))
        node = next(n for n in model.graph.node if node_name in (n.name, *n.output))
        for attribute in node.attribute:
            if attribute.name == "epsilon":
                attribute.f *= 100
        onnx.save(model, str(target))
        return target

    return edit


def _onnx_weights(node_name: str) -> Callable[[Path, Path], Path]:
    """The Conv whose output is ``node_name`` with its weight initializer x1.05."""
    def edit(source: Path, target: Path) -> Path:
        import onnx
        from onnx import numpy_helper

        model = onnx.load(str(source))
        node = next(n for n in model.graph.node if node_name in (n.name, *n.output))
        weight = next(t for t in model.graph.initializer if t.name == node.input[1])
        scaled = (numpy_helper.to_array(weight) * 1.05).astype(np.float32)
        weight.CopyFrom(numpy_helper.from_array(scaled, weight.name))
        onnx.save(model, str(target))
        return target

    return edit


def corpus_bug_rows(corpus: realmodels.Corpus, models: tuple[str, ...] = MODELS) -> list[str]:
    from tests.realmodels.bugs import BUGS as CORPUS_BUGS

    rows = []
    for bug_id, bug in CORPUS_BUGS.items():
        if bug.model not in models:
            continue
        try:
            report = parity.compare(corpus.export(bug.model, bug.reference),
                                    corpus.export_bug(bug_id),
                                    inputs=corpus.inputs(bug.model, pixels=bug.pixels))
        except parity.ParityError as exc:
            rows.append(f"| {bug.model} | {bug_id} | error: {exc} | | | |")
            continue
        rows.append(_bug_row(bug.model, bug_id, bug.layer, report, exact=True))
    return rows


def _bug_row(name: str, bug: str, layer: str, report: parity.Report,
             exact: bool = False, folds: bool = False) -> str:
    """``folds``: the bug is in a conv whose BatchNorm the exporter may fold into it; the
    pair is then the Conv + BatchNorm chain, named after the BatchNorm (its sibling)."""
    first = report.first_divergence
    if first is None:
        return f"| {name} | {bug} `{layer}` | missed (exit {0 if report.ok else 1}) | | | |"
    found = first.a == layer if exact else (_normal(first.a).endswith(_normal(layer))
                                            or _normal(layer) in _normal(first.a))
    folded = folds and not found and _parent(first.a) == _parent(layer) and \
        "norm" in first.a.rsplit(".", 1)[-1]
    before = report.pairs[:report.pairs.index(first)]
    noise, _ = _largest(before)
    ratio = first.verdict.ratio if first.verdict and first.verdict.ratio is not None else None
    shown = "shape" if ratio is None else f"{ratio:.3g}"
    margin = "" if ratio is None or not noise else f"{ratio / noise:.3g}"
    where = "yes" if found else "its Conv+BN pair" if folded else f"NO: {first.a} ({first.how})"
    return (f"| {name} | {bug} `{layer}` | {where} "
            f"| {shown} | {noise:.2f} | {margin} |")


def _parent(name: str) -> str:
    return _normal(name).rpartition(".")[0]


def _normal(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", ".", name.lower()).strip(".")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small", choices=("small", "full"))
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--part", default="all", choices=("all", "correct", "bugs"))
    parser.add_argument("--models", default=",".join(MODELS),
                        help="comma-separated corpus models of both tables")
    options = parser.parse_args()
    models = tuple(options.models.split(","))
    with tempfile.TemporaryDirectory() as scratch:
        cache = options.cache or Path(scratch) / "corpus"
        corpus = realmodels.Corpus(cache, options.size)
        masked, masked_bug = mask_rows(corpus, Path(scratch), models)
        if options.part in ("all", "correct"):
            print("| model | comparison | input | pairs | exit | largest ratio (noise) | at |")
            print("|---|---|---|---|---|---|---|")
            for row in [*correct_rows(corpus, models), *masked]:
                print(row, flush=True)
            print()
        if options.part == "correct":
            return
        print("| model | bug (layer) | first divergence there | its ratio "
              "| largest noise ratio before it | bug / noise |")
        print("|---|---|---|---|---|---|")
        for row in [*corpus_bug_rows(corpus, models), *bug_rows(corpus, Path(scratch), models),
                    *mxnet_bug_rows(corpus, Path(scratch), models), *masked_bug]:
            print(row, flush=True)


if __name__ == "__main__":
    main()
