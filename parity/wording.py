"""Error messages in the words of the interface that was used.

Messages are written once, in the command line's words (``pass --input-shape``). An error
leaving the Python API has its options renamed to the API's keyword arguments
(``pass input_shape=(1, 3, 224, 224)``), so a test author is not told about CLI flags.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import InputError, UsageError

F = TypeVar("F", bound=Callable[..., Any])

# Longest first: each phrase is replaced before its shorter prefixes.
API_WORDS = (
    ("--input-shape (e.g. 1,3,224,224)", "input_shape=(1, 3, 224, 224)"),
    ("--input-shape 1,3,224,224", "input_shape=(1, 3, 224, 224)"),
    ("--input x.npy", "inputs='x.npy'"),
    ("--inputs x.npz", "inputs='x.npz'"),
    ("--a-*/--b-*, --config", "preprocess_a, preprocess_b"),
    ("--atol and --rtol", "atol and rtol"),
    ("--map file", "mapping={a_name: b_name}"),
    ("--input-shape", "input_shape"),
    ("--min-coverage", "min_coverage"),
    ("--save-tensors", "save_tensors"),
    ("--trust-code", "trust_code=True"),
    ("--inputs", "inputs"),
    ("--input", "inputs"),
    ("--image", "image"),
    ("--random", "seed"),
    ("--seed", "seed"),
    ("--atol", "atol"),
    ("--rtol", "rtol"),
    ("--map", "mapping"),
)
_PHRASE = re.compile("(?:" + "|".join(re.escape(cli) for cli, _ in API_WORDS) + r")(?![\w-])")
_API = dict(API_WORDS)


def api_words(message: str) -> str:
    """``message`` with the command line's option names replaced by the API's arguments."""
    return _PHRASE.sub(lambda m: _API[m.group(0)], message)


def speaks_api(function: F) -> F:
    """Re-raise the usage and input errors of ``function`` in the API's words."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        try:
            return function(*args, **kwargs)
        except (UsageError, InputError) as exc:
            reworded = api_words(str(exc))
            if reworded == str(exc):
                raise
            raise type(exc)(reworded) from None

    return wrapper  # type: ignore[return-value]

