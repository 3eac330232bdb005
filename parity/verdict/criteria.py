"""What the user asked for: a global tolerance, per-node overrides, or neither."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from parity.errors import UsageError
from parity.metrics import Tolerance

from .statistic import ErrorStat

NUMERICS = "numerics"
NUMERICS_INT8 = "numerics int8"  # the numerics rule with a quantization grid's term
ALLCLOSE = "allclose"
_SHORT = {"float16": "f16", "bfloat16": "bf16"}
_PER_RULE = ErrorStat()  # each rule its own statistic (rms, elemwise)
_DEFAULT = Tolerance()  # the counterpart of a tolerance given alone (atol or rtol 1e-5)


def numerics_stored(dtype: str) -> str:
    """The numerics rule with the rounding of weights stored in ``dtype`` (an IR compressed
    to f16): ``numerics f16 weights``."""
    return f"numerics {_SHORT.get(dtype, dtype)} weights"


@dataclass(frozen=True)
class Override:
    """``--atol NAME=VALUE`` / ``--rtol NAME=VALUE``: allclose for nodes matching a glob."""

    pattern: str
    atol: float | None = None
    rtol: float | None = None

    def matches(self, a: str, b: str) -> bool:
        return fnmatchcase(a, self.pattern) or fnmatchcase(b, self.pattern)

    def text(self) -> str:
        parts = [f"{k}={v:g}" for k, v in (("atol", self.atol), ("rtol", self.rtol))
                 if v is not None]
        return f"{self.pattern}: " + " ".join(parts)


@dataclass(frozen=True)
class Criteria:
    """The tolerance each pair is judged by.

    ``tolerance`` is the global ``--atol/--rtol`` (numpy ``allclose``); None means the
    numerics rule judges every pair no override names. An override takes the first
    matching pattern; the value it leaves out comes from the global tolerance, else 1e-5.
    ``error_stat`` is the statistic of the error each rule judges (``--error-stat``).
    """

    tolerance: Tolerance | None = None
    overrides: tuple[Override, ...] = ()
    error_stat: ErrorStat = ErrorStat()

    def for_pair(self, a: str, b: str) -> tuple[str, Tolerance | None]:
        """``(rule, tolerance)`` of the pair ``a``/``b``: ``numerics`` has no tolerance."""
        base = self.tolerance or _DEFAULT
        for override in self.overrides:
            if override.matches(a, b):
                tol = Tolerance(base.atol if override.atol is None else override.atol,
                                base.rtol if override.rtol is None else override.rtol)
                return f"{ALLCLOSE} {override.pattern}", tol
        if self.tolerance is None:
            return NUMERICS, None
        return ALLCLOSE, self.tolerance

    def text(self) -> str:
        """One line for a report header."""
        head = ("numerics (error vs the floating-point noise bound of each pair)"
                if self.tolerance is None else f"allclose {self.tolerance.text()}")
        if self.overrides:
            head += "; per node: " + ", ".join(o.text() for o in self.overrides)
        if self.error_stat.text():
            head += "; " + self.error_stat.text()
        return head

    @classmethod
    def from_options(cls, atol: Sequence[str] | Mapping[str, float] | float | None = None,
                     rtol: Sequence[str] | Mapping[str, float] | float | None = None,
                     overrides: tuple[Override, ...] = (),
                     error_stat: ErrorStat = _PER_RULE) -> Criteria:
        """Criteria from ``--atol``/``--rtol`` values: numbers, or ``NAME=VALUE`` strings."""
        glob_atol, per_atol = parse_tolerance_option("--atol", atol)
        glob_rtol, per_rtol = parse_tolerance_option("--rtol", rtol)
        merged: dict[str, Override] = {o.pattern: o for o in overrides}
        for pattern, value in per_atol.items():
            merged[pattern] = Override(pattern, value, merged.get(pattern, Override("")).rtol)
        for pattern, value in per_rtol.items():
            merged[pattern] = Override(pattern, merged.get(pattern, Override("")).atol, value)
        tolerance = None
        if glob_atol is not None or glob_rtol is not None:
            tolerance = Tolerance(_DEFAULT.atol if glob_atol is None else glob_atol,
                                  _DEFAULT.rtol if glob_rtol is None else glob_rtol)
        return cls(tolerance, tuple(merged.values()), error_stat)


def parse_tolerance_option(
    flag: str, values: Sequence[str] | Mapping[str, float] | float | None
) -> tuple[float | None, dict[str, float]]:
    """``(global value, {pattern: value})`` from repeated ``VALUE`` / ``NAME=VALUE`` (or a
    ``{pattern: value}`` mapping)."""
    if values is None:
        return None, {}
    if isinstance(values, Mapping):
        values = [f"{name}={value}" for name, value in values.items()]
    elif isinstance(values, (int, float)):
        values = [str(values)]
    found: float | None = None
    per_node: dict[str, float] = {}
    for text in values:
        name, _, number = str(text).rpartition("=")
        try:
            value = float(number)
        except ValueError:
            raise UsageError(f"{flag} {text!r}: expected a number or NAME=NUMBER "
                             "(e.g. 1e-4 or 'conv1*=1e-3')") from None
        if not value >= 0 or value == float("inf"):
            raise UsageError(f"{flag} {text!r}: must be a finite non-negative number")
        if name:
            per_node[name] = value
        else:
            found = value
    return found, per_node
