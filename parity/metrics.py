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
    """Metrics of ``a`` against reference ``b`` (same shape)."""
    a64 = a.astype(np.float64, copy=False)
    b64 = b.astype(np.float64, copy=False)
    nan_a, nan_b = int(np.isnan(a64).sum()), int(np.isnan(b64).sum())
    inf_a, inf_b = int(np.isinf(a64).sum()), int(np.isinf(b64).sum())
    finite = np.isfinite(a64) & np.isfinite(b64)
    diff = np.abs(a64[finite] - b64[finite])
    ref = np.abs(b64[finite])
    if diff.size:
        max_abs = float(diff.max())
        mean_abs = float(diff.mean())
        max_rel = float((diff / np.maximum(ref, _TINY)).max())
    else:
        max_abs = mean_abs = max_rel = 0.0
    cosine = _cosine(a64[finite], b64[finite])
    # Non-finite values never count as agreement: NaN on both sides is still a failure.
    passed = bool(
        finite.all() and diff.size == a64.size and np.all(diff <= tol.atol + tol.rtol * ref)
    )
    return Metrics(max_abs, mean_abs, max_rel, cosine, nan_a, nan_b, inf_a, inf_b, passed)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norm == 0.0:
        return 1.0 if not a.any() and not b.any() else 0.0
    return float(np.dot(a.ravel(), b.ravel()) / norm)


def channel_max_abs(a: np.ndarray, b: np.ndarray) -> tuple[float, ...] | None:
    """Largest absolute difference per channel (axis 1), for tensors with channels."""
    if a.ndim < 2 or a.shape != b.shape:
        return None
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    per_channel = np.moveaxis(diff, 1, 0).reshape(a.shape[1], -1)
    per_channel = np.where(np.isnan(per_channel), np.inf, per_channel)
    return tuple(float(v) for v in per_channel.max(axis=1))
