"""Inference engines: one file each. Every engine maps Shape(N, 3, H, W) float32 -> alpha Shape(N, 1, H, W).

The engine is picked from the model file: ``.onnx`` -> ONNX Runtime, ``.engine``/``.plan`` -> TensorRT,
``.safetensors`` -> PyTorch. ``engine=`` overrides where it makes sense.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import WsshmError, check_choice

ENGINES = ("auto", "onnxruntime", "tensorrt", "torch", "openvino")
DEVICES = ("auto", "cpu", "cuda")


class Engine(Protocol):
    name: str          # "onnxruntime" | "tensorrt" | "torch" | "openvino"
    device: str        # "cpu" | "cuda"
    detail: str        # e.g. the execution provider that ONNX Runtime took
    metadata: dict     # the model's wsshm-rt metadata (architecture, mean, std, ...)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Shape(N, 3, H, W) float32 normalised -> alpha Shape(N, 1, H, W) float32 in [0, 1]."""


PRECISIONS = ("fp32", "bf16", "fp16")


def open_engine(model_path: Path, engine: str = "auto", device: str = "auto", threads: int | None = None,
                precision: str = "fp32") -> Engine:
    """Open ``model_path`` with the requested (or the natural) engine; ``precision`` other than fp32: torch, and bf16
    on openvino (an .onnx model; ``engine="openvino"`` is never picked by "auto")."""
    check_choice("engine", engine, ENGINES)
    check_choice("device", device, DEVICES)
    suffix = model_path.suffix.lower()
    check_choice("precision", precision, PRECISIONS)
    natural = {".engine": "tensorrt", ".plan": "tensorrt", ".safetensors": "torch"}.get(suffix, "onnxruntime")
    # A precision other than fp32 is the torch engine's (it runs .onnx files too, from their initializers).
    kind = engine if engine != "auto" else "torch" if precision != "fp32" and natural != "tensorrt" else natural
    if precision != "fp32" and kind != "torch" and (kind, precision) != ("openvino", "bf16"):
        raise WsshmError(f"precision {precision} runs on the torch engine (engine torch, an .onnx or .safetensors "
                         "model), and bf16 on the openvino engine; ONNX Runtime and TensorRT run a model at the "
                         "precision it was exported with")
    if kind == "onnxruntime":
        from .onnxruntime import OrtEngine

        return OrtEngine(model_path, device, threads, tensorrt_ep=engine != "onnxruntime" or device == "auto")
    if kind == "openvino":
        from .openvino import OpenVinoEngine

        return OpenVinoEngine(model_path, device, threads, precision)
    if kind == "torch":
        from .torch import TorchEngine

        return TorchEngine(model_path, device, threads, precision)
    from .tensorrt import TrtEngine

    return TrtEngine(model_path, device)
