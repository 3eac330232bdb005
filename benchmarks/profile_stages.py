"""Where one ``parity.compare`` spends its time and memory, stage by stage.

``python benchmarks/profile_stages.py A B [--inputs ids.npy | --input-shape 1,3,224,224]``
runs one comparison in this process with parity's stage functions wrapped by timers and a
thread sampling the resident set every 10 ms, then prints one row per stage: seconds
(inclusive of nothing another row counts), how much the resident set grew during it, and
the largest resident set sampled while it ran. Imports are done before the clock starts.
"""

from __future__ import annotations

import argparse
import functools
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

_stack: list[str] = []
_seconds: dict[str, float] = defaultdict(float)
_grown: dict[str, float] = defaultdict(float)
_peak: dict[str, float] = defaultdict(float)
_calls: dict[str, int] = defaultdict(int)


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def _sample(stop: threading.Event) -> None:
    while not stop.wait(0.01):
        stage = _stack[-1] if _stack else "other"
        _peak[stage] = max(_peak[stage], rss_mib())


def timed(stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` counting its own time (not its timed callees') under ``stage``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _stack.append(stage)
        _calls[stage] += 1
        start, before = time.perf_counter(), rss_mib()
        inner = sum(_seconds.values())
        try:
            return fn(*args, **kwargs)
        finally:
            spent = time.perf_counter() - start
            _seconds[stage] += spent - (sum(_seconds.values()) - inner)
            _grown[stage] += rss_mib() - before
            _stack.pop()

    return wrapper


def _generator_timed(stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """A generator function whose every resumption counts under ``stage``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        iterator = fn(*args, **kwargs)
        step = timed(stage, lambda: next(iterator, _END))
        while (item := step()) is not _END:
            yield item

    return wrapper


_END = object()


def instrument() -> None:
    """Wrap the stage functions of parity's compare path (ONNX Runtime and torch sides)."""
    import parity.api as api
    import parity.diff as diff
    from parity.backend import Backend
    from parity.backends import onnxrt

    onnxrt.load_model = timed("load: parse model", onnxrt.load_model)
    onnxrt.detach_weights = timed("load: weights to arrays", onnxrt.detach_weights)
    onnxrt._inferred_value_infos = timed("load: shape inference",
                                         onnxrt._inferred_value_infos)
    cls = onnxrt.OnnxRuntimeBackend
    cls.__init__ = timed("load: other (proto copy)", cls.__init__)
    cls._load_graph = timed("graph", cls._load_graph)
    cls._session = timed("session build", cls._session)
    cls._run = timed("run: onnxruntime", cls._run)
    try:
        from parity.backends import _torch_capture, pytorch
    except ImportError:  # no torch: ONNX sides only
        pytorch = None
    if pytorch is not None:
        pytorch.load_checked = timed("load: torch op check", pytorch.load_checked)
        pytorch._load_torchscript = timed("load: torch.jit.load", pytorch._load_torchscript)
        script = _torch_capture.TorchScriptCapture
        script.__init__ = timed("load: TorchScript graph rewrite", script.__init__)
        pytorch.TorchBackend._load_graph = timed("graph", pytorch.TorchBackend._load_graph)
        script._run = timed("run: TorchScript (compile on first use)", script._run)
    Backend.stream = _generator_timed("stream hand-out", Backend.stream)
    api.make_samples = timed("inputs", api.make_samples)
    api.align = timed("alignment", api.align)
    diff.same_layout = timed("metrics: layout", diff.same_layout)
    diff.measure = timed("metrics", diff.measure)
    diff.Judge.judge = timed("verdict", diff.Judge.judge)
    diff.Judge.__init__ = timed("verdict", diff.Judge.__init__)
    diff._Retention.__init__ = timed("retention", diff._Retention.__init__)
    diff._Retention.add = timed("retention", diff._Retention.add)
    diff.diagnose = timed("diagnosis", diff.diagnose)
    api.environment = timed("report: environment", api.environment)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--inputs", type=Path)
    parser.add_argument("--input-shape")
    parser.add_argument("--tol", type=float)
    parser.add_argument("--json", action="store_true", help="also print the stages as one "
                                                            "JSON line")
    opts = parser.parse_args()
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401
    if not (opts.a.endswith(".onnx") and opts.b.endswith(".onnx")):
        import torch  # noqa: F401
    from parity.api import compare
    from parity.render import json as render_json

    instrument()
    inputs = np.load(opts.inputs) if opts.inputs else None
    shape = tuple(int(d) for d in opts.input_shape.split(",")) if opts.input_shape else None
    stop = threading.Event()
    sampler = threading.Thread(target=_sample, args=(stop,), daemon=True)
    base = rss_mib()
    sampler.start()
    start = time.perf_counter()
    report = compare(opts.a, opts.b, inputs=inputs, input_shape=shape, atol=opts.tol,
                     rtol=opts.tol)
    timed("report: render json", render_json.render_json)(report)
    total = time.perf_counter() - start
    stop.set()
    sampler.join()
    _seconds["other"] = total - sum(_seconds.values())
    print(f"compare {opts.a} vs {opts.b}: {len(report.pairs)} pairs, "
          f"{sum(p.failed for p in report.pairs)} failing; {total:.2f} s; RSS at start "
          f"{base:.0f} MiB, peak {max(_peak.values()):.0f} MiB")
    print("| stage | calls | seconds | share | RSS growth MiB | peak RSS MiB while in it |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for stage, seconds in sorted(_seconds.items(), key=lambda kv: -kv[1]):
        print(f"| {stage} | {_calls.get(stage, '')} | {seconds:.2f} | {seconds / total:.0%} | "
              f"{_grown.get(stage, 0):+.0f} | {_peak.get(stage, 0):.0f} |")
    if opts.json:
        import json

        print(json.dumps({"total": total, "peak": max(_peak.values()), "seconds": _seconds,
                          "peak_in": _peak}))


if __name__ == "__main__":
    main()
