"""ONNX Runtime warm run: which outputs are exposed, at which optimisation level.

``python benchmarks/ort_levels.py A.onnx OTHER [--inputs ids.npy | --input-shape ...]``
aligns A with OTHER (any model parity opens) to get the fetch list ``parity compare`` uses,
then times, interleaved in one process (``--repeats`` rounds, median and min):

* plain: ``InferenceSession(path)`` at ORT's default level (ORT_ENABLE_ALL), ``run(None)``;
* every node's output exposed, at BASIC / EXTENDED / ALL;
* only the aligned (paired) nodes' outputs exposed, at BASIC / EXTENDED / ALL.

Each capture session is parity's own (weights passed uncopied, outputs as OrtValues).
With ``--profile``, ORT's own profiler then times each operator type over ``--repeats``
warm runs of the plain session and of a session at ALL with the paired nodes' outputs
exposed (milliseconds a run and kernels a run): where the extra time of an exposed run
goes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a")
    parser.add_argument("other")
    parser.add_argument("--inputs", type=Path)
    parser.add_argument("--input-shape")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--profile", action="store_true",
                        help="also time each operator type with ORT's profiler")
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
    if opts.profile:
        model = onnx.load(opts.a)  # once, for both profiled sessions
        exposed = [a._protos[name].output[0] for name in paired]
        print_operator_times({
            "plain (ALL)": operator_times(model, [], plain_feeds, opts.repeats),
            f"paired exposed (ALL, {len(paired)})":
                operator_times(model, exposed, plain_feeds, opts.repeats)})


def operator_times(model: onnx.ModelProto, outputs: list[str], feeds: dict[str, np.ndarray],
                   repeats: int) -> dict[str, tuple[float, int]]:
    """Milliseconds a run and kernels a run per operator type, from ORT's profiler, for a
    session at ALL with ``outputs`` added to the model's own (after one untimed run)."""
    import onnxruntime as ort

    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    declared = {o.name for o in model.graph.output}
    exposed.graph.output.extend(onnx.helper.make_empty_tensor_value_info(t)
                                for t in outputs if t not in declared)
    with tempfile.TemporaryDirectory() as folder:
        options = ort.SessionOptions()
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(folder) / "ort")
        session = ort.InferenceSession(exposed.SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        for _ in range(repeats + 1):
            session.run(names, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    runs = [e for e in events if e.get("name") == "model_run"][1:]
    first_timed = runs[0]["ts"]
    durations: dict[str, list[float]] = defaultdict(list)
    for event in events:
        if (event.get("cat") == "Node" and event["name"].endswith("_kernel_time")
                and event["ts"] >= first_timed):
            durations[event["args"]["op_name"]].append(event["dur"])
    return {op: (sum(d) / len(runs) / 1e3, len(d) // len(runs)) for op, d in durations.items()}


def print_operator_times(profiles: dict[str, dict[str, tuple[float, int]]]) -> None:
    """One row per operator type (slowest first) and a total, one column per session."""
    for times in profiles.values():
        times["all"] = (sum(ms for ms, _ in times.values()),
                        sum(count for _, count in times.values()))
    print("\nORT profiler, per operator type: ms a run (kernels a run)")
    print("| operator | " + " | ".join(profiles) + " |")
    print("| --- |" + " ---: |" * len(profiles))
    ops = sorted({op for times in profiles.values() for op in times} - {"all"},
                 key=lambda op: -max(t.get(op, (0.0, 0))[0] for t in profiles.values()))
    for op in [*ops, "all"]:
        cells = [f"{ms:.1f} ({count})" for ms, count in
                 (times.get(op, (0.0, 0)) for times in profiles.values())]
        print(f"| {op} | " + " | ".join(cells) + " |")

if __name__ == "__main__":
    main()
