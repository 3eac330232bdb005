"""parity: find the first layer where two versions of a neural network disagree.

Importing parity loads neither a framework nor numpy: the public names below are resolved on
first use (module ``__getattr__``), so ``parity --help`` and ``import parity`` stay cheap.
Backends are imported when a model needs them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import assert_parity, compare, open_model
    from .errors import ParityAssertionError, ParityError
    from .report import Report

__all__ = ["compare", "assert_parity", "open_model", "ParityError", "ParityAssertionError",
           "Report"]
__version__ = "0.1.0"

# Public name -> the submodule that defines it.
_LAZY = {"compare": "api", "assert_parity": "api", "open_model": "api",
         "ParityError": "errors", "ParityAssertionError": "errors", "Report": "report"}


def __getattr__(name: str) -> Any:
    """Import the submodule behind a public name the first time it is asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'parity' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
