"""What each model is fed: arrays from files, seeded random data, or an image.

Both sides get the same values; inputs are paired by name when both models use the
same names, else by position.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError, UsageError
from .graph import Graph, TensorSpec, fits, shape_text


@dataclass(frozen=True)
class Feeds:
    """Arrays keyed by one model's input names, and a line saying what they are."""

    arrays: dict[str, np.ndarray]
    description: str


def load_arrays(path: Path) -> list[tuple[str | None, np.ndarray]]:
    """Arrays from a ``.npy`` (one unnamed input) or ``.npz`` (named inputs) file."""
    if not path.is_file():
        raise InputError(f"{path}: input file not found")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable .npy/.npz array file ({exc})") from None
    if isinstance(loaded, np.ndarray):
        return [(None, loaded)]
    with loaded:
        return [(name, loaded[name]) for name in loaded.files]


def random_arrays(
    specs: Sequence[TensorSpec], other: Sequence[TensorSpec], seed: int,
    shape: tuple[int, ...] | None = None,
) -> list[tuple[str | None, np.ndarray]]:
    """Seeded standard-normal float32 inputs, shaped as the models declare.

    A shape unknown on one side is taken from the other; an open batch dimension is 1;
    ``shape`` overrides both.
    """
    rng = np.random.default_rng(seed)
    arrays = []
    for index, spec in enumerate(specs):
        known = shape or _known_shape(spec) or (
            _known_shape(other[index]) if index < len(other) else None
        )
        if known is None:
            raise UsageError(
                f"input {spec.name!r} has no fixed shape in either model: "
                "pass --input-shape (e.g. 1,3,224,224) or --input x.npy"
            )
        arrays.append((spec.name, rng.standard_normal(known).astype(np.float32)))
    return arrays


def _known_shape(spec: TensorSpec) -> tuple[int, ...] | None:
    """The declared shape, an open batch dimension (the first) read as 1."""
    if spec.shape is None or not spec.shape:
        return None
    shape = (1 if spec.shape[0] is None else spec.shape[0], *spec.shape[1:])
    if any(d is None for d in shape):
        return None
    return tuple(int(d) for d in shape)  # type: ignore[arg-type]


def bind(graph: Graph, arrays: Sequence[tuple[str | None, np.ndarray]], what: str) -> Feeds:
    """Key ``arrays`` by ``graph``'s input names: by name when they all match, else by order.

    Arrays are checked (real numbers, all finite) and cast to a floating input's dtype.
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
    notes = []
    for spec in graph.inputs:
        keyed[spec.name], note = _checked(keyed[spec.name], spec, what, graph.source)
        notes.append(f"{spec.name} {tuple(keyed[spec.name].shape)} {note}")
    return Feeds(keyed, f"{what}: {', '.join(notes)}")


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
    """``array`` cast to a floating input's dtype, and its dtype note (``int64 -> float32``)."""
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
        wanted = np.dtype(spec.dtype)
    except TypeError:  # a framework dtype numpy does not know (bfloat16): feed as given
        return array, str(array.dtype)
    if wanted.kind != "f" or array.dtype == wanted:
        return array, str(array.dtype)
    return array.astype(wanted), f"{array.dtype} -> {wanted}"


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
