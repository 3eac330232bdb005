"""Small numpy references of op families, driven by the neutral vocabulary.

Checks use them to recompute a layer on the reference side's input with the other side's
attributes (does that reproduce the other side's output?), and replay uses them to run a
converted layer alone where its framework cannot run one op. Inputs are NCHW.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

Params = Mapping[str, np.ndarray]


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def activation(x: np.ndarray, attrs: Mapping[str, Any], params: Params) -> np.ndarray | None:
    """The activation ``attrs["activation"]`` with its parameters, or None if unknown."""
    kind = attrs.get("activation")
    if kind == "clip":
        low, high = attrs.get("clip", (-math.inf, math.inf))
        return np.clip(x, low, high)
    if kind == "leaky_relu":
        return np.where(x >= 0, x, x * attrs.get("slope", 0.01))
    if kind == "prelu" and "slope" in params:
        slope = params["slope"].reshape((1, -1) + (1,) * (x.ndim - 2)) if x.ndim > 1 else (
            params["slope"])
        return np.where(x >= 0, x, x * slope)
    if kind == "elu":
        return np.where(x >= 0, x, attrs.get("alpha", 1.0) * np.expm1(np.minimum(x, 0)))
    if kind == "gelu":
        if attrs.get("approximation", "none") == "tanh":
            return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
        return 0.5 * x * (1 + _erf(x / math.sqrt(2)))
    if kind == "hardsigmoid":
        return np.clip(attrs.get("alpha", 0.2) * x + attrs.get("beta", 0.5), 0, 1)
    simple: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "sigmoid": sigmoid, "tanh": np.tanh, "silu": lambda v: v * sigmoid(v),
        "hardswish": lambda v: v * np.clip(v / 6 + 0.5, 0, 1),
        "softplus": lambda v: np.logaddexp(0, v),
        "mish": lambda v: v * np.tanh(np.logaddexp(0, v)),
    }
    return simple[kind](x) if kind in simple else None


def pool(x: np.ndarray, attrs: Mapping[str, Any], whole_kernel: bool = False
         ) -> np.ndarray | None:
    """2-D max or average pooling with explicit pads, ceil rounding, count_include_pad;
    ``whole_kernel``: every average divided by the kernel's area, whatever part of the
    window lies outside the input (an explicit zero pad up to the kernel, then a VALID
    pool)."""
    kind, kernel = attrs.get("pool"), attrs.get("kernel")
    if kind not in ("max", "avg") or kernel is None or x.ndim != 4 or len(kernel) != 2:
        return None
    stride = attrs.get("stride", (1, 1))
    top, left, bottom, right = attrs.get("pads", (0, 0, 0, 0))
    ceil = bool(attrs.get("ceil_mode", False))
    n, c, h, w = x.shape
    out = []
    for size, k, s, begin, end in ((h, kernel[0], stride[0], top, bottom),
                                   (w, kernel[1], stride[1], left, right)):
        span = (size + begin + end - k) / s
        count = (math.ceil(span) if ceil else math.floor(span)) + 1
        if ceil and (count - 1) * s >= size + begin:  # the last window starts in the padding
            count -= 1
        out.append(count)
    y = np.empty((n, c, out[0], out[1]))
    include = bool(attrs.get("count_include_pad", False))
    for i in range(out[0]):
        for j in range(out[1]):
            h0, w0 = i * stride[0] - top, j * stride[1] - left
            h1, w1 = h0 + kernel[0], w0 + kernel[1]
            window = x[:, :, max(h0, 0):min(h1, h), max(w0, 0):min(w1, w)]
            if kind == "max":
                y[:, :, i, j] = window.max(axis=(2, 3))
                continue
            if whole_kernel:
                area = kernel[0] * kernel[1]
            elif include:  # the padded area counts, the part past the padding does not
                area = (min(h1, h + bottom) - h0) * (min(w1, w + right) - w0)
            else:
                area = window.shape[2] * window.shape[3]
            y[:, :, i, j] = window.sum(axis=(2, 3)) / area
    return y


def resize(x: np.ndarray, attrs: Mapping[str, Any], size: tuple[int, int]) -> np.ndarray | None:
    """2-D nearest or bilinear resize of NCHW ``x`` to ``size``, with the coordinate mapping
    ``attrs["coordinates"]`` (align_corners, half_pixel, asymmetric)."""
    mode, coordinates = attrs.get("resize_mode"), attrs.get("coordinates", "half_pixel")
    if x.ndim != 4 or mode not in ("nearest", "bilinear"):
        return None
    axes = []
    for length, target in zip(x.shape[2:], size):
        out = np.arange(target, dtype=np.float64)
        if coordinates == "align_corners":
            source = out * ((length - 1) / (target - 1)) if target > 1 else out * 0
        elif coordinates == "asymmetric":
            source = out * (length / target)
        else:
            source = (out + 0.5) * (length / target) - 0.5
        axes.append(source)
    if mode == "nearest":
        rows, cols = (np.clip(np.floor(a), 0, n - 1).astype(int)
                      for a, n in zip(axes, x.shape[2:]))
        return x[:, :, rows][:, :, :, cols]
    result = x
    for axis, source in zip((2, 3), axes):
        length = x.shape[axis]
        source = np.clip(source, 0, length - 1)
        low = np.floor(source).astype(int)
        high = np.minimum(low + 1, length - 1)
        frac = (source - low).reshape((-1, 1) if axis == 2 else (1, -1))
        result = (np.take(result, low, axis=axis) * (1 - frac)
                  + np.take(result, high, axis=axis) * frac)
    return result


def normalised(x: np.ndarray, kind: str, eps: float, groups: int = 1) -> np.ndarray | None:
    """``x`` normalised as LayerNorm (last axis), InstanceNorm or GroupNorm do, before
    their affine part."""
    if kind == "layer":
        axes: tuple[int, ...] = (-1,)
        view = x
    elif kind in ("instance", "group") and x.ndim >= 3:
        view = x.reshape(x.shape[0], groups if kind == "group" else x.shape[1], -1)
        axes = (-1,)
    else:
        return None
    mean = view.mean(axis=axes, keepdims=True)
    var = view.var(axis=axes, keepdims=True)
    return ((view - mean) / np.sqrt(var + eps)).reshape(x.shape)


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def pad(x: np.ndarray, pads: tuple[int, ...], value: float = 0.0) -> np.ndarray | None:
    """Constant padding of the spatial axes, pads as (top, left, bottom, right)."""
    if x.ndim != 4 or len(pads) != 4 or min(pads) < 0:
        return None
    top, left, bottom, right = pads
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def batchnorm(x: np.ndarray, params: Params, eps: float) -> np.ndarray | None:
    if "mean" not in params or "var" not in params:
        return None
    shape = (1, -1) + (1,) * (x.ndim - 2)
    gamma = params.get("gamma", np.ones_like(params["mean"]))
    beta = params.get("beta", np.zeros_like(params["mean"]))
    scale = gamma / np.sqrt(params["var"] + eps)
    return (x - params["mean"].reshape(shape)) * scale.reshape(shape) + beta.reshape(shape)


def conv(x: np.ndarray, attrs: Mapping[str, Any], params: Params) -> np.ndarray | None:
    """2-D convolution (cross-correlation) with stride, pads, dilation and groups."""
    weight = params.get("weight")
    if weight is None or weight.ndim != 4 or x.ndim != 4:
        return None
    groups = int(attrs.get("groups", 1))
    stride, dilation = attrs.get("stride", (1, 1)), attrs.get("dilation", (1, 1))
    padded = pad(x, tuple(attrs.get("pads", (0, 0, 0, 0))))
    if padded is None or x.shape[1] != weight.shape[1] * groups:
        return None
    out_c, per_group, kh, kw = weight.shape
    h = (padded.shape[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    w = (padded.shape[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((x.shape[0], out_c, h, w))
    step = out_c // groups
    for g in range(groups):
        block = padded[:, g * per_group:(g + 1) * per_group]
        filters = weight[g * step:(g + 1) * step]
        for i in range(kh):
            for j in range(kw):
                window = block[:, :, i * dilation[0]: i * dilation[0] + stride[0] * h: stride[0],
                               j * dilation[1]: j * dilation[1] + stride[1] * w: stride[1]]
                y[:, g * step:(g + 1) * step] += np.einsum("nchw,oc->nohw", window,
                                                           filters[:, :, i, j])
    bias = params.get("bias")
    return y if bias is None else y + bias.reshape(1, -1, 1, 1)
