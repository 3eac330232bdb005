"""The Python API: open models and compare them, the same path the CLI takes."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .align import align
from .backend import Backend
from .diff import Feed, Sample, diff_models
from .environment import environment
from .errors import ParityError, UsageError
from .formats import sniff
from .heap import gives_back_after
from .inputs import (
    Feeds,
    ValRange,
    bind,
    check_array_file,
    describe_random,
    draw,
    load_arrays,
    random_rules,
)
from .preprocess import check_image, pipelines, read_image
from .quantized import qdq_view
from .registry import backend_class
from .report import DEFAULT_MIN_COVERAGE, Report
from .saved_run import RunSaver
from .verdict import Criteria, ErrorStat
from .wording import speaks_api

InputsLike = str | Path | np.ndarray | Mapping[str, np.ndarray] | None
ImagesLike = str | Path | Sequence[str | Path] | None
ToleranceLike = float | Sequence[str] | Mapping[str, float] | None
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def open_model(spec: str | Path, weights: str | Path | None = None, *,
               backend: str | None = None, **options: Any) -> Backend:
    """Load the model ``spec`` with ``backend`` (a name ``parity backends`` lists), by
    default the one its format calls for (``.onnx``: ONNX Runtime)."""
    return model_loader(spec, weights, backend=backend, **options)()


def model_loader(spec: str | Path, weights: str | Path | None = None, *,
                 backend: str | None = None, **options: Any) -> Callable[[], Backend]:
    """:func:`open_model` in two steps: the file is checked and its adapter (with its
    framework) imported now, the model loaded when the result is called. Comparisons import
    both sides' adapters before they load either model (:mod:`parity.startup`)."""
    ref = sniff(str(spec), weights, backend, **options)
    cls = backend_class(ref.backend)
    return lambda: qdq_view(cls(ref.path, ref.weights, **ref.options))


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


def make_samples(
    a: Backend, b: Backend, inputs: InputsLike = None, *, seed: int = 0, samples: int = 1,
    input_shape: tuple[int, ...] | None = None, image: ImagesLike = None,
    preprocess_a: Mapping[str, Any] | None = None, preprocess_b: Mapping[str, Any] | None = None,
    val_range: ValRange | None = None,
) -> tuple[list[Sample], str, str]:
    """Every input to run, and what each side was fed (one line each).

    Several inputs: ``image`` a folder or a list of images, ``inputs`` a folder of
    ``.npz``/``.npy`` files, or ``samples`` random draws (seeds ``seed``, ``seed + 1``...).
    """
    if samples < 1:
        raise UsageError("--samples must be at least 1")
    if image is not None and inputs is not None:
        raise UsageError("choose one input source: an image or input arrays")
    if samples > 1 and (image is not None or inputs is not None):
        raise UsageError("--samples draws random inputs; for several images or arrays give "
                         "--image more than once (or a folder) or --inputs a folder")
    sources: list[tuple[str, dict[str, Any]]]
    if image is not None:
        sources = [(str(p), {"image": p}) for p in _image_files(image)]
    elif isinstance(inputs, (str, Path)) and Path(inputs).is_dir():
        sources = [(str(p), {"inputs": p}) for p in _array_files(Path(inputs))]
    elif inputs is None:
        sources = [(f"random seed {seed + i}", {"seed": seed + i}) for i in range(samples)]
    else:
        sources = [(str(inputs) if isinstance(inputs, (str, Path)) else "arrays",
                    {"inputs": inputs})]
    if len(sources) > 1:
        for _, source in sources:  # a bad file late in the list fails before the first run
            _check_source(source)

    def load(source: dict[str, Any]) -> tuple[Feeds, Feeds]:
        return make_feeds(
            a, b, source.get("inputs"), seed=source.get("seed", seed), input_shape=input_shape,
            image=source.get("image"), preprocess_a=preprocess_a, preprocess_b=preprocess_b,
            val_range=val_range)

    # The first input is read now (the backends observe it, the report describes it); the
    # others when their turn comes, so only one is in memory at a time.
    first_a, first_b = load(sources[0][1])
    found = [Sample(sources[0][0], first_a.arrays, first_b.arrays)]
    found += [Sample(label, load=_arrays_of(load, source)) for label, source in sources[1:]]
    more = len(sources) - 1
    extra = f" (+ {more} more input{'s' * (more > 1)})" if more else ""
    return found, first_a.description + extra, first_b.description + extra


def _check_source(source: dict[str, Any]) -> None:
    """The checks made before an input's data is read: its file and header."""
    if "image" in source:
        check_image(Path(source["image"]))
    elif isinstance(source.get("inputs"), Path):
        check_array_file(source["inputs"])


def _arrays_of(load: Callable[[dict[str, Any]], tuple[Feeds, Feeds]],
               source: dict[str, Any]) -> Callable[[], tuple[Feed, Feed]]:
    """``load(source)``'s two sides' arrays, read when called."""
    def arrays() -> tuple[Feed, Feed]:
        feeds_a, feeds_b = load(source)
        return feeds_a.arrays, feeds_b.arrays

    return arrays


def _image_files(image: ImagesLike) -> list[Path]:
    """The images of a file, a folder (sorted) or a list of files."""
    paths = [Path(image)] if isinstance(image, (str, Path)) else [Path(p) for p in image or ()]
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not inside:
                raise UsageError(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)}) "
                                 "in this folder")
            found.extend(inside)
        else:
            found.append(path)
    if not found:
        raise UsageError("--image: no image given")
    return found


def _array_files(folder: Path) -> list[Path]:
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".npz", ".npy"))
    if not found:
        raise UsageError(f"{folder}: no .npz or .npy files in this folder")
    return found


@speaks_api
@gives_back_after
def compare(
    a: str | Path | Backend,
    b: str | Path | Backend,
    *,
    inputs: InputsLike = None,
    seed: int = 0,
    samples: int = 1,
    input_shape: tuple[int, ...] | None = None,
    image: ImagesLike = None,
    preprocess_a: Mapping[str, Any] | None = None,
    preprocess_b: Mapping[str, Any] | None = None,
    atol: ToleranceLike = None,
    rtol: ToleranceLike = None,
    mapping: Mapping[str, str] | None = None,
    save_tensors: str | Path | None = None,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    a_backend: str | None = None,
    b_backend: str | None = None,
    force: bool = False,
    val_range: ValRange | None = None,
    error_stat: str | None = None,
    error_quantile: float | None = None,
) -> Report:
    """Run both models once per input and compare every aligned node.

    Args:
        a, b: model specs (paths or ``file.py:factory``) or opened backends.
        inputs: ``.npy``/``.npz`` path, a folder of them, an array, a dict of arrays, or
            None for random.
        seed: seed of the (first) random input.
        samples: how many random inputs (seeds ``seed``, ``seed + 1``, ...).
        val_range: ``(LO, HI)`` of random floats (uniform) and of random integers that
            index no table the models show (``LO <= i < HI``).
        input_shape: shape of random inputs where the models do not declare one.
        image: an image file, a folder of images or a list of them, each decoded once and
            fed to each side through its pipeline.
        preprocess_a, preprocess_b: pipeline options per side (``rgb``, ``mean``,
            ``scale``, ``std``, ``layout``, ``size``) over the defaults.
        atol, rtol: None (the default) judges every pair by the floating-point noise its
            computation can produce (docs/numerics.md); a number applies numpy
            ``allclose`` to every pair; ``{"conv1*": 1e-3}`` or ``["conv1*=1e-3"]``
            applies it to the nodes matching the glob.
        error_stat: the statistic of the error judged (Polygraphy's
            ``--check-error-stat``): ``rms``, ``elemwise``, ``max``, ``mean``, ``median``
            or ``quantile``; None is ``rms`` under the numerics rule and ``elemwise``
            (``allclose``) under a tolerance (docs/numerics.md#the-error-statistic).
        error_quantile: the ``q`` of ``error_stat="quantile"`` (default 0.99).
        mapping: ``{a_name: b_name}`` pairs (``*`` globs allowed) that override alignment.
        save_tensors: a folder to save every compared tensor (of every input: see
            :mod:`parity.saved_run` for the keys) and the JSON report in (re-render it with
            ``parity report DIR``).
        min_coverage: below this fraction of either side's nodes compared, not ok.
        a_backend, b_backend: the backend that runs a model given as a path, over the
            default for its format (``b_backend="opencv"`` runs an ``.onnx`` in OpenCV DNN).
        force: replace an earlier run saved in ``save_tensors``.

    Each pair's verdict is its worst over the inputs; the report names that input.
    """
    criteria = Criteria.from_options(atol, rtol,
                                     error_stat=ErrorStat.from_options(error_stat, error_quantile))
    if not 0 <= min_coverage <= 1:
        raise UsageError("--min-coverage must be between 0 and 1")
    loaders = [side if isinstance(side, Backend) else model_loader(side, backend=backend)
               for side, backend in ((a, a_backend), (b, b_backend))]
    model_a, model_b = (ready if isinstance(ready, Backend) else ready() for ready in loaders)
    runs, inputs_a, inputs_b = make_samples(
        model_a, model_b, inputs, seed=seed, samples=samples, input_shape=input_shape,
        image=image, preprocess_a=preprocess_a, preprocess_b=preprocess_b, val_range=val_range,
    )
    model_a.observe(runs[0].feeds_a)
    model_b.observe(runs[0].feeds_b)
    if len(runs) == 1:  # one model's session at a time (docs/performance.md#memory)
        model_a.release_after_next_run()
        model_b.release_after_next_run()
    alignment = align(model_a.graph, model_b.graph, mapping)
    saver = RunSaver(Path(save_tensors), [m.a for m in alignment.pairs], force) \
        if save_tensors else None
    with saver or nullcontext():
        report = diff_models(
            model_a, model_b, runs, alignment, criteria, inputs_a=inputs_a, inputs_b=inputs_b,
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


__all__ = ["compare", "assert_parity", "open_model", "make_feeds", "make_samples",
           "ParityError"]
