"""What to change, in each framework's own words."""

from __future__ import annotations

from pathlib import Path


def set_eps(backend: str, path: Path, node: str, eps: float) -> str:
    """How to give BatchNorm ``node`` the epsilon ``eps`` in the model at ``path``."""
    where = path.name
    return {
        "caffe": f"set `batch_norm_param {{ eps: {eps:g} }}` on layer `{node}` in {where}",
        "mxnet": f"set `eps={eps:g}` on BatchNorm `{node}` in {where}",
        "onnxrt": f"set the `epsilon` attribute of `{node}` to {eps:g} in {where} "
                  "(or re-export with the right eps)",
        "pytorch": f"build `{node}` with `eps={eps:g}` (e.g. nn.BatchNorm2d(..., eps={eps:g}))",
        "keras": f"set `epsilon={eps:g}` on BatchNormalization `{node}`",
    }.get(backend, f"set eps={eps:g} on `{node}` in {where}")


def round_pooling(backend: str, path: Path, node: str, up: bool) -> str:
    """How to make pooling ``node`` round its output size up (``up``) or down."""
    where = path.name
    flag = "True" if up else "False"
    return {
        "caffe": f"set `round_mode: {'CEIL' if up else 'FLOOR'}` in the pooling_param of layer "
                 f"`{node}` in {where}",
        "mxnet": f"set `pooling_convention='{'full' if up else 'valid'}'` on Pooling `{node}` "
                 f"in {where}",
        "onnxrt": f"set the `ceil_mode` attribute of `{node}` to {int(up)} in {where}",
        "pytorch": f"build `{node}` with `ceil_mode={flag}` (nn.MaxPool2d(..., ceil_mode={flag}))",
        "keras": f"pad the input of `{node}` (Keras has no ceil_mode; use padding='same')",
    }.get(backend, f"set ceil_mode={flag} on `{node}` in {where}")
