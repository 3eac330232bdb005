"""Timing and peak-memory helpers: medians with their spread, peak RSS of child processes."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MIB = 1024 * 1024


@dataclass(frozen=True)
class Samples:
    """Repeated measurements of one quantity."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def spread(self) -> tuple[float, float]:
        return min(self.values), max(self.values)

    def ratio(self, other: Samples) -> Samples:
        """Per-repetition ratios ``self / other`` (both measured interleaved)."""
        return Samples(tuple(a / b for a, b in zip(self.values, other.values)))


def timed(fn: Callable[[], Any]) -> float:
    """Wall seconds of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(fns: Sequence[Callable[[], Any]], repeats: int, warmup: int = 2
                ) -> list[Samples]:
    """Time each function ``repeats`` times, alternating them so drift hits all alike."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, bucket in zip(fns, times):
            bucket.append(timed(fn))
    return [Samples(tuple(bucket)) for bucket in times]


@dataclass(frozen=True)
class Child:
    """One finished child process: wall time, peak RSS, exit code, stdout, its JSON result,
    and the frameworks it had imported."""

    wall: float
    peak: int
    code: int
    stdout: str
    result: dict[str, Any]
    loaded: tuple[str, ...]


Command = tuple[str, ...]


def run_child(cmd: Command, ok: tuple[int, ...] = (0,)) -> Child:
    """Run ``cmd`` (``(target, *args)``, see ``peak.py``) in a fresh Python process.

    Its last stdout line is read as JSON if it is; an exit code outside ``ok`` raises with
    the end of its stderr.
    """
    fd, peak_file = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    env = {**os.environ, "PEAK_FILE": peak_file}
    try:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, str(HERE / "peak.py"), *cmd], env=env,
                              capture_output=True, text=True, errors="replace")
        wall = time.perf_counter() - start
        if proc.returncode not in ok:
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n"
                               f"{proc.stderr[-3000:]}")
        peak = json.loads(Path(peak_file).read_text())
    finally:
        os.unlink(peak_file)
    return Child(wall, peak["peak"], proc.returncode, proc.stdout, _last_json(proc.stdout),
                 tuple(peak["loaded"]))


def _last_json(text: str) -> dict[str, Any]:
    lines = text.strip().splitlines()
    if lines and lines[-1].startswith("{"):
        try:
            return json.loads(lines[-1])
        except json.JSONDecodeError:
            return {}
    return {}


def children(cmd: Command, repeats: int, ok: tuple[int, ...] = (0,)) -> list[Child]:
    """``cmd`` run ``repeats`` times, each in a fresh process."""
    return [run_child(cmd, ok) for _ in range(repeats)]


def worker(task: str, **args: Any) -> Command:
    """The command running ``benchmarks/workers.py`` task ``task`` with ``args``."""
    return (str(HERE / "workers.py"), task, json.dumps(args))


def parity_cli(*args: str) -> Command:
    return ("parity.cli:main", *args)


def polygraphy_cli(*args: str) -> Command:
    return ("polygraphy.tools:main", *args)


def samples(values: Sequence[float]) -> Samples:
    return Samples(tuple(values))
