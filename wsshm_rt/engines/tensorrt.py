"""TensorRT engine for serialized ``.engine`` files (needs the `tensorrt` extra and an NVIDIA GPU).

TensorRT 10 tensor-address API; buffers are torch CUDA tensors (the simplest allocator that is already a
dependency of the GPU tool chain). The model's metadata (architecture, mean, std) comes from the sidecar
``<file>.engine.json`` that ``wsshm_rt.export.tensorrt.build_engine`` writes.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from ..errors import WsshmError, require


class TrtEngine:
    name = "tensorrt"

    def __init__(self, path: Path, device: str = "auto"):
        trt = require("tensorrt", "tensorrt")
        torch = require("torch", "train")
        if device == "cpu":
            raise WsshmError("a TensorRT engine runs on an NVIDIA GPU only; use --device cuda or auto")
        if not torch.cuda.is_available():
            raise WsshmError("a TensorRT engine needs an NVIDIA GPU, and torch sees no CUDA device")
        path = Path(path)
        self.engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise WsshmError(f"{path} is not a TensorRT engine for this GPU and TensorRT {trt.__version__} "
                             "(engines only run where they were built; rebuild it with wsshm-rt export)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if n not in self.inputs]
        if len(self.inputs) != 1 or not self.outputs:
            raise WsshmError(f"{path} is not a wsshm-rt matting engine (inputs {self.inputs}, outputs {self.outputs})")
        self.alpha_name = "alpha" if "alpha" in self.outputs else self.outputs[0]
        self.dtypes = {n: _torch_dtype(torch, trt, self.engine.get_tensor_dtype(n)) for n in names}
        self.min_shape, _, self.max_shape = self.engine.get_tensor_profile_shape(self.inputs[0], 0)
        self.device, self.detail = "cuda", f"TensorRT {trt.__version__} on {torch.cuda.get_device_name()}"
        self.metadata = read_sidecar(path)
        self._torch = torch
        self._lock = threading.Lock()  # one execution context: its shapes and addresses are per call

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Shape(N, 3, H, W) float32 numpy -> alpha Shape(N, 1, H, W) float32 numpy."""
        x = self._torch.from_numpy(np.ascontiguousarray(batch, np.float32)).to("cuda")
        return self.run_device(x).float().cpu().numpy()  # .cpu() waits for the stream

    def run_device(self, x):
        """Shape(N, 3, H, W) CUDA tensor -> alpha CUDA tensor, enqueued on torch's current stream (no sync)."""
        self._check_shape(tuple(x.shape))
        name = self.inputs[0]
        x = x.to(self.dtypes[name]).contiguous()
        with self._lock:
            self.context.set_input_shape(name, tuple(x.shape))
            self.context.set_tensor_address(name, x.data_ptr())
            outs = {}
            for out in self.outputs:
                shape = tuple(self.context.get_tensor_shape(out))
                outs[out] = self._torch.empty(shape, dtype=self.dtypes[out], device="cuda")
                self.context.set_tensor_address(out, outs[out].data_ptr())
            if not self.context.execute_async_v3(self._torch.cuda.current_stream().cuda_stream):
                raise WsshmError("TensorRT failed to run the engine")
        return outs[self.alpha_name]

    def _check_shape(self, shape: tuple) -> None:
        lo, hi = tuple(self.min_shape), tuple(self.max_shape)
        if len(shape) != 4 or not all(a <= s <= b for a, s, b in zip(lo, shape, hi)):
            raise WsshmError(f"input {'x'.join(map(str, shape))} is outside this engine's profile "
                             f"{'x'.join(map(str, lo))} .. {'x'.join(map(str, hi))}; rebuild it with a wider "
                             "--min-shape/--max-shape or use a smaller --short-side")


def read_sidecar(engine_path: Path) -> dict:
    """The metadata written beside the engine, or {} (then the defaults: ImageNet mean/std) if absent."""
    side = Path(engine_path).with_name(Path(engine_path).name + ".json")
    if not side.is_file():
        return {}
    try:
        return {str(k): str(v) for k, v in json.loads(side.read_text()).items()}
    except (OSError, ValueError):
        raise WsshmError(f"{side} is not valid JSON metadata for {engine_path}") from None


def _torch_dtype(torch, trt, dtype):
    table = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16, trt.DataType.INT32: torch.int32,
             trt.DataType.INT8: torch.int8, trt.DataType.BOOL: torch.bool}
    if dtype not in table:
        raise WsshmError(f"unsupported TensorRT tensor type {dtype}")
    return table[dtype]
