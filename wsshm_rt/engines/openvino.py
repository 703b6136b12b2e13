"""OpenVINO engine (CPU, the `openvino` extra): runs the same .onnx files as ONNX Runtime.

On a CPU with AMX or AVX512-BF16, ``precision="bf16"`` runs the network in bf16 (AMX tiles on Sapphire Rapids), and an
int8 QDQ model (``wsshm-rt export --quantize int8``) runs in int8; fp32 is the default, as exact as ONNX Runtime.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from ..errors import WsshmError, require

OV_PRECISIONS = {"fp32": "f32", "bf16": "bf16"}


class OpenVinoEngine:
    name = "openvino"

    def __init__(self, path: Path, device: str = "auto", threads: int | None = None, precision: str = "fp32"):
        ov = require("openvino", "openvino")
        from .onnxruntime import onnx_io

        if device == "cuda":
            raise WsshmError("the openvino engine runs on the CPU; for an NVIDIA GPU use engine='onnxruntime' or "
                             "'tensorrt'")
        if path.suffix.lower() != ".onnx":
            raise WsshmError(f"{path} is not an ONNX file; the openvino engine reads .onnx models")
        if precision not in OV_PRECISIONS:
            raise WsshmError(f"precision {precision} is not for the CPU; the openvino engine takes fp32 or bf16")
        self.input_name, self.output_index, self.metadata = onnx_io(path)
        core = ov.Core()
        if precision == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            raise WsshmError("this CPU has no native bf16 (AVX512-BF16 or AMX), where bf16 is slower than fp32; use "
                             "precision='fp32'")
        self.compiled = core.compile_model(core.read_model(str(path)), "CPU", cpu_config(threads, precision))
        self.device, self.path = "cpu", path
        self.detail = f"OpenVINO {ov.__version__.split('-')[0]}, {precision}"
        self._local = threading.local()

    def run(self, batch: np.ndarray) -> np.ndarray:
        # One infer request per calling thread: requests on different streams run at the same time.
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        request.infer({0: np.ascontiguousarray(batch, np.float32)})
        alpha = np.array(request.get_output_tensor(self.output_index).data)  # a copy: the request reuses its buffer
        if alpha.shape != (batch.shape[0], 1, *batch.shape[2:]):
            raise WsshmError(f"{self.path} is not a wsshm-rt matting model: for an input of Shape{tuple(batch.shape)} "
                             f"it returns Shape{tuple(alpha.shape)}")
        return alpha


def cpu_config(threads: int | None, precision: str = "fp32") -> dict:
    """OpenVINO CPU properties: ``threads`` per inference call (None: every core), and as many streams as fit in the
    cores, so that callers in several threads (video workers) run at once instead of queuing for one stream."""
    cores = os.cpu_count() or 1
    per_call = max(1, min(threads or cores, cores))
    streams = max(1, cores // per_call)
    return {"INFERENCE_PRECISION_HINT": OV_PRECISIONS[precision], "NUM_STREAMS": streams,
            "INFERENCE_NUM_THREADS": streams * per_call}
