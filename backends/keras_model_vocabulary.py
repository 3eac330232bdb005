"""Keras layers in the neutral vocabulary (config keys as parity's Keras reader reports
them: ``kernel_size`` -> ``kernel``, ``strides`` -> ``stride``, ``dilation_rate`` ->
``dilation``, ``epsilon`` -> ``eps``, ``padding`` in pixels as ``pad``, a layer's
``activation`` by its registered name)."""

from __future__ import annotations

from parity.diagnose.vocabulary.words import OpWords, Vocabulary

# Keras' built-in activations by name (layers with an ``activation`` argument, Activation)
_ACTIVATIONS = {
    "relu": {"activation": "relu"}, "relu6": {"activation": "relu6"},
    "gelu": {"activation": "gelu", "approximation": "none"},
    "silu": {"activation": "silu"}, "swish": {"activation": "silu"},
    "hard_silu": {"activation": "hardswish"}, "hard_swish": {"activation": "hardswish"},
    "sigmoid": {"activation": "sigmoid"}, "tanh": {"activation": "tanh"},
    "hard_sigmoid": {"activation": "hardsigmoid", "alpha": 1 / 6, "beta": 0.5},
    "elu": {"activation": "elu", "alpha": 1.0}, "selu": {"activation": "selu"},
    "softplus": {"activation": "softplus"}, "mish": {"activation": "mish"},
    "leaky_relu": {"activation": "leaky_relu", "slope": 0.2},
}
_WINDOW = {"kernel": ("kernel", "ints"), "stride": ("stride", "ints"),
           "dilation": ("dilation", "ints"), "pad": ("pads", "axis_or_begin_end_pads")}
_SPELLED = {"kernel": "kernel_size", "stride": "strides", "dilation": "dilation_rate",
            "pads": "padding", "eps": "epsilon", "groups": "groups"}
_CONV = OpWords(attrs={**_WINDOW, "group": ("groups", "int")},
                values={"activation": _ACTIVATIONS}, spelled=_SPELLED)
_NORM = {"eps": ("eps", "float")}

_OPS: dict[str, OpWords] = {
    "conv1d": _CONV, "conv2d": _CONV, "depthwiseconv2d": _CONV, "separableconv2d": _CONV,
    "dense": OpWords(values={"activation": _ACTIVATIONS}),
    "activation": OpWords(values={"activation": _ACTIVATIONS}),
    "maxpooling2d": OpWords(fixed={"pool": "max"}, attrs=_WINDOW, spelled=_SPELLED,
                            defaults={"ceil_mode": False}),
    "averagepooling2d": OpWords(fixed={"pool": "avg"}, attrs=_WINDOW, spelled=_SPELLED,
                                defaults={"ceil_mode": False, "count_include_pad": False}),
    "batchnormalization": OpWords(fixed={"norm": "batch"}, attrs=_NORM, spelled=_SPELLED,
                                  defaults={"eps": 1e-3}),
    "layernormalization": OpWords(fixed={"norm": "layer"}, attrs=_NORM, spelled=_SPELLED,
                                  defaults={"eps": 1e-3, "axes": (-1,)}),
    "groupnormalization": OpWords(fixed={"norm": "group"}, attrs=_NORM, spelled=_SPELLED,
                                  defaults={"eps": 1e-3}),
    "softmax": OpWords(attrs={"axis": ("axis", "int")}, defaults={"axis": -1}),
    "concatenate": OpWords(attrs={"axis": ("axis", "int")}, defaults={"axis": -1}),
}


def _advice(node: str, scope: str, words: OpWords | None, spelled: str, value: str,
            file: str) -> str:
    """How to change one argument of a Keras layer."""
    return f"build layer `{node}` with `{spelled}={value}` (in the code that saved {file})"


VOCABULARY = Vocabulary(_OPS, _advice)
