"""Record of the OpenCV DNN on ONNX backend."""

from __future__ import annotations

from parity.backends.onnxrt_record import onnx_record

RECORD = onnx_record(
    name="opencv", adapter="opencv_onnx:OpenCvOnnxBackend", extra="caffe", framework="cv2",
    distribution="opencv-python-headless", runtime="OpenCV DNN",
    formats=".onnx (cv2.dnn.readNetFromONNX, CPU)")
