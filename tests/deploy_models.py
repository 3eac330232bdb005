"""Small real models for the deployment-runtime tests, built once per session.

``DeployNet`` has the op families deployment converters rewrite: conv + BatchNorm (random
running statistics, so eps and folding matter), ReLU, max and average pooling, a residual
add, a depthwise conv, a concat and a linear head.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

SHAPE = (1, 3, 32, 32)


class DeployNet(nn.Module):
    """Conv-BN-ReLU stem, a residual block, a depthwise branch, pooling, a linear head."""

    def __init__(self, eps: float = 1e-5, ceil_avgpool: bool = False) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8, eps=eps)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.point = nn.Conv2d(16, 16, 1)
        # ceil_mode with count_include_pad=False: the AvgPool OpenCV DNN gets wrong
        self.avg = nn.AvgPool2d(3, 2, padding=1, ceil_mode=ceil_avgpool,
                                count_include_pad=not ceil_avgpool)
        side = 9 if ceil_avgpool else 8
        self.fc = nn.Linear(16 * side * side, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu(self.bn(self.stem(x))))
        x = self.relu(self.conv(x) + x)
        x = torch.cat([x, self.depthwise(x)], dim=1)
        x = self.avg(self.relu(self.point(x)))
        return self.fc(torch.flatten(x, 1))


def build(seed: int = 0, **kwargs: object) -> DeployNet:
    """A seeded DeployNet in eval mode with random BatchNorm statistics."""
    torch.manual_seed(seed)
    model = DeployNet(**kwargs)  # type: ignore[arg-type]
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.01, 0.05)  # small variances: eps matters
        model.bn.weight.uniform_(0.5, 1.5)
        model.bn.bias.uniform_(-0.2, 0.2)
    return model.eval()


def example(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(SHAPE).astype(np.float32)


def export_onnx(model: nn.Module, path: Path, *, dynamo: bool = False) -> Path:
    """``torch.onnx.export`` of ``model`` with the input named ``input``."""
    args = (torch.from_numpy(example()),)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            program = torch.onnx.export(model, args, input_names=["input"], dynamo=True)
            program.save(str(path))
        else:
            buffer = io.BytesIO()
            torch.onnx.export(model, args, buffer, input_names=["input"], dynamo=False,
                              opset_version=17)
            path.write_bytes(buffer.getvalue())
    return path


def torchscript(model: nn.Module, path: Path) -> Path:
    with torch.no_grad():
        torch.jit.trace(model, torch.from_numpy(example())).save(str(path))
    return path


def cli_compare(a: Path | str, b: Path | str, *options: str) -> tuple[int, dict[str, Any]]:
    """``parity compare A B OPTIONS --format json`` through the CLI: exit code and report."""
    from click.testing import CliRunner

    from parity.cli import cli

    result = CliRunner().invoke(cli, ["compare", str(a), str(b), *options, "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def coverage(report: dict[str, Any]) -> float:
    """The smaller of the two sides' coverage in a JSON report."""
    return min(report["coverage"]["a"], report["coverage"]["b"])
