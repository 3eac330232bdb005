"""Diagnosis: name the likely cause of a divergence, with evidence.

Each check looks at the two graphs' attributes, parameters and the tensors already
captured, and returns hints with a stable ``code``. A correct pair produces none.
"""

from __future__ import annotations

from .evidence import Evidence
from .registry import CHECKS, diagnose

__all__ = ["CHECKS", "Evidence", "diagnose"]
