"""Record of the Caffe backend (.prototxt + .caffemodel, run by OpenCV DNN)."""

from __future__ import annotations

import re

from parity.errors import ModelLoadError
from parity.formats import Probe
from parity.registry import BackendRecord, InputHabit


def _sniff(probe: Probe) -> bool:
    text = probe.text or ""
    return bool(re.search(r"\blayers?\s*\{", text) or re.search(r"^\s*name\s*:", text, re.M))


def _check(probe: Probe) -> None:
    if probe.suffix == ".prototxt" and probe.text is None:
        raise ModelLoadError(probe.path, "named .prototxt but is not text")


RECORD = BackendRecord(
    name="caffe",
    adapter="opencv_caffe:CaffeBackend",
    extra="caffe",
    framework="cv2",
    distribution="opencv-python-headless",
    formats=".prototxt + .caffemodel (run by OpenCV DNN)",
    suffixes=(".prototxt", ".caffemodel"),
    sniff=_sniff,
    check=_check,
    habit=InputHabit(rgb=False, note="Caffe habit: BGR 0-255"),
    advice={
        "set_eps": "set `batch_norm_param {{ eps: {eps:g} }}` on layer `{node}` in {file}",
        "round_up": "set `round_mode: CEIL` in the pooling_param of layer `{node}` in {file}",
        "round_down": "set `round_mode: FLOOR` in the pooling_param of layer `{node}` in {file}",
    },
    runtime="OpenCV DNN",
    vocabulary="opencv_caffe_vocabulary",
)
