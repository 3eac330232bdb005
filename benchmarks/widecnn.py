"""A wide, shallow-compute CNN whose activations add up to several GiB: the memory test.

A 3x3 stem to ``WIDTH`` channels, then ``BLOCKS`` blocks of 1x1 conv, BatchNorm, ReLU,
all at the full input resolution. ``build()`` is a factory for
``parity compare benchmarks/widecnn.py:build benchmarks/widecnn.py:build``.
"""

from __future__ import annotations

import torch
from torch import nn

WIDTH = 64
BLOCKS = 22


class Block(nn.Module):
    """1x1 conv, BatchNorm, ReLU at constant width and resolution."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(width, width, 1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class WideCNN(nn.Module):
    """Stem conv, ``blocks`` blocks, global average pool."""

    def __init__(self, width: int = WIDTH, blocks: int = BLOCKS) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.blocks = nn.Sequential(*(Block(width) for _ in range(blocks)))
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.blocks(self.stem(x)))


def activation_bytes(height: int, width: int, batch: int = 1) -> int:
    """float32 bytes of every captured op output at that input size (stem, 3 per block)."""
    full = batch * WIDTH * height * width * 4
    return full * (1 + 3 * BLOCKS) + batch * WIDTH * 4


def build() -> nn.Module:
    """Factory: seeded weights, eval mode."""
    torch.manual_seed(0)
    return WideCNN().eval()
