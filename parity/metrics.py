"""Error metrics between two tensors (pure numpy, vectorised)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_TINY = 1e-12


@dataclass(frozen=True)
class Tolerance:
    """numpy ``allclose`` semantics: ``|a - b| <= atol + rtol * |b|`` everywhere."""

    atol: float = 1e-5
    rtol: float = 1e-5


@dataclass(frozen=True)
class Metrics:
    """How far tensor ``a`` is from tensor ``b``; ``passed`` applies the tolerance."""

    max_abs: float
    mean_abs: float
    max_rel: float
    cosine: float
    nan_a: int
    nan_b: int
    inf_a: int
    inf_b: int
    passed: bool


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


def compare_arrays(a: np.ndarray, b: np.ndarray, tol: Tolerance) -> Metrics:
    """Metrics of ``a`` against reference ``b`` (same shape).

    Works through the tensors in chunks that stay in cache, in their own precision
    (float32 unless either side is float64), with sums accumulated in float64; NaN/Inf
    masks are built only for chunks that hold such values. The cosine is taken from the
    norms of ``a``, ``b`` and ``a - b``, which is exact where it matters (near 1).
    """
    dtype = np.float64 if np.float64 in (a.dtype, b.dtype) else np.float32
    flat_a, flat_b = a.reshape(-1), b.reshape(-1)
    acc = _Accumulator()
    for start in range(0, flat_a.size, _CHUNK):
        acc.add(flat_a[start:start + _CHUNK].astype(dtype, copy=False),
                flat_b[start:start + _CHUNK].astype(dtype, copy=False), tol)
    return acc.metrics(flat_a.size)


_CHUNK = 1 << 18


class _Accumulator:
    """Running sums and extremes of one pair, chunk by chunk."""

    def __init__(self) -> None:
        self.nan_a = self.nan_b = self.inf_a = self.inf_b = self.count = 0
        self.max_abs = self.max_rel = self.total = 0.0
        self.sq_a = self.sq_b = self.sq_diff = 0.0
        self.within = True

    def add(self, xa: np.ndarray, xb: np.ndarray, tol: Tolerance) -> None:
        diff = np.abs(xa - xb)
        total = float(diff.sum(dtype=np.float64))
        if not np.isfinite(total):
            # Non-finite values never count as agreement: NaN on both sides still fails.
            self.nan_a += int(np.isnan(xa).sum())
            self.nan_b += int(np.isnan(xb).sum())
            self.inf_a += int(np.isinf(xa).sum())
            self.inf_b += int(np.isinf(xb).sum())
            keep = np.isfinite(xa) & np.isfinite(xb)
            xa, xb = xa[keep], xb[keep]
            diff = np.abs(xa - xb)
            total = float(diff.sum(dtype=np.float64))
            self.within = False
        if diff.size:
            ref = np.abs(xb)
            self.max_abs = max(self.max_abs, float(diff.max()))
            self.max_rel = max(self.max_rel, float((diff / np.maximum(ref, _TINY)).max()))
            self.within = self.within and bool(np.all(diff <= tol.atol + tol.rtol * ref))
        self.total += total
        self.count += diff.size
        self.sq_a += float(np.square(xa).sum(dtype=np.float64))
        self.sq_b += float(np.square(xb).sum(dtype=np.float64))
        self.sq_diff += float(np.square(diff).sum(dtype=np.float64))

    def metrics(self, size: int) -> Metrics:
        norm_a, norm_b = float(np.sqrt(self.sq_a)), float(np.sqrt(self.sq_b))
        if norm_a == 0.0 or norm_b == 0.0:
            cosine = 1.0 if norm_a == norm_b else 0.0
        else:  # a.b = (|a|^2 + |b|^2 - |a-b|^2) / 2, written so that 1 - cos stays exact
            cosine = 1.0 - (self.sq_diff - (norm_a - norm_b) ** 2) / (2.0 * norm_a * norm_b)
            cosine = min(1.0, max(-1.0, cosine))
        mean_abs = self.total / self.count if self.count else 0.0
        return Metrics(self.max_abs, mean_abs, self.max_rel, cosine, self.nan_a, self.nan_b,
                       self.inf_a, self.inf_b, self.within and self.count == size)


def channel_max_abs(a: np.ndarray, b: np.ndarray) -> tuple[float, ...] | None:
    """Largest absolute difference per channel (axis 1), for tensors with channels."""
    if a.ndim < 2 or a.shape != b.shape:
        return None
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    per_channel = np.moveaxis(diff, 1, 0).reshape(a.shape[1], -1)
    per_channel = np.where(np.isnan(per_channel), np.inf, per_channel)
    return tuple(float(v) for v in per_channel.max(axis=1))
