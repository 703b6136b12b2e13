"""Strip and resolution plumbing of the compose package: frames are processed in horizontal strips, and the wide,
smooth fields are computed at a reduced resolution (block means) and bilinearly upsampled per strip."""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..errors import WsshmError
from ..pixels import array_to_rgb

# Pixels per strip: 256 K keeps a strip's float32 temporaries (3 MB each) in cache, which measured ~1.4x
# faster than whole 1024x1024 frames; strips are never thinner than 4 overlap margins.
STRIP_PIXELS = 1 << 18


def strips(height: int, rows: int):
    """(y0, y1) pairs covering 0..height in steps of ``rows``."""
    for y0 in range(0, height, rows):
        yield y0, min(height, y0 + rows)


def block_mean(rows_fn, height: int, width: int, factor: int) -> tuple[np.ndarray, ...]:
    """Means over factor x factor blocks of the arrays rows_fn(y0, y1) -> tuple of Shape(rows, width[, C]).

    Built chunk by chunk so the full-resolution arrays never exist at once. Partial blocks at the bottom and
    right are padded by repeating the edge. Returns a tuple of Shape(ceil(H / f), ceil(W / f)[, C]).
    """
    if factor == 1:
        return rows_fn(0, height)
    small_w = -(-width // factor)
    chunk = factor * max(1, STRIP_PIXELS // (width * factor))
    parts = [_shrink_block(rows_fn(y0, y1), factor, small_w) for y0, y1 in strips(height, chunk)]
    return tuple(np.concatenate(column, axis=0) for column in zip(*parts))


def _shrink_block(arrays, factor: int, small_w: int) -> list[np.ndarray]:
    """Area-average each array of a chunk by an exact integer factor (edge-padded to a multiple of it)."""
    out = []
    for x in arrays:
        pad = ((0, -x.shape[0] % factor), (0, small_w * factor - x.shape[1])) + ((0, 0),) * (x.ndim - 2)
        x = np.pad(x, pad, mode="edge") if any(p[1] for p in pad) else x
        out.append(cv2.resize(x, (small_w, x.shape[0] // factor), interpolation=cv2.INTER_AREA))
    return out


def upsample_rows(small: np.ndarray, y0: int, y1: int, height: int, width: int) -> np.ndarray:
    """Rows y0..y1 of ``small`` Shape(h, w, C) bilinearly resized to (height, width), float32 Shape(R, W, C).

    Rows are interpolated from global coordinates (pixel centres aligned as cv2.resize does), so strips
    agree exactly with each other; columns go through cv2.resize.
    """
    h, w = small.shape[:2]
    if (h, w) == (height, width):
        return small[y0:y1].astype(np.float32, copy=False)
    sy = np.clip((np.arange(y0, y1) + 0.5) * (h / height) - 0.5, 0, h - 1)
    i0 = np.floor(sy).astype(np.intp)
    i1 = np.minimum(i0 + 1, h - 1)
    t = (sy - i0).astype(np.float32)[:, None, None]
    rows, below = small[i0].astype(np.float32, copy=False), small[i1].astype(np.float32, copy=False)  # copies
    rows *= 1 - t  # in place: the sums of rows * (1 - t) + below * t, without two more frame-sized temporaries
    below *= t
    rows += below
    return cv2.resize(rows, (width, y1 - y0), interpolation=cv2.INTER_LINEAR).reshape(y1 - y0, width, -1)


def alpha_rows(alpha: np.ndarray, y0: int, y1: int) -> np.ndarray:
    """float32 [0, 1] Shape(R, W) for rows y0..y1 (uint8 alpha is divided by 255); converted per strip."""
    rows = alpha[y0:y1]
    if rows.dtype == np.uint8:
        return rows.astype(np.float32) * np.float32(1 / 255)
    return np.clip(rows.astype(np.float32, copy=False), 0.0, 1.0)


def check_inputs(image, alpha):
    """Validate and return (uint8 RGB Shape(H, W, 3), alpha Shape(H, W)) without copying what is already right."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        image = array_to_rgb(image)
    alpha = np.asarray(alpha)
    if alpha.ndim == 3 and alpha.shape[2] == 1:
        alpha = alpha[:, :, 0]
    if alpha.shape != image.shape[:2]:
        raise WsshmError(f"the alpha matte is {alpha.shape} but the image is {image.shape[:2]}; they must match")
    if alpha.dtype.kind == "f" and alpha.size and np.isnan(alpha.min()):  # one pass: NaN propagates through min
        raise WsshmError("the alpha matte holds NaN values")
    return image, alpha


def rep3(a: np.ndarray) -> np.ndarray:
    """Shape(R, W) -> Shape(R, W, 3); numpy broadcasting of a trailing size-1 axis is ~6x slower than this copy."""
    return cv2.merge([a, a, a])


def unit_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 Shape(R, W, 3) -> float32 [0, 1]."""
    return image.astype(np.float32) * np.float32(1 / 255)


def unit_to_uint8(x: np.ndarray) -> np.ndarray:
    """float32 in [0, 1] -> uint8, rounded half to even (one OpenCV pass, ~5x faster than numpy)."""
    return cv2.convertScaleAbs(x, alpha=255.0)


def odd(x: float) -> int:
    """Nearest odd integer (ties go up), at least 3: box filters stay centred."""
    return max(3, 2 * math.floor(x / 2) + 1)
