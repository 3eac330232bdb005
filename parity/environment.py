"""What a bug report needs to reproduce a comparison: parity, Python, OS, framework versions.

Taken when the comparison ran (so a re-rendered saved run shows the original machine's),
from modules already loaded: nothing is imported to find a version.
"""

from __future__ import annotations

import platform
import sys
from typing import Any

from . import __version__

# Framework modules, by the name a report shows them under.
FRAMEWORKS = {
    "onnxruntime": "onnxruntime", "onnx": "onnx", "torch": "torch", "mxnet": "mxnet",
    "opencv": "cv2", "keras": "keras", "openvino": "openvino", "litert": "ai_edge_litert",
    "tensorflow": "tensorflow",
}


def environment(a: Any, b: Any) -> dict[str, str]:
    """``{"parity": ..., "Python": ..., "OS": ..., <framework>: <version>, "onnx opset": ...}``
    for the backends ``a`` and ``b`` of one comparison."""
    found = {"parity": __version__, "Python": platform.python_version(),
             "OS": platform.platform(terse=True)}
    for label, module in FRAMEWORKS.items():
        version = getattr(sys.modules.get(module), "__version__", None)
        if isinstance(version, str):
            found[label] = version
    opsets = {side: opset for side, backend in (("A", a), ("B", b))
              if (opset := onnx_opset(backend)) is not None}
    if opsets:
        found["onnx opset"] = ", ".join(f"{opset} ({side})" for side, opset in opsets.items())
    return found


def onnx_opset(backend: Any) -> int | None:
    """The default-domain opset of a backend that holds an ONNX model, else ``None``."""
    model = getattr(backend, "model", None)
    for entry in getattr(model, "opset_import", ()):
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return None
