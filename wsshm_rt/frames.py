"""Alpha for consecutive video or camera frames, what ``Matter.stream()`` returns: each frame is downscaled once to the
inference size, matted, optionally smoothed over time where the picture does not move, and brought back to its own
size (the still image's guided refinement, or a light edge-aware upsampling). Runtime code (numpy + OpenCV; no
cv2.ximgproc: opencv-python-headless does not ship it); the threaded pipeline of ``wsshm_rt.video`` runs it.
"""

from __future__ import annotations

import cv2
import numpy as np

from .images import load_image
from .preprocess import target_size
from .tta import frame_tta
from .refine import box, guided_refine

# Guided filter defaults, at the INFERENCE resolution: radius 2 px, eps on [0, 1] grey values. A small eps
# lets the alpha follow image edges closely; too small and sensor noise is copied into the matte.
GUIDED_RADIUS = 2
GUIDED_EPS = 1e-3
# Motion gate: a grey-level change of this much (on [0, 1]) or more counts as motion and switches smoothing off.
MOTION_THRESHOLD = 0.06


class FrameMatter:
    """Alpha for consecutive frames of one stream: downscale to the Matter's short side, predict, smooth, upsample.

    What ``Matter.stream()`` returns. Stateful when ``smooth`` (the EMA remembers the previous frame), so use one
    per stream, frames in order, and ``reset()`` at a scene cut.
    """

    def __init__(self, matter, smooth: bool = False, strength: float = 0.7):
        self.matter = matter
        self.tta = frame_tta(matter.tta)  # flip+scale's larger pass would only see the frame already downscaled
        self.smoother = MotionGatedSmoother(strength) if smooth else None

    def __call__(self, frame, channels: str = "RGB") -> np.ndarray:
        """A frame (uint8 RGB Shape(H, W, 3), or any image ``Matter.predict`` takes, e.g. a BGR frame from OpenCV
        with channels="BGR") -> float32 alpha Shape(H, W) in [0, 1]. A contiguous uint8 RGB frame is not copied."""
        return self.matte(load_image(frame, channels))[0]

    def reset(self) -> None:
        """Forget the previous frames (a scene cut, or a new stream through the same object)."""
        if self.smoother is not None:
            self.smoother.reset()

    def matte(self, rgb: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        """(alpha Shape(H, W), lowres): lowres is (small frame, its alpha) at the inference size, for the
        compositor's cheap foreground estimate, or None when the frame was matted at its own size."""
        return self.finish(rgb, *self.infer(rgb))

    def infer(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(small frame, its raw alpha) at the inference size. Stateless: frames may go through in parallel."""
        height, width = rgb.shape[:2]
        th, tw = target_size(height, width, self.matter.short_side, self.matter.max_long_side)
        upscale = th * tw >= height * width  # a frame already at (or below) the inference size is used as is
        small = rgb if upscale else cv2.resize(rgb, (tw, th), interpolation=cv2.INTER_AREA)
        return small, self.matter.predict(small, refine="none", tta=self.tta)

    def finish(self, rgb: np.ndarray, small: np.ndarray, alpha: np.ndarray):
        """Smoothing (stateful: frames in order), then the Matter's guided refinement (or, with refine="none", a
        light edge-aware upsampling) of ``infer``'s output to the frame's size."""
        small_grey = grey(small)
        if self.smoother is not None:
            alpha = self.smoother(alpha, small_grey)
        if self.matter.refine == "guided":  # the same guided refinement as Matter.predict on a still image
            full = guided_refine(alpha, rgb, small)
        elif small is rgb:
            return alpha, None
        else:  # refine="none": a light edge-aware upsampling only
            full = guided_upsample(alpha, rgb, GUIDED_RADIUS, GUIDED_EPS, guide_small=small_grey)
        return full, (None if small is rgb else (small, alpha))


class MotionGatedSmoother:
    """Temporal EMA of alpha whose per-pixel weight falls to 0 where the image moves.

    out_t = w * out_{t-1} + (1 - w) * alpha_t,  w = strength * clip(1 - |I_t - I_{t-1}| / threshold, 0, 1),
    with the frame difference box-blurred (3x3) so sensor noise does not open the gate. Static pixels keep
    ``strength`` of the past (flicker falls), moving ones take the new alpha as is (edges are not smeared).
    Call it once per frame, in order; ``reset()`` at a scene cut.
    """

    def __init__(self, strength: float = 0.7, threshold: float = MOTION_THRESHOLD):
        if not 0.0 <= strength < 1.0:
            raise ValueError(f"strength must be in [0, 1), not {strength}")
        self.strength, self.threshold = np.float32(strength), np.float32(threshold)
        self.reset()

    def reset(self) -> None:
        self._alpha = self._grey = None

    def __call__(self, alpha: np.ndarray, frame_grey: np.ndarray) -> np.ndarray:
        """alpha, frame_grey: float32 Shape(h, w) ([0, 1]) at the same size. Returns the smoothed alpha."""
        alpha = alpha.astype(np.float32, copy=False)
        if self._alpha is None or self._alpha.shape != alpha.shape:
            self._alpha, self._grey = alpha.copy(), frame_grey.copy()
            return alpha
        diff = cv2.blur(np.abs(frame_grey - self._grey), (3, 3))
        w = np.clip(1.0 - diff / self.threshold, 0.0, 1.0) * self.strength
        out = alpha + w * (self._alpha - alpha)
        self._alpha, self._grey = out, frame_grey.copy()
        return out


def grey(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB Shape(H, W, 3) -> float32 grey in [0, 1], Shape(H, W)."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) * np.float32(1 / 255)


def guided_coefficients(guide: np.ndarray, src: np.ndarray, radius: int = GUIDED_RADIUS,
                        eps: float = GUIDED_EPS) -> tuple[np.ndarray, np.ndarray]:
    """Mean linear coefficients (A, b) of the grey guided filter (He et al.): q = A * guide + b.

    guide, src: float32 Shape(h, w). Returns (A, b), float32 Shape(h, w) each, already box-averaged.
    """
    mean_i, mean_p = box(guide, radius), box(src, radius)
    cov_ip = box(guide * src, radius) - mean_i * mean_p
    var_i = box(guide * guide, radius) - mean_i * mean_i
    a = cov_ip / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    return box(a, radius), box(b, radius)


def guided_upsample(alpha_small: np.ndarray, frame: np.ndarray, radius: int = GUIDED_RADIUS,
                    eps: float = GUIDED_EPS, guide_small: np.ndarray | None = None) -> np.ndarray:
    """Fast guided filter (He & Sun 2015): low-res alpha -> alpha at the frame's size, snapped to its edges.

    alpha_small: float32 Shape(h, w); frame: uint8 RGB Shape(H, W, 3). The coefficients are solved at (h, w),
    bilinearly upsampled and applied to the full-resolution grey frame. Returns float32 Shape(H, W) in [0, 1].
    """
    height, width = frame.shape[:2]
    full = grey(frame)
    if alpha_small.shape == (height, width):
        guide_small = full
    elif guide_small is None:
        guide_small = cv2.resize(full, alpha_small.shape[::-1], interpolation=cv2.INTER_AREA)
    a, b = guided_coefficients(guide_small, alpha_small.astype(np.float32, copy=False), radius, eps)
    if a.shape != (height, width):
        a = cv2.resize(a, (width, height), interpolation=cv2.INTER_LINEAR)
        b = cv2.resize(b, (width, height), interpolation=cv2.INTER_LINEAR)
    out = a * full
    out += b
    return np.clip(out, 0.0, 1.0, out=out)
