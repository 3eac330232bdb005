"""An ONNX file's weights as views of the memory-mapped file, its graph parsed without them.

``onnx.load`` copies every weight into the parsed proto, and turning them into arrays copies
them again: twice a BERT-base's 420 MB before a session is built. Here the file is mapped
read-only and its protobuf wire format scanned for the ``raw_data`` of each top-level
initializer; those byte ranges are cut out before parsing (the proto parsed is the graph
alone, a few hundred KiB) and each weight becomes a numpy view of the mapping at its offset.
The wire format is walked with ``pread`` (:class:`_FileBytes`), never through the mapping:
the kernel maps a whole page-cache folio (up to megabytes) on each fault, so touching the
mapping once per tensor header made about 140 MiB of BERT-base resident before any weight was
used. Pages of the mapping are read from the page cache only when a weight is touched, and
:meth:`MappedWeights.release` gives them back once a session holds its own copy.
"""

from __future__ import annotations

import math
import mmap
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

# Field numbers of onnx.proto3 (ModelProto.graph, GraphProto.initializer, TensorProto.*).
_MODEL_GRAPH, _GRAPH_INITIALIZER = 7, 5
_TENSOR_DATA_TYPE, _TENSOR_NAME, _TENSOR_RAW_DATA = 2, 8, 9
_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5
_VIEWABLE = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16,
             onnx.TensorProto.INT8, onnx.TensorProto.UINT8, onnx.TensorProto.INT16,
             onnx.TensorProto.UINT16, onnx.TensorProto.INT32, onnx.TensorProto.UINT32,
             onnx.TensorProto.INT64, onnx.TensorProto.UINT64, onnx.TensorProto.BOOL}


class WireFormatError(ValueError):
    """The bytes are not the protobuf layout this reader handles (parse them normally)."""


class MappedWeights:
    """Weights by initializer name, each a read-only array over the mapped file."""

    def __init__(self, mapping: mmap.mmap, spans: dict[str, tuple[int, int, int]],
                 dims: dict[str, tuple[int, ...]]) -> None:
        self._mapping = mapping
        self.spans = {name: (offset, length) for name, (offset, length, _) in spans.items()}
        self.arrays: dict[str, np.ndarray] = {}
        for name, (offset, length, data_type) in spans.items():
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(data_type)).newbyteorder("<")
            count = math.prod(dims[name])
            if count * dtype.itemsize != length:
                raise WireFormatError(f"{name}: {length} bytes of data for shape {dims[name]}")
            self.arrays[name] = np.frombuffer(mapping, dtype, count, offset).reshape(dims[name])

    def add_external(self, name: str, target: Path, offset: int, data_type: int,
                     dims: tuple[int, ...]) -> None:
        """``name``'s weight as a read-only view of its external data file ``target``
        (checked by the caller), mapped, not read."""
        if data_type not in _VIEWABLE:
            raise WireFormatError(f"{name}: external data of a type not viewed in place")
        if math.prod(dims):
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(data_type)).newbyteorder("<")
            self.arrays[name] = np.memmap(target, dtype, "r", offset, dims)

    def release(self) -> None:
        """Drop the mapped pages from this process's resident set (they stay in the page
        cache; touching a weight again reads it back)."""
        if hasattr(mmap, "MADV_DONTNEED"):
            self._mapping.madvise(mmap.MADV_DONTNEED)


def read_without_weights(path: Path, inline_bytes: int) -> tuple[onnx.ModelProto, MappedWeights]:
    """The model at ``path`` parsed without the ``raw_data`` of its top-level initializers
    larger than ``inline_bytes``, and those weights as views of the mapped file.

    Raises :class:`WireFormatError` when the file's layout is not one this reader cuts
    (the caller then parses it whole).
    """
    if sys.byteorder != "little":
        raise WireFormatError("raw_data is little-endian; this machine is not")
    spans: dict[str, tuple[int, int, int]] = {}
    with open(path, "rb") as file:
        mapping = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        data = _FileBytes(file.fileno(), len(mapping))
        pieces = _cut(data, 0, len(data), _model_field, spans, inline_bytes)
        model = onnx.ModelProto.FromString(b"".join(pieces))
    dims = {}
    for tensor in model.graph.initializer:
        if tensor.name in spans:
            dims[tensor.name] = tuple(tensor.dims)
    if set(dims) != set(spans):
        raise WireFormatError("an initializer name appears twice")
    return model, MappedWeights(mapping, spans, dims)


class _FileBytes:
    """A file's bytes indexed like a ``memoryview`` (an int gives a byte, a slice bytes),
    read with ``pread`` in blocks, so the walk leaves nothing resident but its last block."""

    _BLOCK = 1 << 16

    def __init__(self, fd: int, size: int) -> None:
        self._fd, self._size = fd, size
        self._start, self._block = 0, b""

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, key: int | slice) -> int | bytes:
        if isinstance(key, slice):
            start, stop, _ = key.indices(self._size)
            return os.pread(self._fd, max(stop - start, 0), start)
        if not 0 <= key - self._start < len(self._block):
            self._start, self._block = key, os.pread(self._fd, self._BLOCK, key)
            if not self._block:
                raise IndexError(key)
        return self._block[key - self._start]


def _cut(data: _FileBytes, start: int, end: int, rewrite, spans: dict, inline: int
         ) -> list[bytes]:
    """The message in ``data[start:end]`` as pieces, each length-delimited field passed
    to ``rewrite(field, data, start, end, spans, inline)``, which returns its new body or
    None to keep it as it is."""
    pieces: list[bytes] = []
    for field, wire, key_start, body, stop in _fields(data, start, end):
        if wire == _LENGTH:
            body_pieces = rewrite(field, data, body, stop, spans, inline)
            if body_pieces is not None:
                size = sum(len(p) for p in body_pieces)
                pieces += [_key_bytes(field), _varint_bytes(size), *body_pieces]
                continue
        pieces.append(data[key_start:stop])
    return pieces


def _model_field(field: int, data: _FileBytes, start: int, end: int, spans: dict, inline: int
                 ) -> list | None:
    if field != _MODEL_GRAPH:
        return None
    return _cut(data, start, end, _graph_field, spans, inline)


def _graph_field(field: int, data: _FileBytes, start: int, end: int, spans: dict, inline: int
                 ) -> list | None:
    if field != _GRAPH_INITIALIZER:
        return None
    return _tensor_without_raw_data(data, start, end, spans, inline)


def _tensor_without_raw_data(data: _FileBytes, start: int, end: int, spans: dict, inline: int
                             ) -> list | None:
    """The TensorProto in ``data[start:end]`` without its ``raw_data``, recorded in
    ``spans`` as ``name: (offset, length, data_type)``; None to keep it whole (small, not a
    viewable type, or no raw_data)."""
    name, data_type, raw = None, None, None
    for field, wire, key_start, body, stop in _fields(data, start, end):
        if wire == _VARINT and field == _TENSOR_DATA_TYPE:
            data_type = _varint(data, body)[0]
        elif wire == _LENGTH and field == _TENSOR_NAME:
            try:
                name = bytes(data[body:stop]).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise WireFormatError("an initializer name is not UTF-8") from exc
        elif wire == _LENGTH and field == _TENSOR_RAW_DATA:
            if raw is not None:
                raise WireFormatError("raw_data appears twice in one tensor")
            raw = (key_start, body, stop)
    if raw is None or raw[2] - raw[1] <= inline or name is None or data_type not in _VIEWABLE:
        return None
    if name in spans:
        raise WireFormatError(f"initializer {name!r} appears twice")
    key_start, body, stop = raw
    spans[name] = (body, stop - body, data_type)
    return [data[start:key_start], data[stop:end]]


def _fields(data: _FileBytes, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """``(field, wire type, key start, body start, end)`` of each field of the message in
    ``data[start:end]``; a field that runs past the message's end is an error."""
    position = start
    while position < end:
        key_start = position
        key, position = _varint(data, position)
        field, wire = key >> 3, key & 7
        body = position
        if wire == _VARINT:
            _, position = _varint(data, position)
        elif wire == _FIXED64:
            position += 8
        elif wire == _FIXED32:
            position += 4
        elif wire == _LENGTH:
            length, body = _varint(data, position)
            position = body + length
        else:
            raise WireFormatError(f"wire type {wire} (groups) is not read here")
        if position > end:
            raise WireFormatError("a field runs past the end of its message")
        yield field, wire, key_start, body, position


def _varint(data: _FileBytes, position: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if position >= len(data) or shift > 63:
            raise WireFormatError("truncated varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key_bytes(field: int) -> bytes:
    return _varint_bytes(field << 3 | _LENGTH)
