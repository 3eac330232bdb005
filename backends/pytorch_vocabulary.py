"""PyTorch ops in the neutral vocabulary: TorchScript ``aten::`` ops (their constant
arguments as the pytorch backend captures them, under torch's argument names) and
``nn.Module`` calls (module attributes) of torch.fx graphs."""

from __future__ import annotations

from parity.diagnose.vocabulary.words import OpWords, Vocabulary

_POOL = {"kernel": ("kernel", "ints"), "stride": ("stride", "ints"),
         "pad": ("pads", "symmetric_pads"), "dilation": ("dilation", "ints"),
         "ceil_mode": ("ceil_mode", "bool")}
_POOL_SPELLED = {"kernel": "kernel_size", "pads": "padding"}
_CLIP = {"min_val": ("clip_min", "float"), "max_val": ("clip_max", "float")}
_AVG = {**_POOL, "count_include_pad": ("count_include_pad", "bool")}
_UPSAMPLE = {"align_corners": ("align_corners", "bool"), "scale_factors": ("scales", "float"),
             "scale_factor": ("scales", "float"), "output_size": ("sizes", "ints"),
             "mode": ("resize_mode", "lower")}
_CONV = OpWords(attrs={"kernel": ("kernel", "ints"), "stride": ("stride", "ints"),
                       "pad": ("pads", "symmetric_pads"), "dilation": ("dilation", "ints"),
                       "group": ("groups", "int")},
                spelled={"kernel": "kernel_size", "pads": "padding", "groups": "groups"})
_REDUCE = {"dim": ("axes", "ints"), "keepdim": ("keepdims", "bool")}


def _act(kind: str, **defaults: object) -> OpWords:
    return OpWords(fixed={"activation": kind}, defaults=defaults)


_LEAKY = OpWords(fixed={"activation": "leaky_relu"},
                 attrs={"negative_slope": ("slope", "float")}, defaults={"slope": 0.01},
                 spelled={"slope": "negative_slope"})
_HARDTANH = OpWords(fixed={"activation": "clip"}, attrs=_CLIP, defaults={"clip": (-1.0, 1.0)},
                    spelled={"clip": "min_val/max_val (nn.Hardtanh), or nn.ReLU6"})
_GELU = OpWords(fixed={"activation": "gelu"}, attrs={"approximate": ("approximation", "lower")},
                defaults={"approximation": "none"}, spelled={"approximation": "approximate"})
_ELU = OpWords(fixed={"activation": "elu"}, attrs={"alpha": ("alpha", "float")},
               defaults={"alpha": 1.0})
_SOFTMAX = OpWords(attrs={"dim": ("axis", "int")}, spelled={"axis": "dim"})
_BATCH = OpWords(fixed={"norm": "batch"},
                 attrs={"eps": ("eps", "float"), "momentum": ("momentum", "float")},
                 defaults={"eps": 1e-5})
# A traced layer_norm may not keep normalized_shape: one trailing axis, nn.LayerNorm(dim)'s.
_LAYER = OpWords(fixed={"norm": "layer"},
                 attrs={"eps": ("eps", "float"), "normalized_shape": ("axes", "trailing_axes")},
                 defaults={"eps": 1e-5, "axes": (-1,)}, spelled={"axes": "normalized_shape"})
_GROUP = OpWords(fixed={"norm": "group"}, attrs={"eps": ("eps", "float")},
                 defaults={"eps": 1e-5})
_INSTANCE = OpWords(fixed={"norm": "instance"}, attrs={"eps": ("eps", "float")},
                    defaults={"eps": 1e-5})
_BILINEAR = OpWords(fixed={"resize_mode": "bilinear"}, attrs=_UPSAMPLE,
                    spelled={"resize_mode": "mode", "coordinates": "align_corners"})
_NEAREST = OpWords(fixed={"resize_mode": "nearest", "coordinates": "asymmetric"},
                   attrs=_UPSAMPLE, spelled={"resize_mode": "mode"})

_OPS: dict[str, OpWords] = {
    # TorchScript / torch.fx functions
    "relu": _act("relu"), "relu6": _act("relu6"), "hardtanh": _HARDTANH,
    "clamp": OpWords(fixed={"activation": "clip"},
                     attrs={"min": ("clip_min", "float"), "max": ("clip_max", "float")}),
    "leaky_relu": _LEAKY, "prelu": _act("prelu"), "elu": _ELU, "gelu": _GELU,
    "silu": _act("silu"), "hardswish": _act("hardswish"),
    "hardsigmoid": _act("hardsigmoid", alpha=1 / 6, beta=0.5),
    "sigmoid": _act("sigmoid"), "tanh": _act("tanh"), "softplus": _act("softplus"),
    "mish": _act("mish"),
    "_convolution": _CONV, "conv2d": _CONV, "conv1d": _CONV,
    "max_pool2d": OpWords(fixed={"pool": "max"}, attrs=_POOL, spelled=_POOL_SPELLED),
    "avg_pool2d": OpWords(fixed={"pool": "avg"}, attrs=_AVG, spelled=_POOL_SPELLED,
                          defaults={"count_include_pad": True, "ceil_mode": False}),
    "batch_norm": _BATCH, "layer_norm": _LAYER, "group_norm": _GROUP,
    "instance_norm": _INSTANCE,
    "upsample_bilinear2d": _BILINEAR, "upsample_nearest2d": _NEAREST,
    "pad": OpWords(attrs={"pad": ("pads", "torch_pad"), "mode": ("pad_mode", "lower")},
                   spelled={"pads": "pad"}),
    "constant_pad_nd": OpWords(attrs={"pad": ("pads", "torch_pad")}, spelled={"pads": "pad"}),
    "softmax": _SOFTMAX, "log_softmax": _SOFTMAX,
    "cat": OpWords(attrs={"axis": ("axis", "int")}, spelled={"axis": "dim"}),
    "mean": OpWords(attrs=_REDUCE, spelled={"axes": "dim", "keepdims": "keepdim"}),
    "sum": OpWords(attrs=_REDUCE, spelled={"axes": "dim", "keepdims": "keepdim"}),
    "amax": OpWords(attrs=_REDUCE, spelled={"axes": "dim", "keepdims": "keepdim"}),
    "permute": OpWords(attrs={"dims": ("perm", "ints")}, spelled={"perm": "dims"}),
    # nn.Module calls (torch.fx); ReLU6, GELU, Hardtanh... share the functions' entries
    "leakyrelu": _LEAKY, "upsample": OpWords(attrs=_UPSAMPLE, spelled={"coordinates":
                                                                        "align_corners"}),
    "batchnorm2d": _BATCH, "batchnorm1d": _BATCH, "layernorm": _LAYER, "groupnorm": _GROUP,
    "instancenorm2d": _INSTANCE,
    "maxpool2d": OpWords(fixed={"pool": "max"}, attrs=_POOL, spelled=_POOL_SPELLED),
    "avgpool2d": OpWords(fixed={"pool": "avg"}, attrs=_AVG, spelled=_POOL_SPELLED,
                         defaults={"count_include_pad": True, "ceil_mode": False}),
}


def _advice(node: str, scope: str, words: OpWords | None, spelled: str, value: str,
           file: str) -> str:
    """How to change one argument of a torch module or call."""
    where = f"module `{scope}`" if scope else f"the call behind `{node}`"
    return f"build {where} with `{spelled}={value}` (in the model code that produced {file})"


VOCABULARY = Vocabulary(_OPS, _advice)
