"""Error metrics between two tensors: one chunked pass, float64 sums (pure numpy).

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

_TINY = 1e-12
_CHUNK = 1 << 18
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
    as frameworks emit for a fully-connected output) are comparable.
    """
    if a.shape == b.shape:
        return a, b
    if a.size == b.size and [d for d in a.shape if d != 1] == [d for d in b.shape if d != 1]:
        return a.reshape(b.shape), b
    return None


def compare_arrays(a: np.ndarray, b: np.ndarray, tol: Tolerance | None = None) -> Metrics:
    """Metrics of ``a`` against reference ``b`` (same shape)."""
    return measure(a, b, tol)[0]


def measure(a: np.ndarray, b: np.ndarray,
            tol: Tolerance | None = None) -> tuple[Metrics, Groups]:
    """Metrics and group statistics of ``a`` against reference ``b`` (same shape).

    One pass over rows of the tensor (a row is one channel of one batch item), chunked so
    a chunk stays in cache, every value taken to float64 before it is squared (float16
    squares overflow at 256, float32 ones at 1.8e19). NaN/Inf masks are built only for
    chunks that hold such values. The cosine comes from the norms of ``a``, ``b`` and
    ``a - b``, which is exact where it matters (near 1). When the pass finds a mask fill
    (:func:`parity.masks.find`), a second pass leaves it out, unless a value contradicts it.
    """
    rows_a, rows_b, channels = _rows(a), _rows(b), _channels(a)
    limits = (saturation(a.dtype), saturation(b.dtype))
    exponents = masks.Exponents()
    acc = _Accumulator(rows_a.shape[0], channels, tol, limits, exponents=exponents)
    _run(acc, rows_a, rows_b)
    fill = masks.find(exponents)
    if fill is not None:
        masked = _Accumulator(rows_a.shape[0], channels, tol,
                              (min(limits[0], fill.ceiling), min(limits[1], fill.ceiling)),
                              fill=fill)
        if _run(masked, rows_a, rows_b):
            acc = masked
    return acc.metrics(), acc.groups(channels, a.size)


def _run(acc: _Accumulator, rows_a: np.ndarray, rows_b: np.ndarray) -> bool:
    """One chunked pass of ``acc`` over both sides' rows; False when a value contradicts
    the mask fill ``acc`` assumes (the pass then stops)."""
    width = rows_a.shape[1]
    step_rows = max(1, _CHUNK // max(width, 1))
    step_cols = min(width, _CHUNK) or 1
    for r0 in range(0, rows_a.shape[0], step_rows):
        for c0 in range(0, max(width, 1), step_cols):
            block = (slice(r0, r0 + step_rows), slice(c0, c0 + step_cols))
            if not acc.add(r0, rows_a[block], rows_b[block]):
                return False
    return True


def saturation(dtype: np.dtype) -> float:
    """The largest finite magnitude of a floating ``dtype`` (infinity for other dtypes):
    a value there has saturated (overflowed, or been set to ``finfo.min`` as a mask)."""
    if np.issubdtype(dtype, np.floating):
        return float(np.finfo(dtype).max)
    return math.inf


def _reaches(x: np.ndarray, squares: float, limit: float) -> bool:
    """Whether a value of ``x`` (whose sum of squares is ``squares``) is at ``limit``."""
    return bool(squares >= limit * limit and np.abs(x).max() >= limit)


def _difference_and_squares(
        xa: np.ndarray, xb: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """``a - b``, the sum of squares of ``a``, and each row's sum of squares of ``b`` and of
    ``a - b`` (float64 chunks)."""
    with np.errstate(invalid="ignore", over="ignore"):
        diff = xa - xb
        return diff, _squares(xa), _row_squares(xb), _row_squares(diff)


def _squares(x: np.ndarray) -> float:
    """The sum of squares of the (contiguous) float64 chunk ``x``, by BLAS."""
    flat = x.reshape(-1)
    return float(np.dot(flat, flat))


def _row_squares(x: np.ndarray) -> np.ndarray:
    """Each row's sum of squares: a batched BLAS dot for wide rows, einsum for narrow ones
    (einsum is 4 times slower on rows of thousands, faster on rows of tens)."""
    if x.shape[1] < 64:
        return np.einsum("ij,ij->i", x, x)
    return np.matmul(x[:, None, :], x[:, :, None]).reshape(-1)


def _channels(a: np.ndarray) -> int:
    """How many groups: the channels of axis 1 when each holds enough values, else one."""
    if a.ndim >= 2 and a.shape[1] > 0 and a.size // a.shape[1] >= MIN_GROUP:
        return int(a.shape[1])
    return 1


def _rows(a: np.ndarray) -> np.ndarray:
    """``a`` as rows of one channel of one batch item (or one row when ungrouped)."""
    if _channels(a) == 1:
        return a.reshape(1, -1)
    return a.reshape(a.shape[0] * a.shape[1], -1)


class _Accumulator:
    """Running sums and extremes of one pair, per row and in total.

    ``saturation`` holds each side's largest finite magnitude (its dtype's ``finfo.max``,
    or a mask fill's ceiling): a value there or beyond (an infinity) is saturated and, like
    NaN, is left out of the sums; it agrees with a saturated value of the same sign on the
    other side. ``exponents`` (first pass) samples the values' binary exponents for
    :func:`parity.masks.find`; ``fill`` (second pass) is the fill checked on every value.
    """

    def __init__(self, rows: int, channels: int, tol: Tolerance | None,
                 saturation: tuple[float, float] = (math.inf, math.inf),
                 exponents: masks.Exponents | None = None,
                 fill: masks.Fill | None = None) -> None:
        self.tol = tol
        self.channels = channels
        self.saturation = saturation
        self.exponents = exponents
        self.fill = fill
        self.nan_a = self.nan_b = self.inf_a = self.inf_b = self.unmatched = self.masked = 0
        self.max_abs = self.max_rel = self.total = 0.0
        self.sq_a = self.sq_b = 0.0
        self.row_sum_b = np.zeros(rows)
        self.row_sq_b = np.zeros(rows)
        self.row_sq_d = np.zeros(rows)
        self.row_max_d = np.zeros(rows)
        self.row_count = np.zeros(rows)
        self.within = True

    def add(self, r0: int, xa: np.ndarray, xb: np.ndarray) -> bool:
        """Add one chunk; False (and nothing added) when it contradicts ``fill``.

        A dozen passes over the chunk, the copies to float64 the only new arrays beside
        the difference; sums of squares by BLAS (ResNet-50's 26.6 M values a side: 90 ms,
        from 122).
        """
        xa = xa.astype(np.float64)
        xb = xb.astype(np.float64)
        if self.exponents is not None:
            self.exponents.add(xa)
            self.exponents.add(xb)
        if self.fill is not None and (self.fill.violated(xa) or self.fill.violated(xb)):
            return False
        rows = slice(r0, r0 + xa.shape[0])
        diff, sq_a, sq_b, sq_d = _difference_and_squares(xa, xb)
        valid = None
        # Any NaN or infinity makes the difference's squares non-finite; a saturated value
        # needs a sum of squares of at least finfo.max squared. Masks only for such chunks.
        if (not np.isfinite(sq_d.sum()) or _reaches(xa, sq_a, self.saturation[0])
                or _reaches(xb, sq_b.sum(), self.saturation[1])):
            valid = self._mask_special(rows, xa, xb)
            xa, xb = np.where(valid, xa, 0.0), np.where(valid, xb, 0.0)
            diff, sq_a, sq_b, sq_d = _difference_and_squares(xa, xb)
        self.sq_a += sq_a
        self.sq_b += float(sq_b.sum())
        self.row_sq_b[rows] += sq_b
        self.row_sq_d[rows] += sq_d
        self.row_sum_b[rows] += xb.sum(axis=1)
        self.row_count[rows] += xa.shape[1] if valid is None else valid.sum(axis=1)
        if not xa.size:
            return True
        ad = np.abs(diff, out=diff)
        row_max = ad.max(axis=1)
        self.row_max_d[rows] = np.maximum(self.row_max_d[rows], row_max)
        chunk_max = float(row_max.max())
        self.max_abs = max(self.max_abs, chunk_max)
        self.total += float(ad.sum())
        ref = np.abs(xb, out=xb)
        if self.tol is not None and self.within and chunk_max > self.tol.atol:
            self.within = bool(np.all(ad <= self.tol.atol + self.tol.rtol * ref))
        np.copyto(ref, _TINY, where=ref < _TINY)  # np.maximum is three times slower
        self.max_rel = max(self.max_rel, float(np.divide(ad, ref, out=ref).max()))
        return True

    def _mask_special(self, rows: slice, xa: np.ndarray, xb: np.ndarray) -> np.ndarray:
        """Count NaN/Inf and leave NaN and saturated values out of the sums.

        NaN agrees with NaN at the same place, a saturated value with one of the same
        sign (``-inf`` with ``finfo.min``: both are "as negative as the dtype goes", as
        attention masks are filled). Elements where the sides disagree count as
        unmatched and make their row's largest difference infinite. Under an explicit
        tolerance they are held to ``numpy.isclose(..., equal_nan=True)``. Returns where
        both sides hold ordinary finite values.
        """
        nan_a, nan_b = np.isnan(xa), np.isnan(xb)
        self.nan_a += int(nan_a.sum())
        self.nan_b += int(nan_b.sum())
        self.inf_a += int(np.isinf(xa).sum())
        self.inf_b += int(np.isinf(xb).sum())
        with np.errstate(invalid="ignore"):
            sat_a = np.abs(xa) >= self.saturation[0]
            sat_b = np.abs(xb) >= self.saturation[1]
        valid = ~(nan_a | nan_b | sat_a | sat_b)
        masked = sat_a & sat_b & (np.sign(xa) == np.sign(xb))
        self.masked += int(masked.sum())
        agree = (nan_a & nan_b) | masked
        bad = ~valid & ~agree
        if bad.any():
            self.unmatched += int(bad.sum())
            self.row_max_d[rows] = np.where(bad.any(axis=1), np.inf, self.row_max_d[rows])
        if self.tol is not None and self.within:
            special = ~valid
            self.within = bool(np.all(np.isclose(xa[special], xb[special], self.tol.rtol,
                                                 self.tol.atol, equal_nan=True)))
        return valid

    def metrics(self) -> Metrics:
        count = float(self.row_count.sum())
        norm_a, norm_b = math.sqrt(self.sq_a), math.sqrt(self.sq_b)
        sq_diff = float(self.row_sq_d.sum())
        if norm_a == 0.0 or norm_b == 0.0:
            cosine = 1.0 if norm_a == norm_b else 0.0
        else:  # a.b = (|a|^2 + |b|^2 - |a-b|^2) / 2, written so that 1 - cos stays exact
            cosine = 1.0 - (sq_diff - (norm_a - norm_b) ** 2) / (2.0 * norm_a * norm_b)
            cosine = min(1.0, max(-1.0, cosine))
        if self.unmatched:
            self.max_abs = math.inf
        mean = (lambda s: s / count) if count else (lambda s: 0.0)
        return Metrics(
            self.max_abs, mean(self.total), self.max_rel, cosine, self.nan_a, self.nan_b,
            self.inf_a, self.inf_b, math.sqrt(mean(self.sq_a)), math.sqrt(mean(self.sq_b)),
            math.sqrt(mean(sq_diff)), self.unmatched,
            None if self.tol is None else self.within, self.masked,
            math.inf if self.fill is None else self.fill.ceiling)

    def groups(self, channels: int, size: int) -> Groups:
        index = np.arange(self.row_count.size) % channels
        count = np.bincount(index, self.row_count, channels)
        safe = np.maximum(count, 1.0)
        mean_b = np.bincount(index, self.row_sum_b, channels) / safe
        msq_b = np.bincount(index, self.row_sq_b, channels) / safe
        var_b = np.maximum(msq_b - mean_b ** 2, 0.0)
        msq = np.bincount(index, self.row_sq_d, channels) / safe
        max_d = np.zeros(channels)
        np.maximum.at(max_d, index, self.row_max_d)
        return Groups(var_b, msq_b, msq, max_d, count, channels > 1)


def channel_max_abs(groups: Groups) -> tuple[float, ...] | None:
    """Largest absolute difference per channel (axis 1), when the groups are channels."""
    return tuple(float(v) for v in groups.max_diff) if groups.per_channel else None
