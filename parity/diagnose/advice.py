"""What to change, in each framework's own words (the backends' records hold the wording)."""

from __future__ import annotations

from pathlib import Path

from ..registry import find_record


def set_eps(backend: str, path: Path, node: str, eps: float) -> str:
    """How to give BatchNorm ``node`` the epsilon ``eps`` in the model at ``path``."""
    return _advise(backend, "set_eps", node=node, file=path.name, eps=eps) or \
        f"set eps={eps:g} on `{node}` in {path.name}"


def round_pooling(backend: str, path: Path, node: str, up: bool) -> str:
    """How to make pooling ``node`` round its output size up (``up``) or down."""
    kind = "round_up" if up else "round_down"
    return _advise(backend, kind, node=node, file=path.name) or \
        f"set ceil_mode={up} on `{node}` in {path.name}"


def reexport(backend: str, path: Path) -> str:
    """How to write the model at ``path`` again once the source model is fixed."""
    return _advise(backend, "reexport", file=path.name) or \
        f"then convert it again to rewrite {path.name}"


def _advise(backend: str, kind: str, **fields: object) -> str | None:
    found = find_record(backend)
    return found.advise(kind, **fields) if found else None
