"""PyTorch engine for wsshm-rt safetensors files (needs the `train` extra)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..errors import WsshmError, require


class TorchEngine:
    name = "torch"

    def __init__(self, path: Path, device: str = "auto", threads: int | None = None):
        torch = require("torch", "train")
        from ..models import create_model
        from ..weights import load_weights

        if path.suffix.lower() == ".onnx":
            raise WsshmError(f"{path} is an ONNX file; the torch engine runs .safetensors weights")
        if device == "cuda" and not torch.cuda.is_available():
            raise WsshmError("device='cuda' was asked for but torch sees no CUDA GPU")
        self.device = "cuda" if device in ("cuda", "auto") and torch.cuda.is_available() else "cpu"
        if threads and self.device == "cpu":
            torch.set_num_threads(threads)
        state, self.metadata = load_weights(path)
        self.model = create_model(self.metadata["architecture"])
        self.model.load_state_dict(state)
        self.model.eval().to(self.device)
        self.detail = f"torch {torch.__version__}"
        self._torch = torch
        self._lock = threading.Lock()  # one model, many callers: keep forward passes one at a time

    def run(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        with self._lock, torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device)
            return self.model(x)[0].float().cpu().numpy()
