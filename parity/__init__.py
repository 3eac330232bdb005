"""parity: find the first layer where two versions of a neural network disagree.

Importing parity loads no framework; backends are imported when a model needs them.
"""

from .api import assert_parity, compare, open_model
from .errors import ParityError
from .report import Report

__all__ = ["compare", "assert_parity", "open_model", "ParityError", "Report"]
__version__ = "0.1.0"
