"""TensorRT engine for serialized ``.engine`` files (needs the `tensorrt` extra and an NVIDIA GPU)."""

from __future__ import annotations

from pathlib import Path

from ..errors import require


class TrtEngine:
    name = "tensorrt"

    def __init__(self, path: Path, device: str = "auto"):
        require("tensorrt", "tensorrt")
        raise NotImplementedError("the native TensorRT engine is not implemented yet")
