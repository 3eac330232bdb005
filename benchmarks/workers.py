"""Measurements that run in their own process, so the parent reads a clean peak RSS.

``python benchmarks/workers.py TASK '{"a": ..., "b": ..., ...}'`` prints one JSON line.
Tasks: ``load`` (open both models), ``parity`` (``parity.compare``), ``naive`` (one forward
per layer on each side), ``keep`` (``Backend.run`` on both sides, both dicts held).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from parity.align import align
from parity.api import compare, make_feeds, open_model
from parity.backend import Backend


def open_pair(args: dict[str, Any]) -> tuple[Backend, Backend, dict, dict, float]:
    """Both models and their feeds, and the seconds opening them took."""
    start = time.perf_counter()
    a, b = open_model(args["a"]), open_model(args["b"])
    shape = tuple(args["input_shape"]) if args.get("input_shape") else None
    feeds_a, feeds_b = make_feeds(a, b, image=args.get("image"), input_shape=shape)
    return a, b, feeds_a.arrays, feeds_b.arrays, time.perf_counter() - start


def task_load(args: dict[str, Any]) -> dict[str, Any]:
    *_, seconds = open_pair(args)
    return {"load_s": seconds}


def task_parity(args: dict[str, Any]) -> dict[str, Any]:
    a, b, *_, load = open_pair(args)
    start = time.perf_counter()
    report = compare(a, b, image=args.get("image"), atol=args["atol"], rtol=args["atol"],
                            input_shape=tuple(args["input_shape"]) if args.get("input_shape")
                            else None)
    return {"load_s": load, "seconds": time.perf_counter() - start, "pairs": len(report.pairs),
            "failed": sum(p.failed for p in report.pairs)}


def task_naive(args: dict[str, Any]) -> dict[str, Any]:
    from naive import per_layer_fetch
    from plain import load_factory

    a, b, feeds_a, feeds_b, load = open_pair(args)
    module = load_factory(*args["module"].rsplit(":", 1)) if args.get("module") else None
    fetch_a = per_layer_fetch(a, feeds_a, module)
    fetch_b = per_layer_fetch(b, feeds_b, module)
    pairs = [m for m in align(a.graph, b.graph).pairs if not m.how.startswith("input")]
    sample = evenly(pairs, args.get("sample") or len(pairs))
    start = time.perf_counter()
    for match in sample:
        close(fetch_a(match.a), fetch_b(match.b), args["atol"])
    return {"load_s": load, "seconds": time.perf_counter() - start, "sampled": len(sample),
            "total": len(pairs)}


def task_keep(args: dict[str, Any]) -> dict[str, Any]:
    a, b, feeds_a, feeds_b, load = open_pair(args)
    start = time.perf_counter()
    kept_a = a.run(feeds_a, [n.name for n in a.graph])
    kept_b = b.run(feeds_b, [n.name for n in b.graph])
    return {"load_s": load, "seconds": time.perf_counter() - start,
            "bytes_a": total_bytes(kept_a), "bytes_b": total_bytes(kept_b),
            "points": len(kept_a)}


def evenly(items: list, count: int) -> list:
    """``count`` items spread evenly over ``items`` (all of them when it has no more)."""
    if count >= len(items):
        return items
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def close(va: np.ndarray, vb: np.ndarray, tol: float) -> bool:
    """The naive check: allclose when the sizes agree."""
    return va.size == vb.size and bool(np.allclose(va.ravel(), vb.ravel(), tol, tol))


def total_bytes(arrays: dict[str, np.ndarray]) -> int:
    return sum(array.nbytes for array in arrays.values())


TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "load": task_load, "parity": task_parity, "naive": task_naive, "keep": task_keep,
}

if __name__ == "__main__":
    result = TASKS[sys.argv[1]](json.loads(sys.argv[2]))
    print(json.dumps(result))
