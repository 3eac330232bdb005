"""The error statistic a pair is judged by (``--error-stat``, as Polygraphy's
``--check-error-stat``).

By default the numerics rule judges the RMS of ``a - b`` relative to the pair's scale, and
an explicit tolerance judges every element (numpy ``allclose``). A statistic chosen instead
reduces ``|a - b|`` over the elements finite on both sides:

* under the numerics rule, ``error = stat(|a - b|) / scale``, held to the pair's noise bound
  times the factor the statistic of a noise of that RMS can reach (docs/numerics.md);
* under ``--atol/--rtol``, a pair passes when ``stat(|a - b|) <= atol`` or
  ``stat(|a - b| / |b|) <= rtol`` (Polygraphy's rule; ``rms`` takes the relative error
  normwise, ``rms(a - b) / rms(b)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from parity.error_stat_names import CHOICES, ELEMWISE, MAX, MEAN, MEDIAN, QUANTILE, RMS
from parity.errors import UsageError
from parity.metrics import saturation

__all__ = ["CHOICES", "ELEMWISE", "MAX", "MEAN", "MEDIAN", "QUANTILE", "RMS", "ErrorStat",
           "Reduced", "noise_factor", "reduce"]
DEFAULT_QUANTILE = 0.99
# Correct MobileNetV2 conversions (depthwise convs, ReLU6) reach 1.48 times the Gaussian
# extreme; with this slack the largest max ratio of the real-model corpus is 0.74.
MAX_TAIL_SLACK = 2.0
_TINY = 1e-12  # |b| below this counts as this when dividing (as parity.metrics does)


@dataclass(frozen=True)
class ErrorStat:
    """``name`` None: each rule's own default (``rms`` for numerics, ``elemwise`` for
    allclose); ``quantile`` is the ``q`` of the ``quantile`` statistic."""

    name: str | None = None
    quantile: float = DEFAULT_QUANTILE

    @classmethod
    def from_options(cls, name: str | None = None,
                     quantile: float | None = None) -> ErrorStat:
        if name is not None and name not in CHOICES:
            raise UsageError(f"--error-stat {name!r}: expected one of {', '.join(CHOICES)}")
        q = DEFAULT_QUANTILE if quantile is None else float(quantile)
        if not 0 < q < 1:
            raise UsageError(f"--error-quantile {quantile!r}: must be between 0 and 1 "
                             "(exclusive)")
        if quantile is not None and name != QUANTILE:
            raise UsageError("--error-quantile needs --error-stat quantile")
        return cls(name, q)

    def for_rule(self, numerics: bool) -> str:
        """The statistic a pair judged by the numerics rule (or by allclose) is held to:
        under the numerics rule ``elemwise`` is ``max`` (every element within the bound)."""
        if self.name is None:
            return RMS if numerics else ELEMWISE
        return MAX if numerics and self.name == ELEMWISE else self.name

    @property
    def reduces(self) -> bool:
        """Whether the error column shows another statistic than the RMS."""
        return self.name in (MAX, MEAN, MEDIAN, QUANTILE, ELEMWISE)

    def label(self) -> str:
        """``median``, ``q0.99``; ``err`` for the default RMS error."""
        if not self.reduces:
            return "err"
        if self.name == QUANTILE:
            return f"q{self.quantile:g}"
        return MAX if self.name == ELEMWISE else str(self.name)

    def text(self) -> str:
        """For a report header; empty for the default."""
        if self.name is None:
            return ""
        return f"error statistic {self.label() if self.reduces else self.name}"

    def to_dict(self) -> dict[str, object]:
        return {"error_stat": self.name,
                "error_quantile": self.quantile if self.name == QUANTILE else None}


@dataclass(frozen=True)
class Reduced:
    """A statistic of ``|a - b|`` (``absolute``) and of ``|a - b| / |b|`` (``relative``)."""

    absolute: float
    relative: float


def reduce(stat: str, quantile: float, a: np.ndarray, b: np.ndarray,
           mask_limit: float = math.inf) -> Reduced:
    """``stat`` of the absolute and relative difference of ``a`` against reference ``b``,
    over the elements ordinary on both sides, as :func:`parity.metrics.measure` sums
    them: neither NaN nor saturated nor beyond a mask fill's ``mask_limit`` (0 when there
    are none)."""
    limits = (min(saturation(np.asarray(a).dtype), mask_limit),
              min(saturation(np.asarray(b).dtype), mask_limit))
    xa = np.asarray(a, dtype=np.float64).ravel()
    xb = np.asarray(b, dtype=np.float64).ravel()
    with np.errstate(invalid="ignore"):
        ordinary = (np.abs(xa) < limits[0]) & (np.abs(xb) < limits[1])  # False for NaN
    if not ordinary.all():
        xa, xb = xa[ordinary], xb[ordinary]
    if xa.size == 0:
        return Reduced(0.0, 0.0)
    diff = np.abs(xa - xb)
    ref = np.abs(xb)
    if stat == RMS:
        rms_diff, rms_b = math.sqrt(float(np.mean(diff ** 2))), math.sqrt(
            float(np.mean(ref ** 2)))
        return Reduced(rms_diff, rms_diff / rms_b if rms_b > 0 else
                       (0.0 if rms_diff == 0 else math.inf))
    rel = diff / np.maximum(ref, _TINY)
    return Reduced(_of(stat, quantile, diff), _of(stat, quantile, rel))


def _of(stat: str, quantile: float, values: np.ndarray) -> float:
    if stat in (MAX, ELEMWISE):
        return float(values.max())
    if stat == MEAN:
        return float(values.mean())
    if stat == MEDIAN:
        return float(np.median(values))
    return float(np.quantile(values, quantile))


def noise_factor(stat: str, quantile: float, size: int) -> float:
    """How far ``stat(|d|)`` may exceed ``rms(d)`` for a noise ``d`` of ``size`` values.

    mean: never (Cauchy-Schwarz); median: sqrt(2), quantile q: 1/sqrt(1 - q) (Markov's
    inequality on d^2: a fraction 1 - q of the values at least the quantile holds that
    share of the mean square), whatever the noise's distribution. max: ``MAX_TAIL_SLACK``
    times the largest of ``size`` Gaussian values, sqrt(2 ln(2 size)) standard deviations
    (a distribution-free bound would be sqrt(size)); the slack covers the heavier tails of
    real noise, whose size follows each value's own magnitude.
    """
    if stat in (RMS, MEAN):
        return 1.0
    if stat == MEDIAN:
        return math.sqrt(2.0)
    if stat == QUANTILE:
        return 1.0 / math.sqrt(1.0 - quantile)
    return MAX_TAIL_SLACK * max(1.0, math.sqrt(2.0 * math.log(2.0 * max(size, 1))))
