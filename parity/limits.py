"""Caps on what an input file may make parity allocate or recurse into, checked first.

Every size is checked before the memory is taken: a random input's shape, an ``.npy``
header or ``.npz`` member, an image's header, an ONNX tensor's external data. Nesting is
counted before a JSON, TOML or prototxt document is parsed, so a deep document is one
line of error instead of a ``RecursionError``. The caps are generous for real models and
a flag raises each one (``--max-tensor-size``, ``--max-pixels``, ``--max-depth``); the
library reads them from :func:`current` and sets them with :func:`using`.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import InputError, ParityError, UsageError, shown_path

GIB = 2**30


@dataclass(frozen=True)
class Limits:
    """The caps in force: bytes of one tensor, pixels of one image, nesting of a document."""

    tensor_bytes: int = 4 * GIB
    image_pixels: int = 200_000_000
    depth: int = 100
    text_bytes: int = 256 * 2**20


_DEFAULT = Limits()
_CURRENT: ContextVar[Limits | None] = ContextVar("parity_limits", default=None)


def current() -> Limits:
    """The caps in force for this thread or task."""
    return _CURRENT.get() or _DEFAULT


@contextmanager
def using(**caps: int) -> Iterator[Limits]:
    """Raise or lower caps for the ``with`` block: ``using(tensor_bytes=16 * GIB)``."""
    token = _CURRENT.set(replace(current(), **caps))
    try:
        yield current()
    finally:
        _CURRENT.reset(token)


def set_caps(**caps: int) -> None:
    """Set caps for the rest of the process (the CLI's flags)."""
    _CURRENT.set(replace(current(), **caps))


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.I)


def parse_size(text: str, option: str) -> int:
    """``8G``, ``512M``, ``1000000`` -> bytes (binary multiples)."""
    match = _SIZE.match(text)
    if match is None:
        raise UsageError(f"{option} {text!r}: expected a size like 8G, 512M or 1000000")
    power = " kmgt".index(match[2].lower() or " ")
    return int(float(match[1]) * 1024**power)


def readable_size(count: int) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", GIB), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} bytes"


def check_tensor(shape: Sequence[int], itemsize: int, what: str) -> None:
    """Refuse a tensor of ``shape`` whose bytes exceed the cap, before it is allocated."""
    if any(int(d) < 0 for d in shape):
        raise InputError(f"{what}: shape {tuple(shape)} has a negative dimension")
    size = math.prod(int(d) for d in shape) * itemsize
    cap = current().tensor_bytes
    if size > cap:
        raise InputError(f"{what}: shape {tuple(int(d) for d in shape)} needs "
                         f"{readable_size(size)}, over the {readable_size(cap)} cap "
                         "(raise it with --max-tensor-size)")


def check_pixels(width: int, height: int, what: str) -> None:
    """Refuse an image of more pixels than the cap, from its header, before decoding."""
    cap = current().image_pixels
    if width * height > cap:
        raise InputError(f"{what}: {width}x{height} image has {width * height:,} pixels, over "
                         f"the {cap:,} cap (raise it with --max-pixels)")


def regular_file(path: Path, what: str, error: type[ParityError] = InputError) -> int:
    """The size of ``path`` when it is a regular file; a pipe, device or folder is refused.

    Opening a named pipe would block until a writer comes, so it is never opened.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{shown_path(path)}: {what} not found") from None
    except OSError as exc:
        raise error(f"{shown_path(path)}: cannot read the {what} "
                         f"({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{shown_path(path)}: is a folder, expected a file ({what})")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{shown_path(path)}: is not a regular file (a pipe or a device?), "
                         f"expected a file ({what}); parity does not read pipes")
    return info.st_size


def read_text(path: Path, what: str) -> str:
    """A small UTF-8 text file (mapping, config, report): a regular file under the cap."""
    size = regular_file(path, what, UsageError)
    cap = current().text_bytes
    if size > cap:
        raise UsageError(f"{shown_path(path)}: {readable_size(size)} is too large "
                         f"({what}, cap {readable_size(cap)})")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{shown_path(path)}: {what} is not UTF-8 text ({exc.reason})") \
            from None
    except OSError as exc:
        raise UsageError(f"{shown_path(path)}: cannot read the {what} "
                         f"({exc.strerror or exc})") from None


_TOKENS = re.compile(r""""(?:[^"\\]|\\.)*"?|'[^'\n]*'?|#[^\n]*|[\[\]{}<>]""")


def check_depth(text: str, what: str, brackets: str = "[{") -> None:
    """Refuse ``text`` nested deeper than the cap; brackets in strings and comments do not count.

    ``brackets`` are the openers that nest (``[{`` for JSON and TOML, ``{<`` for prototxt).
    """
    cap = current().depth
    closers = {"{": "}", "[": "]", "<": ">"}
    opening, closing = set(brackets), {closers[b] for b in brackets}
    depth = 0
    for token in _TOKENS.finditer(text):
        char = token[0]
        if char in opening:
            depth += 1
            if depth > cap:
                raise InputError(f"{what}: nested more than {cap} levels deep "
                                 "(raise the cap with --max-depth)")
        elif char in closing:
            depth = max(0, depth - 1)
