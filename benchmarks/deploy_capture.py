"""Capture overhead of the deployment backends: ``python benchmarks/deploy_capture.py
[--model resnet] [--size small|full] [--repeat 20]``.

The corpus model (``tests/realmodels``) is exported to ONNX (legacy exporter), converted to
OpenVINO IR (``openvino.convert_model``) and to TFLite (``litert_torch.convert``), then each
backend runs it twice over: to its final outputs only (plain) and to every node of its
graph (capture, one pass). Prints one markdown table: nodes, best-of-N milliseconds for
each, and the ratio. Not a timed test: the figures go into the closing notes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def _best(run: Callable[[], object], repeat: int) -> float:
    run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def _converted(name: str, size: str, folder: Path, inputs: dict) -> list[tuple[str, str]]:
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
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import realmodels

    from parity.api import open_model

    inputs = realmodels.inputs(args.model, args.size)
    print(f"| {args.model} ({args.size}) | file | nodes | plain ms | capture ms | ratio |")
    print("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for path, backend in _converted(args.model, args.size, Path(tmp), inputs):
            model = open_model(path, backend=backend)
            feeds = {model.graph.inputs[0].name: next(iter(inputs.values()))}
            every = [node.name for node in model.graph]
            outputs = list(model.graph.outputs)
            plain = _best(lambda: model.run(feeds, outputs), args.repeat)  # noqa: B023
            capture = _best(lambda: model.run(feeds, every), args.repeat)  # noqa: B023
            print(f"| {backend} | {Path(path).suffix} | {len(every)} | {plain * 1e3:.2f} | "
                  f"{capture * 1e3:.2f} | {capture / plain:.2f} |")


if __name__ == "__main__":
    main()
