"""Cost of recording a factory op by op in an eager pass, against the plain forward.

``python benchmarks/eager_capture.py [MODEL ...] [--size small|full] [--repeats N]``
(models of ``tests/realmodels``; default bert and resnet at full size: BERT-base on 128
tokens, ResNet-50 on 224 px). In one process, warm, the three runs are interleaved
``--repeats`` times:

* plain: ``module(*inputs)`` under ``torch.no_grad()``;
* record: the first pass (graph recorded, every op's value kept by reference);
* fetch: a later input's pass keeping every node's value.

Printed per model: min and median seconds of each and their ratios to plain, the op count,
and the memory the recorded pass keeps (distinct storages, so views count once) against
the plain pass's output.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import realmodels  # noqa: E402

from parity.backends._torch_eager import record_pass  # noqa: E402


def _timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _kept_bytes(values: dict[str, torch.Tensor]) -> int:
    storages = {}
    for value in values.values():
        storage = value.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values())


def measure(name: str, size: str, repeats: int) -> str:
    module = realmodels.build(name, size)
    inputs = {key: torch.from_numpy(value) for key, value in
              realmodels.inputs(name, size).items()}
    args = list(inputs.values())

    def plain() -> None:
        with torch.no_grad():
            module(*args)

    def record() -> None:
        record_pass(module, inputs, lambda _key: True)

    recorded = record_pass(module, inputs, lambda _key: True)
    wanted = {op.key for op in recorded.ops}

    def fetch() -> None:
        record_pass(module, inputs, wanted.__contains__)

    runs = {"plain": plain, "record": record, "fetch": fetch}
    for run in runs.values():  # warm-up
        run()
    times: dict[str, list[float]] = {key: [] for key in runs}
    for _ in range(repeats):
        for key, run in runs.items():
            times[key].append(_timed(run))
    base_min, base_median = min(times["plain"]), statistics.median(times["plain"])
    lines = [f"{name} ({size}): {len(recorded.ops)} ops, recorded pass keeps "
             f"{_kept_bytes(recorded.values) / 2**20:.1f} MiB"]
    for key, values in times.items():
        low, mid = min(values), statistics.median(values)
        lines.append(f"  {key:7s} min {low:.4f} s  median {mid:.4f} s  "
                     f"ratio min {low / base_min:.2f}x  median {mid / base_median:.2f}x")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=["bert", "resnet"])
    parser.add_argument("--size", default="full", choices=("small", "full"))
    parser.add_argument("--repeats", type=int, default=7)
    options = parser.parse_args()
    torch.manual_seed(0)
    for name in options.models:
        print(measure(name, options.size, options.repeats), flush=True)


if __name__ == "__main__":
    main()
