"""What each model is fed: arrays from files, seeded random data, or an image.

Both sides get the same values; inputs are paired by name when both models use the
same names, else by position.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .errors import InputError, UsageError
from .graph import Graph, TensorSpec, fits, shape_text
from .limits import check_tensor, regular_file


@dataclass(frozen=True)
class Feeds:
    """Arrays keyed by one model's input names, and a line saying what they are."""

    arrays: dict[str, np.ndarray]
    description: str


def load_arrays(path: Path) -> list[tuple[str | None, np.ndarray]]:
    """Arrays from a ``.npy`` (one unnamed input) or ``.npz`` (named inputs) file.

    Every array's header is read and checked (no pickled objects, size under the cap)
    before its data is.
    """
    regular_file(path, "input array file")
    try:
        if zipfile.is_zipfile(path):
            return read_npz(path)
        with path.open("rb") as handle:
            return [(None, _read_npy(handle, str(path)))]
    except InputError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable .npy/.npz array file ({exc})") from None


def check_array_file(path: Path) -> None:
    """What :func:`load_arrays` checks before it reads data, without reading it: a regular
    file, a readable ``.npy``/``.npz``, each array's header (no pickled objects, size under
    the cap) and its data all there. For many inputs read one at a time, so that a bad one
    late in the list fails before the first run."""
    regular_file(path, "input array file")
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    name = info.filename.removesuffix(".npy")
                    with archive.open(info) as handle:
                        _check_length(handle, info.file_size, f"{path} member {name!r}")
        else:
            with path.open("rb") as handle:
                _check_length(handle, path.stat().st_size, str(path))
    except InputError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable .npy/.npz array file ({exc})") from None


def _check_length(handle: BinaryIO, length: int, what: str) -> None:
    """A ``.npy`` stream of ``length`` bytes: its header checked, its data all there."""
    shape, _, dtype = _read_header(handle, what)
    needed = handle.tell() + math.prod(shape) * dtype.itemsize
    if length < needed:
        raise ValueError(f"truncated: {length} of {needed} bytes")


def read_npz(path: Path) -> list[tuple[str, np.ndarray]]:
    """The arrays of an ``.npz`` archive, each member's header checked before its data."""
    arrays = []
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            name = info.filename.removesuffix(".npy")
            with archive.open(info) as handle:
                arrays.append((name, _read_npy(handle, f"{path} member {name!r}")))
    return arrays


def _read_header(handle: BinaryIO, what: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """A ``.npy`` stream's header, checked (numbers, size under the cap): shape, Fortran
    order, dtype."""
    version = np.lib.format.read_magic(handle)
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise ValueError(f"unknown .npy format version {version}")
    shape, fortran, dtype = np.lib.format._read_array_header(handle, version)
    if dtype.hasobject:
        raise InputError(f"{what}: holds Python objects (a pickle), refused; save numbers")
    check_tensor(shape, dtype.itemsize, what)
    return shape, fortran, dtype


def _read_npy(handle: BinaryIO, what: str) -> np.ndarray:
    """One ``.npy`` stream: header checked (numbers, size under the cap), then the data."""
    shape, fortran, dtype = _read_header(handle, what)
    array = np.empty(math.prod(shape), dtype=dtype)
    buffer, filled = memoryview(array).cast("B"), 0
    while filled < len(buffer):
        read = handle.readinto(buffer[filled:])
        if not read:
            raise ValueError(f"truncated: {filled} of {len(buffer)} data bytes")
        filled += read
    return array.reshape(shape[::-1]).transpose() if fortran else array.reshape(shape)


ValRange = tuple[float, float]
_MASK_WORDS = ("mask",)


@dataclass(frozen=True)
class RandomRule:
    """How one random input is drawn: ``kind`` is ``normal``, ``uniform`` (floats in
    ``[low, high)``), ``ids`` (integers in ``[low, high)``) or ``binary`` (0/1)."""

    name: str | None
    shape: tuple[int, ...]
    dtype: str
    kind: str
    low: float = 0.0
    high: float = 1.0
    why: str = ""

    def describe(self) -> str:
        span = {"normal": "normal", "binary": "0/1",
                "uniform": f"uniform [{self.low:g}, {self.high:g})",
                "ids": f"ids [{self.low:g}, {self.high:g})"}[self.kind]
        return f"{self.name} {span}{f' from the {self.why}' if self.why else ''}"


def describe_random(rules: Sequence[RandomRule], seed: int) -> str:
    """``random normal, seed 0``, or each input's rule when they are not all normal."""
    if all(rule.kind == "normal" for rule in rules):
        return f"random normal, seed {seed}"
    return f"random ({', '.join(rule.describe() for rule in rules)}), seed {seed}"


def random_rules(
    specs: Sequence[TensorSpec], other: Sequence[TensorSpec],
    shape: tuple[int, ...] | None = None, val_range: ValRange | None = None,
) -> list[RandomRule]:
    """How each of ``specs`` is drawn, typed as either model declares it.

    The dtype is the model's, else the other model's, else int64 for an input that indexes a
    table or is named like a mask, else float32. Booleans and integer masks get 0/1; other
    integers get ids below the size of the table they index (from either model), else in
    ``val_range`` (``LO <= i < HI``); floats are standard normal, or uniform in ``val_range``.
    A shape unknown on one side is taken from the other; an open batch dimension is 1;
    ``shape`` overrides both.
    """
    others = {spec.name: spec for spec in other}
    rules = []
    for index, spec in enumerate(specs):
        partner = others.get(spec.name) or (other[index] if index < len(other) else None)
        known = shape or _known_shape(spec) or (_known_shape(partner) if partner else None)
        if known is None:
            raise UsageError(
                f"input {spec.name!r} has no fixed shape in either model: "
                "pass --input-shape (e.g. 1,3,224,224) or --input x.npy"
            )
        rules.append(_rule(spec, partner, known, val_range))
    return rules


def _rule(spec: TensorSpec, partner: TensorSpec | None, shape: tuple[int, ...],
          val_range: ValRange | None) -> RandomRule:
    table = spec.index_range or (partner.index_range if partner else None)
    declared = spec.dtype or (partner.dtype if partner else None)
    mask = any(word in spec.name.lower() for word in _MASK_WORDS)
    dtype = declared or ("int64" if table or mask else "float32")
    try:
        kind = np.dtype(dtype).kind
    except TypeError:  # bfloat16 and other dtypes numpy lacks: drawn as float32
        kind = "f"
    if kind == "b" or (kind in "iu" and mask):
        return RandomRule(spec.name, shape, dtype, "binary")
    if kind in "iu":
        if table:
            return RandomRule(spec.name, shape, dtype, "ids", *table, why="table it indexes")
        if val_range is None:
            raise UsageError(
                f"input {spec.name!r} is {dtype} and neither model shows which values it "
                "takes (it indexes no embedding or Gather table): pass --val-range LO,HI "
                "(integers LO <= i < HI) or --inputs x.npz")
        low, high = math.ceil(val_range[0]), math.ceil(val_range[1])
        if high <= low:
            raise UsageError(f"--val-range {val_range[0]:g},{val_range[1]:g} holds no integer "
                             f"for the {dtype} input {spec.name!r}")
        return RandomRule(spec.name, shape, dtype, "ids", low, high, why="--val-range")
    if val_range is not None:
        return RandomRule(spec.name, shape, dtype, "uniform", *val_range)
    return RandomRule(spec.name, shape, dtype, "normal")


_DRAW_CHUNK = 1 << 16


def _standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """float32 standard-normal values, drawn in float64 chunks straight into the result.

    The values equal ``rng.standard_normal(shape).astype(np.float32)`` (the generator's
    stream is sequential) without the float64 array 2x the result's size.
    """
    out = np.empty(math.prod(shape), np.float32)
    for start in range(0, out.size, _DRAW_CHUNK):
        out[start:start + _DRAW_CHUNK] = rng.standard_normal(min(_DRAW_CHUNK, out.size - start))
    return out.reshape(shape)


def draw(rules: Sequence[RandomRule], seed: int) -> list[tuple[str | None, np.ndarray]]:
    """Seeded arrays following ``rules``."""
    if seed < 0:
        raise UsageError(f"--seed {seed}: a seed is a non-negative integer")
    rng = np.random.default_rng(seed)
    arrays = []
    for rule in rules:
        try:
            dtype = np.dtype(rule.dtype)
        except TypeError:
            dtype = np.dtype(np.float32)
        check_tensor(rule.shape, max(dtype.itemsize, 8 if rule.kind != "normal" else 4),
                     f"random input {rule.name!r}")
        if rule.kind == "binary":
            values = rng.integers(0, 2, rule.shape).astype(dtype)
        elif rule.kind == "ids":
            values = rng.integers(int(rule.low), int(rule.high), rule.shape).astype(dtype)
        elif rule.kind == "uniform":
            values = rng.uniform(rule.low, rule.high, rule.shape).astype(dtype)
        else:
            values = _standard_normal(rng, rule.shape).astype(dtype, copy=False)
        arrays.append((rule.name, values))
    return arrays


def random_arrays(
    specs: Sequence[TensorSpec], other: Sequence[TensorSpec], seed: int,
    shape: tuple[int, ...] | None = None, val_range: ValRange | None = None,
) -> list[tuple[str | None, np.ndarray]]:
    """Seeded inputs typed and ranged as :func:`random_rules` says, shaped as the models
    declare."""
    return draw(random_rules(specs, other, shape, val_range), seed)


def parse_val_range(text: str) -> ValRange:
    """``LO,HI`` -> ``(LO, HI)`` with ``LO < HI``."""
    parts = text.split(",")
    try:
        low, high = (float(part) for part in parts)
    except ValueError:
        raise UsageError(f"--val-range {text!r}: expected two numbers LO,HI like 0,1000"
                         ) from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise UsageError(f"--val-range {text!r}: needs finite LO < HI")
    return low, high


def _known_shape(spec: TensorSpec) -> tuple[int, ...] | None:
    """The declared shape, an open batch dimension (the first) read as 1."""
    if spec.shape is None or not spec.shape:
        return None
    shape = (1 if spec.shape[0] is None else spec.shape[0], *spec.shape[1:])
    if any(d is None for d in shape):
        return None
    return tuple(int(d) for d in shape)  # type: ignore[arg-type]


def bind(graph: Graph, arrays: Sequence[tuple[str | None, np.ndarray]], what: str,
         partner: Graph | None = None) -> Feeds:
    """Key ``arrays`` by ``graph``'s input names: by name when they all match, else by order.

    Arrays are checked (real numbers, all finite) and cast to the input's declared dtype
    (refused when values would change: fractions or out-of-range values for an integer or
    boolean input). An input ``graph`` declares no dtype for takes the one ``partner`` (the
    other model of a comparison) declares for it, else keeps the array's.
    """
    names = [spec.name for spec in graph.inputs]
    given = [name for name, _ in arrays]
    if len(arrays) != len(names):
        raise InputError(
            f"{graph.source}: model has {len(names)} input(s) {names}, "
            f"got {len(arrays)} array(s) from {what}"
        )
    _check_names(given, names, what)
    if set(given) == set(names):
        keyed = {name: array for name, array in arrays if name is not None}
    else:
        keyed = {name: array for name, (_, array) in zip(names, arrays)}
    others = _partners(graph, partner)
    notes = []
    for spec, other in zip(graph.inputs, others):
        if spec.dtype is None and other is not None and other.dtype is not None:
            spec = replace(spec, dtype=other.dtype)
        keyed[spec.name], note = _checked(keyed[spec.name], spec, what, graph.source)
        notes.append(f"{spec.name} {tuple(keyed[spec.name].shape)} {note}")
    return Feeds(keyed, f"{what}: {', '.join(notes)}")


def _partners(graph: Graph, partner: Graph | None) -> list[TensorSpec | None]:
    """For each of ``graph``'s inputs, the same input of ``partner``: by name, else by order."""
    if partner is None:
        return [None] * len(graph.inputs)
    by_name = {spec.name: spec for spec in partner.inputs}
    return [by_name.get(spec.name) or (partner.inputs[i] if i < len(partner.inputs) else None)
            for i, spec in enumerate(graph.inputs)]


def _check_names(given: list[str | None], names: list[str], what: str) -> None:
    """Named arrays that match some of the model's inputs but not all are a mistake."""
    named = {name for name in given if name is not None}
    matched = named & set(names)
    if matched and matched != set(names):
        stray = sorted(named - set(names))
        raise InputError(f"{what}: array(s) {', '.join(map(repr, stray))} match no input of "
                         f"the model; name the arrays as its inputs: {', '.join(map(repr, names))}")


def _checked(
    array: np.ndarray, spec: TensorSpec, what: str, model: str
) -> tuple[np.ndarray, str]:
    """``array`` in the input's declared dtype (kept as given when the model declares none),
    and its dtype note (``int64 -> float32``)."""
    kind = array.dtype.kind
    if kind == "c":
        raise InputError(f"{what}: input {spec.name!r} is {array.dtype} (complex); "
                         "models are fed real numbers")
    if kind not in "biuf":
        raise InputError(f"{what}: input {spec.name!r} has dtype {array.dtype}, not numbers")
    _check_shape(array, spec, what, model)
    if kind == "f" and not np.isfinite(array).all():
        bad = int(np.isnan(array).sum()), int(np.isinf(array).sum())
        raise InputError(f"{what}: input {spec.name!r} holds {bad[0]} NaN and {bad[1]} Inf "
                         "value(s); feed finite values so differences mean something")
    try:
        wanted = np.dtype(spec.dtype) if spec.dtype else array.dtype
    except TypeError:  # a framework dtype numpy does not know (bfloat16): feed as given
        return array, str(array.dtype)
    if array.dtype == wanted:
        return array, str(array.dtype)
    if wanted.kind in "biu":
        _check_representable(array, wanted, spec, what, model)
    return array.astype(wanted), f"{array.dtype} -> {wanted}"


def _check_representable(array: np.ndarray, wanted: np.dtype, spec: TensorSpec, what: str,
                         model: str) -> None:
    """Values that would change on the way to an integer or boolean input are refused."""
    wants = f"{model or 'the model'} wants {wanted}"
    if array.size and array.dtype.kind == "f" and not np.array_equal(array, np.round(array)):
        raise InputError(f"{what}: input {spec.name!r} holds fractional {array.dtype} values; "
                         f"{wants}")
    if not array.size:
        return
    low, high = (0, 1) if wanted.kind == "b" else (np.iinfo(wanted).min, np.iinfo(wanted).max)
    if array.min() < low or array.max() > high:
        raise InputError(f"{what}: input {spec.name!r} holds values from {array.min():g} to "
                         f"{array.max():g}; {wants} ({low}..{high})")


def _check_shape(array: np.ndarray, spec: TensorSpec, what: str, model: str) -> None:
    """An array the model's declared input shape rules out, named by its source and model."""
    if not fits(spec.shape, array.shape):
        raise InputError(f"{what}: array for input {spec.name!r} has shape "
                         f"{tuple(array.shape)}, but {model or 'the model'} wants "
                         f"{shape_text(spec.shape)}")  # type: ignore[arg-type]


def parse_shape(text: str) -> tuple[int, ...]:
    """``1,3,224,224`` or ``1x3x224x224`` -> a shape tuple."""
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(",") if part.strip())
    except ValueError:
        raise UsageError(f"--input-shape {text!r}: expected integers like 1,3,224,224") from None
    if not shape or any(d <= 0 for d in shape):
        raise UsageError(f"--input-shape {text!r}: dimensions must be positive")
    return shape
