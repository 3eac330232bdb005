"""Alignment cost on large graphs: ``python benchmarks/align_scale.py [--sizes 1000 3000 10000]``.

Synthetic ONNX models of N nodes (small tensors, so the forward pass is cheap and alignment
dominates) are compared against a copy of themselves, in three shapes:

* ``named``: the copy keeps its node names (name strategies pair everything);
* ``nameless``: the copy's node names are random strings and carry no scopes, so structure
  and sequence alignment do all the work;
* ``fanout``: nameless, and every 8th node feeds 16 parallel branches that join again;

and ``unrelated``: two different nameless models of the same size (few compatible anchors),
which must get an answer (a low-coverage report) within seconds.

Prints one markdown table: align seconds (``parity.align.align`` on the two graphs) and
compare seconds (``parity.compare``: load, align, one pass per side, metrics, report).
Not a timed test: the targets (3,000 nameless nodes < 10 s, 10,000 < 30 s) are read off.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from parity.align import align
from parity.api import compare, open_model

WIDTH = 8
_UNARY = ("Relu", "Sigmoid", "Tanh", "Abs")


def synthetic(n: int, fanout: int = 0, seed: int = 0, names: bool = True) -> onnx.ModelProto:
    """A chain of about ``n`` elementwise ops on a ``1 x WIDTH`` tensor; with ``fanout``,
    every 8th node feeds ``fanout`` parallel branches that a Sum joins."""
    rng, name_rng = random.Random(seed), random.Random(seed + 1)
    nodes, inits = [], []
    current, count = "x", 0

    def name(op: str) -> str:
        return f"/block{count // 8}/{op}_{count}" if names else _random_name(name_rng)

    def emit(op: str, inputs: list[str]) -> str:
        nonlocal count
        out = f"t{count}"
        if op in ("Add", "Mul"):
            weight = f"w{count}"
            inits.append(numpy_helper.from_array(
                np.full((1, WIDTH), 0.5 + rng.random(), np.float32), weight))
            inputs = [*inputs, weight]
        nodes.append(helper.make_node(op, inputs, [out], name=name(op)))
        count += 1
        return out

    while count < n:
        if fanout and count % 8 == 0:
            branches = [emit(rng.choice(_UNARY), [current]) for _ in range(fanout)]
            current = emit("Sum", branches)
        else:
            current = emit(rng.choice((*_UNARY, "Add", "Mul")), [current])
    graph = helper.make_graph(
        nodes, "synthetic",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, WIDTH])],
        [helper.make_tensor_value_info(current, TensorProto.FLOAT, [1, WIDTH])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _random_name(rng: random.Random) -> str:
    return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=12))


def measure(a: Path, b: Path) -> dict[str, float]:
    """Seconds of ``align`` on the two graphs and of a whole ``compare``; coverage."""
    graph_a, graph_b = open_model(a).graph, open_model(b).graph
    start = time.perf_counter()
    alignment = align(graph_a, graph_b)
    aligned = time.perf_counter() - start
    start = time.perf_counter()
    report = compare(a, b)
    compared = time.perf_counter() - start
    return {"nodes": len(graph_a), "align_s": aligned, "compare_s": compared,
            "pairs": len(alignment.pairs), "coverage": min(report.coverage)}


CASES = {
    "named": lambda n: (synthetic(n), synthetic(n)),
    "nameless": lambda n: (synthetic(n), synthetic(n, names=False, seed=0)),
    "fanout": lambda n: (synthetic(n, fanout=16), synthetic(n, fanout=16, names=False)),
    "unrelated": lambda n: (synthetic(n, names=False, seed=1), synthetic(n, names=False, seed=2)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 10000])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    args = parser.parse_args()
    print("| case | nodes | align s | compare s | pairs | coverage |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases:
            for n in args.sizes:
                a, b = Path(tmp) / f"{case}{n}_a.onnx", Path(tmp) / f"{case}{n}_b.onnx"
                model_a, model_b = CASES[case](n)
                onnx.save(model_a, a)
                onnx.save(model_b, b)
                row = measure(a, b)
                print(f"| {case} | {row['nodes']} | {row['align_s']:.2f} | "
                      f"{row['compare_s']:.2f} | {row['pairs']} | {row['coverage']:.0%} |",
                      flush=True)


if __name__ == "__main__":
    main()
