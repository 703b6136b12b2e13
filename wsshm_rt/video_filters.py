"""Per-frame alpha filters for video: edge-aware upsampling, motion-gated temporal smoothing, and dtSSD flicker.
The still-image guided refinement lives in ``refine`` (runtime code); its names are re-exported here.

All numpy + OpenCV (no cv2.ximgproc: opencv-python-headless does not ship it).
"""

from __future__ import annotations

import cv2
import numpy as np

from .refine import (KEEP_ERODE, KEEP_SURE, REFINE_EPS, REFINE_FRACTION, REFINE_MODES, box, check_refine,  # noqa: F401
                     colour_guided_upsample, guided_refine, refine_radius, refine_settings, sure_interior)

# Guided filter defaults, at the INFERENCE resolution: radius 2 px, eps on [0, 1] grey values. A small eps
# lets the alpha follow image edges closely; too small and sensor noise is copied into the matte.
GUIDED_RADIUS = 2
GUIDED_EPS = 1e-3
# Motion gate: a grey-level change of this much (on [0, 1]) or more counts as motion and switches smoothing off.
MOTION_THRESHOLD = 0.06


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


def dtssd(pred_seq, true_seq) -> float:
    """Temporal flicker (Erofeev et al. 2015, as in RobustVideoMatting's evaluation), scaled by 100.

    pred_seq, true_seq: sequences of alphas Shape(H, W) in [0, 1] (uint8 is divided by 255), same length >= 2.
    Per frame t >= 1: sqrt(mean(((pred_t - pred_{t-1}) - (true_t - true_{t-1}))^2)); the mean over frames x 100.
    0 when the prediction changes exactly as the ground truth does, whatever its per-frame error.
    """
    pred, true = _as_unit_stack(pred_seq), _as_unit_stack(true_seq)
    if pred.shape != true.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {true.shape} sequences differ in shape")
    if len(pred) < 2:
        raise ValueError("dtSSD needs at least two frames")
    err = np.diff(pred, axis=0) - np.diff(true, axis=0)
    per_frame = np.sqrt(np.mean(err * err, axis=(1, 2)))
    return float(per_frame.mean() * 100.0)


def _as_unit_stack(seq) -> np.ndarray:
    arr = np.stack([np.asarray(a) for a in seq])
    if arr.dtype == np.uint8:
        return arr.astype(np.float64) / 255.0
    return arr.astype(np.float64)
