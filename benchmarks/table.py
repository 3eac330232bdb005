"""The results table: rows, number formatting, machine figures, markdown output."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from importlib import metadata

from measure import MIB, Samples

PACKAGES = ("torch", "onnx", "onnxruntime", "mxnet", "opencv-python-headless", "numpy",
            "polygraphy")


@dataclass(frozen=True)
class Row:
    """One line of the table: parity's figure, the alternative's, their ratio and target."""

    section: str
    what: str
    parity: str
    other: str = ""
    ratio: str = ""
    target: str = ""
    verdict: str = ""


def seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def timing(samples: Samples) -> str:
    """Median with the min–max spread."""
    low, high = samples.spread()
    return f"{seconds(samples.median)} ({seconds(low)}–{seconds(high)})"


def size(value: float) -> str:
    return f"{value / MIB:.0f} MiB" if value < 1024 * MIB else f"{value / 1024 / MIB:.2f} GiB"


def sizes(samples: Samples) -> str:
    low, high = samples.spread()
    if high - low < MIB:
        return size(samples.median)
    return f"{size(samples.median)} ({size(low)}–{size(high)})"


def ratio(samples: Samples) -> str:
    low, high = samples.spread()
    if high - low < 0.005 * samples.median:
        return f"{samples.median:.2f}×"
    return f"{samples.median:.2f}× ({low:.2f}–{high:.2f})"


def verdict(value: float, limit: float) -> str:
    return "✅ holds" if value <= limit else "❌ missed"


def machine() -> list[str]:
    """CPU model, cores, RAM, Python and framework versions."""
    return [
        f"CPU: {_cpu_model()}, {os.cpu_count()} cores; RAM {_ram_gib():.0f} GiB; "
        f"{platform.system()} {platform.release()}",
        f"Python {platform.python_version()}; " + ", ".join(
            f"{name} {_version(name)}" for name in PACKAGES),
    ]


def _cpu_model() -> str:
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    with open("/proc/meminfo") as info:
        total_kib = int(info.readline().split()[1])
    return total_kib / 1024 / 1024


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def markdown(rows: list[Row], header: list[str], notes: list[str]) -> str:
    """The table as GitHub markdown, machine figures above and notes below it."""
    lines = [*(f"- {line}" for line in header), "",
             "| section | measurement | parity | alternative | ratio | target | |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r.section} | {r.what} | {r.parity} | {r.other} | {r.ratio} | {r.target} "
              f"| {r.verdict} |" for r in rows]
    return "\n".join([*lines, "", *(f"- {note}" for note in notes)]) + "\n"
