"""The Python API: open models and compare them, the same path the CLI takes."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .align import align
from .backend import Backend
from .diff import diff_models
from .environment import environment
from .errors import ParityError, UsageError
from .formats import sniff
from .inputs import Feeds, ValRange, bind, describe_random, draw, load_arrays, random_rules
from .metrics import Tolerance
from .preprocess import pipelines, read_image
from .quantized import qdq_view
from .registry import backend_class
from .report import DEFAULT_MIN_COVERAGE, Report
from .saved_run import RunSaver
from .wording import speaks_api

InputsLike = str | Path | np.ndarray | Mapping[str, np.ndarray] | None


def open_model(spec: str | Path, weights: str | Path | None = None, *,
               backend: str | None = None, **options: Any) -> Backend:
    """Load the model ``spec`` with ``backend`` (a name ``parity backends`` lists), by
    default the one its format calls for (``.onnx``: ONNX Runtime)."""
    ref = sniff(str(spec), weights, backend, **options)
    cls = backend_class(ref.backend)
    return qdq_view(cls(ref.path, ref.weights, **ref.options))


def make_feeds(
    a: Backend, b: Backend, inputs: InputsLike = None, *, seed: int = 0,
    input_shape: tuple[int, ...] | None = None, image: str | Path | None = None,
    preprocess_a: Mapping[str, Any] | None = None, preprocess_b: Mapping[str, Any] | None = None,
    val_range: ValRange | None = None,
) -> tuple[Feeds, Feeds]:
    """Input values keyed for each model.

    With ``image``, each side gets the image through its own pipeline (see
    :mod:`parity.preprocess`); otherwise both get the same arrays, random (seeded) when
    ``inputs`` is None: typed as the models declare, ids within the table an integer input
    indexes, 0/1 for masks, and ``val_range`` ``(LO, HI)`` for floats and other integers
    (see :func:`parity.inputs.random_rules`).
    """
    if image is not None:
        if inputs is not None:
            raise UsageError("choose one input source: an image or input arrays")
        return image_feeds(a, b, Path(image), preprocess_a or {}, preprocess_b or {})
    if inputs is None:
        rules = random_rules(a.graph.inputs, b.graph.inputs, input_shape, val_range)
        arrays = draw(rules, seed)
        what = describe_random(rules, seed)
    elif isinstance(inputs, (str, Path)):
        arrays, what = load_arrays(Path(inputs)), str(inputs)
    elif isinstance(inputs, np.ndarray):
        arrays, what = [(None, inputs)], "array"
    else:
        arrays, what = list(inputs.items()), "arrays"
    return bind(a.graph, arrays, what, b.graph), bind(b.graph, arrays, what, a.graph)


def image_feeds(
    a: Backend, b: Backend, image: Path, options_a: Mapping[str, Any],
    options_b: Mapping[str, Any],
) -> tuple[Feeds, Feeds]:
    """The image decoded once, then fed through each side's pipeline."""
    decoded = read_image(image)
    source = f"{image} ({decoded.note})" if decoded.note else str(image)
    pipe_a, pipe_b = pipelines(a.name, a.graph, b.name, b.graph, options_a, options_b,
                               _single(a.declared_preprocessing()),
                               _single(b.declared_preprocessing()))
    feeds = []
    for backend, pipe in ((a, pipe_a), (b, pipe_b)):
        array = pipe.apply(decoded.bgr)
        name = backend.graph.inputs[0].name
        feeds.append(Feeds({name: array}, f"{source}: {pipe.describe()} -> {name} "
                                          f"{tuple(array.shape)} {array.dtype}"))
    return feeds[0], feeds[1]


def _single(declared: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The declaration of a one-input model's input."""
    return next(iter(declared.values())) if len(declared) == 1 else None


@speaks_api
def compare(
    a: str | Path | Backend,
    b: str | Path | Backend,
    *,
    inputs: InputsLike = None,
    seed: int = 0,
    input_shape: tuple[int, ...] | None = None,
    image: str | Path | None = None,
    preprocess_a: Mapping[str, Any] | None = None,
    preprocess_b: Mapping[str, Any] | None = None,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    mapping: Mapping[str, str] | None = None,
    save_tensors: str | Path | None = None,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    a_backend: str | None = None,
    b_backend: str | None = None,
    force: bool = False,
    val_range: ValRange | None = None,
) -> Report:
    """Run both models once and compare every aligned node.

    Args:
        a, b: model specs (paths or ``file.py:factory``) or opened backends.
        inputs: ``.npy``/``.npz`` path, an array, a dict of arrays, or None for random.
        seed: seed of the random inputs.
        val_range: ``(LO, HI)`` of random floats (uniform) and of random integers that
            index no table the models show (``LO <= i < HI``).
        input_shape: shape of random inputs where the models do not declare one.
        image: an image file decoded once and fed to each side through its pipeline.
        preprocess_a, preprocess_b: pipeline options per side (``rgb``, ``mean``,
            ``scale``, ``std``, ``layout``, ``size``) over the defaults.
        atol, rtol: tolerance, numpy ``allclose`` semantics.
        mapping: ``{a_name: b_name}`` pairs (``*`` globs allowed) that override alignment.
        save_tensors: a folder to save every compared tensor and the JSON report in
            (re-render it with ``parity report DIR``).
        min_coverage: below this fraction of either side's nodes compared, not ok.
        a_backend, b_backend: the backend that runs a model given as a path, over the
            default for its format (``b_backend="opencv"`` runs an ``.onnx`` in OpenCV DNN).
        force: replace an earlier run saved in ``save_tensors``.
    """
    if atol < 0 or rtol < 0:
        raise UsageError("--atol and --rtol must be non-negative")
    if not 0 <= min_coverage <= 1:
        raise UsageError("--min-coverage must be between 0 and 1")
    model_a = a if isinstance(a, Backend) else open_model(a, backend=a_backend)
    model_b = b if isinstance(b, Backend) else open_model(b, backend=b_backend)
    feeds_a, feeds_b = make_feeds(
        model_a, model_b, inputs, seed=seed, input_shape=input_shape, image=image,
        preprocess_a=preprocess_a, preprocess_b=preprocess_b, val_range=val_range,
    )
    alignment = align(model_a.graph, model_b.graph, mapping)
    saver = RunSaver(Path(save_tensors), [m.a for m in alignment.pairs], force) \
        if save_tensors else None
    with saver or nullcontext():
        report = diff_models(
            model_a, model_b, feeds_a.arrays, feeds_b.arrays, alignment,
            Tolerance(atol, rtol), inputs_a=feeds_a.description, inputs_b=feeds_b.description,
            on_pair=saver, min_coverage=min_coverage,
        )
        report = replace(report, environment=environment(model_a, model_b))
        if saver is not None:
            saver.finish(report)
    return report


def assert_parity(a: str | Path | Backend, b: str | Path | Backend, **kwargs: Any) -> Report:
    """:func:`compare`, raising :class:`~parity.errors.ParityAssertionError` (an
    ``AssertionError`` carrying the report) with the first divergence when not ok."""
    __tracebackhide__ = True
    report = compare(a, b, **kwargs)
    report.assert_ok()
    return report


__all__ = ["compare", "assert_parity", "open_model", "make_feeds", "ParityError"]
