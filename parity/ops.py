"""Data only: how op types of different frameworks relate.

``family(op)`` maps an op type of any backend to a framework-neutral family name, so a
Caffe ``Convolution``, an ONNX ``Conv``, an MXNet ``Convolution`` and torch's
``aten::_convolution`` all read as ``conv``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

FAMILIES: dict[str, tuple[str, ...]] = {
    "conv": ("conv", "convolution", "_convolution", "_convolution_mode", "conv2d", "conv1d",
             "conv3d", "convtranspose", "deconvolution", "conv_transpose2d", "convtranspose2d"),
    "batchnorm": ("batchnormalization", "batchnorm", "batch_norm", "_batch_norm_impl_index",
                  "_native_batch_norm_legit_no_training", "native_batch_norm", "batchnorm1d",
                  "batchnorm2d", "batchnorm3d"),
    "scale": ("scale",),
    "relu": ("relu", "relu_", "hardtanh", "relu6", "clip", "clamp"),
    "prelu": ("prelu", "leakyrelu", "leaky_relu", "prelu_"),
    "sigmoid": ("sigmoid",),
    "tanh": ("tanh",),
    "activation": ("activation",),
    "maxpool": ("maxpool", "max_pool2d", "max_pool2d_with_indices", "max_pool1d", "maxpool2d",
                "maxpool1d", "maxpooling2d", "globalmaxpool", "globalmaxpooling2d"),
    "avgpool": ("averagepool", "avg_pool2d", "adaptive_avg_pool2d", "globalaveragepool",
                "avg_pool1d", "adaptive_avg_pool1d", "adaptiveavgpool1d",
                "avgpool2d", "adaptiveavgpool2d", "averagepooling2d", "globalaveragepooling2d",
                "mean", "reducemean"),
    "pooling": ("pooling",),
    "add": ("add", "add_", "_plus", "elemwise_add", "_add", "broadcast_add", "sum"),
    "mul": ("mul", "mul_", "_mul", "elemwise_mul", "broadcast_mul"),
    "sub": ("sub", "rsub", "_minus", "elemwise_sub", "broadcast_sub"),
    "div": ("div", "div_", "true_divide"),
    "concat": ("concat", "cat", "_cat"),
    # one piece of a split (each piece is its own node): torch's chunk and split, ONNX's
    # Split; the legacy exporter writes each piece as a Slice
    "split": ("split", "chunk", "split_with_sizes", "tensor_split", "unsafe_split",
              "unsafe_chunk", "unsafe_split_with_sizes"),
    "flatten": ("flatten", "reshape", "view", "_reshape_alias", "unflatten", "reshape_as",
                "view_as"),
    "expand": ("expand", "expand_as", "broadcast_to"),
    "l2norm": ("reducel2", "linalg_vector_norm", "norm"),  # ConvNeXt V2's GRN
    "linear": ("gemm", "linear", "addmm", "matmul", "bmm", "fullyconnected",
               "innerproduct", "dense"),
    # beta * input + alpha * (b1 @ b2): BLOOM's ALiBi scores; exported as MatMul -> Mul -> Add
    "baddbmm": ("baddbmm",),
    "pad": ("pad", "zeropadding2d", "constant_pad_nd"),
    "softmax": ("softmax", "_softmax", "softmaxoutput", "softmaxactivation"),
    "dropout": ("dropout", "feature_dropout", "dropout2d"),
    "identity": ("identity", "clone", "contiguous", "detach", "alias"),
    "eltwise": ("eltwise",),
    "scalar": ("_minus_scalar", "_mul_scalar", "_plus_scalar", "_div_scalar"),
    "layernorm": ("layernormalization", "layer_norm", "native_layer_norm", "layernorm"),
    "groupnorm": ("groupnormalization", "group_norm", "native_group_norm", "groupnorm"),
    "gelu": ("gelu",),
    "silu": ("silu", "silu_", "swish"),
    "transpose": ("transpose", "permute", "swapaxes", "t", "numpy_t"),
    "gather": ("gather", "select", "index_select", "embedding", "index", "gathernd",
               "gatherelements"),
    "cast": ("cast", "to", "_to_copy", "type_as"),
    "and": ("and", "__and__", "bitwise_and", "logical_and"),
    # masked_fill(x, mask, v) is where(mask, v, x): exporters write it as a Where
    "where": ("where", "masked_fill", "masked_fill_"),
    "attention": ("scaled_dot_product_attention", "_scaled_dot_product_flash_attention_for_cpu",
                  "attention"),
    # nn.MultiheadAttention as one op (its module, TorchScript's fused op, the functional
    # form an eager pass sees): in-projection, attention and out-projection
    "multihead": ("multiheadattention", "_native_multi_head_attention",
                  "multi_head_attention_forward"),
    "resize": ("resize", "upsample_bilinear2d", "upsample_nearest2d", "upsample", "upsampling",
               "interp", "_contrib_bilinearresize2d", "upsamplingbilinear2d",
               "upsamplingnearest2d"),
}

# Ops another framework may fold into the op before them: a chain head -> tail families.
# (ONNX exporters fold BatchNorm into Conv; Caffe splits BatchNorm into BatchNorm + Scale;
# Keras Conv2D/Dense carry their activation; a Linear on a 3-D input exports as MatMul + a
# bias Add.) Pairs are compared at the chain's end.
FOLDS: dict[str, frozenset[str]] = {
    "conv": frozenset({"batchnorm", "scale", "relu", "prelu", "activation", "softmax"}),
    "linear": frozenset({"add", "batchnorm", "scale", "relu", "prelu", "activation", "softmax"}),
    "batchnorm": frozenset({"scale"}),
    # consecutive reshapes are one reshape to an exporter that merges them
    "flatten": frozenset({"flatten"}),
    "gelu": frozenset({"mul"}),
    "layernorm": frozenset({"mul", "add"}),
    # the older ONNX exporter's GroupNorm: Reshape -> InstanceNormalization -> Reshape,
    # then gamma's Mul and beta's Add
    "groupnorm": frozenset({"instancenormalization", "flatten", "mul", "add"}),
    # TFLite ADD/MUL carry a fused activation
    "add": frozenset({"relu", "activation"}),
    "mul": frozenset({"relu", "activation"}),
    # the out-projection's bias Add (dynamo) and the view back to (L, N, E)
    "multihead": frozenset({"add", "flatten"}),
}

# One op of a family that other exporters decompose: the families the decomposition's
# value-producing end may have (before any FOLDS tail). SiLU = Sigmoid + Mul; GELU (Erf or
# Tanh form) ends in a Mul, then a Mul by 0.5; LayerNorm in older opsets ends in Div (then
# Mul by gamma, Add of beta), in TFLite in the Add of x * rsqrt and -mean * rsqrt;
# GroupNorm as Reshape -> InstanceNormalization -> Reshape (a pair made at its first Reshape
# moves along FOLDS to beta's Add); Softmax as Exp / ReduceSum / Div; attention as
# MatMul -> Softmax -> MatMul; multi-head attention ends in its out-projection (MatMul or
# Gemm); HardSwish as x * HardSigmoid(x); rsqrt (RMSNorm's) as Sqrt -> Div(1, x) or
# Sqrt -> Reciprocal; ne (RoBERTa's position ids) as Equal -> Not; stack (CodeGen's
# interleaved rotary) as Unsqueeze -> Concat; repeat_interleave (Mixtral's tokens, one
# copy per chosen expert) as Unsqueeze -> Tile -> Reshape.
DECOMPOSITIONS: dict[str, frozenset[str]] = {
    "silu": frozenset({"mul"}),
    "gelu": frozenset({"mul"}),
    "layernorm": frozenset({"div", "add"}),
    "groupnorm": frozenset({"flatten"}),
    "softmax": frozenset({"div"}),
    "attention": frozenset({"linear"}),
    "multihead": frozenset({"linear"}),
    "hardswish": frozenset({"mul"}),
    "rsqrt": frozenset({"div", "reciprocal"}),
    "ne": frozenset({"not"}),  # Equal -> Not
    "baddbmm": frozenset({"add"}),  # MatMul -> Mul(alpha), + Mul(input, beta) -> Add
    "stack": frozenset({"concat"}),  # an Unsqueeze of each input -> Concat
    "repeat_interleave": frozenset({"flatten"}),  # Unsqueeze -> Tile (Expand) -> Reshape
}

# Ops whose operands after the first give only a dtype or a shape (``x.type_as(y)``,
# ``x.expand_as(y)``): their value is computed from the first alone.
TEMPLATE_READS = frozenset({"type_as", "expand_as", "view_as", "reshape_as"})

# Families that hold their input's value (in eval mode): nothing of their own to compare.
NO_OPS = frozenset({"identity", "dropout"})
_WHOLE = 2**62  # a slice end at or past this keeps the whole axis (torch writes INT64_MAX)


@cache
def _by_op() -> dict[str, str]:
    """Op key -> family: :data:`FAMILIES`, then the records' op vocabularies, lower-cased,
    where neither FAMILIES nor another record gives that key another family (OpenVINO's
    ``Select`` is a where, torch's ``select`` a gather: each is read by spelling only)."""
    found = {op: family for family, ops in FAMILIES.items() for op in ops}
    claims: dict[str, set[str]] = {}
    for spelling, fam in _by_spelling().items():
        claims.setdefault(op_key(spelling), set()).add(fam)
    for key, fams in claims.items():
        if len(fams) == 1:  # else (or against FAMILIES) the key is no evidence: spelling only
            found.setdefault(key, *fams)
    return found


@cache
def _by_spelling() -> dict[str, str]:
    """Each backend record's op types, spelled as its framework spells them (OpenVINO's
    ``Select``, torch's ``aten::select``), -> family: a framework's own op is read in its
    own vocabulary even where another framework's op of the same lower-cased name means
    something else. Two records giving one spelling two families is an error."""
    from .registry import records

    found: dict[str, str] = {}
    for record in records().values():
        for op, fam in record.op_families.items():
            if found.setdefault(op, fam) != fam:
                raise ValueError(f"op {op!r} is {found[op]!r} and {fam!r} in two backends' "
                                 "op_families: spell one with its framework's namespace")
    return found


# Ops that compute no tensor worth comparing (shapes, constants, bookkeeping).
IGNORED = frozenset({
    "constant", "shape", "size", "int", "numtotensor", "listconstruct", "tupleconstruct",
    "constantofshape", "range", "null", "getattr", "getitem", "dim",
    "_assert", "_guards_fn",
})


@cache
def op_key(op: str) -> str:
    """Lower-case op type without a framework namespace (``aten::relu_`` -> ``relu_``)."""
    return op.rsplit("::", 1)[-1].lower()


@cache
def family(op: str) -> str:
    """The framework-neutral family of ``op``: its framework's record's own spelling first,
    then its lower-cased key; unknown ops are their own family."""
    if op in _by_spelling():
        return _by_spelling()[op]
    key = op_key(op)
    return _by_op().get(key, key)


# Pairs of families that may name the same computation in different frameworks'
# vocabularies. The relation is exactly this list (plus each family with itself): it is not
# closed transitively, so "activation ~ relu" and "activation ~ sigmoid" do not make a ReLU
# compatible with a Sigmoid.
COMPATIBLE: frozenset[frozenset[str]] = frozenset({
    frozenset(pair) for pair in (
        ("activation", "relu"), ("activation", "sigmoid"), ("activation", "tanh"),
        ("pooling", "maxpool"), ("pooling", "avgpool"), ("eltwise", "add"),
        ("eltwise", "mul"), ("batchnorm", "scale"), ("prelu", "relu"),
        ("div", "reciprocal"),  # 1 / x (the legacy exporter's rsqrt) and Reciprocal (dynamo's)
        ("split", "slice"),  # a piece of torch's chunk and the legacy exporter's Slice
        ("neg", "mul"),  # -x and OpenVINO's Multiply by -1
        ("div", "mul"),  # x / c and x * (1 / c): TFLite writes torch's scaling Div as a MUL
        # torch's sum is a reduction, but its key is ONNX's elementwise Sum's (an add)
        ("add", "reducesum"),
        # a view that adds or drops a unit axis: TFLite (litert-torch) writes it as RESHAPE
        ("unsqueeze", "flatten"), ("squeeze", "flatten"),
    )
})

# Kinds that diagnosis checks ask about ("is this a BatchNorm?"): a Caffe Scale is the second
# half of a BatchNorm. Every other family is its own kind.
_KIND = {"scale": "batchnorm"}


def op_class(op: str) -> str:
    """The kind of layer ``op`` is, for checks that ask what a node does (not whether two
    nodes may pair: that is :func:`compatible`)."""
    fam = family(op)
    return _KIND.get(fam, fam)


@cache
def compatible(op_a: str, op_b: str) -> bool:
    """True when two ops of any frameworks may compute the same value."""
    fam_a, fam_b = family(op_a), family(op_b)
    return fam_a == fam_b or frozenset((fam_a, fam_b)) in COMPATIBLE


@cache
def decomposes(one_op: str, end_op: str) -> bool:
    """True when ``end_op`` may end another framework's decomposition of ``one_op``."""
    return family(end_op) in DECOMPOSITIONS.get(family(one_op), frozenset())


def is_no_op(op: str, attrs: Mapping[str, Any]) -> bool:
    """True for an op that returns its input's value: eval-mode Dropout, Identity,
    ``contiguous``, a slice that keeps the whole axis (``x[:, 0::2]`` traces one per axis).
    A bound the trace computes at run time (``x[..., n // 2:]``) is absent from ``attrs``:
    such a slice is not known to keep the whole axis."""
    if family(op) in NO_OPS:
        return True
    return op_key(op) == "slice" and "start" in attrs and attrs["start"] in (0, None) \
        and attrs.get("step") in (1, None) and "end" in attrs \
        and (attrs["end"] is None or attrs["end"] >= _WHOLE)


def is_ignored(op: str) -> bool:
    """True for ops whose output is not a tensor to compare."""
    return op_key(op) in IGNORED
