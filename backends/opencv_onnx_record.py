"""Record of the OpenCV DNN on ONNX backend."""

from __future__ import annotations

from parity.backends.onnxrt_record import ONNX_ADVICE, ONNX_ATTRIBUTES, ONNX_HABIT, check_onnx
from parity.registry import BackendRecord

RECORD = BackendRecord(
    name="opencv",
    adapter="opencv_onnx:OpenCvOnnxBackend",
    extra="caffe",
    framework="cv2",
    distribution="opencv-python-headless",
    formats=".onnx (cv2.dnn.readNetFromONNX, CPU)",
    suffixes=(".onnx",),
    check=check_onnx,
    habit=ONNX_HABIT,
    advice=ONNX_ADVICE,
    attribute_names=ONNX_ATTRIBUTES,
    runtime="OpenCV DNN",
    vocabulary="onnxrt_vocabulary",
)
