"""Compositing: uint8 alpha, RGBA cut-outs and background replacement, alpha * F + (1 - alpha) * B, strip by strip."""

from __future__ import annotations

import numpy as np

from .backgrounds import parse_background
from .foreground import foreground_strips
from .sources import background_source
from .strips import STRIP_PIXELS, alpha_rows, check_inputs, rep3, unit_to_uint8


def alpha_to_uint8(alpha: np.ndarray) -> np.ndarray:
    """Float alpha in [0, 1], Shape(H, W) -> uint8 Shape(H, W), rounded to nearest (uint8 is returned as is)."""
    alpha = np.asarray(alpha)
    if alpha.dtype == np.uint8:
        return alpha
    out = np.empty(alpha.shape, np.uint8)
    rows = max(1, STRIP_PIXELS // max(1, alpha.shape[-1])) if alpha.ndim == 2 else len(alpha)
    for y in range(0, len(alpha), rows):  # in strips: no frame-sized float temporaries on huge photos
        a = np.clip(alpha[y:y + rows].astype(np.float32, copy=False), 0.0, 1.0)
        out[y:y + rows] = np.rint(a * 255.0)
    return out


def cutout_rgba(image: np.ndarray, alpha: np.ndarray, foreground=True, *, lowres=None,
                strip_rows: int | None = None) -> np.ndarray:
    """RGBA cut-out, uint8 Shape(H, W, 4).

    foreground: True estimates foreground colours (default); False or None keeps the image's own colours;
    an array (uint8 RGB Shape(H, W, 3)) is used as given. ``lowres``: see replace_background.
    """
    image, alpha = check_inputs(image, alpha)
    out = np.empty(image.shape[:2] + (4,), np.uint8)
    if foreground is True:
        for y0, y1, fg in foreground_strips(image, alpha, strip_rows, lowres=lowres):
            out[y0:y1, :, :3] = unit_to_uint8(fg)
    else:
        rgb = image if foreground is None or foreground is False else check_inputs(foreground, alpha)[0]
        out[:, :, :3] = rgb
    out[:, :, 3] = alpha_to_uint8(alpha)
    return out


def replace_background(image: np.ndarray, alpha: np.ndarray, background, estimate_fg: bool = True, *,
                       lowres=None, strip_rows: int | None = None) -> np.ndarray:
    """Composite alpha * F + (1 - alpha) * B; returns uint8 RGB Shape(H, W, 3).

    background: anything parse_background accepts. An image is scaled to cover the frame, a colour fills it,
    'blur' is a Gaussian blur of ``image`` itself. F is the estimated foreground unless ``estimate_fg`` is False.

    lowres: optional ``(image_small, alpha_small)``, the frame and its alpha at the (smaller) inference size.
    The foreground is then estimated there and only its correction F - I is upsampled onto the full image
    (F = I + up(F_small - I_small)), as RobustVideoMatting upsamples its foreground residual: about 3x cheaper
    on video frames, full-resolution detail kept wherever the correction is zero (alpha = 1).
    """
    image, alpha = check_inputs(image, alpha)
    bg_rows = background_source(parse_background(background), image)
    out = np.empty(image.shape, np.uint8)
    for y0, y1, fg in foreground_strips(image, alpha, strip_rows, estimate=estimate_fg, lowres=lowres):
        a, bg = rep3(alpha_rows(alpha, y0, y1)), bg_rows(y0, y1)
        fg -= bg
        fg *= a
        fg += bg
        out[y0:y1] = unit_to_uint8(fg)
    return out
