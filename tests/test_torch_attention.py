"""nn.MultiheadAttention as one op on the torch side (its module under torch.fx, TorchScript's
``aten::_native_multi_head_attention``, ``multi_head_attention_forward`` in an eager pass)
against both ONNX exports, which decompose it: the op pairs with the out-projection's
result, every form exits 0 with >= 95% of the nodes compared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="parity[torch] not installed")

import parity  # noqa: E402
from parity.ops import family  # noqa: E402

pytestmark = pytest.mark.slow

MODELS = '''
import torch


class Attention(torch.nn.Module):
    """A projection, batch-first self-attention (the fast path in eval), a residual."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.proj = torch.nn.Linear(16, 16)
        self.mha = torch.nn.MultiheadAttention(16, 2, batch_first=True)
        self.head = torch.nn.Linear(16, 4)

    def forward(self, x):
        y = self.proj(x)
        a, _ = self.mha(y, y, y, need_weights=False)
        return self.head(torch.relu(a + y))


class SequenceFirst(torch.nn.Module):
    """Sequence-first attention asked for its weights (never the fast path)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.mha = torch.nn.MultiheadAttention(16, 4)
        self.head = torch.nn.Linear(16, 4)

    def forward(self, x):
        a, weights = self.mha(x, x, x)
        return self.head(a * 2)


class Encoder(torch.nn.Module):
    """One nn.TransformerEncoderLayer (its fused fast path off while parity records)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.layer = torch.nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
        self.head = torch.nn.Linear(16, 4)

    def forward(self, x):
        return self.head(self.layer(x))


def _branching(cls):
    """The same model behind a data-dependent branch torch.fx cannot trace (eager pass)."""

    class Branching(cls):
        def forward(self, x):
            if x.abs().sum() >= 0:
                return super().forward(x)
            return x

    return Branching


def attention():
    return Attention().eval()


def attention_eager():
    return _branching(Attention)().eval()


def sequencefirst():
    return SequenceFirst().eval()


def sequencefirst_eager():
    return _branching(SequenceFirst)().eval()


def encoder():
    return Encoder().eval()


def encoder_eager():
    return _branching(Encoder)().eval()
'''

NAMES = ("Attention", "SequenceFirst", "Encoder")
# batch 2, 6 positions, width 16: no size coincides with another (q/k/v, scores, heads)
SHAPE = {"Attention": (2, 6, 16), "SequenceFirst": (6, 2, 16), "Encoder": (2, 6, 16)}


def _quiet_export(model: Any, x: Any, path: Path, **options: Any) -> None:
    import contextlib
    import io
    import warnings

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), input_names=["x"], **options)


@pytest.fixture(scope="module")
def forms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """Each model as two factories (torch.fx, eager), .pt, .pt2 and both ONNX exports."""
    import importlib.util

    folder = tmp_path_factory.mktemp("attention")
    source = folder / "models.py"
    source.write_text(MODELS, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("attention_models", source)
    models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(models)
    found = {}
    for name in NAMES:
        factory = name.lower()
        model = getattr(models, factory)()
        x = torch.from_numpy(np.random.default_rng(0).standard_normal(SHAPE[name])
                             .astype(np.float32))
        np.save(folder / f"{name}.npy", x.numpy())
        with torch.no_grad():
            torch.jit.trace(model, (x,), check_trace=False).save(str(folder / f"{name}.pt"))
        torch.export.save(torch.export.export(model, (x,)), str(folder / f"{name}.pt2"))
        _quiet_export(model, x, folder / f"{name}-legacy.onnx", dynamo=False, opset_version=17)
        _quiet_export(model, x, folder / f"{name}-dynamo.onnx")
        found[name] = {
            "fx": f"{source}:{factory}", "eager": f"{source}:{factory}_eager",
            "pt": str(folder / f"{name}.pt"), "pt2": str(folder / f"{name}.pt2"),
            "legacy": str(folder / f"{name}-legacy.onnx"),
            "dynamo": str(folder / f"{name}-dynamo.onnx"),
            "input": str(folder / f"{name}.npy"),
        }
    return found


FORMS_A = ("fx", "eager", "pt", "pt2")


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
@pytest.mark.parametrize("form", FORMS_A)
@pytest.mark.parametrize("name", NAMES)
def test_attention_pairs_with_its_out_projection(forms: dict[str, dict[str, str]],
                                                 name: str, form: str, exporter: str) -> None:
    paths = forms[name]
    report = parity.compare(paths[form], paths[exporter], inputs=paths["input"])
    assert report.ok, report.first_divergence
    assert min(report.coverage) >= 0.95, report.coverage
    assert not report.unmatched_a
    fused = [p for p in report.pairs if family(p.op) == "multihead"]
    if name == "Encoder" and form == "pt":  # traced with the fast path: the whole layer fused
        assert [p.op for p in report.pairs if "layer" in p.a] == [
            "aten::_transformer_encoder_layer_fwd"]
        return
    # torch.export, and a trace off the fast path (weights asked for), decompose it as the
    # exporters do (in-projection, bmm or sdpa, softmax, out-projection), each op paired
    if form == "pt2" or (form == "pt" and name == "SequenceFirst"):
        assert not fused
        return
    assert len(fused) == 1, [(p.a, p.b, p.op) for p in report.pairs]
    (pair,) = fused
    if exporter == "legacy":  # named after the module: the pair lies in the attention's scope
        assert pair.b.startswith(("/mha/", "/layer/self_attn/")), pair.b
    expected = {"Attention": (2, 6, 16), "SequenceFirst": (6, 2, 16), "Encoder": (2, 6, 16)}
    # the eager pass sees the functional form, sequence-first inside a batch-first module
    if form == "eager" and name != "SequenceFirst":
        expected = {name: (6, 2, 16)}
    assert tuple(pair.shape_a) == expected[name]
