"""Fresh-process measurements of one model pair, stage by stage (used by ``stages.py``).

``python benchmarks/stage_workers.py TASK '{"a": ..., "b": ..., "inputs": ids.npy}'`` prints
one JSON line of seconds (imports excluded; the parent reads wall time and peak RSS).
Tasks: ``plain`` (each side loaded and run the framework's normal way, outputs only, one
after the other), ``plain_held`` (the same with both models loaded at once),
``capture`` (each side opened by parity and run once to every node), ``compare``
(``parity.compare`` from the two paths, loading included).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def feeds_for(args: dict[str, Any]) -> np.ndarray:
    """The one input array both sides are fed: from ``inputs`` (.npy) or random normal."""
    if args.get("inputs"):
        return np.load(args["inputs"])
    return np.random.default_rng(0).standard_normal(args["input_shape"]).astype(np.float32)


def import_frameworks(*specs: str) -> None:
    """Import what the specs need first, so no timing below includes an import."""
    for spec in specs:
        if spec.endswith(".onnx"):
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        else:
            import torch  # noqa: F401


def plain_side(spec: str, x: np.ndarray) -> dict[str, float]:
    """Load + first forward, and a warm forward, the way the framework's users do."""
    start = time.perf_counter()
    forward = plain_forward(spec, x)
    loaded = time.perf_counter()
    forward()
    first = time.perf_counter()
    forward()
    return {"load": loaded - start, "first": first - loaded,
            "warm": time.perf_counter() - first}


def plain_forward(spec: str, x: np.ndarray) -> Callable[[], Any]:
    """The model at ``spec`` loaded the framework's normal way, as a forward call on ``x``."""
    from plain import load_factory, torch_eager

    if spec.endswith(".onnx"):
        import onnxruntime as ort

        session = ort.InferenceSession(spec, providers=["CPUExecutionProvider"])
        first_input = session.get_inputs()[0]
        typed = x.astype(np.int64 if first_input.type == "tensor(int64)" else np.float32)

        def forward() -> Any:
            return session.run(None, {first_input.name: typed})
    elif spec.endswith(".pt"):
        import torch

        forward = torch_eager(torch.jit.load(spec, map_location="cpu"), {"x": x})
    else:
        forward = torch_eager(load_factory(*spec.rsplit(":", 1)), {"x": x})
    return forward


def task_plain(args: dict[str, Any]) -> dict[str, Any]:
    """Each side loaded, run and let go in turn (one model in memory at a time)."""
    import_frameworks(args["a"], args["b"])
    x = feeds_for(args)
    return {"a": plain_side(args["a"], x), "b": plain_side(args["b"], x)}


def task_plain_held(args: dict[str, Any]) -> dict[str, Any]:
    """Both sides loaded, then both run: the two models in memory at once, as a comparison
    of their outputs by hand holds them."""
    import_frameworks(args["a"], args["b"])
    x = feeds_for(args)
    start = time.perf_counter()
    forwards = [plain_forward(args[side], x) for side in "ab"]
    for forward in forwards:
        forward()
    return {"seconds": time.perf_counter() - start}


def capture_side(spec: str, x: np.ndarray) -> dict[str, float]:
    """parity's stages for one side: open, graph, first run to every node, a warm run."""
    from parity.api import open_model

    start = time.perf_counter()
    backend = open_model(spec)
    opened = time.perf_counter()
    names = [node.name for node in backend.graph]
    feeds = {backend.graph.inputs[0].name: x}
    graphed = time.perf_counter()
    backend.run(feeds, names)
    first = time.perf_counter()
    backend.run(feeds, names)
    return {"open": opened - start, "graph": graphed - opened, "first": first - graphed,
            "warm": time.perf_counter() - first, "nodes": len(names)}


def task_capture(args: dict[str, Any]) -> dict[str, Any]:
    import_frameworks(args["a"], args["b"])
    import parity.api  # noqa: F401

    x = feeds_for(args)
    return {"a": capture_side(args["a"], x), "b": capture_side(args["b"], x)}


def task_compare(args: dict[str, Any]) -> dict[str, Any]:
    import_frameworks(args["a"], args["b"])
    from parity.api import compare

    x = feeds_for(args)
    start = time.perf_counter()
    report = compare(args["a"], args["b"], inputs=x, atol=args["tol"], rtol=args["tol"])
    return {"seconds": time.perf_counter() - start, "pairs": len(report.pairs),
            "failed": sum(p.failed for p in report.pairs)}


TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "plain": task_plain, "plain_held": task_plain_held, "capture": task_capture,
    "compare": task_compare,
}

if __name__ == "__main__":
    print(json.dumps(TASKS[sys.argv[1]](json.loads(sys.argv[2]))))
