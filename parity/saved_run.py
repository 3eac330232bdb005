"""A comparison saved to a folder, to be re-examined without the frameworks.

``DIR/report.json`` is the JSON report; ``DIR/tensors_a.npz`` and ``DIR/tensors_b.npz``
hold every compared tensor, keyed ``p0000``, ``p0001``... in the order of the report's
pairs, for the first input; with several inputs (the report's ``samples``) the ``k``-th
input's (from 0) are keyed ``p0000_s{k}`` for ``k >= 1``. Tensors are written as they are
compared, so saving does not hold them in memory.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UsageError
from .limits import check_depth, read_text
from .metrics import Metrics
from .report import (
    DEFAULT_MIN_COVERAGE,
    Hint,
    PairResult,
    Report,
    Side,
    criteria_from_dict,
    verdict_from_dict,
)
from .safe_io import StagedFolder, open_new

REPORT, TENSORS_A, TENSORS_B = "report.json", "tensors_a.npz", "tensors_b.npz"


def pair_key(index: int, sample: int = 0) -> str:
    """The npz key of the ``index``-th pair of the report on input ``sample``."""
    return f"p{index:04d}" if sample == 0 else f"p{index:04d}_s{sample}"


class TensorWriter:
    """Appends arrays to a new ``.npz`` file one at a time (never through a symlink)."""

    def __init__(self, path: Path) -> None:
        self._file = open_new(path)
        self._zip = zipfile.ZipFile(self._file, "w", compression=zipfile.ZIP_STORED,
                                    allowZip64=True)

    def write(self, key: str, array: np.ndarray) -> None:
        with self._zip.open(f"{key}.npy", "w", force_zip64=True) as handle:
            np.lib.format.write_array(handle, np.ascontiguousarray(array), allow_pickle=False)

    def close(self) -> None:
        self._zip.close()
        self._file.close()


class RunSaver:
    """Writes both sides' tensors as pairs are compared, then the report.

    The run is built in a temporary folder beside ``folder`` and renamed onto it by
    :meth:`finish`; a run that fails or is interrupted (leaving the ``with`` block by an
    exception) is removed and an earlier run in ``folder`` stays whole. An existing run is
    replaced only with ``force``.
    """

    def __init__(self, folder: Path, order: list[str], force: bool = False) -> None:
        self.folder = folder
        self._staged = StagedFolder(folder, (REPORT, TENSORS_A, TENSORS_B), force)
        self._index = {name: i for i, name in enumerate(order)}
        self._a = TensorWriter(self._staged.path / TENSORS_A)
        self._b = TensorWriter(self._staged.path / TENSORS_B)

    def __enter__(self) -> RunSaver:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:
            self._a.close()
            self._b.close()
            self._staged.discard()

    def __call__(self, name_a: str, va: np.ndarray, vb: np.ndarray, sample: int = 0) -> None:
        key = pair_key(self._index[name_a], sample)
        self._a.write(key, va)
        self._b.write(key, vb)

    def finish(self, report: Report) -> None:
        self._a.close()
        self._b.close()
        with open_new(self._staged.path / REPORT) as handle:
            handle.write(json.dumps(report.to_dict(), indent=2).encode("utf-8"))
        try:
            self._staged.commit()
        except OSError as exc:
            self._staged.discard()
            raise UsageError(f"{self.folder}: cannot save the run ({exc.strerror or exc})") \
                from None


def load_report(folder: Path) -> Report:
    """The report of a saved run (``parity report DIR``)."""
    path = folder / REPORT if folder.is_dir() else folder
    if not os.path.lexists(path):
        raise UsageError(f"{path}: no saved report here (run compare with --save-tensors)")
    text = read_text(path, "JSON report")
    check_depth(text, str(path))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not a parity JSON report ({exc})") from None
    try:
        return _report_from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise UsageError(f"{path}: not a parity JSON report (missing or bad {exc})") from None


def _report_from_dict(data: dict[str, Any]) -> Report:
    pairs = tuple(_pair_from_dict(p) for p in data["pairs"])
    first = data["first_divergence"]
    criteria = criteria_from_dict(data["tolerance"])
    first_pair = next((p for p in pairs if first and p.a == first["a"]), None)
    return Report(
        a=Side(**data["a"]),
        b=Side(**data["b"]),
        tolerance=criteria.tolerance,
        pairs=pairs,
        unmatched_a=tuple(data["unmatched_a"]),
        unmatched_b=tuple(data["unmatched_b"]),
        first_divergence=first_pair,
        hints=tuple(Hint(h["code"], h["node"], h["message"], h.get("evidence", {}))
                    for h in data["hints"]),
        skipped_a=tuple(data.get("skipped_a", ())),
        skipped_b=tuple(data.get("skipped_b", ())),
        min_coverage=float(data.get("coverage", {}).get("min", DEFAULT_MIN_COVERAGE)),
        environment={str(k): str(v) for k, v in data.get("environment", {}).items()},
        overrides=criteria.overrides,
        samples=tuple(data.get("samples", ())),
        error_stat=criteria.error_stat,
    )


def _pair_from_dict(p: dict[str, Any]) -> PairResult:
    metrics = None
    if p["max_abs"] is not None or p["status"] != "shape_mismatch":
        nan, inf = p.get("nan") or [0, 0], p.get("inf") or [0, 0]
        metrics = Metrics(
            *(float("nan") if p[k] is None else p[k]
              for k in ("max_abs", "mean_abs", "max_rel", "cosine")),
            nan[0], nan[1], inf[0], inf[1], unmatched=p.get("nonfinite_mismatch") or 0,
            masked=p.get("masked") or 0)
    channels = p.get("channel_max_abs")
    return PairResult(
        p["a"], p["b"], p["op"], p.get("how", ""), tuple(p["shape_a"]), tuple(p["shape_b"]),
        p["status"], metrics,
        None if channels is None else tuple(float("inf") if c is None else c for c in channels),
        verdict_from_dict(p), p.get("worst_input"),
    )
