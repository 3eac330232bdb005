"""Framework imports kept out of the cyclic garbage collector's way, in a process parity owns.

Importing torch, onnxruntime and their kin builds about a million long-lived objects, and
the collector keeps passing over them while they are built (about 0.2 s of a ResNet-50 CLI
comparison by ``gc.callbacks``; the comparison went from 2.6 to 2.1 s without it). Once the
command line (or a sweep worker) has called :func:`own_process`, :func:`importing` pauses
the collector while an adapter and its framework import for the first time and then freezes
what exists (``gc.freeze``): later passes skip it. A frozen object is never collected, so
the command and :func:`parity.compare` import both models' adapters before they load either.
A library caller's process is left as it is.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_owned = False


def own_process() -> None:
    """Declare the process parity's (the ``parity`` command, a sweep worker)."""
    global _owned
    _owned = True


@contextmanager
def importing(module: str) -> Iterator[None]:
    """The import of ``module``, with the collector paused and everything frozen after, when
    the process is parity's and the module is not imported yet; an ordinary one otherwise."""
    if not _owned or module in sys.modules or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
