"""How a pair is judged: explicit tolerances (numpy ``allclose``) or, by default, the
floating-point noise its own computation can produce (see docs/numerics.md)."""

from .criteria import Criteria, Override, parse_tolerance_option
from .judge import Judge, Verdict
from .statistic import ErrorStat

__all__ = ["Criteria", "ErrorStat", "Override", "Judge", "Verdict", "parse_tolerance_option"]
