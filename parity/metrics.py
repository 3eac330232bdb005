"""Error metrics between two tensors: one pass of a C kernel, float64 sums.

Besides the summary a report shows (max-abs, mean-abs, max-rel, cosine, NaN/Inf counts)
the pass gathers what the numerics rule of :mod:`parity.verdict` needs: RMS values of
both sides and of their difference, and per-group statistics (mean and spread of the
reference, mean square and largest difference) from which a layer's gain is estimated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import masks

try:
    from . import _metrics_kernel
except ImportError as exc:  # a source tree used without building it
    raise ImportError("parity's C metrics kernel (parity/_metrics_kernel.c) is not built: "
                      "install parity (`pip install -e .` in a checkout)") from exc

# A channel (axis 1) is a group of its own only when it holds this many values; smaller
# channels (a (1, C) FC output, a (1, C, 1, 1) pooled tensor) form one group together.
MIN_GROUP = 16


@dataclass(frozen=True)
class Tolerance:
    """numpy ``allclose`` semantics: ``|a - b| <= atol + rtol * |b|`` everywhere."""

    atol: float = 1e-5
    rtol: float = 1e-5

    def text(self) -> str:
        return f"atol={self.atol:g} rtol={self.rtol:g}"


@dataclass(frozen=True)
class Metrics:
    """How far tensor ``a`` is from tensor ``b``.

    Sums run over the elements that are ordinary on both sides: neither NaN nor saturated
    (at the dtype's ``finfo.max`` in magnitude, or infinite) nor, when the pair holds a
    mask fill at an ordinary large number (:mod:`parity.masks`), at or beyond
    ``-mask_limit``. ``unmatched`` counts the elements where the sides are not both
    ordinary and do not agree: NaN on both sides, or saturated (or mask) values on both
    with the same sign, agree; ``masked`` counts the agreeing saturated and mask values.
    ``within`` is numpy ``allclose`` (``equal_nan=True``) against the tolerance asked
    for, if any.
    """

    max_abs: float
    mean_abs: float
    max_rel: float
    cosine: float
    nan_a: int
    nan_b: int
    inf_a: int
    inf_b: int
    rms_a: float = 0.0
    rms_b: float = 0.0
    rms_diff: float = 0.0
    unmatched: int = 0
    within: bool | None = None
    masked: int = 0
    mask_limit: float = math.inf

    @property
    def passed(self) -> bool:
        """numpy ``allclose`` against the tolerance measured with (False without one)."""
        return bool(self.within)

    @property
    def scale(self) -> float:
        """The tensors' scale: the larger RMS of the two sides."""
        return max(self.rms_a, self.rms_b)

    @property
    def error(self) -> float:
        """Error relative to scale: RMS of ``a - b`` over the larger RMS of ``a``, ``b``."""
        if self.unmatched:
            return math.inf
        return self.rms_diff / self.scale if self.scale > 0 else 0.0


@dataclass(frozen=True)
class Groups:
    """Per-group statistics of one pair (a group is a channel, or the whole tensor).

    ``var_b`` is the spread of the reference within each group, ``msq_b`` its mean square,
    ``msq_diff`` the mean square of ``a - b``, ``max_diff`` the largest ``|a - b|``
    (infinite where a value is not finite on one side), ``count`` the finite elements;
    ``per_channel`` tells whether the groups are the channels of axis 1.
    """

    var_b: np.ndarray
    msq_b: np.ndarray
    msq_diff: np.ndarray
    max_diff: np.ndarray
    count: np.ndarray
    per_channel: bool

    @property
    def size(self) -> int:
        return int(self.count.sum())

    def mean_var(self) -> float:
        """Mean spread of the reference within its groups, weighted by their size."""
        return _weighted(self.var_b, self.count)

    def mean_square(self) -> float:
        """Mean square of the reference."""
        return _weighted(self.msq_b, self.count)

    def mean_msq(self) -> float:
        """Mean square of the difference."""
        return _weighted(self.msq_diff, self.count)


def _weighted(values: np.ndarray, count: np.ndarray) -> float:
    total = float(count.sum())
    return float((values * count).sum() / total) if total else 0.0


def squeeze_to_common(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Both arrays in one shape, or ``None`` when their shapes differ for real.

    Shapes that differ only by size-1 dimensions (``(1, 128)`` vs ``(1, 128, 1, 1)``,
    as frameworks emit for a fully-connected output) are comparable, and so are shapes
    where one side merges neighbouring dimensions of the other (the same values in the
    same order): a converter runs a LayerNorm or a Linear on ``(1, H*W, C)`` where torch
    has ``(1, H, W, C)``, or attention with the heads merged into the batch,
    ``(B*heads, L, L)`` for ``(B, heads, L, L)``. Both are then in the finer shape.
    """
    if a.shape == b.shape:
        return a, b
    if a.size != b.size:
        return None
    dims_a, dims_b = [d for d in a.shape if d != 1], [d for d in b.shape if d != 1]
    if dims_a == dims_b:
        return a.reshape(b.shape), b
    if len(dims_b) > len(dims_a) and _merges(dims_a, dims_b):
        return a.reshape(b.shape), b
    if len(dims_a) > len(dims_b) and _merges(dims_b, dims_a):
        return a, b.reshape(a.shape)
    return None


def _merges(coarse: list[int], fine: list[int]) -> bool:
    """Each of ``coarse``'s dimensions is the product of a run of ``fine``'s, in order."""
    k = 0
    for dim in coarse:
        product = 1
        while k < len(fine) and product < dim:
            product *= fine[k]
            k += 1
        if product != dim:
            return False
    return k == len(fine)


def compare_arrays(a: np.ndarray, b: np.ndarray, tol: Tolerance | None = None) -> Metrics:
    """Metrics of ``a`` against reference ``b`` (same shape)."""
    return measure(a, b, tol)[0]


def measure(a: np.ndarray, b: np.ndarray,
            tol: Tolerance | None = None) -> tuple[Metrics, Groups]:
    """Metrics and group statistics of ``a`` against reference ``b`` (same shape).

    One pass of the C kernel (:mod:`parity._metrics_kernel`) over rows of the tensor (a
    row is one channel of one batch item), every value taken to float64 before it is
    squared (float16 squares overflow at 256, float32 ones at 1.8e19). The cosine comes
    from the norms of ``a``, ``b`` and ``a - b``, which is exact where it matters (near
    1). When a sample of the values shows a mask fill (:func:`parity.masks.find`), a
    second pass leaves it out, unless a value contradicts it.
    """
    channels = _channels(a)
    rows_a, rows_b = _kernel_rows(a, b, channels)
    limits = (saturation(a.dtype), saturation(b.dtype))
    exponents = masks.Exponents()
    exponents.add(a)
    exponents.add(b)
    sums = _Sums(rows_a.shape[0], tol)
    sums.run(rows_a, rows_b, limits)
    fill = masks.find(exponents)
    if fill is not None:
        masked = _Sums(rows_a.shape[0], tol)
        if masked.run(rows_a, rows_b, limits, fill):
            sums = masked
    return sums.metrics(), sums.groups(channels)


def saturation(dtype: np.dtype) -> float:
    """The largest finite magnitude of a floating ``dtype`` (infinity for other dtypes):
    a value there has saturated (overflowed, or been set to ``finfo.min`` as a mask)."""
    if np.issubdtype(dtype, np.floating):
        return float(np.finfo(dtype).max)
    return math.inf


def _channels(a: np.ndarray) -> int:
    """How many groups: the channels of axis 1 when each holds enough values, else one."""
    if a.ndim >= 2 and a.shape[1] > 0 and a.size // a.shape[1] >= MIN_GROUP:
        return int(a.shape[1])
    return 1


def _kernel_rows(a: np.ndarray, b: np.ndarray,
                 channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Both sides as C-contiguous rows (one channel of one batch item, or one row when
    ungrouped) of one dtype the kernel reads: float32 when both fit it exactly (float16,
    float32), else float64."""
    narrow = (np.float16, np.float32)
    dtype = np.float32 if a.dtype in narrow and b.dtype in narrow else np.float64
    rows = a.shape[0] * channels if channels > 1 else 1
    return tuple(np.ascontiguousarray(x, dtype=dtype).reshape(rows, -1) for x in (a, b))


class _Sums:
    """What the kernel adds up for one pair: per row (sum of the reference, sums of squares
    of the reference and of the difference, largest difference, count of ordinary values)
    and in total (see :data:`_TOTALS`).

    A value at a side's saturation (its dtype's ``finfo.max``, or a mask fill's ceiling)
    or beyond (an infinity) is saturated and, like NaN, is left out of the sums; it agrees
    with a saturated value of the same sign on the other side (``-inf`` with
    ``finfo.min``: both are "as negative as the dtype goes", as attention masks are
    filled). Elements where the sides disagree count as unmatched and make their row's
    largest difference infinite. Under a tolerance they are held to
    ``numpy.isclose(..., equal_nan=True)``.
    """

    def __init__(self, rows: int, tol: Tolerance | None) -> None:
        self.tol = tol
        self.ceiling = math.inf
        self.rows = np.zeros((rows, len(_ROW_FIELDS)))
        self.totals = np.zeros(len(_TOTALS))
        self.totals[_TOTALS.index("within")] = 1.0

    def run(self, rows_a: np.ndarray, rows_b: np.ndarray, limits: tuple[float, float],
            fill: masks.Fill | None = None) -> bool:
        """One pass over both sides; with a mask ``fill``, whose ceiling then bounds both
        sides' saturation, False as soon as a value contradicts it."""
        if fill is not None:
            self.ceiling = fill.ceiling
            limits = (min(limits[0], fill.ceiling), min(limits[1], fill.ceiling))
        tol = self.tol or Tolerance()
        floor = math.inf if fill is None else fill.floor
        return _metrics_kernel.accumulate(rows_a, rows_b, self.rows, self.totals, *limits,
                                          tol.atol, tol.rtol, self.tol is not None, floor,
                                          self.ceiling)

    def total(self, name: str) -> float:
        return float(self.totals[_TOTALS.index(name)])

    def metrics(self) -> Metrics:
        t = self.total
        count = float(self.rows[:, _COUNT].sum())
        sq_a, sq_b = t("sq_a"), float(self.rows[:, _SQ_B].sum())
        sq_diff = float(self.rows[:, _SQ_D].sum())
        norm_a, norm_b = math.sqrt(sq_a), math.sqrt(sq_b)
        if norm_a == 0.0 or norm_b == 0.0:
            cosine = 1.0 if norm_a == norm_b else 0.0
        else:  # a.b = (|a|^2 + |b|^2 - |a-b|^2) / 2, written so that 1 - cos stays exact
            cosine = 1.0 - (sq_diff - (norm_a - norm_b) ** 2) / (2.0 * norm_a * norm_b)
            cosine = min(1.0, max(-1.0, cosine))
        unmatched = int(t("unmatched"))
        mean = (lambda s: s / count) if count else (lambda s: 0.0)
        return Metrics(
            math.inf if unmatched else t("max_abs"), mean(t("abs_sum")), t("max_rel"),
            cosine, int(t("nan_a")), int(t("nan_b")), int(t("inf_a")), int(t("inf_b")),
            math.sqrt(mean(sq_a)), math.sqrt(mean(sq_b)), math.sqrt(mean(sq_diff)),
            unmatched, None if self.tol is None else bool(t("within")), int(t("masked")),
            self.ceiling)

    def groups(self, channels: int) -> Groups:
        index = np.arange(self.rows.shape[0]) % channels

        def per(field: int) -> np.ndarray:
            return np.bincount(index, self.rows[:, field], channels)

        count = per(_COUNT)
        safe = np.maximum(count, 1.0)
        mean_b = per(_SUM_B) / safe
        msq_b = per(_SQ_B) / safe
        var_b = np.maximum(msq_b - mean_b ** 2, 0.0)
        max_d = np.zeros(channels)
        np.maximum.at(max_d, index, self.rows[:, _MAX_D])
        return Groups(var_b, msq_b, per(_SQ_D) / safe, max_d, count, channels > 1)


# The kernel's layout (enum total, enum row in parity/_metrics_kernel.c).
_TOTALS = ("sq_a", "abs_sum", "max_abs", "max_rel", "nan_a", "nan_b", "inf_a", "inf_b",
           "unmatched", "masked", "within")
_ROW_FIELDS = ("sum_b", "sq_b", "sq_d", "max_d", "count")
_SUM_B, _SQ_B, _SQ_D, _MAX_D, _COUNT = range(len(_ROW_FIELDS))


def channel_max_abs(groups: Groups) -> tuple[float, ...] | None:
    """Largest absolute difference per channel (axis 1), when the groups are channels."""
    return tuple(float(v) for v in groups.max_diff) if groups.per_channel else None
