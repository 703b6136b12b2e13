"""A minimal YUV4MPEG2 writer: the clip Chromium's fake camera plays (--use-file-for-fake-video-capture)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """uint8 RGB frames, all Shape(H, W, 3) with even H and W -> a 4:2:0 .y4m file."""
    height, width = frames[0].shape[:2]
    if height % 2 or width % 2:
        raise ValueError(f"4:2:0 needs an even frame size, not {width}x{height}")
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for rgb in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).tobytes())  # the Y plane, then U, then V
    return path
