"""PyTorch engine for wsshm-rt weights: .safetensors, or an ONNX file's initializers (the bundled model; needs the
`train` extra)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..errors import WsshmError, require


class TorchEngine:
    name = "torch"

    def __init__(self, path: Path, device: str = "auto", threads: int | None = None, precision: str = "fp32"):
        torch = require("torch", "train")
        from ..models.loading import load_model

        if device == "cuda" and not torch.cuda.is_available():
            raise WsshmError("device='cuda' was asked for but torch sees no CUDA GPU")
        self.device = "cuda" if device in ("cuda", "auto") and torch.cuda.is_available() else "cpu"
        if threads and self.device == "cpu":
            torch.set_num_threads(threads)
        self.model, self.metadata = load_model(path)  # names and shapes checked: a wrong file is one sentence
        self.dtype = torch_dtype(torch, precision, self.device)
        # Reduced precision runs channels-last: that is where oneDNN / tensor cores have their fast kernels.
        self.layout = torch.contiguous_format if precision == "fp32" else torch.channels_last
        self.model.eval().to(self.device, self.dtype, memory_format=self.layout)
        self.detail = f"torch {torch.__version__}" + ("" if precision == "fp32" else f", {precision}")
        self._torch = torch
        self._lock = threading.Lock()  # one model, many callers: keep forward passes one at a time

    def run(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        with self._lock, torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device, self.dtype).contiguous(memory_format=self.layout)
            return self.model(x)[0].float().cpu().numpy()


def torch_dtype(torch, precision: str, device: str):
    """The torch dtype of ``precision`` ('fp32', 'bf16', 'fp16') on ``device`` ('cpu', 'cuda'); WsshmError where
    it cannot run there (fp16 off CUDA) or would be slower than fp32 (bf16 on a CPU without native bf16).
    The torch engine and the bench's torch variants share it."""
    if precision == "fp16" and device != "cuda":
        raise WsshmError("precision fp16 needs a CUDA GPU; on a CPU use bf16 (where the CPU has native bf16) "
                         "or fp32")
    if precision == "bf16" and device == "cpu":
        from ..models import NO_NATIVE_BF16, cpu_has_native_bf16

        if not cpu_has_native_bf16():
            raise WsshmError(f"{NO_NATIVE_BF16}; use precision='fp32'")
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
