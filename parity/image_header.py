"""An image's width and height from its header, read before anything decodes the pixels.

PNG, JPEG, BMP, GIF, WebP and PNM headers are read here (a few bytes each, a few segments
for JPEG); other formats return None and are left to OpenCV's own pixel cap.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import BinaryIO

_PNM = re.compile(rb"^P[1-7]\s+(?:#[^\n]*\n\s*)*(\d+)\s+(?:#[^\n]*\n\s*)*(\d+)")


def image_size(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` from the header of the image at ``path``, or None if unknown."""
    with path.open("rb") as handle:
        head = handle.read(64)
        try:
            return _size(head, handle)
        except (struct.error, ValueError):
            return None


def has_alpha(path: Path) -> bool:
    """Whether the header says the image has an alpha channel (PNG gray+alpha or RGBA)."""
    with path.open("rb") as handle:
        head = handle.read(26)
    return head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) == 26 and head[25] in (4, 6)


def _size(head: bytes, handle: BinaryIO) -> tuple[int, int] | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return struct.unpack("<HH", head[6:10])
    if head.startswith(b"BM"):
        width, height = struct.unpack("<ii", head[18:26])
        return abs(width), abs(height)
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return _webp(head)
    if head.startswith(b"\xff\xd8"):
        return _jpeg(handle)
    match = _PNM.match(head)
    if match:
        return int(match[1]), int(match[2])
    return None


def _webp(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(handle: BinaryIO) -> tuple[int, int] | None:
    """Walk the JPEG segments to the first start-of-frame marker."""
    handle.seek(2)
    for _ in range(1000):
        marker = handle.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        kind = marker[1]
        if kind == 0xFF:  # fill byte
            handle.seek(-1, 1)
            continue
        if kind in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            continue
        (length,) = struct.unpack(">H", handle.read(2))
        if kind in _SOF:
            _, height, width = struct.unpack(">BHH", handle.read(5))
            return width, height
        handle.seek(length - 2, 1)
    return None
