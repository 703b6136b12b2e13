"""Augmentations on numpy arrays: one geometry shared by the weak and strong views, colour only on the strong.

Every function takes an explicit ``np.random.Generator`` so a sample's augmentation depends only on
(seed, epoch, batch, slot): a resumed run sees exactly the samples an uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Geometry:
    scale: float
    top: int
    left: int
    side: int
    flip: bool
    pad_top: int = 0   # zoomed out: where the shrunk photo sits in its reflect-padded canvas
    pad_left: int = 0


def random_geometry(rng: np.random.Generator, h: int, w: int, side: int, scale_max: float = 1.5,
                    flip: bool = True, scale_min: float = 1.0) -> Geometry:
    """Zoom so the short side covers ``side*scale_min``..``side*scale_max`` px, then a random square crop.

    scale_min < 1 zooms out: the photo may end up smaller than the crop (a person small in a large frame); it is
    placed at a random spot of a canvas padded by reflection, so the picture has no flat border to learn from.
    """
    scale = side / min(h, w) * rng.uniform(scale_min, scale_max)
    sh, sw = round(h * scale), round(w * scale)
    pad_top = pad_left = 0
    if sh < side or sw < side:  # never drawn when scale_min >= 1: old runs keep their random streams
        pad_top, pad_left = int(rng.integers(0, max(0, side - sh) + 1)), int(rng.integers(0, max(0, side - sw) + 1))
    sh, sw = max(side, sh), max(side, sw)
    top, left = int(rng.integers(0, sh - side + 1)), int(rng.integers(0, sw - side + 1))
    return Geometry(scale, top, left, side, bool(flip and rng.random() < 0.5), pad_top, pad_left)


def apply_geometry(x: np.ndarray, g: Geometry, nearest: bool = False) -> np.ndarray:
    """Apply the same zoom/crop/flip to an image Shape(H, W, C) or a label Shape(H, W)."""
    h, w = x.shape[:2]
    rh, rw = round(h * g.scale), round(w * g.scale)
    sh, sw = max(g.side, rh), max(g.side, rw)
    padded = rh < g.side or rw < g.side
    # Nearest keeps a binary mask binary: MLB needs the true edge of S for band gating.
    interp = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if g.scale < 1 else cv2.INTER_LINEAR)
    x = cv2.resize(x, (rw, rh) if padded else (sw, sh), interpolation=interp)
    if padded:
        x = cv2.copyMakeBorder(x, g.pad_top, sh - rh - g.pad_top, g.pad_left, sw - rw - g.pad_left,
                               cv2.BORDER_REFLECT_101)
    x = x[g.top:g.top + g.side, g.left:g.left + g.side]
    return np.ascontiguousarray(x[:, ::-1] if g.flip else x)


def colour_jitter(rgb: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Brightness, contrast, saturation and hue jitter of a uint8 RGB image, in a random order."""
    x = rgb.astype(np.float32) / 255.0
    for op in rng.permutation(4):
        f = rng.uniform(1 - strength, 1 + strength)
        if op == 0:
            x = x * f
        elif op == 1:
            x = (x - x.mean()) * f + x.mean()
        elif op == 2:
            gray = x @ np.float32([0.299, 0.587, 0.114])
            x = (x - gray[..., None]) * f + gray[..., None]
        else:
            x = _shift_hue(np.clip(x, 0, 1), rng.uniform(-strength / 3, strength / 3))
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def _shift_hue(x: np.ndarray, shift: float) -> np.ndarray:
    hsv = cv2.cvtColor(x, cv2.COLOR_RGB2HSV)  # float32 hue in degrees
    hsv[..., 0] = (hsv[..., 0] + shift * 360.0) % 360.0
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def degrade(rgb: np.ndarray, rng: np.random.Generator, blur_p: float, gray_p: float, jpeg_p: float) -> np.ndarray:
    """Optional blur, grayscale and JPEG re-compression (each drawn even when unused, to keep streams aligned)."""
    u, sigma, quality = rng.random(3), rng.uniform(0.3, 1.5), int(rng.integers(40, 95))
    if u[0] < blur_p:
        rgb = cv2.GaussianBlur(rgb, (0, 0), sigma)
    if u[1] < gray_p:
        rgb = np.repeat(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    if u[2] < jpeg_p:
        ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        rgb = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return rgb


def strong_view(weak: np.ndarray, rng: np.random.Generator, jitter: float, blur_p: float, gray_p: float,
                jpeg_p: float) -> np.ndarray:
    """The student's view: the weak view (same geometry) plus photometric noise."""
    return degrade(colour_jitter(weak, rng, jitter), rng, blur_p, gray_p, jpeg_p)


def composite(fg: np.ndarray, pha: np.ndarray, bgr: np.ndarray) -> np.ndarray:
    """Eq. 1, I = a*F + (1-a)*B, on uint8 RGB Shape(H, W, 3) with alpha in [0, 1] Shape(H, W)."""
    a = pha[..., None]
    return (a * fg.astype(np.float32) + (1 - a) * bgr.astype(np.float32) + 0.5).astype(np.uint8)


def cover_crop(bgr: np.ndarray, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Scale a background randomly (1..1.5x past covering) and crop it to (h, w)."""
    bh, bw = bgr.shape[:2]
    scale = max(h / bh, w / bw) * rng.uniform(1.0, 1.5)
    sh, sw = max(h, round(bh * scale)), max(w, round(bw * scale))
    bgr = cv2.resize(bgr, (sw, sh), interpolation=cv2.INTER_LINEAR)
    top, left = int(rng.integers(0, sh - h + 1)), int(rng.integers(0, sw - w + 1))
    return bgr[top:top + h, left:left + w]
