"""An attention whose scores are scaled by another number: torch's
``scaled_dot_product_attention`` (its default scale, 1/sqrt(head dim)) against an ONNX export
of the same attention spelled out as ``softmax(q @ k^T / c) @ v``, the way older model code
and converters write it. A divisor of ``d`` for ``sqrt(d)`` is named with both scales, on
either side of the comparison; the right divisor passes. (The corpus LLaMA covers SDPA's
scale argument against the exporters' own decomposition: tests/test_injected_real_causes.py.)
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="parity[torch] not installed")
pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")

import parity  # noqa: E402

HEADS, HEAD_DIM = 4, 8
WIDTH = HEADS * HEAD_DIM


class Attention(torch.nn.Module):
    """Self-attention over a packed q/k/v projection: SDPA, or spelled out with ``divisor``."""

    def __init__(self, divisor: float | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.qkv = torch.nn.Linear(WIDTH, 3 * WIDTH)
        self.out = torch.nn.Linear(WIDTH, WIDTH)
        self.divisor = divisor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = x.shape
        q, k, v = self.qkv(x).reshape(batch, tokens, 3, HEADS, HEAD_DIM).permute(2, 0, 3, 1, 4)
        if self.divisor is None:
            y = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        else:
            y = torch.softmax(q @ k.transpose(-2, -1) / self.divisor, dim=-1) @ v
        return self.out(y.transpose(1, 2).reshape(batch, tokens, WIDTH))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("attention-scale")
    example = (torch.from_numpy(_input()),)
    paths = {"sdpa": folder / "sdpa.pt"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.jit.trace(Attention(), example).save(str(paths["sdpa"]))
        for name, divisor in (("sqrt_d", math.sqrt(HEAD_DIM)), ("d", float(HEAD_DIM))):
            paths[name] = folder / f"divide-by-{name}.onnx"
            torch.onnx.export(Attention(divisor), example, str(paths[name]), dynamo=False,
                              opset_version=17, input_names=["x"])
    return paths


def _input() -> np.ndarray:
    return (3 * np.random.default_rng(0).standard_normal((1, 16, WIDTH))).astype(np.float32)


def test_the_right_divisor_passes(models: dict[str, Path]) -> None:
    report = parity.compare(models["sdpa"], models["sqrt_d"], inputs={"x": _input()})
    assert report.ok, report.first_divergence
    assert not report.hints


@pytest.mark.parametrize("reverse", [False, True], ids=["torch-first", "onnx-first"])
def test_a_divisor_of_d_is_named_with_both_scales(models: dict[str, Path],
                                                  reverse: bool) -> None:
    a, b = (models["d"], models["sdpa"]) if reverse else (models["sdpa"], models["d"])
    report = parity.compare(a, b, inputs={"x": _input()})
    first = report.first_divergence
    assert not report.ok and first is not None
    assert (first.b if reverse else first.a) == "scaled_dot_product_attention"
    hints = [h for h in report.hints if h.node == first.a]
    assert [h.code for h in hints] == ["attribute_mismatch"]
    sdpa, spelled = "0.3536 (1/sqrt(d), d=8)", "0.125 (1/d, d=8)"
    scales = (spelled, sdpa) if reverse else (sdpa, spelled)
    assert f"scores (q.k) by {scales[0]} in A" in hints[0].message
    assert f"scales them by {scales[1]}" in hints[0].message
    assert "scaled by `/Div`" in hints[0].message
    assert hints[0].evidence["a"] == pytest.approx(0.125 if reverse else 8 ** -0.5, rel=1e-6)
