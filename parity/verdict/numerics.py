"""The floating-point facts the numerics rule stands on: unit roundoff per dtype, how many
terms an op sums per output value, and which ops evaluate a transcendental function.

See docs/numerics.md for the error model and the figures behind the constants.
"""

from __future__ import annotations

import math
import platform

import numpy as np

from parity.graph import Graph, Shape
from parity.ops import family, op_key

# Unit roundoff u = 2^-p (half the spacing of floating-point numbers at 1). An int8/uint8
# tensor is a quantised one: half a step over a full range of 127 steps, about 2^-8.
UNIT_ROUNDOFF = {
    "float64": 2.0 ** -53, "float32": 2.0 ** -24, "float16": 2.0 ** -11,
    "bfloat16": 2.0 ** -8, "int8": 2.0 ** -8, "uint8": 2.0 ** -8,
}
# Half the smallest subnormal: below it the absolute, not the relative, error is bounded.
SUBNORMAL = {"float64": 2.0 ** -1075, "float32": 2.0 ** -150, "float16": 2.0 ** -25,
             "bfloat16": 2.0 ** -134}
EXACT = 0.0  # integer tensors (indices, shapes, token ids) must match exactly

# Slack over the model: the propagated term is an estimate of the layer's gain on
# rounding noise; the local term is the probabilistic sqrt(K) u growth (docs/numerics.md).
PROPAGATION_SLACK = 4.0
LOCAL_SLACK = 4.0
# Slack on an int8 grid's rounding noise (parity.verdict.quantization): that noise is
# uniform with a known RMS (step / sqrt(12)), not a probabilistic bound.
QUANT_SLACK = 2.0
# Ulps a library's exp/tanh/erf/... may be off by (glibc, SLEEF, MLAS approximations).
TRANSCENDENTAL_ULPS = 8.0
_TRANSCENDENTAL = frozenset({
    "sigmoid", "tanh", "softmax", "exp", "log", "erf", "gelu", "silu", "swish", "mish",
    "hardswish", "elu", "selu", "softplus", "pow", "sqrt", "rsqrt", "reciprocal", "div",
    "layernormalization", "layer_norm", "native_layer_norm", "logsoftmax", "log_softmax",
    "_softmax", "instancenormalization", "groupnormalization", "group_norm", "activation",
    "leakyrelu", "prelu", "gelu_new", "scaled_dot_product_attention",
})


def unit_roundoff(*dtypes: np.dtype | str) -> float:
    """The coarsest unit roundoff among ``dtypes`` (exact for integers)."""
    return max((_roundoff(np.dtype(d).name if not isinstance(d, str) else d)
                for d in dtypes), default=EXACT)


def _roundoff(name: str) -> float:
    if name in UNIT_ROUNDOFF:
        return UNIT_ROUNDOFF[name]
    return EXACT if name.startswith(("int", "uint", "bool")) else UNIT_ROUNDOFF["float32"]


# float16/bfloat16 values are computed in float32 where the CPU has no float16 arithmetic:
# ONNX Runtime's CPU provider inserts casts around float16 nodes on x86, XNNPACK and
# OpenVINO compute them in float32 there, and GPU tensor cores accumulate in float32 by
# default. ARM CPUs have float16 arithmetic (MLAS's half-precision GEMM accumulates in
# it): there the sums are taken to be in the storage precision.
WIDE_ACCUMULATION = platform.machine().lower() in ("x86_64", "amd64", "x86", "i386", "i686")
_NARROW = frozenset({"float16", "bfloat16"})


def accumulation_roundoff(*dtypes: np.dtype | str) -> float:
    """The unit roundoff a pair's sums and functions are computed in: float32's for
    float16/bfloat16 values where :data:`WIDE_ACCUMULATION`, else :func:`unit_roundoff`."""
    u = unit_roundoff(*dtypes)
    names = {np.dtype(d).name if not isinstance(d, str) else d for d in dtypes}
    if WIDE_ACCUMULATION and names & _NARROW and u > UNIT_ROUNDOFF["float32"]:
        return max(UNIT_ROUNDOFF["float32"],
                   unit_roundoff(*(n for n in names if n not in _NARROW)))
    return u


# Roundings to the storage precision a float16 op computed in float32 makes per value: its
# parameters' (weights, BatchNorm scale, once each) and its output's.
STORAGE_ROUNDINGS = 2.0


def stored_dtype(graph: Graph, name: str) -> str | None:
    """The narrow float (``float16``, ``bfloat16``) node ``name``'s weights are stored in
    and widened from when loaded (an OpenVINO IR compressed to f16), None where they are
    stored as the node computes (``attrs["stored_dtype"]``, set by the backend)."""
    stored = graph.node(name).attrs.get("stored_dtype") if name in graph else None
    return stored if stored in UNIT_ROUNDOFF else None


def subnormal(*dtypes: np.dtype | str) -> float:
    """Absolute error floor of the coarsest of ``dtypes``."""
    names = [np.dtype(d).name if not isinstance(d, str) else d for d in dtypes]
    return max((SUBNORMAL.get(n, 0.0) for n in names), default=0.0)


# Activations f(x) = x * g(x) (or g itself) with g in [0, 1] or [-1, 1]: libraries
# evaluate g with an absolute error of a few ulps of 1 (MLAS's sigmoid is tanh-based:
# 0.5 + 0.5 * tanh(x / 2) cancels for x << 0), so where f(x) is far below |x| (SiLU of
# -17 is -7e-7) the error is a few ulps of the input, not of the output.
_GATED = frozenset({"sigmoid", "silu", "swish", "gelu", "gelu_new", "mish", "tanh", "erf",
                    "softplus", "elu", "selu", "hardswish"})


def gated(graph: Graph, name: str) -> bool:
    """Whether node ``name`` is an activation whose error scales with its input."""
    if name not in graph:
        return False
    key = op_key(graph.node(name).op)
    return key in _GATED or family(key) in _GATED


def ulps(graph: Graph, name: str) -> float:
    """Roundings an op adds per value besides its sums: a few ulps for a transcendental
    function, one for anything else."""
    if name not in graph:
        return 1.0
    key = op_key(graph.node(name).op)
    return TRANSCENDENTAL_ULPS if key in _TRANSCENDENTAL or family(key) in _TRANSCENDENTAL \
        else 1.0


def reduction_length(graph: Graph, name: str, in_shape: Shape | None,
                     out_shape: tuple[int, ...]) -> int:
    """K: how many products one output value of node ``name`` sums.

    Conv: Cin/group * prod(kernel); matmul/Gemm/Linear: the input's last dimension;
    average pooling and means: the window (input over output size); softmax and
    normalisations: the normalised axis; elementwise ops: 1. Unknown ops: the input size
    over the output size, at least 1.
    """
    if name not in graph:
        return 1
    node = graph.node(name)
    fam = family(node.op)
    size_in = _size(in_shape)
    size_out = max(1, math.prod(out_shape))
    if fam == "conv":
        kernel = node.attrs.get("kernel") or ()
        group = int(node.attrs.get("group", 1) or 1)
        cin = _dim(in_shape, 1)
        if cin is None:
            return max(1, size_in // size_out) if size_in else 1
        taps = math.prod(int(k) for k in kernel) if kernel else 1
        return max(1, cin // max(group, 1) * taps)
    if fam == "linear":
        last = _dim(in_shape, -1)
        return last if last else max(1, size_in // size_out)
    if fam in ("batchnorm", "scale", "relu", "prelu", "sigmoid", "tanh", "add", "mul",
               "sub", "concat", "flatten", "pad", "dropout", "identity", "eltwise",
               "scalar", "maxpool"):
        return 1
    if fam in ("softmax",) or op_key(node.op) in _NORMALISED_LAST:
        return _dim(out_shape, -1) or 1
    return max(1, size_in // size_out) if size_in else 1


def size_ratio(in_shape: Shape | None, out_shape: tuple[int, ...]) -> int:
    """Input size over output size (at least 1): the terms a reduction sums per value."""
    return max(1, _size(in_shape) // max(1, math.prod(out_shape)))


_NORMALISED_LAST = frozenset({"layernormalization", "layer_norm", "native_layer_norm",
                              "logsoftmax", "log_softmax"})


def _size(shape: Shape | None) -> int:
    if not shape or any(d is None for d in shape):
        return 0
    return math.prod(int(d) for d in shape)  # type: ignore[arg-type]


def _dim(shape: Shape | None, axis: int) -> int | None:
    if not shape or len(shape) <= (axis if axis >= 0 else -axis - 1):
        return None
    value = shape[axis]
    return None if value is None else int(value)
