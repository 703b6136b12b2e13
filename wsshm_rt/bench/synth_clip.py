"""Synthetic clips with a known alpha, for the video tests and benchmarks (no footage needed; not runtime code).

``moving_ellipse`` makes a soft-edged ellipse that slides across a textured background, composited with a
small random camera shake; ``write_clip`` encodes frames (and optionally a sine tone) with PyAV.
"""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np

from ..errors import require


def _texture(height: int, width: int, rng, colour) -> np.ndarray:
    """Smooth random texture around ``colour`` (uint8 RGB): enough structure for a guided filter to see."""
    noise = rng.normal(0, 1, (height // 8 + 2, width // 8 + 2, 3)).astype(np.float32)
    noise = cv2.resize(noise, (width + 16, height + 16), interpolation=cv2.INTER_CUBIC)[:height, :width]
    return np.clip(np.asarray(colour, np.float32) + 25 * noise, 0, 255)


def moving_ellipse(frames: int = 16, height: int = 96, width: int = 128, jitter: float = 0.0,
                   seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(rgb frames uint8 Shape(H, W, 3), true alphas float32 Shape(H, W)) of an ellipse moving left to right.

    jitter: the std of a per-frame random shift (pixels) of the whole picture, as from a hand-held camera.
    """
    rng = np.random.default_rng(seed)
    pad = int(4 * jitter) + 2
    bg = _texture(height + 2 * pad, width + 2 * pad, rng, (70, 120, 170))
    fg = _texture(height + 2 * pad, width + 2 * pad, rng, (210, 160, 130))
    yy, xx = np.mgrid[0:height + 2 * pad, 0:width + 2 * pad].astype(np.float32)
    rgbs, alphas = [], []
    for i in range(frames):
        cx = pad + width * (0.3 + 0.4 * i / max(1, frames - 1))
        r = np.sqrt(((xx - cx) / (0.18 * width)) ** 2 + ((yy - pad - 0.55 * height) / (0.4 * height)) ** 2)
        alpha = np.clip((1.0 - r) * 0.18 * width / 1.5 + 0.5, 0, 1).astype(np.float32)  # ~1.5 px soft edge
        rgb = alpha[..., None] * fg + (1 - alpha[..., None]) * bg
        dx, dy = rng.normal(0, jitter, 2) if jitter else (0.0, 0.0)
        m = np.float32([[1, 0, dx - pad], [0, 1, dy - pad]])
        rgb = cv2.warpAffine(rgb, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        alpha = cv2.warpAffine(alpha, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        rgbs.append(np.clip(rgb + 0.5, 0, 255).astype(np.uint8))
        alphas.append(alpha)
    return rgbs, alphas


def write_clip(path, frames: list[np.ndarray], fps: int = 25, audio: bool = True, codec: str = "libx264",
               rotation: int = 0) -> None:
    """Encode uint8 RGB frames (even sides) to ``path``; with ``audio`` add a 440 Hz AAC tone as long as the video.

    ``rotation``: a display rotation in degrees counter-clockwise for the container, as phones write portrait video.
    """
    av = require("av", "video")
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=fps)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        sound = out.add_stream("aac", rate=44100) if audio else None
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if sound is not None:
            write_tone(av, out, sound, len(frames) / fps)


def write_tone(av, out, stream, seconds: float, rate: int = 44100) -> None:
    """Encode a 440 Hz tone of ``seconds`` into ``stream`` (an audio stream of the open container ``out``) and flush."""
    chunk = 1024
    n = int(seconds * rate)
    for start in range(0, n, chunk):
        t = np.arange(start, min(n, start + chunk)) / rate
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        out.mux(stream.encode(frame))
    out.mux(stream.encode())
