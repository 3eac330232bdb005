"""Capture overhead of the deployment backends: ``python benchmarks/deploy_capture.py
[--model resnet] [--size small|full] [--repeat 7]``.

The corpus model (``tests/realmodels``) is exported to ONNX (legacy exporter), converted to
OpenVINO IR (``openvino.convert_model``) and to TFLite (``litert_torch.convert``). For each
backend, "plain" is the framework run as a user runs it, to the final outputs (an ONNX
Runtime session, ``cv2.dnn`` ``forward()``, the reference evaluator, an OpenVINO compiled
model, a LiteRT interpreter with its default XNNPACK delegate) and "capture" is parity's
adapter fetching, in one pass, every node ``parity compare`` may compare (the activations:
no constants or shape arithmetic). The two alternate (interleaved, so
a loaded machine slows both alike); the table gives the min and median milliseconds of
each and the ratio of the medians, and the same ratio of the process CPU time each run
took. On a loaded box the wall-clock figures of a run of a few milliseconds are erratic:
a run the scheduler preempts waits out other processes' time slices (tens of ms) while
its CPU time stays put, so the CPU ratio is the steady one. Not a timed test: the figures
go into the closing notes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

Run = Callable[[], object]


def _plain_onnxrt(path: str, feeds: dict[str, np.ndarray]) -> Run:
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, feeds)


def _plain_opencv(path: str, feeds: dict[str, np.ndarray]) -> Run:
    import cv2

    net = cv2.dnn.readNetFromONNX(path)

    def run() -> object:
        for name, value in feeds.items():
            net.setInput(value, name)
        return net.forward()

    return run


def _plain_onnxref(path: str, feeds: dict[str, np.ndarray]) -> Run:
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(path)
    return lambda: evaluator.run(None, feeds)


def _plain_openvino(path: str, feeds: dict[str, np.ndarray]) -> Run:
    import openvino as ov

    compiled = ov.Core().compile_model(path, "CPU")
    return lambda: compiled(list(feeds.values()))


def _plain_tflite(path: str, feeds: dict[str, np.ndarray]) -> Run:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    outputs = [d["index"] for d in interpreter.get_output_details()]

    def run() -> object:
        interpreter.set_tensor(detail["index"], next(iter(feeds.values())))
        interpreter.invoke()
        return [interpreter.get_tensor(index) for index in outputs]

    return run


PLAIN: dict[str, Callable[[str, dict[str, np.ndarray]], Run]] = {
    "onnxrt": _plain_onnxrt, "opencv": _plain_opencv, "onnxref": _plain_onnxref,
    "openvino": _plain_openvino, "tflite": _plain_tflite,
}


def interleaved(plain: Run, capture: Run, repeat: int
                ) -> tuple[list[float], list[float], list[float], list[float]]:
    """Wall and process-CPU seconds of ``repeat`` runs of each (plain wall, capture wall,
    plain CPU, capture CPU), alternated, after one warm-up run of each."""
    plain(), capture()
    times: tuple[list[float], ...] = ([], [], [], [])
    for _ in range(repeat):
        for index, run in enumerate((plain, capture)):
            start, cpu = time.perf_counter(), time.process_time()
            run()
            times[index].append(time.perf_counter() - start)
            times[index + 2].append(time.process_time() - cpu)
    return times  # type: ignore[return-value]


def _converted(name: str, size: str, folder: Path, inputs: dict[str, Any]
               ) -> list[tuple[str, str]]:
    import openvino as ov
    import realmodels
    import torch

    corpus = realmodels.Corpus(folder, size)
    onnx_path = corpus.export(name, "onnx_legacy")
    model = realmodels.build(name, size)
    example = torch.from_numpy(next(iter(inputs.values())))
    ir = folder / f"{name}.xml"
    ov.save_model(ov.convert_model(model, example_input=example, input=[tuple(example.shape)]),
                  str(ir), compress_to_fp16=False)
    specs = [(onnx_path, b) for b in ("onnxrt", "opencv", "onnxref", "openvino")]
    specs.append((str(ir), "openvino"))
    try:
        import litert_torch
    except ImportError:
        return specs
    tflite = folder / f"{name}.tflite"
    litert_torch.convert(model, (example,)).export(str(tflite))
    return [*specs, (str(tflite), "tflite")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet")
    parser.add_argument("--size", default="small", choices=("small", "full"))
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import realmodels

    from parity.align.activations import activation_graph
    from parity.api import open_model

    inputs = realmodels.inputs(args.model, args.size)
    print(f"| {args.model} ({args.size}) | file | nodes | plain ms min / median | "
          "capture ms min / median | ratio (medians) | CPU ratio (medians) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for path, backend in _converted(args.model, args.size, Path(tmp), inputs):
            model = open_model(path, backend=backend)
            feeds = {model.graph.inputs[0].name: next(iter(inputs.values()))}
            every = [node.name for node in activation_graph(model.graph)[0]]
            plain, capture, plain_cpu, capture_cpu = interleaved(
                PLAIN[backend](path, feeds), lambda: model.run(feeds, every),  # noqa: B023
                args.repeat)
            cells = [f"{min(t) * 1e3:.2f} / {statistics.median(t) * 1e3:.2f}"
                     for t in (plain, capture)]
            ratio = statistics.median(capture) / statistics.median(plain)
            cpu = statistics.median(capture_cpu) / max(statistics.median(plain_cpu), 1e-9)
            print(f"| {backend} | {Path(path).suffix} | {len(every)} | {cells[0]} | "
                  f"{cells[1]} | {ratio:.2f} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
