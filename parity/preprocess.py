"""Image -> per-side input tensor: decode once, then each side's own pipeline.

Each side's pipeline says what a deployment would do before calling the model: resize,
channel order, mean, scale (or std), layout, dtype. It is printed in the report header.

Defaults: side A follows its framework's habit; side B mirrors side A so both models see
the same values, except that normalisation one graph does inside (MXNet ``_minus_scalar``
/``_mul_scalar``, Keras ``Rescaling``) and the other lacks is done outside for the side
that lacks it, whichever side that is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BackendUnavailable, InputError, UsageError
from .graph import Graph, TensorSpec
from .image_header import has_alpha, image_size
from .layout import NCHW, NHWC, shape_layout
from .limits import check_pixels, current, regular_file
from .normalization import leading_affine
from .registry import find_record


@dataclass(frozen=True)
class Pipeline:
    """What one side does to the decoded BGR uint8 image."""

    rgb: bool = True
    mean: tuple[float, ...] = (0.0,)
    scale: float = 1.0
    std: tuple[float, ...] = (1.0,)
    layout: str = NCHW
    size: tuple[int, int] | None = None
    dtype: str = "float32"
    note: str = ""

    def apply(self, bgr: np.ndarray) -> np.ndarray:
        """A batch of one: ``bgr`` (H, W, 3 uint8) through this pipeline."""
        import cv2

        image = bgr
        if self.size is not None and image.shape[:2] != self.size:
            image = cv2.resize(image, (self.size[1], self.size[0]), interpolation=cv2.INTER_LINEAR)
        if self.rgb:
            image = image[:, :, ::-1]
        values = (image.astype(np.float32) - np.float32(self.mean)) * np.float32(self.scale)
        values = values / np.float32(self.std)
        if self.layout == NCHW:
            values = values.transpose(2, 0, 1)
        return np.ascontiguousarray(values[np.newaxis]).astype(self.dtype)

    def describe(self) -> str:
        parts = ["RGB" if self.rgb else "BGR"]
        if self.size:
            parts.append(f"resize {self.size[0]}x{self.size[1]}")
        if any(m != 0 for m in self.mean):
            parts.append("mean " + ",".join(f"{m:g}" for m in self.mean))
        if self.scale != 1:
            parts.append(f"scale {self.scale:g}")
        if any(s != 1 for s in self.std):
            parts.append("std " + ",".join(f"{s:g}" for s in self.std))
        parts.append(self.layout)
        text = ", ".join(parts)
        return f"{text} ({self.note})" if self.note else text


def habit(backend: str) -> Pipeline:
    """What users of ``backend``'s framework usually feed (its record's input habit)."""
    found = find_record(backend)
    if found is None:
        return Pipeline()
    own = found.habit
    return Pipeline(rgb=own.rgb, scale=own.scale, layout=own.layout, note=own.note)


_OPTION_KEYS = {"rgb", "mean", "scale", "std", "layout", "size"}


@dataclass(frozen=True)
class DecodedImage:
    """A decoded image as BGR uint8 (H, W, 3), and what decoding changed (``note``)."""

    bgr: np.ndarray
    note: str = ""


_CHANNEL_NOTES = {1: "grayscale image converted to 3 equal channels",
                  4: "alpha channel dropped"}


def check_image(path: Path) -> None:
    """What :func:`read_image` checks before decoding: a regular file, and its header's
    size under the pixel cap (for the formats :mod:`parity.image_header` reads)."""
    regular_file(path, "image")
    size = image_size(path)
    if size is not None:
        check_pixels(*size, str(path))


def read_image(path: Path) -> DecodedImage:
    """The image decoded once, as ``cv2.imread(path, IMREAD_COLOR)`` gives it.

    Its header is checked against the pixel cap first (:mod:`parity.limits`). Gray images
    become 3 equal channels and an alpha channel is dropped, each with a note. Images of
    more than 8 bits per channel are refused: ``IMREAD_COLOR`` would silently drop their
    low bits.
    """
    cv2 = _opencv()
    check_image(path)
    try:
        image = cv2.imread(str(path), cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH)
    except cv2.error as exc:
        reason = " ".join(str(exc).split()).rsplit(") ", 1)[-1]
        raise InputError(f"{path}: OpenCV cannot decode this image ({reason})") from None
    if image is None:
        raise InputError(f"{path}: not an image OpenCV can decode")
    if image.dtype != np.uint8:
        depth = f"{image.dtype.itemsize * 8}-bit{' float' if image.dtype.kind == 'f' else ''}"
        raise InputError(f"{path}: {depth} image; --image feeds 8-bit images as cv2.imread does "
                         "and would drop the extra bits: convert it to 8 bits, or feed the "
                         "exact tensor with --input x.npy")
    if image.ndim == 2:
        return DecodedImage(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), _CHANNEL_NOTES[1])
    return DecodedImage(image, _CHANNEL_NOTES[4] if has_alpha(path) else "")


def _opencv() -> Any:
    """cv2, its own pixel cap set to parity's (for formats whose header is not read here)."""
    os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(current().image_pixels))
    try:
        import cv2
    except ImportError as exc:
        raise BackendUnavailable("image", "image", "--image decodes with OpenCV") from exc
    return cv2


def pipelines(
    backend_a: str, graph_a: Graph, backend_b: str, graph_b: Graph,
    options_a: Mapping[str, Any], options_b: Mapping[str, Any],
    declared_a: Mapping[str, Any] | None = None, declared_b: Mapping[str, Any] | None = None,
) -> tuple[Pipeline, Pipeline]:
    """Each side's pipeline: user options over what the model file declares over defaults.

    ``declared_*`` is the mean/scale a model declares for its input (Caffe
    ``transform_param``); see the module docstring for the defaults.
    """
    spec_a, spec_b = _image_input(graph_a), _image_input(graph_b)
    own_a = _with_options(_declared(habit(backend_a), declared_a), options_a)
    pipe_a = _normalised_like(own_a, graph_a, spec_a, graph_b, spec_b, "B")
    mirror = replace(own_a, layout=habit(backend_b).layout, note="mirrors A")
    pipe_b = _normalised_like(mirror, graph_b, spec_b, graph_a, spec_a, "A")
    pipe_b = _with_options(_declared(pipe_b, declared_b), options_b)
    return (_fit(pipe_a, spec_a, spec_b, "layout" in options_a),
            _fit(pipe_b, spec_b, spec_a, "layout" in options_b))


def _normalised_like(
    pipeline: Pipeline, graph: Graph, spec: TensorSpec, other: Graph, other_spec: TensorSpec,
    other_label: str,
) -> Pipeline:
    """The other model's in-graph normalisation, done outside for a model that lacks it."""
    inside_other = leading_affine(other, other_spec.name)
    if inside_other is None or leading_affine(graph, spec.name) is not None:
        return pipeline
    return replace(pipeline, mean=(inside_other.mean,), scale=inside_other.scale,
                   note=f"{pipeline.note}, plus {other_label}'s in-graph "
                        f"{' -> '.join(inside_other.nodes)}")


def _declared(pipeline: Pipeline, declared: Mapping[str, Any] | None) -> Pipeline:
    """Mean and scale the model file declares, over the habit."""
    if not declared or not ({"mean", "scale"} & set(declared)):
        return pipeline
    return replace(pipeline, mean=tuple(declared.get("mean", pipeline.mean)),
                   scale=float(declared.get("scale", pipeline.scale)),
                   note=f"{pipeline.note}; mean/scale from the model's transform_param")


def _with_options(pipeline: Pipeline, options: Mapping[str, Any]) -> Pipeline:
    unknown = set(options) - _OPTION_KEYS
    if unknown:
        raise UsageError(f"unknown preprocessing option(s) {sorted(unknown)}; "
                         f"known: {sorted(_OPTION_KEYS)}")
    changes: dict[str, Any] = {k: v for k, v in options.items() if v is not None}
    if not changes:
        return pipeline
    for key in ("mean", "std"):
        if key in changes and not isinstance(changes[key], tuple):
            changes[key] = tuple(float(v) for v in np.atleast_1d(changes[key]))
    _check_values(changes)
    if "layout" in changes and changes["layout"] not in (NCHW, NHWC):
        raise UsageError(f"layout must be NCHW or NHWC, not {changes['layout']!r}")
    given = ", ".join(sorted(changes))
    note = f"{pipeline.note}; {given} as given" if pipeline.note else f"{given} as given"
    return replace(pipeline, **changes, note=note)


def _check_values(changes: Mapping[str, Any]) -> None:
    """Values that would feed the model NaN or fail to broadcast over 3 channels."""
    for key in ("mean", "std"):
        values = changes.get(key, (0.0,))
        if len(values) not in (1, 3) or not all(np.isfinite(values)):
            raise UsageError(f"{key} {','.join(f'{v:g}' for v in values)}: expected one finite "
                             "value or three (one per channel)")
    if any(v == 0 for v in changes.get("std", ())):
        raise UsageError("std 0 would divide by zero")
    if not np.isfinite(changes.get("scale", 1.0)):
        raise UsageError(f"scale {changes['scale']}: expected a finite number")
    size = changes.get("size")
    if size is not None and (len(size) != 2 or min(size) <= 0):
        raise UsageError(f"size {size}: expected a positive height and width")


def _image_input(graph: Graph) -> TensorSpec:
    if len(graph.inputs) != 1:
        raise UsageError(f"{graph.source}: --image needs a model with one input, "
                         f"this one has {len(graph.inputs)}")
    return graph.inputs[0]


def _fit(pipeline: Pipeline, spec: TensorSpec, other: TensorSpec, layout_given: bool) -> Pipeline:
    """Layout from the model's own input shape (else its habit); size from either model."""
    own = _full_shape(spec)
    layout = pipeline.layout if layout_given or own is None else shape_layout(own)
    shape = own or _full_shape(other)
    if shape is None:
        return replace(pipeline, layout=layout)
    size = (shape[1], shape[2]) if shape_layout(shape) == NHWC else (shape[2], shape[3])
    return replace(pipeline, layout=layout, size=pipeline.size or size)


def _full_shape(spec: TensorSpec) -> tuple[int, ...] | None:
    """The 4-D image input shape, an open batch dimension read as 1."""
    if spec.shape is None or len(spec.shape) != 4:
        return None
    shape = (1 if spec.shape[0] is None else spec.shape[0], *spec.shape[1:])
    if any(d is None for d in shape):
        return None
    if shape[1] != 3 and shape[3] != 3:
        return None  # not an image input
    return tuple(int(d) for d in shape)  # type: ignore[arg-type]
