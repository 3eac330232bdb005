"""The hint codes: stable names a report, a test or a script can rely on.

``MEANINGS`` is the table docs/reading-a-report.md shows (a test keeps the two equal).
"""

from __future__ import annotations

CHANNEL_ORDER = "channel_order"
INPUT_NORMALIZATION = "input_normalization"
LAYOUT = "layout"
BN_EPS_MISMATCH = "bn_eps_mismatch"
BN_STATS_DIFFER = "bn_stats_differ"
POOL_CEIL_MODE = "pool_ceil_mode"
POOL_PADDING = "pool_padding"
PAD_PLACEMENT = "pad_placement"
NORM_EPS_MISMATCH = "norm_eps_mismatch"
ACTIVATION_CHANGED = "activation_changed"
RESIZE_MODE = "resize_mode"
RESIZE_SIZE = "resize_size"
AXIS_MISMATCH = "axis_mismatch"
ATTRIBUTE_MISMATCH = "attribute_mismatch"
FLATTEN_ORDER = "flatten_order"
CONCAT_ORDER = "concat_order"
OPERAND_ORDER = "operand_order"
WEIGHTS_DIFFER = "weights_differ"
LAYER_MATH_DIFFERS = "layer_math_differs"
RECEIVED_ERROR = "received_error"
TRAIN_MODE = "train_mode"
PRECISION = "precision"
FLOAT_OVERFLOW = "float_overflow"
QUANT_SATURATION = "quant_saturation"

MEANINGS: dict[str, str] = {
    CHANNEL_ORDER: "input (or first conv weights, also behind a folded BatchNorm) match once "
                   "RGB/BGR is reversed",
    INPUT_NORMALIZATION: "the inputs are an affine map of each other: different mean/scale",
    LAYOUT: "tensors match after an NHWC↔NCHW transpose",
    BN_EPS_MISMATCH: "BatchNorm eps differs (or recomputing with another eps closes the gap), "
                     "also behind a BatchNorm folded into a convolution or a linear layer (eps "
                     "recovered per channel)",
    BN_STATS_DIFFER: "a BatchNorm folded into a convolution or a linear layer was folded with "
                     "other running statistics",
    POOL_CEIL_MODE: "pooled sizes differ by one: one side rounds up, the other down",
    POOL_PADDING: "average pooling counts its padding differently (count_include_pad / "
                  "exclusive, padding on one side only)",
    PAD_PLACEMENT: "the same total padding placed on other sides (TF SAME vs symmetric)",
    NORM_EPS_MISMATCH: "LayerNorm / InstanceNorm / GroupNorm eps differs, confirmed by "
                       "recomputing; or the eps a spelled-out RMSNorm adds before its rsqrt, "
                       "read from the values",
    ACTIVATION_CHANGED: "the activation or its parameters differ (ReLU6 clip lost, "
                        "LeakyReLU/PReLU slope, GELU exact vs tanh, SiLU/hardswish variants), "
                        "also an activation spelled out in other ops, identified by "
                        "recomputing",
    RESIZE_MODE: "resize interpolation or coordinate mapping differs (nearest vs bilinear, "
                 "align_corners)",
    RESIZE_SIZE: "a resize produces another output size (sizes baked for another input, a "
                 "scale written for another factor)",
    AXIS_MISMATCH: "softmax / concat / reduction over another axis (also the axes a "
                   "decomposed normalisation reduces over)",
    ATTRIBUTE_MISMATCH: "another attribute of the layer differs (kernel, stride, dilation, "
                        "groups, keepdims, permutation..., the one constant it adds, "
                        "multiplies or divides by, or the scale of its attention scores)",
    FLATTEN_ORDER: "the first fully-connected layer expects the other flatten order, or a "
                   "flatten reads its input's axes in another order (H,W vs W,H)",
    CONCAT_ORDER: "a concat matches after permuting its input blocks (also a constant "
                  "block, such as a class token)",
    OPERAND_ORDER: "a layer reads its inputs in another order: an attention's query and "
                   "key swapped",
    WEIGHTS_DIFFER: "the aligned layer's parameters differ: the conversion of that layer "
                    "(also behind a folded BatchNorm, or a constant tensor it adds or "
                    "multiplies by)",
    LAYER_MATH_DIFFERS: "replayed alone on A's input, B's layer still differs: its own "
                        "conversion is wrong (no other hint names the cause)",
    RECEIVED_ERROR: "replayed alone on A's input, B's layer agrees with A: it only received "
                    "error from upstream",
    TRAIN_MODE: "a PyTorch model ran with batch statistics / dropout",
    QUANT_SATURATION: "a quantized tensor's range is too narrow: values beyond its int8 "
                      "grid's ends are clipped (calibration range or scale)",
    FLOAT_OVERFLOW: "a float16 (bfloat16) side overflows: the float32 side's values there "
                    "exceed its largest finite value, where it holds inf or NaN",
    PRECISION: "the error is at the level of the dtype's rounding, not a bug",
}
