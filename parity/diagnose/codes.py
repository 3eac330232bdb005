"""The hint codes: stable names a report, a test or a script can rely on.

``MEANINGS`` is the table docs/reading-a-report.md shows (a test keeps the two equal).
"""

from __future__ import annotations

CHANNEL_ORDER = "channel_order"
INPUT_NORMALIZATION = "input_normalization"
LAYOUT = "layout"
BN_EPS_MISMATCH = "bn_eps_mismatch"
POOL_CEIL_MODE = "pool_ceil_mode"
FLATTEN_ORDER = "flatten_order"
CONCAT_ORDER = "concat_order"
WEIGHTS_DIFFER = "weights_differ"
TRAIN_MODE = "train_mode"
PRECISION = "precision"

MEANINGS: dict[str, str] = {
    CHANNEL_ORDER: "input (or first conv weights) match once RGB/BGR is reversed",
    INPUT_NORMALIZATION: "the inputs are an affine map of each other: different mean/scale",
    LAYOUT: "tensors match after an NHWC↔NCHW transpose",
    BN_EPS_MISMATCH: "BatchNorm eps differs (or recomputing with another eps closes the gap)",
    POOL_CEIL_MODE: "pooled sizes differ by one: one side rounds up, the other down",
    FLATTEN_ORDER: "the first fully-connected layer expects the other flatten order",
    CONCAT_ORDER: "a concat matches after permuting its input blocks",
    WEIGHTS_DIFFER: "the aligned layer's parameters differ: the conversion of that layer",
    TRAIN_MODE: "a PyTorch model ran with batch statistics / dropout",
    PRECISION: "the error is at the level of the dtype's rounding, not a bug",
}
