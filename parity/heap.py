"""glibc's heap tuned for a capture, which holds every activation of a pass at once.

By default glibc gives each block above its mmap threshold its own mapping and returns it
to the system when freed, and trims the heap's free top; a capture allocates every
intermediate tensor and keeps it, so each run page-faults all its activations in afresh
(ResNet-50's TorchScript capture: 130 ms a run instead of the 35 ms of its plain forward).
:func:`reuse_freed_blocks` raises both thresholds, so freed blocks stay in the heap and the
next allocations reuse their pages. Every backend asks for it before loading its model
(done later, the weights' mappings and the heap interleave and the first runs still
fault: 210 ms against 124 ms for ResNet-50's first capture). The setting is the process's
from then on; :func:`give_back_freed_blocks` returns the free pages to the system once a
comparison is done. Both do nothing where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Blocks up to this size come from the heap (glibc's default starts at 128 KiB).
_MMAP_THRESHOLD = 1 << 30
_NEVER_TRIM = (1 << 31) - 1


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """glibc, by its fixed soname (``ctypes.util.find_library`` runs ``ldconfig``: 16 ms)."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return None
        return ctypes.CDLL("libc.so.6")
    except (ValueError, OSError, AttributeError):  # no such confstr name, or no glibc
        return None


@functools.cache
def reuse_freed_blocks() -> None:
    """Keep freed large blocks in the heap for the next run (once per process)."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
        libc.mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM)


def give_back_freed_blocks() -> None:
    """Return the heap's free pages to the system (``malloc_trim``)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def gives_back_after(function: Callable[P, R]) -> Callable[P, R]:
    """``function``, followed by :func:`give_back_freed_blocks` once it has returned (and
    its locals, the models it opened, are gone)."""
    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        finally:
            give_back_freed_blocks()
    return wrapper
