"""A deep chain of convolutions with large activations, for memory tests."""

from torch import nn

LAYERS = 24


def build() -> nn.Module:
    """24 conv+relu layers at 64 channels: each activation is 4 MiB at 1x64x128x128."""
    blocks = []
    for _ in range(LAYERS):
        blocks += [nn.Conv2d(64, 64, 3, padding=1), nn.ReLU()]
    return nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), *blocks).eval()
