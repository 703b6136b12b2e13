"""Backgrounds as row sources: ``rows(y0, y1)`` gives float32 [0, 1] Shape(y1 - y0, W, 3) of a colour, an image
scaled to cover the frame, or a Gaussian blur of the frame itself, so that no frame-sized background is ever held."""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..pixels import array_to_rgb
from .backgrounds import Background
from .strips import block_mean, unit_to_uint8, upsample_rows

# A blurred background is computed at a long side of at most this many pixels (then upsampled).
BLUR_WORK_SIDE = 4096


def fit_cover(background: np.ndarray, height: int, width: int) -> np.ndarray:
    """Scale uint8 RGB Shape(h, w, 3) to COVER a (height, width) frame keeping its aspect, centre-crop.

    Returns uint8 Shape(height, width, 3).
    """
    rows = _cover_source(np.asarray(background), height, width)
    return unit_to_uint8(rows(0, height))


def background_source(bg: Background, image: np.ndarray):
    """Return rows(y0, y1) -> float32 [0, 1] Shape(y1 - y0, W, 3) for the parsed background."""
    height, width = image.shape[:2]
    if bg.kind == "color":
        # Contiguous rows: numpy adds and subtracts a broadcast Shape(3) colour 5x slower than a plain array.
        row = np.tile(np.asarray(bg.rgb, np.float32) / 255.0, (1, width, 1))
        return lambda y0, y1: np.repeat(row, y1 - y0, axis=0)
    if bg.kind == "image":
        return _cover_source(bg.image, height, width)
    return _blur_source(image, bg.radius)


def _cover_source(bg: np.ndarray, height: int, width: int):
    """rows(y0, y1) of ``bg`` scaled to cover the frame and centre-cropped, float32 [0, 1]."""
    bg = array_to_rgb(bg)
    scale = max(height / bg.shape[0], width / bg.shape[1])
    if scale < 1:
        # Shrink with area averaging first (no aliasing); the result is no larger than bg itself.
        size = (max(width, round(bg.shape[1] * scale)), max(height, round(bg.shape[0] * scale)))
        bg = cv2.resize(bg, size, interpolation=cv2.INTER_AREA)
        scale = max(height / bg.shape[0], width / bg.shape[1])
    # Enlarging is done per strip by remap so that no frame-sized copy of the background is ever held.
    map_x = (np.arange(width, dtype=np.float32) + (bg.shape[1] * scale - width) / 2 + 0.5) / scale - 0.5
    off_y = (bg.shape[0] * scale - height) / 2

    def rows(y0, y1):
        map_y = (np.arange(y0, y1, dtype=np.float32) + off_y + 0.5) / scale - 0.5
        mx, my = np.broadcast_to(map_x, (y1 - y0, width)), np.broadcast_to(map_y[:, None], (y1 - y0, width))
        out = cv2.remap(bg, np.ascontiguousarray(mx), np.ascontiguousarray(my), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
        return out.astype(np.float32) * np.float32(1 / 255)

    return rows


def _blur_source(image: np.ndarray, radius: float | None):
    """rows(y0, y1) of a Gaussian blur of ``image`` (sigma = radius / 3), float32 [0, 1].

    The blur is computed on a block-averaged copy (long side <= BLUR_WORK_SIDE, and at most sigma / 2 px per
    block) and upsampled per strip; the small blur added by that round trip is taken out of sigma.
    """
    height, width = image.shape[:2]
    radius = radius or max(3.0, 0.02 * max(height, width))
    # Beyond the image's size a wider blur changes nothing visible (it tends to the mean colour), and the
    # block-averaging below would grow with it: cap it there.
    radius = min(radius, 3.0 * max(height, width))
    sigma = radius / 3.0
    factor = max(1, int(sigma // 2), math.ceil(max(height, width) / BLUR_WORK_SIDE))
    (small,) = block_mean(lambda y0, y1: (image[y0:y1],), height, width, factor)
    small = cv2.GaussianBlur(small, (0, 0), _lowres_sigma(sigma, factor), borderType=cv2.BORDER_REFLECT_101)
    return lambda y0, y1: upsample_rows(small, y0, y1, height, width) * np.float32(1 / 255)


def _lowres_sigma(sigma: float, factor: int) -> float:
    """Sigma at 1/factor resolution; box-down + bilinear-up already blur by variance factor**2 / 4."""
    if factor == 1:
        return sigma
    return math.sqrt(max(sigma * sigma - factor * factor / 4, factor * factor / 4)) / factor
