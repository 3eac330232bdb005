"""ONNX Runtime warm run: which outputs are exposed, at which optimisation level.

``python benchmarks/ort_levels.py A.onnx OTHER [--inputs ids.npy | --input-shape ...]``
aligns A with OTHER (any model parity opens) to get the fetch list ``parity compare`` uses,
then times, interleaved in one process (``--repeats`` rounds, median and min):

* plain: ``InferenceSession(path)`` at ORT's default level (ORT_ENABLE_ALL), ``run(None)``;
* every node's output exposed, at BASIC / EXTENDED / ALL;
* only the aligned (paired) nodes' outputs exposed, at BASIC / EXTENDED / ALL.

Each capture session is parity's own (weights passed uncopied, outputs as OrtValues).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a")
    parser.add_argument("other")
    parser.add_argument("--inputs", type=Path)
    parser.add_argument("--input-shape")
    parser.add_argument("--repeats", type=int, default=7)
    opts = parser.parse_args()
    import onnxruntime as ort

    import parity.backends.onnxrt as onnxrt
    from parity.align import align
    from parity.api import make_feeds, open_model

    a, other = open_model(opts.a), open_model(opts.other)
    shape = tuple(int(d) for d in opts.input_shape.split(",")) if opts.input_shape else None
    feeds = make_feeds(a, other, np.load(opts.inputs) if opts.inputs else None,
                       input_shape=shape)[0].arrays
    paired = [m.a for m in align(a.graph, other.graph).pairs if m.a in a.graph]
    every = [n.name for n in a.graph]
    levels = {"BASIC": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "EXTENDED": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "ALL": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    plain = ort.InferenceSession(opts.a, providers=["CPUExecutionProvider"])
    plain_feeds = {i.name: feeds[i.name].astype(onnxrt._numpy_type(i.type))
                   for i in plain.get_inputs()}
    runs = {"plain (ALL, model outputs)": lambda: plain.run(None, plain_feeds)}
    for what, fetch in ((f"every node ({len(every)})", every),
                        (f"paired nodes ({len(paired)})", paired)):
        for level, value in levels.items():
            backend = open_model(opts.a)
            onnxrt._CAPTURE_LEVEL = value
            backend.run(feeds, fetch)  # builds the session
            runs[f"{what}, {level}"] = (lambda b=backend, f=fetch: b.run(feeds, f))
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(opts.repeats):
        for key, run in runs.items():
            start = time.perf_counter()
            run()
            times[key].append(time.perf_counter() - start)
    base = float(np.median(times["plain (ALL, model outputs)"]))
    print(f"{opts.a}: warm run, {opts.repeats} interleaved rounds")
    print("| run | median ms | min ms | median / plain |")
    print("| --- | ---: | ---: | ---: |")
    for key, values in times.items():
        median = float(np.median(values))
        print(f"| {key} | {median * 1e3:.0f} | {min(values) * 1e3:.0f} | {median / base:.2f}× |")


if __name__ == "__main__":
    main()
